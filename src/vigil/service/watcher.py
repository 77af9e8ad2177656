"""The file/folder watcher of ``vigil serve --watch PATH``: NDJSON and EVTX files into the log.

Each poll (every ``interval`` seconds) walks the watched files and folders (recursively) for
``.ndjson``, ``.jsonl``, ``.json`` (read as one JSON document per line) and ``.evtx`` files:

* **NDJSON**: the complete lines appended since the last poll (a line without its newline yet
  waits for it) are read with vigil's reader, so NXLog and Winlogbeat raw lines are mapped to
  ECS exactly as ``vigil hunt`` maps them, and ids are those ``vigil hunt`` gives the lines.
* **EVTX**: a whole file once its size and modification time stayed the same over two polls,
  read with the EVTX reader (mapped to ECS). A file that grows later is read again from the
  first record not yet taken (records keep their order in an EVTX file).

**Exactly once.** A file's position is kept under its (device, inode), with a checksum of its
first bytes, and logged *in the same fsync as the events it covers*
(:meth:`vigil.service.eventlog.EventLog.append` with ``checkpoint=``): after a crash the events
and the position are both durable or both not. A renamed file (rotation within the watched
folders) keeps its position; a file truncated or replaced (smaller than the position, or other
first bytes) is read from its start again.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vigil.engine.model import Event
from vigil.service.eventlog import EventLog, Record
from vigil.sources.ndjson import ReadReport, _Reader, read_events

log = logging.getLogger("vigil.service.watcher")

__all__ = ["Watcher"]

LINE_SUFFIXES = (".ndjson", ".jsonl", ".json")
EVTX_SUFFIX = ".evtx"
_HEAD_BYTES = 1024  # bytes fingerprinting a file (tells a replaced file from an appended one)
_BATCH_EVENTS = 5_000  # events per logged batch (bounded memory; progress is checkpointed)


def _head_crc(path: Path, length: int) -> int:
    with open(path, "rb") as f:
        return zlib.crc32(f.read(min(length, _HEAD_BYTES)))


class Watcher:
    """Polls the watched paths and logs new events exactly once (see the module docstring)."""

    def __init__(
        self,
        paths: tuple[str, ...] | list[str],
        events: EventLog,
        *,
        interval: float = 1.0,
        batch_bytes: int = 4 * 1024 * 1024,
        ecs_mode: str = "agent",
    ):
        self.paths = [Path(p).expanduser() for p in paths]
        self.events = events
        self.interval = interval
        self.batch_bytes = batch_bytes
        self.ecs_mode = ecs_mode
        self._last_seen: dict[str, tuple[int, int]] = {}  # EVTX path -> (size, mtime_ns) last poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.logged = 0
        self.report = ReadReport(log=lambda text: log.warning("%s", text))

    # ------------------------------------------------------------------ files

    def files(self) -> Iterator[Path]:
        """The watched files, in a stable order."""
        for root in self.paths:
            if root.is_file():
                yield root
            elif root.is_dir():
                for folder, dirs, names in os.walk(root):
                    dirs.sort()
                    for name in sorted(names):
                        lower = name.lower()
                        if lower.endswith((*LINE_SUFFIXES, EVTX_SUFFIX)) and not name.startswith("."):
                            yield Path(folder) / name

    def poll(self) -> int:
        """One pass over the watched files; returns the events logged."""
        total = 0
        for path in self.files():
            if self._stop.is_set():
                break
            try:
                if path.name.lower().endswith(EVTX_SUFFIX):
                    total += self._evtx(path)
                else:
                    total += self._lines(path)
            except FileNotFoundError:
                continue  # removed (rotated away) between the walk and the read
            except OSError as exc:
                log.warning("%s: cannot read: %s", path, exc)
        self.logged += total
        return total

    def _position(self, st: os.stat_result, path: Path) -> tuple[str, dict[str, Any] | None]:
        """The checkpoint key of a file and its checkpoint, None when it must be read afresh."""
        key = f"watch:{st.st_dev}:{st.st_ino}"
        cp = self.events.checkpoint(key)
        if not isinstance(cp, dict):
            return key, None
        done = int(cp.get("offset", 0))
        if st.st_size < done:
            log.info("%s: truncated; reading it from the start", path)
            return key, None
        if cp.get("head_len") and _head_crc(path, int(cp["head_len"])) != cp.get("head"):
            log.info("%s: replaced (other first bytes); reading it from the start", path)
            return key, None
        return key, cp

    def _lines(self, path: Path) -> int:
        st = path.stat()
        key, cp = self._position(st, path)
        offset = int(cp["offset"]) if cp else 0
        if st.st_size <= offset:
            return 0
        total = 0
        with open(path, "rb") as f:
            f.seek(offset)
            while not self._stop.is_set():
                data = f.read(self.batch_bytes)
                cut = data.rfind(b"\n")
                while cut < 0 and data and len(data) % self.batch_bytes == 0:
                    more = f.read(self.batch_bytes)  # a line longer than one batch
                    if not more:
                        break
                    data += more
                    cut = data.rfind(b"\n")
                if cut < 0:
                    break  # nothing, or an incomplete last line: wait for its newline
                data = data[: cut + 1]
                # vigil's reader, on these complete lines: mapping and ids as `vigil hunt` does.
                reader = _Reader(strict=False, line_filter=None, report=self.report, ecs_mode=self.ecs_mode)
                records: list[Record] = [
                    (e.index, e.id, e.source)
                    for e in reader.read(io.BufferedReader(io.BytesIO(data)), str(path))
                ]
                offset += len(data)
                head_len = min(offset, _HEAD_BYTES)
                position = {
                    "offset": offset,
                    "path": str(path),
                    "head_len": head_len,
                    "head": _head_crc(path, head_len),
                }
                self.events.append(records, checkpoint={key: position})
                total += len(records)
                f.seek(offset)
        return total

    def _evtx(self, path: Path) -> int:
        st = path.stat()
        shape = (st.st_size, st.st_mtime_ns)
        previous = self._last_seen.get(str(path))
        self._last_seen[str(path)] = shape
        if previous != shape:
            return 0  # still growing (or first seen): wait until it holds still over a poll
        key, cp = self._position(st, path)
        if cp is not None and cp.get("size") == st.st_size:
            return 0  # read already at this size
        skip = int(cp.get("records", 0)) if cp else 0
        head_len = min(st.st_size, _HEAD_BYTES)
        # "offset" is the size read: a smaller file is a replaced one (see _position).
        base = {"path": str(path), "head_len": head_len, "head": _head_crc(path, head_len)}
        done = 0
        batch: list[Record] = []
        total = 0

        def checkpoint(finished: bool) -> dict[str, Any]:
            return {
                key: {
                    **base,
                    "records": done,
                    "offset": st.st_size if finished else 0,
                    "size": st.st_size if finished else None,
                }
            }

        event: Event
        for event in read_events(
            [str(path)], report=self.report, input_format="evtx", ecs_mode=self.ecs_mode
        ):
            done += 1
            if done <= skip:
                continue
            batch.append((event.index, event.id, event.source))
            if len(batch) >= _BATCH_EVENTS:
                self.events.append(batch, checkpoint=checkpoint(False))
                total += len(batch)
                batch = []
            if self._stop.is_set():
                return total  # the checkpoint so far is logged; the rest next time
        self.events.append(batch, checkpoint=checkpoint(True))
        return total + len(batch)

    # ------------------------------------------------------------------ thread

    def start(self) -> None:
        """Poll in a background thread until :meth:`stop`."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="vigil-watcher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # one bad poll must not end watching
                log.exception("watcher poll failed")
            self._stop.wait(self.interval)

    def stop(self) -> None:
        """Stop polling (waits for the poll in progress to log what it read)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
