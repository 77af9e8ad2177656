"""Appending events to the store: Parquet files per index and day, committed atomically.

An append runs under the writer lock (:func:`vigil.store.manifest.writer_lock`):

1. read the committed manifest and delete what an earlier crashed writer left behind;
2. turn events into rows (``__seq`` continues from the manifest's ``next_seq``, so it keeps input
   order across appends), a batch at a time (the hot columns of a batch are extracted column by
   column, :meth:`vigil.store.columns.RowBuilder.add_many`), and write each batch's rows of one
   index and one day as a Parquet file (rows sorted by time) plus its document index, under
   ``_tmp/``, fsynced;
3. rename every new file into ``data/index=.../day=.../`` and fsync the folders;
4. commit: write the new manifest and rename it over the old one.

Until step 4 the store's readers see the previous contents; a crash anywhere before it leaves
files no manifest lists, which the next writer deletes in step 1.

Documents are compressed one by one with zstd (and a dictionary trained on the first large append)
and stored in the ``__doc`` column without Parquet compression, so each lies as one contiguous
byte range in the file; the ``.docidx`` file beside it records those ranges, so a reader fetches
one document with one slice instead of decompressing whole column chunks.
"""

from __future__ import annotations

import contextlib
import gc
import os
import struct
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import zstandard

from vigil.engine.model import Event, materialize
from vigil.store.columns import DOC, ID, INDEX, SEQ, HotField, RowBuilder, Storage, flag_column
from vigil.store.errors import StoreError
from vigil.store.manifest import (
    DICTS,
    NO_DAY,
    TMP,
    FileEntry,
    Manifest,
    clean_leftovers,
    commit_manifest,
    fsync_dir,
    partition_dir,
    read_manifest,
    write_durably,
    writer_lock,
)

DOCIDX_MAGIC = b"VGDX0002"
BATCH_ROWS = 200_000  # rows turned into files at a time (memory: about 1 KB per row)
ROW_GROUP_ROWS = 128 * 1024
DICT_MIN_DOCS = 1_000  # fewer documents than this: no dictionary (zstd needs samples)
DICT_SAMPLES = 4_000  # 0.5 s of training instead of 2.4 s, documents 2% larger
DICT_BYTES = 112_640
COMPRESSION_LEVEL = 3
_MAX_GAP = 1 << 16  # bytes between two documents in a column chunk (a page header at most)
_NANOS_PER_DAY = 86_400 * 1_000_000_000


def _checkpoint(stage: str) -> None:
    """Called between the steps of an append (``written``, ``moved``, ``committed``); tests
    replace it to simulate a crash at that point."""


@dataclass(frozen=True)
class AppendReport:
    """What one append did."""

    events: int  # rows written
    files: int  # Parquet files added
    partitions: tuple[str, ...]  # partition folders that received rows (index=.../day=...)
    bytes: int  # bytes of the files added (document indexes included)
    first_seq: int | None  # sequence numbers given to the rows
    last_seq: int | None
    generation: int  # the manifest generation committed (unchanged when nothing was written)
    skipped: int = 0  # events that could not be stored (their documents are not JSON)
    problems: tuple[str, ...] = ()  # why, for the first few
    cleaned: int = 0  # leftover files of an interrupted append deleted first


@dataclass
class _Pending:
    """Files written under ``_tmp/`` and where they go."""

    moves: list[tuple[Path, Path]] = field(default_factory=list)
    entries: list[FileEntry] = field(default_factory=list)
    dictionaries: dict[int, str] = field(default_factory=dict)


