"""Many queries over the store in one scan: each event comes once, tagged with the queries that may
need it, so that a thousand rules read the store once and each is offered only its own candidates.

The statement tests every filter's may-true condition (see :mod:`vigil.store.pushdown`) once per
row, grouped by category (a ``CASE`` branch runs on the rows of its category alone), and lists,
per row, the numbers of the filters ("stages") that hold, with the values of the sequences' and
samples' key columns and their flag columns. An event query's stage tags its row at once. The
stages of a keyed query (a sequence or sample) are narrowed here, in Python, exactly as
:func:`vigil.store.reader.candidates_sql` narrows one query in SQL: a row of a stage is kept when
its key did not fit its column, or when every other required stage has a row with the same key
(``?field`` key positions join nulls; other positions never do) or a row whose key did not fit.
Hundreds of sequences as SQL semi-joins cost far more to plan and run than this.

Memory: the statement's result (the rows some stage holds, with their keys) is written by DuckDB
to a temporary Parquet file (under the system's temporary folder, ``TMPDIR``), then read twice a
batch at a time: first the key sets of every stage, then the rows kept. What stays in memory is
one batch and the distinct keys of the keyed stages, not the result, which grows with the store.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from vigil.engine.model import Event
from vigil.eql import ast
from vigil.store.columns import Storage
from vigil.store.errors import StoreError
from vigil.store.manifest import FileEntry, Manifest
from vigil.store.pushdown import FALSE, TRUE, _and, _lambda, ident, sql_string
from vigil.store.reader import (
    DocumentReader,
    IndexFilter,
    QueryItem,
    QueryPlan,
    _source,
    _time_sql,
    chosen_files,
    plan_query,
    scope_sql,
    union_files,
)

_BATCH = 65_536
#: DuckDB's memory for the many-rule statement (its sort spills to disk past it).
SPILL_MEMORY = "256MB"


@dataclass(frozen=True)
class Stage:
    """One filter of one query, as numbered in the statement's ``__t`` lists."""

    query: int  # position of its query in the queries given
    keyed: int | None  # position of its plan in :attr:`TaggedPlan.keyed`; None: an event query
    step: int  # the filter's number in its query's plan


@dataclass(frozen=True)
class TaggedPlan:
    """The statement and what is needed to read its rows."""

    sql: str
    files: tuple[FileEntry, ...]  # ``file_index`` of a row is its position here
    stages: tuple[Stage, ...]
    keyed: tuple[QueryPlan, ...]
    columns: tuple[str, ...]  # key and flag columns the statement returns, by name


def tagged_sql(
    root: Path,
    manifest: Manifest,
    queries: Sequence[QueryItem],
    *,
    start: int | None = None,
    end: int | None = None,
    index: IndexFilter | None = None,
) -> TaggedPlan | None:
    """The one statement of :func:`run_tagged` (None when no file can hold a candidate)."""
    chosen_of = chosen_files(manifest, queries, start=start, end=end, index=index)
    if not chosen_of:
        return None
    files = union_files(chosen_of)
    every = frozenset(f.index for f in files)
    stages: list[Stage] = []
    keyed: list[QueryPlan] = []
    terms: list[tuple[int, str, str]] = []  # (stage number, category test, the rest)
    columns: set[str] = set()
    derived: dict[str, str] = {}
    for n, compiled, chosen in chosen_of:
        plan = plan_query(compiled, manifest, chosen, read=files, derived=derived)
        scope = scope_sql(plan.scope, every)
        is_keyed = not isinstance(compiled.query.body, ast.EventQuery)
        if is_keyed:
            keyed.append(plan)
        for step, st in enumerate(plan.stages):
            number = len(stages)
            stages.append(Stage(n, len(keyed) - 1 if is_keyed else None, step))
            rest = _and(scope, st.rest)
            if _and(st.category, rest) != FALSE:
                terms.append((number, st.category, rest))
            columns.update(st.key_columns)
            columns.update(name for name, _mask in st.key_flag_bits)
    time_where = _time_sql(start, end)
    if not terms or time_where == FALSE:
        return None
    names = tuple(sorted(columns))
    picked = "".join(f", {ident(c)}" for c in names)
    scan = _source(root, files)
    if derived:
        # Each lowercased value and non-ASCII test once a row, however many rules use it.
        made = ", ".join(f"{expr} AS {alias}" for alias, expr in sorted(derived.items()))
        scan = f"(SELECT *, file_index, file_row_number, {made} FROM {scan} WHERE {time_where})"
    sql = (
        f"SELECT * FROM (SELECT __seq, file_index, file_row_number{picked}, {tags_sql(terms)} AS __t "
        f"FROM {scan} WHERE {time_where}) WHERE len(__t) > 0 ORDER BY __seq"
    )
    return TaggedPlan(sql, files, tuple(stages), tuple(keyed), names)


