"""Elasticsearch's sequence state machine, over candidate events in time order.

Rules (Elasticsearch's ``SequenceMatcher``):

* one pending sequence per join key per step; a newer one replaces an older one at step 0 and when
  advancing;
* an event is offered to the steps from the last to the first, so it never advances a sequence it
  has just started, but may end one sequence and start another;
* ``maxspan`` bounds first-to-last (a sequence whose next event would exceed it is dropped);
* an ``until`` event drops the pending sequences of its key that started before it;
* missing-event steps ``![...]`` are checked once a sequence of the positive steps is complete: no
  event of the missing filter with the same key may lie between the neighbouring positive events
  (leading and trailing ones look back / ahead within ``maxspan``);
* results are ordered by their last event, then by join key.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vigil.engine.model import Event
from vigil.engine.plan import Ordinal


@dataclass(slots=True)
class Candidate:
    """An event that matched at least one filter of the query, with its keys per filter."""

    ordinal: Ordinal
    event: Event
    step_keys: dict[int, list[tuple[Any, ...]]]  # filter index -> key tuples
    until_keys: list[tuple[Any, ...]] | None = None


@dataclass(slots=True)
class _Pending:
    start: Ordinal
    hits: list[Candidate] = field(default_factory=list)


@dataclass(frozen=True)
class StepLayout:
    """The expanded steps (``runs`` unrolled): which filter each position uses, and whether it is
    a missing-event position."""

    filters: tuple[int, ...]
    missing: tuple[bool, ...]

    @property
    def positive(self) -> tuple[int, ...]:
        """Filter indices of the positive positions, in order."""
        return tuple(f for f, m in zip(self.filters, self.missing, strict=True) if not m)


def key_sort(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """A total order on join-key tuples: null first, false before true, then numbers, strings."""
    out: list[Any] = []
    for v in key:
        if v is None:
            out.append((0, 0))
        elif type(v) is bool:
            out.append((1, v))
        elif type(v) in (int, float):
            out.append((2, v))
        elif type(v) is str:
            out.append((3, v))
        else:
            out.append((4, v))
    return tuple(out)


class SequenceMatcher:
    """Runs the state machine; feed candidates in ordinal order, then call :meth:`results`."""

    def __init__(self, layout: StepLayout, maxspan_nanos: int | None, size: int, tail: bool):
        self.layout = layout
        self.positive = layout.positive
        self.maxspan = maxspan_nanos
        self.size = size
        self.tail = tail
        n = len(self.positive)
        self.pending: list[dict[tuple[Any, ...], _Pending]] = [{} for _ in range(n)]
        self.completed: list[tuple[Ordinal, tuple[Any, ...], list[Candidate]]] = []
        self.missing_filters = {f for f, m in zip(layout.filters, layout.missing, strict=True) if m}
        # filter index -> key -> sorted ordinals of the events matching that missing filter
        self.missing_index: dict[int, dict[tuple[Any, ...], list[Ordinal]]] = {f: {} for f in self.missing_filters}
        self._bounded = not self.missing_filters
        self.pending_peak = 0

    def feed(self, c: Candidate) -> None:
        """Offer one candidate (candidates must arrive in ascending ordinal order)."""
        for f in self.missing_filters:
            keys = c.step_keys.get(f)
            if keys:
                idx = self.missing_index[f]
                for k in keys:
                    idx.setdefault(k, []).append(c.ordinal)
        last = len(self.positive) - 1
        for stage in range(last, -1, -1):
            keys = c.step_keys.get(self.positive[stage])
            if not keys:
                continue
            for k in keys:
                if stage == 0:
                    seq = _Pending(c.ordinal, [c])
                    if last == 0:
                        self._complete(k, seq)
                    else:
                        self.pending[0][k] = seq
                    continue
                seq = self.pending[stage - 1].pop(k, None)
                if seq is None:
                    continue
                if self.maxspan is not None and c.ordinal[0] - seq.start[0] > self.maxspan:
                    continue
                seq.hits.append(c)
                if stage == last:
                    self._complete(k, seq)
                else:
                    self.pending[stage][k] = seq
        if c.until_keys:
            for k in c.until_keys:
                for stage_map in self.pending:
                    seq = stage_map.get(k)
                    if seq is not None and seq.start < c.ordinal:
                        del stage_map[k]

    def _complete(self, key: tuple[Any, ...], seq: _Pending) -> None:
        item = (seq.hits[-1].ordinal, key, seq.hits)
        if self._bounded and not self.tail:
            # Only the first `size` sequences can be returned: keep a bounded max-heap.
            entry = (_Neg(item[0], key_sort(key)), len(self.completed), item)
            if len(self._heap) < self.size:
                heapq.heappush(self._heap, entry)
            elif self.size and entry[0] > self._heap[0][0]:
                heapq.heapreplace(self._heap, entry)
            return
        self.completed.append(item)

    @property
    def _heap(self) -> list[Any]:
        heap: list[Any] | None = getattr(self, "_heap_store", None)
        if heap is None:
            heap = []
            self._heap_store = heap
        return heap

    def pending_count(self) -> int:
        """How many partial sequences are held (the state that bounds memory)."""
        return sum(len(m) for m in self.pending)

    def results(self) -> list[tuple[tuple[Any, ...], list[Candidate | None]]]:
        """Completed sequences (join key, events with None for missing positions), ordered and
        cut to ``size`` from the head or the tail."""
        items = list(self.completed)
        items.extend(e[2] for e in getattr(self, "_heap_store", []))
        items.sort(key=lambda it: (it[0], key_sort(it[1])))
        out: list[tuple[tuple[Any, ...], list[Candidate | None]]] = []
        ordered: Iterable[Any] = reversed(items) if self.tail else items
        for _ordinal, key, hits in ordered:
            if len(out) >= self.size:
                break
            full = self._with_missing(key, hits)
            if full is not None:
                out.append((key, full))
        if self.tail:
            out.reverse()
        return out

    def _with_missing(self, key: tuple[Any, ...], hits: list[Candidate]) -> list[Candidate | None] | None:
        if not self.missing_filters:
            return list(hits)
        out: list[Candidate | None] = []
        pos = 0  # number of positive hits placed so far
        n = len(hits)
        for f, is_missing in zip(self.layout.filters, self.layout.missing, strict=True):
            if not is_missing:
                out.append(hits[pos])
                pos += 1
                continue
            ordinals = self.missing_index[f].get(key)
            if ordinals:
                lo, lo_inclusive, hi, hi_inclusive = self._window(hits, pos, n)
                if _any_in(ordinals, lo, lo_inclusive, hi, hi_inclusive):
                    return None
            out.append(None)
        return out

    def _window(self, hits: list[Candidate], pos: int, n: int) -> tuple[Any, bool, Any, bool]:
        """The ordinal range where a missing event at position ``pos`` would break the sequence."""
        if 0 < pos < n:
            return hits[pos - 1].ordinal, False, hits[pos].ordinal, False
        if pos == 0:  # leading: within maxspan before the last event, and before the first
            lo = (hits[-1].ordinal[0] - self.maxspan,) if self.maxspan is not None else None
            return lo, True, hits[0].ordinal, False
        hi = (hits[0].ordinal[0] + self.maxspan, float("inf")) if self.maxspan is not None else None
        return hits[-1].ordinal, False, hi, True


def _any_in(ordinals: list[Ordinal], lo: Any, lo_inclusive: bool, hi: Any, hi_inclusive: bool) -> bool:
    """True when a sorted ordinal list holds a value inside the given bounds (None = unbounded)."""
    if lo is None:
        i = 0
    else:
        i = bisect.bisect_left(ordinals, lo) if lo_inclusive else bisect.bisect_right(ordinals, lo)
    if i >= len(ordinals):
        return False
    x = ordinals[i]
    if hi is None:
        return True
    return x <= hi if hi_inclusive else x < hi


class _Neg:
    """Inverts ordering so heapq's min-heap keeps the largest (latest) sequences on top."""

    __slots__ = ("v",)

    def __init__(self, *v: Any):
        self.v = v

    def __lt__(self, other: _Neg) -> bool:
        return bool(self.v > other.v)

    def __gt__(self, other: _Neg) -> bool:
        return bool(self.v < other.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Neg) and self.v == other.v

    __hash__ = None  # type: ignore[assignment]
