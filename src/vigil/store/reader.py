"""Reading candidates out of the store: push-down in DuckDB, then documents by position.

For a set of compiled queries the reader

1. picks the committed files that may hold candidates: by index (the caller's predicate), by time
   (the files' ``@timestamp`` range) and by category (a file none of whose ``event.category``
   values any filter of a query asks for is skipped for that query);
2. asks DuckDB for the rows any filter of any query may match (:mod:`vigil.store.pushdown`),
   narrowing the steps of a sequence or sample that has join keys to the rows whose keys occur in
   every *required* step (a sequence's positive steps, every filter of a sample): ``until`` and
   missing-event steps are narrowed too but never narrow the others;
3. reads each candidate's document from its byte range (``.docidx``) and yields the events in
   input order (``__seq``), with the id, index and document the plain reader gives.

The exact evaluator then runs on these events as on any input: it is what decides.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from vigil.engine.model import Event
from vigil.engine.runner import CompiledQuery
from vigil.eql import ast
from vigil.store.columns import DOC, ID, HotField
from vigil.store.errors import StoreError
from vigil.store.manifest import FileEntry, Manifest
from vigil.store.pushdown import FALSE, TRUE, Translator, _and, _or, sql_string
from vigil.store.writer import read_doc_index

IndexFilter = Callable[[str], bool]
QueryItem = CompiledQuery | tuple[CompiledQuery, IndexFilter | None]
_LOCATOR = "__seq, __id, __index, filename, file_row_number"


@dataclass(frozen=True)
class StagePlan:
    """One filter of a query as SQL, with the join keys it is narrowed on."""

    where: str  # may-true condition of the filter (and its keys being present)
    keys: tuple[str, ...]  # SQL of the key positions used for narrowing
    key_flags: str  # SQL: some used key value did not fit its column
    required: bool  # every match needs an event of this filter
    category: str = TRUE  # the part of ``where`` that tests the category
    rest: str = TRUE  # the rest of ``where``: ``where`` is ``category AND rest``
    key_columns: tuple[str, ...] = ()  # the columns ``keys`` reads, in order
    key_flag_bits: tuple[tuple[str, int], ...] = ()  # (flag column, mask) ``key_flags`` tests


@dataclass(frozen=True)
class QueryPlan:
    """What one query needs from the store."""

    files: tuple[FileEntry, ...]
    stages: tuple[StagePlan, ...]
    keyed: bool  # a sequence or sample: stages narrowed by keys
    optional: tuple[bool, ...]  # per used key position: nulls join (``?field`` keys)
    scope: frozenset[str]  # the indices in scope


def _columns(manifest: Manifest) -> dict[str, tuple[int, HotField]]:
    return {f.path: (i, f) for i, f in enumerate(manifest.hot_fields)}


def _filters(body: ast.QueryBody) -> list[tuple[ast.SequenceStep | None, ast.EventQuery, bool]]:
    """(step, filter, required) for every filter of a query body."""
    if isinstance(body, ast.EventQuery):
        return [(None, body, True)]
    out: list[tuple[ast.SequenceStep | None, ast.EventQuery, bool]] = [
        (s, s.query, not s.missing) for s in body.steps
    ]
    if isinstance(body, ast.SequenceQuery) and body.until is not None:
        out.append((body.until, body.until.query, False))
    return out


def select_files(
    compiled: CompiledQuery,
    manifest: Manifest,
    *,
    index: IndexFilter | None = None,
    start: int | None = None,
    end: int | None = None,
) -> list[FileEntry]:
    """The committed files that may hold candidates of a query: by index, time and category."""
    files = [f for f in manifest.files if _in_time(f, start, end) and (index is None or index(f.index))]
    return _prune_by_category(files, _filters(compiled.query.body), compiled, _columns(manifest))


def plan_query(
    compiled: CompiledQuery,
    manifest: Manifest,
    files: Sequence[FileEntry],
    *,
    read: Sequence[FileEntry] | None = None,
    derived: dict[str, str] | None = None,
) -> QueryPlan:
    """The SQL conditions one compiled query needs over ``files`` (see the module docstring).
    ``read``: every file the statement scans (default ``files``), whose irregular fields decide
    which flag bits the conditions test; ``derived``: see :class:`Translator`."""
    columns = _columns(manifest)
    scope = sorted({f.index for f in files})
    irregular = _irregular(read if read is not None else files)
    tr = Translator(columns, compiled.schemas, scope, irregular, derived)
    body = compiled.query.body
    cat_field = compiled.options.event_category_field
    filters = _filters(body)
    keyed = not isinstance(body, ast.EventQuery)
    shared = () if isinstance(body, ast.EventQuery) else body.keys
    key_exprs = [(*shared, *(step.keys if step is not None else ())) for step, _q, _r in filters]
    width = min((len(k) for k in key_exprs), default=0)
    refs = [[tr.column(k[p]) for p in range(width)] for k in key_exprs]
    used: list[int] = []
    for p in range(width):
        col = [r[p] for r in refs]
        usable = all(c is not None and c.only is None and not c.hot.many for c in col)
        if usable and len({c.hot.storage for c in col if c is not None}) == 1:
            used.append(p)
    optional = tuple(any(_optional(k[p]) for k in key_exprs) for p in used)
    stages = []
    for (_step, query, required), exprs, row in zip(filters, key_exprs, refs, strict=True):
        category, cond = tr.filter_parts(query, cat_field)
        present = [
            _or(f"{ref.sql} IS NOT NULL", ref.flag)
            for p, ref in enumerate(row)
            if ref is not None and ref.only is None and not _optional(exprs[p])
        ]
        key_refs = [ref for p, ref in enumerate(row) if p in used and ref is not None]
        keys = tuple(ref.sql for ref in key_refs)
        flags = _or(*(ref.flag for ref in key_refs))
        rest = _and(cond, *present)
        key_columns = tuple(ref.hot.column for ref in key_refs)
        bits = tuple(ref.flag_bit for ref in key_refs if ref.flag_bit is not None)
        stages.append(
            StagePlan(_and(category, rest), keys, flags, required, category, rest, key_columns, bits)
        )
    return QueryPlan(tuple(files), tuple(stages), keyed, optional, frozenset(scope))


def _irregular(files: Sequence[FileEntry]) -> frozenset[str] | None:
    out: set[str] = set()
    for f in files:
        if f.irregular is None:
            return None
        out.update(f.irregular)
    return frozenset(out)


def _optional(expr: ast.Expr) -> bool:
    return (isinstance(expr, ast.Field) and expr.optional) or (
        isinstance(expr, ast.Literal) and expr.value is None
    )


def _in_time(f: FileEntry, start: int | None, end: int | None) -> bool:
    if start is None and end is None:
        return True
    if f.min_ts is None or f.max_ts is None:
        return False
    return (start is None or f.max_ts >= start) and (end is None or f.min_ts <= end)


def _prune_by_category(
    files: list[FileEntry],
    filters: list[tuple[ast.SequenceStep | None, ast.EventQuery, bool]],
    compiled: CompiledQuery,
    columns: Mapping[str, tuple[int, HotField]],
) -> list[FileEntry]:
    """Drop the files none of whose rows can pass any filter's category test (exactly known only
    when the category field is the ``event.category`` column, as the file's index maps it)."""
    wanted = {q.category for _s, q, _r in filters}
    if None in wanted or compiled.options.event_category_field != "event.category":
        return files
    hot = columns.get("event.category")
    if hot is None:
        return files
    out = []
    for f in files:
        schema = compiled.schemas.for_index(f.index)
        exact = (
            schema.resolve("event.category") == "event.category"
            and schema.spec("event.category") == hot[1].spec
        )
        if f.categories is None or not exact or wanted & set(f.categories):
            out.append(f)
    return out


