"""The store's layout on disk, its manifest (the commit record) and its writer lock.

::

    DIR/
      manifest.json                         the committed state: hot fields, dictionaries, files
      .lock                                 writers hold an exclusive flock on it
      _tmp/                                 files being written (never read; cleaned by writers)
      dicts/<n>.zdict                       zstd dictionaries the documents are compressed with
      data/index=<index>/day=<YYYY-MM-DD>/part-<gen>-<n>.parquet
                                            rows of one index and one day of @timestamp
      data/.../part-<gen>-<n>.docidx        where each document lies in that Parquet file

Readers read ``manifest.json`` and only the files it lists. A writer writes new files under
``_tmp/``, fsyncs them, renames them into ``data/``, then replaces ``manifest.json`` by writing a
new one and renaming it over the old (the commit point), then fsyncs the folder. A crash before
the rename leaves the previous manifest, so the previous contents; files it does not list are
leftovers that the next writer deletes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import orjson

from vigil.store.columns import HotField
from vigil.store.errors import StoreError, StoreFormatError, StoreLockedError

FORMAT = "vigil-event-store"
VERSION = 1
MANIFEST = "manifest.json"
LOCK = ".lock"
TMP = "_tmp"
DATA = "data"
DICTS = "dicts"
NO_DAY = "none"


@dataclass(frozen=True)
class FileEntry:
    """One committed Parquet file (and its document index)."""

    path: str  # relative to the store folder
    index: str
    day: str  # YYYY-MM-DD of @timestamp, or "none"
    rows: int
    bytes: int
    min_seq: int
    max_seq: int
    min_ts: int | None = None
    max_ts: int | None = None
    dictionary: int | None = None  # zstd dictionary of its documents
    docidx: str | None = None  # relative path of its document index
    categories: tuple[str, ...] | None = None  # distinct event.category values (None: unknown)
    irregular: tuple[str, ...] | None = None  # hot fields flagged in some row (None: unknown, any)

    def to_json(self) -> dict[str, Any]:
        """The entry as stored in the manifest."""
        out = {k: v for k, v in self.__dict__.items() if v is not None}
        for key in ("categories", "irregular"):
            if out.get(key) is not None:
                out[key] = list(out[key])
        return out

    @staticmethod
    def from_json(data: dict[str, Any]) -> FileEntry:
        """The inverse of :meth:`to_json`."""
        cats = data.get("categories")
        irregular = data.get("irregular")
        return FileEntry(
            path=str(data["path"]),
            index=str(data["index"]),
            day=str(data["day"]),
            rows=int(data["rows"]),
            bytes=int(data["bytes"]),
            min_seq=int(data["min_seq"]),
            max_seq=int(data["max_seq"]),
            min_ts=data.get("min_ts"),
            max_ts=data.get("max_ts"),
            dictionary=data.get("dictionary"),
            docidx=data.get("docidx"),
            categories=None if cats is None else tuple(cats),
            irregular=None if irregular is None else tuple(irregular),
        )


@dataclass(frozen=True)
class Manifest:
    """The committed state of a store."""

    hot_fields: tuple[HotField, ...]
    generation: int = 0  # number of commits so far
    next_seq: int = 0  # the sequence number of the next event appended
    files: tuple[FileEntry, ...] = ()
    dictionaries: dict[int, str] = field(default_factory=dict)  # id -> relative path

    def to_bytes(self) -> bytes:
        """The manifest as JSON."""
        body = {
            "format": FORMAT,
            "version": VERSION,
            "generation": self.generation,
            "next_seq": self.next_seq,
            "hot_fields": [f.to_json() for f in self.hot_fields],
            "dictionaries": {str(k): v for k, v in sorted(self.dictionaries.items())},
            "files": [f.to_json() for f in self.files],
        }
        return orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n"

    @staticmethod
    def from_bytes(data: bytes, where: str) -> Manifest:
        """Parse a manifest; :class:`StoreFormatError` when it is not one."""
        try:
            body = orjson.loads(data)
            if not isinstance(body, dict) or body.get("format") != FORMAT:
                raise StoreFormatError(f"{where}: not a vigil event store manifest")
            if body.get("version") != VERSION:
                raise StoreFormatError(
                    f"{where}: store format version {body.get('version')} (this vigil reads {VERSION})"
                )
            return Manifest(
                hot_fields=tuple(HotField.from_json(f) for f in body["hot_fields"]),
                generation=int(body["generation"]),
                next_seq=int(body["next_seq"]),
                files=tuple(FileEntry.from_json(f) for f in body["files"]),
                dictionaries={int(k): str(v) for k, v in body.get("dictionaries", {}).items()},
            )
        except StoreFormatError:
            raise
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise StoreFormatError(f"{where}: damaged manifest: {exc}") from exc

    def committed(
        self, files: tuple[FileEntry, ...], next_seq: int, dictionaries: dict[int, str]
    ) -> Manifest:
        """The manifest after one more commit."""
        return replace(
            self,
            generation=self.generation + 1,
            next_seq=next_seq,
            files=self.files + files,
            dictionaries=dict(dictionaries),
        )


def read_manifest(root: Path) -> Manifest | None:
    """The committed manifest of the store at ``root``, None when there is none yet."""
    path = root / MANIFEST
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return Manifest.from_bytes(data, str(path))


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (renames, new files) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write a new file and fsync it."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def commit_manifest(root: Path, manifest: Manifest) -> None:
    """Replace the manifest atomically: write a temporary copy, fsync, rename, fsync the folder."""
    tmp = root / TMP / f"{MANIFEST}.{os.getpid()}.tmp"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    write_durably(tmp, manifest.to_bytes())
    os.replace(tmp, root / MANIFEST)
    fsync_dir(root)


def partition_dir(index: str, day: str) -> str:
    """``data/index=<index>/day=<day>``, the index percent-encoded (``_`` for the empty one)."""
    name = quote(index, safe="-.") if index else "_"
    name = name.replace("_", "%5F") if index else name
    return f"{DATA}/index={name}/day={day}"


def index_of_dir(name: str) -> str:
    """The index a partition folder name (``index=...``) stands for."""
    value = name.split("=", 1)[1]
    return "" if value == "_" else unquote(value)


@contextlib.contextmanager
def writer_lock(root: Path, timeout: float) -> Iterator[None]:
    """Hold the store's writer lock (an exclusive ``flock`` on ``.lock``) for the block.

    Waits up to ``timeout`` seconds for another writer, then raises :class:`StoreLockedError`.
    The lock goes with the process: a writer that dies releases it.
    """
    path = root / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise StoreError(f"{path}: cannot lock: {exc.strerror or exc}") from exc
                if time.monotonic() >= deadline:
                    raise StoreLockedError(
                        f"{root}: another writer is appending to this store",
                        hint="wait for it to finish, or give a longer lock timeout",
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def clean_leftovers(root: Path, manifest: Manifest) -> list[str]:
    """Delete what a crashed writer left: everything under ``_tmp/`` and every file under
    ``data/`` and ``dicts/`` the manifest does not list. Call with the writer lock held.
    Returns the relative paths deleted."""
    keep = {f.path for f in manifest.files} | {f.docidx for f in manifest.files if f.docidx}
    keep |= set(manifest.dictionaries.values())
    removed: list[str] = []
    tmp = root / TMP
    if tmp.is_dir():
        for p in sorted(tmp.rglob("*"), reverse=True):
            with contextlib.suppress(OSError):
                if p.is_dir():
                    p.rmdir()
                else:
                    p.unlink()
                    removed.append(str(p.relative_to(root)))
    for top in (DATA, DICTS):
        base = root / top
        if not base.is_dir():
            continue
        for p in sorted(base.rglob("*"), reverse=True):
            rel = p.relative_to(root).as_posix()
            if p.is_file() and rel not in keep:
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed.append(rel)
            elif p.is_dir():
                with contextlib.suppress(OSError):
                    p.rmdir()  # only when empty
    return removed
