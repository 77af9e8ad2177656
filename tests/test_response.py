"""The _eql/search response body, built from hand-made results (no engine needed)."""

from __future__ import annotations

from vigil.engine.model import Event, QueryResult, SequenceHit
from vigil.engine.response import iter_ndjson_hits, to_eql_response

A = Event({"@timestamp": "2024-05-14T08:00:00Z", "x": 1}, "logs-a-default", "id-a", 0)
B = Event({"@timestamp": "2024-05-14T08:00:01Z", "x": 2}, "logs-b-default", "id-b", 1)


def test_event_query_response_has_the_elasticsearch_shape() -> None:
    body = to_eql_response(QueryResult(kind="events", events=[A, B]), took_ms=7)
    assert list(body) == ["is_partial", "is_running", "took", "timed_out", "hits"]
    assert body["is_partial"] is False and body["is_running"] is False and body["timed_out"] is False
    assert body["took"] == 7
    assert body["hits"] == {
        "total": {"value": 2, "relation": "eq"},
        "events": [
            {"_index": "logs-a-default", "_id": "id-a", "_source": A.source},
            {"_index": "logs-b-default", "_id": "id-b", "_source": B.source},
        ],
    }
    assert list(body["hits"]) == ["total", "events"]


def test_sequence_response_with_a_missing_event() -> None:
    result = QueryResult(kind="sequences", sequences=[SequenceHit(["host-1", 42], [A, None, B])])
    body = to_eql_response(result, took_ms=0)
    assert body["hits"]["total"] == {"value": 1, "relation": "eq"}
    (sequence,) = body["hits"]["sequences"]
    assert sequence["join_keys"] == ["host-1", 42]
    assert sequence["events"][1] == {"_index": "", "_id": "", "_source": {}, "missing": True}
    # "missing" is only ever printed for missing events, as Elasticsearch does.
    assert "missing" not in sequence["events"][0]


def test_unkeyed_sequence_has_no_join_keys_field() -> None:
    result = QueryResult(kind="sequences", sequences=[SequenceHit([], [A, B])])
    (sequence,) = to_eql_response(result, took_ms=0)["hits"]["sequences"]
    assert list(sequence) == ["events"]


def test_empty_results() -> None:
    assert to_eql_response(QueryResult(kind="events"), 0)["hits"] == {
        "total": {"value": 0, "relation": "eq"},
        "events": [],
    }
    assert to_eql_response(QueryResult(kind="sequences"), 0)["hits"]["sequences"] == []


def test_ndjson_hits_match_the_response_entries() -> None:
    events = QueryResult(kind="events", events=[A, B])
    assert list(iter_ndjson_hits(events)) == to_eql_response(events, 0)["hits"]["events"]
    sequences = QueryResult(kind="sequences", sequences=[SequenceHit(["k"], [A, None])])
    assert list(iter_ndjson_hits(sequences)) == to_eql_response(sequences, 0)["hits"]["sequences"]


def test_missing_placeholders_are_independent_copies() -> None:
    result = QueryResult(kind="sequences", sequences=[SequenceHit([], [None, None])])
    first, second = to_eql_response(result, 0)["hits"]["sequences"][0]["events"]
    first["_source"]["changed"] = True
    assert second["_source"] == {}
