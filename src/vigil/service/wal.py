"""The write-ahead log's files: segment records, checkpoints, and the flush process's side.

A segment ``wal/seg-<n>.wal`` holds one record a line, ``<crc32 hex> <json>\\n``: an event as
``[index, id, document]`` (the document as the JSON text it was received in) or a source's
checkpoint as ``{"checkpoint": {...}}``. :mod:`vigil.service.eventlog` writes and recovers them;
:func:`flush_segments` runs in the flush process and moves sealed segments into the store.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from vigil.engine.model import Event
from vigil.store.manifest import fsync_dir, read_manifest
from vigil.store.writer import append_events

log = logging.getLogger("vigil.service.eventlog")

SEGMENT_PREFIX = "seg-"
SEGMENT_SUFFIX = ".wal"
FLUSH_INTENT = "flush.json"
CHECKPOINTS = "checkpoints.json"


def wal_line(payload: bytes) -> bytes:
    """One WAL record: checksum, space, JSON payload, newline (orjson never writes a newline)."""
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new content."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class Segment:
    """A WAL segment file, and its events kept in memory until they are in the store."""

    def __init__(self, path: Path, number: int):
        self.path = path
        self.number = number
        self.events = 0  # valid event records
        self.size = 0  # bytes of valid records (appends go after them)
        self.entries: list[Entry] = []  # its events, in order
        # the same by (index, categories) (see categories_of), so that a rule run takes only the
        # events of its indices and categories
        self.buckets: dict[tuple[str, tuple[str, ...] | None], list[Entry]] = {}
        self.checkpoints: dict[str, Any] = {}  # the positions logged with its events
        self.ids: set[tuple[str, str]] = set()  # (index, id) of its events (for creates)

    def add(self, entries: list[Entry]) -> None:
        self.entries.extend(entries)
        self.ids.update((e[1], e[2]) for e in entries)
        buckets = self.buckets
        for e in entries:
            key = (e[1], categories_of(e[3]))
            bucket = buckets.get(key)
            if bucket is None:
                bucket = buckets[key] = []
            bucket.append(e)


def categories_of(doc: dict[str, Any]) -> tuple[str, ...] | None:
    """The ``event.category`` strings of a document as written, when they are plain: ``()``
    when it has none, None when it spells them otherwise (a dotted key, non-strings, an array
    of objects), which no category test may then skip."""
    if "event.category" in doc:
        return None
    event = doc.get("event")
    if event is None:
        return ()
    if type(event) is not dict:
        return None
    cats = event.get("category")
    if cats is None:
        return ()
    if type(cats) is str:
        return (cats,)
    if type(cats) is list and all(type(c) is str for c in cats):
        return tuple(cats)
    return None


#: An acknowledged event still in the log: (seq, index, id, document, JSON text, __ts).
Entry = tuple[int, str, str, dict[str, Any], bytes, int | None]
#: The same before it has its sequence number.
Pending = tuple[str, str, dict[str, Any], bytes, int | None]


def next_seq_of(store_dir: Path) -> int:
    manifest = read_manifest(store_dir)
    return manifest.next_seq if manifest is not None else 0


def scan(path: Path) -> Iterator[tuple[int, Any]]:
    """(end offset, decoded payload) of each valid record of a segment, in order (see
    :func:`scan_payloads`)."""
    for end, value, _payload in scan_payloads(path):
        yield end, value


def scan_payloads(path: Path) -> Iterator[tuple[int, Any, bytes]]:
    """(end offset, decoded payload, payload) of each valid record of a segment, in order.

    Stops at the first torn record at the end (no newline, or a bad checksum on the last line);
    a damaged record followed by good ones (disk damage, not a crash) is skipped and logged."""
    offset = 0
    # A large buffer: iterating lines through the default 8 KiB one costs ~0.7 us a record.
    with open(path, "rb", buffering=1 << 20) as f:
        size = os.fstat(f.fileno()).st_size
        for raw in f:
            end = offset + len(raw)
            ok = raw.endswith(b"\n") and len(raw) > 10 and raw[8:9] == b" "
            payload = raw[9:-1]
            if ok:
                try:
                    ok = int(raw[:8], 16) == zlib.crc32(payload)
                except ValueError:
                    ok = False
            value: Any = None
            if ok:
                try:
                    value = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    ok = False
            if not ok:
                if end >= size:
                    return  # the torn tail of a crash: never acknowledged
                log.warning("%s: damaged record at byte %d skipped", path, offset)
                offset = end
                continue
            offset = end
            yield end, value, payload


def die_with_parent(parent: int) -> None:
    """Start of the flush process: it is killed when the thread of the service that started it
    ends (Linux ``PR_SET_PDEATHSIG``), so that it never commits an append after the service died
    (the restarted service would flush the same segments again), and it exits at once if the
    service is already gone."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def flush_segments(store_dir: str, segments: list[tuple[str, int]], base: int) -> int:
    """Append the events of WAL segments (path, bytes of whole records) to the store, numbered
    from ``base``; returns how many were stored. Runs in the flush process (see
    :meth:`EventLog._append`): the segments are read again here, and each document is stored as
    the JSON text it was logged with."""
    dumps = orjson.dumps

    def events() -> Iterator[Event]:
        seq = base
        for path, size in segments:
            for end, value, payload in scan_payloads(Path(path)):
                if end > size:
                    break
                if isinstance(value, dict):
                    continue  # a checkpoint
                index, id_, doc = value
                # The record is ``[index,id,document]`` as orjson writes it, the document's text
                # as it was logged: cut it out rather than serialise the document again.
                cut = len(dumps(index)) + len(dumps(id_)) + 3
                text = payload[cut:-1]
                if payload[cut - 1 : cut] != b"," or text[:1] != b"{":
                    text = dumps(doc)
                yield Event(doc, index, id_, seq, raw=text)
                seq += 1

    report = append_events(Path(store_dir), events(), lock_timeout=60.0, raw_docs=True)
    return report.events
