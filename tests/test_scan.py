"""Range searches find exactly the lines the line-by-line pre-filter loop passes, numbered and
counted alike, with every search engine (vigil.sources.scan)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from vigil.engine import compile_query
from vigil.sources import ReadReport
from vigil.sources import scan as scan_module
from vigil.sources.parallel import _Chunk, _passing, plan_chunks
from vigil.sources.scan import (
    Counts,
    Driver,
    Scanner,
    combine,
    make_driver,
    plan_driver,
    scan_range,
    visit_range,
)


@pytest.fixture(params=["hyperscan", "aho-corasick"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "hyperscan" and not scan_module.hyperscan_available():
        pytest.skip("the hyperscan package is not installed here")
    monkeypatch.setattr(scan_module, "_NO_HYPERSCAN", request.param != "hyperscan")
    return str(request.param)


WORDS = [b"cmd.exe", b"CMD.EXE", b"445", b"4450", b"start", b'"start"', b"x", b" ", b"\t", b"\\u0041"]


def _random_file(rng: random.Random, path: Path) -> bytes:
    """Lines of JSON-ish text, blank and whitespace-only lines, CRLF endings, maybe no final
    newline: every shape a line-by-line reader meets."""
    parts = []
    for _ in range(rng.randint(0, 60)):
        kind = rng.random()
        if kind < 0.1:
            parts.append(rng.choice([b"\n", b"  \n", b"\t\r\n", b"\r\n", b"       \n", b"         \n"]))
            continue
        words = b" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8)))
        body = (
            b'{"event":{"category":"%s","type":["%s"]},"process":{"name":"%s"},"destination":{"port":%s}}'
            % (
                rng.choice([b"process", b"network", b"file"]),
                rng.choice([b"start", b"end"]),
                words,
                rng.choice([b"445", b"80", b'"445"']),
            )
        )
        parts.append(body + rng.choice([b"\n", b"\r\n"]))
    data = b"".join(parts)
    if data and rng.random() < 0.3:
        data = data.rstrip(b"\n")  # no newline at the end
    path.write_bytes(data)
    return data


QUERIES = [
    'process where event.type == "start" and process.name : "cmd.exe"',  # case-insensitive
    "network where destination.port == 445",  # a confirming regex
    'process where process.name == "CMD.EXE" or process.name like "start"',
    'sequence [process where event.type == "start"] [network where destination.port == 445]',
]


def _plain(chunk: _Chunk, test) -> tuple[list[tuple[int, int, bytes]], ReadReport]:  # type: ignore[no-untyped-def]
    report = ReadReport(log=lambda _t: None)
    return list(_passing(chunk, test, report)), report


@pytest.mark.parametrize("seed", range(30))
def test_scanning_finds_the_lines_the_loop_passes(tmp_path: Path, seed: int, engine: str) -> None:
    rng = random.Random(seed)
    path = tmp_path / "f.ndjson"
    data = _random_file(rng, path)
    sample = data.splitlines(keepends=True)
    passing = 0
    for query in QUERIES:
        line_filter = compile_query(query).line_filter
        assert line_filter is not None
        test = line_filter.fast  # type: ignore[attr-defined]
        driver = plan_driver(line_filter.reqs, sample) if sample else None  # type: ignore[attr-defined]
        if driver is None:
            driver = plan_driver(line_filter.reqs, [b"-"])  # type: ignore[attr-defined]
        assert driver is not None
        scanner = Scanner(driver)

        def both(line: bytes, _found: int, test=test) -> bool:  # type: ignore[no-untyped-def]
            return bool(test(line))

        for chunk in plan_chunks([str(path)], rng.choice([7, 50, 300, 10_000])):
            expected, report = _plain(chunk, test)
            passing += len(expected)
            counts = Counts()
            got = list(scan_range(chunk.path, chunk.start, chunk.end, scanner, both, counts))
            assert got == expected, (query, chunk)
            assert (counts.lines, counts.filtered) == (report.lines, report.filtered), (query, chunk)
            unnumbered = list(scan_range(chunk.path, chunk.start, chunk.end, scanner, both, None))
            assert [(o, ln) for _n, o, ln in unnumbered] == [(o, ln) for _n, o, ln in expected]
            # The same lines and counts when every line found is visited (views, not copies).
            visited: list[tuple[int, int, bytes]] = []

            def visit(
                line: memoryview, _found: int, number: int, off: int, test=test, visited=visited
            ) -> bool:  # type: ignore[no-untyped-def]
                if test(bytes(line)):
                    visited.append((number, off, bytes(line)))
                    return True
                return False

            counts = Counts()
            visit_range(chunk.path, chunk.start, chunk.end, scanner, visit, counts)
            assert visited == expected, (query, chunk)
            assert (counts.lines, counts.filtered) == (report.lines, report.filtered), (query, chunk)
    assert passing or len(sample) < 10  # the data must give the searches something to find


def test_an_empty_file_and_empty_ranges(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "empty.ndjson"
    path.write_bytes(b"")
    scanner = Scanner(make_driver([(b"abc", False, None)]))
    counts = Counts()
    assert list(scan_range(str(path), 0, 0, scanner, lambda _ln, _m: True, counts)) == []
    assert (counts.lines, counts.filtered) == (0, 0)
    visit_range(str(path), 0, 0, scanner, lambda *_a: True, counts)
    assert (counts.lines, counts.filtered) == (0, 0)
    path.write_bytes(b"abc\nabc\n")
    # a range holding no line start (the first line runs over it)
    assert list(scan_range(str(path), 1, 3, scanner, lambda _ln, _m: True, Counts())) == []


@pytest.mark.parametrize("shape", ["singles", "many"])
def test_groups_report_every_needle_even_inside_another(engine: str, shape: str, tmp_path: Path) -> None:
    # A key holding the rare step's needle ("445" inside "k-4450"): both groups must be seen on
    # the line, whichever match a search reports first.
    keys = [b"k-4450"] + ([b"other-%d" % i for i in range(10)] if shape == "many" else [])
    driver = combine(make_driver([(b"445", False, None)]), make_driver([(k, False, None) for k in keys]))
    path = tmp_path / "g.ndjson"
    path.write_bytes(b'{"id":"k-4450"}\n{"port":445}\n{"id":"k-9"}\n{"id":"other-3"}\n')
    seen: dict[bytes, int] = {}

    def test(line: bytes, found: int) -> bool:
        seen[line] = found
        return True

    list(scan_range(str(path), 0, path.stat().st_size, Scanner(driver), test, Counts()))
    expected = {b'{"id":"k-4450"}\n': 3, b'{"port":445}\n': 1}
    if shape == "many":
        expected[b'{"id":"other-3"}\n'] = 2
    assert seen == expected


def test_confirming_regexes_match_as_python_does(tmp_path: Path) -> None:
    if not scan_module.hyperscan_available():
        pytest.skip("the hyperscan package is not installed here")
    # Python's \s holds \v and \f: the Hyperscan pattern must too.
    source = rb'port"\s*:\s*445\s*[,}]'
    lines = [b'{"port":445}\n', b'{"port"\x0b:\x0c445}\n', b'{"port":4450}\n', b'{"port" : 445 ,"a":1}\n']
    path = tmp_path / "r.ndjson"
    path.write_bytes(b"".join(lines))
    driver = Driver((b"445",), (False,), (source,))
    got = [
        ln
        for _n, _o, ln in scan_range(
            str(path), 0, path.stat().st_size, Scanner(driver), lambda _l, _m: True, Counts()
        )
    ]
    assert got == [ln for ln in lines if re.search(source, ln)]
    assert Scanner(driver).engine == "hyperscan"


def test_escaped_needles_are_literal(engine: str, tmp_path: Path) -> None:
    needles = [b"a.b", b"(x)", b"[y]*", b"q+?|", b"\\d", b"{1,2}"]
    lines = [
        b"aXb\n",
        b"a.b\n",
        b"(x)\n",
        b"x\n",
        b"[y]*\n",
        b"yy\n",
        b"q+?|\n",
        b"\\d\n",
        b"5\n",
        b"{1,2}\n",
        b"11\n",
    ]
    path = tmp_path / "e.ndjson"
    path.write_bytes(b"".join(lines))
    driver = make_driver([(n, False, None) for n in needles])
    scanner = Scanner(driver)
    assert scanner.engine == ("hyperscan" if engine == "hyperscan" else "aho-corasick")
    got = [
        ln
        for _n, _o, ln in scan_range(
            str(path), 0, path.stat().st_size, scanner, lambda _l, _m: True, Counts()
        )
    ]
    assert got == [ln for ln in lines if any(n in ln for n in needles)]


def test_caseless_needles(engine: str, tmp_path: Path) -> None:
    lines = [b"CMD.exe\n", b"cmd.EXE\n", b"cmdXexe\n", b"powershell\n"]
    path = tmp_path / "c.ndjson"
    path.write_bytes(b"".join(lines))
    scanner = Scanner(make_driver([(b"cmd.exe", True, None)]))
    got = [
        ln
        for _n, _o, ln in scan_range(
            str(path), 0, path.stat().st_size, scanner, lambda _l, _m: True, Counts()
        )
    ]
    assert got == lines[:2]


def test_plan_driver_picks_the_rarest_clause_or_gives_up() -> None:
    line_filter = compile_query(
        'process where event.type == "start" and process.name == "psexec.exe"'
    ).line_filter
    assert line_filter is not None
    sample = [b'{"event":{"category":"process","type":"start"},"process":{"name":"cmd.exe"}}'] * 50
    sample.append(b'{"event":{"category":"process","type":"start"},"process":{"name":"psexec.exe"}}')
    driver = plan_driver(line_filter.reqs, sample)  # type: ignore[attr-defined]
    assert driver is not None and driver.needles == (b'"psexec.exe"',)
    common = compile_query('process where event.type == "start"').line_filter
    assert plan_driver(common.reqs, sample) is None  # type: ignore[union-attr]  # in every line


@pytest.mark.parametrize("seed", range(12))
def test_hyperscan_entries_searched_apart_or_together_give_the_same_hits(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A few entries may be searched one Hyperscan database each, when the first buffer shows
    # that to be faster: the hits (offsets and group bits, in order) must not depend on it.
    if not scan_module.hyperscan_available():
        pytest.skip("the hyperscan package is not installed here")
    rng = random.Random(seed)
    data = b"".join(
        b'{"event":{"category":["%s"],"type":"%s"},"destination":{"port":%s},"process":{"name":"%s"}}\n'
        % (
            rng.choice([b"process", b"network", b"file"]),
            rng.choice([b"start", b"end"]),
            rng.choice([b"445", b"80", b'"445"', b"[80, 445]"]),
            b" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 4))),
        )
        for _ in range(rng.randint(50, 400))
    )
    queries = [QUERIES[3], *rng.sample(QUERIES[:3], rng.randint(0, 2))]  # 2 entries or more
    drivers = []
    for query in queries:
        line_filter = compile_query(query).line_filter
        assert line_filter is not None
        driver = plan_driver(line_filter.reqs, [b"-"])  # type: ignore[attr-defined]
        assert driver is not None
        drivers.append(driver)
    driver = combine(*drivers)
    together, apart, auto = Scanner(driver), Scanner(driver), Scanner(driver)
    together._apart_chosen = False
    apart._apart_chosen = bool(apart._apart)  # one entry: there is nothing to search apart
    monkeypatch.setattr(scan_module, "_TRIAL_BYTES", max(1, len(data) // 3))
    expected = together.hits(data)
    assert apart.hits(data) == expected
    assert auto.hits(data) == expected
    if len(set(driver.entries())) <= scan_module._MAX_APART:
        assert apart._apart, "two entries or more, up to the limit, can be searched apart"
        assert auto._apart_chosen is not None  # decided on this buffer, whichever way
    assert expected or not data
