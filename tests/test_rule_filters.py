"""Rule filters (Kibana filter objects and query DSL) over event documents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from vigil.errors import RuleError
from vigil.rules.filters import UnsupportedFilterError, compile_filters, compile_query, minimum_should_match

NOW = datetime(2024, 3, 15, 12, 0, 0, tzinfo=UTC)

DOC: dict[str, Any] = {
    "@timestamp": "2024-03-15T10:00:00.000Z",
    "host": {"name": "WS-01", "os": {"type": "windows"}},
    "process": {
        "name": "cmd.exe",
        "pid": 4242,
        "args": ["cmd.exe", "/c", "whoami"],
        "parent": {"name": None},
    },
    "destination.port": "445",
    "destination": {"ip": "10.1.2.3"},
    "file": {"path": "C:\\Temp\\evil.exe"},
    "event": {"category": ["process", "network"], "risk_score": 12.5},
    "labels": {"count": 7, "flag": True, "note": "Hello World", "score": 12.5},
    "tags": [],
}

CASES: list[tuple[dict[str, Any], bool]] = [
    ({"term": {"process.name": "cmd.exe"}}, True),
    ({"term": {"process.name": "CMD.EXE"}}, False),
    ({"term": {"process.name": {"value": "CMD.EXE", "case_insensitive": True}}}, True),
    ({"term": {"process.args": "/c"}}, True),  # any value of a multi-valued field
    ({"term": {"event.category": "network"}}, True),
    ({"term": {"destination.port": 445}}, True),  # a long field holding "445"
    ({"term": {"destination.port": "445"}}, True),
    ({"term": {"destination.port": 445.5}}, False),
    ({"term": {"process.pid": "4242"}}, True),
    ({"term": {"destination.ip": "10.1.2.3"}}, True),
    ({"term": {"destination.ip": "10.0.0.0/8"}}, True),  # a CIDR block on an ip field
    ({"term": {"destination.ip": "192.168.0.0/16"}}, False),
    ({"term": {"@timestamp": "2024-03-15"}}, True),  # a date term covers its whole day
    ({"term": {"@timestamp": "2024-03-16"}}, False),
    ({"term": {"labels.count": 7}}, True),  # unmapped: typed from the JSON value
    ({"term": {"labels.count": "7"}}, True),
    ({"term": {"labels.flag": True}}, True),
    ({"term": {"labels.flag": "true"}}, True),
    ({"term": {"process.parent.name": "x"}}, False),  # explicit null
    ({"term": {"missing.field": "x"}}, False),
    ({"terms": {"process.name": ["a", "cmd.exe"]}}, True),
    ({"terms": {"process.name": ["a", "b"]}}, False),
    ({"match": {"labels.note": "Hello World"}}, True),  # keyword semantics: exact
    ({"match": {"labels.note": "hello"}}, False),
    ({"match_phrase": {"host.name": {"query": "WS-01"}}}, True),
    ({"exists": {"field": "host.name"}}, True),
    ({"exists": {"field": "process.parent.name"}}, False),
    ({"exists": {"field": "tags"}}, False),
    ({"exists": {"field": "host.os"}}, True),  # an object exists through its fields
    ({"range": {"process.pid": {"gte": 4000, "lt": 5000}}}, True),
    ({"range": {"process.pid": {"gt": 4242}}}, False),
    ({"range": {"process.pid": {"from": 4242, "to": 4242}}}, True),
    ({"range": {"process.pid": {"from": 4242, "include_lower": False}}}, False),
    ({"range": {"destination.port": {"lte": 445}}}, True),
    ({"range": {"labels.score": {"gt": 12, "lt": 13}}}, True),  # unmapped float
    ({"range": {"event.risk_score": {"gt": 12}}}, False),  # a long field indexes 12.5 as 12
    ({"range": {"@timestamp": {"gte": "now-3h", "lte": "now"}}}, True),
    ({"range": {"@timestamp": {"gte": "now-1h"}}}, False),
    ({"range": {"@timestamp": {"gt": "2024-03-14", "lt": "2024-03-15"}}}, False),  # gt rounds up
    ({"range": {"@timestamp": {"lte": "2024-03-15"}}}, True),  # lte rounds up to the day's end
    ({"range": {"@timestamp": {"gte": "15/03/2024", "format": "dd/MM/yyyy"}}}, True),
    ({"range": {"destination.ip": {"gte": "10.0.0.0", "lte": "10.255.255.255"}}}, True),
    ({"range": {"host.name": {"gte": "WS", "lt": "WT"}}}, True),
    ({"wildcard": {"file.path": {"value": "C:\\\\Temp\\\\*.exe"}}}, True),
    ({"wildcard": {"file.path": {"value": "c:\\\\temp\\\\*", "case_insensitive": True}}}, True),
    ({"wildcard": {"file.path": "c:\\\\temp\\\\*"}}, False),
    ({"wildcard": {"host.name": "WS-0?"}}, True),
    ({"prefix": {"host.name": "WS-"}}, True),
    ({"prefix": {"host.name": {"value": "ws-", "case_insensitive": True}}}, True),
    ({"regexp": {"host.name": "WS-[0-9]+"}}, True),
    ({"match_all": {}}, True),
    ({"match_none": {}}, False),
    ({"constant_score": {"filter": {"term": {"host.name": "WS-01"}}}}, True),
    ({"bool": {}}, True),
    ({"bool": {"must_not": [{"term": {"process.name": "cmd.exe"}}]}}, False),
    ({"bool": {"must_not": {"term": {"missing.field": "x"}}}}, True),
    ({"bool": {"should": [{"term": {"process.name": "a"}}, {"term": {"process.name": "cmd.exe"}}]}}, True),
    ({"bool": {"should": [{"term": {"process.name": "a"}}]}}, False),
    # With a must/filter clause, should clauses are optional unless minimum_should_match says so.
    ({"bool": {"filter": [{"match_all": {}}], "should": [{"term": {"process.name": "a"}}]}}, True),
    (
        {
            "bool": {
                "filter": [{"match_all": {}}],
                "should": [{"term": {"process.name": "a"}}],
                "minimum_should_match": 1,
            }
        },
        False,
    ),
    (
        {
            "bool": {
                "should": [{"match_all": {}}, {"match_all": {}}, {"match_none": {}}],
                "minimum_should_match": "66%",
            }
        },
        True,  # 66% of 3 clauses is 1.98, truncated to 1
    ),
]


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_query(query: dict[str, Any], expected: bool) -> None:
    assert compile_query(query, now=NOW)(DOC) is expected


@pytest.mark.parametrize(
    ("spec", "optional", "expected"),
    [
        (1, 3, 1),
        ("2", 3, 2),
        (-1, 3, 2),
        ("75%", 4, 3),
        ("-25%", 4, 3),
        ("-25%", 3, 3),
        ("66%", 3, 1),
        (5, 3, 5),
    ],
)
def test_minimum_should_match(spec: Any, optional: int, expected: int) -> None:
    assert minimum_should_match(spec, optional) == expected


def test_kibana_filter_objects() -> None:
    negated = {"meta": {"negate": True, "disabled": False}, "query": {"term": {"process.name": "cmd.exe"}}}
    disabled = {"meta": {"disabled": True}, "query": {"match_none": {}}}
    legacy = {"meta": {"negate": False}, "$state": {"store": "appState"}, "exists": {"field": "host.name"}}
    bare = {"term": {"host.name": "WS-01"}}
    assert compile_filters([legacy, bare, disabled])(DOC) is True
    assert compile_filters([negated])(DOC) is False
    assert compile_filters([negated])({"process": {"name": "powershell.exe"}}) is True
    assert compile_filters([negated])({}) is True  # negate turns a missing field into a match
    assert compile_filters([])(DOC) is True


def test_detection_rules_style_wildcard_filter() -> None:
    # As a detection-rules TOML writes it: value = "C:\\\\Program Files\\\\*.exe" (TOML-escaped).
    flt = {
        "meta": {"negate": True},
        "query": {
            "wildcard": {"file.path": {"case_insensitive": True, "value": "C:\\\\Program Files\\\\*.exe"}}
        },
    }
    sees = compile_filters([flt])
    assert sees({"file": {"path": "c:\\program files\\app.exe"}}) is False
    assert sees({"file": {"path": "C:\\Users\\app.exe"}}) is True


def test_dotted_and_nested_keys_read_alike() -> None:
    query = compile_query({"term": {"host.os.type": "windows"}})
    assert query({"host": {"os": {"type": "windows"}}})
    assert query({"host.os.type": "windows"})
    assert query({"host": {"os.type": "windows"}})
    assert query({"host": [{"os": {"type": "linux"}}, {"os": {"type": "windows"}}]})


UNSUPPORTED = [
    {"query_string": {"query": "a:b"}},
    {"nested": {"path": "a", "query": {"match_all": {}}}},
    {"script": {"script": "true"}},
    {"terms": {"host.name": {"index": "i", "id": "1", "path": "p"}}},
    {"range": {"@timestamp": {"gte": "now-1d", "time_zone": "+01:00"}}},
    {"bool": {"should": [{"match_all": {}}], "minimum_should_match": "3<90%"}},
    {"regexp": {"host.name": {"value": "a.*", "flags": "NONE"}}},
]


@pytest.mark.parametrize("query", UNSUPPORTED)
def test_unsupported(query: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedFilterError, match="not supported"):
        compile_filters([{"meta": {}, "query": query}])


MALFORMED = [
    ({"term": {"a": 1, "b": 2}}, "exactly one field"),
    ({"term": {"process.pid": "abc"}}, "'abc' is not a number"),
    ({"term": {"destination.ip": "nope"}}, "term on the ip field"),
    ({"range": {"process.pid": {"gte": 1, "bogus": 2}}}, "unknown parameter 'bogus'"),
    ({"range": {"@timestamp": {"gte": "yesterday"}}}, "cannot read the date"),
    ({"bool": {"mustnt": []}}, "unknown clause 'mustnt'"),
    ({"exists": {"name": "x"}}, "exists: expected"),
    ({"regexp": {"host.name": "a[b"}}, "regexp on 'host.name'"),
    ({"term": {"a": {"case_insensitive": True}}}, "expected value"),
    ({"a": 1, "b": 2}, "one key"),
]


@pytest.mark.parametrize(("query", "message"), MALFORMED)
def test_malformed(query: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleError) as info:
        compile_filters([query])
    assert not isinstance(info.value, UnsupportedFilterError)
    assert message in info.value.message
    assert info.value.message.startswith("filters[0]: ")
