"""The event store's writer: partitions, column types, irregular values, ids, order, atomicity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vigil.engine import Event, compile_query
from vigil.sources import ReadReport, read_events
from vigil.store import HotField, StoreError, StoreLockedError, open_store
from vigil.store import writer as writer_module
from vigil.store.columns import flag_column
from vigil.store.manifest import writer_lock

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "data" / "smb-sample.ndjson"


def _doc(ts: str | None, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {} if ts is None else {"@timestamp": ts}
    doc.update(fields)
    return doc


def _events(docs: list[dict[str, Any]], index: str = "logs-a") -> list[Event]:
    return [Event(d, index, f"id{i}", i) for i, d in enumerate(docs)]


def test_partitions_by_index_and_day(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    events = [
        Event(_doc("2024-05-01T23:59:59.999Z"), "logs-a", "a1", 0),
        Event(_doc("2024-05-02T00:00:00Z"), "logs-a", "a2", 1),
        Event(_doc("2024-05-01T10:00:00Z"), "logs-b/x", "b1", 2),
        Event(_doc(None), "", "n1", 3),
    ]
    report = store.append(events)
    assert report.events == 4 and report.files == 4 and report.first_seq == 0 and report.last_seq == 3
    assert report.partitions == (
        "data/index=_/day=none",
        "data/index=logs-a/day=2024-05-01",
        "data/index=logs-a/day=2024-05-02",
        "data/index=logs-b%2Fx/day=2024-05-01",
    )
    info = store.info()
    assert info.rows == 4 and info.files == 4 and info.indices == ("", "logs-a", "logs-b/x")
    for partition in info.partitions:
        assert (tmp_path / "s" / partition).is_dir()
    assert [e.id for e in store.events()] == ["a1", "a2", "b1", "n1"]
    assert [e.index for e in store.events()] == ["logs-a", "logs-a", "logs-b/x", ""]


def test_column_types_and_irregular_values(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    docs = [
        _doc(
            "2024-05-01T00:00:00.123456Z",
            process={"pid": "42", "name": "a.exe", "args": ["a", "b"]},
            destination={"ip": "::ffff:10.0.0.1", "port": 445},
            event={"category": "process", "code": 4624},
        ),
        _doc(
            "2024-05-01T00:00:01Z",
            process={"pid": [1, 2], "name": ["x", "y"], "args": "single"},
            destination={"ip": "nonsense", "port": "http"},
        ),
        _doc(["2024-05-01T00:00:03Z", "2024-05-01T00:00:02Z"], process={"pid": 2**63 + 5}),
        _doc("2500-01-01T00:00:00Z"),  # beyond int64 nanoseconds
        _doc("2024-05-01T00:00:04Z", process={"pid": 2**70}),  # beyond what orjson writes
    ]
    added = store.append(_events(docs))
    assert added.skipped == 1 and "id4" in added.problems[0]
    del docs[4]
    entry = next(f for f in store.manifest().files if f.day == "2024-05-01")
    table = pq.read_table(tmp_path / "s" / entry.path)
    schema = table.schema
    assert schema.field("process.pid").type == pa.int64()
    assert schema.field("destination.ip").type == pa.binary(16)
    assert schema.field("event.category").type == pa.list_(pa.string())
    assert schema.field("__ts").type == pa.int64()
    assert schema.field("__doc").type == pa.binary()
    rows = table.to_pylist()
    by_id = {r["__id"]: r for r in rows}
    fields = store.hot_fields
    number = {f.path: i for i, f in enumerate(fields)}

    def flagged(row: dict[str, Any], path: str) -> bool:
        name, mask = flag_column(number[path])
        return bool(row[name] & mask)

    first, second, third = by_id["id0"], by_id["id1"], by_id["id2"]
    assert first["__ts"] == 1714521600123000000  # a date keeps milliseconds
    assert first["process.pid"] == 42 and not flagged(first, "process.pid")  # "42" indexed as 42
    assert first["destination.ip"] == bytes(10) + b"\xff\xff" + bytes([10, 0, 0, 1])
    assert first["event.category"] == ["process"]  # a single value in a list column
    assert first["process.args"] == ["a", "b"]
    assert first["event.code"] is None and flagged(first, "event.code")  # a number in a text column
    assert second["process.pid"] is None and flagged(second, "process.pid")  # two values
    assert second["process.name"] is None and flagged(second, "process.name")
    assert second["process.args"] == ["single"]
    assert second["destination.ip"] is None and not flagged(second, "destination.ip")  # not indexed
    assert second["destination.port"] is None and not flagged(second, "destination.port")
    assert third["__ts"] == 1714521602000000000 and flagged(third, "@timestamp")  # the first of two
    assert third["process.pid"] is None and flagged(third, "process.pid")  # beyond int64
    # rows are sorted by time within a file; the sequence number keeps input order
    assert [r["__seq"] for r in rows] == [0, 1, 2]
    (late,) = (f for f in store.manifest().files if f.day != "2024-05-01")
    (far,) = pq.read_table(tmp_path / "s" / late.path).to_pylist()
    assert late.day == "none" and far["__ts"] is None and flagged(far, "@timestamp")
    assert [e.source for e in store.events()] == docs


def test_ids_index_and_order_equal_the_plain_reader(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    report = ReadReport()
    added = store.append(read_events([str(SAMPLE)], report=report))
    assert added.events == report.events
    plain = list(read_events([str(SAMPLE)], report=ReadReport()))
    stored = list(store.events())
    assert [(e.id, e.index, e.seq, e.source) for e in stored] == [
        (e.id, e.index, e.seq, e.source) for e in plain
    ]
    query = compile_query(ROOT.joinpath("examples/queries/direct_outbound_smb.eql").read_text())
    a = query.execute(read_events([str(SAMPLE)], report=ReadReport()))
    b = query.execute(store.candidates([query]))
    assert [[e and e.id for e in h.events] for h in a.sequences] == [
        [e and e.id for e in h.events] for h in b.sequences
    ]
    assert len(b.sequences) == 4


def test_appends_continue_the_sequence(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    store.append(_events([_doc("2024-05-02T00:00:00Z", n=1)]))
    second = store.append(_events([_doc("2024-05-01T00:00:00Z", n=2), _doc(None, n=3)]))
    assert (second.first_seq, second.last_seq, second.generation) == (1, 2, 2)
    assert [e.source["n"] for e in store.events()] == [1, 2, 3]  # input order, not time order
    assert [e.seq for e in store.events()] == [0, 1, 2]


def test_documents_without_their_index_file_still_read(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    docs = [_doc("2024-05-01T00:00:00Z", n=i, text="x" * (i % 50)) for i in range(1500)]
    store.append(_events(docs))
    assert store.info().dictionaries == 1  # enough documents to train one
    for entry in store.manifest().files:
        assert entry.docidx is not None
        (tmp_path / "s" / entry.docidx).unlink()
    assert [e.source for e in store.events()] == docs


def test_hot_fields_are_fixed_at_creation(tmp_path: Path) -> None:
    fields = (HotField("@timestamp"), HotField("host.name"))
    open_store(tmp_path / "s", hot_fields=fields)
    assert [f.path for f in open_store(tmp_path / "s").hot_fields] == ["@timestamp", "host.name"]
    with pytest.raises(StoreError, match="other hot fields"):
        open_store(tmp_path / "s", hot_fields=(HotField("user.name"),))
    with pytest.raises(StoreError, match="not an event store"):
        open_store(tmp_path / "missing", create=False)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("x")
    with pytest.raises(StoreError, match="not empty"):
        open_store(tmp_path / "busy")


def test_damaged_manifest_is_reported(tmp_path: Path) -> None:
    open_store(tmp_path / "s")
    (tmp_path / "s" / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="damaged manifest"):
        open_store(tmp_path / "s").info()


# ---------------------------------------------------------------------------- atomicity


def _listing(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize("stage", ["written", "moved"])
def test_a_failure_mid_append_leaves_the_previous_contents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    root = tmp_path / "s"
    store = open_store(root)
    store.append(_events([_doc("2024-05-01T00:00:00Z", n=0)]))
    before = store.info()
    committed = _listing(root)

    def crash(at: str) -> None:
        if at == stage:
            raise RuntimeError(f"crash at {at}")

    monkeypatch.setattr(writer_module, "_checkpoint", crash)
    with pytest.raises(RuntimeError):
        store.append(_events([_doc("2024-05-03T00:00:00Z", n=i) for i in range(1, 5)], index="logs-new"))
    assert _listing(root) - committed  # the interrupted append left files behind...
    assert store.info() == before  # ...that readers do not see
    assert [e.source["n"] for e in store.events()] == [0]

    monkeypatch.setattr(writer_module, "_checkpoint", lambda at: None)
    after = store.append(_events([_doc("2024-05-04T00:00:00Z", n=9)]))
    assert after.cleaned > 0  # the next writer removed them
    assert [e.source["n"] for e in store.events()] == [0, 9]
    manifest = store.manifest()
    listed = {f.path for f in manifest.files} | {f.docidx for f in manifest.files if f.docidx}
    assert _listing(root) == listed | {"manifest.json"} | set(manifest.dictionaries.values())


_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from vigil.engine import Event
    from vigil.store import open_store
    from vigil.store import writer

    stage = sys.argv[2]

    def die(at):
        if at == stage:
            os.kill(os.getpid(), signal.SIGKILL)

    writer._checkpoint = die
    docs = [{"@timestamp": "2024-05-02T00:00:00Z", "n": i} for i in range(1, 2001)]
    open_store(sys.argv[1]).append(Event(d, "logs-child", f"c{i}", i) for i, d in enumerate(docs))
    """
)


