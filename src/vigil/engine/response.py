"""Render a :class:`QueryResult` as Elasticsearch's ``_eql/search`` response body.

The shape follows ``EqlSearchResponse.toXContent`` of Elasticsearch 8.x, key order included:
``is_partial``, ``is_running``, ``took``, ``timed_out``, then ``hits`` with ``total`` and either
``events`` or ``sequences``. Two details of that code are reproduced on purpose:

* a sequence prints ``join_keys`` only when it has some (an unkeyed sequence has none) and
  ``events`` only when non-empty;
* a missing-event step of a sequence (``![...]``) prints as Elasticsearch's ``MISSING_EVENT``:
  ``{"_index": "", "_id": "", "_source": {}, "missing": true}``; ``missing`` is never printed
  for real events.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vigil.engine.model import Event, QueryResult, SequenceHit

__all__ = ["MISSING_EVENT", "event_hit", "iter_ndjson_hits", "sequence_hit", "to_eql_response"]


def missing_event() -> dict[str, Any]:
    """A fresh copy of the placeholder Elasticsearch prints for a missing-event step."""
    return {"_index": "", "_id": "", "_source": {}, "missing": True}


#: The placeholder for a missing-event step (do not mutate; use :func:`missing_event`).
MISSING_EVENT: dict[str, Any] = missing_event()


def event_hit(event: Event | None) -> dict[str, Any]:
    """One entry of ``hits.events`` (or of a sequence's ``events``)."""
    if event is None:
        return missing_event()
    return {"_index": event.index, "_id": event.id, "_source": event.source}


def sequence_hit(sequence: SequenceHit) -> dict[str, Any]:
    """One entry of ``hits.sequences``."""
    body: dict[str, Any] = {}
    if sequence.join_keys:
        body["join_keys"] = list(sequence.join_keys)
    if sequence.events:
        body["events"] = [event_hit(event) for event in sequence.events]
    return body


def to_eql_response(result: QueryResult, took_ms: int) -> dict[str, Any]:
    """The JSON body Elasticsearch's ``_eql/search`` would return for ``result``.

    vigil runs synchronously over complete inputs, so the response is never partial, never
    running and never timed out, and the total is exact (``relation: "eq"``).
    """
    hits: dict[str, Any] = {"total": {"value": result.total, "relation": "eq"}}
    if result.kind == "events":
        hits["events"] = [event_hit(event) for event in result.events]
    else:
        hits["sequences"] = [sequence_hit(sequence) for sequence in result.sequences]
    return {
        "is_partial": False,
        "is_running": False,
        "took": int(took_ms),
        "timed_out": False,
        "hits": hits,
    }


def iter_ndjson_hits(result: QueryResult) -> Iterator[dict[str, Any]]:
    """The hits one per line: events as ``{_index, _id, _source}``, sequences as
    ``{join_keys, events}``, each exactly as in :func:`to_eql_response`."""
    if result.kind == "events":
        for event in result.events:
            yield event_hit(event)
    else:
        for sequence in result.sequences:
            yield sequence_hit(sequence)
