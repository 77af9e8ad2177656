"""``vigil hunt`` and ``vigil replay``: detection rules over recorded events, alerts out.

Both read the data once for all rules (each event offered to every rule that can see it), then
run each rule: a hunt once over everything, a replay at every tick of the rule's schedule. Alerts
go to stdout (or ``--output``) and always into the alert store, with one run record per run.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from vigil.cli_convert import damage_note, input_options
from vigil.engine.model import DEFAULT_MAX_PENDING_SEQUENCES, DEFAULT_REORDER_WINDOW
from vigil.errors import DataError, RuleError, VigilError

EXIT_DATA = 1
EXIT_USAGE = 2


def _parse_time(text: str, what: str) -> datetime:
    from vigil.ecs.values import parse_date

    nanos = parse_date(text)
    if nanos is None:
        raise click.BadParameter(
            f"{text!r} is not a date (use ISO 8601, e.g. 2024-05-01T00:00:00Z)", param_hint=what
        )
    return datetime.fromtimestamp(nanos / 1e9, tz=UTC).replace(microsecond=(nanos // 1000) % 1_000_000)


def _index_options(values: Sequence[str]) -> tuple[str | None, dict[str, str]]:
    """``--index NAME`` (all inputs) and ``--index NAME=PATH`` (one input)."""
    default: str | None = None
    per_path: dict[str, str] = {}
    for v in values:
        if "=" in v:
            name, path = v.split("=", 1)
            if not name or not path:
                raise click.BadParameter(f"{v!r}: expected NAME or NAME=PATH", param_hint="--index")
            per_path[path] = name
        else:
            default = v
    return default, per_path


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """A progress bar on a terminal (events read, rate); nothing when piped."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,.0f} {task.fields[unit]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        yield progress


# Sequence candidates re-ordered by time, over all the sequence rules of a hunt (each rule gets
# its share, at least HUNT_MIN_REORDER_WINDOW): memory stays bounded however many rules run.
HUNT_REORDER_BUDGET = 200_000
HUNT_MIN_REORDER_WINDOW = 1_000


