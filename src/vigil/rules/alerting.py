"""The alert phase of a hunt or replay: each rule's answer turned into alerts, stored and written.

Once the events are read, every rule finishes its answer and its alerts are built (Kibana's
documents: sources copied and cleaned, a sequence's shared fields intersected), stored in the
alert database and written out, rule after rule. Over many rules and many matches this is the
last serial stretch of a run (a third of a 1,000-rule hunt over 1,000,000 events), so with
:data:`MIN_SPLIT_WEIGHT` matches or more and NDJSON output, :func:`run_rules` forks one helper
process that takes rules from the end of the list while the main process takes them from the
front, until they meet (so both finish together, however the work lies): it stores its alerts
through its own connection to the alert database (SQLite in WAL mode takes one writer at a time;
each slice is one transaction) and writes each rule's NDJSON to a temporary file, whose parts are
appended to the output in rule order once the main process's rules are written. Rules, alerts,
ids and output order are those of one process: the helper's rules come after the main
process's, and no alert id is shared by two rules.
"""

from __future__ import annotations

import codecs
import io
import multiprocessing
import os
import tempfile
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

#: Matches held by the rules' answers (events, sequences) from which the alert phase is split.
MIN_SPLIT_WEIGHT = 2_000


@dataclass
class AlertPhase:
    """What the alert phase needs besides the rules (see :func:`run_rules`)."""

    mode: str  # "hunt" or "replay"
    run_time: datetime
    start: datetime | None
    end: datetime | None
    alert_db: Path | None
    echo: Callable[[str], None]  # warnings and errors of runs (stderr)


def weight(plan: Any) -> int:
    """How much alert work a rule's answer holds, roughly: its matches (a sequence's count
    thrice: one alert per event plus the shell)."""
    from vigil.eql import ast

    stream = plan.stream
    if stream is None:
        return len(plan.parts)
    held: int = stream.held()
    return held if isinstance(plan.compiled.query.body, ast.EventQuery) else 3 * held


def worth_splitting(plans: Sequence[Any]) -> bool:
    """Whether the phase is big enough to be worth a helper process: :data:`MIN_SPLIT_WEIGHT`
    matches or more, over two rules or more."""
    return len(plans) >= 2 and sum(weight(p) for p in plans) >= MIN_SPLIT_WEIGHT


def run_plans(
    plans: Iterable[Any],
    phase: AlertPhase,
    store: Any,
    writer: Any,
    advance: Callable[[int, int], None] | None = None,
    *,
    after_rule: Callable[[], None] | None = None,
    backwards: bool = False,
) -> list[Any]:
    """Run each rule once over what it holds (``hunt_rule`` or ``replay_rule``), storing and
    writing its alerts a slice at a time; the rules' summaries, in order. ``after_rule`` is
    called once each rule's alerts are written. ``backwards``: the rules come last first (the
    helper's share, see :func:`run_rules`); their run records are then written at the end, and
    their summaries returned, in rule order."""
    from vigil.alerts.build import build_alerts
    from vigil.alerts.store import alert_texts
    from vigil.rules.scheduler import AlertSink, RunOutcome, hunt_rule, replay_rule
    from vigil.rules.suppression import Suppressor

    sink = AlertSink(store)
    suppressor = Suppressor(store)
    count = [0]

    ndjson = getattr(writer, "fmt", None) == "ndjson"

    def on_alerts(groups: list[Any]) -> None:
        # NDJSON output writes the very text the store keeps: each document is serialized once.
        texts = alert_texts(groups) if ndjson else None
        store.add_alerts(groups, texts)
        count[0] += len(groups)
        writer.add(groups, texts)

    # Run records are written in batches: one transaction per rule would cost more than the
    # rule itself in a hunt of a thousand rules over a small file.
    pending: list[RunOutcome] = []

    def on_run(outcome: RunOutcome) -> None:
        pending.append(outcome)
        if len(pending) >= 500 and not backwards:
            store.record_runs(pending)
            pending.clear()
        for warning in outcome.warnings:
            phase.echo(f"vigil: {outcome.rule_name} @ {outcome.tick.isoformat()}: warning: {warning}")
        for error in outcome.errors:
            phase.echo(f"vigil: {outcome.rule_name} @ {outcome.tick.isoformat()}: error: {error}")

    summaries = []
    for plan in plans:
        common: dict[str, Any] = dict(
            sink=sink, build=build_alerts, on_run=on_run, suppress=suppressor, on_alerts=on_alerts
        )
        if phase.mode == "hunt":
            summary = hunt_rule(plan, run_time=phase.run_time, **common)
        else:
            assert phase.start is not None and phase.end is not None
            summary = replay_rule(plan, start=phase.start, end=phase.end, **common)
        summaries.append(summary)
        # The rule's answer (its matched events) is not needed again.
        plan.stream = None
        plan.parts.clear()
        if after_rule is not None:
            after_rule()
        if advance is not None:
            advance(1, count[0])  # (rules done, alerts so far)
    if backwards:
        pending.reverse()
        summaries.reverse()
    if pending:
        store.record_runs(pending)
    return summaries


