"""Many rules in one pass: the rule-set pre-filter and the parallel hunt never change an answer.

* seeded property test: for random events (as JSON lines, in several spellings), every query a
  line matches is among the candidates the rule-set pre-filter names for that line, before and
  after it calibrates;
* a hunt over generated events gives the same alert ids with the pre-filter, without it, and
  with worker processes over tiny byte ranges.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from vigil.engine import Event, QueryOptions, compile_query
from vigil.engine.ruleset import RuleSetFilter
from vigil.rules.executor import NO_LIMIT, plan_rule
from vigil.rules.loaders import load_rules
from vigil.rules.parallel import collect_parallel
from vigil.rules.scheduler import AlertSink, Collector, hunt_rule, rule_set_filter
from vigil.sources import ReadReport, read_events

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT.parent / "shared" / "tools" / "gen_ecs.py"

QUERIES = [
    'process where process.name == "cmd.exe"',
    'process where process.name : ("CMD.EXE", "powershell.exe") and process.pid != 4',
    'process where host.os.type == "windows" and process.name : "*shell.exe"',
    "network where destination.port == 445",
    'network where destination.port in (139, 445) and not cidrmatch(destination.ip, "10.0.0.0/8")',
    'any where event.action == "creation"',
    "any where true",
    'file where file.extension in~ ("EXE", "dll")',
    'sequence by process.entity_id [process where process.name == "net.exe"] [network where true]',
    'sequence [process where event.type == "start"] [file where file.name like "a.txt"]'
    " until [process where true]",
    'registry where registry.path : "*run*"',
    'process where process.args == "-enc" or process.name == "x.exe"',
    'process where process.command_line : "*rundll32*,#1*"',
    'file where file.path : "?:\\\\Windows\\\\Temp\\\\*.exe"',
    'process where stringContains(process.command_line, "EncodedCommand")',
    'process where process.name : "CMD.exe" or process.args == "-enc"',
]

NAMES = ["cmd.exe", "CMD.EXE", "Cmd.Exe", "powershell.exe", "pwsh.exe", "net.exe", "x.exe", "svchost.exe"]


def _doc(rng: random.Random) -> dict:
    cat = rng.choice(["process", "network", "file", "registry", ["process", "network"], None])
    doc: dict = {"@timestamp": f"2024-05-01T00:00:{rng.randrange(60):02d}Z", "event": {}}
    if cat is not None:
        doc["event"]["category"] = cat
    if rng.random() < 0.5:
        doc["event"]["type"] = rng.choice(["start", ["start", "process_start"], "end"])
    if rng.random() < 0.3:
        doc["event"]["action"] = rng.choice(["creation", "Creation", "deletion"])
    if rng.random() < 0.8:
        doc["process"] = {
            "name": rng.choice(NAMES),
            "pid": rng.choice([4, 100, "4"]),
            "entity_id": rng.choice(["e1", "e2"]),
            "args": rng.choice([["cmd", "-enc"], "-enc", ["-ENC"]]),
            "command_line": rng.choice(
                ["RUNDLL32.EXE x.dll,#1 y", "powershell -EncodedCommand AAA", "cmd /c dir", "rundll32 a,#2"]
            ),
        }
    if rng.random() < 0.5:
        doc["destination"] = {
            "port": rng.choice([445, "445", 139, 80]),
            "ip": rng.choice(["10.0.0.1", "8.8.8.8"]),
        }
    if rng.random() < 0.4:
        doc["file"] = {
            "extension": rng.choice(["exe", "EXE", "Dll", "txt"]),
            "name": rng.choice(["a.txt", "A.TXT", "b.exe"]),
            "path": rng.choice(["C:\\Windows\\Temp\\b.exe", "C:\\Users\\b.exe"]),
        }
    if rng.random() < 0.2:
        doc["registry"] = {"path": rng.choice(["HKLM\\Software\\RUN\\x", "HKLM\\x"])}
    if rng.random() < 0.5:
        doc["host"] = {"os": {"type": rng.choice(["windows", "linux"])}}
    return doc


def _line(doc: dict, rng: random.Random) -> bytes:
    # Dotted keys and spacing vary across producers: the filter must not depend on either.
    if rng.random() < 0.3 and "process" in doc:
        doc = dict(doc)
        for k, v in doc.pop("process").items():
            doc[f"process.{k}"] = v
    text = orjson.dumps(doc)
    if rng.random() < 0.3:
        text = text.replace(b'":', b'": ').replace(b",", b", ")
    return text


@pytest.mark.parametrize("engine", ["hyperscan", "aho-corasick"])
@pytest.mark.parametrize("queries", [QUERIES, QUERIES[:3], QUERIES[3:5]], ids=["many", "few", "few-network"])
@pytest.mark.parametrize("seed", range(6))
def test_candidates_cover_every_match(
    seed: int, queries: list[str], engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vigil.sources import scan

    monkeypatch.setattr(scan, "_NO_HYPERSCAN", engine != "hyperscan")
    rng = random.Random(seed)
    compiled = [compile_query(q, options=QueryOptions(size=100)) for q in queries]
    reqs = [getattr(c.line_filter, "reqs", None) for c in compiled]
    ruleset = RuleSetFilter(reqs, calibration=200, line_filters=[c.line_filter for c in compiled])
    for i in range(1200):  # before and after calibration
        line = _line(_doc(rng), rng)
        cands = ruleset(line)
        ev = Event(orjson.loads(line), "logs-x", str(i), i)
        for qi, c in enumerate(compiled):
            if c.part_of(ev) is not None:
                assert qi in cands, (queries[qi], line)


def test_calibration_drops_common_needles() -> None:
    compiled = [
        compile_query('process where event.type == "start" and process.name == "rare.exe"'),
        compile_query('process where event.type == "start"'),
    ]
    reqs = [getattr(c.line_filter, "reqs", None) for c in compiled]
    ruleset = RuleSetFilter(reqs, calibration=50, line_filters=[c.line_filter for c in compiled])
    common = orjson.dumps({"event": {"category": "process", "type": "start"}, "process": {"name": "a.exe"}})
    for _ in range(50):
        ruleset(common)
    # the first query is now searched by its rare needle only; the second by its own pre-check
    assert ruleset(common) == {1}
    assert ruleset(b'{"event":{"category":"network"}}') == frozenset()
    assert ruleset.skips_lines


# more queries than the few a rule-set filter tests with their own pre-checks (FEW_QUERIES)
_NAME_AND_ARGS = 'process where process.name == "cmd.exe" and process.args == "-enc"'
_FILLERS = [compile_query(f'file where file.name == "filler{i}.txt"') for i in range(4)]


def _calibrated(lines: list[bytes]) -> RuleSetFilter:
    """The rule-set filter of the name-and-args query (and the fillers) calibrated on ``lines``."""
    compiled = [compile_query(_NAME_AND_ARGS), *_FILLERS]
    reqs = [getattr(c.line_filter, "reqs", None) for c in compiled]
    ruleset = RuleSetFilter(reqs, calibration=len(lines), line_filters=[c.line_filter for c in compiled])
    for line in lines:
        ruleset(line)
    return ruleset


def test_calibration_searches_clauses_together_when_they_narrow() -> None:
    # "cmd.exe" and "-enc" are each in a third of the lines, together in few: after calibrating,
    # the rule is searched by both, so a line with one of them only is no candidate.
    name = orjson.dumps({"process": {"name": "cmd.exe", "args": ["/c"]}})
    args = orjson.dumps({"process": {"name": "x.exe", "args": ["-enc"]}})
    both = orjson.dumps({"process": {"name": "cmd.exe", "args": ["-enc"]}})
    other = orjson.dumps({"process": {"name": "x.exe", "args": ["/c"]}})
    ruleset = _calibrated([[name, args, other][i % 3] if i % 30 else both for i in range(90)])
    assert len(ruleset.choice[0]) == 2
    assert ruleset(name) == frozenset()
    assert ruleset(args) == frozenset()
    assert ruleset(both) == {0}
    assert "5 filters searched by 6 clauses" in ruleset.describe()


def test_calibration_keeps_one_clause_when_another_does_not_narrow() -> None:
    # "-enc" is in every line "cmd.exe" is in: searching for it too would only cost
    both = orjson.dumps({"process": {"name": "cmd.exe", "args": ["-enc"]}})
    args = orjson.dumps({"process": {"name": "x.exe", "args": ["-enc"]}})
    ruleset = _calibrated([both if i % 10 == 0 else args for i in range(40)])
    assert len(ruleset.choice[0]) == 1
    assert ruleset(both) == {0}


@pytest.mark.parametrize("seed", range(3))
def test_calibration_counts_each_clause_as_a_plain_substring_test_would(seed: int) -> None:
    rng = random.Random(seed)
    compiled = [compile_query(q) for q in QUERIES]
    reqs = [getattr(c.line_filter, "reqs", None) for c in compiled]
    ruleset = RuleSetFilter(reqs, calibration=10_000)  # still calibrating after these lines
    lines = [_line(_doc(rng), rng) for _ in range(300)]
    for line in lines:
        ruleset(line)
    expected = [
        [sum(1 for line in lines if any(n.text.lower() in line.lower() for n in c.needles)) for c in clauses]
        for _qi, clauses in ruleset.filters
    ]
    assert ruleset._passes == expected


# Without the queries that need every line, so the pre-filter can skip some.
HUNT_QUERIES = [q for q in QUERIES if q != "any where true" and "until" not in q]


def _rules(tmp_path: Path, queries: list[str] = HUNT_QUERIES) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    for i, query in enumerate(queries):
        rule = (
            '[metadata]\ncreation_date = "2024/01/01"\nupdated_date = "2024/01/01"\n\n[rule]\n'
            f'author = ["vigil"]\ndescription = "test {i}"\nname = "rule {i}"\nrisk_score = 21\n'
            f'rule_id = "00000000-0000-0000-0000-{i:012d}"\nseverity = "low"\ntype = "eql"\n'
            f"language = \"eql\"\nindex = [\"logs-*\"]\nquery = '''\n{query}\n'''\n"
        )
        (folder / f"r{i}.toml").write_text(rule, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hunt") / "events.ndjson"
    if GENERATOR.exists():
        out = subprocess.run(
            [sys.executable, str(GENERATOR), "--events", "4000", "--seed", "11"],
            capture_output=True,
            check=True,
        ).stdout
        path.write_bytes(out)
    else:  # stand-in events of the same kinds
        rng = random.Random(3)
        docs = []
        for i in range(3000):
            doc = _doc(rng)
            doc["data_stream"] = {"type": "logs", "dataset": "endpoint.events", "namespace": "default"}
            doc["@timestamp"] = f"2024-05-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z"
            docs.append(orjson.dumps(doc))
        path.write_bytes(b"\n".join(docs) + b"\n")
    return path


def _alert_ids(plans: list, run_time: object) -> list[list[str]]:
    from datetime import UTC, datetime

    from vigil.alerts.build import build_alerts

    sink = AlertSink(None)
    out = []
    for plan in plans:
        ids: list[str] = []

        def on_run(outcome: object, ids: list[str] = ids) -> None:
            ids.extend(g.primary_id for g in outcome.groups)  # type: ignore[attr-defined]

        hunt_rule(
            plan, run_time=datetime(2024, 6, 1, tzinfo=UTC), sink=sink, build=build_alerts, on_run=on_run
        )
        out.append(sorted(ids))
    return out


def _plans(folder: Path) -> list:
    loaded = load_rules([str(folder)])
    assert not loaded.problems
    return [plan_rule(r, size=NO_LIMIT) for r in loaded.rules]


def test_hunt_same_alerts_every_way(tmp_path: Path, events_file: Path) -> None:
    folder = _rules(tmp_path)

    plain = _plans(folder)
    Collector(plain, use_ruleset=False).collect(read_events([str(events_file)], report=ReadReport()))
    expected = _alert_ids(plain, None)
    assert sum(len(x) for x in expected) > 0

    filtered = _plans(folder)
    collector = Collector(filtered)
    report = ReadReport()
    collector.collect(read_events([str(events_file)], line_filter=collector.ruleset, report=report))
    assert report.filtered > 0  # the pre-filter did skip lines
    assert _alert_ids(filtered, None) == expected

    parallel = _plans(folder)
    report = ReadReport()
    stats = collect_parallel(
        parallel, [str(events_file)], report, workers=2, min_bytes=0, chunk_bytes=64 * 1024
    )
    assert stats is not None and stats.events == report.events
    assert report.events + report.filtered == sum(1 for _ in events_file.open("rb"))
    assert _alert_ids(parallel, None) == expected

    # A hunt feeds parts straight into each rule's answer (bounded memory): same alerts, in one
    # process and with workers.
    for workers in (1, 2):
        streamed = _plans(folder)
        for plan in streamed:
            plan.start_stream()
        if workers == 1:
            collector = Collector(streamed)
            collector.collect(
                read_events([str(events_file)], line_filter=collector.ruleset, report=ReadReport())
            )
        else:
            collect_parallel(
                streamed, [str(events_file)], ReadReport(), workers=2, min_bytes=0, chunk_bytes=64 * 1024
            )
        assert all(not p.parts for p in streamed)
        assert _alert_ids(streamed, None) == expected


SMB = (Path(__file__).resolve().parents[1] / "examples" / "queries" / "direct_outbound_smb.eql").read_text()
FEW = [
    SMB,
    'process where process.name : ("psexec.exe", "PsExec64.exe", "wmic.exe")',
    'sequence by host.id with maxspan=5m [process where process.name == "cmd.exe"] [network where true]',
]


def parallel_hunt(folder: Path, data: Path, chunk_bytes: int, **options: Any) -> tuple[list, ReadReport, Any]:
    """A two-worker hunt of ``folder``'s rules over ``data`` cut into ``chunk_bytes`` ranges
    (``options`` for collect_parallel): the plans, the read's report and its stats."""
    plans = _plans(folder)
    report = ReadReport()
    stats = collect_parallel(
        plans, [str(data)], report, workers=2, min_bytes=0, chunk_bytes=chunk_bytes, **options
    )
    assert stats is not None
    return plans, report, stats