def hunt_reorder_window(rules: Sequence[Any]) -> int:
    """The per-rule reorder window of a hunt without ``--reorder-window``."""
    sequences = sum(1 for r in rules if r.query.lstrip().lower().startswith(("sequence", "sample")))
    return max(HUNT_MIN_REORDER_WINDOW, HUNT_REORDER_BUDGET // max(1, sequences))


def _load(rule_paths: Sequence[str], jobs: int = 1) -> tuple[list[Any], list[Any]]:
    """Load rules (``jobs``: processes that may read the files), report problems and skipped
    rules (one line each) on stderr."""
    from vigil.rules.loaders import load_rules

    loaded = load_rules(list(rule_paths), jobs=jobs)
    for problem in loaded.problems:
        click.echo(f"vigil: {problem}", err=True)
    from vigil.rules.validate import unsupported_reason

    runnable = []
    for rule in loaded.rules:
        reason = unsupported_reason(rule)
        if not rule.enabled:
            click.echo(f"vigil: skipping rule {rule.name!r} ({rule.source}): disabled", err=True)
        elif reason:
            click.echo(f"vigil: skipping rule {rule.name!r} ({rule.source}): {reason}", err=True)
        else:
            runnable.append(rule)
    return runnable, list(getattr(loaded, "exception_items", ()))


def _build_plans(
    rule_paths: Sequence[str],
    *,
    mode: str,
    strict_index: bool,
    reorder_window: int | None,
    max_pending: int | None,
    jobs: int = 1,
) -> tuple[list[Any], float]:
    """Load and compile the rules (a rule that fails to compile is skipped with a message); the
    plans and when loading ended. ``jobs``: processes that may read the rule files.

    The cyclic garbage collector is off meanwhile: loading and compiling a thousand rules
    allocates millions of objects, none of them garbage, and each collection walked them all
    again (half the compile time of 1,000 rules). :func:`_settle_gc` runs after."""
    from vigil.rules.executor import NO_LIMIT, plan_rule

    enabled = gc.isenabled()
    gc.disable()
    try:
        rules, exception_items = _load(rule_paths, jobs)
        loaded_at = time.perf_counter()
        plans = []
        if reorder_window is None and mode == "hunt":
            reorder_window = hunt_reorder_window(rules)
        for rule in rules:
            try:
                size = NO_LIMIT if mode == "hunt" else rule.max_signals + 1
                plan = plan_rule(
                    rule,
                    size=size,
                    strict_index=strict_index,
                    exception_items=exception_items,
                    reorder_window=reorder_window,
                    max_pending_sequences=max_pending if max_pending is not None else "default",
                )
                if mode == "hunt":
                    plan.start_stream()
                plans.append(plan)
            except VigilError as exc:
                click.echo(f"vigil: skipping rule {rule.name!r}: {exc}", err=True)
    finally:
        if enabled:
            gc.enable()
    return plans, loaded_at


def _settle_gc() -> None:
    """Keep the cyclic garbage collector off the compiled rules from now on.

    A thousand compiled rules are millions of long-lived objects; every full collection walked
    them all again, which showed as the cost of whatever allocated at the time (unpacking the
    workers' parts in the main process, measured at a fifth of its time). Frozen, they are never
    walked (and worker processes forked later do not write to their pages by walking them).
    Young collections are made rarer too: decoded events and parts are trees without cycles,
    freed by reference counting.
    """
    # No collection first: loading and compiling leave no cyclic garbage (a full collection
    # found none over 1,000 rules, and took 0.17 s walking them all).
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _run(
    *,
    mode: str,
    rule_paths: Sequence[str],
    data: Sequence[str],
    start: datetime | None,
    end: datetime | None,
    output_format: str,
    output: Path | None,
    alert_db: Path | None,
    index_opts: Sequence[str],
    strict_index: bool,
    strict: bool,
    show_progress: bool,
    input_format: str = "auto",
    ecs_mode: str = "agent",
    workers: int | None = None,
    prefilter: bool = True,
    columnar: bool = True,
    key_gate: bool = True,
    profile: bool = False,
    reorder_window: int | None = None,
    max_pending: int | None = None,
    store_dir: Path | None = None,
) -> None:
    from vigil.alerts.output import AlertWriter
    from vigil.alerts.store import AlertStore
    from vigil.rules.alerting import AlertPhase, run_rules
    from vigil.rules.scheduler import Collector
    from vigil.sources import ReadReport, read_events

    if store_dir is not None and data:
        click.echo(f"vigil {mode}: give DATA or --store DIR, not both", err=True)
        sys.exit(EXIT_USAGE)
    if store_dir is None and not data:
        click.echo(f"vigil {mode}: missing DATA (files, folders or - for stdin), or --store DIR", err=True)
        sys.exit(EXIT_USAGE)
    started_run = time.perf_counter()
    plans, loaded_at = _build_plans(
        rule_paths,
        mode=mode,
        strict_index=strict_index,
        reorder_window=reorder_window,
        max_pending=max_pending,
        jobs=workers if workers is not None else min(4, os.cpu_count() or 1),
    )
    if not plans:
        click.echo("vigil: no rule to run", err=True)
        sys.exit(EXIT_USAGE)

    _settle_gc()
    phases = {"loading the rules": loaded_at - started_run, "compiling them": time.perf_counter() - loaded_at}
    default_index, per_path = _index_options(index_opts)
    report = ReadReport()
    try:
        with _progress(show_progress) as progress:
            task = (
                progress.add_task("reading", total=None, rate="", unit="events")
                if progress is not None
                else None
            )
            started = datetime.now(UTC)

            def on_event(n: int) -> None:
                if progress is not None and task is not None:
                    # Events read: the ones decoded and the ones the pre-filter passed over
                    # (``n`` counts the decoded ones alone; the report may lag behind it).
                    n = max(n, report.events + report.filtered)
                    elapsed = max((datetime.now(UTC) - started).total_seconds(), 1e-6)
                    progress.update(task, completed=n, rate=f"{n / elapsed:,.0f}/s")

            seen = None
            if store_dir is not None:
                seen = _collect_store(plans, store_dir, report, mode, start, end, on_event, profile)
            elif not strict:
                from vigil.rules.parallel import collect_parallel

                seen = collect_parallel(
                    plans,
                    list(data),
                    report,
                    workers=workers if workers is not None else min(4, os.cpu_count() or 1),
                    index=default_index,
                    index_of_path=per_path,
                    input_format=input_format,
                    use_ruleset=prefilter,
                    profile=profile,
                    on_event=on_event,
                    columnar=columnar,
                    key_gate=key_gate,
                )
            if seen is None:
                collector = Collector(plans, use_ruleset=prefilter and not strict, profile=profile)
                events = read_events(
                    list(data),
                    strict=strict,
                    line_filter=collector.ruleset,
                    report=report,
                    index=default_index,
                    index_of_path=per_path,
                    input_format=input_format,
                    ecs_mode=ecs_mode,
                )
                seen = collector.collect(events, on_event)
            read_seconds = (datetime.now(UTC) - started).total_seconds()
    except DataError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_DATA)

    store = AlertStore.open(alert_db)
    alert_count = [0]
    run_time = datetime.now(UTC).replace(microsecond=0)
    out_stream = open(output, "w", encoding="utf-8") if output is not None else sys.stdout  # noqa: SIM115
    # Alerts are stored and written a slice of a rule's matches at a time (see run_once), so a
    # hunt's memory does not grow with its alerts: NDJSON and JSON documents are written as they
    # come; a table keeps one small row per alert until the end (it needs them for its widths).
    writer = AlertWriter(output_format, out_stream)
    phase = AlertPhase(
        mode=mode,
        run_time=run_time,
        start=start,
        end=end,
        alert_db=alert_db,
        echo=lambda text: click.echo(text, err=True),
    )
    try:
        with _progress(show_progress) as progress:
            task = (
                progress.add_task("running rules", total=len(plans), rate="", unit="rules")
                if progress
                else None
            )

            def advance(rules: int, alerts: int) -> None:
                alert_count[0] = max(alert_count[0], alerts)
                if progress is not None and task is not None:
                    progress.update(task, advance=rules, rate=f"{alert_count[0]:,} alerts")

            # NDJSON output of many matches: the alert phase in two processes (see
            # vigil.rules.alerting), unless the run was asked to stay in one (--workers 1).
            split = (
                output_format == "ndjson" and (workers is None or workers > 1) and (os.cpu_count() or 1) > 1
            )
            alerts_from = time.perf_counter()
            summaries = run_rules(plans, phase, store, writer, out_stream, split=split, advance=advance)
            phases["reading"] = read_seconds
            phases["alerts"] = time.perf_counter() - alerts_from

        if profile:
            _profile(report, plans, summaries, read_seconds, seen, phases)
        writer.close()
    finally:
        if out_stream is not sys.stdout:
            out_stream.close()
    visibility = "hidden from every rule (--strict-index)" if strict_index else "visible to every rule"
    _summary(
        mode,
        report,
        summaries,
        unknown_index=f"{seen.unknown_index:,} event(s) of unknown index, {visibility}",
        store=store,
    )
    store.close()
    from vigil.cli import all_written

    all_written()