def run_rules(
    plans: Sequence[Any],
    phase: AlertPhase,
    store: Any,
    writer: Any,
    out_stream: IO[str],
    *,
    split: bool,
    advance: Callable[[int, int], None] | None = None,
) -> list[Any]:
    """:func:`run_plans` over every rule, shared with a helper process when ``split`` allows it
    and :func:`worth_splitting` finds the phase big enough (see the module docstring; ``split`` must
    be false unless ``writer`` writes NDJSON to ``out_stream``).

    The two processes take rules from the two ends of the list, one at a time, until they meet:
    the main process the first rules, the helper the last ones, last first. How long a rule's
    alerts take is known only once they are built (a sequence rule's candidates may complete
    few sequences or many), so the cut falls where both processes finish together instead of
    where an estimate put it. The helper writes each rule's NDJSON to its spool file; the main
    process appends those parts to the output in rule order."""
    if not split or not worth_splitting(plans):
        return run_plans(plans, phase, store, writer, advance)
    ctx = multiprocessing.get_context("fork")
    ends = ctx.RawArray("i", [0, len(plans)])  # the next rule from the front, the end of the rest
    lock = ctx.Lock()
    receive, send = ctx.Pipe(duplex=False)
    fd, spool = tempfile.mkstemp(prefix="vigil-alerts-", suffix=".ndjson")
    os.close(fd)
    helper = ctx.Process(target=_helper, args=(plans, ends, lock, phase, spool, send), daemon=True)
    try:
        helper.start()
        send.close()
        summaries = run_plans(
            _claimed(plans, ends, lock, front=True, other_alive=helper.is_alive),
            phase,
            store,
            writer,
            advance,
        )
        try:
            outcome = receive.recv()
        except EOFError:
            outcome = (
                "error",
                f"the alert helper process ended without an answer (exit code {helper.exitcode})",
            )
        helper.join()
        if outcome[0] != "ok":
            from vigil.errors import VigilError

            raise VigilError(f"building the alerts of rules {ends[1] + 1}-{len(plans)} failed: {outcome[1]}")
        _status, more, parts, written = outcome
        _append_parts(spool, parts, out_stream)
        writer.count += written
        if advance is not None:
            advance(len(more), 0)
        return [*summaries, *more]
    finally:
        if helper.is_alive():
            helper.kill()
        Path(spool).unlink(missing_ok=True)


def _claimed(
    plans: Sequence[Any],
    ends: Any,
    lock: Any,
    *,
    front: bool,
    taken: list[int] | None = None,
    other_alive: Callable[[], bool] | None = None,
) -> Iterator[Any]:
    """The rules one process takes, one at a time, from its end of ``plans`` (``ends``: the next
    rule from the front, the end of the rules left; shared by both processes), until none is left;
    ``taken`` gets their positions. The lock is held for a few instructions; waiting for it, the
    process checks ``other_alive`` every second: a process killed while holding it would leave
    the other waiting for ever."""
    while True:
        while not lock.acquire(timeout=1.0):
            if other_alive is not None and not other_alive():
                from vigil.errors import VigilError

                raise VigilError(
                    "the other process of the alert phase ended while the rules were being shared"
                )
        try:
            if ends[0] >= ends[1]:
                return
            if front:
                i = ends[0]
                ends[0] = i + 1
            else:
                i = ends[1] - 1
                ends[1] = i
        finally:
            lock.release()
        if taken is not None:
            taken.append(i)
        yield plans[i]


def _append_parts(spool: str, parts: list[tuple[int, int]], out_stream: IO[str]) -> None:
    """Copy the helper's NDJSON parts (byte ranges of ``spool``, in rule order) to the output."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(spool, "rb") as f:
        for start, end in parts:
            f.seek(start)
            left = end - start
            while left > 0:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
                out_stream.write(decoder.decode(chunk))
    out_stream.write(decoder.decode(b"", final=True))


def _helper(plans: Sequence[Any], ends: Any, lock: Any, phase: AlertPhase, spool: str, send: Any) -> None:
    """The helper process: rules from the end of ``plans``, alerts to its own connection and to
    ``spool``; sends back the rules' summaries and the byte range of each rule's NDJSON, in rule
    order."""
    from vigil.alerts.output import AlertWriter
    from vigil.alerts.store import AlertStore

    parent = os.getppid()
    try:
        taken: list[int] = []
        ranges: list[tuple[int, int]] = []
        with open(spool, "wb") as raw, io.TextIOWrapper(raw, encoding="utf-8") as out:
            store = AlertStore.open(phase.alert_db)
            try:
                writer = AlertWriter("ndjson", out)
                mark = [0]

                def after_rule() -> None:
                    out.flush()
                    end = raw.tell()
                    ranges.append((mark[0], end))
                    mark[0] = end

                summaries = run_plans(
                    _claimed(
                        plans,
                        ends,
                        lock,
                        front=False,
                        taken=taken,
                        other_alive=lambda: os.getppid() == parent,
                    ),
                    phase,
                    store,
                    writer,
                    after_rule=after_rule,
                    backwards=True,
                )
                writer.close()
            finally:
                store.close()
        ranges.reverse()
        send.send(("ok", summaries, ranges, writer.count))
    except BaseException as exc:  # reported by the main process, which fails the run
        send.send(("error", "".join(traceback.format_exception_only(type(exc), exc)).strip()))
    finally:
        send.close()
        os._exit(0)  # no atexit handlers or buffers of the parent's objects
