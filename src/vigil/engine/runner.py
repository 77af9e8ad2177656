"""Run a compiled query over a stream of events.

Events stream through once. Each is tested against the query's filters (compiled per index
schema); the ones that match nothing are dropped at once, so memory holds only what the answer
needs: the best ``size`` events of an event query, the pending sequences and a bounded reorder
buffer of candidates for a sequence query, a few candidates per key for a sample query.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from vigil.ecs.ecs_schema import ecs_schema
from vigil.ecs.schema import FieldType, SchemaRegistry
from vigil.engine.model import Event, QueryOptions, QueryResult, QueryStats, SequenceHit, materialize
from vigil.engine.plan import IndexPlan, build_plan
from vigil.engine.sample import SampleMatcher
from vigil.engine.sequence import Candidate, SequenceMatcher, StepLayout
from vigil.engine.typed import json_value
from vigil.engine.verify import iter_nodes, verify_query
from vigil.eql import ast
from vigil.eql.parser import parse

# Candidates held to put a sequence's input in time order. Input that is out of order by more
# than this many candidates is still processed, late events counted in the stats.
REORDER_WINDOW = 1_000_000


class CompiledQuery:
    """A query compiled for a set of schemas: call :meth:`execute` with events."""

    def __init__(self, query: ast.Query, schemas: SchemaRegistry, options: QueryOptions):
        self.query = query
        self.schemas = schemas
        self.options = options
        self._plans: dict[str, IndexPlan] = {}
        self._by_schema: dict[int, IndexPlan] = {}
        body = query.body
        self.kind = "events" if isinstance(body, ast.EventQuery) else "sequences"
        self.pipes: list[tuple[str, int]] = []
        for pipe in query.pipes:
            n = pipe.args[0].value if pipe.args and isinstance(pipe.args[0], ast.Literal) else None
            if isinstance(n, int) and not isinstance(n, bool):
                self.pipes.append((pipe.name, n))
        self.bound = _bound(self.pipes, options)
        if isinstance(body, ast.SampleQuery):
            self.bound = None
        self.line_filter: Callable[[bytes], bool] | None = None
        # Compile eagerly for the default schema so literal errors surface at compile time.
        for schema in schemas.all():
            self._by_schema.setdefault(id(schema), build_plan(query, schema, options))

    def plan(self, index: str) -> IndexPlan:
        """The compiled plan for events of ``index``."""
        plan = self._plans.get(index)
        if plan is None:
            schema = self.schemas.for_index(index)
            plan = self._by_schema.get(id(schema))
            if plan is None:
                plan = build_plan(self.query, schema, self.options)
                self._by_schema[id(schema)] = plan
            self._plans[index] = plan
        return plan

    @property
    def fields(self) -> list[str]:
        """Every document field the query reads (as stored: aliases resolved), including the
        timestamp, tiebreaker and category fields: what a projection decoder must keep."""
        paths = {n.path for n in iter_nodes(self.query.body) if isinstance(n, ast.Field)}
        o = self.options
        paths |= {o.timestamp_field, o.event_category_field}
        if o.tiebreaker_field:
            paths.add(o.tiebreaker_field)
        return sorted({schema.resolve(p) for p in paths for schema in self.schemas.all()})

    def execute(self, events: Iterable[Event]) -> QueryResult:
        """Run over ``events`` and return the answer Elasticsearch would give. Events may be
        projections (see :mod:`vigil.sources.projection`); the returned ones are complete."""
        stats = QueryStats()
        return self.finish(self.parts(events, stats), stats)

    def parts(self, events: Iterable[Event], stats: QueryStats) -> Iterator[Any]:
        """The per-event half of a run: what each event contributes to the answer (an ordinal
        and the event for an event query, a :class:`Candidate` for a sequence, the event and its
        keys per filter for a sample). Parts of consecutive slices of the input, made apart
        (in worker processes), can be chained and given to :meth:`finish`."""
        part_of = self.part_of
        n = matched = 0
        try:
            for ev in events:
                n += 1
                part = part_of(ev)
                if part is not None:
                    matched += 1
                    yield part
        finally:
            stats.events_read += n
            stats.events_considered += n
            stats.events_matched += matched

    def part_of(self, ev: Event) -> Any | None:
        """What one event contributes (as :meth:`parts` would yield it), or None. For callers
        that push each event to many queries (a hunt with many rules) instead of streaming."""
        plan = self.plan(ev.index)
        doc = ev.source
        body = self.query.body
        if isinstance(body, ast.EventQuery):
            if not plan.steps[0].matches(doc):
                return None
            return plan.ordinal(doc, ev.seq) or (_LAST, ev.seq), ev
        step_keys: dict[int, list[tuple[Any, ...]]] = {}
        if isinstance(body, ast.SequenceQuery):
            steps = plan.steps
            for i in plan.matching_steps(doc):
                keys = steps[i].key_tuples(doc)
                if keys:
                    step_keys[i] = keys
            until_keys = None
            if plan.until is not None and plan.until.matches(doc):
                until_keys = plan.until.key_tuples(doc) or None
            if not step_keys and not until_keys:
                return None
            ordinal = plan.ordinal(doc, ev.seq)
            return None if ordinal is None else Candidate(ordinal, ev, step_keys, until_keys)
        for i, step in enumerate(plan.steps):
            if step.matches(doc):
                keys = step.key_tuples(doc)
                if keys:
                    step_keys[i] = keys
        return (ev, step_keys) if step_keys else None

    def finish(self, parts: Iterable[Any], stats: QueryStats) -> QueryResult:
        """The whole-input half of a run: order, match and cut the parts into the answer."""
        body = self.query.body
        if isinstance(body, ast.EventQuery):
            result = self._events_from(parts, stats)
        elif isinstance(body, ast.SequenceQuery):
            result = self._sequences_from(body, parts, stats)
        else:
            assert isinstance(body, ast.SampleQuery)
            result = self._samples_from(body, parts, stats)
        for ev in result.events:
            materialize(ev)
        for hit in result.sequences:
            for maybe in hit.events:
                if maybe is not None:
                    materialize(maybe)
        return result

    def window(self, items: list[Any]) -> list[Any]:
        """Apply the pipes in order, then the request's ``size`` from its result position
        (samples always come from the head: Elasticsearch ignores the position for them)."""
        for name, n in self.pipes:
            items = items[:n] if name == "head" else (items[-n:] if n else [])
        size = self.options.size
        if self.options.result_position == "tail" and not isinstance(self.query.body, ast.SampleQuery):
            return items[-size:] if size > 0 else []
        return items[:size] if size > 0 else []

    # ------------------------------------------------------------------ event queries

    def _events_from(self, parts: Iterable[tuple[Any, Event]], stats: QueryStats) -> QueryResult:
        bound = self.bound
        heap: list[tuple[Any, int, Event]] = []
        kept: list[tuple[Any, int, Event]] = []
        for ordinal, ev in parts:
            if bound is None:
                kept.append((ordinal, ev.seq, ev))
            elif bound[0] == "tail":
                item: tuple[Any, int, Event] = (ordinal, ev.seq, ev)
                if len(heap) < bound[1]:
                    heapq.heappush(heap, item)
                elif bound[1] and ordinal > heap[0][0]:
                    heapq.heapreplace(heap, item)
            else:
                rev = (_Rev(ordinal), ev.seq, ev)
                if len(heap) < bound[1]:
                    heapq.heappush(heap, rev)
                elif bound[1] and rev[0] > heap[0][0]:
                    heapq.heapreplace(heap, rev)
        if bound is None:
            kept.sort(key=lambda t: t[0])
            ordered = [e for _o, _s, e in kept]
        elif bound[0] == "tail":
            ordered = [e for _o, _s, e in sorted(heap, key=lambda t: t[0])]
        else:
            ordered = [e for _o, _s, e in sorted(heap, key=lambda t: t[0].v)]
        return QueryResult("events", events=self.window(ordered), stats=stats)

    # ------------------------------------------------------------------ sequences

    def _layout(self, steps: tuple[ast.SequenceStep, ...]) -> StepLayout:
        filters: list[int] = []
        missing: list[bool] = []
        for i, step in enumerate(steps):
            for _ in range(max(1, step.runs)):
                filters.append(i)
                missing.append(step.missing)
        return StepLayout(tuple(filters), tuple(missing))

    def _sequences_from(
        self, body: ast.SequenceQuery, candidates: Iterable[Candidate], stats: QueryStats
    ) -> QueryResult:
        layout = self._layout(body.steps)
        maxspan = body.maxspan.millis * 1_000_000 if body.maxspan is not None else None
        matcher = SequenceMatcher(layout, maxspan, self.bound)
        # Candidates are put in time order through a bounded buffer: sorted and half released
        # whenever it fills. Input out of order by more than the window is counted as late.
        buffer: list[Candidate] = []
        released: Any = None
        window = REORDER_WINDOW
        for c in candidates:
            if released is not None and c.ordinal < released:
                stats.late_events += 1
            buffer.append(c)
            if len(buffer) >= 2 * window:
                buffer.sort(key=_ordinal_of)
                for first in buffer[:window]:
                    matcher.feed(first)
                released = buffer[window - 1].ordinal
                del buffer[:window]
        buffer.sort(key=_ordinal_of)
        for first in buffer:
            matcher.feed(first)
        types = self._key_types()
        hits = []
        for key, cands in self.window(matcher.results()):
            join = [json_value(v, t) for v, t in zip(key, types, strict=False)]
            hits.append(SequenceHit(join, [c.event if c is not None else None for c in cands]))
        return QueryResult("sequences", sequences=hits, stats=stats)

    def _key_types(self) -> list[FieldType]:
        """Per key position, the first known type over every step of every compiled schema (a
        sample's keys may be different fields per filter, typed in different indices)."""
        plans = list(self._by_schema.values())
        width = max((len(s.keys) for p in plans for s in p.steps), default=0)
        types = [FieldType.UNKNOWN] * width
        for p in plans:
            for step in p.steps:
                for i, t in enumerate(step.key_types):
                    if types[i] is FieldType.UNKNOWN:
                        types[i] = t
        return types

    # ------------------------------------------------------------------ samples

    def _samples_from(
        self,
        body: ast.SampleQuery,
        parts: Iterable[tuple[Event, dict[int, list[tuple[Any, ...]]]]],
        stats: QueryStats,
    ) -> QueryResult:
        matcher = SampleMatcher(len(body.steps), self.options.max_samples_per_key)
        for ev, step_keys in parts:
            matcher.feed(ev, step_keys)
        types = self._key_types()
        hits = []
        for key, evs in self.window(matcher.results()):
            join = [json_value(v, t, for_sample=True) for v, t in zip(key, types, strict=False)]
            hits.append(SequenceHit(join, list(evs)))
        return QueryResult("sequences", sequences=hits, stats=stats)


def _ordinal_of(c: Candidate) -> Any:
    return c.ordinal


def _bound(pipes: list[tuple[str, int]], options: QueryOptions) -> tuple[str, int] | None:
    """How many results from which end can ever be returned, when that is known up front."""
    position = options.result_position
    if any(name != position for name, _n in pipes):
        return None
    return (position, min([options.size, *(n for _name, n in pipes)]))


class _Last:
    """Sorts after every timestamp: events without one come last, as Elasticsearch sorts them."""

    def __lt__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return not isinstance(other, _Last)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Last)

    __hash__ = object.__hash__


_LAST = _Last()


class _Rev:
    """Reverse ordering wrapper, so a min-heap keeps the smallest ``size`` ordinals."""

    __slots__ = ("v",)

    def __init__(self, v: Any):
        self.v = v

    def __lt__(self, other: _Rev) -> bool:
        return bool(self.v > other.v)

    def __gt__(self, other: _Rev) -> bool:
        return bool(self.v < other.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Rev) and self.v == other.v

    __hash__ = None  # type: ignore[assignment]


def compile_query(
    query: str | ast.Query,
    schemas: SchemaRegistry | None = None,
    options: QueryOptions | None = None,
) -> CompiledQuery:
    """Parse (when given text), verify against the schemas and compile a query."""
    parsed = parse(query) if isinstance(query, str) else query
    registry = schemas if schemas is not None else SchemaRegistry(default=ecs_schema())
    opts = options or QueryOptions()
    checked = verify_query(parsed, registry)
    compiled = CompiledQuery(checked, registry, opts)
    from vigil.engine.prefilter import build_line_filter

    compiled.line_filter = build_line_filter(checked, registry, opts)
    return compiled