class _Appender:
    """One append in progress (holds the lock's promise: no other writer runs)."""

    def __init__(self, root: Path, manifest: Manifest, batch_rows: int, level: int, raw_docs: bool = False):
        self.root = root
        self.raw_docs = raw_docs
        self.manifest = manifest
        self.fields = manifest.hot_fields
        self.batch_rows = batch_rows
        self.level = level
        self.generation = manifest.generation + 1
        self.tmp = root / TMP / f"gen-{self.generation}-{os.getpid()}"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.pending = _Pending()
        self.seq = manifest.next_seq
        self.builder = RowBuilder(self.fields)
        # The hot columns from the documents' text (Arrow's JSON reader) where the hot fields
        # allow it, else from the decoded documents.
        self.by_text = self.builder.text_supported()
        self.seqs: list[int] = []
        self.ids: list[str] = []
        self.indices: list[str] = []
        self.docs: list[bytes] = []
        self.sources: list[dict[str, Any]] = []
        self.ts: list[int | None] = []
        self.skipped = 0
        self.problems: list[str] = []
        self.dict_id: int | None = max(manifest.dictionaries) if manifest.dictionaries else None
        self.dict_data: zstandard.ZstdCompressionDict | None = None
        if self.dict_id is not None:
            self.dict_data = _load_dictionary(root / manifest.dictionaries[self.dict_id])
        self.file_no = 0
        self.cat_field = next((i for i, f in enumerate(self.fields) if f.path == "event.category"), None)
        self._days: dict[int, str] = {}

    def add(self, ev: Event) -> None:
        if ev.projected:
            materialize(ev)
        if self.raw_docs and ev.raw is not None:
            doc = ev.raw  # the caller's promise: the JSON text of exactly ev.source
        else:
            try:
                doc = orjson.dumps(ev.source)
            except TypeError as exc:
                self.skipped += 1
                if len(self.problems) < 20:
                    self.problems.append(f"event {ev.id or ev.seq}: document cannot be stored as JSON: {exc}")
                return
        self.add_text(ev.index, ev.id, doc, ev.source)

    def add_text(self, index: str, id_: str, doc: bytes, source: dict[str, Any] | None = None) -> None:
        """Add one row: ``doc`` is the JSON text of one JSON object on one line, ``source`` that
        object when the caller has it decoded (else it is decoded here when the hot columns
        need it: see ``by_text``)."""
        self.seqs.append(self.seq)
        self.seq += 1
        self.ids.append(id_)
        self.indices.append(index)
        self.docs.append(doc)
        if not self.by_text:
            self.sources.append(orjson.loads(doc) if source is None else source)
        if len(self.docs) >= self.batch_rows:
            self.flush()

    def day(self, ts: int | None) -> str:
        if ts is None:
            return NO_DAY
        n = ts // _NANOS_PER_DAY
        name = self._days.get(n)
        if name is None:
            try:
                name = datetime.fromtimestamp(n * 86_400, UTC).strftime("%Y-%m-%d")
            except (OverflowError, OSError, ValueError):
                name = NO_DAY
            self._days[n] = name
        return name

    def flush(self) -> None:
        if not self.docs:
            return
        # The hot columns of the whole batch at once (RowBuilder.add_texts or add_many).
        self.ts = self.builder.add_texts(self.docs) if self.by_text else self.builder.add_many(self.sources)
        self.sources.clear()
        if self.dict_data is None and len(self.docs) >= DICT_MIN_DOCS:
            self._train()
        groups: dict[tuple[str, str], list[int]] = {}
        day = self.day
        for j, (index, ts) in enumerate(zip(self.indices, self.ts, strict=True)):
            groups.setdefault((index, day(ts)), []).append(j)
        for (index, day_name), rows in groups.items():
            rows.sort(key=lambda j: (self.ts[j] is None, self.ts[j] or 0, self.seqs[j]))
            self._write(index, day_name, rows)
        self.builder.clear()
        for column in (self.seqs, self.ids, self.indices, self.docs, self.ts):
            column.clear()

    def _train(self) -> None:
        step = max(1, len(self.docs) // DICT_SAMPLES)
        samples: list[bytes | bytearray | memoryview] = list(self.docs[::step][:DICT_SAMPLES])
        try:
            trained = zstandard.train_dictionary(DICT_BYTES, samples, level=self.level)
        except zstandard.ZstdError:
            return  # too few or too uniform samples: documents are compressed without one
        new_id = max([0, *self.manifest.dictionaries]) + 1
        rel = f"{DICTS}/{new_id}.zdict"
        tmp = self.tmp / f"{new_id}.zdict"
        write_durably(tmp, trained.as_bytes())
        self.pending.moves.append((tmp, self.root / rel))
        self.pending.dictionaries[new_id] = rel
        self.dict_id, self.dict_data = new_id, trained

    def _compress(self, docs: list[bytes]) -> list[bytes]:
        params: dict[str, Any] = {"level": self.level, "write_content_size": True, "write_checksum": False}
        if self.dict_data is not None:
            params["dict_data"] = self.dict_data
        compressor = zstandard.ZstdCompressor(**params)
        if len(docs) >= 4096 and (os.cpu_count() or 1) > 1:
            try:
                out = compressor.multi_compress_to_buffer(
                    list[bytes | bytearray | memoryview](docs), threads=-1
                )
                return [out[i].tobytes() for i in range(len(out))]
            except (zstandard.ZstdError, AttributeError, NotImplementedError):
                pass
        compress = compressor.compress
        return [compress(d) for d in docs]

    def _write(self, index: str, day: str, rows: list[int]) -> None:
        self.file_no += 1
        folder = partition_dir(index, day)
        name = f"part-{self.generation:06d}-{self.file_no:04d}"
        pick = itemgetter(*rows) if len(rows) > 1 else (lambda seq: (seq[rows[0]],))
        frames = self._compress(list(pick(self.docs)))
        seqs = list(pick(self.seqs))
        ts = list(pick(self.ts))
        ids = list(pick(self.ids))
        columns: dict[str, pa.Array] = {
            SEQ: pa.array(seqs, pa.int64()),
            ID: pa.array(ids, pa.string()),
            INDEX: pa.array([index] * len(rows), pa.string()),
        }
        hot = self.builder.arrays(rows)
        columns.update(hot)
        columns[DOC] = pa.array(frames, pa.binary())
        table = pa.table(columns)
        table = table.cast(_schema_of(table.schema))
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, **_parquet_options(table.schema, self.fields))
        data = sink.getvalue().to_pybytes()
        index_bytes = _doc_index(data, frames, ids)
        tmp_parquet = self.tmp / f"{name}.parquet"
        write_durably(tmp_parquet, data)
        final = self.root / folder / f"{name}.parquet"
        self.pending.moves.append((tmp_parquet, final))
        docidx_rel = None
        size = len(data)
        if index_bytes is not None:
            tmp_idx = self.tmp / f"{name}.docidx"
            write_durably(tmp_idx, index_bytes)
            docidx_rel = f"{folder}/{name}.docidx"
            self.pending.moves.append((tmp_idx, self.root / docidx_rel))
            size += len(index_bytes)
        known = [t for t in ts if t is not None]
        self.pending.entries.append(
            FileEntry(
                path=f"{folder}/{name}.parquet",
                index=index,
                day=day,
                rows=len(rows),
                bytes=size,
                min_seq=min(seqs),
                max_seq=max(seqs),
                min_ts=min(known) if known else None,
                max_ts=max(known) if known else None,
                dictionary=self.dict_id if self.dict_data is not None else None,
                docidx=docidx_rel,
                categories=self._categories(hot),
                irregular=self._irregular(rows),
            )
        )

    def _irregular(self, rows: list[int]) -> tuple[str, ...]:
        """The hot fields some row of a file holds a value of that did not fit the column."""
        flags = self.builder.flags
        seen = 0
        for j in rows:
            seen |= flags[j]
        return tuple(f.path for i, f in enumerate(self.fields) if seen >> i & 1)

    def _categories(self, hot: dict[str, pa.Array]) -> tuple[str, ...] | None:
        """Distinct ``event.category`` values of a file, for pruning (None when some row's
        category did not fit the column)."""
        if self.cat_field is None:
            return None
        flag_name, mask = flag_column(self.cat_field)
        # In Arrow: a flush walked every row's flags and categories in Python (~2 µs a row).
        if pc.any(pc.not_equal(pc.bit_wise_and(hot[flag_name], mask), 0)).as_py():
            return None
        values = hot[self.fields[self.cat_field].column]
        if pa.types.is_list(values.type):
            values = pc.list_flatten(values)
        distinct = pc.unique(values).to_pylist()
        return tuple(sorted(v for v in distinct if isinstance(v, str)))

    def move_into_place(self) -> None:
        folders = set()
        for src, dst in self.pending.moves:
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            folders.add(dst.parent)
        for folder in sorted(folders):
            fsync_dir(folder)

    def commit(self) -> Manifest:
        dictionaries = {**self.manifest.dictionaries, **self.pending.dictionaries}
        new = self.manifest.committed(tuple(self.pending.entries), self.seq, dictionaries)
        commit_manifest(self.root, new)
        return new


