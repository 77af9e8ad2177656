"""What the engine takes and gives: events, request options and results.

The shapes follow Elasticsearch's ``_eql/search`` API: options mirror its request fields (with
Elasticsearch's defaults), results mirror ``hits.events`` / ``hits.sequences``.
"""

from __future__ import annotations

import os
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
        raw = event.raw = read_line(*event.origin)
    if event.projected and raw is not None:
        doc = orjson.loads(raw)
        source = doc.get("_source") if isinstance(doc, dict) else None
        event.source = source if isinstance(source, dict) else doc
        event.projected = False
    return event


# Defaults of the bounds on a sequence query's state (see QueryOptions and docs/architecture.md).
DEFAULT_REORDER_WINDOW = 1_000_000
DEFAULT_MAX_PENDING_SEQUENCES = 1_000_000


@dataclass(frozen=True)
class QueryOptions:
    """Request options of ``_eql/search`` with Elasticsearch's defaults."""

    timestamp_field: str = "@timestamp"
    tiebreaker_field: str | None = None
    event_category_field: str = "event.category"
    size: int = 10
    result_position: Literal["head", "tail"] = "head"
    max_samples_per_key: int = 1
    # Bounds on a sequence query's state (vigil's own; Elasticsearch has a circuit breaker
    # instead). Within them the answer is exact; when one bites, the stats count what was lost.
    # Candidates put in time order: up to 2 x this many are held, and input out of order by fewer
    # candidates than this is ordered exactly (later input is counted in ``late_events``).
    reorder_window: int = DEFAULT_REORDER_WINDOW
    # Partial sequences held at once over all keys and steps; beyond it the oldest are dropped
    # (counted in ``dropped_sequences``). Sequences past their ``maxspan`` are dropped anyway.
    # None: no cap.
    max_pending_sequences: int | None = DEFAULT_MAX_PENDING_SEQUENCES


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
    # Partial sequences dropped because ``max_pending_sequences`` was reached: sequences may be lost.
    dropped_sequences: int = 0
    # Partial sequences dropped because their ``maxspan`` had passed: they could never complete,
    # so the answer is unchanged (informational).
    expired_sequences: int = 0
    pending_peak: int = 0  # most partial sequences held at once

    def warnings(self) -> list[str]:
        """Messages for the bounds on sequence state that bit during the run (empty when the
        answer is exact): what a caller should print as warnings."""
        out: list[str] = []
        if self.late_events:
            out.append(
                f"{self.late_events:,} sequence candidate(s) arrived out of time order by more than "
                "the reorder window (reorder_window); sequences involving them may be missed"
            )
        if self.dropped_sequences:
            out.append(
                f"{self.dropped_sequences:,} pending sequence(s) dropped at the cap on pending "
                "sequences (max_pending_sequences); sequences may be missed"
            )
        return out


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


#: Files :func:`read_line` keeps open, by path: (descriptor, device, inode); a few at most.
_OPEN_FILES: dict[str, tuple[int, int, int]] = {}
_MAX_OPEN_FILES = 16


def read_line(path: str, offset: int) -> bytes:
    """The line of ``path`` starting at byte ``offset`` (with its line end), as opening the file
    and reading it there gives it. The alerts of a run re-read thousands of events by offset:
    the file stays open between reads (read with ``pread``, which shares no file position with
    a forked process), and is opened again when the path now names another file."""
    if not hasattr(os, "pread"):  # (Windows)
        with open(path, "rb") as f:
            f.seek(offset)
            return f.readline()
    st = os.stat(path)
    held = _OPEN_FILES.get(path)
    if held is None or held[1] != st.st_dev or held[2] != st.st_ino:
        if held is not None:
            os.close(held[0])
            del _OPEN_FILES[path]
        if len(_OPEN_FILES) >= _MAX_OPEN_FILES:
            os.close(_OPEN_FILES.pop(next(iter(_OPEN_FILES)))[0])
        held = _OPEN_FILES[path] = (
            os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)),
            st.st_dev,
            st.st_ino,
        )
    fd = held[0]
    out = b""
    size = 4096
    while True:
        block = os.pread(fd, size, offset + len(out))
        if not block:
            return out
        end = block.find(b"\n")
        if end >= 0:
            return out + block[: end + 1]
        out += block
        size = min(size * 4, 1 << 24)
