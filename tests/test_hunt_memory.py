"""A hunt turns a rule's matches into alerts a slice at a time: the documents of a whole answer are
never in memory at once, and the alerts (ids, documents, order, counts) are those of one call."""

from __future__ import annotations

import gc
import io
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from vigil.alerts.build import AlertGroup, build_alerts
from vigil.alerts.output import AlertWriter, write_alerts
from vigil.engine.model import Event, QueryResult
from vigil.rules.executor import NO_LIMIT, plan_rule
from vigil.rules.loaders import load_rules
from vigil.rules.parallel import collect_parallel
from vigil.rules.scheduler import AlertSink, RunOutcome, hunt_rule
from vigil.sources import ReadReport

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT.parent / "shared" / "tools" / "gen_ecs.py"
RUN_TIME = datetime(2024, 6, 1, tzinfo=UTC)
SLICE = 7

QUERIES = [
    "process where true",
    "network where true",
    'process where process.name : ("cmd.exe", "powershell.exe")',
    "sequence by host.name with maxspan=5m [process where true] [network where true]",
    "sequence by host.name [process where true] [file where true] [network where true]",
]


def _rules(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i, query in enumerate(QUERIES):
        (folder / f"r{i}.toml").write_text(
            '[metadata]\ncreation_date = "2024/01/01"\nupdated_date = "2024/01/01"\n\n[rule]\n'
            f'author = ["vigil"]\ndescription = "test {i}"\nname = "rule {i}"\nrisk_score = 21\n'
            f'rule_id = "00000000-0000-0000-0000-{i:012d}"\nseverity = "low"\ntype = "eql"\n'
            f"language = \"eql\"\nindex = [\"logs-*\"]\nquery = '''\n{query}\n'''\n",
            encoding="utf-8",
        )
    return folder


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hunt-memory") / "events.ndjson"
    if GENERATOR.exists():
        out = subprocess.run(
            [sys.executable, str(GENERATOR), "--events", "3000", "--seed", "5"],
            capture_output=True,
            check=True,
        ).stdout
        path.write_bytes(out)
    else:  # stand-in events of the same kinds
        rng = random.Random(5)
        docs = []
        for i in range(3000):
            cat = rng.choice(["process", "network", "file"])
            doc = {
                "@timestamp": f"2024-05-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
                "event": {"category": [cat], "type": ["start"]},
                "host": {"name": f"h{rng.randrange(4)}"},
                "process": {"name": rng.choice(["cmd.exe", "powershell.exe", "svchost.exe"]), "pid": i},
                "data_stream": {"type": "logs", "dataset": "endpoint.events", "namespace": "default"},
            }
            docs.append(orjson.dumps(doc))
        path.write_bytes(b"\n".join(docs) + b"\n")
    return path


def _streamed_plans(tmp_path: Path, events_file: Path) -> list[Any]:
    """The rules' answers after reading with workers: the matches are projections (no document,
    only the file offset to read it back from)."""
    loaded = load_rules([str(_rules(tmp_path / "rules"))])
    assert not loaded.problems
    plans = [plan_rule(r, size=NO_LIMIT) for r in loaded.rules]
    for plan in plans:
        plan.start_stream()
    stats = collect_parallel(
        plans, [str(events_file)], ReadReport(), workers=2, min_bytes=0, chunk_bytes=32 * 1024
    )
    assert stats is not None
    return plans


def _complete_events(path: Path) -> int:
    """Events of ``path`` whose whole document is in memory now."""
    gc.collect()
    name = str(path)
    return sum(
        1
        for o in gc.get_objects()
        if isinstance(o, Event) and not o.projected and o.origin is not None and o.origin[0] == name
    )


def _docs(groups: list[AlertGroup]) -> list[bytes]:
    return [orjson.dumps(doc) for g in groups for doc in g.alerts]


def test_sliced_hunt_holds_one_slice_of_documents(tmp_path: Path, events_file: Path) -> None:
    # The reference: each rule's alerts built in one call.
    whole: list[list[bytes]] = []
    whole_counts: list[tuple[int, int, int]] = []
    sink = AlertSink(None)
    for plan in _streamed_plans(tmp_path / "a", events_file):
        runs: list[RunOutcome] = []
        hunt_rule(plan, run_time=RUN_TIME, sink=sink, build=build_alerts, on_run=runs.append)
        whole.append(_docs(runs[0].groups))
        whole_counts.append((runs[0].hits, runs[0].alerts_created, runs[0].duplicates))
    assert max(c[0] for c in whole_counts) > 20 * SLICE  # answers much larger than a slice
    assert any(c[0] > 2 * SLICE for c, q in zip(whole_counts, QUERIES, strict=True) if "sequence" in q)

    # Sliced: the same documents in the same order, built SLICE hits at a time.
    plans = _streamed_plans(tmp_path / "b", events_file)
    builds: list[tuple[int, int]] = []  # (hits given to build, complete events alive after it)

    def build(rule: Any, result: QueryResult, **kwargs: Any) -> list[AlertGroup]:
        groups = build_alerts(rule, result, **kwargs)
        builds.append((result.total, _complete_events(events_file)))
        return groups

    import vigil.rules.scheduler as scheduler

    sink = AlertSink(None)
    old_slice = scheduler.ALERT_SLICE
    scheduler.ALERT_SLICE = SLICE
    try:
        for plan, expected, counts in zip(plans, whole, whole_counts, strict=True):
            got: list[bytes] = []
            slices: list[int] = []

            def on_alerts(groups: list[Any], got: list[bytes] = got, slices: list[int] = slices) -> None:
                slices.append(len(groups))
                got.extend(_docs(groups))

            runs = []
            hunt_rule(
                plan, run_time=RUN_TIME, sink=sink, build=build, on_run=runs.append, on_alerts=on_alerts
            )
            assert not runs[0].errors
            assert got == expected
            assert (runs[0].hits, runs[0].alerts_created, runs[0].duplicates) == counts
            assert runs[0].groups == []
            assert all(0 < n <= SLICE for n in slices)
            # The answer itself stays projections: nothing was completed in place.
            assert plan.stream is not None
            answer = plan.stream.close(complete=False)
            events = answer.events or [e for h in answer.sequences for e in h.events if e is not None]
            assert events and all(e.projected for e in events)
    finally:
        scheduler.ALERT_SLICE = old_slice
    assert builds and all(n <= SLICE for n, _live in builds)
    # At most one slice's events (three per sequence) are ever whole documents at once; building
    # a rule's whole answer at once would complete hundreds.
    assert max(live for _n, live in builds) <= 3 * SLICE


class _Store:
    def __init__(self, ids: set[str]):
        self.ids = ids

    def known_ids(self, ids: Any) -> set[str]:
        return {i for i in ids if i in self.ids}


def _group(uuid: str) -> AlertGroup:
    return AlertGroup(uuid, ({"kibana.alert.uuid": uuid},), None)


@pytest.mark.parametrize("slice_size", [1, 2, 3, 100])
def test_dedup_across_slices_as_in_one_call(slice_size: int) -> None:
    ids = ["a", "b", "a", "c", "d", "c", "e"]
    # One call: "a" twice in the run counts twice; "d" is stored, "e" raised by an earlier run.
    one = AlertSink(_Store({"d"}))
    one.seen.add("e")
    fresh, dups = one.accept([_group(i) for i in ids])
    expected = ([g.primary_id for g in fresh], dups)

    store = _Store({"d"})
    sliced = AlertSink(store)
    sliced.seen.add("e")
    sliced.begin_run()
    got: list[str] = []
    total = 0
    for start in range(0, len(ids), slice_size):
        fresh, dups = sliced.accept([_group(i) for i in ids[start : start + slice_size]])
        got.extend(g.primary_id for g in fresh)
        total += dups
        store.ids.update(g.primary_id for g in fresh)  # stored as each slice ends
    sliced.end_run()
    assert (got, total) == expected == (["a", "b", "a", "c", "c"], 2)
    # A later run sees the run's ids as raised before.
    again, dups = sliced.accept([_group("a")])
    assert again == [] and dups == 1


@pytest.mark.parametrize("fmt", ["ndjson", "json", "table"])
@pytest.mark.parametrize("chunk", [1, 3, 1000])
def test_alert_writer_writes_what_write_alerts_writes(
    fmt: str, chunk: int, tmp_path: Path, events_file: Path
) -> None:
    groups: list[AlertGroup] = []
    sink = AlertSink(None)
    for plan in _streamed_plans(tmp_path, events_file)[2:4]:  # events and sequences
        hunt_rule(
            plan, run_time=RUN_TIME, sink=sink, build=build_alerts, on_run=lambda o: groups.extend(o.groups)
        )
    groups = groups[:40]
    assert any(g.kind == "sequence" for g in groups) and any(g.kind == "event" for g in groups)
    expected = io.StringIO()
    write_alerts(groups, fmt, expected)
    got = io.StringIO()
    writer = AlertWriter(fmt, got)
    for start in range(0, len(groups), chunk):
        writer.add(groups[start : start + chunk])
    count = writer.close()
    assert got.getvalue() == expected.getvalue()
    assert count == write_alerts(groups, fmt, io.StringIO())
    if fmt == "json":
        assert len(orjson.loads(got.getvalue())) == count


@pytest.mark.parametrize("fmt", ["ndjson", "json", "table"])
def test_alert_writer_without_alerts(fmt: str) -> None:
    expected = io.StringIO()
    write_alerts([], fmt, expected)
    got = io.StringIO()
    writer = AlertWriter(fmt, got)
    writer.add([])
    assert writer.close() == 0
    assert got.getvalue() == expected.getvalue()


def test_a_failure_to_take_alerts_stops_the_hunt(tmp_path: Path, events_file: Path) -> None:
    # Storing or writing alerts failing is not the rule's error: it is raised, not recorded.
    plan = _streamed_plans(tmp_path, events_file)[0]

    def on_alerts(groups: list[Any]) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        hunt_rule(plan, run_time=RUN_TIME, sink=AlertSink(None), build=build_alerts, on_alerts=on_alerts)
