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

State stays bounded without changing the answer, because candidates arrive in time order:

* a pending sequence whose first event is more than ``maxspan`` older than the newest candidate
  can never advance again (every later candidate is at least as new, and Elasticsearch rejects
  the advance on exactly that test), so it is dropped as soon as time passes it;
* a completed sequence's missing-event check is decided as soon as no later event can change it:
  at once for leading and middle steps (their events are all in), for trailing steps when an
  event of the trailing filter has arrived or ``maxspan`` has passed; only the decided ones are
  kept, and only as many as the result can return;
* events of the missing filters are forgotten once older than every window that could still read
  them (``maxspan`` plus Elasticsearch's millisecond rounding).

On top of that, ``max_pending`` caps the partial sequences held; when it bites the oldest are
dropped and counted in :attr:`QueryStats.dropped_sequences` (the answer may then miss sequences).
"""

from __future__ import annotations

import bisect
import heapq
from collections import deque
from dataclasses import dataclass
from typing import Any

from vigil.engine.model import Event, QueryStats
from vigil.engine.plan import Ordinal

# Elasticsearch bounds missing-event searches by epoch milliseconds: a stamp up to one millisecond
# older than a window's rounded bound may still fall inside it.
_MS = 1_000_000
# Missing-filter stamps recorded between two sweeps of the old ones: at least _SWEEP_MIN, and
# _SWEEP_GROWTH times as many as the last sweep kept (so a sweep costs O(1) per stamp).
_SWEEP_MIN = 4096
_SWEEP_GROWTH = 1
# Stale entries tolerated in the creation-order queue of pending sequences before compacting it.
_ORDER_SLACK = 1024


@dataclass(slots=True)
class Candidate:
    """An event that matched at least one filter of the query, with its keys per filter."""

    ordinal: Ordinal
    event: Event
    step_keys: dict[int, list[tuple[Any, ...]]]  # filter index -> key tuples
    until_keys: list[tuple[Any, ...]] | None = None


@dataclass(slots=True)
class _Pending:
    """A partial sequence. ``stage`` is the index of the pending map holding it, -1 once it has
    left them (completed, replaced, rejected, dropped): entries of the creation-order queue whose
    sequence has left are skipped rather than searched for and removed."""

    start: Ordinal
    hits: list[Candidate]
    key: tuple[Any, ...]
    stage: int


# A completed sequence awaiting its trailing missing-event check:
# (join key, positive hits, events with None at missing positions, latest leading stamp).
_Deferred = tuple[tuple[Any, ...], list[Candidate], list[Candidate | None], int | None]


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

    def __init__(
        self,
        layout: StepLayout,
        maxspan_nanos: int | None,
        bound: tuple[str, int] | None,
        *,
        max_pending: int | None = None,
        stats: QueryStats | None = None,
        expire: bool = True,
    ):
        """``bound``: ("head", n) or ("tail", n) when only the first or last n results can be
        returned (so fewer need keeping), None to keep every result. ``max_pending`` caps the
        partial sequences held (None: no cap); ``stats`` receives the counts of dropped and
        expired sequences and the peak. ``expire=False`` keeps every piece of state to the end,
        as the matcher did before it was bounded: the reference the bounded one must agree with.
        """
        self.layout = layout
        self.positive = layout.positive
        self.maxspan = maxspan_nanos
        self.bound = bound
        self.max_pending = max_pending
        self.stats = stats if stats is not None else QueryStats()
        self.expire = expire
        self._expiring = expire and maxspan_nanos is not None
        n = len(self.positive)
        self._last = n - 1
        self.pending: list[dict[tuple[Any, ...], _Pending]] = [{} for _ in range(n)]
        # Pending sequences in creation order (so the oldest first), with stale entries.
        self._order: deque[_Pending] = deque()
        self._live = 0
        self.newest: int | None = None
        self.missing_filters = {f for f, m in zip(layout.filters, layout.missing, strict=True) if m}
        # filter index -> key -> ascending timestamps (ns) of the events matching that missing filter
        self.missing_index: dict[int, dict[tuple[Any, ...], list[int]]] = {
            f: {} for f in self.missing_filters
        }
        first_pos = layout.missing.index(False) if False in layout.missing else len(layout.missing)
        last_pos = len(layout.missing) - 1 - layout.missing[::-1].index(False) if n else -1
        self._trailing_filters = sorted({layout.filters[i] for i in range(last_pos + 1, len(layout.filters))})
        self._leading_step = first_pos > 0
        self._stamps_added = 0
        self._sweep_at = _SWEEP_MIN
        self._deferred: deque[_Deferred] = deque()
        self._unchecked: list[tuple[tuple[Any, ...], list[Candidate]]] = []
        # Decided results: a plain list, or a heap of the best ``bound`` ones.
        self._accepted: list[Any] = []
        self._count = 0
        self._closed = False

    # ------------------------------------------------------------------ feeding

    def feed(self, c: Candidate) -> None:
        """Offer one candidate (candidates must arrive in ascending ordinal order; one that does
        not is still matched, but the state already let go of may have been needed)."""
        ts = c.ordinal[0]
        newest = self.newest
        if newest is None or ts > newest:
            self.newest = newest = ts
        maxspan = self.maxspan
        expiring = self._expiring
        if expiring:
            order = self._order
            if order and order[0].start[0] < newest - maxspan:  # type: ignore[operator]
                self._expire(newest - maxspan)  # type: ignore[operator]
        if self._deferred:
            self._decide_deferred()
        if self.missing_filters:
            self._record_missing(c)
        pending = self.pending
        positive = self.positive
        last = self._last
        step_keys = c.step_keys
        for stage in range(last, -1, -1):
            keys = step_keys.get(positive[stage])
            if not keys:
                continue
            for k in keys:
                if stage == 0:
                    if last == 0:
                        self._complete(k, [c])
                        continue
                    fresh = _Pending(c.ordinal, [c], k, 0)
                    self._hold(0, k, fresh)
                    self._order.append(fresh)
                    continue
                seq = pending[stage - 1].pop(k, None)
                if seq is None:
                    continue
                seq.stage = -1
                self._live -= 1
                if maxspan is not None and ts - seq.start[0] > maxspan:
                    continue
                seq.hits.append(c)
                if stage == last:
                    self._complete(k, seq.hits)
                else:
                    self._hold(stage, k, seq)
        if c.until_keys:
            for k in c.until_keys:
                for stage_map in pending:
                    held = stage_map.get(k)
                    if held is not None and held.start < c.ordinal:
                        del stage_map[k]
                        held.stage = -1
                        self._live -= 1
        if expiring and self._stamps_added >= self._sweep_at:
            self._sweep_missing(newest - maxspan - _MS)  # type: ignore[operator]
        live = self._live
        if self.max_pending is not None and live > self.max_pending:
            self._drop_oldest(self.max_pending)
            live = self._live
        if len(self._order) > 2 * live + _ORDER_SLACK:
            self._order = deque(p for p in self._order if p.stage >= 0)
        stats = self.stats
        if live > stats.pending_peak:
            stats.pending_peak = live

    def _hold(self, stage: int, key: tuple[Any, ...], seq: _Pending) -> None:
        """Keep ``seq`` as the key's pending sequence at ``stage``, replacing an older one."""
        stage_map = self.pending[stage]
        old = stage_map.get(key)
        if old is not None:
            old.stage = -1
        else:
            self._live += 1
        seq.stage = stage
        stage_map[key] = seq

    def _expire(self, horizon: int) -> None:
        """Drop the pending sequences that started before ``horizon`` (newest - maxspan): no
        later candidate may advance them. The queue is in creation order, so in start order."""
        order = self._order
        while order and order[0].start[0] < horizon:
            p = order.popleft()
            if p.stage >= 0:
                del self.pending[p.stage][p.key]
                p.stage = -1
                self._live -= 1
                self.stats.expired_sequences += 1

    def _drop_oldest(self, cap: int) -> None:
        """The cap bit: drop the oldest pending sequences until ``cap`` are held."""
        order = self._order
        while self._live > cap and order:
            p = order.popleft()
            if p.stage >= 0:
                del self.pending[p.stage][p.key]
                p.stage = -1
                self._live -= 1
                self.stats.dropped_sequences += 1

    def _record_missing(self, c: Candidate) -> None:
        ts = c.ordinal[0]
        for f in self.missing_filters:
            keys = c.step_keys.get(f)
            if keys:
                idx = self.missing_index[f]
                for k in keys:
                    stamps = idx.get(k)
                    if stamps is None:
                        idx[k] = [ts]
                    else:
                        stamps.append(ts)
                self._stamps_added += len(keys)

    def _sweep_missing(self, horizon: int) -> None:
        """Forget missing-filter stamps older than ``horizon``: a leading one that old makes
        every sequence that could still complete wider than ``maxspan`` (as if absent), and no
        middle or trailing window still open reaches back that far. Sweeps run after as many
        new stamps as were kept, so their cost is constant per stamp."""
        kept = 0
        for idx in self.missing_index.values():
            for k in list(idx):
                stamps = idx[k]
                i = bisect.bisect_left(stamps, horizon)
                if i == len(stamps):
                    del idx[k]
                    continue
                if i:
                    del stamps[:i]
                kept += len(stamps)
        self._stamps_added = 0
        self._sweep_at = max(_SWEEP_MIN, _SWEEP_GROWTH * kept)

    # ------------------------------------------------------------------ completion

    def _complete(self, key: tuple[Any, ...], hits: list[Candidate]) -> None:
        if not self.missing_filters:
            self._accept(key, hits, list(hits))
            return
        if not self.expire:
            self._unchecked.append((key, hits))
            return
        # Leading and middle steps are decided now: their events all precede the last one.
        head = self._leading_and_middle(key, hits)
        if head is None:
            return
        out, last_leading = head
        if not self._trailing_filters or (self._leading_step and last_leading is None):
            verdict = self._verdict(hits, out, last_leading, None)
            if verdict is not None:
                self._accept(key, hits, verdict)
            return
        self._deferred.append((key, hits, out, last_leading))

    def _decide_deferred(self) -> None:
        """Settle the completed sequences whose trailing check no later event can change: an
        event of a trailing filter is in (later ones come after it), or ``maxspan`` has passed
        since the first event (any later one would be too far to discard it)."""
        deferred = self._deferred
        newest = self.newest
        maxspan = self.maxspan
        assert newest is not None
        while deferred:
            key, hits, out, last_leading = deferred[0]
            first_trailing = self._first_trailing(key, _ms_floor(hits[-1].ordinal[0]))
            if first_trailing is None and (maxspan is None or newest - hits[0].ordinal[0] <= maxspan):
                break
            deferred.popleft()
            verdict = self._verdict(hits, out, last_leading, first_trailing)
            if verdict is not None:
                self._accept(key, hits, verdict)

    def _accept(self, key: tuple[Any, ...], hits: list[Candidate], events: list[Candidate | None]) -> None:
        item = (hits[-1].ordinal, key, events)
        bound = self.bound
        if bound is None:
            self._accepted.append(item)
            return
        kind, limit = bound
        if limit <= 0:
            return
        heap = self._accepted
        self._count += 1
        # Only the first (last) n sequences can be returned: keep a bounded heap whose top is the
        # worst kept one.
        entry: tuple[Any, int, Any]
        if kind == "head":
            entry = (_Neg(item[0], key_sort(key)), self._count, item)
        else:
            entry = ((item[0], key_sort(key)), self._count, item)
        if len(heap) < limit:
            heapq.heappush(heap, entry)
        elif entry[0] > heap[0][0]:
            heapq.heapreplace(heap, entry)

    def close(self) -> None:
        """No more candidates: settle every check still open. Idempotent."""
        if self._closed:
            return
        self._closed = True
        while self._deferred:
            key, hits, out, last_leading = self._deferred.popleft()
            first_trailing = self._first_trailing(key, _ms_floor(hits[-1].ordinal[0]))
            verdict = self._verdict(hits, out, last_leading, first_trailing)
            if verdict is not None:
                self._accept(key, hits, verdict)
        for key, hits in self._unchecked:
            full = self._with_missing(key, hits)
            if full is not None:
                self._accept(key, hits, full)
        self._unchecked.clear()

    # ------------------------------------------------------------------ inspection and results

    @property
    def pending_peak(self) -> int:
        """The most partial sequences held at once."""
        return self.stats.pending_peak

    def pending_count(self) -> int:
        """How many partial sequences are held (the state that bounds memory)."""
        return sum(len(m) for m in self.pending)

    def held(self) -> int:
        """Everything held that grows with the input: partial sequences, completed sequences
        awaiting a check or kept as results, and missing-filter timestamps."""
        stamps = sum(len(s) for idx in self.missing_index.values() for s in idx.values())
        return self._live + len(self._deferred) + len(self._unchecked) + len(self._accepted) + stamps

    def results(self) -> list[tuple[tuple[Any, ...], list[Candidate | None]]]:
        """Completed sequences (join key, events with None for missing positions) in result
        order: by last event, then join key. Within the bound when there is one. Closes the
        matcher."""
        self.close()
        items = list(self._accepted) if self.bound is None else [e[2] for e in self._accepted]
        items.sort(key=lambda it: (it[0], key_sort(it[1])))
        return [(key, events) for _ordinal, key, events in items]

    # ------------------------------------------------------------------ missing events

    def _with_missing(self, key: tuple[Any, ...], hits: list[Candidate]) -> list[Candidate | None] | None:
        """The sequence with None at its missing positions, or None when missing-event steps
        discard it (Elasticsearch's rules, timestamps at millisecond precision):

        * a middle step discards when one of its events lies strictly between the neighbours;
        * leading steps give the latest event before the first, trailing steps the earliest after
          the last; the sequence is discarded when those found (both sides when both kinds of
          step exist) fit within ``maxspan`` together with the sequence.
        """
        head = self._leading_and_middle(key, hits)
        if head is None:
            return None
        out, last_leading = head
        first_trailing = self._first_trailing(key, _ms_floor(hits[-1].ordinal[0]))
        return self._verdict(hits, out, last_leading, first_trailing)

    def _leading_and_middle(
        self, key: tuple[Any, ...], hits: list[Candidate]
    ) -> tuple[list[Candidate | None], int | None] | None:
        """The events with None at missing positions and the latest leading stamp, or None when
        a middle step discards the sequence."""
        out: list[Candidate | None] = []
        first_ms = _ms_floor(hits[0].ordinal[0])
        last_leading: int | None = None
        pos = 0
        n = len(hits)
        for f, is_missing in zip(self.layout.filters, self.layout.missing, strict=True):
            if not is_missing:
                out.append(hits[pos])
                pos += 1
                continue
            out.append(None)
            if pos == n:
                continue  # trailing: see _first_trailing
            stamps = self.missing_index[f].get(key)
            if not stamps:
                continue
            if pos == 0:
                i = bisect.bisect_left(stamps, first_ms) - 1
                if i >= 0 and (last_leading is None or stamps[i] > last_leading):
                    last_leading = stamps[i]
            else:
                lo = _ms_floor(hits[pos - 1].ordinal[0])
                hi = _ms_floor(hits[pos].ordinal[0])
                i = bisect.bisect_right(stamps, lo)
                if i < len(stamps) and stamps[i] < hi:
                    return None
        return out, last_leading

    def _first_trailing(self, key: tuple[Any, ...], last_ms: int) -> int | None:
        """The earliest stamp of a trailing missing filter after ``last_ms``, if any."""
        best: int | None = None
        for f in self._trailing_filters:
            stamps = self.missing_index[f].get(key)
            if not stamps:
                continue
            i = bisect.bisect_right(stamps, last_ms)
            if i < len(stamps) and (best is None or stamps[i] < best):
                best = stamps[i]
        return best

    def _verdict(
        self,
        hits: list[Candidate],
        out: list[Candidate | None],
        last_leading: int | None,
        first_trailing: int | None,
    ) -> list[Candidate | None] | None:
        """``out`` when the leading/trailing events found leave the sequence standing, else
        None."""
        leading_step, trailing_step = self.layout.missing[0], self.layout.missing[-1]
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
    return (nanos // _MS) * _MS


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
