"""Bounded engine state: push-style accumulators, maxspan expiry, and the caps on sequence state.

Three promises are checked here:

* feeding parts one at a time (:meth:`CompiledQuery.accumulator`) gives exactly what
  :meth:`CompiledQuery.finish` gives over the same parts;
* dropping sequence state that ``maxspan`` has made useless never changes an answer (compared
  against the matcher with expiry disabled, which keeps every piece of state to the end);
* the caps (``reorder_window``, ``max_pending_sequences``) hold memory down, and count and warn
  when they bite.

Memory is asserted through counts of held state (pending sequences, held items), never timing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine_util import make_events
from vigil.ecs.ecs_schema import ecs_schema
from vigil.ecs.schema import FieldSpec, FieldType, Schema, SchemaRegistry
from vigil.engine import Event, QueryOptions, QueryResult, QueryStats, compile_query
from vigil.engine import sequence as sequence_mod
from vigil.engine.runner import CompiledQuery
from vigil.engine.sequence import Candidate

T0 = 1_700_000_000_000  # epoch millis


def _ev(i: int, ts: int, cat: str, key: object = "k", **extra: object) -> dict[str, Any]:
    return {"id": i, "@timestamp": T0 + ts, "event": {"category": cat}, "key": key, **extra}


def _shape(result: QueryResult) -> Any:
    """What a result says, by event id (and join keys for sequences and samples)."""
    if result.kind == "events":
        return [e.id for e in result.events]
    return [(h.join_keys, [e.id if e is not None else None for e in h.events]) for h in result.sequences]


def _parts(compiled: CompiledQuery, events: list[Event]) -> list[Any]:
    return list(compiled.parts(events, QueryStats()))


def _fed(compiled: CompiledQuery, parts: list[Any], **kwargs: Any) -> tuple[QueryResult, QueryStats]:
    stats = QueryStats()
    acc = compiled.accumulator(stats, **kwargs)
    for part in parts:
        acc.feed(part)
    return acc.close(), stats


def _with(compiled: CompiledQuery, **options: Any) -> CompiledQuery:
    """The same compiled query under other options (the compiled filters do not depend on
    the options changed here)."""
    other = CompiledQuery.__new__(CompiledQuery)
    other.__dict__.update(compiled.__dict__)
    other.options = replace(compiled.options, **options)
    return other


# ---------------------------------------------------------------------------- feed == finish

_DOCS = [
    _ev(1, 0, "a", key="x"),
    _ev(2, 5, "m", key="x"),
    _ev(3, 10, "b", key="x"),
    _ev(4, 10, "a", key="y"),
    _ev(5, 20, "b", key="y"),
    _ev(6, 20, "stop", key="x"),
    _ev(7, 30, "a", key="x"),
    _ev(8, 1500, "b", key="x"),
    _ev(9, 1600, "a", key="z"),
    _ev(10, 1601, "b", key="z"),
    _ev(11, 1602, "b", key="z"),
    _ev(12, 1700, "m", key="z"),
    _ev(13, 2000, "a", key=["x", "y"]),
    _ev(14, 2001, "b", key="y"),
    _ev(15, 2002, "b", key="x"),
    {"id": 16, "event": {"category": "a"}, "key": "x"},  # no timestamp
]

CASES: list[tuple[str, dict[str, Any]]] = [
    ("a where true", {}),
    ("a where true", {"size": 2}),
    ("a where true", {"size": 2, "result_position": "tail"}),
    ("any where true | head 5 | tail 2", {}),
    ("any where true | tail 4", {"size": 3}),
    ("any where true | tail 4 | head 1", {"result_position": "tail"}),
    ("any where true", {"size": 0}),
    ("sequence by key [a where true] [b where true]", {}),
    ("sequence by key [a where true] [b where true]", {"size": 1}),
    ("sequence by key [a where true] [b where true]", {"size": 2, "result_position": "tail"}),
    ("sequence by key [a where true] [b where true] | tail 2 | head 1", {}),
    ("sequence by key with maxspan=1s [a where true] [b where true]", {}),
    ("sequence by key with maxspan=15ms [a where true] [b where true]", {}),
    ("sequence by key [a where true] [b where true] with runs=2", {}),
    ("sequence by key [a where true] [b where true] until [stop where true]", {}),
    ("sequence by key with maxspan=1h [a where true] ![m where true] [b where true]", {}),
    ("sequence by key with maxspan=1h ![m where true] [a where true] [b where true]", {}),
    ("sequence by key with maxspan=200ms [a where true] [b where true] ![m where true]", {}),
    ("sequence by key with maxspan=1h ![m where true] [a where true] [b where true] ![m where true]", {}),
    ("sequence with maxspan=10ms [a where true] [b where true]", {}),
    ("sample by key [a where true] [b where true]", {}),
    ("sample by key [a where true] [b where true]", {"max_samples_per_key": 3}),
]


@pytest.mark.parametrize(("query", "opts"), CASES, ids=[f"{q} {o}" for q, o in CASES])
def test_feeding_parts_one_by_one_equals_finish(query: str, opts: dict[str, Any]) -> None:
    compiled = compile_query(query, options=QueryOptions(**{"size": 100, **opts}))
    parts = _parts(compiled, make_events(_DOCS))
    finished = compiled.finish(iter(parts), QueryStats())
    fed, _stats = _fed(compiled, parts)
    assert _shape(fed) == _shape(finished)
    assert _shape(compiled.execute(make_events(_DOCS))) == _shape(finished)
    # Expiry and the cap never change these answers either, nor a buffer released at every part.
    reference, _ = _fed(compiled, parts, expire=False)
    assert _shape(reference) == _shape(finished)
    ordered = sorted(parts, key=lambda p: p.ordinal) if isinstance(parts[0], Candidate) else parts
    streaming, stats = _fed(_with(compiled, reorder_window=1), ordered)
    assert _shape(streaming) == _shape(finished)
    assert stats.late_events == 0 and stats.dropped_sequences == 0


def test_known_answers_survive_streaming() -> None:
    """A few answers spelled out, so the table above is not comparing two wrong answers."""
    compiled = compile_query(
        "sequence by key with maxspan=15ms [a where true] [b where true]", options=QueryOptions(size=100)
    )
    assert _shape(compiled.execute(make_events(_DOCS))) == [
        (["x"], ["1", "3"]),
        (["y"], ["4", "5"]),
        (["z"], ["9", "10"]),
        (["y"], ["13", "14"]),
        (["x"], ["13", "15"]),
    ]
    trailing = compile_query(
        "sequence by key with maxspan=200ms [a where true] [b where true] ![m where true]",
        options=QueryOptions(size=100),
    )
    # z's 9 -> 10 has an m 100 ms later (within maxspan): discarded; the others have none.
    keys = [keys for keys, _ids in _shape(trailing.execute(make_events(_DOCS)))]
    assert keys == [["x"], ["y"], ["y"], ["x"]]


def test_accumulator_close_is_final() -> None:
    compiled = compile_query("a where true", options=QueryOptions(size=100))
    acc = compiled.accumulator()
    acc.feed_all(_parts(compiled, make_events(_DOCS)))
    first = acc.close()
    assert acc.close() is first
    with pytest.raises(RuntimeError):
        acc.feed((0, Event({})))


def test_event_accumulator_keeps_only_what_the_pipes_can_return() -> None:
    docs = [_ev(i, i, "a") for i in range(1000)]
    cases: list[tuple[str, dict[str, Any], int]] = [
        ("a where true", {"size": 10}, 10),
        ("a where true | head 100 | tail 5", {"size": 10}, 100),
        ("a where true | tail 3", {"size": 10}, 3),
        ("a where true | tail 50 | head 2", {"size": 10, "result_position": "tail"}, 50),
    ]
    for query, opts, most in cases:
        compiled = compile_query(query, options=QueryOptions(**opts))
        acc = compiled.accumulator()
        peak = 0
        for part in _parts(compiled, make_events(docs)):
            acc.feed(part)
            peak = max(peak, acc.held())
        assert peak == most, query
        whole = compile_query(query, options=QueryOptions(**opts)).execute(make_events(docs))
        assert _shape(acc.close()) == _shape(whole)


# ---------------------------------------------------------------------------- expiry is exact

_NANOS = SchemaRegistry(
    default=Schema(
        fields={**ecs_schema().fields, "@timestamp": FieldSpec(FieldType.DATE_NANOS)}, name="nanos"
    )
)

PROPERTY_QUERIES = [
    "sequence by key [a where true] [b where true]",
    "sequence by key with maxspan=3ms [a where true] [b where true]",
    "sequence by key with maxspan=4ms [a where true] [b where true] [c where true]",
    "sequence by key with maxspan=3ms [a where true] [b where true] with runs=2 [c where true]",
    "sequence by key with maxspan=5ms [a where true] [b where true] until [c where true]",
    "sequence by key with maxspan=3ms [a where true] [a where true]",
    "sequence with maxspan=2ms [a where true] [b where true]",
    "sequence by key with maxspan=4ms [a where true] ![c where true] [b where true]",
    "sequence by key with maxspan=3ms ![c where true] [a where true] [b where true]",
    "sequence by key with maxspan=3ms [a where true] [b where true] ![c where true]",
    "sequence by key with maxspan=4ms ![c where true] [a where true] [b where true] ![m where true]",
    "sequence by key with maxspan=4ms [a where true] ![m where true] [b where true] ![c where true]",
    "sequence by key with maxspan=3ms [a where true] [b where true] | tail 2",
    "sequence by key with maxspan=3ms [a where true] ![c where true] [b where true] | head 3",
]

# Steps between events, in nanoseconds: equal timestamps, sub-millisecond steps (Elasticsearch
# rounds missing-event windows to milliseconds), and steps around the maxspans used above.
_STEPS = [0, 0, 1, 100_000, 400_000, 600_000, 999_999, 1_000_000, 2_000_000, 2_999_999, 3_000_000, 5_000_000]
_EVENT = st.tuples(
    st.sampled_from(_STEPS),
    st.sampled_from(["a", "a", "b", "b", "c", "m"]),
    st.sampled_from(["x", "x", "y"]),
)


def _iso(nanos: int) -> str:
    seconds, frac = divmod(nanos, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


@settings(max_examples=500, derandomize=True, deadline=None)
@given(
    query=st.sampled_from(PROPERTY_QUERIES),
    stream=st.lists(_EVENT, max_size=50),
    nanos=st.booleans(),
    position=st.sampled_from(["head", "tail"]),
)
def test_expiry_never_changes_the_answer(
    query: str, stream: list[tuple[int, str, str]], nanos: bool, position: Literal["head", "tail"]
) -> None:
    """Random streams in time order: the bounded matcher, releasing every candidate at once and
    sweeping its state as often as it can, answers as the unbounded one does."""
    docs = []
    t = T0 * 1_000_000
    for i, (step, cat, key) in enumerate(stream):
        t += step
        stamp: Any = _iso(t) if nanos else t // 1_000_000
        docs.append({"id": i, "@timestamp": stamp, "event": {"category": cat}, "key": key})
    compiled = compile_query(
        query, schemas=_NANOS if nanos else None, options=QueryOptions(size=5, result_position=position)
    )
    parts = _parts(compiled, make_events(docs))
    reference, _ = _fed(_with(compiled, max_pending_sequences=None), parts, expire=False)
    # Sweep missing-event stamps after each one and compact the pending queue at every chance.
    with (
        mock.patch.object(sequence_mod, "_SWEEP_MIN", 1),
        mock.patch.object(sequence_mod, "_SWEEP_GROWTH", 0),
        mock.patch.object(sequence_mod, "_ORDER_SLACK", 0),
    ):
        stats = QueryStats()
        acc = _with(compiled, reorder_window=1).accumulator(stats)
        acc.feed_all(parts)
        bounded = acc.close()
    assert _shape(bounded) == _shape(reference)
    assert stats.late_events == 0 and stats.dropped_sequences == 0
    assert not stats.warnings()


def _aggressively(compiled: CompiledQuery, parts: list[Any]) -> QueryResult:
    with (
        mock.patch.object(sequence_mod, "_SWEEP_MIN", 1),
        mock.patch.object(sequence_mod, "_SWEEP_GROWTH", 0),
        mock.patch.object(sequence_mod, "_ORDER_SLACK", 0),
    ):
        return _fed(_with(compiled, reorder_window=1), parts)[0]


MS = 1_000_000
BOUNDARY_CASES = [
    # A middle missing event in the same millisecond as, but before, the first event still
    # discards the sequence (millisecond bounds); a sweep between them must keep its stamp.
    (
        "sequence by key with maxspan=3ms [a where true] ![m where true] [b where true]",
        [(200_000, "m", "x"), (500_000, "a", "x"), (3_400_000, "m", "y"), (3_500_000, "b", "x")],
        [],
    ),
    # Leading and trailing missing events 2.6 ms apart discard the sequence; the trailing one is
    # in the last event's millisecond but before it, so the leading one is needed for more than
    # maxspan after it happened.
    (
        "sequence by key with maxspan=3ms ![m where true] [a where true] [b where true] ![c where true]",
        [
            (900_000, "m", "x"),
            (MS, "a", "x"),
            (3_500_000, "c", "x"),
            (3_950_000, "m", "y"),
            (3_990_000, "b", "x"),
        ],
        [],
    ),
    # The same with the leading event 1 ns further back: 3 ms + 1 ns apart, the sequence stands.
    (
        "sequence by key with maxspan=3ms ![m where true] [a where true] [b where true] ![c where true]",
        [
            (499_999, "m", "x"),
            (MS, "a", "x"),
            (3_500_000, "c", "x"),
            (3_950_000, "m", "y"),
            (3_990_000, "b", "x"),
        ],
        [(["x"], [None, "1", "4", None])],
    ),
    # A pending sequence exactly maxspan old may still complete; one nanosecond older it may not.
    (
        "sequence by key with maxspan=3ms [a where true] [b where true]",
        [(0, "a", "x"), (1, "a", "y"), (3_000_000, "c", "z"), (3_000_001, "b", "x"), (3_000_001, "b", "y")],
        [(["y"], ["1", "4"])],
    ),
]


@pytest.mark.parametrize(("query", "stream", "expected"), BOUNDARY_CASES)
def test_expiry_at_the_boundaries(
    query: str, stream: list[tuple[int, str, str]], expected: list[Any]
) -> None:
    base = (T0 + 1000) * MS
    docs = [
        {"id": i, "@timestamp": _iso(base + at), "event": {"category": cat}, "key": key}
        for i, (at, cat, key) in enumerate(stream)
    ]
    compiled = compile_query(query, schemas=_NANOS, options=QueryOptions(size=10))
    parts = _parts(compiled, make_events(docs))
    assert _shape(compiled.finish(parts, QueryStats())) == expected
    assert _shape(_fed(compiled, parts, expire=False)[0]) == expected
    assert _shape(_aggressively(compiled, parts)) == expected


# ---------------------------------------------------------------------------- caps count and warn


def test_pending_cap_drops_the_oldest_and_warns() -> None:
    # Five keys start, then all five finish: with room for two pending sequences only the two
    # newest (d, e) survive.
    docs = [_ev(i, i, "a", key=k) for i, k in enumerate("abcde")]
    docs += [_ev(10 + i, 10 + i, "b", key=k) for i, k in enumerate("abcde")]
    query = "sequence by key [a where true] [b where true]"
    capped = compile_query(query, options=QueryOptions(size=100, max_pending_sequences=2))
    stats = QueryStats()
    result = capped.finish(capped.parts(make_events(docs), stats), stats)
    assert [h.join_keys for h in result.sequences] == [["d"], ["e"]]
    assert stats.dropped_sequences == 3
    assert stats.pending_peak == 2
    (warning,) = stats.warnings()
    assert "max_pending_sequences" in warning and "3 pending" in warning
    uncapped = compile_query(query, options=QueryOptions(size=100)).execute(make_events(docs))
    assert len(uncapped.sequences) == 5
    assert not uncapped.stats.warnings() and uncapped.stats.dropped_sequences == 0


def test_reorder_window_counts_late_events_and_warns() -> None:
    # b events first, a events long after in input but earlier in time.
    docs = [_ev(100 + i, 100 + i, "b", key=f"k{i}") for i in range(10)]
    docs += [_ev(i, i, "a", key=f"k{i}") for i in range(10)]
    query = "sequence by key [a where true] [b where true]"
    exact = compile_query(query, options=QueryOptions(size=100)).execute(make_events(docs))
    assert len(exact.sequences) == 10 and exact.stats.late_events == 0
    small = compile_query(query, options=QueryOptions(size=100, reorder_window=2)).execute(make_events(docs))
    assert small.stats.late_events > 0
    assert len(small.sequences) < 10
    assert any("reorder_window" in w for w in small.stats.warnings())


def test_expiry_is_counted_but_not_a_warning() -> None:
    docs = [_ev(i, i * 1000, "a", key=f"k{i}") for i in range(10)]
    compiled = compile_query(
        "sequence by key with maxspan=1s [a where true] [b where true]",
        options=QueryOptions(size=100, reorder_window=1),
    )
    result = compiled.execute(make_events(docs))
    assert result.sequences == []
    assert result.stats.expired_sequences == 8  # the last two are still within a second
    assert result.stats.warnings() == []


# ---------------------------------------------------------------------------- memory stays bounded

N_MEMORY = 300_000
N_CAP = 100_000


def _synthetic(n: int, step_ns: int) -> Any:
    """``n`` candidates of the first step, ``step_ns`` apart, each with its own key (so none
    ever completes: without expiry or a cap every one of them would stay pending)."""
    ev = Event({}, index="logs")  # what the matcher holds, not what it reads: one will do
    for i in range(n):
        yield Candidate((i * step_ns, 0, None, i), ev, {0: [(i,)]})


def test_pending_state_stays_bounded_by_maxspan() -> None:
    compiled = compile_query(
        "sequence by key with maxspan=1s [a where true] [b where true] [c where true]",
        options=QueryOptions(size=10, reorder_window=1_000),
    )
    stats = QueryStats()
    acc = compiled.accumulator(stats)
    peak_held = 0
    for i, cand in enumerate(_synthetic(N_MEMORY, 1_000_000)):
        acc.feed(cand)
        if i % 1_000 == 0:
            peak_held = max(peak_held, acc.held())
    result = acc.close()
    assert result.sequences == []
    # One candidate per millisecond, a 1 s maxspan: at most ~1,000 pending at once, whatever the
    # input length; the buffer holds at most 2 x 1,000 candidates.
    assert stats.pending_peak <= 1_001
    assert peak_held <= 2 * 1_000 + 1_001
    assert stats.expired_sequences >= N_MEMORY - 2 * 1_000 - 1_001
    assert stats.dropped_sequences == 0 and not stats.warnings()


def test_pending_state_stays_bounded_by_the_cap_without_maxspan() -> None:
    compiled = compile_query(
        "sequence by key [a where true] [b where true]",
        options=QueryOptions(size=10, reorder_window=1_000, max_pending_sequences=10_000),
    )
    stats = QueryStats()
    acc = compiled.accumulator(stats)
    for cand in _synthetic(N_CAP, 1_000_000):
        acc.feed(cand)
    acc.close()
    assert stats.pending_peak == 10_000
    assert stats.dropped_sequences == N_CAP - 10_000
    assert stats.warnings()


def test_missing_event_state_stays_bounded_by_maxspan() -> None:
    # Every event matches the first step and the missing step under one key: the missing-event
    # timestamps and the completed sequences awaiting their trailing check are swept as time
    # passes, so what is held stays near what one maxspan holds.
    compiled = compile_query(
        "sequence by key with maxspan=100ms [a where true] [b where true] ![c where true]",
        options=QueryOptions(size=10, reorder_window=100),
    )
    stats = QueryStats()
    acc = compiled.accumulator(stats)
    peak_held = 0
    N = 100_000
    for i in range(N):
        ev = Event({}, index="logs", id=str(i), seq=i)
        keys = [("k",)]
        acc.feed(Candidate((i * 1_000_000, 0, None, i), ev, {0: keys, 1: keys, 2: keys}))
        if i % 1_000 == 0:
            peak_held = max(peak_held, acc.held())
    result = acc.close()
    # Each c lands 1 ms after a sequence's last event, within maxspan: every sequence but the
    # last (nothing follows it) is discarded.
    assert _shape(result) == [(["k"], [str(N - 2), str(N - 1), None])]
    assert peak_held < 2 * 100 + 2 * 4_096 + 200
