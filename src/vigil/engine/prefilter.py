"""A conservative raw-bytes pre-check: skip decoding lines no filter of the query can match.

Decoding JSON is most of the cost of a hunt. Many filters name literals that any matching event
must contain somewhere in its raw line (``event.category == "process"`` needs ``process``;
``destination.port == 445`` needs ``445``). From each filter we derive *clauses*: sets of byte
needles of which at least one must occur. A line passes when some filter of the query has all its
clauses satisfied.

It must never reject a line that could match, so it is deliberately timid:

* a needle is the longest run of plain ASCII characters of a literal (JSON may escape ``\\``,
  ``"``, ``/`` and anything non-ASCII, so those split runs), at least 3 bytes;
* case-insensitive operators test the lowercased line;
* types whose text has several spellings (ip, date, version, floating point, boolean) give none;
* ``not``, ``!=``, ranges, regexes and functions other than the string tests give none;
* a line with a ``\\u`` escape (which could spell a needle differently) always passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from vigil.ecs.schema import FieldType, SchemaRegistry
from vigil.engine.model import QueryOptions
from vigil.eql import ast

_SAFE_RUN = re.compile(r"[A-Za-z0-9 !#$%&'()*+,\-.:;<=>?@\[\]^_`{|}~]+")
_MIN_NEEDLE = 3
_NO_TEXT_TYPES = {FieldType.IP, FieldType.DATE, FieldType.DATE_NANOS, FieldType.VERSION,
                  FieldType.DOUBLE, FieldType.BOOLEAN}


@dataclass(frozen=True)
class Clause:
    """At least one of ``needles`` must occur (in the lowercased line when ``insensitive``)."""

    needles: frozenset[bytes]
    insensitive: bool

    def weight(self) -> int:
        """Shorter worst-case needles are less selective; test selective clauses first."""
        return min(len(n) for n in self.needles)


Requirement = list[Clause]  # all clauses must hold


def _needle(text: str, wildcards: bool) -> bytes | None:
    parts = re.split(r"[*?]", text) if wildcards else [text]
    best = ""
    for part in parts:
        for run in _SAFE_RUN.findall(part):
            if len(run) > len(best):
                best = run
    if len(best) < _MIN_NEEDLE:
        return None
    return best.encode("ascii")


class _Deriver:
    def __init__(self, registry: SchemaRegistry):
        self.registry = registry

    def text_field(self, expr: ast.Expr) -> bool:
        """True when a literal compared with ``expr`` appears as written in the raw line."""
        if not isinstance(expr, ast.Field):
            return False
        for schema in self.registry.all():
            spec = schema.spec(expr.path)
            if spec is not None and (spec.type in _NO_TEXT_TYPES or spec.null_value is not None):
                return False
        return True

    def literal_needle(self, value: object, wildcards: bool) -> bytes | None:
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, int):
            text = str(value)
            return text.encode() if len(text) >= _MIN_NEEDLE and abs(value) < 10**15 else None
        if isinstance(value, str):
            return _needle(value, wildcards)
        return None

    def clause(self, values: tuple[ast.Expr, ...], insensitive: bool, wildcards: bool) -> Clause | None:
        needles = set()
        for v in values:
            if not isinstance(v, ast.Literal):
                return None
            n = self.literal_needle(v.value, wildcards)
            if n is None:
                return None
            needles.add(n.lower() if insensitive else n)
        if not needles:
            return None
        return Clause(frozenset(needles), insensitive)

    def require(self, expr: ast.Expr) -> Requirement:
        if isinstance(expr, ast.And):
            out: Requirement = []
            for t in expr.terms:
                out.extend(self.require(t))
            return out
        if isinstance(expr, ast.Or):
            merged: set[bytes] = set()
            insensitive = False
            for t in expr.terms:
                req = self.require(t)
                if not req:
                    return []
                best = max(req, key=Clause.weight)
                merged |= best.needles
                insensitive = insensitive or best.insensitive
            if insensitive:
                merged = {n.lower() for n in merged}
            return [Clause(frozenset(merged), insensitive)]
        if isinstance(expr, ast.Comparison) and expr.op == "==":
            left, right = expr.left, expr.right
            if isinstance(left, ast.Literal):
                left, right = right, left
            if isinstance(right, ast.Literal) and right.value is not None and self.text_field(left):
                c = self.clause((right,), False, False)
                return [c] if c else []
            return []
        if isinstance(expr, ast.InSet) and not expr.negated and self.text_field(expr.expr):
            c = self.clause(expr.values, expr.insensitive, False)
            return [c] if c else []
        if isinstance(expr, ast.Match) and expr.op in (":", "like", "like~") and self.text_field(expr.expr):
            c = self.clause(expr.patterns, expr.op != "like", True)
            return [c] if c else []
        if isinstance(expr, ast.FunctionCall) and expr.name in ("startsWith", "endsWith", "stringContains"):
            if len(expr.args) == 2 and self.text_field(expr.args[0]):
                c = self.clause((expr.args[1],), expr.insensitive, False)
                return [c] if c else []
        return []

    def filter_requirement(self, query: ast.EventQuery, category_field: str) -> Requirement:
        req = list(self.require(query.condition))
        if query.category is not None:
            cat = ast.Comparison("==", ast.Field(category_field), ast.Literal(query.category))
            req.extend(self.require(cat))
        return sorted(req, key=Clause.weight, reverse=True)


def build_line_filter(
    query: ast.Query, registry: SchemaRegistry, options: QueryOptions
) -> Callable[[bytes], bool] | None:
    """The pre-check for a query, or None when some filter has no requirement at all."""
    deriver = _Deriver(registry)
    body = query.body
    if isinstance(body, ast.EventQuery):
        filters = [body]
    else:
        filters = [s.query for s in body.steps]
        if isinstance(body, ast.SequenceQuery) and body.until is not None:
            filters.append(body.until.query)
    reqs = [deriver.filter_requirement(f, options.event_category_field) for f in filters]
    if any(not r for r in reqs):
        return None
    return _make_filter(reqs)


def _make_filter(reqs: list[Requirement]) -> Callable[[bytes], bool]:
    needs_lower = any(c.insensitive for r in reqs for c in r)
    plans = [tuple((tuple(c.needles), c.insensitive) for c in r) for r in reqs]

    def line_filter(line: bytes) -> bool:
        lower = line.lower() if needs_lower else line
        for plan in plans:
            for needles, insensitive in plan:
                hay = lower if insensitive else line
                for n in needles:
                    if n in hay:
                        break
                else:
                    break
            else:
                return True
        return b"\\u" in line

    return line_filter
