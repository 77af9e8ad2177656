"""The service's durable event log: a write-ahead log in front of the columnar event store.

Layout under the service's data directory::

    events/
      store/                  the columnar event store (vigil.store), owned by the service
      wal/seg-<n>.wal         write-ahead log segments, oldest first
      wal/flush.json          the flush in progress (segments + the store's next_seq before it)
      wal/checkpoints.json    positions of sources (the watcher) made durable with their events

**Acknowledgement.** :meth:`EventLog.append` writes every record of a batch as one line
``<crc32 hex> <json>\\n`` and fsyncs the segment before it returns; only then does the ingest API
answer. A torn last line (the process killed mid-write) fails its checksum or lacks its newline:
it was never acknowledged, so recovery drops it and truncates the segment there.

**Flush.** A background thread seals the current segment and appends the sealed segments' events
to the store (``Store.append`` commits atomically). Before the append it records in
``flush.json`` which segments it moves and the store's ``next_seq``; after the commit it deletes
the segments. A crash in between is resolved at start-up: if the store's ``next_seq`` moved, the
append committed and the segments are deleted; otherwise they are flushed again. An event is so
never in neither place and never in both (the service must be the store's only writer).

**Reading.** :meth:`EventLog.candidates` gives the store's candidates followed by the events
still in the log (filtered by time and index), under a lock that a flush's commit also takes, so a
reader sees each acknowledged event exactly once, in ingestion order.

**Checkpoints.** A source may pass ``checkpoint={key: value}`` with a batch: it is written in the
same fsync as the events, so "events durable" and "position advanced" happen together (the
watcher's exactly-once). Before a flush deletes segments it merges their checkpoints into
``checkpoints.json`` (written atomically).

**Retention.** With ``retention_days`` the flusher drops, about hourly, every store file whose
newest ``@timestamp`` is older than the cutoff (the store is partitioned by index and day, so
whole days go); events without a timestamp and events still in the log are kept.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from vigil.engine.model import Event
from vigil.store import Store, open_store
from vigil.store.columns import schema_of
from vigil.store.manifest import commit_manifest, fsync_dir, read_manifest, writer_lock
from vigil.store.reader import QueryItem

log = logging.getLogger("vigil.service.eventlog")

__all__ = ["EventLog", "Record"]

#: One event to log: (index, id, document).
Record = tuple[str, str, dict[str, Any]]

_SEGMENT_PREFIX = "seg-"
_SEGMENT_SUFFIX = ".wal"
_FLUSH_INTENT = "flush.json"
_CHECKPOINTS = "checkpoints.json"


def _line(payload: bytes) -> bytes:
    """One WAL record: checksum, space, JSON payload, newline (orjson never writes a newline)."""
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new content."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class _Segment:
    """A WAL segment file and what recovery or appends learned about it."""

    def __init__(self, path: Path, number: int):
        self.path = path
        self.number = number
        self.events = 0  # valid event records
        self.size = 0  # bytes of valid records (appends go after them)


def _scan(path: Path) -> Iterator[tuple[int, Any]]:
    """(end offset, decoded payload) of each valid record of a segment, in order.

    Stops at the first torn record at the end (no newline, or a bad checksum on the last line);
    a damaged record followed by good ones (disk damage, not a crash) is skipped and logged."""
    offset = 0
    with open(path, "rb") as f:
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
            yield end, value


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
    ):
        self.root = Path(root)
        self.wal_dir = self.root / "wal"
        self.store_dir = self.root / "store"
        self.segment_bytes = segment_bytes
        self.flush_interval = flush_interval
        self.flush_events = flush_events
        self.retention_days = retention_days
        self._write_lock = threading.Lock()  # appends and segment rotation
        self._flush_lock = threading.Lock()  # one flush at a time
        self._view_lock = threading.Lock()  # a flush's commit+delete vs. a reader's snapshot
        self._local = threading.local()  # one Store per thread (a Store is not thread-safe)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._segments: list[_Segment] = []
        self._current: _Segment | None = None
        self._file: Any = None
        self._checkpoints: dict[str, Any] = {}
        self._acknowledged = 0
        self._flushed = 0
        self._last_flush_error: str | None = None
        self._last_retention: float | None = None  # monotonic time of the last run
        self._dropped_files = 0
        self._recover()

    # ------------------------------------------------------------------ opening

    def _recover(self) -> None:
        """Bring the log and the store to a consistent state after any stop, crash included."""
        self.wal_dir.mkdir(parents=True, exist_ok=True)
        store = open_store(self.store_dir)
        store.close()
        for leftover in self.wal_dir.glob("*.tmp"):
            leftover.unlink()
        paths = sorted(self.wal_dir.glob(f"{_SEGMENT_PREFIX}*{_SEGMENT_SUFFIX}"))
        cp_path = self.wal_dir / _CHECKPOINTS
        if cp_path.exists():
            self._checkpoints = orjson.loads(cp_path.read_bytes())
        segments: list[_Segment] = []
        for path in paths:
            seg = _Segment(path, int(path.name[len(_SEGMENT_PREFIX) : -len(_SEGMENT_SUFFIX)]))
            for end, value in _scan(path):
                seg.size = end
                if isinstance(value, dict):
                    self._checkpoints.update(value.get("checkpoint") or {})
                else:
                    seg.events += 1
            if path.stat().st_size != seg.size:
                # Drop the torn tail so that later reads and appends see whole records only.
                with open(path, "r+b") as f:
                    f.truncate(seg.size)
                    os.fsync(f.fileno())
                log.warning("%s: torn tail dropped (a write cut by a crash, never acknowledged)", path)
            segments.append(seg)
        if paths:
            # The checkpoints of every logged batch are durable before any segment goes away.
            _write_atomically(cp_path, orjson.dumps(self._checkpoints))
        intent_path = self.wal_dir / _FLUSH_INTENT
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
        self._segments = segments
        self._open_new_segment(max((s.number for s in segments), default=0) + 1)

    def _open_new_segment(self, number: int) -> None:
        """Start a new current segment (its directory entry made durable before any ack in it)."""
        path = self.wal_dir / f"{_SEGMENT_PREFIX}{number:016d}{_SEGMENT_SUFFIX}"
        self._file = open(path, "ab")  # noqa: SIM115 - kept open across appends, closed on rotation
        fsync_dir(self.wal_dir)
        seg = _Segment(path, number)
        self._segments.append(seg)
        self._current = seg

    def _store(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = open_store(self.store_dir)
        return store

    # ------------------------------------------------------------------ writing

    def append(self, records: Sequence[Record], *, checkpoint: dict[str, Any] | None = None) -> None:
        """Log ``records`` (and the source position ``checkpoint``) durably: on return they are
        fsync'd and survive a crash. Raises OSError when the disk refuses them."""
        lines = [_line(orjson.dumps([index, id_, doc])) for index, id_, doc in records]
        if checkpoint:
            lines.append(_line(orjson.dumps({"checkpoint": checkpoint})))
        if not lines:
            return
        data = b"".join(lines)
        with self._write_lock:
            seg = self._current
            assert seg is not None and self._file is not None
            try:
                self._file.write(data)
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError:
                # Cut the partial write off, so the segment keeps whole acknowledged records only.
                with contextlib.suppress(OSError):
                    self._file.truncate(seg.size)
                raise
            seg.size += len(data)
            seg.events += len(records)
            self._acknowledged += len(records)
            if checkpoint:
                self._checkpoints.update(checkpoint)
            if seg.size >= self.segment_bytes:
                self._rotate()
        if self.unflushed() >= self.flush_events:
            self._wake.set()

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
        """Move every logged event into the store; returns how many were moved."""
        with self._flush_lock:
            with self._write_lock:
                if self._current is not None and self._current.size:
                    self._rotate()
                sealed = [s for s in self._segments if s is not self._current]
            if not sealed:
                return 0
            store = self._store()
            base = store.manifest().next_seq
            intent = {"segments": [s.path.name for s in sealed], "base_seq": base}
            _write_atomically(self.wal_dir / _FLUSH_INTENT, orjson.dumps(intent))
            checkpoints: dict[str, Any] = {}
            moved = sum(s.events for s in sealed)

            def events() -> Iterator[Event]:
                seq = base
                for seg in sealed:
                    for _end, value in _scan(seg.path):
                        if isinstance(value, dict):
                            checkpoints.update(value.get("checkpoint") or {})
                            continue
                        index, id_, doc = value
                        yield Event(doc, index, id_, seq)
                        seq += 1

            with self._view_lock:
                try:
                    if moved:
                        store.append(events(), lock_timeout=60.0)
                    else:
                        for _ in events():  # checkpoints only
                            pass
                except BaseException:
                    # Not committed (the store is atomic): keep the segments for the next try.
                    with contextlib.suppress(OSError):
                        (self.wal_dir / _FLUSH_INTENT).unlink()
                    raise
                if checkpoints:
                    with self._write_lock:
                        durable = {**self._read_checkpoints(), **checkpoints}
                    _write_atomically(self.wal_dir / _CHECKPOINTS, orjson.dumps(durable))
                for seg in sealed:
                    seg.path.unlink()
                fsync_dir(self.wal_dir)
                with self._write_lock:
                    self._segments = [s for s in self._segments if s not in sealed]
                (self.wal_dir / _FLUSH_INTENT).unlink()
                fsync_dir(self.wal_dir)
            self._flushed += moved
            return moved

    def _read_checkpoints(self) -> dict[str, Any]:
        path = self.wal_dir / _CHECKPOINTS
        return orjson.loads(path.read_bytes()) if path.exists() else {}

    def apply_retention(self, now: float | None = None) -> int:
        """Drop the store files whose newest event is older than ``retention_days``; returns the
        number of files dropped. Files without timestamps (``day=none``) are kept."""
        if self.retention_days is None:
            return 0
        cutoff = int(((time.time() if now is None else now) - self.retention_days * 86_400) * 1e9)
        with self._flush_lock, self._view_lock, writer_lock(self.store_dir, 60.0):
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
        preds = [q[1] if isinstance(q, tuple) else None for q in queries]
        if not preds:
            return iter(())

        def wanted(name: str) -> bool:
            if index is not None and not index(name):
                return False
            return any(p is None or p(name) for p in preds)

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
            (lambda _name: True) if index is None else index,
            start,
            end,
        )

    def _read(
        self,
        from_store: Callable[[Store], Iterator[Event]],
        wanted: Callable[[str], bool],
        start: int | None,
        end: int | None,
    ) -> Iterator[Event]:
        store = self._store()
        with self._view_lock:
            # One snapshot: the committed manifest and the segments not in it. The logged events
            # are read now (their count is bounded by the flush threshold); the store's lazily.
            stored = from_store(store)
            base = store.manifest().next_seq
            with self._write_lock:
                segments = [(s.path, s.size) for s in self._segments]
            logged = list(self._logged(segments, base, wanted, start, end, store))
        return _chain(stored, logged)

    def _logged(
        self,
        segments: list[tuple[Path, int]],
        base: int,
        wanted: Callable[[str], bool],
        start: int | None,
        end: int | None,
        store: Store,
    ) -> Iterator[Event]:
        bounded = start is not None or end is not None
        ts_of = _timestamp_reader(store) if bounded else None
        seq = base
        for path, size in segments:
            for end_offset, value in _scan(path):
                if end_offset > size:
                    break  # appended after the snapshot
                if isinstance(value, dict):
                    continue
                index, id_, doc = value
                this = seq
                seq += 1
                if not wanted(index):
                    continue
                if ts_of is not None:
                    ts = ts_of(doc)
                    if ts is None or (start is not None and ts < start) or (end is not None and ts > end):
                        continue
                yield Event(doc, index, id_, this)

    # ------------------------------------------------------------------ background

    def start(self) -> None:
        """Start the background flusher (and retention)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="vigil-flusher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
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
        """Counters for the health endpoint."""
        manifest = read_manifest(self.store_dir)
        with self._write_lock:
            unflushed = self.unflushed()
            segments = len(self._segments)
        return {
            "stored_events": sum(f.rows for f in manifest.files) if manifest else 0,
            "store_files": len(manifest.files) if manifest else 0,
            "unflushed_events": unflushed,
            "wal_segments": segments,
            "acknowledged_since_start": self._acknowledged,
            "flushed_since_start": self._flushed,
            "last_flush_error": self._last_flush_error,
            "retention_days": self.retention_days,
            "retention_dropped_files": self._dropped_files,
        }


def _chain(first: Iterator[Event], rest: Iterable[Event]) -> Iterator[Event]:
    yield from first
    yield from rest


def _timestamp_reader(store: Store) -> Callable[[dict[str, Any]], int | None]:
    """``@timestamp`` in epoch nanoseconds as the store's ``__ts`` holds it (the first of
    several), so logged events are bounded by time exactly as stored ones are."""
    from vigil.engine.typed import make_field_reader

    read = make_field_reader(schema_of(store.hot_fields), "@timestamp")

    def ts(doc: dict[str, Any]) -> int | None:
        v = read(doc)
        if type(v) is int:
            return v
        if isinstance(v, list):
            ints = [x for x in v if type(x) is int]
            return min(ints) if ints else None
        return None

    return ts
