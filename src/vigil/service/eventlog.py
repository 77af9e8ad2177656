"""The service's durable event log: a write-ahead log in front of the columnar event store.

Layout under the service's data directory::

    events/
      store/                  the columnar event store (vigil.store), owned by the service
      wal/seg-<n>.wal         write-ahead log segments, oldest first
      wal/flush.json          the flush in progress (segments + the store's next_seq before it)
      wal/checkpoints.json    positions of sources (the watcher) made durable with their events

**Acknowledgement.** :meth:`EventLog.append` writes every record of a batch as one line
``<crc32 hex> <json>\\n`` and fsyncs the segment before it returns; only then does the ingest API
answer. A document is written as the JSON text it was received in, when the caller gives it (never
serialised again). A torn last line (the process killed mid-write) fails its checksum or lacks its
newline: it was never acknowledged, so recovery drops it and truncates the segment there. The
events are also kept in memory until they are in the store, each with its sequence number: the
store's ``__seq`` it will get, fixed at acknowledgement. A *create* (``unique=``) is logged only if
its id is new to its index (the store is asked, then memory, under the write lock).

**Flush.** A background thread seals the current segment and appends the sealed segments' events
to the store (``Store.append`` commits atomically): from memory, or, with ``flush_process=True``
(what ``vigil serve`` uses), in a separate process that reads the sealed segments itself
(:func:`flush_segments`), so that the work stays off the service's interpreter lock. Before the
append it records in ``flush.json`` which segments it moves and the store's ``next_seq``; after
the commit it drops them from memory and deletes them. A crash in between is resolved at start-up:
if the store's ``next_seq`` moved, the append committed and the segments are deleted; otherwise
they are flushed again. An event is so never in neither place and never in both (the service must
be the store's only writer; the flush process dies with the service).

**Reading.** :meth:`EventLog.candidates` gives the store's candidates followed by the events in
memory of the queries' indices and categories, filtered by time. It takes the events in memory,
then the store's view, and keeps of the former those whose sequence number is not below the
store's ``next_seq``: no lock is held during a flush, and a reader sees each acknowledged event
exactly once, in ingestion order.

**Checkpoints.** A source may pass ``checkpoint={key: value}`` with a batch: it is written in the
same fsync as the events, so "events durable" and "position advanced" happen together (the
watcher's exactly-once). Before a flush deletes segments it merges their checkpoints into
``checkpoints.json`` (written atomically).

**Retention.** With ``retention_days`` the flusher drops, about hourly, every store file whose
newest ``@timestamp`` is older than the cutoff (the store is partitioned by index and day, so
whole days go); events without a timestamp and events still in the log are kept.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from operator import itemgetter
from pathlib import Path
from typing import Any

import duckdb
import orjson

from vigil.ecs.schema import FieldType
from vigil.engine.model import Event
from vigil.eql import ast
from vigil.service.glance import Glance
from vigil.service.wal import (
    CHECKPOINTS,
    FLUSH_INTENT,
    SEGMENT_PREFIX,
    SEGMENT_SUFFIX,
    Entry,
    Pending,
    Segment,
    categories_of,
    die_with_parent,
    entry_document,
    event_line,
    flush_segments,
    next_seq_of,
    scan,
    wal_line,
    write_atomically,
)
from vigil.store import Store, open_store
from vigil.store.columns import schema_of
from vigil.store.manifest import commit_manifest, fsync_dir, read_manifest, writer_lock
from vigil.store.pushdown import sql_string
from vigil.store.reader import QueryItem
from vigil.store.writer import append_texts

log = logging.getLogger("vigil.service.eventlog")

__all__ = ["EventLog", "Record"]

_datasync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync

#: One event to log: (index, id, document), (index, id, document, its JSON text), or (index, id,
#: the glance of its JSON text, that text) for a document ingest did not decode (see glance.py).
Record = (
    tuple[str, str, dict[str, Any]] | tuple[str, str, dict[str, Any], bytes] | tuple[str, str, Glance, bytes]
)


class EventLog:
    """Acknowledged events: a write-ahead log flushed into the columnar store (module docstring).

    Thread-safe: appends, reads and the flusher may run in different threads."""

    def __init__(
        self,
        root: Path,
        *,
        segment_bytes: int = 64 * 1024 * 1024,
        flush_interval: float = 1.0,
        flush_events: int = 50_000,
        retention_days: float | None = None,
        flush_process: bool = False,
    ):
        self.root = Path(root)
        self.wal_dir = self.root / "wal"
        self.store_dir = self.root / "store"
        self.segment_bytes = segment_bytes
        self.flush_interval = flush_interval
        self.flush_events = flush_events
        self.retention_days = retention_days
        self._write_lock = threading.Lock()  # appends, segment rotation, the in-memory events
        self._flush_lock = threading.Lock()  # one flush at a time
        self.flush_process = flush_process
        self._pool: ProcessPoolExecutor | None = None  # the flush process, when used
        self._local = threading.local()  # one Store per thread (a Store is not thread-safe)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._segments: list[Segment] = []
        self._current: Segment | None = None
        self._file: Any = None
        self._checkpoints: dict[str, Any] = {}
        self._next_seq = 0  # the store's __seq of the next acknowledged event
        self._last_append = -1e9  # monotonic time of the last append
        self._acknowledged = 0
        self._flushed = 0
        self._flush_seconds = 0.0  # spent in store appends since start
        self._last_flush_error: str | None = None
        self._last_retention: float | None = None  # monotonic time of the last run
        self._dropped_files = 0
        self._recover()

    # ------------------------------------------------------------------ opening

    def _recover(self) -> None:
        """Bring the log and the store to a consistent state after any stop, crash included."""
        self.wal_dir.mkdir(parents=True, exist_ok=True)
        store = open_store(self.store_dir)
        self._ts_of = _TimestampReader(store)
        store.close()
        for leftover in self.wal_dir.glob("*.tmp"):
            leftover.unlink()
        paths = sorted(self.wal_dir.glob(f"{SEGMENT_PREFIX}*{SEGMENT_SUFFIX}"))
        cp_path = self.wal_dir / CHECKPOINTS
        if cp_path.exists():
            self._checkpoints = orjson.loads(cp_path.read_bytes())
        segments: list[Segment] = []
        logged: dict[int, list[tuple[str, str, dict[str, Any]]]] = {}
        for path in paths:
            seg = Segment(path, int(path.name[len(SEGMENT_PREFIX) : -len(SEGMENT_SUFFIX)]))
            records = logged[seg.number] = []
            for end, value in scan(path):
                seg.size = end
                if isinstance(value, dict):
                    cp = value.get("checkpoint") or {}
                    self._checkpoints.update(cp)
                    seg.checkpoints.update(cp)
                else:
                    seg.events += 1
                    records.append(value)
            if path.stat().st_size != seg.size:
                # Drop the torn tail so that later reads and appends see whole records only.
                with open(path, "r+b") as f:
                    f.truncate(seg.size)
                    os.fsync(f.fileno())
                log.warning("%s: torn tail dropped (a write cut by a crash, never acknowledged)", path)
            segments.append(seg)
        if paths:
            # The checkpoints of every logged batch are durable before any segment goes away.
            write_atomically(cp_path, orjson.dumps(self._checkpoints))
        intent_path = self.wal_dir / FLUSH_INTENT
        if intent_path.exists():
            intent = orjson.loads(intent_path.read_bytes())
            manifest = read_manifest(self.store_dir)
            committed = manifest is not None and manifest.next_seq != intent["base_seq"]
            if committed:
                # The append committed before the crash: its segments must not be flushed again.
                names = set(intent["segments"])
                for seg in [s for s in segments if s.path.name in names]:
                    seg.path.unlink()
                    segments.remove(seg)
                fsync_dir(self.wal_dir)
            intent_path.unlink()
            fsync_dir(self.wal_dir)
        manifest = read_manifest(self.store_dir)
        self._next_seq = manifest.next_seq if manifest is not None else 0
        # The events still in the log, in memory again (they were acknowledged: the next flush
        # stores them with the sequence numbers they get here, which readers see meanwhile).
        for seg in segments:
            seg.add(self._entries(logged[seg.number]))
        self._segments = segments
        self._open_new_segment(max((s.number for s in segments), default=0) + 1)

    def _entries(self, records: Sequence[tuple[str, str, dict[str, Any]]]) -> list[Entry]:
        """In-memory entries of logged (index, id, document) records, numbered from
        ``_next_seq`` (call with the write lock held, or at recovery)."""
        ts_of = self._ts_of
        seq = self._next_seq
        out: list[Entry] = []
        for index, id_, doc in records:
            out.append([seq, index, id_, doc, orjson.dumps(doc), ts_of(doc), categories_of(doc)])
            seq += 1
        self._next_seq = seq
        return out

    def _open_new_segment(self, number: int) -> None:
        """Start a new current segment (its directory entry made durable before any ack in it)."""
        path = self.wal_dir / f"{SEGMENT_PREFIX}{number:016d}{SEGMENT_SUFFIX}"
        self._file = open(path, "ab")  # noqa: SIM115 - kept open across appends, closed on rotation
        fsync_dir(self.wal_dir)
        seg = Segment(path, number)
        self._segments.append(seg)
        self._current = seg

    def _store(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = open_store(self.store_dir)
        return store

    # ------------------------------------------------------------------ writing

    def append(
        self,
        records: Sequence[Record],
        *,
        checkpoint: dict[str, Any] | None = None,
        unique: Sequence[bool] | None = None,
    ) -> list[bool]:
        """Log ``records`` (and the source position ``checkpoint``) durably: on return they are
        fsync'd and survive a crash. Raises OSError when the disk refuses them.

        A record is ``(index, id, document)`` or ``(index, id, document, text)`` where ``text``
        is the JSON text the document was parsed from (``orjson.loads(text) == document``): it is
        logged and stored as it is, so the document is never serialised again. In place of the
        document, ingest may give the :class:`~vigil.service.glance.Glance` of ``text``.

        ``unique`` marks, per record, a *create* (Elasticsearch's ``op_type=create``): it is
        logged only if no acknowledged event of its index has its id yet, nor an earlier record
        of the batch. Returns, per record, whether it was logged."""
        lines, prepared = self._prepare(records)
        if unique is None or not any(unique):
            self._write(lines, prepared, checkpoint)
            return [True] * len(records)
        wanted = {(r[0], r[1]) for r, u in zip(records, unique, strict=True) if u}
        while True:
            # The store first, then (under the write lock) the events in memory. A flush that
            # committed in between (the store's next_seq moved) may have taken ids out of memory
            # after the store was asked: then it is asked again.
            base, taken = self._stored_ids(wanted)
            with self._write_lock:
                if next_seq_of(self.store_dir) != base:
                    continue
                for seg in self._segments:
                    taken |= wanted & seg.ids
                keep: list[bool] = []
                for record, create in zip(records, unique, strict=True):
                    key = (record[0], record[1])
                    fresh = not (create and key in taken)
                    keep.append(fresh)
                    if fresh:
                        taken.add(key)  # a later create of the same id conflicts
                self._write(
                    [x for x, k in zip(lines, keep, strict=True) if k],
                    [x for x, k in zip(prepared, keep, strict=True) if k],
                    checkpoint,
                    locked=True,
                )
                return keep

    def _prepare(self, records: Sequence[Record]) -> tuple[list[bytes], list[Pending]]:
        """The WAL lines of ``records`` and what memory keeps of them (without sequence numbers)."""
        dumps = orjson.dumps
        # A decoded document's time is read now. A glanced one's is read from its @timestamp
        # string alone, as the reader reads it, when a rule run first filters it by time (see
        # _resolve_times): most events are stored before any rule run reads them from memory.
        decoded = [r[2] for r in records if not isinstance(r[2], Glance)]
        read = iter(self._ts_of.many(decoded) if decoded else ())
        no_time = self._ts_of.missing
        times = [
            next(read) if not isinstance(doc, Glance) else no_time if doc.timestamp is None else doc.timestamp
            for doc in (record[2] for record in records)
        ]
        lines: list[bytes] = []
        prepared: list[Pending] = []
        quoted: dict[str, bytes] = {}
        for record, ts in zip(records, times, strict=True):
            index, id_, doc = record[0], record[1], record[2]
            text: bytes | None = record[3] if len(record) > 3 else None
            cats = doc.categories if isinstance(doc, Glance) else categories_of(doc)
            if text is None:
                text = dumps(doc)
            name = quoted.get(index)
            if name is None:
                name = quoted[index] = dumps(index)
            lines.append(event_line(name, dumps(id_), text))
            prepared.append((index, id_, text, ts, cats))
        return lines, prepared

    def _write(
        self,
        lines: list[bytes],
        prepared: list[Pending],
        checkpoint: dict[str, Any] | None,
        *,
        locked: bool = False,
    ) -> None:
        """Write and fsync the records' lines (and the checkpoint), then keep the events in
        memory with their sequence numbers (``locked``: the caller holds the write lock)."""
        if checkpoint:
            lines = [*lines, wal_line(orjson.dumps({"checkpoint": checkpoint}))]
        if not lines:
            return
        data = b"".join(lines)
        with contextlib.nullcontext() if locked else self._write_lock:
            seg = self._current
            assert seg is not None and self._file is not None
            try:
                self._file.write(data)
                self._file.flush()
                # The data and the size that reaches it (the segment's name was made durable
                # when it was created); its times are not worth a journal write per bulk.
                _datasync(self._file.fileno())
            except OSError:
                # Cut the partial write off, so the segment keeps whole acknowledged records only.
                with contextlib.suppress(OSError):
                    self._file.truncate(seg.size)
                raise
            self._last_append = time.monotonic()
            seq = self._next_seq
            seg.add(
                [
                    [seq + k, index, id_, None, text, ts, cats]
                    for k, (index, id_, text, ts, cats) in enumerate(prepared)
                ]
            )
            self._next_seq = seq + len(prepared)
            seg.size += len(data)
            seg.events += len(prepared)
            self._acknowledged += len(prepared)
            if checkpoint:
                self._checkpoints.update(checkpoint)
                seg.checkpoints.update(checkpoint)
            if seg.size >= self.segment_bytes:
                self._rotate()
        if self.unflushed() >= self.flush_events:
            self._wake.set()

    def _stored_ids(self, keys: set[tuple[str, str]]) -> tuple[int, set[tuple[str, str]]]:
        """The store's next_seq, and which of the (index, id) ``keys`` the store holds (a scan of
        the ``__id`` column of the index's files)."""
        manifest = read_manifest(self.store_dir)
        if manifest is None:
            return 0, set()
        indices = {index for index, _id in keys}
        files = [self.store_dir / f.path for f in manifest.files if f.index in indices]
        if not files:
            return manifest.next_seq, set()
        con = getattr(self._local, "ids", None)
        if con is None:
            con = self._local.ids = duckdb.connect(":memory:")
        paths = ", ".join(sql_string(str(path)) or "''" for path in files)
        rows = con.execute(
            f"SELECT DISTINCT __index, __id FROM read_parquet([{paths}]) WHERE list_contains(?, __id)",
            [sorted({id_ for _index, id_ in keys})],
        ).fetchall()
        return manifest.next_seq, {(index, id_) for index, id_ in rows} & keys

    def ingesting(self) -> bool:
        """Whether events came in within the last half second (the scheduler paces rule runs
        meanwhile, see :meth:`vigil.service.scheduler.Scheduler._paced`)."""
        return time.monotonic() - self._last_append < 0.5

    def _rotate(self) -> None:
        """Seal the current segment and open the next (call with the write lock held)."""
        assert self._current is not None
        self._file.close()
        self._open_new_segment(self._current.number + 1)

    def checkpoint(self, key: str) -> Any:
        """The last value logged for ``key`` with :meth:`append` (None when never)."""
        with self._write_lock:
            return self._checkpoints.get(key)

    def unflushed(self) -> int:
        """Acknowledged events not yet in the store."""
        return sum(s.events for s in self._segments)

    # ------------------------------------------------------------------ flushing

    def flush(self) -> int:
        """Move every logged event into the store; returns how many were moved.

        The events come from memory (no segment is read again), with the documents' JSON text
        as it was logged; the hot columns of a batch are extracted column by column
        (:meth:`vigil.store.columns.RowBuilder.add_many`)."""
        with self._flush_lock:
            with self._write_lock:
                if self._current is not None and self._current.size:
                    self._rotate()
                sealed = [s for s in self._segments if s is not self._current]
            if not sealed:
                return 0
            base = self._store().manifest().next_seq
            entries = [e for s in sealed for e in s.entries]
            if entries and entries[0][0] != base:
                # Not expected (the service is the store's only writer): number again from the
                # store's next_seq, so that readers never see an event twice or out of order.
                log.error("event log: sequence numbers out of step with the store; renumbered")
                self._renumber(base)
                entries = [e for s in sealed for e in s.entries]
            intent = {"segments": [s.path.name for s in sealed], "base_seq": base}
            write_atomically(self.wal_dir / FLUSH_INTENT, orjson.dumps(intent))
            checkpoints: dict[str, Any] = {}
            for seg in sealed:
                checkpoints.update(seg.checkpoints)
            moved = len(entries)
            started = time.monotonic()
            try:
                if moved:
                    self._append(sealed, entries, base)
            except BaseException:
                # The store is atomic: if its next_seq did not move, nothing was committed, and
                # the segments stay for the next try. If it moved, the append committed (a flush
                # process may die after its commit): the flush goes on, as recovery would decide.
                after = read_manifest(self.store_dir)
                if after is None or after.next_seq == base:
                    with contextlib.suppress(OSError):
                        (self.wal_dir / FLUSH_INTENT).unlink()
                    raise
                log.warning("the flush failed after its commit; the flush goes on", exc_info=True)
            if checkpoints:
                with self._write_lock:
                    durable = {**self._read_checkpoints(), **checkpoints}
                write_atomically(self.wal_dir / CHECKPOINTS, orjson.dumps(durable))
            with self._write_lock:
                # Readers now find these events in the store (their seq < the store's next_seq).
                self._segments = [s for s in self._segments if s not in sealed]
            for seg in sealed:
                seg.path.unlink()
            fsync_dir(self.wal_dir)
            (self.wal_dir / FLUSH_INTENT).unlink()
            fsync_dir(self.wal_dir)
            after_seq = self._store().manifest().next_seq
            if after_seq != base + moved:
                log.error("event log: the store holds %d events of %d flushed", after_seq - base, moved)
                self._renumber(after_seq)
            self._flushed += moved
            self._flush_seconds += time.monotonic() - started
            return moved

    def _append(self, sealed: list[Segment], entries: list[Entry], base: int) -> None:
        """Append the sealed segments' events to the store: in a separate process when
        ``flush_process`` is set (it reads the segments' files itself, so the service's own
        process does none of the work of turning events into Parquet files), else here, from
        the events in memory."""
        if self.flush_process:
            pool = self._flush_pool()
            job = [(str(s.path), s.size) for s in sealed]
            try:
                stored = pool.submit(flush_segments, str(self.store_dir), job, base).result()
            except BrokenProcessPool:
                self._pool = None  # started again at the next flush
                raise
            if stored != len(entries):
                raise RuntimeError(f"the flush process stored {stored} events of {len(entries)}")
            return
        append_texts(self.store_dir, ((e[1], e[2], e[4]) for e in entries), lock_timeout=60.0)

    def _flush_pool(self) -> ProcessPoolExecutor:
        """The flush process (started by the calling thread, which it dies with)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=die_with_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    def _renumber(self, base: int) -> None:
        """Number the events in memory again from ``base`` (a safety net, see :meth:`flush`)."""
        with self._write_lock:
            seq = base
            for seg in self._segments:
                fresh = [[seq + k, *e[1:]] for k, e in enumerate(seg.entries)]
                seq += len(fresh)
                seg.forget()
                seg.add(fresh)
            self._next_seq = seq

    def _read_checkpoints(self) -> dict[str, Any]:
        path = self.wal_dir / CHECKPOINTS
        return orjson.loads(path.read_bytes()) if path.exists() else {}

    def apply_retention(self, now: float | None = None) -> int:
        """Drop the store files whose newest event is older than ``retention_days``; returns the
        number of files dropped. Files without timestamps (``day=none``) are kept."""
        if self.retention_days is None:
            return 0
        cutoff = int(((time.time() if now is None else now) - self.retention_days * 86_400) * 1e9)
        with self._flush_lock, writer_lock(self.store_dir, 60.0):
            manifest = read_manifest(self.store_dir)
            if manifest is None:
                return 0
            old = [f for f in manifest.files if f.max_ts is not None and f.max_ts < cutoff]
            if not old:
                return 0
            keep = tuple(f for f in manifest.files if f not in old)
            commit_manifest(self.store_dir, replace(manifest, files=keep, generation=manifest.generation + 1))
            # The files are no longer listed, so no reader opens them: delete them now (the next
            # append would delete them anyway, as leftovers).
            for f in old:
                for rel in (f.path, f.docidx):
                    if rel:
                        with contextlib.suppress(OSError):
                            (self.store_dir / rel).unlink()
        self._dropped_files += len(old)
        log.info("retention: %d store files older than %s days dropped", len(old), self.retention_days)
        return len(old)

    # ------------------------------------------------------------------ reading

    def candidates(
        self,
        queries: Sequence[QueryItem],
        *,
        start: int | None = None,
        end: int | None = None,
        index: Callable[[str], bool] | None = None,
    ) -> Iterator[Event]:
        """Every acknowledged event any of ``queries`` may need, flushed or not, in ingestion
        order (the contract of :meth:`vigil.store.Store.candidates`, see state.py)."""
        tests = [_category_test(q) for q in queries]
        if not tests:
            return iter(())
        seen: dict[tuple[str, tuple[str, ...] | None], bool] = {}

        def wanted(name: str, cats: tuple[str, ...] | None) -> bool:
            key = (name, cats)
            found = seen.get(key)
            if found is None:
                found = seen[key] = (index is None or index(name)) and any(test(name, cats) for test in tests)
            return found

        return self._read(
            lambda s: s.candidates(queries, start=start, end=end, index=index), wanted, start, end
        )

    def events(
        self,
        *,
        start: int | None = None,
        end: int | None = None,
        index: Callable[[str], bool] | None = None,
    ) -> Iterator[Event]:
        """Every acknowledged event (optionally within a time range and by index), in order."""
        return self._read(
            lambda s: s.events(start=start, end=end, index=index),
            (lambda _name, _cats: True) if index is None else (lambda name, _cats: index(name)),
            start,
            end,
        )

    def _read(
        self,
        from_store: Callable[[Store], Iterator[Event]],
        wanted: Callable[[str, tuple[str, ...] | None], bool],
        start: int | None,
        end: int | None,
    ) -> Iterator[Event]:
        store = self._store()
        # One snapshot: the events in memory, then the store. An event in both (committed, its
        # segment not yet dropped) is taken from the store: its seq is below the store's
        # next_seq. The store's view is the manifest ``from_store`` reads; next_seq is read before
        # and after it, and the pair is taken again in the rare case a commit fell in between.
        # (Segments are dropped only after their commit, so nothing falls between the two.)
        while True:
            with self._write_lock:
                buckets = [
                    (bucket, len(bucket))
                    for seg in self._segments
                    for (name, cats), bucket in seg.buckets.items()
                    if wanted(name, cats)
                ]
            base = store.manifest().next_seq
            stored = from_store(store)
            if store.manifest().next_seq == base:
                break
            close = getattr(stored, "close", None)
            if close is not None:
                close()
        # The buckets only grow (under the write lock), so their first n entries are the snapshot.
        lo = -(2**63) if start is None else start
        hi = 2**63 if end is None else end
        logged: list[Entry] = []
        for bucket, n in buckets:
            part = bucket[:n]
            if part and part[0][0] < base:
                part = [e for e in part if e[0] >= base]
            if start is not None or end is not None:
                self._resolve_times(part)
                part = [e for e in part if e[5] is not None and lo <= e[5] <= hi]
            logged.extend(part)
        if len(buckets) > 1:
            logged.sort(key=itemgetter(0))
        return _chain(stored, (Event(entry_document(e), e[1], e[2], e[0]) for e in logged))

    def _resolve_times(self, entries: list[Entry]) -> None:
        """Read the times of entries that still hold their ``@timestamp`` string. Two readers
        may resolve an entry at once: both write the same number, and each filters only after
        its own pass, so neither compares a string."""
        lazy = [e for e in entries if type(e[5]) is str]
        if lazy:
            times = self._ts_of.many([{"@timestamp": e[5]} for e in lazy])
            for e, t in zip(lazy, times, strict=True):
                e[5] = t

    # ------------------------------------------------------------------ background

    def start(self) -> None:
        """Start the background flusher (and retention)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="vigil-flusher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        if self.flush_process:
            # Start the flush process now (it imports the store's modules), not at the first flush.
            try:
                self._flush_pool().submit(int).result()
            except Exception:
                log.exception("the flush process did not start (the next flush tries again)")
                self._pool = None
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self.flush()
                self._last_flush_error = None
                last = self._last_retention
                if self.retention_days is not None and (last is None or time.monotonic() - last > 3600):
                    self._last_retention = time.monotonic()
                    self.apply_retention()
            except Exception as exc:  # the log keeps the events; the next round retries
                self._last_flush_error = f"{type(exc).__name__}: {exc}"
                log.exception("flushing the event log failed (events stay in the log)")

    def close(self) -> None:
        """Stop the flusher, flush what is logged, and close the files."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._pool is not None:
            # The flush process dies with the thread that started it (see die_with_parent),
            # which may be the flusher just stopped: the last flush runs here.
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        self.flush_process = False
        try:
            self.flush()
        finally:
            with self._write_lock:
                if self._file is not None:
                    self._file.close()
                    self._file = None
            store = getattr(self._local, "store", None)
            if store is not None:
                store.close()

    def stats(self) -> dict[str, Any]:
        """Counters for the health endpoint. Like :meth:`candidates`, it looks at the events in
        memory first, then at the store, and counts as unflushed only the events the store does
        not hold yet: a flush that commits in between (its segments not yet dropped) must not
        count its events twice."""
        with self._write_lock:
            held = [(s.entries, len(s.entries), s.events) for s in self._segments]
            segments = len(self._segments)
        manifest = read_manifest(self.store_dir)
        next_seq = manifest.next_seq if manifest else 0
        unflushed = 0
        for entries, n, events in held:
            stored = bisect.bisect_left(entries, next_seq, 0, n, key=itemgetter(0)) if n else 0
            unflushed += max(0, events - stored)
        return {
            "stored_events": sum(f.rows for f in manifest.files) if manifest else 0,
            "store_files": len(manifest.files) if manifest else 0,
            "unflushed_events": unflushed,
            "wal_segments": segments,
            "acknowledged_since_start": self._acknowledged,
            "flushed_since_start": self._flushed,
            "flush_seconds_since_start": round(self._flush_seconds, 3),
            "last_flush_error": self._last_flush_error,
            "retention_days": self.retention_days,
            "retention_dropped_files": self._dropped_files,
        }


def _category_test(item: QueryItem) -> Callable[[str, tuple[str, ...] | None], bool]:
    """Whether a query may need the logged events of an index with the given categories (see
    :func:`categories_of`): its index predicate, and its filters' category tests, read as the
    store's file pruning reads them (only where the index maps ``event.category`` as a plain
    keyword, which holds the strings as written)."""
    compiled, pred = item if isinstance(item, tuple) else (item, None)
    body = compiled.query.body
    if isinstance(body, ast.EventQuery):
        filters = [body]
    else:
        filters = [step.query for step in body.steps]
        until = getattr(body, "until", None)
        if until is not None:
            filters.append(until.query)
    asked = {f.category for f in filters}
    wanted: frozenset[str] | None = frozenset(c for c in asked if c is not None)
    if None in asked or compiled.options.event_category_field != "event.category":
        wanted = None
    exact: dict[str, bool] = {}

    def test(name: str, cats: tuple[str, ...] | None) -> bool:
        if pred is not None and not pred(name):
            return False
        if wanted is None or cats is None:
            return True
        plain = exact.get(name)
        if plain is None:
            schema = compiled.schemas.for_index(name)
            spec = schema.spec("event.category")
            plain = exact[name] = (
                schema.resolve("event.category") == "event.category"
                and spec is not None
                and spec.type is FieldType.KEYWORD
                and spec.null_value is None
            )
        return not plain or not wanted.isdisjoint(cats)

    return test


def _chain(first: Iterator[Event], rest: Iterable[Event]) -> Iterator[Event]:
    yield from first
    yield from rest


class _TimestampReader:
    """``@timestamp`` in epoch nanoseconds as the store's ``__ts`` holds it (the first of
    several), so logged events are bounded by time exactly as stored ones are."""

    def __init__(self, store: Store):
        from vigil.engine.typed import make_field_reader
        from vigil.store.columns import _fast_date

        fields = store.hot_fields
        self._read = make_field_reader(schema_of(fields), "@timestamp")
        field = next((f for f in fields if f.path == "@timestamp"), None)
        self._nanos = None if field is None else _fast_date(field)

    @functools.cached_property
    def missing(self) -> int | None:
        """The time of a document without ``@timestamp``."""
        return self({})

    def __call__(self, doc: dict[str, Any]) -> int | None:
        """One document's time."""
        from vigil.engine.typed import _fast_utc

        nanos = self._nanos
        if nanos is not None:
            # The usual UTC string, read as the reader reads it (without its layers).
            raw = doc.get("@timestamp")
            if type(raw) is str:
                fast = _fast_utc(raw)
                if fast is not None:
                    return fast if nanos else fast - fast % 1_000_000
        v = self._read(doc)
        if type(v) is int:
            return v
        if isinstance(v, list):
            ints = [x for x in v if type(x) is int]
            return min(ints) if ints else None
        return None

    def many(self, docs: Sequence[dict[str, Any]]) -> list[int | None]:
        """The times of a batch: the usual UTC strings read in Arrow at once (as the store's text
        path reads them), the rest one by one."""
        if self._nanos is None or len(docs) < 64:
            return [self(doc) for doc in docs]
        import pyarrow as pa

        from vigil.store.textcols import _utc_nanos

        raws = [doc.get("@timestamp") for doc in docs]
        strings = [r if type(r) is str else None for r in raws]
        fast = _utc_nanos(pa.array(strings, pa.string()), bool(self._nanos)).to_pylist()
        return [t if t is not None else self(doc) for t, doc in zip(fast, docs, strict=True)]
