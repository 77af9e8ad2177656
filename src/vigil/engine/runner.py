"""Run a compiled query over a stream of events.

Events stream through once. Each is tested against the query's filters (compiled per index
schema); the ones that match nothing are dropped at once, so memory holds only what the answer
needs: the best ``size`` events of an event query, the pending sequences and a bounded reorder
buffer of candidates for a sequence query, a few candidates per key for a sample query.

A run has two halves: :meth:`CompiledQuery.parts` / :meth:`CompiledQuery.part_of` make what each
event contributes (the per-event half, which worker processes can run), and an
:class:`Accumulator` takes those parts one at a time and gives the answer when closed (the
whole-input half). :meth:`CompiledQuery.finish` is an accumulator fed a whole iterable.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from vigil.ecs.ecs_schema import ecs_schema
from vigil.ecs.schema import FieldType, SchemaRegistry
from vigil.engine.model import (
    DEFAULT_REORDER_WINDOW,
    Event,
    QueryOptions,
    QueryResult,
    QueryStats,
    SequenceHit,
    materialize,
)
from vigil.engine.plan import IndexPlan, build_plan
from vigil.engine.sample import SampleMatcher
from vigil.engine.sequence import Candidate, SequenceMatcher, StepLayout
from vigil.engine.typed import json_value
from vigil.engine.verify import iter_nodes, verify_query
from vigil.eql import ast
from vigil.eql.parser import parse

# Candidates held to put a sequence's input in time order (default of
# QueryOptions.reorder_window). Input that is out of order by more than this many candidates is
# still processed, late events counted in the stats.
REORDER_WINDOW = DEFAULT_REORDER_WINDOW


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
        self.bound: tuple[str, int] | None = _bound(self.pipes, options)
        if isinstance(body, ast.SampleQuery):
            self.bound = None  # samples keep their candidates per key; size cuts at the end
        self._line_filter: Any = _UNBUILT
        # Compile eagerly for the default schema so literal errors surface at compile time.
        for schema in schemas.all():
            self._by_schema.setdefault(id(schema), build_plan(query, schema, options))

    @property
    def line_filter(self) -> Callable[[bytes], bool] | None:
        """The raw-line pre-check of the query (:func:`vigil.engine.prefilter.build_line_filter`;
        None: every line may match), built on first use: a hunt over many rules answers its
        lines from their columns and never asks for it (a few tenths of a second for 1,000
        rules). The same object every time (callers calibrate it)."""
        if self._line_filter is _UNBUILT:
            from vigil.engine.prefilter import build_line_filter

            self._line_filter = build_line_filter(self.query, self.schemas, self.options)
        result: Callable[[bytes], bool] | None = self._line_filter
        return result

    @line_filter.setter
    def line_filter(self, value: Callable[[bytes], bool] | None) -> None:
        self._line_filter = value

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

    def plan_of_schema(self, schema: Any) -> IndexPlan:
        """The compiled plan for events read under ``schema`` (one of :attr:`schemas`)."""
        plan = self._by_schema.get(id(schema))
        if plan is None:
            plan = self._by_schema[id(schema)] = build_plan(self.query, schema, self.options)
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

    def part_of(self, ev: Event, known: tuple[int, ...] | None = None) -> Any | None:
        """What one event contributes (as :meth:`parts` would yield it), or None. For callers
        that push each event to many queries (a hunt with many rules) instead of streaming.
        ``known``: the positions of the filters true on the event (the steps in order, then
        ``until``), when the caller knows them exactly (vigil.engine.columnar): they are not
        tested again."""
        plan = self.plan(ev.index)
        doc = ev.source
        body = self.query.body
        if isinstance(body, ast.EventQuery):
            if known is None and not plan.steps[0].matches(doc):
                return None
            if known is not None and 0 not in known:
                return None
            return plan.ordinal(doc, ev.seq) or (_LAST, ev.seq), ev
        step_keys: dict[int, list[tuple[Any, ...]]] = {}
        if isinstance(body, ast.SequenceQuery):
            steps = plan.steps
            n = len(steps)
            for i in plan.matching_steps(doc) if known is None else [p for p in known if p < n]:
                keys = steps[i].key_tuples(doc)
                if keys:
                    step_keys[i] = keys
            until_keys = None
            if plan.until is not None and (plan.until.matches(doc) if known is None else n in known):
                until_keys = plan.until.key_tuples(doc) or None
            if not step_keys and not until_keys:
                return None
            ordinal = plan.ordinal(doc, ev.seq)
            return None if ordinal is None else Candidate(ordinal, ev, step_keys, until_keys)
        for i, step in enumerate(plan.steps):
            if step.matches(doc) if known is None else i in known:
                keys = step.key_tuples(doc)
                if keys:
                    step_keys[i] = keys
        return (ev, step_keys) if step_keys else None

    def accumulator(self, stats: QueryStats | None = None, *, expire: bool = True) -> Accumulator:
        """A push-style whole-input half of a run: :meth:`Accumulator.feed` each part (as
        :meth:`parts` / :meth:`part_of` make them, in input order), then
        :meth:`Accumulator.close` for the answer. It holds only what the answer needs: the best
        ``size`` events; the reorder buffer and bounded sequence state; the sample candidates.
        ``stats`` receives what the run counts (late events, dropped and expired sequences).
        ``expire=False`` keeps sequence state past its ``maxspan`` (a reference for tests: it
        must give the same answer)."""
        stats = stats if stats is not None else QueryStats()
        body = self.query.body
        if isinstance(body, ast.EventQuery):
            return _EventAccumulator(self, stats)
        if isinstance(body, ast.SequenceQuery):
            return _SequenceAccumulator(self, body, stats, expire)
        assert isinstance(body, ast.SampleQuery)
        return _SampleAccumulator(self, body, stats)

    def finish(self, parts: Iterable[Any], stats: QueryStats) -> QueryResult:
        """The whole-input half of a run: order, match and cut the parts into the answer (an
        :meth:`accumulator` fed every part, then closed)."""
        acc = self.accumulator(stats)
        acc.feed_all(parts)
        return acc.close()

    def window(self, items: list[Any]) -> list[Any]:
        """Apply the pipes in order, then the request's ``size`` from its result position
        (samples always come from the head: Elasticsearch ignores the position for them)."""
        for name, n in self.pipes:
            items = items[:n] if name == "head" else (items[-n:] if n else [])
        size = self.options.size
        if self.options.result_position == "tail" and not isinstance(self.query.body, ast.SampleQuery):
            return items[-size:] if size > 0 else []
        return items[:size] if size > 0 else []

    # ------------------------------------------------------------------ sequences

    def _layout(self, steps: tuple[ast.SequenceStep, ...]) -> StepLayout:
        filters: list[int] = []
        missing: list[bool] = []
        for i, step in enumerate(steps):
            for _ in range(max(1, step.runs)):
                filters.append(i)
                missing.append(step.missing)
        return StepLayout(tuple(filters), tuple(missing))

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


class Accumulator:
    """The whole-input half of a run, fed one part at a time (see
    :meth:`CompiledQuery.accumulator`). Callers that push events to many queries (a hunt) keep
    one per query and run: memory follows what each answer needs, not the input."""

    def __init__(self, query: CompiledQuery, stats: QueryStats):
        self.query = query
        self.stats = stats
        self._result: QueryResult | None = None
        self._complete = False

    def feed(self, part: Any) -> None:
        """Take one part (in input order: parts of consecutive slices of the input chain)."""
        raise NotImplementedError

    def feed_all(self, parts: Iterable[Any]) -> None:
        """Take every part of ``parts``."""
        feed = self.feed
        for part in parts:
            feed(part)

    def held(self) -> int:
        """How many items (events, candidates, partial sequences, stamps) are held now: the
        state whose size the bounds keep in check."""
        raise NotImplementedError

    def close(self, *, complete: bool = True) -> QueryResult:
        """The answer, with its returned events complete. Later calls return the same result;
        feeding after closing is an error. ``complete=False`` leaves the events as they were fed
        (projections, see :func:`vigil.engine.model.materialize`): a caller that turns a large
        answer into documents a slice at a time completes copies of them as it goes, so the
        documents of the whole answer are never in memory at once."""
        if self._result is None:
            self._result = self._answer()
        if complete and not self._complete:
            result = self._result
            for ev in result.events:
                materialize(ev)
            for hit in result.sequences:
                for maybe in hit.events:
                    if maybe is not None:
                        materialize(maybe)
            self._complete = True
        return self._result

    def _answer(self) -> QueryResult:
        raise NotImplementedError


class _EventAccumulator(Accumulator):
    """An event query: the best ``size`` matches (head or tail) in a bounded heap."""

    def __init__(self, query: CompiledQuery, stats: QueryStats):
        super().__init__(query, stats)
        bound = query.bound
        self._keep_all = bound is None
        self._tail = bound is not None and bound[0] == "tail"
        self._n = bound[1] if bound is not None else 0
        self._kept: list[tuple[Any, int, Event]] = []  # all, or a heap of the best n

    def feed(self, part: tuple[Any, Event]) -> None:
        """Take one ``(ordinal, event)`` part."""
        if self._result is not None:
            raise RuntimeError("accumulator fed after close()")
        ordinal, ev = part
        kept = self._kept
        n = self._n
        if self._keep_all:
            kept.append((ordinal, ev.seq, ev))
        elif self._tail:
            item: tuple[Any, int, Event] = (ordinal, ev.seq, ev)
            if len(kept) < n:
                heapq.heappush(kept, item)
            elif n and ordinal > kept[0][0]:
                heapq.heapreplace(kept, item)
        else:
            rev = (_Rev(ordinal), ev.seq, ev)
            if len(kept) < n:
                heapq.heappush(kept, rev)
            elif n and rev[0] > kept[0][0]:
                heapq.heapreplace(kept, rev)

    def held(self) -> int:
        """Events kept."""
        return len(self._kept)

    def _answer(self) -> QueryResult:
        if self._keep_all or self._tail:
            ordered = [e for _o, _s, e in sorted(self._kept, key=lambda t: t[0])]
        else:
            ordered = [e for _o, _s, e in sorted(self._kept, key=lambda t: t[0].v)]
        return QueryResult("events", events=self.query.window(ordered), stats=self.stats)


class _SequenceAccumulator(Accumulator):
    """A sequence query: candidates put in time order through a bounded reorder buffer, then
    through the (bounded) state machine."""

    def __init__(self, query: CompiledQuery, body: ast.SequenceQuery, stats: QueryStats, expire: bool):
        super().__init__(query, stats)
        options = query.options
        maxspan = body.maxspan.millis * 1_000_000 if body.maxspan is not None else None
        self.matcher = SequenceMatcher(
            query._layout(body.steps),
            maxspan,
            query.bound,
            max_pending=options.max_pending_sequences,
            stats=stats,
            expire=expire,
        )
        self._window = max(1, options.reorder_window)
        self._buffer: list[Candidate] = []
        self._released: Any = None

    def feed(self, part: Candidate) -> None:
        """Take one candidate. The buffer is sorted and its older half released to the matcher
        whenever it fills, so input out of order by less than the window is ordered exactly;
        input older than what was already released is counted as late (and still matched)."""
        if self._result is not None:
            raise RuntimeError("accumulator fed after close()")
        if self._released is not None and part.ordinal < self._released:
            self.stats.late_events += 1
        buffer = self._buffer
        buffer.append(part)
        if len(buffer) >= 2 * self._window:
            window = self._window
            buffer.sort(key=_ordinal_of)
            feed = self.matcher.feed
            for first in buffer[:window]:
                feed(first)
            self._released = buffer[window - 1].ordinal
            del buffer[:window]

    def held(self) -> int:
        """Candidates in the reorder buffer plus the matcher's state."""
        return len(self._buffer) + self.matcher.held()

    def _answer(self) -> QueryResult:
        buffer = self._buffer
        buffer.sort(key=_ordinal_of)
        feed = self.matcher.feed
        for c in buffer:
            feed(c)
        buffer.clear()
        types = self.query._key_types()
        hits = []
        for key, cands in self.query.window(self.matcher.results()):
            join = [json_value(v, t) for v, t in zip(key, types, strict=False)]
            hits.append(SequenceHit(join, [c.event if c is not None else None for c in cands]))
        return QueryResult("sequences", sequences=hits, stats=self.stats)


