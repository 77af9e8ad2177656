"""The exact EQL evaluator: compile a query once, run it over a stream of events.

Public entry points::

    from vigil.engine import compile_query, QueryOptions, Event
    compiled = compile_query('process where process.name : "cmd.exe"', options=QueryOptions(size=50))
    result = compiled.execute(events)          # events: Iterable[Event]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vigil.engine.model import Event, QueryOptions, QueryResult, QueryStats, SequenceHit

if TYPE_CHECKING:
    from vigil.ecs.schema import SchemaRegistry
    from vigil.engine.runner import CompiledQuery
    from vigil.eql.ast import Query

__all__ = ["Event", "QueryOptions", "QueryResult", "QueryStats", "SequenceHit", "compile_query"]


def compile_query(
    query: str | Query, schemas: SchemaRegistry | None = None, options: QueryOptions | None = None
) -> CompiledQuery:
    """Compile EQL text (or a parsed :class:`vigil.eql.ast.Query`) into a runnable query.

    ``schemas`` is a :class:`vigil.ecs.schema.SchemaRegistry` (default: the ECS schema);
    ``options`` a :class:`QueryOptions`. Returns an object with ``execute(events) -> QueryResult``.
    """
    from vigil.engine.runner import compile_query as _compile

    return _compile(query, schemas=schemas, options=options)
