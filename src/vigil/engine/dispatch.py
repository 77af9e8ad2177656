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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.ecs.schema import FieldType, Schema
from vigil.engine.typed import coerce_literal, make_field_reader
from vigil.eql import ast
from vigil.eql.patterns import ascii_fold

_WILDCARD = ("*", "?")
# Fields whose values are weak discriminators (few distinct values): used only when nothing better.
_WEAK = {
    "event.type": 1,
    "event.outcome": 1,
    "event.kind": 2,
    "event.category": 1,
    "host.os.type": 3,
    "host.os.family": 3,
    "host.os.platform": 3,
    "host.os.name": 2,
}


@dataclass(frozen=True)
class Anchor:
    """A test a filter cannot match without: the field equals one of ``values`` (``patterns``
    empty), or matches one of ``patterns`` (wildcards ``*``/``?``)."""

    field: str
    values: frozenset[Any]
    insensitive: bool
    patterns: tuple[str, ...] = ()


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
        if values is None:
            return _pattern_anchor(expr, schema)
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


def _pattern_anchor(expr: ast.Match, schema: Schema) -> Anchor | None:
    """``field : ("*.exe", "cmd*")``: indexed by each pattern's literal prefix or suffix."""
    if not isinstance(expr.expr, ast.Field) or expr.expr.optional:
        return None
    spec = schema.spec(expr.expr.path)
    if spec is not None and spec.type not in (FieldType.KEYWORD, FieldType.TEXT):
        return None
    patterns = []
    for p in expr.patterns:
        if not isinstance(p, ast.Literal) or not isinstance(p.value, str):
            return None
        patterns.append(p.value)
    insensitive = expr.op != "like"
    if insensitive:
        # as the matcher folds case: ASCII letters only
        patterns = [ascii_fold(p) for p in patterns]
    return Anchor(expr.expr.path, frozenset(), insensitive, tuple(patterns))


def _rank(a: Anchor) -> tuple[int, bool, int]:
    # Discriminating fields first, exact values before patterns, fewer alternatives first.
    return (_WEAK.get(a.field, 0), bool(a.patterns), len(a.values) + len(a.patterns))


def _set_rank(anchors: tuple[Anchor, ...]) -> tuple[int, bool, int]:
    # A set of alternatives is as weak as its weakest member, and wider the more it holds.
    worst = max(_rank(a) for a in anchors)
    return (worst[0], worst[1], sum(_rank(a)[2] for a in anchors))


def _anchors_of(expr: ast.Expr, schema: Schema) -> tuple[Anchor, ...] | None:
    """Alternative anchors a conjunct cannot hold without: one anchor, or for ``a or b or ...``
    the best anchor of every branch (None when some branch has none)."""
    if isinstance(expr, ast.Or):
        branches: list[Anchor] = []
        for term in expr.terms:
            best = _best(_conjuncts(term), schema)
            if best is None:
                return None
            branches.extend(best)
        return tuple(branches)
    single = _anchor_of(expr, schema)
    return (single,) if single is not None else None


def _best(conjuncts: list[ast.Expr], schema: Schema) -> tuple[Anchor, ...] | None:
    options = [a for a in (_anchors_of(c, schema) for c in conjuncts) if a is not None]
    if not options:
        return None
    return min(options, key=_set_rank)


def filter_anchors(query: ast.EventQuery, schema: Schema) -> tuple[Anchor, ...] | None:
    """The most selective set of alternative anchors of a filter (the filter cannot match
    unless one of them holds), or None."""
    return _best(_conjuncts(query.condition), schema)


def filter_anchor(query: ast.EventQuery, schema: Schema) -> Anchor | None:
    """The most selective single anchor of a filter, or None."""
    anchors = [a for a in (_anchor_of(c, schema) for c in _conjuncts(query.condition)) if a is not None]
    if not anchors:
        return None
    return min(anchors, key=_rank)


class PatternIndex:
    """Wildcard patterns of one field: a value is looked up by its prefixes and suffixes (one
    dict probe per distinct literal length); patterns with wildcards at both ends are tested by
    their literal core; patterns without any literal match everything."""

    def __init__(self) -> None:
        self.prefix: dict[int, dict[str, set[int]]] = {}
        self.suffix: dict[int, dict[str, set[int]]] = {}
        self.contains: dict[str, set[int]] = {}
        self.everything: set[int] = set()

    def add(self, pattern: str, qi: int) -> None:
        """Index one pattern of query ``qi``."""
        head = _literal_head(pattern)
        tail = _literal_head(pattern[::-1])[::-1]
        if head:
            self.prefix.setdefault(len(head), {}).setdefault(head, set()).add(qi)
        elif tail:
            self.suffix.setdefault(len(tail), {}).setdefault(tail, set()).add(qi)
        else:
            core = max((s for s in _split_wild(pattern) if s), key=len, default="")
            if core:
                self.contains.setdefault(core, set()).add(qi)
            else:
                self.everything.add(qi)

    def freeze(self) -> None:
        """Turn the query sets into bit masks (after the last :meth:`add`)."""
        self._prefix = {n: {k: mask_of(v) for k, v in t.items()} for n, t in self.prefix.items()}
        self._suffix = {n: {k: mask_of(v) for k, v in t.items()} for n, t in self.suffix.items()}
        self._contains = [(core, mask_of(v)) for core, v in self.contains.items()]
        self._everything = mask_of(self.everything)

    def lookup(self, value: str) -> int:
        """The queries whose patterns ``value`` may match, as bits."""
        out = self._everything
        n = len(value)
        for length, table in self._prefix.items():
            if length <= n:
                out |= table.get(value[:length], 0)
        for length, table in self._suffix.items():
            if length <= n:
                out |= table.get(value[n - length :], 0)
        for core, qis in self._contains:
            if core in value:
                out |= qis
        return out


