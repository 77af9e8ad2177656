"""Run detection rules over events: which events a rule sees, and what each event contributes.

A rule sees an event when, as in Kibana's search for the rule:

* the event's index matches one of the rule's index patterns (events whose index is unknown are
  seen by every rule unless ``strict_index``);
* it passes the rule's ``filters`` (query DSL) and no exception item of the rule's exception
  lists matches it (Kibana adds both to the search as filters, so EQL never sees such events:
  they cannot take part in a sequence either);
* its time (``timestamp_override`` with fallback to ``@timestamp``) lies in the run's window.

Events are read once for all rules: each rule keeps the *parts* its query computes per event
(:meth:`vigil.engine.runner.CompiledQuery.part_of`) with the event's window time, and a run
finishes the query over the parts of its window.
"""

from __future__ import annotations

import bisect
import fnmatch
import functools
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from vigil.ecs.ecs_schema import ecs_schema
from vigil.ecs.schema import FieldSpec, FieldType, Schema, SchemaRegistry
from vigil.engine import QueryOptions, compile_query
from vigil.engine.model import Event, QueryResult, QueryStats
from vigil.engine.runner import Accumulator, CompiledQuery
from vigil.engine.typed import make_field_reader
from vigil.errors import RuleError, VigilError
from vigil.rules.model import Rule

# Kibana's namespace for rule ids is its saved-object id; vigil derives a stable one per rule_id.
_RULE_NAMESPACE = uuid.UUID("8e8c1d0e-5d4b-4b7c-9f7a-6b2f3f7f0a11")
NO_LIMIT = 10**9


def rule_uuid(rule: Rule) -> str:
    """The rule's ``kibana.alert.rule.uuid``: stable for a rule_id, as a saved rule's id is."""
    return str(uuid.uuid5(_RULE_NAMESPACE, rule.rule_id))


def index_matcher(patterns: Sequence[str]) -> Callable[[str], bool]:
    """Elasticsearch index-pattern semantics: ``*`` wildcards, comma lists, ``-excluded``
    patterns (applied after the inclusions), ``cluster:`` prefixes ignored (local data)."""
    return _index_matcher(tuple(patterns))


@functools.lru_cache(maxsize=1024)
def _index_matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    # Shared by the rules that search the same indices (most of a corpus): compiled once.
    include: list[str] = []
    exclude: list[str] = []
    for raw in patterns:
        for p in raw.split(","):
            p = p.strip()
            if not p:
                continue
            if ":" in p:
                p = p.split(":", 1)[1]
            (exclude if p.startswith("-") else include).append(p.lstrip("-"))
    inc = re.compile("|".join(fnmatch.translate(p) for p in include)) if include else None
    exc = re.compile("|".join(fnmatch.translate(p) for p in exclude)) if exclude else None
    cache: dict[str, bool] = {}

    def matches(index: str) -> bool:
        hit = cache.get(index)
        if hit is None:
            hit = bool(inc and inc.match(index)) and not (exc and exc.match(index))
            cache[index] = hit
        return hit

    return matches


def _window_time_reader(rule: Rule) -> Callable[[dict[str, Any]], int | None]:
    """Epoch nanoseconds of an event for the rule's time window: ``timestamp_override`` when the
    event has it, else ``@timestamp`` (unless the rule disables the fallback)."""
    schema = ecs_schema()

    def date_reader(path: str) -> Callable[[dict[str, Any]], Any]:
        typed = Schema(fields={**schema.fields, path: FieldSpec(FieldType.DATE)}, name="window")
        return make_field_reader(typed, path)

    primary = date_reader(rule.timestamp_override or "@timestamp")
    fallback = None
    if rule.timestamp_override and not rule.timestamp_override_fallback_disabled:
        fallback = date_reader("@timestamp")

    def read(doc: dict[str, Any]) -> int | None:
        v = primary(doc)
        if v is None and fallback is not None:
            v = fallback(doc)
        if type(v) is list:
            v = min(v)
        return v

    return read