@pytest.mark.parametrize("stage", ["written", "moved"])
def test_a_killed_writer_leaves_the_store_readable(tmp_path: Path, stage: str) -> None:
    root = tmp_path / "s"
    store = open_store(root)
    store.append(_events([_doc("2024-05-01T00:00:00Z", n=0)]))
    manifest_before = (root / "manifest.json").read_bytes()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", _CHILD, str(root), stage], env=env, timeout=120, check=False)
    assert done.returncode == -9  # killed mid-append
    assert (root / "manifest.json").read_bytes() == manifest_before
    assert [e.source["n"] for e in store.events()] == [0]
    assert store.info().rows == 1
    store.append(_events([_doc("2024-05-01T00:00:01Z", n=1)]))  # takes the lock the dead one held
    assert [e.source["n"] for e in store.events()] == [0, 1]


def test_a_second_writer_waits_for_the_lock(tmp_path: Path) -> None:
    root = tmp_path / "s"
    store = open_store(root)
    with writer_lock(root, 1.0), pytest.raises(StoreLockedError):
        store.append(_events([_doc(None, n=1)]), lock_timeout=0.2)
    assert store.info().rows == 0


def test_concurrent_writers_both_commit(tmp_path: Path) -> None:
    root = tmp_path / "s"
    open_store(root)
    errors: list[BaseException] = []

    def write(tag: str) -> None:
        try:
            docs = [_doc("2024-05-01T00:00:00Z", tag=tag, n=i) for i in range(300)]
            open_store(root).append(Event(d, "logs-a", f"{tag}{i}", i) for i, d in enumerate(docs))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in "xy"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    events = list(open_store(root).events())
    assert len(events) == 600 and [e.seq for e in events] == list(range(600))
    # each append is contiguous: one writer's rows never interleave with the other's
    tags = [e.source["tag"] for e in events]
    assert tags in (["x"] * 300 + ["y"] * 300, ["y"] * 300 + ["x"] * 300)