def mask_of(queries: Iterable[int]) -> int:
    """A set of query numbers as bits (query ``i`` is ``1 << i``); :func:`bits` turns it back."""
    out = 0
    for qi in queries:
        out |= 1 << qi
    return out


def bits(mask: int) -> list[int]:
    """The positions of the set bits of ``mask``, lowest first."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


def _literal_head(pattern: str) -> str:
    for i, ch in enumerate(pattern):
        if ch in _WILDCARD:
            return pattern[:i]
    return pattern


def _split_wild(pattern: str) -> list[str]:
    parts = [pattern]
    for w in _WILDCARD:
        parts = [x for p in parts for x in p.split(w)]
    return parts


class Dispatcher:
    """Which of many queries an event may match (see the module docstring)."""

    def __init__(self, queries: Sequence[ast.Query], schema: Schema, category_field: str = "event.category"):
        self.size = len(queries)
        self.always: set[int] = set()
        # category (None = any) -> field -> (exact values, lowercased values) -> query numbers
        self.by_category: dict[str | None, dict[str, tuple[dict[Any, set[int]], dict[str, set[int]]]]] = {}
        # category (None = any) -> field -> (case-sensitive patterns, lowercased patterns)
        self.patterns: dict[str | None, dict[str, tuple[PatternIndex, PatternIndex]]] = {}
        self.category_only: dict[str, set[int]] = {}
        self.readers: dict[str, Callable[[Any], Any]] = {}
        self.category = make_field_reader(schema, category_field)
        for qi, query in enumerate(queries):
            for f in query_filters(query):
                anchors = filter_anchors(f, schema)
                if anchors is None:
                    if f.category is None:
                        self.always.add(qi)
                    else:
                        self.category_only.setdefault(f.category, set()).add(qi)
                    continue
                for anchor in anchors:
                    self._add(f.category, anchor, qi, schema)
        self._freeze()

    def _add(self, category: str | None, anchor: Anchor, qi: int, schema: Schema) -> None:
        """Index query ``qi`` under one anchor of one of its filters."""
        if anchor.field not in self.readers:
            self.readers[anchor.field] = make_field_reader(schema, anchor.field)
        if anchor.patterns:
            pfields = self.patterns.setdefault(category, {})
            sensitive, lowered = pfields.setdefault(anchor.field, (PatternIndex(), PatternIndex()))
            index = lowered if anchor.insensitive else sensitive
            for pattern in anchor.patterns:
                index.add(pattern, qi)
            return
        fields = self.by_category.setdefault(category, {})
        exact, folded = fields.setdefault(anchor.field, ({}, {}))
        table: dict[Any, set[int]] = folded if anchor.insensitive else exact
        for v in anchor.values:
            table.setdefault(v, set()).add(qi)

    def _freeze(self) -> None:
        """The index as bit masks over the queries: unions of candidates are then single
        integer operations, and a hunt intersects them with the rule-set pre-filter's."""
        self._always = mask_of(self.always)
        self._category_only = {c: mask_of(q) for c, q in self.category_only.items()}
        self._exact: dict[str | None, list[tuple[Callable[[Any], Any], dict[Any, int], dict[str, int]]]] = {}
        for cat, fields in self.by_category.items():
            self._exact[cat] = [
                (
                    self.readers[f],
                    {v: mask_of(q) for v, q in exact.items()},
                    {v: mask_of(q) for v, q in folded.items()},
                )
                for f, (exact, folded) in fields.items()
            ]
        self._patterns: dict[str | None, list[tuple[Callable[[Any], Any], PatternIndex, PatternIndex]]] = {}
        for cat, pfields in self.patterns.items():
            for sensitive, lowered in pfields.values():
                sensitive.freeze()
                lowered.freeze()
            self._patterns[cat] = [(self.readers[f], s, lo) for f, (s, lo) in pfields.items()]

    def candidates(self, doc: Any) -> set[int]:
        """Numbers of the queries a filter of which could match ``doc``."""
        return set(bits(self.mask(doc)))

    def mask(self, doc: Any) -> int:
        """The queries a filter of which could match ``doc``, as bits (query ``i`` is ``1 << i``)."""
        out = self._always
        cat = self.category(doc)
        cats: list[Any] = cat if isinstance(cat, list) else ([cat] if cat is not None else [])
        for c in cats:
            out |= self._category_only.get(c, 0)
        for key in (None, *cats):
            for read, exact, folded in self._exact.get(key, ()):
                v = read(doc)
                if v is None:
                    continue
                for x in v if isinstance(v, list) else (v,):
                    out |= exact.get(x, 0)
                    if isinstance(x, str):
                        if folded:
                            out |= folded.get(x.lower(), 0)
                    elif exact:
                        out |= exact.get(str(x), 0)
            for read, sensitive, lowered in self._patterns.get(key, ()):
                v = read(doc)
                if v is None:
                    continue
                for x in v if isinstance(v, list) else (v,):
                    if type(x) in (int, float):
                        x = str(x)  # the matcher tests numbers by their text
                    if isinstance(x, str):
                        out |= sensitive.lookup(x) | lowered.lookup(ascii_fold(x))
        return out