class _SampleAccumulator(Accumulator):
    """A sample query: a few candidates per key and filter."""

    def __init__(self, query: CompiledQuery, body: ast.SampleQuery, stats: QueryStats):
        super().__init__(query, stats)
        self.matcher = SampleMatcher(len(body.steps), query.options.max_samples_per_key)

    def feed(self, part: tuple[Event, dict[int, list[tuple[Any, ...]]]]) -> None:
        """Take one ``(event, keys per filter)`` part."""
        if self._result is not None:
            raise RuntimeError("accumulator fed after close()")
        self.matcher.feed(part[0], part[1])

    def held(self) -> int:
        """Events kept over every key and filter."""
        return self.matcher.held()

    def _answer(self) -> QueryResult:
        types = self.query._key_types()
        hits = []
        for key, evs in self.query.window(self.matcher.results()):
            join = [json_value(v, t, for_sample=True) for v, t in zip(key, types, strict=False)]
            hits.append(SequenceHit(join, list(evs)))
        return QueryResult("sequences", sequences=hits, stats=self.stats)


def _ordinal_of(c: Candidate) -> Any:
    return c.ordinal


def _bound(pipes: list[tuple[str, int]], options: QueryOptions) -> tuple[str, int]:
    """How many results from which end can ever be returned. The pipes and then the request's
    ``size`` (from its result position) cut the ordered results one after the other, so the
    first cut and those of the same end right after it bound what any later cut can see:
    ``| head 100 | tail 5`` needs only the first 100."""
    ops = [*pipes, (options.result_position, options.size)]
    end, n = ops[0]
    for name, m in ops[1:]:
        if name != end:
            break
        n = min(n, m)
    return (end, max(n, 0))


_UNBUILT: Any = object()


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
    return CompiledQuery(checked, registry, opts)
