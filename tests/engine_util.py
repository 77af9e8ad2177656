"""Helpers for engine tests: run a query over in-memory documents and return ids."""

from __future__ import annotations

from typing import Any

from vigil.ecs.schema import SchemaRegistry
from vigil.engine import Event, QueryOptions, compile_query


def make_events(docs: list[dict[str, Any]], index: str = "logs-test") -> list[Event]:
    """Events with ids taken from each document's ``id`` field (or its position)."""
    return [Event(source=d, index=index, id=str(d.get("id", i)), seq=i) for i, d in enumerate(docs)]


def run(
    query: str,
    docs: list[dict[str, Any]],
    schemas: SchemaRegistry | None = None,
    **opts: Any,
) -> list[Any]:
    """Ids of the matching events (flat, -1 for missing placeholders) for a query."""
    opts.setdefault("size", 100)
    compiled = compile_query(query, schemas=schemas, options=QueryOptions(**opts))
    result = compiled.execute(make_events(docs))
    if result.kind == "events":
        return [e.source.get("id") for e in result.events]
    out: list[Any] = []
    for s in result.sequences:
        out.extend(e.source.get("id") if e is not None else -1 for e in s.events)
    return out


def run_sequences(query: str, docs: list[dict[str, Any]], **opts: Any) -> list[tuple[list[Any], list[Any]]]:
    """(join keys, ids) per sequence."""
    opts.setdefault("size", 100)
    result = compile_query(query, options=QueryOptions(**opts)).execute(make_events(docs))
    return [(s.join_keys, [e.source.get("id") if e else -1 for e in s.events]) for s in result.sequences]