def test_manifest_is_json(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    store.append(_events([_doc("2024-05-01T00:00:00Z")]))
    body = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert body["format"] == "vigil-event-store" and body["generation"] == 1 and body["next_seq"] == 1
    assert body["files"][0]["rows"] == 1


@pytest.mark.parametrize("by_text", [False, True])
def test_each_file_lists_its_event_categories(tmp_path: Path, by_text: bool) -> None:
    """A file's distinct event.category values, sorted (a string or a list per row; none for a
    row without one), for pruning; None when some row's value did not fit the column."""
    store = open_store(tmp_path / "s")
    ts = "2024-05-01T00:00:00Z"
    docs = [
        _doc(ts, event={"category": "process"}),
        _doc(ts, event={"category": ["network", "file"]}),
        _doc(ts, event={"category": ["process"]}),
        _doc(ts, event={}),
        _doc(ts),
    ]
    odd = [_doc(ts, event={"category": "process"}), _doc(ts, event={"category": 5})]  # 5: no string
    if by_text:
        writer_module.append_texts(
            tmp_path / "s", [("logs-a", f"t{i}", json.dumps(d).encode()) for i, d in enumerate(docs)]
        )
        writer_module.append_texts(
            tmp_path / "s", [("logs-b", f"u{i}", json.dumps(d).encode()) for i, d in enumerate(odd)]
        )
    else:
        store.append(_events(docs, "logs-a"))
        store.append(_events(odd, "logs-b"))
    found = {f.index: f.categories for f in store.manifest().files}
    assert found == {"logs-a": ("file", "network", "process"), "logs-b": None}


def test_one_walk_reads_what_the_readers_read() -> None:
    from vigil.store.columns import RowBuilder, default_hot_fields, with_timestamp

    builder = RowBuilder(with_timestamp(default_hot_fields()))
    docs: list[dict[str, Any]] = [
        {"process": {"pid": "7", "name": ["a"], "parent": {"pid": 1}}, "event": {"category": []}},
        {"process.pid": 7, "process": {"name": "x"}},  # a dotted key: the readers
        {"process": {"parent.pid": 3}},  # dotted below the top
        {"process": [{"pid": 1}, {"pid": 2}]},  # an array of objects: the readers
        {"process": {"pid": {"nested": 1}}, "destination": None, "source": {"ip": ["1.2.3.4", [None]]}},
        {"event": {"category": "process", "type": [["start"]]}, "@timestamp": 1714521600000},
        {"host": {"name": None}, "user": {}, "file": {"path": ""}, "process.name.x": 1},
    ]
    for doc in docs:
        assert builder._values(doc) == [read(doc) for read in builder._readers], doc