def _summary(mode: str, report: Any, summaries: Sequence[Any], *, unknown_index: str, store: Any) -> None:
    echo = lambda text: click.echo(text, err=True)  # noqa: E731
    echo(
        # Read: decoded or passed over by the pre-filter, as `vigil query` counts them.
        f"vigil {mode}: {report.files:,} file(s), {report.events + report.filtered:,} events read, "
        f"{report.skipped:,} malformed line(s) skipped{damage_note(report)}, "
        f"{report.filtered:,} passed over by the pre-filter; "
        f"{unknown_index}"
    )
    for s in summaries:
        line = (
            f"  {s.name}: {s.runs} run(s), {s.events_scanned:,} events scanned, {s.alerts} alert(s), "
            f"{s.duplicates} duplicate(s) suppressed, {s.seconds * 1000:.0f} ms"
        )
        if s.gaps:
            line += f", {len(s.gaps)} gap(s): " + "; ".join(
                f"{a.isoformat()} to {b.isoformat()}" for a, b in s.gaps[:3]
            )
        if s.errors:
            line += f", {len(s.errors)} error(s)"
        echo(line)
    echo(f"  alerts stored in {store.path}")


def _collect_store(
    plans: Sequence[Any],
    store_dir: Path,
    report: Any,
    mode: str,
    start: datetime | None,
    end: datetime | None,
    on_event: Any,
    profile: bool,
) -> Any:
    """Offer each rule the events of the store that its filter may match (pushed down to SQL
    per rule, with the rule's index patterns; one scan for all the rules, each event offered
    only to the rules whose condition chose it); a replay reads only the time its windows
    cover, unless some rule places events by ``timestamp_override`` (not stored as a column)."""
    from vigil.rules.datemath import parse_date_math
    from vigil.rules.scheduler import Collector, to_nanos
    from vigil.store import open_store

    lo = hi = None
    replaying = mode == "replay" and start is not None and end is not None
    if replaying and not any(p.rule.timestamp_override for p in plans):
        assert start is not None and end is not None
        lo = min(to_nanos(parse_date_math(p.rule.from_).resolve(start)) for p in plans)
        hi = max(to_nanos(parse_date_math(p.rule.to).resolve(end)) for p in plans)
    with open_store(store_dir, create=False) as store:
        info = store.info()
        report.files += info.files
        tagged = store.tagged_candidates([(p.compiled, p.sees_index) for p in plans], start=lo, end=hi)
        seen = Collector(plans, use_ruleset=False, profile=profile).collect_tagged(tagged, on_event)
    report.events += seen.events
    # What the push-down kept out of the store's rows: it read them as column values only.
    report.filtered += max(0, info.rows - seen.events)
    return seen


