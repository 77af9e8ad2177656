"""The event store's API (re-exported by :mod:`vigil.store`, which see)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from vigil.engine.model import Event
from vigil.store.columns import HotField as HotField
from vigil.store.columns import default_hot_fields, with_timestamp
from vigil.store.columns import hot_fields_for as hot_fields_for
from vigil.store.errors import StoreError as StoreError
from vigil.store.errors import StoreFormatError as StoreFormatError
from vigil.store.errors import StoreLockedError as StoreLockedError
from vigil.store.manifest import (
    DATA,
    MANIFEST,
    Manifest,
    commit_manifest,
    read_manifest,
    writer_lock,
)
from vigil.store.reader import QueryItem, candidates_sql, events_sql, run_candidates
from vigil.store.writer import BATCH_ROWS, append_events
from vigil.store.writer import AppendReport as AppendReport


@dataclass(frozen=True)
class StoreInfo:
    """What a store holds (as committed)."""

    path: str
    files: int
    rows: int
    bytes: int
    partitions: tuple[str, ...]  # index=.../day=... folders
    indices: tuple[str, ...]
    generation: int  # commits so far
    hot_fields: tuple[str, ...]
    min_ts: int | None
    max_ts: int | None
    dictionaries: int


class Store:
    """An open event store (see the module docstring). Not safe to share between threads."""

    def __init__(self, root: Path):
        self.root = root
        self._con: duckdb.DuckDBPyConnection | None = None

    # ------------------------------------------------------------------ state

    def manifest(self) -> Manifest:
        """The committed manifest (read afresh: another process may have appended)."""
        manifest = read_manifest(self.root)
        if manifest is None:
            raise StoreError(f"{self.root}: not an event store (no {MANIFEST})")
        return manifest

    @property
    def hot_fields(self) -> tuple[HotField, ...]:
        """The fields this store keeps as typed columns."""
        return self.manifest().hot_fields

    def info(self) -> StoreInfo:
        """Files, rows, partitions and bytes of the committed contents."""
        m = self.manifest()
        known = [t for f in m.files for t in (f.min_ts, f.max_ts) if t is not None]
        return StoreInfo(
            path=str(self.root),
            files=len(m.files),
            rows=sum(f.rows for f in m.files),
            bytes=sum(f.bytes for f in m.files),
            partitions=tuple(sorted({f.path.rsplit("/", 1)[0] for f in m.files})),
            indices=tuple(sorted({f.index for f in m.files})),
            generation=m.generation,
            hot_fields=tuple(f.path for f in m.hot_fields),
            min_ts=min(known) if known else None,
            max_ts=max(known) if known else None,
            dictionaries=len(m.dictionaries),
        )

    # ------------------------------------------------------------------ writing

    def append(
        self, events: Iterable[Event], *, lock_timeout: float = 30.0, batch_rows: int | None = None
    ) -> AppendReport:
        """Append events (as :func:`vigil.sources.read_events` yields them) atomically: all of
        them become visible at once, or none (an exception or a crash leaves the store as it
        was). Waits up to ``lock_timeout`` seconds for another writer."""
        rows = BATCH_ROWS if batch_rows is None else batch_rows
        return append_events(self.root, events, lock_timeout=lock_timeout, batch_rows=rows)

    # ------------------------------------------------------------------ reading

    def candidates(
        self,
        queries: Sequence[QueryItem],
        *,
        start: int | None = None,
        end: int | None = None,
        index: Callable[[str], bool] | None = None,
    ) -> Iterator[Event]:
        """The events any of ``queries`` may need, in input order (see the module docstring)."""
        manifest = self.manifest()
        sql = candidates_sql(self.root, manifest, queries, start=start, end=end, index=index)
        return run_candidates(self._connection(), self.root, manifest, sql)

    def tagged_candidates(
        self,
        queries: Sequence[QueryItem],
        *,
        start: int | None = None,
        end: int | None = None,
        index: Callable[[str], bool] | None = None,
    ) -> Iterator[tuple[Event, tuple[int, ...]]]:
        """The events any of ``queries`` may need, in input order, each with the positions in
        ``queries`` of the queries that may need it: many rules read the store once, and each
        is offered only its own candidates (see :mod:`vigil.store.tagged`)."""
        from vigil.store.tagged import run_tagged, tagged_sql

        manifest = self.manifest()
        plan = tagged_sql(self.root, manifest, queries, start=start, end=end, index=index)
        # A connection of its own, closed once the rows are fetched: DuckDB keeps the memory of
        # a plan of thousands of conditions (~300 MB) for as long as the connection lives.
        return run_tagged(_connect(), self.root, manifest, plan, close=True)

    def candidates_sql(
        self,
        queries: Sequence[QueryItem],
        *,
        start: int | None = None,
        end: int | None = None,
        index: Callable[[str], bool] | None = None,
    ) -> str | None:
        """The SQL :meth:`candidates` runs (None when no file can hold a candidate)."""
        plan = candidates_sql(self.root, self.manifest(), queries, start=start, end=end, index=index)
        return None if plan is None else plan.sql

    def events(
        self,
        *,
        start: int | None = None,
        end: int | None = None,
        index: Callable[[str], bool] | None = None,
    ) -> Iterator[Event]:
        """Every stored event in input order (optionally within a time range and by index)."""
        manifest = self.manifest()
        plan = events_sql(self.root, manifest, start=start, end=end, index=index)
        return run_candidates(self._connection(), self.root, manifest, plan)

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = _connect()
        return self._con

    def close(self) -> None:
        """Close the DuckDB connection (the store itself needs no closing)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    # Committed files never change (new data goes to new file names): cache their footers.
    con.execute("SET parquet_metadata_cache = true")
    con.execute("SET preserve_insertion_order = false")  # results are ORDER BY __seq
    return con


def open_store(
    path: str | Path, *, create: bool = True, hot_fields: Sequence[HotField] | None = None
) -> Store:
    """Open the store in folder ``path``; create it (with ``hot_fields``, default
    :func:`default_hot_fields`) when it has no manifest yet and ``create`` is true.

    ``hot_fields`` given for an existing store must be the ones it was created with (a store's
    columns never change). Raises :class:`StoreError` when the folder is not a store."""
    root = Path(path)
    manifest = read_manifest(root) if root.is_dir() else None
    wanted = None if hot_fields is None else with_timestamp(hot_fields)
    if manifest is None:
        if not create:
            raise StoreError(f"{root}: not an event store (no {MANIFEST})")
        if root.exists() and not root.is_dir():
            raise StoreError(f"{root}: not a folder")
        if root.is_dir() and any(p.name not in (DATA, ".lock", "_tmp", "dicts") for p in root.iterdir()):
            raise StoreError(f"{root}: the folder is not empty and holds no event store")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{root}: cannot create the store: {exc.strerror or exc}") from exc
        with writer_lock(root, 30.0):
            if read_manifest(root) is None:
                fields = wanted if wanted is not None else with_timestamp(default_hot_fields())
                commit_manifest(root, Manifest(hot_fields=fields))
        manifest = read_manifest(root)
        assert manifest is not None
    if wanted is not None and manifest.hot_fields != wanted:
        raise StoreError(
            f"{root}: the store was created with other hot fields",
            hint="open it without naming hot fields, or use a new folder",
        )
    return Store(root)
