"""``sample by k [f1] [f2] ...``: per join key, sets of distinct events, one per filter.

Samples ignore time order. For each key value (sample keys followed by each filter's own keys,
one position for all filters) the matcher keeps, per filter, the first few candidate events in
input order, then builds up to ``max_samples_per_key`` samples of distinct events. Samples come
out ordered by ascending key (null first, false before true), each listing its events in filter
order, as Elasticsearch returns them.
"""

from __future__ import annotations

import itertools
from typing import Any

from vigil.engine.model import Event
from vigil.engine.sequence import key_sort


class SampleMatcher:
    """Collects candidates per key and filter, then assembles samples."""

    def __init__(self, n_filters: int, max_samples_per_key: int):
        self.n = n_filters
        self.per_key = max(1, max_samples_per_key)
        # Enough events per filter to build per_key distinct samples of distinct events.
        self.keep = self.per_key + n_filters
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

    def held(self) -> int:
        """Events kept over every key and filter (what grows with the input)."""
        return sum(len(b) for lists in self.groups.values() for b in lists)

    def results(self) -> list[tuple[tuple[Any, ...], list[Event]]]:
        """Samples ordered by key; per key up to ``max_samples_per_key`` distinct combinations
        (in filter order, earlier events first), each made of distinct events."""
        out: list[tuple[tuple[Any, ...], list[Event]]] = []
        for key in sorted(self.groups, key=key_sort):
            lists = self.groups[key]
            if any(not b for b in lists):
                continue
            found = 0
            for combo in itertools.product(*lists):
                if len({id(e) for e in combo}) < len(combo):
                    continue
                out.append((key, list(combo)))
                found += 1
                if found >= self.per_key:
                    break
        return out