def _schema_of(schema: pa.Schema) -> pa.Schema:
    fields = [pa.field(f.name, f.type, nullable=f.name not in (SEQ, ID, INDEX, DOC)) for f in schema]
    return pa.schema(fields)


def _leaf(name: str, dtype: pa.DataType) -> str:
    return f"{name}.list.element" if pa.types.is_list(dtype) else name


def _parquet_options(schema: pa.Schema, fields: Sequence[HotField]) -> dict[str, Any]:
    strings = {f.column for f in fields if f.storage is Storage.STRING}
    leaves = [_leaf(f.name, f.type) for f in schema]
    dictionary = [_leaf(f.name, f.type) for f in schema if f.name in strings or f.name == INDEX]
    return {
        "row_group_size": ROW_GROUP_ROWS,
        "compression": {leaf: ("none" if leaf == DOC else "zstd") for leaf in leaves},
        "use_dictionary": dictionary,
        "write_statistics": [leaf for leaf in leaves if leaf not in (DOC, ID)],
        "data_page_version": "1.0",
    }


def _doc_index(data: bytes, frames: list[bytes], ids: list[str]) -> bytes | None:
    """The ``.docidx`` of a written file: where each document's bytes lie in it, and each row's
    id (a copy of the ``__id`` column, so a reader needs neither Parquet decoding to fetch one
    event). Layout, little-endian: ``DOCIDX_MAGIC``, the row count n, n uint64 offsets, n uint32
    lengths, n + 1 uint32 offsets into the ids' UTF-8 text, the text. None when the documents
    cannot be found (readers then read the columns themselves)."""
    meta = pq.read_metadata(pa.BufferReader(data))
    col = meta.schema.names.index(DOC)
    offsets = array("Q")
    lengths = array("I")
    row = 0
    find = data.find
    starts = data.startswith
    pack = struct.Struct("<I").pack
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        pos = group.column(col).data_page_offset
        for _ in range(group.num_rows):
            frame = frames[row]
            size = pack(len(frame))
            # Usually right where the previous one ended (a page header only now and then).
            if starts(size, pos) and starts(frame, pos + 4):
                at = pos
            else:
                at = find(size + frame, pos)
                if at < 0 or at - pos > _MAX_GAP:
                    return None
            offsets.append(at + 4)
            lengths.append(len(frame))
            pos = at + 4 + len(frame)
            row += 1
    if row != len(frames):
        return None
    text = bytearray()
    id_offsets = array("I", [0])
    for id_ in ids:
        text += id_.encode("utf-8", "surrogatepass")
        id_offsets.append(len(text))
    if len(text) >= 1 << 32:
        return None
    if sys.byteorder != "little":
        for a in (offsets, lengths, id_offsets):
            a.byteswap()
    head = DOCIDX_MAGIC + struct.pack("<Q", row)
    return head + offsets.tobytes() + lengths.tobytes() + id_offsets.tobytes() + bytes(text)


