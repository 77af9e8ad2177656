"""Event-query semantics over hand-made ECS documents (table-driven)."""

from __future__ import annotations

import pytest

from engine_util import run

DOCS = [
    {
        "id": 1,
        "@timestamp": "2024-01-01T00:00:01Z",
        "event": {"category": "process", "type": ["start", "process_start"]},
        "process": {
            "name": "cmd.exe",
            "pid": 100,
            "args": ["cmd.exe", "/c", "whoami"],
            "executable": "C:\\Windows\\System32\\cmd.exe",
        },
        "user": {"name": "Alice"},
    },
    {
        "id": 2,
        "@timestamp": "2024-01-01T00:00:02Z",
        "event": {"category": "process", "type": "end"},
        "process": {"name": "CMD.EXE", "pid": 4, "exit_code": 0},
    },
    {
        "id": 3,
        "@timestamp": "2024-01-01T00:00:03Z",
        "event": {"category": ["network"], "type": "connection"},
        "destination": {"ip": "10.1.2.3", "port": 445},
        "process": {"name": "evil.exe", "pid": "2048"},
    },
    {
        "id": 4,
        "@timestamp": "2024-01-01T00:00:04Z",
        "event.category": "network",
        "destination.ip": "::1",
        "destination.port": "445",
        "process.pid": 5,
    },
    {
        "id": 5,
        "@timestamp": "2024-01-01T00:00:05Z",
        "event": {"category": "file"},
        "file": {"path": "C:\\Users\\x\\a?b*.txt", "name": "a?b*.txt", "size": 10},
    },
    {
        "id": 6,
        "@timestamp": "2024-01-01T00:00:00Z",
        "event": {"category": "process", "type": "start"},
        "process": {"name": "powershell.exe", "pid": 300, "command_line": "powershell -enc AAAA"},
    },
]

CASES = [
    # case rules
    ('process where process.name == "cmd.exe"', [1]),
    ('process where process.name : "cmd.exe"', [1, 2]),
    ('process where process.name != "cmd.exe"', [6, 2]),
    ('process where process.name in ("CMD.EXE", "x")', [2]),
    ('process where process.name in~ ("cmd.exe")', [1, 2]),
    ('process where process.name not in ("cmd.exe")', [6, 2]),
    # wildcards only in : and like
    ('process where process.name : "c*"', [1, 2]),
    ('process where process.name : "?md.exe"', [1, 2]),
    ('process where process.name == "c*"', []),
    ('process where process.name like "c*"', [1]),
    ('process where process.name like~ "C*"', [1, 2]),
    ('process where process.name in~ ("c*")', []),
    ('any where file.name == "a?b*.txt"', [5]),
    # regex: full match, case rules
    ('process where process.name regex "cmd\\\\.exe"', [1]),
    ('process where process.name regex~ "CMD\\\\.EXE"', [1, 2]),
    ('process where process.name regex "cmd"', []),
    # multi-valued fields: any value matches
    ('process where event.type == "start"', [6, 1]),
    ('process where event.type == "process_start"', [1]),
    ('process where process.args : "whoami"', [1]),
    ('network where event.category == "network"', [3, 4]),
    # numbers coerced by the ECS type (port and pid are longs)
    ("network where destination.port == 445", [3, 4]),
    ("network where process.pid == 2048", [3]),
    ("any where process.pid > 99", [6, 1, 3]),
    ("any where process.pid < 5", [2]),
    # nulls and missing fields
    ("any where process.exit_code == null", [6, 1, 3, 4, 5]),
    ("any where process.exit_code != null", [2]),
    ("any where process.exit_code != 1", [2]),
    ("any where not process.exit_code == 1", [2]),
    ("any where ?no.such.field == null", [6, 1, 2, 3, 4, 5]),
    # ip fields compare as addresses
    ('network where cidrmatch(destination.ip, "10.0.0.0/8")', [3]),
    ('network where cidrMatch(destination.ip, "::1")', [4]),
    ('network where not cidrmatch(destination.ip, "127.0.0.1", "::1")', [3]),
    ('network where destination.ip == "0:0:0:0:0:0:0:1"', [4]),
    # functions
    ('process where startsWith(process.name, "cmd")', [1]),
    ('process where startsWith~(process.name, "cmd")', [1, 2]),
    ('process where endsWith~(process.executable, "\\\\cmd.exe")', [1]),
    ("process where length(process.name) == 7", [1, 2]),
    ('process where stringContains(process.command_line, "-enc")', [6]),
    ("process where process.pid % 200 == 100", [6, 1]),
    ("process where process.pid / 3 == 33", [1]),
    # boolean logic
    ('process where process.name : "cmd.exe" and process.pid == 4', [2]),
    ('process where process.name == "cmd.exe" or process.pid == 4', [1, 2]),
    ("any where true", [6, 1, 2, 3, 4, 5]),
    ("any where false", []),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[c[0] for c in CASES])
def test_event_query(query: str, expected: list[int]) -> None:
    assert run(query, DOCS) == expected


def test_head_and_tail() -> None:
    assert run("any where true | head 2", DOCS) == [6, 1]
    assert run("any where true | tail 2", DOCS) == [4, 5]
    assert run("any where true", DOCS, size=3, result_position="tail") == [3, 4, 5]
    assert run("any where true", DOCS, size=3) == [6, 1, 2]


def test_events_without_timestamp_sort_last() -> None:
    docs = [{"id": 1}, {"id": 2, "@timestamp": 5}, {"id": 3, "@timestamp": 1}]
    assert run("any where true", docs) == [3, 2, 1]


def test_epoch_millis_and_nanos_timestamps_order() -> None:
    docs = [
        {"id": 1, "@timestamp": "2024-01-01T00:00:00.000000002Z"},
        {"id": 2, "@timestamp": "2024-01-01T00:00:00.000000001Z"},
        {"id": 3, "@timestamp": 1704067199999},
    ]
    # @timestamp is an ECS `date`: milliseconds, so 1 and 2 tie and keep input order.
    assert run("any where true", docs) == [3, 1, 2]