def _source(root: Path, files: Sequence[FileEntry]) -> str:
    paths = ", ".join(sql_string(str(root / f.path)) or "''" for f in files)
    return f"read_parquet([{paths}])"


def _time_sql(start: int | None, end: int | None) -> str:
    parts = []
    if start is not None:
        parts.append(f'"__ts" >= {int(start)}')
    if end is not None:
        parts.append(f'"__ts" <= {int(end)}')
    return _and(*parts)


@dataclass(frozen=True)
class CandidateSQL:
    """A statement listing candidate rows as (``__seq``, ``__src``, ``file_index``,
    ``file_row_number``) in ``__seq`` order: ``sources[__src][file_index]`` is the row's file.
    A row may be listed more than once (by several sources)."""

    sql: str
    sources: tuple[tuple[FileEntry, ...], ...]


_LOCATOR = "__seq, file_index, file_row_number"


def candidates_sql(
    root: Path,
    manifest: Manifest,
    queries: Sequence[QueryItem],
    *,
    start: int | None = None,
    end: int | None = None,
    index: IndexFilter | None = None,
) -> CandidateSQL | None:
    """One SQL statement listing the candidate rows of every query (see :class:`CandidateSQL`);
    None when no file can hold one (:mod:`vigil.store.tagged` reads many queries apart)."""
    time_where = _time_sql(start, end)
    ctes: list[str] = []
    selects: list[str] = []
    sources: list[tuple[FileEntry, ...]] = []
    simple: list[tuple[int, CompiledQuery, list[FileEntry]]] = []
    for n, compiled, chosen in chosen_files(manifest, queries, start=start, end=end, index=index):
        if isinstance(compiled.query.body, ast.EventQuery):
            simple.append((n, compiled, chosen))  # one scan for every event query, below
            continue
        plan = plan_query(compiled, manifest, chosen)
        sources.append(plan.files)
        _keyed_sql(f"q{n}", plan, root, len(sources) - 1, time_where, ctes, selects)
    if simple:
        files = union_files(simple)
        every = frozenset(f.index for f in files)
        terms: list[tuple[int, str, str]] = []  # (query number, category test, the rest)
        for n, compiled, chosen in simple:
            plan = plan_query(compiled, manifest, chosen, read=files)
            stage = plan.stages[0]
            rest = _and(scope_sql(plan.scope, every), stage.rest)
            if _and(stage.category, rest) != FALSE:
                terms.append((n, stage.category, rest))
        if terms and _and(time_where, _or(*(_and(c, r) for _n, c, r in terms))) != FALSE:
            sources.append(files)
            where = _and(time_where, _or(*(_and(c, r) for _n, c, r in terms)))
            selects.append(
                f"SELECT {_LOCATOR}, {len(sources) - 1} AS __src FROM {_source(root, files)} WHERE {where}"
            )
    if not selects:
        return None
    with_ = ("WITH " + ",\n".join(ctes) + "\n") if ctes else ""
    union = "\nUNION ALL\n".join(selects)
    return CandidateSQL(f"{with_}SELECT * FROM (\n{union}\n) ORDER BY __seq", tuple(sources))


