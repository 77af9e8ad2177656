"""Hand each event only to the queries that can match it: an index of many queries' filters.

With hundreds of rules, evaluating every rule on every event costs more than reading the data.
Most filters, though, pin the event down by literal values: a category (``process where``) and
usually a field compared with constants (``process.name : ("cmd.exe", "powershell.exe")``,
``event.action == "start"``). The dispatcher indexes every filter of every query by those:

    category  ->  field  ->  value  ->  queries

and for an event reads its categories and the indexed fields' values once, collecting the
queries a filter of which could match. Only those are evaluated exactly. The index is
conservative: it may name a query that then does not match, never miss one that would.

A filter's *anchor* is one conjunct of its condition that is an exact comparison with constants
(``==``, ``in``, ``:`` and ``in~`` without wildcards, ``like``/``like~`` without wildcards) on a
field; case-insensitive ones are indexed lowercased. A filter without an anchor is indexed by its
category alone; ``any where`` filters without an anchor make their query a candidate for every
event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.ecs.schema import FieldType, Schema
from vigil.engine.typed import coerce_literal, make_field_reader
from vigil.eql import ast

_WILDCARD = ("*", "?")
# Fields whose values are weak discriminators (few distinct values): used only when nothing better.
_WEAK = ("event.type", "event.outcome", "event.kind", "event.category", "host.os.type", "host.os.family")


@dataclass(frozen=True)
class Anchor:
    """An exact-value test a filter cannot match without."""

    field: str
    values: frozenset[Any]
    insensitive: bool


def query_filters(query: ast.Query) -> list[ast.EventQuery]:
    """Every filter of a query: its event query, or its steps (missing ones too) and until."""
    body = query.body
    if isinstance(body, ast.EventQuery):
        return [body]
    filters = [s.query for s in body.steps]
    if isinstance(body, ast.SequenceQuery) and body.until is not None:
        filters.append(body.until.query)
    return filters


def _conjuncts(expr: ast.Expr) -> list[ast.Expr]:
    if isinstance(expr, ast.And):
        out: list[ast.Expr] = []
        for t in expr.terms:
            out.extend(_conjuncts(t))
        return out
    return [expr]


def _literal_values(exprs: Sequence[ast.Expr], wildcards_break: bool) -> list[Any] | None:
    values = []
    for e in exprs:
        if not isinstance(e, ast.Literal) or e.value is None or isinstance(e.value, bool):
            return None
        if wildcards_break and isinstance(e.value, str) and any(w in e.value for w in _WILDCARD):
            return None
        values.append(e.value)
    return values


def _anchor_of(expr: ast.Expr, schema: Schema) -> Anchor | None:
    field: ast.Expr | None = None
    values: list[Any] | None = None
    insensitive = False
    if isinstance(expr, ast.Comparison) and expr.op == "==":
        left, right = expr.left, expr.right
        if isinstance(left, ast.Literal):
            left, right = right, left
        if isinstance(left, ast.Field) and isinstance(right, ast.Literal):
            field, values = left, _literal_values([right], False)
    elif isinstance(expr, ast.InSet) and not expr.negated and isinstance(expr.expr, ast.Field):
        field, values, insensitive = expr.expr, _literal_values(expr.values, False), expr.insensitive
    elif (
        isinstance(expr, ast.Match) and expr.op in (":", "like", "like~") and isinstance(expr.expr, ast.Field)
    ):
        field, values = expr.expr, _literal_values(expr.patterns, True)
        insensitive = expr.op != "like"
    if not isinstance(field, ast.Field) or values is None or field.optional:
        return None
    spec = schema.spec(field.path)
    ftype = spec.type if spec else FieldType.UNKNOWN
    if ftype not in (FieldType.KEYWORD, FieldType.TEXT, FieldType.UNKNOWN, FieldType.LONG):
        # ips, dates, versions compare in other forms than their literals: not indexed
        return None
    coerced = []
    for v in values:
        c = coerce_literal(v, ftype, spec)
        if insensitive:
            if not isinstance(c, str):
                return None
            c = c.lower()
        elif ftype is FieldType.UNKNOWN and not isinstance(c, str):
            # a dynamic field may hold 445 or "445": index both spellings
            coerced.append(str(c))
        coerced.append(c)
    return Anchor(field.path, frozenset(coerced), insensitive)


def filter_anchor(query: ast.EventQuery, schema: Schema) -> Anchor | None:
    """The most selective anchor of a filter, or None."""
    anchors = [a for a in (_anchor_of(c, schema) for c in _conjuncts(query.condition)) if a is not None]
    if not anchors:
        return None
    return min(anchors, key=lambda a: (a.field in _WEAK, len(a.values)))


class Dispatcher:
    """Which of many queries an event may match (see the module docstring)."""

    def __init__(self, queries: Sequence[ast.Query], schema: Schema, category_field: str = "event.category"):
        self.size = len(queries)
        self.always: set[int] = set()
        # category (None = any) -> field -> (exact values, lowercased values) -> query numbers
        self.by_category: dict[str | None, dict[str, tuple[dict[Any, set[int]], dict[str, set[int]]]]] = {}
        self.category_only: dict[str, set[int]] = {}
        self.readers: dict[str, Callable[[Any], Any]] = {}
        self.category = make_field_reader(schema, category_field)
        for qi, query in enumerate(queries):
            for f in query_filters(query):
                anchor = filter_anchor(f, schema)
                if anchor is None:
                    if f.category is None:
                        self.always.add(qi)
                    else:
                        self.category_only.setdefault(f.category, set()).add(qi)
                    continue
                fields = self.by_category.setdefault(f.category, {})
                exact, folded = fields.setdefault(anchor.field, ({}, {}))
                table: dict[Any, set[int]] = folded if anchor.insensitive else exact
                for v in anchor.values:
                    table.setdefault(v, set()).add(qi)
                if anchor.field not in self.readers:
                    self.readers[anchor.field] = make_field_reader(schema, anchor.field)

    def candidates(self, doc: Any) -> set[int]:
        """Numbers of the queries a filter of which could match ``doc``."""
        out = set(self.always)
        cat = self.category(doc)
        cats: list[Any] = cat if isinstance(cat, list) else ([cat] if cat is not None else [])
        for c in cats:
            only = self.category_only.get(c)
            if only:
                out |= only
        for key in (None, *cats):
            fields = self.by_category.get(key)
            if not fields:
                continue
            for field, (exact, folded) in fields.items():
                v = self.readers[field](doc)
                if v is None:
                    continue
                for x in v if isinstance(v, list) else (v,):
                    hit = exact.get(x)
                    if hit:
                        out |= hit
                    if folded and isinstance(x, str):
                        hit = folded.get(x.lower())
                        if hit:
                            out |= hit
                    elif not isinstance(x, str) and exact:
                        hit = exact.get(str(x))
                        if hit:
                            out |= hit
        return out
