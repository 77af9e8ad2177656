"""The key pre-pass in one reading (vigil.sources.keypass): when it is chosen, its fallback, and
the key readers it records lines with."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from vigil.ecs.schema import FieldSpec, FieldType, Schema, SchemaRegistry
from vigil.engine import QueryOptions, compile_query
from vigil.engine.response import to_eql_response
from vigil.engine.semijoin import key_reader
from vigil.sources import ReadReport, keypass, read_events
from vigil.sources.parallel import execute_parallel

SMB = (Path(__file__).resolve().parents[1] / "examples" / "queries" / "direct_outbound_smb.eql").read_text()


def _data(tmp_path: Path, n: int = 4000, seed: int = 3) -> Path:
    """Process starts (a sixth of the lines), rare SMB connections, other events; some keys
    spelled dotted, some lines spaced, malformed lines (lines 1001 and 2002)."""
    rng = random.Random(seed)
    keys = [f"proc-{i}" for i in range(600)]
    lines = []
    for i in range(n):
        key = rng.choice(keys)
        ts = f"2024-05-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z"
        roll = rng.random()
        if roll < 0.17:
            doc: dict[str, Any] = {
                "@timestamp": ts,
                "event": {"category": ["process"], "type": ["start"]},
                "process": {
                    "entity_id": key,
                    "pid": rng.choice([4, 8]),
                    "parent": {"entity_id": rng.choice(keys)},
                },
            }
        elif roll < 0.19:
            doc = {
                "@timestamp": ts,
                "event": {"category": ["network"], "type": ["start"]},
                "process.entity_id": key,
                "process.pid": 8,
                "destination": {"port": 445, "ip": rng.choice(["10.0.0.1", "127.0.0.1"])},
            }
        else:
            doc = {"@timestamp": ts, "event": {"category": ["file"]}, "process": {"entity_id": key}}
        line = orjson.dumps(doc)
        if rng.random() < 0.2:
            line = line.replace(b'":', b'": ')
        lines.append(line)
    lines.insert(n // 2, b'{"event": {"category": ["process"], "type": ["start"]}, "process": {"entity_id":')
    # and one among the SMB connections (the rare step's lines, decoded in the first reading)
    lines.insert(
        n // 4, b'{"event": {"category": ["network"]}, "destination": {"port": 445}, "process.entity_id": '
    )
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _expected(query: str, path: Path, options: QueryOptions) -> tuple[str, ReadReport]:
    report = ReadReport(log=lambda _t: None)
    compiled = compile_query(query, options=options)
    result = compiled.execute(read_events([str(path)], line_filter=compiled.line_filter, report=report))
    return json.dumps(to_eql_response(result, 0), sort_keys=True), report


def _run(path: Path, options: QueryOptions, **kwargs: Any) -> tuple[str, ReadReport]:
    report = ReadReport(log=lambda _t: None)
    result = execute_parallel(SMB, options, [str(path)], report, min_bytes=0, chunk_bytes=30_000, **kwargs)
    assert result is not None
    return json.dumps(to_eql_response(result, 0), sort_keys=True), report


class _Spy:
    """Counts the calls of a function it wraps."""

    def __init__(self, fn: Any):
        self.fn = fn
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.fn(*args, **kwargs)


@pytest.mark.parametrize("workers", [1, 2])
def test_one_reading_is_chosen_when_few_lines_pass_and_answers_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    path = _data(tmp_path)
    options = QueryOptions(size=10_000)
    expected, single = _expected(SMB, path, options)
    assert json.loads(expected)["hits"]["total"]["value"] > 5
    spy = _Spy(keypass.record_pass)
    monkeypatch.setattr(keypass, "record_pass", spy)
    got, report = _run(path, options, workers=workers)
    assert spy.calls == 1  # about a fifth of the lines pass the pre-check: one reading
    assert got == expected
    assert (report.lines, report.skipped) == (single.lines, single.skipped)
    assert [m.line for m in report.malformed] == [m.line for m in single.malformed] == [1001, 2002]
    assert (
        report.events + report.filtered + report.skipped == single.events + single.filtered + single.skipped
    )
    assert report.events < single.events / 2  # only the lines that can matter were decoded

    # Ranges not searched (every line would be tested in Python): two readings, the same answer.
    spy.calls = 0
    assert _run(path, options, workers=workers, scan=False)[0] == expected
    assert spy.calls == 0

    # More lines passing than MAX_RECORD_SHARE: two readings, the same answer.
    monkeypatch.setattr(keypass, "MAX_RECORD_SHARE", 0.05)
    assert _run(path, options, workers=workers)[0] == expected
    assert spy.calls == 0


def test_too_much_recorded_falls_back_to_two_readings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _data(tmp_path)
    options = QueryOptions(size=10_000)
    expected, single = _expected(SMB, path, options)
    monkeypatch.setattr(keypass, "MAX_RECORDED", 50)
    read = _Spy(keypass.read_recorded)
    monkeypatch.setattr(keypass, "read_recorded", read)
    got, report = _run(path, options, workers=2, one_pass=True)
    assert got == expected and read.calls == 0
    assert report.lines == single.lines
    # (The malformed line holds no key as text: the second reading passes over it unread.)


def test_too_many_keys_read_every_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vigil.sources import parallel

    path = _data(tmp_path)
    options = QueryOptions(size=10_000)
    expected, single = _expected(SMB, path, options)
    monkeypatch.setattr(parallel, "MAX_KEYS", 3)
    got, report = _run(path, options, workers=2, one_pass=True)
    assert got == expected
    # No key pre-pass at all: every line passing the pre-check is decoded, as one process does.
    assert (report.events, report.filtered) == (single.events, single.filtered)


def test_key_reader_shapes() -> None:
    read = key_reader(compile_query(SMB)).read
    assert read(b'{"process":{"entity_id":"a","parent":{"entity_id":"b"}}}') == ["a"]
    assert read(b'{"process.entity_id":["a",null,"c"]}') == ["a", "c"]
    assert read(b'{"file":{"path":"x"}}') == []
    assert read(b'{"process":{"entity_id":') is None  # malformed: the reader will say so
    assert read(b'{"_source":{"process":{"entity_id":"a"}}}') is None  # an envelope

    per_step = key_reader(
        compile_query(
            "sequence [process where true] by process.entity_id [network where true] by source.port"
        )
    )
    assert not per_step.single
    found = per_step.read(b'{"process":{"entity_id":"a"},"source":{"port":"80"}}')
    assert found is not None and set(found) == {("a",), (80,)}  # each step's key, as it reads it
    assert per_step.probes({("a",)}) == {("a",)}

    number = key_reader(compile_query("sequence by process.pid [process where true] [network where true]"))
    assert number.single and number.read(b'{"process":{"pid":"12"}}') == [12]
    assert number.read(b'{"process":{"pid":{"a":1}}}') == []  # no number: no key, as the reader says


def test_key_reader_over_several_schemas_reads_every_way() -> None:
    # The same key field is a keyword in one index and a long in another: a line's index is not
    # known before it is decoded, so the keys of both readings are given.
    text = Schema(fields={"k": FieldSpec(FieldType.KEYWORD)}, name="a")
    number = Schema(fields={"k": FieldSpec(FieldType.LONG)}, name="b")
    registry = SchemaRegistry(default=text, per_index={"b": number})
    reader = key_reader(compile_query("sequence by k [any where true] [any where true]", schemas=registry))
    found = reader.read(b'{"k":"7"}')
    assert found is not None and set(found) == {"7", 7}
    assert reader.probes({(7,), ("7",)}) == {7, "7"}