@dataclass(frozen=True)
class DocIndex:
    """A parsed ``.docidx``: per row, its document's byte range in the file and its id."""

    offsets: array[int]
    lengths: array[int]
    id_offsets: array[int]
    ids: bytes

    def id(self, row: int) -> str:
        """The id of row ``row``."""
        return self.ids[self.id_offsets[row] : self.id_offsets[row + 1]].decode("utf-8", "surrogatepass")


def read_doc_index(data: bytes) -> DocIndex | None:
    """Parse a ``.docidx`` file (None when it is not one this version writes)."""
    if len(data) < 16 or data[:8] != DOCIDX_MAGIC:
        return None
    (n,) = struct.unpack_from("<Q", data, 8)
    pos = 16
    arrays = []
    for code, count in (("Q", n), ("I", n), ("I", n + 1)):
        a = array(code)
        size = a.itemsize * count
        if len(data) < pos + size:
            return None
        a.frombytes(data[pos : pos + size])
        if sys.byteorder != "little":
            a.byteswap()
        arrays.append(a)
        pos += size
    ids = data[pos:]
    if arrays[2][-1] != len(ids):
        return None
    return DocIndex(arrays[0], arrays[1], arrays[2], ids)


def _load_dictionary(path: Path) -> zstandard.ZstdCompressionDict:
    try:
        return zstandard.ZstdCompressionDict(path.read_bytes())
    except OSError as exc:
        raise StoreError(f"{path}: cannot read the store's compression dictionary: {exc}") from exc


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during an append: the many objects of a batch live
    until its files are written, and the collector would walk them again and again (it cost three
    times the rest of a flush). Events hold no reference cycles; it runs again afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def append_events(
    root: Path,
    events: Iterable[Event],
    *,
    batch_rows: int = BATCH_ROWS,
    lock_timeout: float = 30.0,
    level: int = COMPRESSION_LEVEL,
    raw_docs: bool = False,
) -> AppendReport:
    """Append ``events`` to the store at ``root`` (which must have a manifest); see the module
    docstring for the steps and what a crash leaves.

    ``raw_docs``: an event's ``raw`` (when not None) is the JSON text of exactly its ``source``
    and is stored as it is (the service's write-ahead log keeps the bytes it was sent)."""

    def feed(appender: _Appender) -> None:
        for ev in events:
            appender.add(ev)

    return _append(root, feed, batch_rows, lock_timeout, level, raw_docs)


