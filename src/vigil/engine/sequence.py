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

    def __init__(self, layout: StepLayout, maxspan_nanos: int | None, bound: tuple[str, int] | None):
        """``bound``: ("head", n) or ("tail", n) when only the first or last n results can be
        returned (so fewer need keeping), None to keep every result."""
        self.layout = layout
        self.positive = layout.positive
        self.maxspan = maxspan_nanos
        self.bound = bound
        n = len(self.positive)
        self.pending: list[dict[tuple[Any, ...], _Pending]] = [{} for _ in range(n)]
        self.completed: list[tuple[Ordinal, tuple[Any, ...], list[Candidate]]] = []
        self.missing_filters = {f for f, m in zip(layout.filters, layout.missing, strict=True) if m}
        # filter index -> key -> sorted timestamps (ns) of the events matching that missing filter
        self.missing_index: dict[int, dict[tuple[Any, ...], list[int]]] = {
            f: {} for f in self.missing_filters
        }
        self._bounded = not self.missing_filters
        self.pending_peak = 0

    def feed(self, c: Candidate) -> None:
        """Offer one candidate (candidates must arrive in ascending ordinal order)."""
        for f in self.missing_filters:
            keys = c.step_keys.get(f)
            if keys:
                idx = self.missing_index[f]
                for k in keys:
                    idx.setdefault(k, []).append(c.ordinal[0])
        last = len(self.positive) - 1
        for stage in range(last, -1, -1):
            keys = c.step_keys.get(self.positive[stage])
            if not keys:
                continue
            for k in keys:
                if stage == 0:
                    fresh = _Pending(c.ordinal, [c])
                    if last == 0:
                        self._complete(k, fresh)
                    else:
                        self.pending[0][k] = fresh
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
                    held = stage_map.get(k)
                    if held is not None and held.start < c.ordinal:
                        del stage_map[k]

    def _complete(self, key: tuple[Any, ...], seq: _Pending) -> None:
        item = (seq.hits[-1].ordinal, key, seq.hits)
        if self._bounded and self.bound is not None and self.bound[0] == "head":
            # Only the first n sequences can be returned: keep a bounded max-heap.
            limit = self.bound[1]
            entry = (_Neg(item[0], key_sort(key)), len(self._heap), item)
            if len(self._heap) < limit:
                heapq.heappush(self._heap, entry)
            elif limit and entry[0] > self._heap[0][0]:
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
        """Completed sequences (join key, events with None for missing positions) in result
        order: by last event, then join key. Within the bound when there is one."""
        items = list(self.completed)
        items.extend(e[2] for e in getattr(self, "_heap_store", []))
        items.sort(key=lambda it: (it[0], key_sort(it[1])))
        out: list[tuple[tuple[Any, ...], list[Candidate | None]]] = []
        tail = self.bound is not None and self.bound[0] == "tail"
        limit = self.bound[1] if self.bound is not None else len(items)
        ordered: Iterable[Any] = reversed(items) if tail else items
        for _ordinal, key, hits in ordered:
            if len(out) >= limit:
                break
            full = self._with_missing(key, hits)
            if full is not None:
                out.append((key, full))
        if tail:
            out.reverse()
        return out

    def _with_missing(self, key: tuple[Any, ...], hits: list[Candidate]) -> list[Candidate | None] | None:
        """The sequence with None at its missing positions, or None when missing-event steps
        discard it (Elasticsearch's rules, timestamps at millisecond precision):

        * a middle step discards when one of its events lies strictly between the neighbours;
        * leading steps give the latest event before the first, trailing steps the earliest after
          the last; the sequence is discarded when those found (both sides when both kinds of
          step exist) fit within ``maxspan`` together with the sequence.
        """
        if not self.missing_filters:
            return list(hits)
        out: list[Candidate | None] = []
        layout = self.layout
        first_ms = _ms_floor(hits[0].ordinal[0])
        last_ms = _ms_floor(hits[-1].ordinal[0])
        last_leading: int | None = None
        first_trailing: int | None = None
        pos = 0
        n = len(hits)
        for f, is_missing in zip(layout.filters, layout.missing, strict=True):
            if not is_missing:
                out.append(hits[pos])
                pos += 1
                continue
            out.append(None)
            stamps = self.missing_index[f].get(key)
            if not stamps:
                continue
            if pos == 0:
                i = bisect.bisect_left(stamps, first_ms) - 1
                if i >= 0 and (last_leading is None or stamps[i] > last_leading):
                    last_leading = stamps[i]
            elif pos == n:
                i = bisect.bisect_right(stamps, last_ms)
                if i < len(stamps) and (first_trailing is None or stamps[i] < first_trailing):
                    first_trailing = stamps[i]
            else:
                lo = _ms_floor(hits[pos - 1].ordinal[0])
                hi = _ms_floor(hits[pos].ordinal[0])
                i = bisect.bisect_right(stamps, lo)
                if i < len(stamps) and stamps[i] < hi:
                    return None
        leading_step, trailing_step = layout.missing[0], layout.missing[-1]
        if last_leading is None and first_trailing is None:
            return out
        if (leading_step and last_leading is None) or (trailing_step and first_trailing is None):
            return out
        if leading_step and trailing_step:
            wide = self._exceeds(last_leading, first_trailing)
        elif leading_step:
            wide = self._exceeds(last_leading, hits[-1].ordinal[0])
        else:
            wide = self._exceeds(hits[0].ordinal[0], first_trailing)
        return out if wide else None

    def _exceeds(self, start: int | None, end: int | None) -> bool:
        if start is None or end is None:
            return True
        return self.maxspan is not None and end - start > self.maxspan


def _ms_floor(nanos: int) -> int:
    """Elasticsearch bounds missing-event searches by epoch milliseconds."""
    return (nanos // 1_000_000) * 1_000_000


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
