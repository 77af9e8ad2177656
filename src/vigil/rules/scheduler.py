"""Rule runs: a hunt (one run over all the data) and a replay of the rule scheduler.

A replay simulates Kibana's task manager over recorded data: each rule runs at every tick of its
``interval`` between ``start`` and ``end``, each run searching [tick + from, tick + to] (date
math), exactly the windows the rule would have searched live. Per run, as Kibana does:

* at most ``max_signals`` hits become alerts; when more exist the run warns that the rule reached
  its maximum alert limit;
* alerts get Kibana's deterministic ids, so an alert an earlier run (or an earlier replay, through
  the alert store) already raised is not raised again: overlapping windows raise it once;
* consecutive windows that leave time uncovered (``from`` shorter than ``interval``) are gaps;
* alert suppression (``alert_suppression``) folds alerts that share the ``group_by`` values into
  one, per run or over a time window.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import Any

from vigil.engine.model import Event, QueryResult
from vigil.rules.executor import RulePlan

MAX_SIGNALS_WARNING = (
    "This rule reached the maximum alert limit for the rule execution. Some alerts were not created."
)


def to_nanos(dt: datetime) -> int:
    """Epoch nanoseconds of an aware datetime."""
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


@dataclass
class RunOutcome:
    """What one rule run did."""

    rule_id: str
    rule_name: str
    tick: datetime
    window_start: datetime | None
    window_end: datetime | None
    events_scanned: int
    hits: int
    alerts_created: int
    duplicates: int
    seconds: float
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    groups: list[Any] = field(default_factory=list)  # the AlertGroups this run created


@dataclass
class RuleSummary:
    """Per-rule totals over a hunt or replay."""

    rule_id: str
    name: str
    runs: int = 0
    events_scanned: int = 0
    alerts: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    hits: int = 0  # what the query matched (events or sequences), before max_signals and dedup
    warnings: list[str] = field(default_factory=list)
    gaps: list[tuple[datetime, datetime]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, run: RunOutcome) -> None:
        """Fold one run into the totals."""
        self.runs += 1
        self.events_scanned += run.events_scanned
        self.alerts += run.alerts_created
        self.duplicates += run.duplicates
        self.seconds += run.seconds
        self.hits += run.hits
        self.warnings.extend(run.warnings)
        self.errors.extend(run.errors)


@dataclass
class CollectStats:
    """What reading the events for the rules saw."""

    events: int = 0
    unknown_index: int = 0  # events whose index could not be known
    gated_rules: int = 0  # sequence rules given a key gate (vigil.rules.keygate)
    gate_seconds: float = 0.0  # deciding their held rows after the pass, and offering them


class Collector:
    """Offers events to the rules that may match them: the rule index of
    :mod:`vigil.engine.dispatch`, narrowed by the rule-set pre-filter when the reader used it
    (:attr:`ruleset`: give it to the reader as its ``line_filter``). Built once per rule set."""

    def __init__(self, plans: Sequence[RulePlan], *, use_ruleset: bool = True, profile: bool = False):
        self.plans = plans
        self._dispatch: Callable[[Any], int] | None = None
        self.ruleset = rule_set_filter(plans) if use_ruleset else None
        self.profile = profile
        # The columnar filter of a many-rules hunt over NDJSON (vigil.engine.columnar), when the
        # reader uses it instead of the rule-set pre-filter: set by that reader.
        self.columnar: Any | None = None
        self._known: dict[int, tuple[int, ...]] | None = None  # (see collect)
        # The key gates of the sequence rules (vigil.rules.keygate.RowGates), set with the
        # columnar filter: the events of lines it could not answer are held for the gated rules.
        self.holding: Any | None = None

    @property
    def dispatch(self) -> Callable[[Any], int]:
        """The rule index (:func:`_dispatcher`), built on first use: a many-rules hunt whose
        columnar filter answers every line never asks for it."""
        if self._dispatch is None:
            self._dispatch = _dispatcher(self.plans)
        return self._dispatch

    def collect(self, events: Iterable[Event], on_event: Callable[[int], None] | None = None) -> CollectStats:
        """Read the events once, offering each to every rule that may match it.

        An event read from the line the rule-set pre-filter last scanned (the reader calls it on
        a line right before yielding that line's event, whose ``raw`` is the same object) goes
        only to the rules that scan named; any other event (EVTX, mapped Windows JSON) to every
        rule the index names.
        """
        from vigil.engine.dispatch import bits
        from vigil.engine.typed import begin_event

        ruleset = self.ruleset
        columnar = self.columnar
        holding = self.holding
        held = holding.bits if holding is not None else 0

        def targeted() -> Iterator[tuple[Event, Sequence[int]]]:
            dispatch = None
            for ev in events:
                begin_event(ev.source)  # the dispatcher's field reads are shared with the rules'
                if columnar is not None and ev.raw is columnar.last_line and columnar.last_exact:
                    # The columnar filter read this line's fields; its candidates replace the
                    # rule index's (each filter's category test is one of its leaves), and the
                    # rules whose filters it knows get their true filters with the event.
                    self._known = columnar.last_known
                    yield ev, bits(columnar.last_mask)
                    self._known = None
                    continue
                if dispatch is None:
                    dispatch = self.dispatch
                mask = dispatch(ev.source)
                if ruleset is not None and ev.raw is not None and ev.raw is ruleset.last_line:
                    mask &= ruleset.last_mask
                if mask & held:
                    offset = ev.origin[1] if ev.origin is not None else ev.seq
                    holding.hold_event(ev, bits(mask & held), offset)  # type: ignore[union-attr]
                    mask &= ~held
                yield ev, bits(mask)

        return self._offer(targeted(), on_event, begun=True)

    def collect_tagged(
        self,
        items: Iterable[tuple[Event, Sequence[int]]],
        on_event: Callable[[int], None] | None = None,
    ) -> CollectStats:
        """Read events once, each with the plans to offer it to (as
        :meth:`vigil.store.Store.tagged_candidates` yields them, the plans in the order of its
        queries: the store's SQL already chose them, per rule, by a condition no match can
        fail), offering each only to those plans."""
        return self._offer(items, on_event, begun=False)

    def _offer(
        self,
        items: Iterable[tuple[Event, Sequence[int]]],
        on_event: Callable[[int], None] | None,
        *,
        begun: bool,
    ) -> CollectStats:
        """Offer each event to its plans (``begun``: the field reads of each event are already
        shared, by :func:`vigil.engine.typed.begin_event`)."""
        stats = CollectStats()
        plans = self.plans
        n = unknown = 0
        profile = self.profile
        from vigil.engine.typed import begin_event, end_event

        for ev, targets in items:
            n += 1
            if not ev.index:
                unknown += 1
            if not begun:
                begin_event(ev.source)
            known = self._known
            if profile:
                for i in targets:
                    t0 = perf_counter()
                    plans[i].offer(ev, None if known is None else known.get(i))
                    plans[i].offer_seconds += perf_counter() - t0
            elif known is not None:
                for i in targets:
                    plans[i].offer(ev, known.get(i))
            else:
                for i in targets:
                    plans[i].offer(ev)
            if on_event is not None and n % 1000 == 0:
                on_event(n)
        end_event()
        if on_event is not None:
            on_event(n)
        stats.events, stats.unknown_index = n, unknown
        return stats


def collect(
    plans: Sequence[RulePlan],
    events: Iterable[Event],
    on_event: Callable[[int], None] | None = None,
    ruleset: Any | None = None,
) -> CollectStats:
    """Read the events once, offering each to every rule that may match it (see
    :class:`Collector`; ``ruleset`` is the pre-filter the reader used, if any)."""
    collector = Collector(plans, use_ruleset=False)
    collector.ruleset = ruleset
    return collector.collect(events, on_event)


def rule_set_filter(plans: Sequence[RulePlan]) -> Any | None:
    """The pre-filter of the whole rule set (:class:`vigil.engine.ruleset.RuleSetFilter`), or
    None when no rule has a pre-check (then it could not skip a line)."""
    from vigil.engine.ruleset import RuleSetFilter

    # A query's line filter carries its requirements; it has none when some filter has none.
    reqs = [getattr(p.compiled.line_filter, "reqs", None) for p in plans]
    if all(r is None for r in reqs):
        return None
    return RuleSetFilter(reqs, line_filters=[p.compiled.line_filter for p in plans])


def _dispatcher(plans: Sequence[RulePlan]) -> Callable[[Any], int]:
    """Which plans an event goes to, as bits (plan ``i`` is ``1 << i``): the rule index of
    :mod:`vigil.engine.dispatch` for rules that use the default category field; every event for
    the others."""
    from vigil.ecs.ecs_schema import ecs_schema
    from vigil.engine.dispatch import Dispatcher, bits, mask_of

    if len(plans) < 2:
        everyone = (1 << len(plans)) - 1
        return lambda _doc: everyone
    indexed = [i for i, p in enumerate(plans) if p.compiled.options.event_category_field == "event.category"]
    others = mask_of(set(range(len(plans))) - set(indexed))
    dispatcher = Dispatcher([plans[i].compiled.query for i in indexed], ecs_schema())
    if not others:
        return dispatcher.mask  # the dispatcher's query i is plan i

    def targets(doc: Any) -> int:
        out = others
        for k in bits(dispatcher.mask(doc)):
            out |= 1 << indexed[k]
        return out

    return targets


def _cut(result: QueryResult, limit: int) -> tuple[QueryResult, bool]:
    """At most ``limit`` hits, and whether more existed."""
    if result.kind == "events":
        if len(result.events) <= limit:
            return result, False
        return QueryResult("events", events=result.events[:limit], stats=result.stats), True
    if len(result.sequences) <= limit:
        return result, False
    return QueryResult("sequences", sequences=result.sequences[:limit], stats=result.stats), True


class AlertSink:
    """Where a run's alerts go: deduplication by alert id against earlier runs and the store.

    A run whose alerts come in slices (:func:`run_once` with ``on_alerts``) is bracketed by
    :meth:`begin_run` and :meth:`end_run`: an id raised by an earlier slice of the same run then
    counts as new again, exactly as it would if the run's alerts came in one call."""

    def __init__(self, store: Any | None):
        self.store = store
        self.seen: set[str] = set()
        self._run: set[str] | None = None  # ids the run in progress raised (between begin/end)

    def begin_run(self) -> None:
        """The slices that follow, up to :meth:`end_run`, are one run's."""
        self._run = set()

    def end_run(self) -> None:
        """The run's slices are over."""
        self._run = None

    def accept(self, groups: Sequence[Any]) -> tuple[list[Any], int]:
        """The groups not raised before, and how many were duplicates."""
        run = self._run if self._run is not None else ()
        fresh = [g for g in groups if g.primary_id in run or g.primary_id not in self.seen]
        if self.store is not None and fresh:
            ask = [g.primary_id for g in fresh if g.primary_id not in run]
            known = self.store.known_ids(ask) if ask else set()
            fresh = [g for g in fresh if g.primary_id not in known]
        for g in fresh:
            self.seen.add(g.primary_id)
        if self._run is not None:
            self._run.update(g.primary_id for g in fresh)
        return fresh, len(groups) - len(fresh)


# Alert documents made at once by a run that hands its alerts over as they are made
# (``on_alerts``): a rule's matches are held as projections, and only a slice of them are
# complete documents and alerts at any time: this many event hits, or as many sequences as make
# about this many documents (a shell and a building block per event).
ALERT_SLICE = 1_000


def _slices(result: QueryResult, size: int) -> Iterator[QueryResult]:
    """The result cut into consecutive results of at most ``size`` hits (one when it is empty)."""
    hits: list[Any] = result.events if result.kind == "events" else result.sequences
    if len(hits) <= size:
        yield result
        return
    for start in range(0, len(hits), size):
        chunk = hits[start : start + size]
        if result.kind == "events":
            yield QueryResult("events", events=chunk, stats=result.stats)
        else:
            yield QueryResult("sequences", sequences=chunk, stats=result.stats)


class _HandOverError(Exception):
    """What ``on_alerts`` raised, carried past the rule's own error handling."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


def run_once(
    plan: RulePlan,
    *,
    tick: datetime,
    window: tuple[datetime, datetime] | None,
    limit: int | None,
    sink: AlertSink,
    build: Callable[..., list[Any]],
    suppress: Callable[[RulePlan, list[Any], datetime], list[Any]] | None = None,
    on_alerts: Callable[[list[Any]], None] | None = None,
    slice_size: int | None = None,
) -> RunOutcome:
    """One run of one rule: the query over its window's parts, alerts, dedup.

    Without ``on_alerts`` the run's new alert groups are in :attr:`RunOutcome.groups`. With it,
    they are handed to ``on_alerts`` as they are made, in hit order, a slice at a time
    (``slice_size`` alert documents, about: :data:`ALERT_SLICE` when None), and ``groups`` stays
    empty: a hunt's answer is kept as projections and only a slice of it is ever complete
    documents and alerts (a rule with ``alert_suppression`` folds alerts over
    the whole run, so its hits are built at once). The alerts are the same either way."""
    started = time.perf_counter()
    rule = plan.rule
    start_ns = to_nanos(window[0]) if window else None
    end_ns = to_nanos(window[1]) if window else None
    streamed = plan.stream is not None and window is None
    parts = [] if streamed else plan.window(start_ns, end_ns)
    outcome = RunOutcome(
        rule.rule_id,
        rule.name,
        tick,
        window[0] if window else None,
        window[1] if window else None,
        plan.streamed if streamed else len(parts),
        0,
        0,
        0,
        0.0,
    )
    sliced = on_alerts is not None
    try:
        if streamed:
            assert plan.stream is not None and plan.stream_stats is not None
            result = plan.stream.close(complete=not sliced)
            outcome.warnings.extend(plan.stream_stats.warnings())
        else:
            result = plan.run(parts)
        del parts
        if limit is not None:
            result, capped = _cut(result, limit)
            if capped:
                outcome.warnings.append(MAX_SIGNALS_WARNING)
        outcome.hits = result.total
        if on_alerts is None:
            groups = build(rule, result, run_time=tick, rule_uuid=plan.uuid)
            if suppress is not None:
                groups = suppress(plan, groups, tick)
            fresh, dups = sink.accept(groups)
            outcome.groups = fresh
            outcome.alerts_created = len(fresh)
            outcome.duplicates = dups
        else:
            size = slice_size if slice_size is not None else ALERT_SLICE
            if result.sequences:
                size //= len(result.sequences[0].events) + 1
            size = max(1, size)
            if suppress is not None and rule.alert_suppression is not None:
                size = max(size, result.total)
            sink.begin_run()
            try:
                for piece in _slices(result, size):
                    groups = build(rule, piece, run_time=tick, rule_uuid=plan.uuid)
                    if suppress is not None:
                        groups = suppress(plan, groups, tick)
                    fresh, dups = sink.accept(groups)
                    del groups
                    outcome.alerts_created += len(fresh)
                    outcome.duplicates += dups
                    if fresh:
                        try:
                            on_alerts(fresh)
                        except Exception as exc:
                            raise _HandOverError(exc) from exc
                    del fresh
            finally:
                sink.end_run()
    except _HandOverError as exc:  # the caller's own failure (storing, writing) is not the rule's
        raise exc.error from None
    except Exception as exc:  # a failing rule never stops the others
        outcome.errors.append(f"{type(exc).__name__}: {exc}")
    outcome.seconds = time.perf_counter() - started
    return outcome


def ticks(start: datetime, end: datetime, interval: timedelta) -> list[datetime]:
    """The scheduler's run times from ``start`` to ``end`` (inclusive), every ``interval``."""
    if interval <= timedelta(0):
        raise ValueError("interval must be positive")
    out = []
    t = start
    while t <= end:
        out.append(t)
        t += interval
    return out


def replay_rule(
    plan: RulePlan,
    *,
    start: datetime,
    end: datetime,
    sink: AlertSink,
    build: Callable[..., list[Any]],
    on_run: Callable[[RunOutcome], None] | None = None,
    suppress: Callable[[RulePlan, list[Any], datetime], list[Any]] | None = None,
    on_alerts: Callable[[list[Any]], None] | None = None,
) -> RuleSummary:
    """Every scheduled run of one rule between ``start`` and ``end`` (``on_alerts``: see
    :func:`run_once`; each run's alerts are handed over before ``on_run`` is called)."""
    from vigil.rules.datemath import parse_date_math, parse_interval

    rule = plan.rule
    summary = RuleSummary(rule.rule_id, rule.name)
    interval = parse_interval(rule.interval)
    look_back = parse_date_math(rule.from_)
    look_to = parse_date_math(rule.to)
    covered_until: datetime | None = None
    for tick in ticks(start, end, interval):
        w_start, w_end = look_back.resolve(tick), look_to.resolve(tick)
        if covered_until is not None and w_start > covered_until:
            summary.gaps.append((covered_until, w_start))
        covered_until = max(covered_until, w_end) if covered_until else w_end
        outcome = run_once(
            plan,
            tick=tick,
            window=(w_start, w_end),
            limit=rule.max_signals,
            sink=sink,
            build=build,
            suppress=suppress,
            on_alerts=on_alerts,
        )
        summary.add(outcome)
        if on_run is not None:
            on_run(outcome)
    return summary


def hunt_rule(
    plan: RulePlan,
    *,
    run_time: datetime,
    sink: AlertSink,
    build: Callable[..., list[Any]],
    limit: int | None = None,
    on_run: Callable[[RunOutcome], None] | None = None,
    suppress: Callable[[RulePlan, list[Any], datetime], list[Any]] | None = None,
    on_alerts: Callable[[list[Any]], None] | None = None,
) -> RuleSummary:
    """One run of one rule over all of its events (no time window). With ``on_alerts`` (see
    :func:`run_once`) the alerts are handed over a slice at a time, before ``on_run``."""
    summary = RuleSummary(plan.rule.rule_id, plan.rule.name)
    outcome = run_once(
        plan,
        tick=run_time,
        window=None,
        limit=limit,
        sink=sink,
        build=build,
        suppress=suppress,
        on_alerts=on_alerts,
    )
    summary.add(outcome)
    if on_run is not None:
        on_run(outcome)
    return summary