def chosen_files(
    manifest: Manifest,
    queries: Sequence[QueryItem],
    *,
    start: int | None = None,
    end: int | None = None,
    index: IndexFilter | None = None,
) -> list[tuple[int, CompiledQuery, list[FileEntry]]]:
    """(position, query, the files that may hold its candidates) of every query some file may
    serve (see :func:`select_files`; a query's own index filter narrows ``index``)."""
    out = []
    for n, item in enumerate(queries):
        compiled, own = item if isinstance(item, tuple) else (item, None)
        chosen = select_files(compiled, manifest, index=_both(index, own), start=start, end=end)
        if chosen:
            out.append((n, compiled, chosen))
    return out


def union_files(chosen: Sequence[tuple[int, CompiledQuery, list[FileEntry]]]) -> tuple[FileEntry, ...]:
    """Every file chosen for some query (:func:`chosen_files`), once, by path: one scan's list."""
    return tuple(sorted({f.path: f for _n, _c, fs in chosen for f in fs}.values(), key=lambda f: f.path))


def scope_sql(scope: frozenset[str], every: frozenset[str]) -> str:
    """The condition keeping a query's rows to its indices in a scan of ``every`` index."""
    if scope == every:
        return TRUE
    names = ", ".join(s for s in (sql_string(i) for i in sorted(scope)) if s)
    return f'"__index" IN ({names})' if names else FALSE


def events_sql(
    root: Path,
    manifest: Manifest,
    *,
    start: int | None = None,
    end: int | None = None,
    index: IndexFilter | None = None,
) -> CandidateSQL | None:
    """A statement listing every stored row (optionally by time and index)."""
    files = tuple(f for f in manifest.files if _in_time(f, start, end) and (index is None or index(f.index)))
    if not files:
        return None
    where = _time_sql(start, end)
    sql = f"SELECT {_LOCATOR}, 0 AS __src FROM {_source(root, files)} WHERE {where} ORDER BY __seq"
    return CandidateSQL(sql, (files,))


def _both(a: IndexFilter | None, b: IndexFilter | None) -> IndexFilter | None:
    if a is None or b is None:
        return a or b
    return lambda ix: a(ix) and b(ix)


