"""Which rules a batch of NDJSON lines may concern, answered column by column.

A hunt with many rules spends most of its time deciding, event by event, which rules to offer
each event to. This filter decides it for a batch of lines at once, before any line is decoded:

1. Arrow's JSON reader (:class:`vigil.store.textcols.JsonColumns`) reads the fields the rules'
   filters test into columns of raw JSON values (the values ``orjson`` would give; a null is a
   missing value). Rows it cannot read so (a dotted key such as ``"process.name": ...``, a value
   whose JSON type differs from the rest of its column and cannot be split away, a line that is
   no JSON object) are *left over*: every rule gets them, as without this filter.
2. Each filter of each rule (a query's category test and condition; every step of a sequence or
   sample, ``until`` included) becomes a small program over *leaves*: the largest
   sub-expressions below ``and``/``or``/``not`` that read one field. A leaf is evaluated by the
   exact evaluator's own compiled predicate, once per distinct value of its field (remembered
   across batches), on a document holding that value alone at the field's path. The field
   reader gives the same value there as in the event (same raw value, same path, no dotted
   key), so the leaf's answer is the event's.
3. The programs combine the leaves' answers over whole columns as two halves per node, as the
   store's push-down does (:mod:`vigil.store.pushdown`): "may be true" and "may be false".
   ``not`` swaps them, ``and``/``or`` combine them, which is Kleene's three-valued logic when
   every leaf is known; a node reading several fields, or none, is unknown (both halves set),
   and a leaf that raised is unknown for that value. A rule is a candidate for a row when some
   filter of the rule may be true on it.

A rule whose filters are all known is told, with an event, which of them are true on it (on rows
no leaf raised on): it does not test them again. Otherwise, never a missed match: a candidate
superset, which the rules then test exactly as before. Leaves
on fields whose mapping has a ``null_value`` (an explicit null and a missing value then differ),
on object fields, or on fields that are the parent of another tested field are unknown.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick_rs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.ecs.schema import FieldSpec, FieldType, Schema
from vigil.engine.compile import ExprCompiler, parsed_address
from vigil.engine.dispatch import bits
from vigil.engine.typed import begin_event, end_event, make_field_reader
from vigil.eql import ast
from vigil.eql.patterns import ascii_fold

#: Lines read per batch: Arrow is fast over large buffers, and each batch costs a few
#: milliseconds whatever its size (every column's distinct values, the key gate's columns).
#: 16,384 lines (a whole 16 MB range of 1.5 KB events) against 4,096: 18.4 s against 19.3 s
#: for 1,000 rules over 1,000,000 events, and the same peak memory over 10,000,000 (725 MiB);
#: 32,768 was no faster.
BATCH_LINES = 16384
#: Distinct values whose leaf answers are remembered per field (cleared when exceeded): values
#: that repeat (names, categories, ports) are few; unique ones (paths, addresses) would only
#: grow a worker's memory (200,000 a field: +250 MiB a worker over 1,000,000 lines, still
#: growing; 20,000: +166 MiB, flat from 600,000 lines on, and no slower).
MEMO_VALUES = 20_000
#: A leaf true (or false) on at most this many distinct values of a batch gets its rows as the
#: union of those values' rows.
FEW_VALUES = 4
#: After a batch whose rows were mostly left over, this many batches skip the filter.
PAUSE_BATCHES = 8
#: Batches between two returns of Arrow's freed memory to the system (see ColumnarFilter.masks).
RELEASE_EVERY = 64

_F, _N, _T, _U = 0, 1, 2, 3  # a leaf's answer: false, null, true, unknown (it raised)
_SOURCE_KEY = b'"_source"'  # a search hit per line: its event is under _source


@dataclass(frozen=True)
class _Column:
    """One field the leaves read (``path``, ``spec`` and ``many`` as JsonColumns reads them)."""

    path: str
    spec: FieldSpec | None
    many: bool = False


# A program node: ("leaf", leaf number) | ("const", True or False) | ("unknown",) | ("not", node)
# | ("and"|"or", [nodes]).
Node = tuple[Any, ...]


def _known(node: Node) -> bool:
    """Whether no node of a program is unknown."""
    if node[0] in ("leaf", "const"):
        return True
    if node[0] == "unknown":
        return False
    if node[0] == "not":
        return _known(node[1])
    return all(_known(x) for x in node[1])


def _fields_of(expr: ast.Expr) -> set[str]:
    return {node.path for node in ast.walk(expr) if isinstance(node, ast.Field)}


class ColumnarFilter:
    """The candidate rules of each line of a batch (see the module docstring).

    ``filters[i]``: the filters of rule ``i`` as ``(category field, query)`` pairs, or None for
    a rule that gets every line. :meth:`masks` answers a batch; :attr:`last_line`,
    :attr:`last_mask` and :attr:`last_exact` describe the line last handed on (the reader
    yields that line's event next; see :class:`vigil.rules.scheduler.Collector`)."""

    def __init__(self, filters: Sequence[Sequence[tuple[str, ast.EventQuery]] | None], schema: Schema):
        self.schema = schema
        self.compiler = ExprCompiler(schema)
        self.leaves: list[tuple[int, Any]] = []  # (column number, compiled predicate)
        self._exprs: list[ast.Expr] = []  # each leaf's expression
        self._evaluators: dict[int, Callable[[dict[str, Any]], bytes]] = {}
        self._leaf_numbers: dict[tuple[str, ast.Expr], int] = {}
        self._column_numbers: dict[str, int] = {}
        self.columns: list[_Column] = []
        self.programs: list[list[Node] | None] = []
        tested = {self._resolved(p) for fs in filters if fs for _c, q in fs for p in self._paths(_c, q)}
        self._readable = {p for p in tested if self._can_read(p, tested)}
        for fs in filters:
            if fs is None:
                self.programs.append(None)
                continue
            nodes = [self._program(self._condition(cat, q)) for cat, q in fs]
            # A filter that is unknown as a whole makes the rule a candidate for every line.
            self.programs.append(None if any(n == ("unknown",) for n in nodes) else nodes)
        self.everyone = sum(1 << i for i, p in enumerate(self.programs) if p is None)
        # Rules whose every filter is known (no unknown node): on a row none of whose values made
        # a leaf raise, "may be true" is "true", and each filter's answer is the evaluator's.
        self.exact = [p is not None and all(_known(n) for n in p) for p in self.programs]
        self.full = (1 << len(self.programs)) - 1
        self._memo: list[dict[Any, bytes]] = [{} for _ in self.columns]
        self._by_column: list[list[int]] = [[] for _ in self.columns]
        for k, (col, _fn) in enumerate(self.leaves):
            self._by_column[col].append(k)
        self._position = [0] * len(self.leaves)  # each leaf's place among its column's leaves
        for leaves in self._by_column:
            for p, k in enumerate(leaves):
                self._position[k] = p
        self._reader: Any = None
        self._compiled: Callable[..., list[tuple[int, int, tuple[int, ...] | None]]] | None = None
        #: Fields the parse reads for :attr:`row_gate` only (no leaf tests them).
        self._extra: list[_Column] = []
        #: Holds the rows of the rules it gates instead of naming them (the key gates of
        #: sequence rules, :class:`vigil.rules.keygate.RowGates`): ``complete`` (the rule
        #: numbers it gates), ``begin(table)`` before a parsed table's rows, ``defer(rule, rows,
        #: true filters)`` and ``take()`` after them. Set before the first batch.
        self.row_gate: Any = None
        self.pause = 0
        self._batches = 0  # batches parsed (see RELEASE_EVERY)
        self.last_line: bytes | None = None
        self.last_mask = self.full
        self.last_exact = False
        #: per rule of :attr:`last_mask` whose filters are known on the last line: the positions
        #: of its filters that are true there (as :func:`query_filters` orders them); else None
        self.last_known: dict[int, tuple[int, ...]] | None = None
        #: the same for each text of the last batch (see :meth:`masks`)
        self.known: list[dict[int, tuple[int, ...]] | None] = []
        #: per text of the next batch, the offset of its line (for :attr:`row_gate`; None: the
        #: text's position in the batch)
        self.offsets: Sequence[int] | None = None
        self.stats = {"lines": 0, "left_over": 0}

    def prepare(self) -> None:
        """Build now what the first batch would build (each column's evaluator, the compiled
        programs): done before worker processes fork, those pages are shared by all of them
        (the programs' compilation alone grew each worker by ~30 MB)."""
        for c in range(len(self.columns)):
            self._evaluator(c)
        self._programs_code(lambda _k: 0, lambda _k: 0, 0)

    @property
    def parsed_columns(self) -> list[_Column]:
        """The fields each batch's parse reads: the leaves' columns, then :meth:`read_also`'s."""
        return [*self.columns, *self._extra]

    def read_also(self, paths: Iterable[str]) -> set[str]:
        """Have each batch's parse read these fields (resolved paths) too, for :attr:`row_gate`
        (which reads them with :func:`column_at`); the ones that can be read so: a field a leaf
        tests already, or one that is no parent or child of another column (a struct cannot be
        both) and whose values are its raw JSON values (see :meth:`_can_read`). Before the first
        batch."""
        columns = {c.path for c in self.columns} | {c.path for c in self._extra}
        out: set[str] = set()
        for path in paths:
            if path in columns:
                out.add(path)
            elif self._can_read(path, columns | {path}):
                self._extra.append(_Column(path, self.schema.spec(path)))
                columns.add(path)
                out.add(path)
        return out

    # ------------------------------------------------------------------ building

    def _resolved(self, path: str) -> str:
        return self.schema.resolve(path)

    def _paths(self, category_field: str, query: ast.EventQuery) -> set[str]:
        out = _fields_of(query.condition)
        if query.category is not None:
            out.add(category_field)
        return out

    def _can_read(self, path: str, tested: set[str]) -> bool:
        parts = path.split(".")
        if not all(parts) or path.startswith("_"):
            return False
        spec = self.schema.spec(path)
        if spec is not None and (spec.null_value is not None or spec.type is FieldType.OBJECT):
            return False
        # A field that is the parent of another tested field cannot be both a column and a struct.
        return not any(o != path and (o.startswith(path + ".") or path.startswith(o + ".")) for o in tested)

    @staticmethod
    def _condition(category_field: str, query: ast.EventQuery) -> ast.Expr:
        if query.category is None:
            return query.condition
        # The category test as the query plan compiles it (vigil.engine.plan._matcher).
        test = ast.Comparison("==", ast.Field(category_field), ast.Literal(query.category))
        return ast.And((test, query.condition))

    def _program(self, expr: ast.Expr) -> Node:
        if isinstance(expr, ast.And | ast.Or):
            return ("and" if isinstance(expr, ast.And) else "or", [self._program(t) for t in expr.terms])
        if isinstance(expr, ast.Not):
            return ("not", self._program(expr.expr))
        if isinstance(expr, ast.Literal) and type(expr.value) is bool:
            # ``process where true``: the filter is its category test (a null literal stays
            # unknown: it is neither true nor false on a row)
            return ("const", expr.value)
        fields = _fields_of(expr)
        if len(fields) != 1:
            return ("unknown",)
        path = self._resolved(next(iter(fields)))
        if path not in self._readable:
            return ("unknown",)
        key = (path, expr)
        number = self._leaf_numbers.get(key)
        if number is None:
            try:
                fn = self.compiler.predicate(expr)
            except Exception:
                return ("unknown",)  # the rule's own compilation decides how it fails
            col = self._column_numbers.get(path)
            if col is None:
                col = self._column_numbers[path] = len(self.columns)
                self.columns.append(_Column(path, self.schema.spec(path)))
            number = self._leaf_numbers[key] = len(self.leaves)
            self.leaves.append((col, fn))
            self._exprs.append(expr)
        return ("leaf", number)

    # ------------------------------------------------------------------ a batch

    def masks(self, texts: Sequence[bytes], single_lines: bool = False) -> list[int | None]:
        """Per text (one JSON document each, without its line end), the rules it may concern as
        bits (rule ``i`` is ``1 << i``), or None for a text left over (every rule). The rules
        :attr:`row_gate` gates are not named: it holds their rows, by :attr:`offsets`.
        ``single_lines``: the caller knows no text holds a line end (lines it split)."""
        n = len(texts)
        self.stats["lines"] += n
        if not self.columns or self.pause > 0:
            self.pause = max(0, self.pause - 1)
            self.stats["left_over"] += n
            self.known = [None] * n
            return [None] * n
        if self._reader is None:
            from vigil.store.textcols import JsonColumns

            # A line holding "_source" may be a search hit, whose event is under that key: left
            # over, found by the reader's search for dotted keys.
            self._reader = JsonColumns(self.parsed_columns, leave_over=_SOURCE_KEY)
        out: list[int | None] = [None] * n
        known: list[dict[int, tuple[int, ...]] | None] = [None] * n
        self.known = known
        groups, left = self._reader.parse(texts, single_lines)
        if len(left) * 2 > n:
            self.pause = PAUSE_BATCHES
        self.stats["left_over"] += len(left)
        try:
            offsets = self.offsets
            for rows, table in groups:
                masks, group_known = self._group_masks(
                    table, rows if offsets is None else [offsets[j] for j in rows]
                )
                for j, mask, steps in zip(rows, masks, group_known, strict=True):
                    out[j] = mask
                    known[j] = steps
        finally:
            end_event()
            del groups
            # Arrow's allocator keeps the parse's freed memory for reuse; given back now and
            # then, a worker does not hold the largest batch's parse for good (~30 MB). Not
            # after every batch: the next one would fault it all in again (~200,000 page faults,
            # 0.7 s of system time, over 1,000,000 events).
            self._batches += 1
            if self._batches % RELEASE_EVERY == 0:
                pa.default_memory_pool().release_unused()
        return out

    def _group_masks(
        self, table: pa.Table, offsets: Sequence[int]
    ) -> tuple[list[int], list[dict[int, tuple[int, ...]] | None]]:
        """The masks of the rows of one parsed table, and per row the true filters of the exact
        rules named (see :attr:`known`). Row sets are Python integers (bit ``j``: row ``j``): a
        few hundred bytes each, combined faster than arrays of that size."""
        n = table.num_rows
        every = (1 << n) - 1
        roots: dict[str, Any] = {}
        answers = [self._answers(c, table, n, roots) for c in range(len(self.columns))]
        where = self._position
        true_rows: dict[int, int] = {}
        false_rows: dict[int, int] = {}

        value_rows: dict[tuple[int, int], int] = {}

        def rows_with(c: int, d: int, index: Any) -> int:
            """The rows whose value in column ``c`` is distinct value ``d``."""
            got = value_rows.get((c, d))
            if got is None:
                got = value_rows[c, d] = _row_set(index == d)
            return got

        sides: dict[tuple[int, int], tuple[Any, list[int]]] = {}

        def side_of(c: int, wanted: int) -> tuple[Any, list[int]]:
            """Per value and leaf of column ``c``, whether the leaf may be ``wanted`` (true or
            false) there, and per leaf on how many values: one array operation for all the
            column's leaves (most leaves hold on none of a batch's values)."""
            got = sides.get((c, wanted))
            if got is None:
                matrix = answers[c][0]
                hits = (matrix == wanted) | (matrix == _U)
                got = sides[c, wanted] = (hits, hits.sum(axis=0).tolist())
            return got

        def rows_of(k: int, wanted: int, memo: dict[int, int]) -> int:
            got = memo.get(k)
            if got is None:
                c = self.leaves[k][0]
                hits, counts = side_of(c, wanted)
                p = where[k]
                count = counts[p]
                values = hits.shape[0]
                if count == 0:
                    got = 0
                elif count == values:
                    got = every
                elif count <= FEW_VALUES:
                    # A few values: the union of their rows (each value's rows are shared by
                    # every leaf of the column in this batch).
                    got = 0
                    index = answers[c][1]
                    for d in np.flatnonzero(hits[:, p]).tolist():
                        got |= rows_with(c, d, index)
                elif values - count <= FEW_VALUES:
                    got = every
                    index = answers[c][1]
                    for d in np.flatnonzero(~hits[:, p]).tolist():
                        got &= ~rows_with(c, d, index)
                else:
                    got = _row_set(hits[:, p][answers[c][1]])
                memo[k] = got
            return got

        def t(k: int) -> int:
            return rows_of(k, _T, true_rows)

        def f(k: int) -> int:
            return rows_of(k, _F, false_rows)

        # rows some leaf raised on: their answers are candidates only
        uncertain = 0
        for matrix, index in answers:
            bad = (matrix == _U).any(axis=1)
            if bad.any():
                uncertain |= _row_set(bad[index])
        masks = [self.everyone] * n
        known: list[dict[int, tuple[int, ...]] | None] = [None] * n
        exact = self.exact
        gate = self.row_gate
        gated = gate.complete if gate is not None else ()
        if gated:
            gate.begin(table, offsets)
        for i, may, sets in self._programs_code(t, f, every):
            bit = 1 << i
            if not exact[i]:
                for j in _rows(may, n):
                    masks[j] |= bit
                continue
            unsure = may & uncertain
            if unsure:
                if i in gated:
                    gate.defer(i, _rows(unsure, n), None)
                else:
                    for j in _rows(unsure, n):
                        masks[j] |= bit
                may &= ~uncertain
            # Rows by the filters true on them: most rows have one, whose tuple they share.
            groups: list[tuple[int, tuple[int, ...]]]
            if sets is None:
                groups = [(may, (0,))]
            else:
                seen = multi = 0
                for rows in sets:
                    multi |= seen & rows
                    seen |= rows
                groups = [(rows & may & ~multi, (p,)) for p, rows in enumerate(sets)]
                for j in _rows(multi & may, n):
                    groups.append((1 << j, tuple(p for p, rows in enumerate(sets) if rows >> j & 1)))
            if i in gated:
                # The rule's key gate decides on these rows after the pass (see RowGates).
                for rows, steps in groups:
                    if rows:
                        gate.defer(i, _rows(rows, n), steps)
                continue
            for rows, steps in groups:
                for j in _rows(rows, n):
                    masks[j] |= bit
                    row = known[j]
                    if row is None:
                        known[j] = {i: steps}
                    else:
                        row[i] = steps
        return masks, known

    def _programs_code(
        self, t: Callable[[int], int], f: Callable[[int], int], every: int
    ) -> list[tuple[int, int, tuple[int, ...] | None]]:
        """(rule, rows some filter of the rule may be true on, each filter's rows or None) for
        every rule with a program and such rows, from ``t``/``f`` (a leaf's may-be-true /
        may-be-false rows) and ``every`` (all rows): the programs compiled into one Python
        function on first use, ``and`` chains stopping at the first empty set. Each filter's
        rows are kept for the exact rules of several filters (sequences, samples)."""
        if self._compiled is None:
            lines = ["def programs(t, f, every):", "    out = []"]
            for i, nodes in enumerate(self.programs):
                if nodes is None:
                    continue
                if self.exact[i] and len(nodes) > 1:
                    names = [f"s{p}" for p in range(len(nodes))]
                    lines += [
                        f"    {v} = {_source(node, True, 0)}" for v, node in zip(names, nodes, strict=True)
                    ]
                    lines.append(f"    m = {' | '.join(names)}")
                    lines.append(f"    if m: out.append(({i}, m, ({', '.join(names)},)))")
                else:
                    lines.append(f"    m = {' | '.join(_source(n, True, 0) for n in nodes)}")
                    lines.append(f"    if m: out.append(({i}, m, None))")
            lines.append("    return out")
            namespace: dict[str, Any] = {}
            exec(compile("\n".join(lines), "<columnar programs>", "exec"), namespace)
            self._compiled = namespace["programs"]
        result: list[tuple[int, int, tuple[int, ...] | None]] = self._compiled(t, f, every)
        return result

    def _answers(self, c: int, table: pa.Table, n: int, roots: dict[str, Any]) -> tuple[Any, Any]:
        """Column ``c``'s leaves answered on each distinct value of the column: a (values,
        leaves) array, and each row's value number."""
        leaves = self._by_column[c]
        column = column_at(table, self.columns[c].path, roots)
        if column is None:
            values: list[Any] = [None]
            index = np.zeros(n, dtype=np.int64)
        else:
            values, index = _distinct(column)
        memo = self._memo[c]
        if len(memo) > MEMO_VALUES:
            memo.clear()
        path = self.columns[c].path.split(".")
        evaluate = self._evaluator(c)
        rows_out = []
        for v in values:
            # A string is its own key (no other JSON value equals it); numbers and the rest are
            # keyed with their type (True == 1 == 1.0 in a dict).
            key = v if type(v) is str else frozen(v)
            got = memo.get(key)
            if got is None:
                got = memo[key] = evaluate(document_with(path, v))
            rows_out.append(got)
        matrix = np.frombuffer(b"".join(rows_out), dtype=np.uint8).reshape(len(values), len(leaves))
        return matrix, index

    def _evaluator(self, c: int) -> Callable[[dict[str, Any]], bytes]:
        """A function answering column ``c``'s leaves on a document holding one value.

        Most leaves compare the field with literal strings (``==``, ``in``, ``:``, ``like``):
        on a string value, or a list of strings, such a leaf is false unless the value holds,
        for one of its patterns, every literal run of that pattern (in some ASCII case). One
        search of the value finds the runs of every leaf of the column; a leaf is evaluated only
        when one of its patterns has all its runs there. ``cidrMatch`` leaves are answered
        together on a string that is an address (:class:`_Blocks`). Other leaves are always
        evaluated."""
        made = self._evaluators.get(c)
        if made is not None:
            return made
        leaves = self._by_column[c]
        fns = [self.leaves[k][1] for k in leaves]
        n = len(fns)
        reader = make_field_reader(self.schema, self.columns[c].path)
        runs: dict[bytes, int] = {}  # a literal run -> its number
        users: list[list[tuple[int, frozenset[int]]]] = []  # per run: (leaf, all runs of a pattern)
        always: list[int] = []
        blocks = _Blocks()
        for p, k in enumerate(leaves):
            expr = self._exprs[k]
            if blocks.add(p, expr):
                continue
            patterns = _patterns(expr)
            if patterns is None:
                always.append(p)
                continue
            for pattern in patterns:
                numbers = frozenset(runs.setdefault(r, len(runs)) for r in pattern)
                while len(users) < len(runs):
                    users.append([])
                for r in numbers:
                    users[r].append((p, numbers))
        every = range(n)
        if not runs and not blocks:

            def plain(doc: dict[str, Any]) -> bytes:
                return _evaluate(fns, doc, every, n)

            self._evaluators[c] = plain
            return plain
        from vigil.engine.ruleset import needle_finder

        find = (
            needle_finder(list(runs), ahocorasick_rs.BytesAhoCorasick, ahocorasick_rs.Implementation.DFA)
            if runs
            else None
        )

        picks: dict[frozenset[int], tuple[int, ...]] = {}

        def searched(doc: dict[str, Any]) -> bytes:
            try:
                value = reader(doc)
            except Exception:
                value = None
            if type(value) is str:
                text = value
            elif type(value) in (list, tuple) and value and all(type(x) is str for x in value):
                text = "\n".join(value)  # (runs found across two items: a test more)
            else:
                return _evaluate(fns, doc, every, n)
            found = (
                frozenset(find(text.encode("utf-8", "surrogatepass"))) if find is not None else frozenset()
            )
            # Values differ, the runs they hold repeat: the leaves a set of runs calls for are
            # worked out once.
            chosen = picks.get(found)
            if chosen is None:
                pick = set(always)
                for r in found:
                    for p, needed in users[r]:
                        if p not in pick and needed <= found:
                            pick.add(p)
                chosen = tuple(sorted(pick))
                if len(picks) >= MEMO_VALUES:
                    picks.clear()
                picks[found] = chosen
            true: frozenset[int] = frozenset()
            if blocks:
                hit = blocks.lookup(value) if type(value) is str else None
                if hit is None:
                    chosen = tuple(sorted(blocks.leaves.union(chosen)))  # not an address (or a list)
                else:
                    true = hit
            return _evaluate(fns, doc, chosen, n, true)

        self._evaluators[c] = searched
        return searched


class _Blocks:
    """The ``cidrMatch(field, "block", ...)`` leaves of one column, answered together: on a
    string the evaluator parses as an address (IPv4-mapped IPv6 read as IPv4), such a leaf is
    true when the address's canonical text is one of its single addresses or its number lies in
    one of its blocks of the same IP version, else false (``cidrMatch`` in
    :mod:`vigil.engine.compile`). The blocks of every leaf are cut into elementary ranges, each
    knowing the leaves that cover it: one bisection answers them all."""

    def __init__(self) -> None:
        self.leaves: set[int] = set()
        self._texts: dict[str, set[int]] = {}
        self._spans: dict[int, list[tuple[int, int, int]]] = {4: [], 6: []}
        self._table: dict[int, tuple[list[int], list[frozenset[int]]]] | None = None

    def __bool__(self) -> bool:
        return bool(self.leaves)

    def add(self, p: int, expr: ast.Expr) -> bool:
        """Take leaf ``p`` when it is such a ``cidrMatch``."""
        if not (
            isinstance(expr, ast.FunctionCall)
            and expr.name == "cidrMatch"
            and len(expr.args) >= 2
            and isinstance(expr.args[0], ast.Field)
            and all(isinstance(a, ast.Literal) and type(a.value) is str for a in expr.args[1:])
        ):
            return False
        nets = []
        for a in expr.args[1:]:
            try:
                nets.append(ipaddress.ip_network(str(a.value), strict=False))  # type: ignore[union-attr]
            except ValueError:
                return False
        for net in nets:
            if net.num_addresses == 1:
                self._texts.setdefault(str(net.network_address), set()).add(p)
            else:
                self._spans[net.version].append((int(net.network_address), int(net.broadcast_address), p))
        self.leaves.add(p)
        return True

    def lookup(self, text: str) -> frozenset[int] | None:
        """The leaves true on ``text`` (the others being false), or None when it is no address."""
        parsed = parsed_address(text)
        if parsed is None:
            return None
        if self._table is None:
            self._table = {v: _elementary(spans) for v, spans in self._spans.items()}
        _ip, canonical, version, number = parsed
        starts, covers = self._table[version]
        i = bisect.bisect_right(starts, number) - 1
        out = covers[i] if i >= 0 else frozenset()
        exact = self._texts.get(canonical)
        return out | exact if exact else out


def _elementary(spans: list[tuple[int, int, int]]) -> tuple[list[int], list[frozenset[int]]]:
    """Sorted starts of the elementary ranges the spans ``(first, last, leaf)`` cut the number
    line into, and the leaves covering each range."""
    points = sorted({lo for lo, _hi, _p in spans} | {hi + 1 for _lo, hi, _p in spans})
    covers = [frozenset(p for lo, hi, p in spans if lo <= start <= hi) for start in points]
    return points, covers


def _patterns(expr: ast.Expr) -> list[list[bytes]] | None:
    """The literal runs of each pattern of a leaf (see ColumnarFilter._evaluator), lowercase:
    a string value the leaf is true on holds every run of one of them, in some ASCII case; None
    when the leaf is not of that kind."""
    if isinstance(expr, ast.Comparison) and expr.op == "==":
        sides = (expr.left, expr.right)
        field = next((x for x in sides if isinstance(x, ast.Field)), None)
        literal = next((x for x in sides if isinstance(x, ast.Literal)), None)
        if field is None or literal is None or not isinstance(literal.value, str):
            return None
        return _runs([literal.value], wildcards=False)
    if isinstance(expr, ast.InSet) and not expr.negated and isinstance(expr.expr, ast.Field):
        texts = [v.value for v in expr.values if isinstance(v, ast.Literal)]
        if len(texts) != len(expr.values) or not all(isinstance(t, str) for t in texts):
            return None
        return _runs(texts, wildcards=False)
    if isinstance(expr, ast.Match) and expr.op in (":", "like", "like~") and isinstance(expr.expr, ast.Field):
        texts = [v.value for v in expr.patterns if isinstance(v, ast.Literal)]
        if len(texts) != len(expr.patterns) or not all(isinstance(t, str) for t in texts):
            return None
        return _runs(texts, wildcards=True)
    return None


def _runs(texts: Sequence[Any], *, wildcards: bool) -> list[list[bytes]] | None:
    out = []
    for text in texts:
        # ``*`` and ``?`` cut a pattern into literal runs (EQL wildcards have no escapes).
        runs = [r for r in re.split(r"[*?]", text) if r] if wildcards else [text] if text else []
        if not runs:
            return None  # a pattern every string may match
        out.append([ascii_fold(r).encode("utf-8", "surrogatepass") for r in runs])
    return out


def _source(node: Node, want_true: bool, depth: int) -> str:
    """Python source of a node's may-be-true (``want_true``) or may-be-false rows, over ``t``,
    ``f`` and ``every`` (see ColumnarFilter._programs_code)."""
    op = node[0]
    if op == "leaf":
        return f"{'t' if want_true else 'f'}({node[1]})"
    if op == "unknown":
        return "every"
    if op == "const":
        return "every" if node[1] is want_true else "0"
    if op == "not":
        return _source(node[1], not want_true, depth)
    parts = [_source(x, want_true, depth + 1) for x in node[1]]
    if len(parts) == 1:
        return parts[0]
    if (op == "and") != want_true:
        return "(" + " | ".join(parts) + ")"
    # An intersection: stop at the first empty set (the walrus name is one per depth).
    v = f"_{depth}"
    chain = [f"({v} := {parts[0]})", *(f"({v} := {v} & {p})" for p in parts[1:-1]), f"({v} & {parts[-1]})"]
    return "(" + " and ".join(chain) + ")"


def _rows(rows: int, n: int) -> list[int]:
    """The rows of a row set (bit ``j``: row ``j`` of ``n``), lowest first: bit by bit when they
    are few, else through numpy (a few microseconds whatever their number)."""
    if rows.bit_count() <= 12:
        return bits(rows)
    raw = np.frombuffer(rows.to_bytes((n + 7) // 8, "little"), dtype=np.uint8)
    found: list[int] = np.flatnonzero(np.unpackbits(raw, bitorder="little")).tolist()
    return found


def _row_set(rows: Any) -> int:
    """The rows of a boolean array as an integer (bit ``j``: row ``j``)."""
    return int.from_bytes(np.packbits(rows, bitorder="little").tobytes(), "little")


def _distinct(column: Any) -> tuple[list[Any], Any]:
    """The distinct raw values of a column (None last, for missing values) and each row's
    value number."""
    if pa.types.is_list(column.type) and pa.types.is_string(column.type.value_type):
        flat = pc.list_flatten(column)
        if flat.null_count == 0 and not pc.any(pc.match_substring(flat, "\x00")).as_py():
            # Lists of strings as one string each: their length, then the items, each ended by
            # a NUL (no item holds one), so that distinct lists stay distinct.
            joined = pc.binary_join(column, "\x00")
            lengths = pc.cast(pc.list_value_length(column), pa.string())
            keys = pc.binary_join_element_wise(lengths, joined, "\x01")
            encoded = pc.dictionary_encode(keys)
            values: list[Any] = []
            for key in encoded.dictionary.to_pylist():
                count, _sep, items = key.partition("\x01")
                values.append(items.split("\x00") if count != "0" else [])
            values.append(None)
            index = encoded.indices.fill_null(len(values) - 1).to_numpy(zero_copy_only=False)
            return values, index
    if pa.types.is_list(column.type) or pa.types.is_struct(column.type):
        keys_seen: dict[Any, int] = {}
        values = []
        where = []
        for v in column.to_pylist():
            key = frozen(v)
            k = keys_seen.get(key)
            if k is None:
                k = keys_seen[key] = len(values)
                values.append(v)
            where.append(k)
        return values, np.array(where, dtype=np.int64)
    encoded = pc.dictionary_encode(column)
    values = encoded.dictionary.to_pylist()
    values.append(None)
    return values, encoded.indices.fill_null(len(values) - 1).to_numpy(zero_copy_only=False)


def column_at(table: pa.Table, path: str, roots: dict[str, Any] | None = None) -> Any:
    """The column of a parsed table at a dotted ``path`` (None when the batch has no such
    column), its struct levels unwrapped (``roots``: the table's top-level columns combined so
    far, shared by the fields under them)."""
    parts = path.split(".")
    col = roots.get(parts[0]) if roots is not None else None
    if col is None:
        if parts[0] not in table.column_names:
            return None
        col = table.column(parts[0]).combine_chunks()
        if roots is not None:
            roots[parts[0]] = col
    for part in parts[1:]:
        # A struct without nulls hands its child over as it is; else the child takes the
        # struct's nulls too (a missing object holds no field).
        col = col.field(part) if col.null_count == 0 else pc.struct_field(col, part)
    return col


def frozen(value: Any) -> Any:
    """A hashable key for a raw value, distinct across JSON types (True is not 1)."""
    if isinstance(value, list):
        return (list, *(frozen(x) for x in value))
    if isinstance(value, dict):
        return (dict, *((k, frozen(x)) for k, x in value.items()))
    return (type(value), value)


def document_with(path: list[str], value: Any) -> dict[str, Any]:
    """A document holding ``value`` alone at ``path`` (a null: a document without it)."""
    if value is None:
        return {}
    doc: Any = value
    for part in reversed(path):
        doc = {part: doc}
    return doc


def _evaluate(
    fns: Sequence[Any], doc: dict[str, Any], chosen: Iterable[int], n: int, true: Iterable[int] = ()
) -> bytes:
    """The answers of the ``chosen`` leaves on ``doc``; true for the ``true`` ones, false for
    the others."""
    begin_event(doc)  # the leaves read the same field: read once (undone by masks())
    out = bytearray(n)
    for p in true:
        out[p] = _T
    for p in chosen:
        fn = fns[p]
        try:
            r = fn(doc)
        except Exception:
            out[p] = _U  # the exact evaluator decides (and reports) on the event itself
            continue
        out[p] = _T if r is True else _F if r is False else _N
    return bytes(out)


def query_filters(query: Any, category_field: str) -> list[tuple[str, ast.EventQuery]] | None:
    """The filters of a parsed query (``ast.Query``) for :class:`ColumnarFilter`: the event
    query, or every step of a sequence or sample (``until`` included); None for another body."""
    body = query.body if hasattr(query, "body") else query
    if isinstance(body, ast.EventQuery):
        return [(category_field, body)]
    if isinstance(body, ast.SequenceQuery | ast.SampleQuery):
        steps = list(body.steps)
        until = getattr(body, "until", None)
        if until is not None:
            steps.append(until)
        return [(category_field, s.query) for s in steps]
    return None


def rule_filters(plans: Sequence[Any]) -> list[list[tuple[str, ast.EventQuery]] | None]:
    """The filters of each plan's query for :class:`ColumnarFilter` (None: every line)."""
    return [query_filters(p.compiled.query, p.compiled.options.event_category_field) for p in plans]
