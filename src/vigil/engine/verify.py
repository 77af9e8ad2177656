"""Checks and rewrites that need the schemas: unknown fields, optional fields, literal arguments.

Elasticsearch resolves every field against the index mappings before it runs a query: a field no
mapping knows is an error (``Unknown column``), while an optional field ``?x`` no mapping knows is
the constant null, so ``?x == ?y`` is true when neither exists. Open-ended ECS data has no such
closed mapping (schemas with ``strict=False``), so there an absent field is simply null.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from typing import Any

from vigil.ecs.schema import FieldType, SchemaRegistry
from vigil.engine.compile import span_location
from vigil.eql import ast
from vigil.errors import EqlSemanticError


def transform(node: Any, fn: Callable[[Any], Any]) -> Any:
    """Rebuild a tree bottom-up, replacing each node by ``fn(node)`` (a pure rewrite)."""
    if isinstance(node, tuple):
        return tuple(transform(n, fn) for n in node)
    if not dataclasses.is_dataclass(node) or isinstance(node, (ast.Span, ast.TimeSpan)):
        return node
    changes = {}
    for f in dataclasses.fields(node):
        if f.name in ("span", "source"):
            continue
        old = getattr(node, f.name)
        new = transform(old, fn)
        if new is not old:
            changes[f.name] = new
    if changes:
        node = dataclasses.replace(node, **changes)  # type: ignore[type-var]
    return fn(node)


_LEAF: tuple[str, ...] = ("<leaf>",)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(cls: type) -> tuple[str, ...]:
    """The fields of a node class that may hold nodes (_LEAF for classes that are not nodes);
    found once per class, as ``dataclasses.fields`` is slow enough to show in loading 1,000 rules."""
    if not dataclasses.is_dataclass(cls) or issubclass(cls, (ast.Span, ast.TimeSpan)):
        names = _LEAF
    else:
        names = tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("span", "source"))
    _CHILD_FIELDS[cls] = names
    return names


def iter_nodes(node: Any) -> list[Any]:
    """Every node of a tree, parents before children."""
    out: list[Any] = []

    def walk(n: Any) -> None:
        if isinstance(n, tuple):
            for x in n:
                walk(x)
            return
        names = _CHILD_FIELDS.get(type(n))
        if names is None:
            names = _child_fields(type(n))
        if names is _LEAF:
            return
        out.append(n)
        for name in names:
            walk(getattr(n, name))

    walk(node)
    return out


def verify_query(query: ast.Query, registry: SchemaRegistry) -> ast.Query:
    """Check fields and literal arguments; fold unknown optional fields to null."""
    strict = [s for s in registry.all() if s.strict]
    source = query.source
    if strict:

        def known(path: str) -> bool:
            return any(s.knows(path) for s in strict)

        def fold(node: Any) -> Any:
            if isinstance(node, ast.Field) and node.optional and not known(node.path):
                return ast.Literal(None, span=node.span)
            return node

        for node in iter_nodes(query.body):
            if isinstance(node, ast.Field) and not node.optional and not known(node.path):
                names = sorted({f for s in strict for f in (*s.fields, *s.aliases)})
                close = difflib.get_close_matches(node.path, names, n=1)
                raise EqlSemanticError(
                    f"Unknown column [{node.path}]",
                    span_location(node.span, source),
                    hint=f"did you mean [{close[0]}]?"
                    if close
                    else f"prefix it with ? (?{node.path}) if it may be absent from the data",
                )
        body = transform(query.body, fold)
        query = dataclasses.replace(query, body=body)
    _check_functions(query, registry)
    return query


_ES_TYPE_NAMES = {
    FieldType.KEYWORD: "keyword",
    FieldType.TEXT: "text",
    FieldType.LONG: "long",
    FieldType.DOUBLE: "double",
    FieldType.BOOLEAN: "boolean",
    FieldType.IP: "ip",
    FieldType.DATE: "date",
    FieldType.DATE_NANOS: "date_nanos",
    FieldType.VERSION: "version",
}


def _check_functions(query: ast.Query, registry: SchemaRegistry) -> None:
    """Reject calls Elasticsearch's verifier rejects: wrong literal or field types, non-constant
    arguments where constants are required, invalid CIDR blocks."""
    from vigil.eql.functions import FUNCTIONS, MISSING, check_literal_args
    from vigil.eql.printer import to_text

    for node in iter_nodes(query.body):
        if not (isinstance(node, ast.FunctionCall) and node.name in FUNCTIONS):
            continue
        args = [a.value if isinstance(a, ast.Literal) else MISSING for a in node.args]
        types: list[str | None] = []
        for a in node.args:
            found: str | None = None
            if isinstance(a, ast.Field):
                for schema in registry.all():
                    spec = schema.spec(a.path)
                    if spec is not None and spec.type in _ES_TYPE_NAMES:
                        found = _ES_TYPE_NAMES[spec.type]
                        break
            types.append(found)
        try:
            check_literal_args(
                FUNCTIONS[node.name],
                args,
                source_text=to_text(node),
                arg_texts=[to_text(a) for a in node.args],
                arg_types=types,
            )
        except EqlSemanticError as exc:
            if exc.location is None:
                exc.location = span_location(node.span, query.source)
            raise
