"""The alert phase of a hunt or replay: each rule's answer turned into alerts, stored and written.

Once the events are read, every rule finishes its answer and its alerts are built (Kibana's
documents: sources copied and cleaned, a sequence's shared fields intersected), stored in the
alert database and written out, rule after rule. Over many rules and many matches this is the
last serial stretch of a run (a third of a 1,000-rule hunt over 1,000,000 events), so with
:data:`MIN_SPLIT_WEIGHT` matches or more and NDJSON output, :func:`run_rules` forks one helper
process for the second part of the rules (cut where half the matches lie): it stores its alerts
through its own connection to the alert database (SQLite in WAL mode takes one writer at a time;
each slice is one transaction) and writes its NDJSON to a temporary file, which is appended to
the output once the first part is written. Rules, alerts, ids and output order are those of one
process: the helper's rules come after the main process's, and no alert id is shared by two
rules.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import traceback
from collections.abc import Callable, Sequence
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


def split_point(plans: Sequence[Any]) -> int | None:
    """Where to cut the rules between the main process and the helper (the helper takes
    ``plans[cut:]``), or None when the phase is too small to be worth a process."""
    weights = [weight(p) for p in plans]
    total = sum(weights)
    if total < MIN_SPLIT_WEIGHT or len(plans) < 2:
        return None
    acc = 0
    for i, w in enumerate(weights):
        acc += w
        if acc * 2 >= total:
            return max(1, min(i + 1, len(plans) - 1))
    return None


def run_plans(
    plans: Sequence[Any],
    phase: AlertPhase,
    store: Any,
    writer: Any,
    advance: Callable[[int, int], None] | None = None,
) -> list[Any]:
    """Run each rule once over what it holds (``hunt_rule`` or ``replay_rule``), storing and
    writing its alerts a slice at a time; the rules' summaries, in order."""
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
        if len(pending) >= 500:
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
        if advance is not None:
            advance(1, count[0])  # (rules done, alerts so far)
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
    """:func:`run_plans` over every rule, the second part of them in a helper process when
    ``split`` allows it and :func:`split_point` finds the phase big enough (see the module
    docstring; ``split`` must be false unless ``writer`` writes NDJSON to ``out_stream``)."""
    cut = split_point(plans) if split else None
    if cut is None:
        return run_plans(plans, phase, store, writer, advance)
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    fd, spool = tempfile.mkstemp(prefix="vigil-alerts-", suffix=".ndjson")
    os.close(fd)
    helper = ctx.Process(target=_helper, args=(plans, cut, phase, spool, send), daemon=True)
    try:
        helper.start()
        send.close()
        summaries = run_plans(plans[:cut], phase, store, writer, advance)
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

            raise VigilError(f"building the alerts of rules {cut + 1}-{len(plans)} failed: {outcome[1]}")
        _status, more, written = outcome
        with open(spool, encoding="utf-8") as f:
            shutil.copyfileobj(f, out_stream, 1 << 20)
        writer.count += written
        if advance is not None:
            advance(len(plans) - cut, 0)
        return [*summaries, *more]
    finally:
        if helper.is_alive():
            helper.kill()
        Path(spool).unlink(missing_ok=True)


def _helper(plans: Sequence[Any], cut: int, phase: AlertPhase, spool: str, send: Any) -> None:
    """The helper process: rules ``plans[cut:]``, alerts to its own connection and to ``spool``."""
    from vigil.alerts.output import AlertWriter
    from vigil.alerts.store import AlertStore

    try:
        with open(spool, "w", encoding="utf-8") as out:
            store = AlertStore.open(phase.alert_db)
            try:
                writer = AlertWriter("ndjson", out)
                summaries = run_plans(plans[cut:], phase, store, writer)
                writer.close()
            finally:
                store.close()
        send.send(("ok", summaries, writer.count))
    except BaseException as exc:  # reported by the main process, which fails the run
        send.send(("error", "".join(traceback.format_exception_only(type(exc), exc)).strip()))
    finally:
        send.close()
        os._exit(0)  # no atexit handlers or buffers of the parent's objects