def tags_sql(terms: Sequence[tuple[int, str, str]]) -> str:
    """SQL of the list of the numbers whose condition holds on a row (``terms``: number,
    category test, the rest of the condition). Each condition is tested once a row, and only
    on the rows of its category: one test of a category serves every term of that category."""
    by_category: dict[str, list[tuple[int, str]]] = {}
    for n, category, rest in terms:
        by_category.setdefault(category, []).append((n, rest))
    keep = _lambda("x", "x IS NOT NULL")
    groups = []
    for category, members in by_category.items():
        cases = ", ".join(f"CASE WHEN {rest} THEN {n} END" for n, rest in members)
        listed = f"list_filter([{cases}], {keep})"
        groups.append(listed if category == TRUE else f"CASE WHEN {category} THEN {listed} ELSE [] END")
    return groups[0] if len(groups) == 1 else f"flatten([{', '.join(groups)}])"


# --------------------------------------------------------------------------- the key narrowing


class KeyedNarrowing:
    """The semi-join of one keyed query's stages, fed in two passes: :meth:`add` every row of
    every stage, then :meth:`keeps` tells whether a row of a stage may be part of a match."""

    def __init__(self, plan: QueryPlan):
        self.optional = plan.optional
        self.required = [i for i, st in enumerate(plan.stages) if st.required]
        self.keys: list[set[tuple[Any, ...]]] = [set() for _st in plan.stages]
        self.flagged = [False] * len(plan.stages)
        # A null joins only at a ``?field`` position (SQL: IS NOT DISTINCT FROM, else =).
        self._mixed = any(plan.optional) and not all(plan.optional)
        self._nulls_join = all(plan.optional)

    def _joinable(self, key: tuple[Any, ...]) -> bool:
        if self._mixed:
            return all(v is not None or opt for v, opt in zip(key, self.optional, strict=True))
        return self._nulls_join or None not in key

    def add(self, step: int, key: tuple[Any, ...], flagged: bool) -> None:
        """A row of stage ``step`` with key ``key`` (``flagged``: a key value did not fit, or is
        one SQL and Python compare differently, see :func:`odd`)."""
        if flagged:
            self.flagged[step] = True
        if self._joinable(key):
            self.keys[step].add(key)

    def keeps(self, step: int, key: tuple[Any, ...], flagged: bool) -> bool:
        """Whether the row of stage ``step`` may be part of a match (after every :meth:`add`)."""
        if flagged:
            return True
        joinable = self._joinable(key)
        for r in self.required:
            if r != step and not self.flagged[r] and not (joinable and key in self.keys[r]):
                return False
        return True


def odd(key: tuple[Any, ...]) -> bool:
    """A key SQL and Python compare differently (a NaN: DuckDB finds it equal to itself): such a
    row is treated as flagged, kept and matching every row."""
    return any(type(v) is float and math.isnan(v) for v in key)


