"""What the engine takes and gives: events, request options and results.

The shapes follow Elasticsearch's ``_eql/search`` API: options mirror its request fields (with
Elasticsearch's defaults), results mirror ``hits.events`` / ``hits.sequences``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson


@dataclass(slots=True)
class Event:
    """One event: its ``_source`` document, the index it belongs to and its id.

    ``seq`` is its position in the input; it breaks ties after timestamp and tiebreaker, as
    Elasticsearch's implicit ``_shard_doc`` tiebreaker does. ``raw`` is the line it was read
    from, when kept; ``projected`` says ``source`` holds only the fields the query reads (the
    engine restores the full document, from ``raw``, for the events it returns).
    """

    source: dict[str, Any]
    index: str = ""
    id: str = ""
    seq: int = 0
    raw: bytes | None = None
    projected: bool = False
    origin: tuple[str, int] | None = None  # (file, byte offset) of its line, to re-read it


def materialize(event: Event) -> Event:
    """Give an event decoded as a projection its full ``_source`` again (from its raw line, read
    back from its file when only its position was kept)."""
    raw = event.raw
    if raw is None and event.projected and event.origin is not None:
        path, offset = event.origin
        with open(path, "rb") as f:
            f.seek(offset)
            raw = event.raw = f.readline()
    if event.projected and raw is not None:
        doc = orjson.loads(raw)
        source = doc.get("_source") if isinstance(doc, dict) else None
        event.source = source if isinstance(source, dict) else doc
        event.projected = False
    return event


@dataclass(frozen=True)
class QueryOptions:
    """Request options of ``_eql/search`` with Elasticsearch's defaults."""

    timestamp_field: str = "@timestamp"
    tiebreaker_field: str | None = None
    event_category_field: str = "event.category"
    size: int = 10
    result_position: Literal["head", "tail"] = "head"
    max_samples_per_key: int = 1


@dataclass(slots=True)
class SequenceHit:
    """A matched sequence or sample: its join keys (JSON-ready values, as Elasticsearch prints
    them) and its events in step order; ``None`` stands for a missing-event step."""

    join_keys: list[Any]
    events: list[Event | None]


@dataclass
class QueryStats:
    """Counts gathered while a query runs."""

    events_read: int = 0
    events_considered: int = 0  # events that reached the exact evaluator
    events_matched: int = 0  # events that matched at least one filter of the query
    late_events: int = 0  # sequence candidates that arrived later than the reorder window allows


@dataclass
class QueryResult:
    """The answer: ``events`` for an event query, ``sequences`` for sequence and sample queries."""

    kind: Literal["events", "sequences"]
    events: list[Event] = field(default_factory=list)
    sequences: list[SequenceHit] = field(default_factory=list)
    stats: QueryStats = field(default_factory=QueryStats)

    @property
    def total(self) -> int:
        """Number of hits (events or sequences)."""
        return len(self.events) if self.kind == "events" else len(self.sequences)