def _keyed_sql(
    name: str,
    plan: QueryPlan,
    root: Path,
    src: int,
    time_where: str,
    ctes: list[str],
    selects: list[str],
) -> None:
    """CTEs of a sequence's or sample's steps, and the narrowed selects of each."""
    source = _source(root, plan.files)
    for i, st in enumerate(plan.stages):
        keys = "".join(f", {k} AS __k{p}" for p, k in enumerate(st.keys))
        where = _and(time_where, st.where)
        ctes.append(
            f"{name}_{i} AS MATERIALIZED (SELECT {_LOCATOR}{keys}, {st.key_flags} AS __kf "
            f"FROM {source} WHERE {where})"
        )
    required = [i for i, st in enumerate(plan.stages) if st.required]
    for i, _st in enumerate(plan.stages):
        conds = []
        for r in required:
            if r == i:
                continue
            match = _and(
                *(
                    f"b.__k{p} {'IS NOT DISTINCT FROM' if opt else '='} a.__k{p}"
                    for p, opt in enumerate(plan.optional)
                )
            )
            other = f"{name}_{r}"
            conds.append(
                _or(
                    f"EXISTS (SELECT 1 FROM {other} b WHERE {match})",
                    f"EXISTS (SELECT 1 FROM {other} b WHERE b.__kf)",
                )
            )
        where = _or("a.__kf", _and(*conds)) if conds else TRUE
        selects.append(f"SELECT {_LOCATOR}, {src} AS __src FROM {name}_{i} a WHERE {where}")


class DocumentReader:
    """Events by (file, row): the document is one slice of the memory-mapped file and the id
    one slice of the text in its ``.docidx``; a file without one has its ``__doc`` and ``__id``
    columns read whole."""

    def __init__(self, root: Path, manifest: Manifest):
        self.root = root
        self.dictionaries = manifest.dictionaries
        self._open: dict[str, tuple[Any, ...]] = {}
        self._decompressors: dict[int | None, zstandard.ZstdDecompressor] = {}

    def _decompressor(self, dict_id: int | None) -> zstandard.ZstdDecompressor:
        d = self._decompressors.get(dict_id)
        if d is None:
            if dict_id is None:
                d = zstandard.ZstdDecompressor()
            else:
                data = (self.root / self.dictionaries[dict_id]).read_bytes()
                d = zstandard.ZstdDecompressor(dict_data=zstandard.ZstdCompressionDict(data))
            self._decompressors[dict_id] = d
        return d

    def _file(self, entry: FileEntry) -> tuple[Any, ...]:
        path = self.root / entry.path
        decompress = self._decompressor(entry.dictionary).decompress
        index = None
        if entry.docidx is not None:
            try:
                index = read_doc_index((self.root / entry.docidx).read_bytes())
            except OSError:
                index = None
        try:
            if index is not None:
                with open(path, "rb") as f:
                    mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                opened: tuple[Any, ...] = ("mmap", mapped, index, decompress)
            else:
                table = pq.read_table(path, columns=[ID, DOC], memory_map=True)
                opened = ("columns", table.column(DOC), table.column(ID), decompress)
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(f"{path}: cannot read: {exc}") from exc
        self._open[entry.path] = opened
        return opened

    def event(self, entry: FileEntry, row: int, seq: int) -> Event:
        """The event of row ``row`` of a file."""
        opened = self._open.get(entry.path) or self._file(entry)
        kind, data, index, decompress = opened
        if kind == "mmap":
            off = index.offsets[row]
            frame = data[off : off + index.lengths[row]]
            id_ = index.id(row)
        else:
            frame = data[row].as_py()
            id_ = index[row].as_py()
        try:
            doc = orjson.loads(decompress(frame))
        except (zstandard.ZstdError, orjson.JSONDecodeError) as exc:
            raise StoreError(f"{entry.path}: row {row}: damaged document: {exc}") from exc
        if not isinstance(doc, dict):
            raise StoreError(f"{entry.path}: row {row}: damaged document (not a JSON object)")
        return Event(doc, entry.index, id_, seq)

    def close(self) -> None:
        """Release the mapped files."""
        for kind, data, *_rest in self._open.values():
            if kind == "mmap":
                data.close()
        self._open.clear()


def run_candidates(
    con: duckdb.DuckDBPyConnection, root: Path, manifest: Manifest, plan: CandidateSQL | None
) -> Iterator[Event]:
    """Run a candidates statement and yield its events in ``__seq`` order, each once."""
    if plan is None:
        return
    try:
        rel = con.sql(plan.sql)
        table = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
    except duckdb.Error as exc:
        raise StoreError(f"{root}: the store's files cannot be read: {exc}") from exc
    seqs = table.column("__seq").to_pylist()
    srcs = table.column("__src").to_pylist()
    files = table.column("file_index").to_pylist()
    rows = table.column("file_row_number").to_pylist()
    del table
    sources = plan.sources
    reader = DocumentReader(root, manifest)
    event = reader.event
    last = None
    try:
        for seq, src, file_no, row in zip(seqs, srcs, files, rows, strict=True):
            if seq == last:
                continue  # the same row found by another query or source
            last = seq
            yield event(sources[src][file_no], row, seq)
    finally:
        reader.close()
