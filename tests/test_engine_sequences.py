"""Sequences and samples over hand-made events, including the rule the project started from."""

from __future__ import annotations

from engine_util import run, run_sequences

SMB_RULE = """
sequence by process.entity_id
  [process where event.type == "start" and process.pid != 4]
  [network where destination.port == 445 and process.pid != 4 and
     not cidrmatch(destination.ip, "127.0.0.1", "::1")]
"""


def _start(i: int, ts: str, entity: str, pid: int, etype: object = "start") -> dict:
    return {
        "id": i,
        "@timestamp": ts,
        "event": {"category": "process", "type": etype},
        "process": {"entity_id": entity, "pid": pid, "name": "x.exe"},
    }


def _conn(i: int, ts: str, entity: str, pid: int, ip: str, port: int = 445) -> dict:
    return {
        "id": i,
        "@timestamp": ts,
        "event": {"category": "network", "type": "connection"},
        "process": {"entity_id": entity, "pid": pid},
        "destination": {"ip": ip, "port": port},
    }


def test_smb_rule_true_sequence() -> None:
    docs = [
        _start(1, "2024-05-01T10:00:00Z", "A", 1200),
        _conn(2, "2024-05-01T10:00:05Z", "A", 1200, "10.0.0.9"),
    ]
    assert run_sequences(SMB_RULE, docs) == [(["A"], [1, 2])]


def test_smb_rule_event_type_array() -> None:
    docs = [
        _start(1, "2024-05-01T10:00:00Z", "A", 1200, ["start", "process_start"]),
        _conn(2, "2024-05-01T10:00:05Z", "A", 1200, "10.0.0.9"),
    ]
    assert run(SMB_RULE, docs) == [1, 2]


def test_smb_rule_near_misses() -> None:
    docs = [
        _start(1, "2024-05-01T10:00:00Z", "L4", 1300),
        _conn(2, "2024-05-01T10:00:01Z", "L4", 1300, "127.0.0.1"),
        _start(3, "2024-05-01T10:00:02Z", "L6", 1400),
        _conn(4, "2024-05-01T10:00:03Z", "L6", 1400, "::1"),
        _start(5, "2024-05-01T10:00:04Z", "SYS", 4),
        _conn(6, "2024-05-01T10:00:05Z", "SYS", 4, "10.0.0.9"),
        _start(7, "2024-05-01T10:00:06Z", "P", 1500),
        _conn(8, "2024-05-01T10:00:07Z", "P", 1500, "10.0.0.9", 443),
        _conn(9, "2024-05-01T10:00:08Z", "NOSTART", 1600, "10.0.0.9"),
        _start(10, "2024-05-01T10:00:09Z", "OTHER", 1700),
        _conn(11, "2024-05-01T10:00:10Z", "ELSE", 1800, "10.0.0.9"),
        # connection before the start: order matters
        _conn(12, "2024-05-01T10:00:11Z", "LATE", 1900, "10.0.0.9"),
        _start(13, "2024-05-01T10:00:12Z", "LATE", 1900),
    ]
    assert run(SMB_RULE, docs) == []


def test_smb_rule_input_out_of_order() -> None:
    docs = [
        _conn(2, "2024-05-01T10:00:05Z", "A", 1200, "10.0.0.9"),
        _start(1, "2024-05-01T10:00:00Z", "A", 1200),
    ]
    assert run(SMB_RULE, docs) == [1, 2]


T0 = 1_700_000_000_000  # epoch millis


def _ev(i: int, ts: int, cat: str, key: object = "k", **extra: object) -> dict:
    return {"id": i, "@timestamp": T0 + ts, "event": {"category": cat}, "key": key, **extra}


def test_newest_pending_sequence_wins() -> None:
    docs = [_ev(1, 1, "a"), _ev(2, 2, "a"), _ev(3, 3, "b")]
    assert run("sequence by key [a where true] [b where true]", docs) == [2, 3]


def test_event_can_end_one_sequence_and_start_another() -> None:
    docs = [_ev(1, 1, "a"), _ev(2, 2, "a"), _ev(3, 3, "a")]
    assert run("sequence by key [a where true] [a where true]", docs) == [1, 2, 2, 3]


def test_maxspan() -> None:
    docs = [_ev(1, 1000, "a"), _ev(2, 2000, "b"), _ev(3, 5000, "a"), _ev(4, 9001, "b")]
    assert run("sequence by key with maxspan=1s [a where true] [b where true]", docs) == [1, 2]
    assert run("sequence by key with maxspan=5s [a where true] [b where true]", docs) == [1, 2, 3, 4]
    assert run("sequence by key with maxspan=4000ms [a where true] [b where true]", docs) == [1, 2]


def test_until_drops_pending() -> None:
    docs = [_ev(1, 1, "a"), _ev(2, 2, "stop"), _ev(3, 3, "b"), _ev(4, 4, "a"), _ev(5, 5, "b")]
    q = "sequence by key [a where true] [b where true] until [stop where true]"
    assert run(q, docs) == [4, 5]


def test_runs() -> None:
    docs = [_ev(1, 1, "a"), _ev(2, 2, "b"), _ev(3, 3, "b"), _ev(4, 4, "b")]
    assert run("sequence by key [a where true] [b where true] with runs=2", docs) == [1, 2, 3]


def test_keys_partition_and_multivalue() -> None:
    docs = [_ev(1, 1, "a", key=["x", "y"]), _ev(2, 2, "b", key="y"), _ev(3, 3, "b", key="x")]
    assert run_sequences("sequence by key [a where true] [b where true]", docs) == [
        (["y"], [1, 2]),
        (["x"], [1, 3]),
    ]


def test_missing_key_drops_event_unless_optional() -> None:
    docs = [
        {"id": 1, "@timestamp": 1, "event": {"category": "a"}},
        {"id": 2, "@timestamp": 2, "event": {"category": "b"}},
    ]
    assert run("sequence by key [a where true] [b where true]", docs) == []
    assert run_sequences("sequence by ?key [a where true] [b where true]", docs) == [([None], [1, 2])]


def test_missing_event_step() -> None:
    docs = [_ev(1, 1, "a"), _ev(2, 2, "m"), _ev(3, 3, "b"), _ev(4, 4, "a"), _ev(5, 5, "b")]
    q = "sequence by key with maxspan=1h [a where true] ![m where true] [b where true]"
    assert run(q, docs) == [4, -1, 5]


def test_sequence_head_tail() -> None:
    docs = [_ev(i, i, "a" if i % 2 else "b") for i in range(1, 9)]
    q = "sequence by key [a where true] [b where true]"
    assert run(q, docs) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert run(q + " | head 1", docs) == [1, 2]
    assert run(q + " | tail 1", docs) == [7, 8]


def test_sample() -> None:
    docs = [
        {"id": 1, "host": "h1", "event": {"category": "a"}},
        {"id": 2, "host": "h2", "event": {"category": "a"}},
        {"id": 3, "host": "h1", "event": {"category": "b"}},
        {"id": 4, "host": "h0", "event": {"category": "b"}},
    ]
    assert run_sequences("sample by host [a where true] [b where true]", docs) == [(["h1"], [1, 3])]
