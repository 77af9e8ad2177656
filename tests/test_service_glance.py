"""Ingest's glance at shipped documents (service/glance.py) against the exact path.

The glance must either give exactly what decoding the text with ``orjson`` and the exact code
give (``@timestamp``, ``categories_of``, no Windows mapping needed), or give None. Table-driven
tricky texts, seeded random documents with duplicate keys and escapes, random byte damage, and
the whole ingest path (bulk plan, WAL lines, times and categories kept in memory).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.service.eventlog import EventLog
from vigil.service.glance import Glance, Glancer
from vigil.service.ingest import _parse_bulk
from vigil.service.shippers import map_shipped
from vigil.service.wal import categories_of

ECS = (
    b'{"@timestamp":"2024-05-01T00:00:00.057Z","agent":{"type":"winlogbeat","version":"8.13.2"},'
    b'"event":{"category":["network"],"code":"22","kind":"event","type":["connection"]},'
    b'"host":{"name":"srv-web33","os":{"type":"windows"}},"process":{"pid":1044,'
    b'"executable":"C:\\\\Windows\\\\System32\\\\cmd.exe"},"winlog":{"channel":"Microsoft-Windows-Sysmon/'
    b'Operational","event_id":"22","record_id":6335376}}'
)


def _exact(text: bytes) -> Glance | None:
    """What the exact path reads of ``text``; None when it does not take the glance's shape
    (not JSON, not an object, or a Windows record to map)."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(doc) is not dict:
        return None
    if ("winlog" in doc or "EventID" in doc) and map_shipped(dict(doc)) is not None:
        return None
    ts = doc.get("@timestamp")
    return Glance(ts if type(ts) is str else None, categories_of(doc))


def _check(glancer: Glancer, text: bytes) -> Glance | None:
    seen = glancer(text)
    if seen is not None:
        exact = _exact(text)
        assert exact is not None, text
        doc = orjson.loads(text)
        assert seen == exact, text
        # No @timestamp in the glance means none in the document (not one of another type).
        assert seen.timestamp is not None or "@timestamp" not in doc, text
    return seen


# (text, whether the glance answers it: True = glanced, False = the exact path decides)
CASES: list[tuple[bytes, bool]] = [
    (ECS, True),
    (b'{"@timestamp":"2024-05-01T00:00:00Z","event":{"category":"process"}}', True),
    (b'  {"event":{"category":["file","process"]}}\r', True),
    (b'{"event":{"category":[]}}', True),
    (b'{"event":{"category":null}}', True),
    (b'{"event":{"category":7}}', True),  # categories None: no category test may skip it
    (b'{"event":{"category":["a",1]}}', True),
    (b'{"event":{"category":[{"x":"y"}]}}', True),
    (b'{"event":{"category":{"x":"y"}}}', True),
    (b'{"event":{"kind":"alert"}}', True),
    (b"{}", True),
    (b'{"message":"\\"winlog\\" and \\"EventID\\" in a value"}', True),
    (b'{"winlog":{"x":1},"event":{"category":"process"}}', True),  # ECS already (Winlogbeat 7.x)
    (b'{"winlog":{"x":1},"data_stream":{"type":"logs"}}', True),  # ECS already (Agent)
    (b'{"winlog":{"x":1}}', False),  # Winlogbeat 8.x raw: mapped
    (b'{"winlog":"text"}', False),
    (b'{"EventID":4624,"Channel":"Security"}', False),  # NXLog
    (b'{"_source":{"winlog":{}}}', False),
    (b'{"event.category":"process"}', False),
    (b'{"@timestamp":1714521600000}', False),
    (b'{"@timestamp":null}', False),
    (b'{"@timestamp":["2024-05-01T00:00:00Z"]}', False),
    (b'{"event":null}', False),
    (b'{"event":["x"]}', False),
    (b'{"event":{"category":"a"},"event":{"category":"b"}}', False),  # duplicates: orjson keeps b
    (b'{"event":{"category":"a","category":"b"}}', False),
    (b'{"@timestamp":"2024-05-01T00:00:00Z","@timestamp":"2025-01-01T00:00:00Z"}', False),
    (b'{"ev\\u0065nt":{"c\\u0061tegory":"network"}}', True),  # escaped keys are keys
    (b'{"event":{"category":"x"},"ev\\u0065nt":{"category":"y"}}', False),
    (b'{"winl\\u006fg":{"a":1}}', False),
    (b'{"a":123456789012345678901234567890}', False),  # past 64 bits: orjson reads a float
    (b'{"a":1e400}', False),
    (b'{"a":NaN}', False),
    (b'{"a":"\\ud800"}', False),
    (b'{"a":"\xff"}', False),
    (b'{"a":1} x', False),
    (b'{"a":1', False),
    (b"[1,2]", False),
    (b'"text"', False),
    (b"42", False),
    (b"", False),
    (b"[" * 2000 + b"]" * 2000, False),
]


@pytest.mark.parametrize(("text", "glanced"), CASES)
def test_glance_table(text: bytes, glanced: bool) -> None:
    seen = _check(Glancer(), text)
    assert (seen is not None) == glanced


def test_one_glancer_survives_every_case_in_a_row() -> None:
    glancer = Glancer()
    for _ in range(2):
        for text, glanced in CASES:
            assert (_check(glancer, text) is not None) == glanced