def run_tagged(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    manifest: Manifest,
    plan: TaggedPlan | None,
    *,
    close: bool = False,
) -> Iterator[tuple[Event, tuple[int, ...]]]:
    """Run a tagged statement and yield, in ``__seq`` order, each event that some query may need
    with the (sorted) positions of those queries (``close``: close ``con`` once the rows are
    fetched)."""
    if plan is None:
        if close:
            con.close()
        return
    with tempfile.TemporaryDirectory(prefix="vigil-tagged-") as tmp:
        spill = Path(tmp) / "rows.parquet"
        try:
            # The result in the statement's order (ORDER BY __seq), written as DuckDB makes it.
            con.execute("SET preserve_insertion_order = true")
            # The sort spills to disk rather than holding the whole result in memory.
            con.execute(f"SET temp_directory = {sql_string(tmp)}")
            con.execute(f"SET memory_limit = '{SPILL_MEMORY}'")
            con.execute(
                f"COPY ({plan.sql}) TO {sql_string(str(spill))} (FORMAT parquet, ROW_GROUP_SIZE {_BATCH})"
            )
        except duckdb.Error as exc:
            raise StoreError(f"{root}: the store's files cannot be read: {exc}") from exc
        finally:
            if close:
                con.close()
        yield from _tagged_rows(spill, root, manifest, plan)


def _tagged_rows(
    spill: Path, root: Path, manifest: Manifest, plan: TaggedPlan
) -> Iterator[tuple[Event, tuple[int, ...]]]:
    """The events of the spilled result (see :func:`run_tagged`) with the queries that may need
    them, the keyed stages narrowed first."""
    stages = plan.stages
    narrowings = [KeyedNarrowing(p) for p in plan.keyed]
    # Per stage: where its key values and flag bits are in a row of :func:`_rows`.
    position = {name: 3 + i for i, name in enumerate(plan.columns)}
    doubles = {f.column for f in manifest.hot_fields if f.storage is Storage.DOUBLE}
    Read = tuple[tuple[int, ...], tuple[tuple[int, int], ...], bool]
    reads: list[Read | None] = []
    for st in stages:
        if st.keyed is None:
            reads.append(None)
            continue
        sp = plan.keyed[st.keyed].stages[st.step]
        reads.append(
            (
                tuple(position[c] for c in sp.key_columns),
                tuple((position[name], mask) for name, mask in sp.key_flag_bits),
                any(c in doubles for c in sp.key_columns),
            )
        )

    def key_of(row: tuple[Any, ...], read: Read) -> tuple[tuple[Any, ...], bool]:
        cols, bits, floats = read
        key = tuple([row[c] for c in cols])
        flagged = any((row[c] or 0) & mask for c, mask in bits) if bits else False
        return key, flagged or (floats and odd(key))

    if narrowings:
        for row in _rows(spill, plan.columns):
            for s in row[-1]:
                read = reads[s]
                if read is not None:
                    key, flagged = key_of(row, read)
                    narrowings[stages[s].keyed].add(stages[s].step, key, flagged)
    reader = DocumentReader(root, manifest)
    try:
        for row in _rows(spill, plan.columns):
            wanted: set[int] = set()
            for s in row[-1]:
                st, read = stages[s], reads[s]
                if read is None:
                    wanted.add(st.query)
                elif st.query not in wanted:
                    key, flagged = key_of(row, read)
                    if narrowings[st.keyed].keeps(st.step, key, flagged):
                        wanted.add(st.query)
            if wanted:
                yield reader.event(plan.files[row[1]], row[2], row[0]), tuple(sorted(wanted))
    finally:
        reader.close()


def _rows(spill: Path, columns: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """The rows of the spilled result a batch at a time: (``__seq``, ``file_index``,
    ``file_row_number``, the key and flag columns..., ``__t``)."""
    names = ["__seq", "file_index", "file_row_number", *columns, "__t"]
    with pq.ParquetFile(spill) as f:
        for batch in f.iter_batches(batch_size=_BATCH, columns=names):
            yield from zip(*(batch.column(n).to_pylist() for n in names), strict=True)
