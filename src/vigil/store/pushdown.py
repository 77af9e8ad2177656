"""EQL filters as DuckDB SQL over the store's columns: a conservative superset, never a miss.

Each boolean node of a filter becomes a :class:`Pred`, two SQL conditions over a row:

* ``may_true``: true for every row on which the exact evaluator could find the node true;
* ``may_false``: true for every row on which it could find the node false.

A row is a candidate for a filter when ``may_true`` of its condition holds. ``not x`` swaps the two
halves, ``and``/``or`` combine them (``may_true(a and b) = may_true(a) and may_true(b)``,
``may_false(a and b) = may_false(a) or may_false(b)``, and dually), so negation is sound whatever
lies beneath it: this is the ``(sql, exact)`` rule generalised, a node that cannot be translated
being ``(TRUE, TRUE)``. SQL's NULL only ever reads as "not this case": conditions are combined
with ``AND``/``OR`` alone, which never turn a NULL into TRUE.

What is translated, on hot columns only (see :mod:`vigil.store.columns`) and only for indices whose
mapping of the field is the column's (else the rows of those indices are always kept):

* ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` between a field and a constant (coerced to the field's
  type as the evaluator coerces it), ``== null`` / ``!= null``;
* ``in``, ``not in``, ``in~``; ``:``, ``like``, ``like~`` with wildcard patterns;
* ``cidrMatch(field, ...)`` on ip fields; ``startsWith``, ``endsWith``, ``stringContains`` of a field
  and a constant (as Elasticsearch runs them: false on a missing field);
* a boolean field used as a condition; ``true``/``false``; ``and``, ``or``, ``not``.

Anything else (other functions, arithmetic, field-to-field comparisons, regexes, fields that are
not hot) is unknown. Multi-valued fields follow the evaluator's "any value" rule; rows whose value
did not fit the column (their flag bit is set) are kept by both halves. Case-insensitive tests
lowercase with DuckDB only over ASCII values (the evaluator folds ASCII letters only): a value
with other characters is always kept.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from vigil.ecs import values
from vigil.ecs.schema import FieldType, SchemaRegistry
from vigil.engine.typed import coerce_literal
from vigil.eql import ast
from vigil.eql.patterns import ascii_fold
from vigil.store.columns import HotField, Storage, flag_column

TRUE, FALSE = "TRUE", "FALSE"


@dataclass(frozen=True)
class Pred:
    """The two halves of a translated boolean node (see the module docstring)."""

    may_true: str
    may_false: str


UNKNOWN = Pred(TRUE, TRUE)
_MAX_LONG = 2**63 - 1
_EXACT_FLOAT_INT = 2**53
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def sql_string(text: str) -> str | None:
    """A SQL string literal, None when DuckDB cannot hold the text."""
    if "\x00" in text:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return "'" + text.replace("'", "''") + "'"


def _lambda(var: str, body: str) -> str:
    """A DuckDB lambda in the syntax of the installed version (``lambda x: ...`` since 1.3)."""
    major, minor = (int(p) for p in duckdb.__version__.split(".")[:2])
    return f"lambda {var}: {body}" if (major, minor) >= (1, 3) else f"{var} -> {body}"


def _or(*parts: str) -> str:
    parts = tuple(p for p in parts if p != FALSE)
    if not parts:
        return FALSE
    if TRUE in parts:
        return TRUE
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _and(*parts: str) -> str:
    parts = tuple(p for p in parts if p != TRUE)
    if not parts:
        return TRUE
    if FALSE in parts:
        return FALSE
    return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


@dataclass(frozen=True)
class ColumnRef:
    """A field read from a hot column, for the indices where that is exact (None: all)."""

    hot: HotField
    sql: str  # the quoted column
    flag: str  # SQL: the row's value did not fit the column
    only: frozenset[str] | None  # indices where the column is usable; None = every index in scope
    flag_bit: tuple[str, int] | None = None  # (flag column, mask) that ``flag`` tests; None: FALSE

    def scoped(self, pred: Pred) -> Pred:
        """``pred`` for the usable indices, unknown for the others."""
        if self.only is None:
            return pred
        names = [s for s in (sql_string(i) for i in sorted(self.only)) if s is not None]
        inside = f'"__index" IN ({", ".join(names)})' if names else FALSE
        outside = f"NOT ({inside})"
        return Pred(
            _or(_and(inside, pred.may_true), outside),
            _or(_and(inside, pred.may_false), outside),
        )


def literal_sql(value: Any, storage: Storage) -> str | None:
    """A constant (already coerced to the field's type) as SQL comparable with the column, or None
    when its comparison cannot be written exactly."""
    t = type(value)
    if storage is Storage.STRING:
        return sql_string(value) if t is str else None
    if storage in (Storage.LONG, Storage.DATE):
        if t is int and -_MAX_LONG - 1 <= value <= _MAX_LONG:
            return str(value)
        if t is float and math.isfinite(value) and value.is_integer() and abs(value) < 2**63:
            return str(int(value))
        return None
    if storage is Storage.DOUBLE:
        if t is float and math.isfinite(value):
            return f"CAST('{value!r}' AS DOUBLE)"
        if t is int and abs(value) <= _EXACT_FLOAT_INT:
            return f"CAST({value} AS DOUBLE)"
        return None
    if storage is Storage.BOOL:
        return ("TRUE" if value else "FALSE") if t is bool else None
    if storage is Storage.IP:
        if t is not str:
            return None
        addr = values.parse_ip(value)
        return None if addr is None else _blob(values.ip_sort_key(addr))
    return None


def _blob(key: bytes) -> str:
    return f"unhex('{key.hex()}')"


def _non_ascii(x: str) -> str:
    return f"(strlen({x}) <> length({x}))"


_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_SQL_OP = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
ElemFn = Callable[[str], tuple[str, str]]


class Translator:
    """Translates the filters of one query for the indices in scope."""

    def __init__(
        self,
        columns: Mapping[str, tuple[int, HotField]],
        registry: SchemaRegistry,
        indices: Sequence[str],
        irregular: frozenset[str] | None = None,
        derived: dict[str, str] | None = None,
    ):
        """``irregular``: the hot fields whose value did not fit the column in some row of the
        files read (their flag bits are tested); None: any field may be. ``derived``: when
        given, a column's lowercased value and its non-ASCII test are named columns instead of
        expressions (alias -> SQL, added to it), for a statement that computes each once a row
        however many conditions use it."""
        self.columns = columns
        self.registry = registry
        self.indices = tuple(indices)
        self.irregular = irregular
        self.derived = derived

    def _derive(self, kind: str, x: str, sql: str) -> str:
        if self.derived is None or not x.startswith('"'):
            return sql  # an element of a list (a lambda's variable), or no derived columns
        alias = ident(f"__{kind}:{x[1:-1]}")
        self.derived[alias] = sql
        return alias

    def _lower(self, x: str) -> str:
        return self._derive("lower", x, f"lower({x})")

    def _wide(self, x: str) -> str:
        return self._derive("wide", x, _non_ascii(x))

    # ------------------------------------------------------------------ fields

    def column(self, expr: ast.Expr) -> ColumnRef | None:
        """The hot column ``expr`` reads, when it is a field that some index in scope maps
        exactly as the column was filled."""
        if not isinstance(expr, ast.Field):
            return None
        usable: set[str] = set()
        found: tuple[int, HotField] | None = None
        for index in self.indices:
            schema = self.registry.for_index(index)
            if expr.optional and schema.strict and not schema.knows(expr.path):
                continue  # the evaluator reads null there
            hit = self.columns.get(schema.resolve(expr.path))
            if hit is None or schema.spec(expr.path) != hit[1].spec:
                continue
            if found is not None and found[1] != hit[1]:
                return None  # aliases pointing at different columns: keep it simple
            found = hit
            usable.add(index)
        if found is None:
            return None
        number, hot = found
        flag_name, mask = flag_column(number)
        only = None if len(usable) == len(set(self.indices)) else frozenset(usable)
        flag = f"(({ident(flag_name)} & {mask}) <> 0)"
        bit: tuple[str, int] | None = (flag_name, mask)
        if self.irregular is not None and hot.path not in self.irregular:
            flag, bit = FALSE, None  # no row of these files holds an irregular value of the field
        return ColumnRef(hot, ident(hot.column), flag, only, bit)

    def _any(self, ref: ColumnRef, elem: ElemFn, *, false_when_missing: bool = False) -> Pred:
        """A test true when any value of the field passes ``elem`` and false when every value
        fails it (null on a missing field, or false with ``false_when_missing``). ``elem(x)``
        gives the element's (may_true, may_false) conditions."""
        col = ref.sql
        if ref.hot.many:
            var = "__v"
            t, f = elem(var)
            may_true = f"list_bool_or(list_transform({col}, {_lambda(var, t)}))" if t != FALSE else FALSE
            may_false = (
                _and(f"{col} IS NOT NULL", f"list_bool_and(list_transform({col}, {_lambda(var, f)}))")
                if f != FALSE
                else FALSE
            )
        else:
            t, f = elem(col)
            may_true = t
            may_false = _and(f"{col} IS NOT NULL", f)
        if false_when_missing:
            may_false = _or(may_false, f"{col} IS NULL")
        return ref.scoped(Pred(_or(may_true, ref.flag), _or(may_false, ref.flag)))

    # ------------------------------------------------------------------ boolean nodes

    def pred(self, expr: ast.Expr) -> Pred:
        """The translation of a boolean node."""
        if isinstance(expr, ast.And):
            parts = [self.pred(t) for t in expr.terms]
            return Pred(_and(*(p.may_true for p in parts)), _or(*(p.may_false for p in parts)))
        if isinstance(expr, ast.Or):
            parts = [self.pred(t) for t in expr.terms]
            return Pred(_or(*(p.may_true for p in parts)), _and(*(p.may_false for p in parts)))
        if isinstance(expr, ast.Not):
            inner = self.pred(expr.expr)
            return Pred(inner.may_false, inner.may_true)
        if isinstance(expr, ast.Literal):
            if expr.value is True:
                return Pred(TRUE, FALSE)
            if expr.value is False:
                return Pred(FALSE, TRUE)
            return UNKNOWN
        if isinstance(expr, ast.Comparison):
            return self._comparison(expr)
        if isinstance(expr, ast.InSet):
            return self._in(expr)
        if isinstance(expr, ast.Match):
            return self._match(expr)
        if isinstance(expr, ast.FunctionCall):
            return self._function(expr)
        if isinstance(expr, ast.Field):
            ref = self.column(expr)
            if ref is None or ref.hot.many or ref.hot.storage is not Storage.BOOL:
                return UNKNOWN
            return ref.scoped(Pred(_or(f"{ref.sql} = TRUE", ref.flag), _or(f"{ref.sql} = FALSE", ref.flag)))
        return UNKNOWN

    def _comparison(self, node: ast.Comparison) -> Pred:
        left, right, op = node.left, node.right, node.op
        if op in ("==", "!=") and (_is_null(left) or _is_null(right)):
            ref = self.column(right if _is_null(left) else left)
            if ref is None:
                return UNKNOWN
            is_null = f"{ref.sql} IS NULL"
            not_null = _or(f"{ref.sql} IS NOT NULL", ref.flag)
            pred = Pred(is_null, not_null) if op == "==" else Pred(not_null, is_null)
            return ref.scoped(pred)
        if isinstance(left, ast.Literal) and not isinstance(right, ast.Literal):
            left, right, op = right, left, _FLIP[op]
        if not isinstance(right, ast.Literal):
            return UNKNOWN
        ref = self.column(left)
        if ref is None:
            return UNKNOWN
        lit = self._literal(ref, right.value)
        if lit is None:
            return UNKNOWN
        if op in ("<", "<=", ">", ">=") and ref.hot.storage is Storage.IP:
            return UNKNOWN  # ips order as text in the evaluator
        if op in ("==", "!="):
            if ref.hot.many:
                contains = f"list_contains({ref.sql}, {lit})"
                eq = Pred(
                    _or(contains, ref.flag),
                    _or(_and(f"{ref.sql} IS NOT NULL", f"NOT {contains}"), ref.flag),
                )
                eq = ref.scoped(eq)
            else:
                eq = self._any(ref, lambda x: (f"{x} = {lit}", f"{x} <> {lit}"))
            return eq if op == "==" else Pred(eq.may_false, eq.may_true)
        sql_op = _SQL_OP[op]
        return self._any(ref, lambda x: (f"{x} {sql_op} {lit}", f"NOT ({x} {sql_op} {lit})"))

    def _literal(self, ref: ColumnRef, value: Any) -> str | None:
        spec = ref.hot.spec
        ftype = spec.type if spec is not None else FieldType.UNKNOWN
        return literal_sql(coerce_literal(value, ftype, spec), ref.hot.storage)

    def _in(self, node: ast.InSet) -> Pred:
        ref = self.column(node.expr)
        if ref is None or not all(isinstance(v, ast.Literal) for v in node.values):
            return UNKNOWN
        if node.insensitive and ref.hot.storage is not Storage.STRING:
            return UNKNOWN
        spec = ref.hot.spec
        ftype = spec.type if spec is not None else FieldType.UNKNOWN
        coerced = [coerce_literal(v.value, ftype, spec) for v in node.values]  # type: ignore[union-attr]
        has_null = any(v is None for v in coerced)
        members: list[str] = []
        for v in coerced:
            if v is None:
                continue
            if node.insensitive:
                v = v.lower() if type(v) is str else v
            sql = literal_sql(v, ref.hot.storage)
            if sql is None:
                return UNKNOWN
            members.append(sql)
        listed = ", ".join(dict.fromkeys(members))

        def elem(x: str) -> tuple[str, str]:
            if not members:
                return FALSE, (FALSE if has_null else TRUE)
            subject = self._lower(x) if node.insensitive else x
            hit = f"{subject} IN ({listed})"
            guard = self._wide(x) if node.insensitive else FALSE
            return _or(hit, guard), (FALSE if has_null else _or(f"NOT ({hit})", guard))

        if ref.hot.many and not node.insensitive and members:
            any_hit = f"list_has_any({ref.sql}, [{listed}])"
            miss = FALSE if has_null else _or(_and(f"{ref.sql} IS NOT NULL", f"NOT {any_hit}"), ref.flag)
            pred = ref.scoped(Pred(_or(any_hit, ref.flag), miss))
        else:
            pred = self._any(ref, elem)
            if has_null:
                # no member matched: null, never false (flagged rows included)
                pred = Pred(pred.may_true, FALSE)
        return Pred(pred.may_false, pred.may_true) if node.negated else pred

    def _match(self, node: ast.Match) -> Pred:
        if node.op not in (":", "like", "like~"):
            return UNKNOWN
        ref = self.column(node.expr)
        if ref is None or ref.hot.storage is not Storage.STRING:
            return UNKNOWN
        texts: list[str] = []
        for p in node.patterns:
            if not isinstance(p, ast.Literal) or type(p.value) is not str:
                return UNKNOWN
            texts.append(p.value)
        insensitive = node.op != "like"
        conditions: list[str] = []
        for text in texts:
            cond = _wildcard_sql(ascii_fold(text) if insensitive else text, insensitive)
            if cond is None:
                return UNKNOWN
            conditions.append(cond)

        def elem(x: str) -> tuple[str, str]:
            low = self._lower(x) if insensitive else x
            hit = _or(*(c.format(x=x, low=low) for c in conditions))
            guard = self._wide(x) if insensitive else FALSE
            miss = FALSE if hit == TRUE else f"NOT {hit}" if hit != FALSE else TRUE
            return _or(hit, guard), _or(miss, guard)

        return self._any(ref, elem)

    def _function(self, node: ast.FunctionCall) -> Pred:
        if not node.args or not isinstance(node.args[0], ast.Field):
            return UNKNOWN
        if node.name == "cidrMatch":
            return self._cidr(node)
        if node.name in ("startsWith", "endsWith", "stringContains") and len(node.args) == 2:
            const = node.args[1]
            if not isinstance(const, ast.Literal) or type(const.value) is not str:
                return UNKNOWN
            ref = self.column(node.args[0])
            if ref is None or ref.hot.storage is not Storage.STRING:
                return UNKNOWN
            text = const.value
            if node.name != "startsWith" and any(c in text for c in "*?\\"):
                return UNKNOWN  # a Lucene wildcard query: leave it to the evaluator
            fn = {"startsWith": "starts_with", "endsWith": "ends_with", "stringContains": "contains"}[
                node.name
            ]
            folded = ascii_fold(text) if node.insensitive else text
            lit = sql_string(folded)
            if lit is None:
                return UNKNOWN
            insensitive = node.insensitive

            def elem(x: str) -> tuple[str, str]:
                subject = self._lower(x) if insensitive else x
                hit = f"{fn}({subject}, {lit})"
                guard = self._wide(x) if insensitive else FALSE
                return _or(hit, guard), _or(f"NOT {hit}", guard)

            return self._any(ref, elem, false_when_missing=True)
        return UNKNOWN

    def _cidr(self, node: ast.FunctionCall) -> Pred:
        ref = self.column(node.args[0])
        if ref is None or ref.hot.storage is not Storage.IP or len(node.args) < 2:
            return UNKNOWN
        ranges: list[tuple[bytes, bytes, bool]] = []  # low, high, exclude IPv4-mapped keys
        for arg in node.args[1:]:
            if not isinstance(arg, ast.Literal) or type(arg.value) is not str:
                return UNKNOWN
            try:
                net = ipaddress.ip_network(arg.value, strict=False)
            except ValueError:
                return UNKNOWN
            if isinstance(net, ipaddress.IPv4Network):
                low = values.ip_sort_key(net.network_address)
                high = values.ip_sort_key(net.broadcast_address)
                ranges.append((low, high, False))
                continue
            if net.num_addresses == 1 and net.network_address.ipv4_mapped is not None:
                continue  # never equal to an address as the evaluator reads it (mapped ones read as IPv4)
            overlaps = net.overlaps(_MAPPED)
            ranges.append((net.network_address.packed, net.broadcast_address.packed, overlaps))
        mapped_low, mapped_high = _MAPPED.network_address.packed, _MAPPED.broadcast_address.packed
        conditions = []
        for low, high, exclude in ranges:
            cond = (
                "{x} = " + _blob(low) if low == high else "{x} BETWEEN " + f"{_blob(low)} AND {_blob(high)}"
            )
            if exclude:
                cond = f"({cond} AND NOT ({{x}} BETWEEN {_blob(mapped_low)} AND {_blob(mapped_high)}))"
            conditions.append(cond)

        def elem(x: str) -> tuple[str, str]:
            hit = _or(*(c.format(x=x) for c in conditions))
            return hit, (TRUE if hit == FALSE else f"NOT {hit}")

        return self._any(ref, elem, false_when_missing=True)

    # ------------------------------------------------------------------ filters

    def filter_sql(self, query: ast.EventQuery, category_field: str) -> str:
        """The may-true condition of one filter: its category test and its condition."""
        return _and(*self.filter_parts(query, category_field))

    def filter_parts(self, query: ast.EventQuery, category_field: str) -> tuple[str, str]:
        """The may-true conditions of one filter's category test (TRUE for ``any``) and of its
        condition: many filters of one category can share one test of it."""
        cond = self.pred(query.condition).may_true
        if query.category is None:
            return TRUE, cond
        cat = ast.Comparison("==", ast.Field(category_field), ast.Literal(query.category))
        return self.pred(cat).may_true, cond


def _is_null(e: ast.Expr) -> bool:
    return isinstance(e, ast.Literal) and e.value is None


def _wildcard_sql(pattern: str, insensitive: bool) -> str | None:
    """A condition template over ``{x}`` matching the whole value against an EQL wildcard pattern
    (``*`` any run, ``?`` one code point); the subject ``{low}`` (lowercased) when
    ``insensitive``."""
    subject = "{low}" if insensitive else "{x}"
    if "*" not in pattern and "?" not in pattern:
        lit = sql_string(pattern)
        return None if lit is None else f"({subject} = {_braces(lit)})"
    if not pattern.strip("*"):
        return "({x} IS NOT NULL)"
    out = []
    for ch in pattern:
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif ch in "%_\\":
            out.append("\\" + ch)
        else:
            out.append(ch)
    lit = sql_string("".join(out))
    if lit is None:
        return None
    return f"({subject} LIKE {_braces(lit)} ESCAPE '\\')"


def _braces(text: str) -> str:
    """Escape ``{`` and ``}`` for use inside a ``str.format`` template."""
    return text.replace("{", "{{").replace("}", "}}")
