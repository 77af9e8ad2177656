"""The key pre-pass of keyed sequences: when it applies, and that it never changes an answer."""

from __future__ import annotations

import json
import random
from pathlib import Path

import orjson
import pytest

from vigil.engine import QueryOptions, compile_query
from vigil.engine.response import to_eql_response
from vigil.engine.semijoin import key_needles, key_test, needle_test, plan_prepass
from vigil.sources import ReadReport, read_events
from vigil.sources import scan as scan_module
from vigil.sources.parallel import execute_parallel

SMB = (Path(__file__).resolve().parents[1] / "examples" / "queries" / "direct_outbound_smb.eql").read_text()


def _line(category: str, port: int = 80, key: str = "k") -> bytes:
    return orjson.dumps(
        {
            "event": {"category": category, "type": "start"},
            "destination": {"port": port},
            "process": {"entity_id": key},
        }
    )


SAMPLE = [_line("process")] * 90 + [_line("network")] * 9 + [_line("network", 445)]


@pytest.mark.parametrize(
    ("query", "step"),
    [
        (SMB, 1),
        ("sequence by process.entity_id [network where destination.port == 445] [process where true]", 0),
        # no join key, an ip key, an optional key: no pre-pass
        ("sequence [process where true] [network where destination.port == 445]", None),
        ("sequence by source.ip [process where true] [network where destination.port == 445]", None),
        ("sequence by ?process.entity_id [process where true] [network where destination.port == 445]", None),
        # the rare step is missing-event step: it gives no keys; no other step is rare
        (
            "sequence by process.entity_id with maxspan=1m [process where true] "
            "![network where destination.port == 445] [network where true]",
            None,
        ),
        ("process where true", None),
    ],
)
def test_when_the_prepass_applies(query: str, step: int | None) -> None:
    plan = plan_prepass(compile_query(query), SAMPLE)
    assert (plan.step if plan is not None else None) == step


def test_key_needles() -> None:
    assert key_needles([("abc-1",), ("x\\y-long",)], 0) == [b"abc-1", b"y-long"]
    assert key_needles([(445,)], 0) == [b"445"]
    assert key_needles([("ab",)], 0) is None  # too short to search for
    assert key_needles([(None,)], 0) is None
    test = needle_test([b"abc-1"])
    assert test(b'{"k":"abc-1"}') and not test(b'{"k":"abc-2"}')


def _events(rng: random.Random, n: int, needle_free_key: bool = True) -> list[bytes]:
    # "e/4" has no run of 3 characters to search for: with it, the second pass tests every line.
    keys = ["e-1", "e-2", "E-1", "e\\u00e9-3", "e-55", "e-1x"] + (["e/4"] if needle_free_key else [])
    out = []
    for i in range(n):
        key = rng.choice(keys)
        doc: dict = {"@timestamp": f"2024-05-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z"}
        if rng.random() < 0.6:
            doc["event"] = {"category": "process", "type": rng.choice(["start", "end"])}
            doc["process"] = {
                "entity_id": key,
                "pid": rng.choice([4, 8]),
                "parent": {"entity_id": rng.choice(keys)},
            }
        else:
            doc["event"] = {"category": "network"}
            doc["process.entity_id"] = key  # dotted spelling
            doc["process.pid"] = 8
            doc["destination"] = {
                "port": rng.choice([80, 445, 445]),
                "ip": rng.choice(["10.0.0.1", "127.0.0.1"]),
            }
        line = orjson.dumps(doc)
        if rng.random() < 0.2:
            line = line.replace(b'":', b'": ')
        out.append(line)
    return out


QUERIES = [
    SMB,
    "sequence by process.entity_id with maxspan=30s [network where destination.port == 445] "
    '[process where event.type == "end"]',
    'sequence by process.entity_id [process where event.type == "start"] '
    '[network where destination.port == 445] until [process where event.type == "end"]',
    'sequence by process.entity_id [process where event.type == "start"] with runs=2 '
    "[network where destination.port == 445]",
]