def _line_by_line(folder: Path, events_file: Path) -> list[list[str]]:
    """The alert ids of each rule of ``folder``, every event offered to every rule in one process."""
    plain = _plans(folder)
    Collector(plain, use_ruleset=False).collect(read_events([str(events_file)], report=ReadReport()))
    return _alert_ids(plain, None)


def _hunt_like(folder: Path, events_file: Path, expected: list[list[str]], scan: bool) -> ReadReport:
    """Hunt ``folder``'s rules with two workers, assert the alerts are ``expected``, and return
    the read's report."""
    plans = _plans(folder)
    for plan in plans:
        plan.start_stream()
    report = ReadReport()
    stats = collect_parallel(
        plans, [str(events_file)], report, workers=2, min_bytes=0, chunk_bytes=64 * 1024, scan=scan
    )
    assert stats is not None
    assert _alert_ids(plans, None) == expected, scan
    return report


@pytest.mark.parametrize("engine", ["hyperscan", "aho-corasick"])
@pytest.mark.parametrize(
    ("queries", "searched"),
    [
        (FEW[:1], True),
        (FEW[:2], True),
        (FEW, True),
        # a rule that concerns every line: every line is read, no key pre-pass
        ([SMB, "any where true"], False),
    ],
)
def test_a_few_rules_read_as_a_query_reads(
    tmp_path: Path,
    events_file: Path,
    queries: list[str],
    searched: bool,
    engine: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A hunt over a handful of rules uses the key pre-pass and range searches of `vigil query`
    # (forced here wherever they can apply): the alerts are the line-by-line hunt's.
    from vigil.sources import scan as scan_module

    if engine == "hyperscan" and not scan_module.hyperscan_available():
        pytest.skip("the hyperscan package is not installed here")
    monkeypatch.setattr(scan_module, "_NO_HYPERSCAN", engine != "hyperscan")
    monkeypatch.setattr(scan_module, "MAX_HIT_SHARE", 1.0)
    folder = _rules(tmp_path, queries)
    expected = _line_by_line(folder, events_file)
    assert sum(len(x) for x in expected) > 0
    decoded = {}
    for scan in (False, True):
        report = _hunt_like(folder, events_file, expected, scan)
        assert report.lines == sum(1 for _ in events_file.open("rb"))
        decoded[scan] = report.events
        assert bool(report.scanned) == (scan and searched)
    if searched:
        assert decoded[True] < decoded[False]  # the key pre-pass decodes fewer lines
    else:
        assert decoded[True] == decoded[False]


def test_rule_set_filter_none_without_prechecks(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "a.toml").write_text(
        _rules(tmp_path, QUERIES).joinpath("r6.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )  # "any where true"
    assert rule_set_filter(_plans(folder)) is None


def test_parallel_declines_what_it_cannot_cut(tmp_path: Path, events_file: Path) -> None:
    plans = _plans(_rules(tmp_path))
    report = ReadReport()
    assert collect_parallel(plans, [str(events_file)], report, workers=1, min_bytes=0) is None
    assert collect_parallel(plans, ["-"], report, workers=2, min_bytes=0) is None
    assert collect_parallel(plans, [str(events_file)], report, workers=2) is None  # too small


def test_cli_profile_and_workers(tmp_path: Path, events_file: Path) -> None:
    from click.testing import CliRunner

    from vigil.cli import main

    folder = _rules(tmp_path)
    outputs = []
    for extra in (["--workers", "1", "--no-prefilter"], ["--workers", "2", "--profile"]):
        result = CliRunner().invoke(
            main,
            [
                "hunt",
                "--rules",
                str(folder),
                "--format",
                "ndjson",
                "--alert-db",
                str(tmp_path / f"{len(outputs)}.db"),
                *extra,
                str(events_file),
            ],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.stderr
        outputs.append(sorted(orjson.loads(x)["kibana.alert.uuid"] for x in result.stdout.splitlines() if x))
        if "--profile" in extra:
            lines = result.stderr.splitlines()
            head = next(i for i, x in enumerate(lines) if x.startswith("vigil profile:"))
            assert "events/s" in lines[head] and "rules x events/s" in lines[head]
            phases = lines[head + 1]
            for phase in ("loading the rules", "compiling them", "reading", "alerts"):
                assert f"{phase} " in phases and float(phases.split(f"{phase} ")[1].split(" s")[0]) >= 0
            titles = next(i for i, x in enumerate(lines) if "testing" in x and "tested" in x)
            rows = lines[titles + 1 : titles + 1 + len(HUNT_QUERIES)]
            times = [float(r.split("ms")[0]) for r in rows]
            assert times == sorted(times, reverse=True)  # slowest first
            assert {r.split("  ")[-1].strip() for r in rows} == {
                f"rule {i}" for i in range(len(HUNT_QUERIES))
            }
    assert outputs[0] == outputs[1] and outputs[0]


SEQ_RULE = """[metadata]
creation_date = "2024/01/01"
updated_date = "2024/01/01"

[rule]
author = ["vigil"]
description = "d"
name = "seq"
risk_score = 21
rule_id = "00000000-0000-0000-0000-000000000001"
severity = "low"
type = "eql"
language = "eql"
index = ["logs-*"]
query = '''
sequence by host.name [process where true] [network where true]
'''
"""


def test_cli_warns_when_reorder_window_bites(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from vigil.cli import main

    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "seq.toml").write_text(SEQ_RULE, encoding="utf-8")
    # network events first, then the process events that should have come before them
    docs = [
        {
            "@timestamp": f"2024-05-01T00:00:{10 + i:02d}Z",
            "event": {"category": "network"},
            "host": {"name": f"h{i}"},
        }
        for i in range(5)
    ] + [
        {
            "@timestamp": f"2024-05-01T00:00:{i:02d}Z",
            "event": {"category": "process"},
            "host": {"name": f"h{i}"},
        }
        for i in range(5)
    ]
    data = tmp_path / "e.ndjson"
    data.write_bytes(b"\n".join(orjson.dumps(d) for d in docs) + b"\n")
    args = ["hunt", "--rules", str(folder), "--format", "ndjson", "--alert-db", str(tmp_path / "a.db")]
    exact = CliRunner().invoke(main, [*args, str(data)], catch_exceptions=False)
    assert exact.exit_code == 0 and "warning" not in exact.stderr
    assert "5 alert(s)" in exact.stderr
    small = CliRunner().invoke(main, [*args, "--reorder-window", "1", str(data)], catch_exceptions=False)
    assert small.exit_code == 0
    assert "warning:" in small.stderr and "reorder window" in small.stderr


def test_a_few_rules_without_the_key_pre_pass_when_keys_overflow(
    tmp_path: Path, events_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More keys than are worth searching for: the rule keeps its own pre-check; same alerts.
    from vigil.engine import semijoin

    monkeypatch.setattr(semijoin, "MAX_KEYS", 2)
    folder = _rules(tmp_path, FEW[:2])
    expected = _line_by_line(folder, events_file)
    decoded = {scan: _hunt_like(folder, events_file, expected, scan).events for scan in (False, True)}
    assert decoded[True] == decoded[False]  # no key pre-pass: the same lines are decoded


KEYED = [
    SMB,
    'sequence by process.entity_id with maxspan=1h [process where event.type == "start"] '
    '[network where destination.port == 445 and destination.ip == "10.0.0.1"]',
]


@pytest.mark.parametrize("queries", [KEYED[:1], KEYED], ids=["one rule", "two rules"])
def test_keyed_sequence_rules_read_in_one_reading(
    tmp_path: Path, events_file: Path, queries: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every rule a keyed sequence with a rare step: their keys are collected in one reading that
    # records the lines by key, and only the chosen lines are read again; the alerts are the
    # line-by-line hunt's, and every line is counted once.
    from vigil.rules import parallel as rules_parallel
    from vigil.sources import keypass
    from vigil.sources import scan as scan_module

    monkeypatch.setattr(scan_module, "MAX_HIT_SHARE", 1.0)  # ranges searched whatever the needles
    calls: list[bool] = []
    one_reading = rules_parallel._one_reading

    def spy(*args: object) -> bool:
        calls.append(one_reading(*args))  # type: ignore[arg-type]
        return calls[-1]

    monkeypatch.setattr(rules_parallel, "_one_reading", spy)
    # blank and whitespace lines here and there: counted as lines, neither read nor passed over
    lines = events_file.read_bytes().splitlines(keepends=True)
    for at in range(0, len(lines), 97):
        lines.insert(at, b"\n" if at % 2 else b"  \t\n")
    events_file = tmp_path / "events.ndjson"
    events_file.write_bytes(b"".join(lines))
    folder = _rules(tmp_path, queries)
    expected = _line_by_line(folder, events_file)
    assert sum(len(x) for x in expected) > 0
    single = ReadReport()
    list(read_events([str(events_file)], report=single))
    report = _hunt_like(folder, events_file, expected, True)
    assert calls == [True] and report.scanned
    assert report.lines == single.lines
    assert report.events + report.filtered + report.skipped == single.events + single.skipped
    assert report.events < single.events / 2

    # Too much recorded: the reading is abandoned for the two-readings way; the same alerts.
    monkeypatch.setattr(keypass, "MAX_RECORDED", 10)
    calls.clear()
    report = _hunt_like(folder, events_file, expected, True)
    assert calls == [False] and report.lines == single.lines


def test_own_pre_checks_run_only_on_lines_no_other_query_names() -> None:
    compiled = [
        # "88" is too short to search for and "network" is in half the lines: tested by its own
        # pre-check, but only where it decides whether the line is decoded at all
        compile_query("network where destination.port in (88, 464)"),
        compile_query('process where process.name == "cmd.exe"'),
        *_FILLERS,
    ]
    calls: list[bytes] = []
    own = compiled[0].line_filter
    assert own is not None

    def counted(line: bytes) -> bool:
        calls.append(line)
        return own(line)

    reqs = [getattr(c.line_filter, "reqs", None) for c in compiled]
    filters = [counted, *(c.line_filter for c in compiled[1:])]
    ruleset = RuleSetFilter(reqs, calibration=40, line_filters=filters)
    network = orjson.dumps({"event": {"category": "network"}, "destination": {"port": 80}})
    cmd = orjson.dumps({"event": {"category": "process"}, "process": {"name": "cmd.exe"}})
    other = orjson.dumps({"event": {"category": "process"}, "process": {"name": "a.exe"}})
    for i in range(40):
        ruleset([network, cmd, other, network][i % 4])
    assert [qi for qi, _test in ruleset._weak] == [0]
    calls.clear()
    assert ruleset(cmd) == {0, 1}  # decoded for the second query: the first is named untested
    assert ruleset.last_mask == 0b11
    assert calls == []
    assert ruleset(network) == {0}  # its own pre-check decides
    assert ruleset(other) == frozenset()
    assert calls == [network, other]


def test_columnar_hunt_same_alerts_and_reports(tmp_path: Path, events_file: Path) -> None:
    """From COLUMNAR_MIN_RULES rules on, a parallel hunt answers lines from their columns
    (vigil.engine.columnar): the same alerts and malformed-line reports as line by line, with
    odd lines among the events (dotted keys, a search hit, values of other JSON types, damage)."""
    import importlib.util

    from vigil.rules.parallel import COLUMNAR_MIN_RULES

    spec = importlib.util.spec_from_file_location("gen_rules", ROOT / "benchmarks" / "gen_rules.py")
    assert spec is not None and spec.loader is not None
    gen_rules = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_rules)
    folder = _rules(tmp_path)
    assert gen_rules.main(["--rules", "120", "--seed", "2", "--out", str(folder / "generated")]) == 0
    odd = [
        b'{"@timestamp":"2024-05-01T00:00:01Z","event":{"category":"process","type":"start"},'
        b'"process.name":"cmd.exe","process":{"pid":7,"entity_id":"odd1"}}',
        b'{"_index":"logs-x","_source":{"@timestamp":"2024-05-01T00:00:02Z","event":{"category":'
        b'"process"},"process":{"name":"cmd.exe","args":["-enc"]}}}',
        b'{"@timestamp":"2024-05-01T00:00:03Z","event":{"category":"process"},"process":{"name":7}}',
        b'{"@timestamp":"2024-05-01T00:00:04Z","event":{"category":"process"},"process":{"name":"cmd.exe"',
        b"[1, 2]",
        b"",
        b'{"@timestamp":"2024-05-01T00:00:05Z","event":{"category":"network"},"destination":'
        b'{"port":"445","ip":"::ffff:192.168.1.1"},"process":{"pid":"4","name":"x.exe"}}\r',
    ]
    lines = events_file.read_bytes().splitlines()
    mixed = tmp_path / "mixed.ndjson"
    mixed.write_bytes(b"\n".join(lines[:1500] + odd + lines[1500:] + odd[:2]) + b"\n")
    expected = _line_by_line(folder, mixed)
    assert len(_plans(folder)) >= COLUMNAR_MIN_RULES
    assert sum(len(x) for x in expected) > 0
    reports = {}
    for columnar in (True, False):
        plans, report, _stats = parallel_hunt(folder, mixed, 128 * 1024, columnar=columnar)
        assert _alert_ids(plans, None) == expected, columnar
        reports[columnar] = report
    # Every line the columnar filter cannot read is decoded, so its malformed lines are reported
    # as when every line is decoded (the line-by-line pre-filter passes over those it need not
    # decode, here the array).
    plain = ReadReport()
    for _ev in read_events([str(mixed)], report=plain):
        pass
    assert [m.line for m in reports[True].malformed] == [m.line for m in plain.malformed] == [1504, 1505]
    # the columnar filter passes over more lines than the line-by-line pre-filter
    assert reports[True].filtered > reports[False].filtered
    assert reports[True].lines == reports[False].lines
