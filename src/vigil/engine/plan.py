"""Per-index plans: the compiled filters, keys and ordering readers of one query for one schema.

A query is compiled once per schema it meets (events of different indices may map the same field
differently, as ``sample1`` and ``sample2`` do in the conformance data). A :class:`StepPlan` holds
one filter (category test and condition) and its join-key readers; :class:`IndexPlan` holds every
step of the query plus the timestamp and tiebreaker readers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vigil.ecs.schema import FieldType, Schema
from vigil.engine.compile import ExprCompiler, Fn, compile_keys
from vigil.engine.model import QueryOptions
from vigil.engine.typed import make_field_reader
from vigil.eql import ast

Ordinal = tuple[Any, ...]


@dataclass(frozen=True)
class StepPlan:
    """A compiled filter with its key readers (sequence/sample keys, then the step's own).

    ``category`` and ``condition`` are the two halves of ``matches``: runners that test many
    filters per event read the category once and test it against each filter's ``category``."""

    matches: Callable[[Any], bool]
    keys: tuple[tuple[Fn, FieldType, bool], ...]
    category: str | None = None
    condition: Callable[[Any], Any] | None = None

    def key_tuples(self, doc: Any) -> list[tuple[Any, ...]]:
        """Every join-key tuple of a document: multi-valued keys give the cartesian product of
        their distinct non-null values; a missing non-optional key gives none (event dropped)."""
        if not self.keys:
            return [()]
        per_key: list[list[Any]] = []
        for read, _ftype, optional in self.keys:
            v = read(doc)
            if v is None:
                if not optional:
                    return []
                per_key.append([None])
            elif type(v) is list:
                distinct: list[Any] = []
                for x in v:
                    if x is not None and x not in distinct:
                        distinct.append(x)
                if not distinct:
                    return []
                per_key.append(distinct)
            else:
                per_key.append([v])
        if all(len(vs) == 1 for vs in per_key):
            return [tuple(vs[0] for vs in per_key)]
        return [tuple(c) for c in itertools.product(*per_key)]

    @property
    def key_types(self) -> tuple[FieldType, ...]:
        """The types of the key readers (for printing key values)."""
        return tuple(t for _r, t, _o in self.keys)


def _matcher(compiler: ExprCompiler, query: ast.EventQuery, category_field: str) -> Callable[[Any], bool]:
    cond = compiler.predicate(query.condition)
    if query.category is None:
        return lambda doc: cond(doc) is True
    cat = compiler.predicate(ast.Comparison("==", ast.Field(category_field), ast.Literal(query.category)))
    if isinstance(query.condition, ast.Literal) and query.condition.value is True:
        return lambda doc: cat(doc) is True
    return lambda doc: cat(doc) is True and cond(doc) is True


@dataclass(frozen=True)
class IndexPlan:
    """Everything compiled for one schema."""

    steps: tuple[StepPlan, ...]
    until: StepPlan | None
    timestamp: Fn
    tiebreaker: Fn | None
    category: Fn

    def matching_steps(self, doc: Any) -> list[int]:
        """Indices of the steps whose filter the document satisfies (category read once)."""
        cat = self.category(doc)
        out = []
        for i, step in enumerate(self.steps):
            want = step.category
            if want is not None:
                if cat is None:
                    continue
                if type(cat) is list:
                    if want not in cat:
                        continue
                elif cat != want:
                    continue
            cond = step.condition
            if cond is not None and cond(doc) is not True:
                continue
            out.append(i)
        return out

    def ordinal(self, doc: Any, seq: int) -> Ordinal | None:
        """The sort position of an event: (timestamp, tiebreaker, input position).

        None when the event has no timestamp (Elasticsearch cannot place it in time)."""
        ts = self.timestamp(doc)
        if type(ts) is list:
            ts = min(ts)
        if ts is None:
            return None
        if self.tiebreaker is None:
            return (ts, 0, None, seq)
        tb = self.tiebreaker(doc)
        if type(tb) is list:
            tb = min(tb)
        # Missing tiebreakers sort last, as Elasticsearch's sort puts missing values last.
        return (ts, 1, tb, seq) if tb is None else (ts, 0, tb, seq)


def build_plan(query: ast.Query, schema: Schema, options: QueryOptions) -> IndexPlan:
    """Compile every filter and key of ``query`` for ``schema``."""
    compiler = ExprCompiler(schema, query.source)
    body = query.body
    cat_field = options.event_category_field

    def step_plan(step: ast.SequenceStep, shared: tuple[ast.Expr, ...]) -> StepPlan:
        keys = compile_keys(compiler, (*shared, *step.keys))
        q = step.query
        return StepPlan(
            _matcher(compiler, q, cat_field), tuple(keys), q.category, compiler.predicate(q.condition)
        )

    if isinstance(body, ast.EventQuery):
        steps: tuple[StepPlan, ...] = (
            StepPlan(
                _matcher(compiler, body, cat_field), (), body.category, compiler.predicate(body.condition)
            ),
        )
        until = None
    else:
        steps = tuple(step_plan(s, body.keys) for s in body.steps)
        until = None
        if isinstance(body, ast.SequenceQuery) and body.until is not None:
            until = step_plan(body.until, body.keys)
    tiebreaker = make_field_reader(schema, options.tiebreaker_field) if options.tiebreaker_field else None
    return IndexPlan(
        steps,
        until,
        _timestamp_reader(schema, options.timestamp_field),
        tiebreaker,
        make_field_reader(schema, cat_field),
    )


def _timestamp_reader(schema: Schema, path: str) -> Fn:
    # The timestamp field is a date even where the mapping does not say so.
    from vigil.ecs.schema import FieldSpec

    spec = schema.spec(path)
    if spec is None or spec.type not in (FieldType.DATE, FieldType.DATE_NANOS):
        typed = Schema(
            fields={**schema.fields, schema.resolve(path): FieldSpec(FieldType.DATE)},
            aliases=schema.aliases,
            name=schema.name,
        )
        return make_field_reader(typed, path)
    return make_field_reader(schema, path)