_KEYS = ["@timestamp", "event", "category", "winlog", "data_stream", "EventID", "a", "ev\u0065nt"]
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["2024-05-01T00:00:00Z", "process", "network", "", "é\u2028", "\\u0041"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(st.tuples(st.sampled_from(_KEYS), inner), max_size=5),  # objects, keys may repeat
    ),
    max_leaves=12,
)


def _write(value: Any, rng: random.Random) -> bytes:
    """JSON text of a value where a list of pairs is an object (duplicate keys written as they
    come), with random blanks and escaped key characters."""
    blank = rng.choice([b"", b"", b" ", b"\n\t"])
    if isinstance(value, list) and value and all(isinstance(x, tuple) for x in value):
        parts = []
        for key, item in value:
            name = orjson.dumps(key)
            if rng.random() < 0.2 and len(key) > 1:
                name = b'"%s\\u%04x%s"' % (key[0].encode(), ord(key[1]), key[2:].encode())
            parts.append(name + blank + b":" + blank + _write(item, rng))
        return b"{" + b",".join(parts) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(_write(x, rng) for x in value) + b"]"
    if isinstance(value, tuple):
        return b"{}"
    # json, not orjson: integers past 64 bits are written too; non-ASCII raw or escaped
    return json.dumps(value, ensure_ascii=rng.random() < 0.5).encode()


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_KEYS), _values), max_size=6), st.integers(0, 2**32))
def test_random_documents_glance_as_decoded(pairs: list[tuple[str, Any]], seed: int) -> None:
    rng = random.Random(seed)
    text = _write(pairs, rng) if pairs else b"{}"
    glancer = Glancer()
    _check(glancer, text)
    # The same text damaged: still never a glance the exact path would not give.
    for _ in range(3):
        damaged = bytearray(text)
        at = rng.randrange(len(damaged))
        damaged[at] = rng.choice(b'{}[]",:\\ \xc3\xff0ae')
        _check(glancer, bytes(damaged))


def test_ingest_keeps_what_the_exact_path_keeps(tmp_path: Path) -> None:
    """A bulk of glanced and decoded documents: the same WAL lines, times and categories as
    when every document is decoded."""
    texts = [text for text, _ in CASES if _exact(text) is not None] + [
        b'{"@timestamp":"2024-05-01T00:00:0%dZ","event":{"category":"process"},"n":%d}' % (i % 10, i)
        for i in range(100)
    ]
    body = b"".join(b'{"index":{"_index":"logs-a"}}\n' + t + b"\n" for t in texts)
    plan = _parse_bulk(body, None)
    assert sum(isinstance(p[3], Glance) for p in plan) >= 100
    glanced = [(p[1], p[2], p[3], p[4]) for p in plan if p[5] is None]
    decoded = [
        (index, id_, doc if isinstance(doc, dict) else orjson.loads(text), text)
        for index, id_, doc, text in glanced
    ]
    log = EventLog(tmp_path)
    try:
        lines, prepared = log._prepare(glanced)  # type: ignore[arg-type]
        # a glanced document's time stays its @timestamp string until a reader needs it
        assert any(type(p[3]) is str for p in prepared)
        entries = [list(p) for p in prepared]
        held = [[0, e[0], e[1], None, e[2], e[3], e[4]] for e in entries]
        log._resolve_times(held)
        resolved = [(e[1], e[2], e[4], e[5], e[6]) for e in held]
        assert (lines, resolved) == log._prepare(decoded)
    finally:
        log.close()


def test_glanced_events_are_read_by_time_as_decoded_ones(tmp_path: Path) -> None:
    """Events logged from glances (their times read only when a reader filters by time) and
    the same events logged decoded give the same candidates for every time range."""
    from vigil.engine import QueryOptions, compile_query

    texts = [
        b'{"@timestamp":"2024-05-01T00:00:%02d.5Z","event":{"category":"process"},"n":%d}' % (i % 60, i)
        for i in range(120)
    ] + [b'{"event":{"category":"process"},"no":"time"}', b'{"@timestamp":"yesterday","event":{}}']
    body = b"".join(b'{"index":{"_index":"logs-a"}}\n' + t + b"\n" for t in texts)
    glanced = [(p[1], p[2], p[3], p[4]) for p in _parse_bulk(body, None)]
    assert all(isinstance(r[2], Glance) for r in glanced)
    decoded = [(index, id_, orjson.loads(text), text) for index, id_, _g, text in glanced]
    query = compile_query("any where true", options=QueryOptions(size=1000))
    wanted = (query, lambda name: True)
    logs = [EventLog(tmp_path / "a"), EventLog(tmp_path / "b")]
    try:
        logs[0].append(glanced)  # type: ignore[arg-type]
        logs[1].append(decoded)  # type: ignore[arg-type]
        base = 1714521600 * 10**9  # 2024-05-01T00:00:00Z
        sizes = []
        for start, end in [(None, None), (base, base + 30 * 10**9), (base + 10**9, None), (None, base)]:
            got = [[e.id for e in log.candidates([wanted], start=start, end=end)] for log in logs]
            assert got[0] == got[1], (start, end)
            sizes.append(len(got[0]))
        assert sizes == [len(texts), 60, 118, 0]
    finally:
        for log in logs:
            log.close()