@pytest.fixture(params=["hyperscan", "aho-corasick", "line by line"])
def second_pass(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """How the second pass finds its lines: range searches with Hyperscan or with its fallback
    (forced wherever possible), or every line tested. Returns whether ranges are searched."""
    if request.param == "hyperscan" and not scan_module.hyperscan_available():
        pytest.skip("the hyperscan package is not installed here")
    monkeypatch.setattr(scan_module, "_NO_HYPERSCAN", request.param != "hyperscan")
    monkeypatch.setattr(scan_module, "MAX_HIT_SHARE", 1.0)
    return bool(request.param != "line by line")


@pytest.mark.parametrize("one_pass", [False, True], ids=["two readings", "one reading"])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("query", QUERIES)
def test_prepass_gives_the_same_answer(
    tmp_path: Path, seed: int, query: str, second_pass: bool, one_pass: bool
) -> None:
    rng = random.Random(seed)
    lines = _events(rng, 3000, needle_free_key=seed % 2 == 1)
    # Rare network/445 events, so the pre-pass is chosen: keep most network lines on port 80.
    lines = [ln for ln in lines if b"445" not in ln or rng.random() < 0.05]
    data = tmp_path / "e.ndjson"
    data.write_bytes(b"\n".join(lines) + b"\n")
    options = QueryOptions(size=10_000)
    compiled = compile_query(query, options=options)
    expected = to_eql_response(compiled.execute(read_events([str(data)], report=ReadReport())), 0)
    report = ReadReport(log=lambda _t: None)
    got = execute_parallel(
        query,
        options,
        [str(data)],
        report,
        workers=2,
        min_bytes=0,
        chunk_bytes=20_000,
        scan=second_pass,
        one_pass=one_pass,
    )
    assert got is not None
    assert bool(report.scanned) == second_pass
    assert report.lines == len(lines)
    assert json.dumps(to_eql_response(got, 0), sort_keys=True) == json.dumps(expected, sort_keys=True)


@pytest.mark.parametrize("engine", ["hyperscan", "aho-corasick"])
def test_needle_test_engines(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if engine == "hyperscan" and not scan_module.hyperscan_available():
        pytest.skip("the hyperscan package is not installed here")
    monkeypatch.setattr(scan_module, "_NO_HYPERSCAN", engine != "hyperscan")
    test = needle_test([b"abc-1", b"{x.y}", b"zzz"])
    assert test(b'{"k":"abc-1"}') and test(b'{"k":"a {x.y} b"}') and test(b"zzzz")
    assert not test(b'{"k":"abc-2"}') and not test(b'{"k":"{x-y}"}') and not test(b"")


KEYED = [
    # one key field shared by every step (the fast path), and keys per step (the general one)
    SMB,
    "sequence [process where true] by process.entity_id [network where true] by process.parent.entity_id",
]


@pytest.mark.parametrize("query", KEYED)
def test_key_test_reads_the_events_own_keys(query: str) -> None:
    test = key_test(compile_query(query), {("k1",), ("k2",)})
    assert test is not None
    process = b'{"event":{"category":"process"},"process":{"entity_id":"%s","parent":{"entity_id":"%s"}}}'
    assert test(process % (b"k1", b"p"))  # the key itself
    assert test(b'{"process.entity_id":"k2"}')  # a dotted spelling
    assert test(b'{"process":{"entity_id":["x","k2"]}}')  # one of several values
    assert not test(process % (b"x", b"k3"))  # no step can have a key of the set
    assert not test(b'{"process":{"name":"k1"}}')  # the key text, not as the key
    # unsure: let the reader decode (and report) it
    assert test(b'{"process": {"entity_id": "k1"')
    assert test(b'{"_index":"i","_source":{"process":{"entity_id":"x"}}}')
    assert test(b"[1, 2]")
    if "by process.parent.entity_id" in query:
        assert test(process % (b"x", b"k1"))  # the second step's key is the parent's
    else:
        assert not test(process % (b"x", b"k1"))


def test_string_key_test_reads_one_field_as_the_line_spells_it() -> None:
    from vigil.engine.semijoin import _string_key_test

    holds = _string_key_test("process.entity_id", {"k", "k2"})
    assert holds(b'{"process":{"entity_id":"k","pid":4},"x":1}')
    assert holds(b'{"process.entity_id":["a","k2"]}')
    assert not holds(b'{"process":{"entity_id":"x"}}')
    assert not holds(b'{"process":{"pid":4}}') and not holds(b'{"process":null}')
    assert not holds(b'{"process":{"entity_id":null}}') and not holds(b'{"process.entity_id":["a",null]}')
    # unsure: two spellings, an envelope, a shape the struct cannot hold, not JSON, not strings
    assert holds(b'{"process":{"entity_id":"a"},"process.entity_id":"b"}')
    assert holds(b'{"_source":{"process":{"entity_id":"a"}}}')
    assert holds(b'{"process":["x"]}')
    assert holds(b'{"process":{"entity_id":')
    assert holds(b'{"process":{"entity_id":7}}') and holds(b'{"process":{"entity_id":{"a":1}}}')
    three = _string_key_test("a.b.c", {"v"})
    assert three(b'{"a.b":{"c":"v"}}') and three(b'{"a":{"b.c":"v"}}') and three(b'{"a":{"b":{"c":"v"}}}')
    assert not three(b'{"a":{"b":{"c":"w"}}}')


def test_key_test_of_a_number_key_reads_as_the_reader_does() -> None:
    # process.pid is a long: "123" is the key 123, so only the reader may judge it.
    test = key_test(
        compile_query("sequence by process.pid [process where true] [network where true]"), {(123,)}
    )
    assert test is not None
    assert test(b'{"process":{"pid":"123"}}') and test(b'{"process":{"pid":123}}')
    assert not test(b'{"process":{"pid":124}}')
