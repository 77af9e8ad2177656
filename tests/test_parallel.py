"""The parallel reader gives exactly the single-process answer (same hits, ids, order, counts)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from vigil.engine import QueryOptions, compile_query
from vigil.engine.response import to_eql_response
from vigil.sources import ReadReport, read_events
from vigil.sources import scan as scan_module
from vigil.sources.parallel import execute_parallel, plan_chunks
from vigil.sources.projection import make_decoder

GENERATOR = Path(__file__).resolve().parents[1].parent / "shared" / "tools" / "gen_ecs.py"
SMB = (Path(__file__).resolve().parents[1] / "examples" / "queries" / "direct_outbound_smb.eql").read_text()

QUERIES = [
    SMB,
    'process where process.name : ("cmd.exe", "powershell.exe") | tail 7',
    "network where destination.port == 445",
    'sequence by host.name with maxspan=1m [process where event.type == "start"] [file where true]',
    "sample by host.name [process where true] [network where true]",
]


def _single(query: str, path: Path, options: QueryOptions) -> tuple[dict, ReadReport]:
    compiled = compile_query(query, options=options)
    report = ReadReport(log=lambda _t: None)
    events = read_events(
        [str(path)], line_filter=compiled.line_filter, decode=make_decoder(compiled.fields), report=report
    )
    return to_eql_response(compiled.execute(events), 0), report


def _parallel_like_single(
    query: str,
    path: Path,
    options: QueryOptions,
    expected: dict,
    prepass: bool,
    chunk_bytes: int,
    scan: bool = False,
    workers: int = 2,
    one_pass: bool | None = None,
) -> ReadReport:
    """Run ``query`` over ``path`` with ``workers`` workers (1: the workers' code in this
    process), assert it answers ``expected`` (the single-process answer) and return the run's
    report."""
    report = ReadReport(log=lambda _t: None)
    result = execute_parallel(
        query,
        options,
        [str(path)],
        report,
        workers=workers,
        min_bytes=0,
        chunk_bytes=chunk_bytes,
        key_prepass=prepass,
        scan=scan,
        one_pass=one_pass,
    )
    assert result is not None
    got = to_eql_response(result, 0)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True), (
        query,
        prepass,
        scan,
        workers,
        one_pass,
    )
    return report


@pytest.fixture(params=["hyperscan", "aho-corasick"])
def search_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Range searches with Hyperscan and with its fallback; scanning is forced wherever the
    pre-filter has needles at all (the workers fork after this is set)."""
    if request.param == "hyperscan" and not scan_module.hyperscan_available():
        pytest.skip("the hyperscan package is not installed here")
    monkeypatch.setattr(scan_module, "_NO_HYPERSCAN", request.param != "hyperscan")
    monkeypatch.setattr(scan_module, "MAX_HIT_SHARE", 1.0)
    return str(request.param)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("par") / "events.ndjson"
    if GENERATOR.exists():
        out = subprocess.run(
            [sys.executable, str(GENERATOR), "--events", "6000", "--seed", "7"],
            capture_output=True,
            check=True,
        ).stdout
        lines = out.splitlines(keepends=True)
    else:  # a small stand-in with the same shape
        lines = [
            orjson.dumps(
                {
                    "@timestamp": f"2024-05-01T00:00:{i % 60:02d}.{i:03d}Z",
                    "event": {"category": ["process" if i % 2 else "network"], "type": ["start"]},
                    "host": {"name": f"h{i % 5}"},
                    "process": {"entity_id": f"e{i % 50}", "pid": i, "name": "cmd.exe"},
                    "destination": {"port": 445, "ip": "10.0.0.1"},
                }
            )
            + b"\n"
            for i in range(3000)
        ]
    # One malformed line in the middle: reported once, with its true line number.
    lines.insert(len(lines) // 2, b'{"broken": \n')
    path.write_bytes(b"".join(lines))
    return path


@pytest.mark.parametrize("query", QUERIES)
def test_parallel_equals_single_process(query: str, data: Path, search_engine: str) -> None:
    options = QueryOptions(size=10_000)
    expected, single_report = _single(query, data, options)
    searchable = compile_query(query, options=options).line_filter is not None
    # The key pre-pass in one reading (lines recorded by key) and in two.
    ways = [(False, None), (True, False), (True, True)]
    for (prepass, one_pass), scan, workers in itertools.product(ways, (False, True), (1, 2)):
        report = _parallel_like_single(
            query, data, options, expected, prepass, 200_000, scan, workers, one_pass
        )
        assert (report.lines, report.skipped) == (single_report.lines, single_report.skipped)
        # Every non-blank line is decoded, passed over or malformed, once.
        assert report.events + report.filtered + report.skipped == (
            single_report.events + single_report.filtered + single_report.skipped
        )
        if not prepass:  # the key pre-pass decodes fewer lines, on purpose
            assert (report.events, report.filtered) == (single_report.events, single_report.filtered)
        assert [(m.line, m.column) for m in report.malformed] == [
            (m.line, m.column) for m in single_report.malformed
        ]
        assert bool(report.scanned) == (scan and searchable), (query, prepass, scan, workers)


def test_chunks_cover_the_file(tmp_path: Path) -> None:
    f = tmp_path / "a.ndjson"
    f.write_bytes(b"x" * 1000)
    chunks = plan_chunks([str(f)], 300)
    assert [(c.start, c.end) for c in chunks] == [(0, 300), (300, 600), (600, 900), (900, 1000)]


def test_unsplittable_input_falls_back(tmp_path: Path) -> None:
    f = tmp_path / "a.json"
    f.write_text('[{"a": 1}]')
    assert (
        execute_parallel("any where true", QueryOptions(), [str(f)], ReadReport(), workers=2, min_bytes=0)
        is None
    )
    assert (
        execute_parallel("any where true", QueryOptions(), ["-"], ReadReport(), workers=2, min_bytes=0)
        is None
    )
    # a JSON document cannot be split even for the in-process worker
    assert (
        execute_parallel("any where true", QueryOptions(), [str(f)], ReadReport(), workers=1, min_bytes=0)
        is None
    )
    # below the size worth splitting, the line-by-line reader reads it
    g = tmp_path / "small.ndjson"
    g.write_text('{"a": 1}\n')
    assert execute_parallel("any where true", QueryOptions(), [str(g)], ReadReport(), workers=1) is None


def test_a_filter_tuned_on_a_sample_answers_alike_and_carries_its_order() -> None:
    lines = [
        orjson.dumps(
            {
                "event": {
                    "category": ["process" if i % 3 else "network"],
                    "type": ["start" if i % 2 else "end"],
                },
                "destination": {"port": 445 if i % 5 == 0 else 80},
                "process": {"pid": i, "entity_id": f"e{i % 7}"},
            }
        )
        for i in range(300)
    ]
    query = (
        'sequence by process.entity_id [process where event.type == "start"] '
        "[network where destination.port == 445]"
    )
    tuned = compile_query(query).line_filter
    untuned = compile_query(query).line_filter
    copy = compile_query(query).line_filter
    assert tuned is not None and untuned is not None and copy is not None
    order = tuned.calibrate(lines[:50])  # fewer lines than a reader calibrates on: tuned anyway
    assert order and all(sorted(o) == list(range(len(o))) for o in order)
    copy.use_order(order)
    assert copy.order == order
    expected = [untuned.fast(line) for line in lines]
    assert [tuned.fast(line) for line in lines] == expected
    assert [copy.fast(line) for line in lines] == expected
    assert [copy(line) for line in lines] == expected  # calibration already done: no re-tuning
    assert copy.order == order


def test_odd_line_shapes_read_alike_in_parallel(tmp_path: Path, search_engine: str) -> None:
    # Blank and whitespace-only lines, CRLF endings, hit envelopes, a malformed line the filter
    # passes, one it rejects, and a last line without a newline, cut into many small ranges.
    def doc(i: int) -> dict[str, object]:
        return {
            "@timestamp": f"2024-05-01T00:00:{i % 60:02d}.{i % 1000:03d}Z",
            "event": {"category": ["process" if i % 3 else "network"], "type": ["start"]},
            "host": {"name": f"h{i % 4}"},
            "process": {"entity_id": f"e{i % 9}", "pid": i, "name": "cmd.exe"},
            "destination": {"port": 445 if i % 4 == 0 else 80, "ip": "10.0.0.1"},
        }

    parts: list[bytes] = []
    for i in range(400):
        body = orjson.dumps(doc(i))
        if i % 17 == 0:
            parts.append(b"\n")
        if i % 23 == 0:
            parts.append(b"   \t \n")
        if i % 29 == 0:
            body = orjson.dumps({"_index": "logs-x", "_id": f"id{i}", "_source": doc(i)})
        if i == 101:
            parts.append(
                b'{"event": {"category": ["process"], "type": ["start"]}, "process": {"name": "cmd.exe"}, '
                b'"host": \n'
            )
        if i == 202:
            parts.append(b"{not json at all\n")
        parts.append(body + (b"\r\n" if i % 5 == 0 else b"\n"))
    parts.append(orjson.dumps(doc(400)))  # no newline at the end
    path = tmp_path / "odd.ndjson"
    path.write_bytes(b"".join(parts))
    options = QueryOptions(size=10_000)
    for query in (
        'process where event.type == "start" and process.name : "cmd.exe"',
        'process where process.name : "CMD.exe"',  # a case-insensitive needle
        'sequence by process.entity_id [process where event.type == "start"] '
        "[network where destination.port == 445]",
    ):
        expected, single = _single(query, path, options)
        for prepass, one_pass in ((False, None), (True, False), (True, True)):
            for scan in (False, True):
                report = _parallel_like_single(
                    query, path, options, expected, prepass, 3_000, scan, one_pass=one_pass
                )
                assert report.lines == single.lines
                where = [(m.line, m.column) for m in single.malformed]
                assert where and [(m.line, m.column) for m in report.malformed] == where
                assert report.events + report.filtered + report.skipped == (
                    single.events + single.filtered + single.skipped
                )
                if not prepass:
                    assert (report.events, report.filtered) == (single.events, single.filtered)
                assert bool(report.scanned) == scan


def test_parts_of_many_rules_share_their_events_across_the_pipe() -> None:
    import pickle

    from vigil.engine import Event
    from vigil.sources.parallel import SharedPacker, SharedUnpacker, _kind, _pack, _unpack

    queries = [
        'sequence by process.entity_id [process where process.name == "a.exe"] [network where true]'
        ' until [process where event.type == "end"]',
        'sequence by process.entity_id [process where process.name == "b.exe"] [file where true]'
        ' until [process where event.type == "end"]',
        'process where event.type == "end"',
        "sample by process.entity_id [process where true] [network where true]",
    ]
    compiled = [compile_query(q) for q in queries]
    docs = [
        {"@timestamp": f"2024-05-01T00:00:0{i}Z", "event": {"category": "process", "type": "end"}}
        | {"process": {"entity_id": f"e{i % 2}", "name": "a.exe"}}
        for i in range(4)
    ]
    events = [Event(d, "logs-x", "", i) for i, d in enumerate(docs)]
    for ev in events:
        ev.origin = ("f.ndjson", ev.seq * 100)
    packer = SharedPacker()
    packed = []
    for c in compiled:
        kind = _kind(c)
        parts = [p for ev in events if (p := c.part_of(ev)) is not None]
        assert parts
        packed.append((kind, [packer.pack(kind, p) for p in parts], [_pack(kind, p) for p in parts]))
    shared = pickle.dumps([p for _k, p, _plain in packed])
    plain = pickle.dumps([p for _k, _p, p in packed])
    assert len(shared) < len(plain)  # each event (and its ordinal, its until keys) once
    unpack = SharedUnpacker().unpack
    again = pickle.loads(shared)
    seen: dict[int, object] = {}
    for (kind, _p, plain_parts), parts in zip(packed, again, strict=True):
        for got, want in zip(parts, plain_parts, strict=True):
            a, b = unpack(kind, got), _unpack(kind, want)
            ev_a = a.event if kind == "sequence" else a[1] if kind == "events" else a[0]
            ev_b = b.event if kind == "sequence" else b[1] if kind == "events" else b[0]
            assert (ev_a.index, ev_a.seq, ev_a.origin) == (ev_b.index, ev_b.seq, ev_b.origin)
            assert seen.setdefault(ev_a.seq, ev_a) is ev_a  # one event object per event
            if kind == "sequence":
                assert (a.ordinal, a.step_keys, a.until_keys) == (b.ordinal, b.step_keys, b.until_keys)
            elif kind == "events":
                assert a[0] == b[0]
            else:
                assert a[1] == b[1]


def test_hunt_ranges_tapered_at_the_end(tmp_path: Path) -> None:
    """The last ranges of a many-rules hunt are cut smaller (the workers then finish together);
    the ranges still cover every byte once, in order."""
    from vigil.rules.parallel import TAPER_PIECES, _tapered
    from vigil.sources.parallel import plan_chunks

    data = tmp_path / "big.ndjson"
    data.write_bytes(b"x" * ((40 << 20) - 1) + b"\n")
    chunks = plan_chunks([str(data)], 4 << 20)
    tapered = _tapered(chunks, 2)
    assert len(tapered) == len(chunks) - 4 + 4 * TAPER_PIECES
    assert tapered[0].start == 0 and tapered[-1].end == chunks[-1].end
    assert all(a.end == b.start for a, b in itertools.pairwise(tapered))
    assert tapered[: len(chunks) - 4] == chunks[: len(chunks) - 4]
    # ranges of less than 4 MiB are left whole
    small = plan_chunks([str(data)], 2 << 20)
    assert _tapered(small, 2) == small


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_line_batches_cut_a_range_as_lines_of_does(tmp_path: Path, seed: int) -> None:
    # The columnar hunt reads a range's lines in batches (readlines): the same lines at the same
    # offsets as the line-by-line reader, whatever the range boundaries, batch sizes, blank and
    # whitespace lines, CRLF ends and a last line without an end.
    import random

    from vigil.sources.parallel import _Chunk, _line_batches, _lines_of

    rng = random.Random(seed)
    parts = []
    for i in range(400):
        r = rng.random()
        if r < 0.05:
            parts.append(b"\n")
        elif r < 0.08:
            parts.append(b"   \t \r\n")
        else:
            end = b"\r\n" if rng.random() < 0.1 else b"\n"
            parts.append(orjson.dumps({"n": i, "pad": "x" * rng.randint(0, 300)}) + end)
    data = b"".join(parts) + b'{"last": true}'
    path = tmp_path / "lines.ndjson"
    path.write_bytes(data)
    for chunk_bytes in (97, 1000, 4096, len(data)):
        for size in (1, 3, 64, 10_000):
            for chunk in plan_chunks([str(path)], chunk_bytes):
                expected = list(_lines_of(chunk))
                got = []
                number = 1
                for first, offsets, lines in _line_batches(chunk, size):
                    assert first == number and len(offsets) == len(lines) <= size
                    number += len(lines)
                    got += list(zip(offsets, lines, strict=True))
                assert got == expected, (chunk_bytes, size, chunk)
    # (a range with no line starting in it gives none)
    assert list(_line_batches(_Chunk(str(path), 0, 3, 4), 8)) == []