def append_texts(
    root: Path,
    rows: Iterable[tuple[str, str, bytes]],
    *,
    batch_rows: int = BATCH_ROWS,
    lock_timeout: float = 30.0,
    level: int = COMPRESSION_LEVEL,
) -> AppendReport:
    """Append documents given as ``(index, id, JSON text)``, each text the JSON of one JSON
    object on one line, stored as it is: :func:`append_events` for callers that hold the text
    and have not decoded it (the service's flush, from its write-ahead log). The hot columns are
    read from the text (see :mod:`vigil.store.textcols`), so most documents are never decoded
    in Python."""

    def feed(appender: _Appender) -> None:
        for index, id_, text in rows:
            appender.add_text(index, id_, text)

    return _append(root, feed, batch_rows, lock_timeout, level, True)


def _append(
    root: Path,
    feed: Callable[[_Appender], None],
    batch_rows: int,
    lock_timeout: float,
    level: int,
    raw_docs: bool,
) -> AppendReport:
    with writer_lock(root, lock_timeout), _collector_paused():
        manifest = read_manifest(root)
        if manifest is None:
            raise StoreError(f"{root}: not an event store (no manifest)")
        cleaned = clean_leftovers(root, manifest)
        appender = _Appender(root, manifest, max(1, batch_rows), level, raw_docs)
        try:
            feed(appender)
            appender.flush()
            _checkpoint("written")
            written = appender.pending.entries
            if written:
                appender.move_into_place()
                _checkpoint("moved")
                manifest = appender.commit()
                _checkpoint("committed")
        finally:
            # A failed append leaves its temporary files to the next writer's cleaning; a
            # finished one has moved them all, so only the empty folder remains.
            with contextlib.suppress(OSError):
                appender.tmp.rmdir()
        partitions = tuple(sorted({e.path.rsplit("/", 1)[0] for e in written}))
        seqs = [s for e in written for s in (e.min_seq, e.max_seq)]
        return AppendReport(
            events=sum(e.rows for e in written),
            files=len(written),
            partitions=partitions,
            bytes=sum(e.bytes for e in written),
            first_seq=min(seqs) if seqs else None,
            last_seq=max(seqs) if seqs else None,
            generation=manifest.generation,
            skipped=appender.skipped,
            problems=tuple(appender.problems),
            cleaned=len(cleaned),
        )
