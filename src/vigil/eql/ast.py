"""Typed syntax tree of Elasticsearch EQL.

Every node is a frozen dataclass. Nodes that come from the query text carry a :class:`Span`
(excluded from equality) so later stages can point at the text when they reject something.
The parser produces these nodes; the printer, the verifier and the engine's compiler consume
them. Nothing here knows about events.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """Where a node stands in the query text: 1-based line/column and character offsets."""

    line: int
    column: int
    start: int
    end: int


# --------------------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Literal:
    """A constant: string, integer, float, boolean or null (``None``)."""

    value: str | int | float | bool | None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Field:
    """A field reference; ``path`` is the dotted name as written (backquotes removed).

    ``optional`` is the ``?field`` form: a field unknown to the data is null instead of an error.
    """

    path: str
    optional: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Comparison:
    """``left op right`` with op one of ``==`` ``!=`` ``<`` ``<=`` ``>`` ``>=``."""

    op: str
    left: Expr
    right: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Match:
    """Pattern operators with one or several patterns (``f : ("a*", "b")``).

    ``op`` is one of ``:`` (case-insensitive, wildcards), ``like``, ``like~``, ``regex``,
    ``regex~``. Any pattern matching makes the node true.
    """

    op: str
    expr: Expr
    patterns: tuple[Expr, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class InSet:
    """``expr in (a, b)``, ``expr in~ (...)``, ``expr not in (...)``, ``expr not in~ (...)``."""

    expr: Expr
    values: tuple[Expr, ...]
    negated: bool = False
    insensitive: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class And:
    """Conjunction of two or more terms (flattened by the parser)."""

    terms: tuple[Expr, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Or:
    """Disjunction of two or more terms (flattened by the parser)."""

    terms: tuple[Expr, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Not:
    """Logical negation (three-valued: ``not null`` is null)."""

    expr: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Arithmetic:
    """``left op right`` with op one of ``+`` ``-`` ``*`` ``/`` ``%``."""

    op: str
    left: Expr
    right: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Negate:
    """Unary minus."""

    expr: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class FunctionCall:
    """A function call. ``name`` is the canonical camelCase name (``cidrMatch``), ``insensitive``
    is the ``~`` variant (``startsWith~``)."""

    name: str
    args: tuple[Expr, ...]
    insensitive: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)


Expr = Literal | Field | Comparison | Match | InSet | And | Or | Not | Arithmetic | Negate | FunctionCall


def children(expr: Expr) -> Iterator[Expr]:
    """The direct sub-expressions of ``expr``, left to right."""
    if isinstance(expr, Comparison | Arithmetic):
        yield expr.left
        yield expr.right
    elif isinstance(expr, And | Or):
        yield from expr.terms
    elif isinstance(expr, Not | Negate):
        yield expr.expr
    elif isinstance(expr, Match):
        yield expr.expr
        yield from expr.patterns
    elif isinstance(expr, InSet):
        yield expr.expr
        yield from expr.values
    elif isinstance(expr, FunctionCall):
        yield from expr.args


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of ``expr``, parents first, left to right."""
    pending = [expr]
    while pending:
        node = pending.pop()
        yield node
        if not isinstance(node, Literal | Field):
            pending.extend(reversed(tuple(children(node))))


# --------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class TimeSpan:
    """A duration as written (``10s``): the number, the unit, and its value in milliseconds."""

    value: int
    unit: str  # ms, s, m, h, d
    span: Span | None = field(default=None, compare=False, repr=False)

    @property
    def millis(self) -> int:
        """The duration in milliseconds."""
        return self.value * _UNIT_MILLIS[self.unit]


_UNIT_MILLIS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


@dataclass(frozen=True)
class EventQuery:
    """``category where condition``; ``category`` is None for ``any``."""

    category: str | None
    condition: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class SequenceStep:
    """One bracketed step of a sequence or sample: its filter, its own join keys, its repetition
    count (``with runs=N``) and whether it is a missing-event step (``![...]``)."""

    query: EventQuery
    keys: tuple[Expr, ...] = ()
    runs: int = 1
    missing: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class SequenceQuery:
    """``sequence [by k...] [with maxspan=T] step step... [until step]``."""

    steps: tuple[SequenceStep, ...]
    keys: tuple[Expr, ...] = ()
    maxspan: TimeSpan | None = None
    until: SequenceStep | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class SampleQuery:
    """``sample by k... [f1] [f2] ...``: one event per filter sharing the keys, any time order."""

    steps: tuple[SequenceStep, ...]
    keys: tuple[Expr, ...] = ()
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Pipe:
    """A pipe after the query. Elasticsearch supports ``head N`` and ``tail N``."""

    name: str
    args: tuple[Expr, ...] = ()
    span: Span | None = field(default=None, compare=False, repr=False)


QueryBody = EventQuery | SequenceQuery | SampleQuery


@dataclass(frozen=True)
class Query:
    """A whole EQL query: the body and its pipes. ``source`` is the text it was parsed from."""

    body: QueryBody
    pipes: tuple[Pipe, ...] = ()
    source: str | None = field(default=None, compare=False, repr=False)
