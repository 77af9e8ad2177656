"""Reading events: every input form, malformed input, ids, counts."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path

import orjson
import pytest
import zstandard

from vigil.errors import DataError
from vigil.sources import ReadReport, read_events, stable_id

DOCS = [
    {"@timestamp": "2024-05-14T08:00:00Z", "event": {"category": ["process"]}, "process": {"pid": 1}},
    {
        "@timestamp": "2024-05-14T08:00:01Z",
        "event": {"category": ["network"]},
        "data_stream": {"type": "logs", "dataset": "endpoint.events.network", "namespace": "default"},
    },
    {"@timestamp": "2024-05-14T08:00:02Z", "event": {"category": ["file"]}},
]


def ndjson(docs: list[dict]) -> bytes:
    return b"".join(orjson.dumps(d) + b"\n" for d in docs)


def read(paths: list[str], **kwargs) -> tuple[list, ReadReport]:
    report = ReadReport(log=kwargs.pop("log", lambda _: None))
    return list(read_events(paths, report=report, **kwargs)), report


def test_ndjson_file(tmp_path: Path) -> None:
    path = tmp_path / "a.ndjson"
    path.write_bytes(ndjson(DOCS))
    events, report = read([str(path)])
    assert [e.source for e in events] == DOCS
    assert [e.seq for e in events] == [0, 1, 2]
    assert [e.index for e in events] == ["", "logs-endpoint.events.network-default", ""]
    assert (report.files, report.lines, report.events, report.skipped, report.filtered) == (1, 3, 3, 0, 0)


def test_ids_are_stable_and_follow_the_raw_line(tmp_path: Path) -> None:
    path = tmp_path / "a.ndjson"
    data = ndjson(DOCS)
    path.write_bytes(data)
    first, _ = read([str(path)])
    second, _ = read([str(path)])
    assert [e.id for e in first] == [e.id for e in second]
    lines = data.splitlines()
    assert first[0].id == stable_id(lines[0])
    assert all(len(e.id) == 20 for e in first)
    assert len({e.id for e in first}) == 3
    # The same line with CRLF endings, or as the last line without a newline, keeps its id.
    crlf = tmp_path / "crlf.ndjson"
    crlf.write_bytes(b"\r\n".join(lines))
    again, _ = read([str(crlf)])
    assert [e.id for e in again] == [e.id for e in first]


def test_stable_id_is_base64url_of_blake2b() -> None:
    import base64
    import hashlib

    raw = b'{"a":1}'
    expected = base64.urlsafe_b64encode(hashlib.blake2b(raw, digest_size=15).digest()).decode()[:20]
    assert stable_id(raw) == expected
    assert stable_id(raw + b"\n") == expected


def test_events_are_plain_events(tmp_path: Path) -> None:
    """Lazy ids must not change what an Event looks like to the engine."""
    from vigil.engine.model import Event

    path = tmp_path / "a.ndjson"
    path.write_bytes(ndjson(DOCS[:1]))
    (event,) = read([str(path)])[0]
    assert isinstance(event, Event)
    assert event.id == stable_id(ndjson(DOCS[:1]))
    assert repr(event).startswith("_LazyIdEvent(source=") or repr(event).startswith("Event(")
    event.id = "custom"
    assert event.id == "custom"


def test_blank_lines_are_skipped_and_counted_as_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.ndjson"
    path.write_bytes(b"\n\n" + orjson.dumps(DOCS[0]) + b"\n   \n\n" + orjson.dumps(DOCS[1]) + b"\n\n")
    events, report = read([str(path)])
    assert [e.source for e in events] == DOCS[:2]
    assert report.skipped == 0
    assert report.lines == 7


def test_malformed_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_bytes(
        orjson.dumps(DOCS[0])
        + b"\n"
        + b'{"a": 1,, "b": 2}\n'
        + b"[1, 2]\n"
        + b'"text"\n'
        + orjson.dumps(DOCS[1])
        + b"\n"
    )
    messages: list[str] = []
    events, report = read([str(path)], log=messages.append)
    assert [e.source for e in events] == DOCS[:2]  # the valid lines around the damage survive
    assert report.skipped == 3
    assert report.events == 2
    assert [(m.line, m.column) for m in report.malformed] == [(2, 9), (3, 1), (4, 1)]
    assert messages[0].startswith(f"{path}:2:9: malformed JSON")
    assert "an array found, expected a JSON object" in messages[1]
    assert "a string found, expected a JSON object" in messages[2]
    assert [e.seq for e in events] == [0, 1]


def test_strict_raises_at_the_first_malformed_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_bytes(orjson.dumps(DOCS[0]) + b"\n{oops\n" + orjson.dumps(DOCS[1]) + b"\n")
    with pytest.raises(DataError) as info:
        read([str(path)], strict=True)
    assert info.value.location is not None
    assert (info.value.location.file, info.value.location.line) == (str(path), 2)
    assert str(info.value).startswith(f"{path}:2:")


def test_logging_is_capped_but_counting_is_not(tmp_path: Path) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_bytes(b"{x\n" * 50)
    messages: list[str] = []
    _, report = read([str(path)], log=messages.append)
    assert report.skipped == 50
    assert len(messages) == report.max_logged + 1
    assert "not shown" in messages[-1]


def test_json_array(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(json.dumps(DOCS, indent=2))
    events, report = read([str(path)])
    assert [e.source for e in events] == DOCS
    assert report.events == 3
    # Documents without a line get an id from their canonical bytes: stable across reads.
    again, _ = read([str(path)])
    assert [e.id for e in events] == [e.id for e in again]


def test_json_array_with_a_non_object(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(json.dumps([DOCS[0], 5, DOCS[1]]))
    events, report = read([str(path)])
    assert [e.source for e in events] == [DOCS[0], DOCS[1]]
    assert report.skipped == 1
    assert "element 2" in report.malformed[0].message


def test_single_pretty_printed_document(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(DOCS[1], indent=2))
    events, _ = read([str(path)])
    assert [e.source for e in events] == [DOCS[1]]
    assert events[0].index == "logs-endpoint.events.network-default"


def test_broken_json_document_reports_its_position(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"a": 1},\n  {"b": }\n]\n')
    messages: list[str] = []
    events, report = read([str(path)], log=messages.append)
    assert events == []
    assert report.skipped == 1
    assert (report.malformed[0].line, report.malformed[0].column) == (3, 9)


def test_elasticsearch_search_response(tmp_path: Path) -> None:
    body = {
        "took": 3,
        "hits": {
            "total": {"value": 2, "relation": "eq"},
            "hits": [
                {"_index": ".ds-logs-a-2024", "_id": "abc", "_score": 1.0, "_source": DOCS[0]},
                {"_index": ".ds-logs-b-2024", "_id": "def", "_source": DOCS[1]},
            ],
        },
    }
    path = tmp_path / "search.json"
    path.write_text(json.dumps(body, indent=1))
    events, _ = read([str(path)])
    assert [(e.index, e.id, e.source) for e in events] == [
        (".ds-logs-a-2024", "abc", DOCS[0]),
        (".ds-logs-b-2024", "def", DOCS[1]),
    ]
    # The same response on one line (curl output) reads the same.
    path.write_bytes(orjson.dumps(body))
    again, _ = read([str(path)])
    assert [(e.index, e.id) for e in again] == [(".ds-logs-a-2024", "abc"), (".ds-logs-b-2024", "def")]


def test_eql_response_with_missing_events(tmp_path: Path) -> None:
    body = {
        "hits": {
            "sequences": [
                {
                    "join_keys": ["x"],
                    "events": [
                        {"_index": "i", "_id": "1", "_source": DOCS[0]},
                        {"_index": "", "_id": "", "_source": {}, "missing": True},
                    ],
                }
            ]
        }
    }
    path = tmp_path / "eql.json"
    path.write_bytes(orjson.dumps(body))
    events, _ = read([str(path)])
    assert [(e.index, e.id) for e in events] == [("i", "1")]


def test_export_lines_with_source(tmp_path: Path) -> None:
    lines = [
        {"_index": "winlogbeat-8.13", "_id": "e1", "_source": DOCS[0]},
        {"_index": "winlogbeat-8.13", "_source": DOCS[2]},
        DOCS[1],
    ]
    path = tmp_path / "export.ndjson"
    path.write_bytes(ndjson(lines))
    events, _ = read([str(path)])
    assert [e.source for e in events] == [DOCS[0], DOCS[2], DOCS[1]]
    assert [e.index for e in events] == [
        "winlogbeat-8.13",
        "winlogbeat-8.13",
        "logs-endpoint.events.network-default",
    ]
    assert events[0].id == "e1"
    assert events[1].id == stable_id(orjson.dumps(lines[1]))  # no _id: hash of the line
    assert [e.seq for e in events] == [0, 1, 2]


def test_gzip_and_zstd(tmp_path: Path) -> None:
    gz = tmp_path / "a.ndjson.gz"
    gz.write_bytes(gzip.compress(ndjson(DOCS)))
    zst = tmp_path / "b.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(ndjson(DOCS[:2])))
    events, report = read([str(gz), str(zst)])
    assert [e.source for e in events] == DOCS + DOCS[:2]
    assert [e.seq for e in events] == [0, 1, 2, 3, 4]
    assert report.files == 2
    # Same line, same id, compressed or not.
    assert events[0].id == stable_id(orjson.dumps(DOCS[0]))


def test_zstd_multiple_frames(tmp_path: Path) -> None:
    path = tmp_path / "multi.ndjson.zst"
    c = zstandard.ZstdCompressor()
    path.write_bytes(c.compress(ndjson(DOCS[:1])) + c.compress(ndjson(DOCS[1:])))
    events, _ = read([str(path)])
    assert [e.source for e in events] == DOCS


def test_compressed_json_document(tmp_path: Path) -> None:
    path = tmp_path / "a.json.gz"
    path.write_bytes(gzip.compress(json.dumps(DOCS, indent=2).encode()))
    events, _ = read([str(path)])
    assert [e.source for e in events] == DOCS


def test_folder_is_recursive_sorted_and_filtered_by_extension(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.ndjson").write_bytes(ndjson(DOCS[1:2]))
    (tmp_path / "a.jsonl").write_bytes(ndjson(DOCS[:1]))
    (tmp_path / "c.json.gz").write_bytes(gzip.compress(ndjson(DOCS[2:])))
    (tmp_path / "notes.txt").write_text("not events")
    (tmp_path / "b" / "README.md").write_text("# no")
    events, report = read([str(tmp_path)])
    assert [e.source for e in events] == [DOCS[0], DOCS[1], DOCS[2]]
    assert report.files == 3


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(ndjson(DOCS)))))
    events, report = read(["-"])
    assert [e.source for e in events] == DOCS
    assert report.malformed == []


def test_missing_input_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read([str(tmp_path / "nope.ndjson")])


def test_line_filter_skips_decoding_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "a.ndjson"
    path.write_bytes(ndjson(DOCS) + b"\n{broken but filtered\n")
    seen: list[bytes] = []

    def only_network(line: bytes) -> bool:
        seen.append(line)
        return b'"network"' in line

    events, report = read([str(path)], line_filter=only_network)
    assert [e.source for e in events] == [DOCS[1]]
    assert report.filtered == 3  # two events and the broken line, never decoded; blank not counted
    assert report.skipped == 0
    assert report.events == 1
    assert events[0].seq == 0


def test_seq_continues_across_inputs(tmp_path: Path) -> None:
    a = tmp_path / "a.ndjson"
    a.write_bytes(ndjson(DOCS[:2]))
    b = tmp_path / "b.json"
    b.write_text(json.dumps([DOCS[2]]))
    events, _ = read([str(a), str(b)])
    assert [e.seq for e in events] == [0, 1, 2]


def test_first_line_damaged_ndjson_still_reads_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "a.ndjson"
    path.write_bytes(b'{"a": "truncat\n' + ndjson(DOCS))
    messages: list[str] = []
    events, report = read([str(path)], log=messages.append)
    assert [e.source for e in events] == DOCS
    assert report.skipped == 1
    assert report.malformed[0].line == 1


def test_partial_consumption_still_updates_the_report(tmp_path: Path) -> None:
    path = tmp_path / "a.ndjson"
    path.write_bytes(ndjson(DOCS))
    report = ReadReport()
    stream = read_events([str(path)], report=report)
    next(stream)
    stream.close()
    assert report.events == 1


def test_truncated_line_points_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "a.ndjson"
    path.write_bytes(orjson.dumps(DOCS[0]) + b'\n{"a": 1\n' + orjson.dumps(DOCS[1]) + b"\n")
    events, report = read([str(path)])
    assert len(events) == 2
    assert (report.malformed[0].line, report.malformed[0].column) == (2, 8)


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    import random

    rng = random.Random(1)
    big = [dict(DOCS[0], n=i, noise=f"{rng.getrandbits(256):064x}") for i in range(2000)]
    data = gzip.compress(ndjson(big))
    damaged = tmp_path / "cut.ndjson.gz"
    damaged.write_bytes(data[: len(data) // 2])
    after = tmp_path / "z-after.ndjson"
    after.write_bytes(ndjson(DOCS[1:2]))
    events, report = read([str(damaged), str(after)])
    assert 0 < len(events) - 1 < 2000
    assert events[-1].source == DOCS[1]  # the next input is still read
    assert report.skipped == 1
    assert "breaks off" in report.malformed[0].message
    with pytest.raises(DataError, match="breaks off"):
        read([str(damaged)], strict=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_read_line_by_offset_as_a_fresh_open_reads_it(tmp_path: Path, seed: int) -> None:
    """An event decoded as a projection is re-read by (file, offset) for its alert: the line the
    kept-open file gives is the one opening the file there gives, across lines longer than a
    read, a last line without its end, offsets past the end, and a path that now names another
    file (rotated) or was rewritten in place."""
    import os
    import random

    from vigil.engine.model import read_line

    rng = random.Random(seed)
    path = tmp_path / "events.ndjson"
    for round_ in range(40):
        lines = [
            bytes(rng.choice(b'ab{}\r "') for _ in range(rng.choice([0, 1, 7, 4095, 4096, 4097, 20_000])))
            for _ in range(rng.randint(1, 5))
        ]
        data = b"\n".join(lines) + (b"\n" if rng.random() < 0.5 else b"")
        if round_ % 3 == 0 and path.exists():
            os.replace(path, tmp_path / "rotated.ndjson")  # the path names a new file now
        path.write_bytes(data)
        offsets = [0]
        for line in lines[:-1]:
            offsets.append(offsets[-1] + len(line) + 1)
        for offset in [*offsets, len(data), len(data) + 3]:
            with open(path, "rb") as f:
                f.seek(offset)
                assert read_line(str(path), offset) == f.readline()
