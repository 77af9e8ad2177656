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

from vigil.store.manifest import fsync_dir, read_manifest
from vigil.store.writer import append_texts

log = logging.getLogger("vigil.service.eventlog")

SEGMENT_PREFIX = "seg-"
SEGMENT_SUFFIX = ".wal"
FLUSH_INTENT = "flush.json"
CHECKPOINTS = "checkpoints.json"


def wal_line(payload: bytes) -> bytes:
    """One WAL record: checksum, space, JSON payload, newline (orjson never writes a newline)."""
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def event_line(index_json: bytes, id_json: bytes, text: bytes) -> bytes:
    """``wal_line(b"[%s,%s,%s]" % (index_json, id_json, text))``, with the document's text
    copied once instead of twice (the checksum is chained over the parts)."""
    head = b"[%s,%s," % (index_json, id_json)
    crc = zlib.crc32(b"]", zlib.crc32(text, zlib.crc32(head)))
    return b"%08x %s%s]\n" % (crc, head, text)


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
        # (index, id) of its events, for creates of named ids: built when the first such create
        # asks (most shippers never send one), then kept up to date
        self._ids: set[tuple[str, str]] | None = None

    @property
    def ids(self) -> set[tuple[str, str]]:
        """(index, id) of the segment's events (ask with the event log's write lock held)."""
        if self._ids is None:
            self._ids = {(e[1], e[2]) for e in self.entries}
        return self._ids

    def forget(self) -> None:
        """Drop the events from memory (they are in the store)."""
        self.entries, self.buckets, self._ids = [], {}, None

    def add(self, entries: list[Entry]) -> None:
        self.entries.extend(entries)
        if self._ids is not None:
            self._ids.update((e[1], e[2]) for e in entries)
        buckets = self.buckets
        for e in entries:
            key = (e[1], e[6])
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


#: An acknowledged event still in the log: [seq, index, id, document, JSON text, __ts,
#: categories (see categories_of)]. The document is None until a reader needs it: it is decoded
#: from the text then, and kept (see :func:`entry_document`). Ingest only glances at a shipped
#: document (see glance.py), or decodes it and lets it go: documents that stayed in memory until
#: their flush cost the garbage collector and the page allocator more than a later decoding of
#: the few a rule reads.
Entry = list[Any]
#: The same before it has its sequence number: (index, id, JSON text, __ts, categories). The
#: __ts of a glanced document is its ``@timestamp`` string until a reader needs the number
#: (see ``EventLog._resolve_times``).
Pending = tuple[str, str, bytes, int | str | None, tuple[str, ...] | None]


def entry_document(entry: Entry) -> dict[str, Any]:
    """The document of an in-memory entry, decoded from its text on first use (two threads
    decoding it at once both get equal documents; one is kept)."""
    doc: dict[str, Any] | None = entry[3]
    if doc is None:
        doc = entry[3] = orjson.loads(entry[4])
    return doc


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
    for end, payload in _valid_records(path):
        try:
            value = orjson.loads(payload)
        except orjson.JSONDecodeError:
            # (its checksum holds: written so, which no version of vigil does)
            log.warning("%s: record ending at byte %d is not JSON: skipped", path, end)
            continue
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
    """Append the events of WAL segments (path, bytes of whole records) to the store; returns
    how many were stored (``base``, the first one's sequence number, is the store's ``next_seq``,
    which numbers them). Runs in the flush process (see :meth:`EventLog._append`): the segments
    are read again here, each document is stored as the JSON text it was logged with, and the
    store reads its hot columns from that text, so documents are not decoded here."""
    del base  # the store numbers the rows from its own next_seq, which is base

    def rows() -> Iterator[tuple[str, str, bytes]]:
        for path, size in segments:
            for end, payload in _valid_records(Path(path)):
                if end > size:
                    break
                try:
                    row = event_record(payload)
                except (orjson.JSONDecodeError, ValueError, TypeError):
                    # (its checksum holds: written so, which no version of vigil does)
                    log.warning("%s: record ending at byte %d is not an event: skipped", path, end)
                    continue
                if row is not None:
                    yield row

    report = append_texts(Path(store_dir), rows(), lock_timeout=60.0)
    return report.events


def event_record(payload: bytes) -> tuple[str, str, bytes] | None:
    """``(index, id, document text)`` of an event record's payload ``[index,id,document]`` as
    orjson writes it (None for a checkpoint). The index and id are cut out of the text when they
    hold no escape, which is nearly always, instead of decoding the whole record."""
    if payload[:1] == b"{":
        return None  # a checkpoint
    if payload[:2] == b'["' and payload[-1:] == b"]":
        end_index = payload.find(b'"', 2)
        end_id = payload.find(b'"', end_index + 3) if payload[end_index + 1 : end_index + 3] == b',"' else -1
        if end_index > 0 and end_id > 0 and b"\\" not in payload[2:end_id]:
            text = payload[end_id + 2 : -1]
            if payload[end_id + 1 : end_id + 2] == b"," and text[:1] == b"{":
                return payload[2:end_index].decode(), payload[end_index + 3 : end_id].decode(), text
    value = orjson.loads(payload)
    if isinstance(value, dict):
        return None
    index, id_, doc = value
    # The document's text as it was logged: cut out rather than written again.
    cut = len(orjson.dumps(index)) + len(orjson.dumps(id_)) + 3
    text = payload[cut:-1]
    if payload[cut - 1 : cut] != b"," or text[:1] != b"{":
        text = orjson.dumps(doc)
    return index, id_, text


def _valid_records(path: Path) -> Iterator[tuple[int, bytes]]:
    """(end offset, payload) of each record of a segment whose checksum holds, in order (see
    :func:`scan_payloads`; the payloads are not decoded)."""
    offset = 0
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
            if not ok:
                if end >= size:
                    return  # the torn tail of a crash: never acknowledged
                log.warning("%s: damaged record at byte %d skipped", path, offset)
                offset = end
                continue
            offset = end
            yield end, payload