@dataclass
class RulePlan:
    """One rule, compiled: its query, its visibility tests, and the parts collected so far."""

    rule: Rule
    compiled: CompiledQuery
    uuid: str
    sees_index: Callable[[str], bool]
    filters: Callable[[dict[str, Any]], bool] | None
    excepted: Callable[[dict[str, Any]], bool] | None
    window_time: Callable[[dict[str, Any]], int | None]
    # (window time, input position, part), appended in input order
    parts: list[tuple[int, int, Any]] = field(default_factory=list)
    events_seen: int = 0
    sorted_times: list[int] | None = None
    offer_seconds: float = 0.0  # time spent testing events (measured under --profile only)
    # A hunt (one run over everything) feeds parts straight into the query's accumulator
    # instead of keeping them: memory follows the answer, not the input.
    stream: Accumulator | None = None
    stream_stats: QueryStats | None = None
    streamed: int = 0

    def start_stream(self) -> None:
        """Feed parts to an accumulator from now on (see :attr:`stream`)."""
        self.stream_stats = QueryStats()
        self.stream = self.compiled.accumulator(self.stream_stats)

    def offer(self, ev: Event, steps: tuple[int, ...] | None = None) -> None:
        """Give the rule one event; keep what its query makes of it. ``steps``: the positions
        of the query's filters true on the event, when already known (see
        :meth:`vigil.engine.runner.CompiledQuery.part_of`)."""
        if not self.sees_index(ev.index):
            return
        doc = ev.source
        if self.filters is not None and not self.filters(doc):
            return
        if self.excepted is not None and self.excepted(doc):
            return
        self.events_seen += 1
        part = self.compiled.part_of(ev, steps)
        if part is None:
            return
        if self.stream is not None:
            self.streamed += 1
            self.stream.feed(part)
            return
        # The window time is read only for the few events a rule keeps.
        when = self.window_time(doc)
        if when is not None:
            self.parts.append((when, ev.seq, part))

    def window(self, start: int | None, end: int | None) -> list[Any]:
        """The parts of events whose window time is in [start, end] (None: unbounded), in input
        order."""
        if start is None and end is None:
            return [p for _t, _s, p in self.parts]
        if self.sorted_times is None:
            self.parts.sort(key=lambda t: t[0])
            self.sorted_times = [t for t, _s, _p in self.parts]
        lo = 0 if start is None else bisect.bisect_left(self.sorted_times, start)
        hi = len(self.parts) if end is None else bisect.bisect_right(self.sorted_times, end)
        chosen = sorted(self.parts[lo:hi], key=lambda t: t[1])
        return [p for _t, _s, p in chosen]

    def count_in(self, start: int | None, end: int | None) -> int:
        """How many kept parts fall in the window (for run statistics)."""
        return len(self.window(start, end))

    def run(self, parts: Iterable[Any]) -> QueryResult:
        """Finish the rule's query over some of its parts (one run)."""
        return self.compiled.finish(parts, QueryStats())


def plan_rule(
    rule: Rule,
    *,
    size: int,
    strict_index: bool = False,
    exception_items: Sequence[dict[str, Any]] = (),
    reorder_window: int | None = None,
    max_pending_sequences: int | Literal["default"] | None = "default",
) -> RulePlan:
    """Compile one supported rule. Raises RuleError naming the rule when it cannot run.
    ``reorder_window`` and ``max_pending_sequences`` bound a sequence rule's state (see
    :class:`vigil.engine.model.QueryOptions`); None/"default" keep the engine's defaults."""
    try:
        bounds: dict[str, Any] = {}
        if reorder_window is not None:
            bounds["reorder_window"] = reorder_window
        if max_pending_sequences != "default":
            bounds["max_pending_sequences"] = max_pending_sequences
        options = QueryOptions(
            timestamp_field=rule.timestamp_field or "@timestamp",
            tiebreaker_field=rule.tiebreaker_field,
            event_category_field=rule.event_category_override or "event.category",
            size=size,
            **bounds,
        )
        compiled = compile_query(rule.query, schemas=SchemaRegistry(default=ecs_schema()), options=options)
    except VigilError as exc:
        raise RuleError(f"rule {rule.name!r} ({rule.source}): {exc}") from exc
    matcher = index_matcher(rule.index) if rule.index else (lambda _i: True)

    def sees(index: str) -> bool:
        if not index:
            return not strict_index
        return matcher(index)

    filters = None
    if rule.filters:
        from vigil.rules.filters import compile_filters

        filters = compile_filters(list(rule.filters))
    excepted = None
    if rule.exceptions_list and exception_items:
        from vigil.rules.exceptions import compile_exceptions

        excepted = compile_exceptions(rule, list(exception_items))
    return RulePlan(rule, compiled, rule_uuid(rule), sees, filters, excepted, _window_time_reader(rule))


def union_line_filter(plans: Sequence[RulePlan]) -> Callable[[bytes], bool] | None:
    """A raw-line pre-check for many rules: a line is decoded when any rule's pre-check passes
    it; None when some rule has no pre-check. (Filters and exceptions only narrow what a rule
    sees, so each rule's own pre-check stays valid.)"""
    filters = []
    for p in plans:
        f = p.compiled.line_filter
        if f is None:
            return None
        filters.append(f)
    if not filters:
        return None
    if len(filters) == 1:
        return filters[0]

    def any_rule(line: bytes) -> bool:
        return any(f(line) for f in filters)

    return any_rule