def _profile(
    report: Any,
    plans: Sequence[Any],
    summaries: Sequence[Any],
    read_seconds: float,
    seen: Any = None,
    phases: dict[str, float] | None = None,
) -> None:
    """``--profile``: where the time went (the run's phases, then the rules slowest first, on
    stderr). A rule's time is the time spent testing events against it while reading plus its
    runs."""
    echo = lambda text: click.echo(text, err=True)  # noqa: E731
    total = report.events + report.filtered  # events decoded plus lines the pre-filter passed over
    rate = total / read_seconds if read_seconds > 0 else 0.0
    echo(
        f"vigil profile: {total:,} events for {len(plans)} rule(s) read in {read_seconds:.2f} s: "
        f"{rate:,.0f} events/s, {rate * len(plans):,.0f} rules x events/s"
    )
    if phases:
        echo("  phases: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in phases.items()))
    gated = int(getattr(seen, "gated_rules", 0) or 0)
    if seen is not None and gated:
        echo(
            f"  key gate: {gated} sequence rule(s) gated by their first steps' keys; their rows,"
            f" held during the pass, decided and offered after it in {seen.gate_seconds:.2f} s"
            " (included above); a gated rule is not offered (nor counts as tested) the events no"
            " sequence of it can use"
        )
    rows = sorted(
        ((p.offer_seconds + s.seconds, p.offer_seconds, s) for p, s in zip(plans, summaries, strict=True)),
        key=lambda r: r[0],
        reverse=True,
    )
    echo(f"  {'time':>9} {'testing':>9} {'tested':>10} {'matches':>8} {'alerts':>7}  rule")
    for total, testing, s in rows:
        echo(
            f"  {total * 1000:7.1f}ms {testing * 1000:7.1f}ms {s.events_scanned:>10,} {s.hits:>8,} "
            f"{s.alerts:>7,}  {s.name}"
        )


_common = [
    click.option(
        "--rules",
        "rule_paths",
        multiple=True,
        required=True,
        metavar="PATH",
        help="Rule files or folders (detection-rules TOML, Kibana export NDJSON, rule pages). Repeatable.",
    ),
    click.option(
        "--format",
        "output_format",
        type=click.Choice(["table", "ndjson", "json"]),
        default="table",
        show_default=True,
        help="How alerts are printed.",
    ),
    click.option(
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write alerts to FILE instead of stdout.",
    ),
    click.option(
        "--alert-db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="The alert store (SQLite); default under the user's data directory.",
    ),
    click.option(
        "--index",
        "index_opts",
        multiple=True,
        metavar="NAME|NAME=PATH",
        help="The index of all events (NAME) or of one input (NAME=PATH); wins over _index/data_stream.",
    ),
    click.option(
        "--strict-index", is_flag=True, help="Hide events whose index cannot be known from every rule."
    ),
    click.option("--strict", is_flag=True, help="Stop at the first malformed line instead of skipping it."),
    click.option("--no-progress", is_flag=True, help="No progress bar (it only shows on a terminal anyway)."),
    click.option(
        "--store",
        "store_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Read the events from the event store in DIR (see `vigil store`), rule filters pushed "
        "down to SQL, instead of DATA.",
    ),
    click.option(
        "--workers",
        type=click.IntRange(min=1),
        default=None,
        help="Processes reading large NDJSON files in parallel (default: the number of cores, at most "
        "4; 1 reads in this process). Small, compressed, piped or Windows input is read in one process.",
    ),
    click.option(
        "--no-prefilter",
        is_flag=True,
        help="Decode every line (skip the rule-set pre-filter on raw lines).",
    ),
    click.option(
        "--no-columnar",
        is_flag=True,
        help="Test the lines of large NDJSON files one by one even with many rules (by default, "
        "from 20 rules on, the rules' filters are first answered a batch of lines at a time from "
        "the fields' columns; see docs/architecture.md).",
    ),
    click.option(
        "--no-key-gate",
        is_flag=True,
        help="Offer the sequence rules of a many-rules hunt every event their filters name (by "
        "default their events are held during the pass and, once the join keys of every "
        "first-step event are known, events of other keys that match only later steps are not "
        "offered; see docs/architecture.md).",
    ),
    click.option(
        "--reorder-window",
        type=click.IntRange(min=1),
        default=None,
        help="Sequence candidates a rule re-orders by time; input out of order by more is counted "
        f"and warned about. Bounds memory. Default: {DEFAULT_REORDER_WINDOW:,} for replay; for hunt "
        f"{HUNT_REORDER_BUDGET:,} shared by the sequence rules, at least {HUNT_MIN_REORDER_WINDOW:,} each.",
    ),
    click.option(
        "--max-pending",
        type=click.IntRange(min=1),
        default=None,
        help="Partial sequences a rule holds at once; beyond it the oldest are dropped with a warning "
        f"(default {DEFAULT_MAX_PENDING_SEQUENCES:,}; sequences past their maxspan are dropped anyway).",
    ),
    click.option(
        "--profile",
        is_flag=True,
        help="Print the time spent reading and, per rule, run time, events and matches, slowest first.",
    ),
]


def _with_common(fn: Any) -> Any:
    fn = input_options(fn)  # innermost: listed after the common options in --help
    for option in reversed(_common):
        fn = option(fn)
    return fn


def _invoke(mode: str, start: datetime | None, end: datetime | None, options: dict[str, Any]) -> None:
    """Run ``hunt`` or ``replay`` with the command line's options (the flags turned around), and
    turn a rule or input error into a message and the usage exit code."""
    options = dict(options)
    options["show_progress"] = not options.pop("no_progress")
    options["prefilter"] = not options.pop("no_prefilter")
    options["columnar"] = not options.pop("no_columnar")
    options["key_gate"] = not options.pop("no_key_gate")
    import gc

    thresholds = gc.get_threshold()
    try:
        _run(mode=mode, start=start, end=end, **options)
    except (RuleError, VigilError) as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_USAGE)
    finally:
        # as it was (tests run the command in their own process)
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@click.command()
@_with_common
@click.argument("data", nargs=-1, required=False)
def hunt(**options: Any) -> None:
    """Run every enabled, supported rule over all of DATA (one run per rule, no time window).
    DATA may hold NDJSON/JSON events, Windows EVTX files, NXLog or Winlogbeat JSON.

    \b
    Example:
      vigil hunt --rules examples/rules/direct_outbound_smb.toml examples/data
    """
    _invoke("hunt", None, None, options)


@click.command()
@_with_common
@click.option("--start", "start_text", required=True, help="First tick of the schedule (ISO 8601).")
@click.option("--end", "end_text", required=True, help="Last possible tick of the schedule (ISO 8601).")
@click.argument("data", nargs=-1, required=False)
def replay(start_text: str, end_text: str, **options: Any) -> None:
    """Simulate the rule scheduler over recorded DATA: each rule runs at every tick of its interval
    from --start to --end over [tick + from, tick + to], with max_signals, deduplication across
    overlapping windows, and gaps reported.

    \b
    Example:
      vigil replay --rules examples/rules \\
          --start 2024-05-14T08:00:00Z --end 2024-05-14T09:00:00Z examples/data
    """
    start = _parse_time(start_text, "--start")
    end = _parse_time(end_text, "--end")
    if end < start:
        raise click.BadParameter("--end is before --start", param_hint="--end")
    _invoke("replay", start, end, options)
