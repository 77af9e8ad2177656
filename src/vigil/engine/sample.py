"""``sample by k [f1] [f2] ...``: per join key, sets of distinct events, one per filter.

Samples ignore time order. For each key value (sample keys followed by each filter's own keys,
one position for all filters) the matcher keeps, per filter, the first few candidate events in
input order, then builds up to ``max_samples_per_key`` samples of distinct events. Samples come
out ordered by ascending key (null first, false before true), each listing its events in filter
order, as Elasticsearch returns them.
"""

from __future__ import annotations

from typing import Any

from vigil.engine.model import Event
from vigil.engine.sequence import key_sort


class SampleMatcher:
    """Collects candidates per key and filter, then assembles samples."""

    def __init__(self, n_filters: int, size: int, max_samples_per_key: int):
        self.n = n_filters
        self.size = size
        self.per_key = max(1, max_samples_per_key)
        # Enough events per filter to build per_key samples of distinct events.
        self.keep = self.per_key * n_filters
        self.groups: dict[tuple[Any, ...], list[list[Event]]] = {}

    def feed(self, event: Event, step_keys: dict[int, list[tuple[Any, ...]]]) -> None:
        """Offer an event with the key tuples of each filter it matched."""
        for f, keys in step_keys.items():
            for k in keys:
                lists = self.groups.get(k)
                if lists is None:
                    lists = [[] for _ in range(self.n)]
                    self.groups[k] = lists
                bucket = lists[f]
                if len(bucket) < self.keep and all(e is not event for e in bucket):
                    bucket.append(event)

    def results(self) -> list[tuple[tuple[Any, ...], list[Event]]]:
        """Samples ordered by key, at most ``size`` of them."""
        out: list[tuple[tuple[Any, ...], list[Event]]] = []
        for key in sorted(self.groups, key=key_sort):
            lists = self.groups[key]
            if any(not b for b in lists):
                continue
            used: set[int] = set()
            for _ in range(self.per_key):
                picked = _assign(lists, used)
                if picked is None:
                    break
                used.update(id(e) for e in picked)
                out.append((key, picked))
                if len(out) >= self.size:
                    return out
        return out


def _assign(lists: list[list[Event]], used: set[int]) -> list[Event] | None:
    """One event per filter, all distinct and not yet used, preferring earlier events."""
    chosen: list[Event] = []
    taken: set[int] = set()

    def search(i: int) -> bool:
        if i == len(lists):
            return True
        for e in lists[i]:
            eid = id(e)
            if eid in used or eid in taken:
                continue
            chosen.append(e)
            taken.add(eid)
            if search(i + 1):
                return True
            chosen.pop()
            taken.discard(eid)
        return False

    return chosen if search(0) else None
