"""The EVTX reader's short ways against the general ones: identical events, identical damage.

The reader maps a document it has just built from an EVTX record the short way
(:data:`vigil.ecs.windows.common.FRESH`: the common fields set directly, the most frequent
events by the fused functions of :mod:`vigil.ecs.windows.evtx_fused`), and parses big files in
a worker process (:mod:`vigil.ecs.windows.evtx_worker`). The general mapping (``to_ecs`` of a
copy, which is never fresh) and parsing in this process are the oracle. Compared: the whole ECS
document (keys in order, value types), ``winlog.*`` included, the index, the event id, ``seq``,
and every damage report, in order.

Inputs: every record of every ``.evtx`` under ../shared/datasets (both ECS modes, worker on and
off), the records of the NXLog data sets rewritten as EVTX records, seeded mutations of the
network share events (the fused ones) and of the System element, and damaged copies of a file
(cut short, a damaged record, a damaged chunk, a cut header), read with and without the worker,
which is also killed half way, given up on half way and asked for two files at once.
"""

from __future__ import annotations

import copy
import functools
import json
import random
import re
from collections.abc import Iterator
from itertools import chain, islice
from pathlib import Path
from typing import Any

import orjson
import pytest

pytest.importorskip("evtx")

from evtx import PyEvtxParser

from vigil.ecs.windows import common, evtx_worker, to_ecs
from vigil.ecs.windows.evtx_fused import FUSED
from vigil.errors import DataError
from vigil.sources import ReadReport, read_events, stable_id
from vigil.sources import evtx as evtx_module
from vigil.sources.evtx import Damage, evtx_documents, general_record_to_raw, record_to_raw
from vigil.sources.winlog import nxlog_to_raw

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
FILECOPY = DATASETS / "evtx-attack-samples" / "Lateral Movement" / "LM_5145_Remote_FileCopy.evtx"
MODES = ("agent", "winlogbeat")
BEATS = ("winlogbeat", "filebeat")

needs_data = pytest.mark.skipif(not DATASETS.is_dir(), reason=f"{DATASETS} is absent (../shared)")


# --------------------------------------------------------------------------- comparison


def differences(ours: Any, ref: Any, path: str = "$") -> list[str]:
    """Where two documents differ, down to key order and value types (empty when identical)."""
    if type(ours) is not type(ref):
        return [f"{path}: {type(ours).__name__} {ours!r} != {type(ref).__name__} {ref!r}"]
    if isinstance(ours, dict):
        if list(ours) != list(ref):
            return [f"{path}: keys {list(ours)} != {list(ref)}"]
        return [d for key in ours for d in differences(ours[key], ref[key], f"{path}.{key}")]
    if isinstance(ours, list):
        if len(ours) != len(ref):
            return [f"{path}: {ours!r} != {ref!r}"]
        return [
            d
            for i, (a, b) in enumerate(zip(ours, ref, strict=True))
            for d in differences(a, b, f"{path}[{i}]")
        ]
    return [] if ours == ref else [f"{path}: {ours!r} != {ref!r}"]


def containers(doc: Any) -> Iterator[int]:
    if isinstance(doc, dict | list):
        yield id(doc)
        for value in doc.values() if isinstance(doc, dict) else doc:
            yield from containers(value)


def general(raw: dict[str, Any], mode: str) -> dict[str, Any]:
    """The general mapping (a copy is never the fresh document)."""
    return to_ecs(copy.deepcopy(raw), mode=mode)  # type: ignore[arg-type]


def short(raw: dict[str, Any], mode: str) -> dict[str, Any]:
    """The short way, as the reader takes it for the document it has just handed out."""
    doc = copy.deepcopy(raw)
    common.FRESH.doc = doc
    mapped = to_ecs(doc, mode=mode)  # type: ignore[arg-type]
    assert common.FRESH.doc is None
    return mapped


def check_raw(raw: dict[str, Any], label: str, mode: str) -> list[str]:
    first, second = short(raw, mode), short(raw, mode)
    problems = differences(first, general(raw, mode))
    if set(containers(first)) & set(containers(second)):
        problems.append("two documents share a list or dict")
    return [f"{label} ({mode}): {p}" for p in problems[:3]]


def index_of(doc: dict[str, Any]) -> str:
    """The index the reader gives an event (its data stream, else the Beat's default index)."""
    stream = doc.get("data_stream")
    if isinstance(stream, dict):
        parts = [stream.get(k) for k in ("type", "dataset", "namespace")]
        if all(isinstance(p, str) and p for p in parts):
            return "-".join(parts)  # type: ignore[arg-type]
    agent = doc.get("agent") or {}
    if agent.get("type") in BEATS and agent.get("version"):
        return f"{agent['type']}-{agent['version']}"
    return ""


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evtx_module, "USE_WORKER", False)


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file through the worker process."""
    monkeypatch.setattr(evtx_module, "USE_WORKER", True)
    monkeypatch.setattr(evtx_module, "WORKER_MIN_BYTES", 0)
    monkeypatch.setattr(evtx_worker, "POLICY", "always")


def oracle(paths: list[str], mode: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[str]]:
    """(events as (source, index, id), damage reports) the general way: parsed here, every
    document mapped from a copy."""
    with monkeypatch.context() as m:
        m.setattr(evtx_module, "USE_WORKER", False)
        m.setattr(evtx_module, "record_to_raw", general_record_to_raw)
        events: list[Any] = []
        damage: list[Damage] = []
        for path in paths:
            for key, raw in evtx_documents(path, path, damage.append):
                doc = general(raw, mode)
                events.append((doc, index_of(doc), stable_id(key)))
    return events, [str(d) for d in damage]


def read(paths: list[str], mode: str = "agent", limit: int | None = None) -> tuple[list[Any], list[str]]:
    messages: list[str] = []
    report = ReadReport(log=messages.append)
    events = list(islice(read_events(paths, report=report, ecs_mode=mode), limit))
    assert [ev.seq for ev in events] == list(range(len(events)))
    assert report.skipped == 0
    if limit is None:
        assert report.events == len(events) and report.corrupt == len(report.damaged)
    got = [(ev.source, ev.index, ev.id) for ev in events]
    return got, [str(d) for d in report.damaged]


def assert_same(got: list[Any], want: list[Any]) -> None:
    assert len(got) == len(want)
    problems: list[str] = []
    for i, ((doc, index, id_), (ref, ref_index, ref_id)) in enumerate(zip(got, want, strict=True)):
        problems += [f"event {i}: {p}" for p in differences(doc, ref)]
        if (index, id_) != (ref_index, ref_id):
            problems.append(f"event {i}: index/id {(index, id_)} != {(ref_index, ref_id)}")
        if len(problems) > 20:
            break
    assert problems == []


def evtx_files() -> list[str]:
    if not DATASETS.is_dir():
        pytest.skip(f"{DATASETS} is absent (../shared)")
    files = sorted(str(p) for p in DATASETS.rglob("*.evtx"))
    assert files
    return files


# --------------------------------------------------------------------------- data set files


@needs_data
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("parsing", ["local", "worker"])
def test_every_record_of_the_data_sets_reads_as_the_general_way(
    mode: str, parsing: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    files = evtx_files()
    want, want_damage = oracle(files, mode, monkeypatch)
    request.getfixturevalue(parsing)
    jobs = evtx_worker._worker.job if evtx_worker._worker is not None else 0
    got, damage = read(files, mode)
    if parsing == "worker":  # every file went through the worker
        assert evtx_worker._worker is not None and evtx_worker._worker.job == jobs + len(files)
    assert_same(got, want)
    assert damage == want_damage == []
    assert len(got) == 1197


@needs_data
def test_the_fused_events_are_most_of_the_data_sets() -> None:
    """The short ways are worth having: the fused events are the bulk of the records."""
    counts = {"fused": 0, "all": 0}
    for path in evtx_files():
        for _key, raw in evtx_documents(path, path, print):
            counts["all"] += 1
            counts["fused"] += (raw["winlog"]["channel"].lower(), raw["event"]["code"]) in FUSED
    assert counts["fused"] > counts["all"] * 0.8


# --------------------------------------------------------------------------- crafted records

_LEVELS = {"critical": 1, "error": 2, "warning": 3, "information": 4, "verbose": 5}
_KEYWORD_BITS = {
    "Audit Failure": 0x10000000000000,
    "Audit Success": 0x20000000000000,
    "Classic": 0x80000000000000,
}


def evtx_event(raw: dict[str, Any], rnd: random.Random) -> dict[str, Any]:
    """An EVTX record (the parser's JSON, decoded) with the content of a raw document."""
    winlog = raw["winlog"]
    guid = str(winlog.get("provider_guid", "")).strip("{}").upper()
    mask = 0x8000000000000000
    for name in winlog.get("keywords") or ():
        mask |= _KEYWORD_BITS.get(name, 0)
    code = str(winlog.get("event_id", ""))
    process = winlog.get("process") or {}
    user = winlog.get("user") or {}
    system: dict[str, Any] = {
        "Provider": {"#attributes": {"Name": winlog.get("provider_name", ""), "Guid": guid}},
        "EventID": int(code) if code.isdigit() else code,
        "Version": winlog.get("version", 0),
        "Level": _LEVELS.get((raw.get("log") or {}).get("level"), rnd.choice([0, 4])),
        "Task": rnd.choice([0, 1, 3, 12544, 12811, 13312, 99]),
        "Opcode": rnd.choice([0, 1, 42]),
        "Keywords": hex(mask),
        "TimeCreated": {"#attributes": {"SystemTime": raw.get("@timestamp", "2020-01-01T00:00:00Z")}},
        "EventRecordID": int(str(winlog.get("record_id", 1)) or 1),
        "Correlation": None,
        "Execution": {"#attributes": {"ProcessID": process.get("pid", 4), "ThreadID": 8}},
        "Channel": winlog.get("channel", ""),
        "Computer": winlog.get("computer_name", ""),
        "Security": {"#attributes": {"UserID": user["identifier"]}} if user.get("identifier") else None,
    }
    event: dict[str, Any] = {
        "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"}
    }
    event["System"] = system
    if isinstance(winlog.get("event_data"), dict):
        event["EventData"] = dict(winlog["event_data"])
    elif isinstance(winlog.get("user_data"), dict):
        data = dict(winlog["user_data"])
        event["UserData"] = {data.pop("xml_name", "Data"): data}
    return event


@functools.cache
def nxlog_events() -> tuple[dict[str, Any], ...]:
    """The Windows records of the NXLog data sets as EVTX records, up to 40 per channel and id."""
    rnd = random.Random(7)
    seen: dict[tuple[str, str], int] = {}
    found: list[dict[str, Any]] = []
    for path in sorted(DATASETS.glob("mordor-*/*.json")):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if not line.strip():
                    continue
                raw = nxlog_to_raw(json.loads(line))
                kind = (str(raw["winlog"].get("channel")), str(raw["winlog"].get("event_id")))
                if seen.get(kind, 0) < 40:
                    seen[kind] = seen.get(kind, 0) + 1
                    found.append(evtx_event(raw, rnd))
    return tuple(found)


@needs_data
def test_the_records_of_the_nxlog_data_sets_as_evtx_records() -> None:
    events = nxlog_events()
    assert len(events) > 500
    problems: list[str] = []
    for i, event in enumerate(events):
        raw = record_to_raw(copy.deepcopy(event), "x.evtx")
        problems += check_raw(
            raw, f"record {i} {event['System']['Channel']} {event['System']['EventID']}", MODES[i % 2]
        )
        if len(problems) > 20:
            break
    assert problems == []


def share_event(code: int) -> dict[str, Any]:
    data = {
        "SubjectUserSid": "S-1-5-21-1587066498-1489273250-1035260531-500",
        "SubjectUserName": "Administrator",
        "SubjectDomainName": "EXAMPLE",
        "SubjectLogonId": "0xfc635",
        "ObjectType": "File",
        "IpAddress": "10.0.2.15",
        "IpPort": "55632",
        "ShareName": "\\\\*\\C$",
        "ShareLocalPath": "\\??\\C:\\",
        "RelativeTargetName": "Windows\\Temp\\x.exe",
        "AccessMask": "0x100080",
        "AccessList": "%%1541\r\n\t\t\t\t%%4423\r\n\t\t\t\t",
        "AccessReason": "-",
    }
    if code == 5140:
        del data["RelativeTargetName"], data["AccessReason"]
    system = {
        "Provider": {"#attributes": {
            "Name": "Microsoft-Windows-Security-Auditing", "Guid": "54849625-5478-4994-A5BA-3E3B0328C30D"
        }},
        "EventID": code, "Version": 0, "Level": 0, "Task": 12811, "Opcode": 0,
        "Keywords": "0x8020000000000000",
        "TimeCreated": {"#attributes": {"SystemTime": "2019-03-18T14:23:22.134722Z"}},
        "EventRecordID": 437472, "Correlation": None,
        "Execution": {"#attributes": {"ProcessID": 536, "ThreadID": 556}},
        "Channel": "Security", "Computer": "PC01.example.corp", "Security": None,
    }  # fmt: skip
    return {"System": system, "EventData": data}


# Values a mutation may put in place of an event data value (the parser gives strings, numbers,
# nulls; record_to_raw makes them strings and drops the empty ones).
ODD_VALUES: tuple[Any, ...] = (
    None, "", "-", " ", "0", "0x0", "65535", "70000", "x", 0, 445, True, "::ffff:10.1.2.3",
    "[::ffff:10.1.2.3]:445", "fe80::1", "::1", "a.b.c", ".", "name.", "%%1537", "%%4416 %%4417",
    "0x1", "0x120089", "%%1538\r\n\t\t\t\t%%1541", "Administrator@EXAMPLE", "\\\\*\\IPC$",
    "F2E3B2E8-4F3D-4A4C-9E5B-1234567890AB", "{f2e3b2e8-4f3d-4a4c-9e5b-1234567890ab}", ["a", "b"],
)  # fmt: skip
EXTRA_KEYS = (
    "ProcessId",
    "ProcessName",
    "WorkstationName",
    "LogonType",
    "TargetUserName",
    "Status",
    "Direction",
)


def mutated_share_events(count: int) -> Iterator[tuple[str, dict[str, Any]]]:
    rnd = random.Random(5145)
    for i in range(count):
        event = share_event(rnd.choice([5140, 5145]))
        data = event["EventData"]
        for key in list(data):
            roll = rnd.random()
            if roll < 0.15:
                del data[key]
            elif roll < 0.35:
                data[key] = rnd.choice(ODD_VALUES)
        if rnd.random() < 0.1:
            data[rnd.choice(EXTRA_KEYS)] = rnd.choice(["1234", "-", "C:\\x.exe", "%%1842"])
        if rnd.random() < 0.05:
            event["System"]["Provider"]["#attributes"]["Name"] = rnd.choice(
                ["Other-Provider", "Microsoft-Windows-Eventlog", ""]
            )
        if rnd.random() < 0.03:
            del event["EventData"]
        yield f"case {i}: {json.dumps(event.get('EventData'))}", event


def test_network_share_events_with_odd_event_data() -> None:
    problems: list[str] = []
    for i, (label, event) in enumerate(mutated_share_events(3000)):
        raw = record_to_raw(event, "x.evtx")
        problems += check_raw(raw, label, MODES[i % 2])
        if len(problems) > 20:
            break
    assert problems == []


SYSTEM_VARIANTS: tuple[tuple[str, Any], ...] = (
    ("Computer", None), ("Computer", ""), ("Level", None), ("Level", 2), ("Level", "4"),
    ("Channel", "security"), ("Channel", "SECURITY"), ("Channel", "Application"), ("Channel", "Custom/Log"),
    ("Channel", ""), ("Channel", None), ("Channel", 5), ("EventRecordID", None), ("EventRecordID", 0),
    ("EventRecordID", "77"), ("EventID", {"#attributes": {"Qualifiers": 16384}, "#text": 5145}),
    ("EventID", None), ("EventID", "5145"), ("Keywords", "0x8010000000000000"), ("Keywords", "0x0"),
    ("Keywords", None), ("Task", 0), ("Task", None), ("Provider", None), ("Provider", {}),
    ("Execution", None), ("TimeCreated", None), ("Security", {"#attributes": {"UserID": "S-1-5-18"}}),
)  # fmt: skip


@pytest.mark.parametrize(("field", "value"), SYSTEM_VARIANTS, ids=[f"{f}={v!r}" for f, v in SYSTEM_VARIANTS])
def test_odd_system_values(field: str, value: Any) -> None:
    problems: list[str] = []
    for code in (5140, 5145, 4624, 7045):
        event = share_event(code)
        event["System"][field] = copy.deepcopy(value)
        raw = record_to_raw(event, "x.evtx" if code % 2 else None)
        for mode in MODES:
            problems += check_raw(raw, f"{code} {field}={value!r}", mode)
    assert problems == []


def check_builder(event: dict[str, Any], label: str) -> list[str]:
    problems: list[str] = []
    for file in (None, "x.evtx"):
        want = general_record_to_raw(copy.deepcopy(event), file)
        problems += [
            f"{label} file={file}: {p}" for p in differences(record_to_raw(copy.deepcopy(event), file), want)
        ]
    return problems[:3]


@needs_data
def test_raw_documents_the_short_way_equal_the_long_way() -> None:
    """record_to_raw's generated builders against general_record_to_raw: every record of the
    data sets, the NXLog records as EVTX records, odd System values and event data."""
    problems: list[str] = []
    events = [
        orjson.loads(record["data"])["Event"]
        for path in evtx_files()
        for record in PyEvtxParser(path).records_json()
    ]
    events += list(nxlog_events())
    events += [event for _label, event in mutated_share_events(500)]
    for field, value in SYSTEM_VARIANTS:
        for code in (5140, 5145, 4624):
            event = share_event(code)
            event["System"][field] = copy.deepcopy(value)
            events.append(event)
    for i, event in enumerate(events):
        problems += check_builder(event, f"record {i}")
        if len(problems) > 20:
            break
    assert problems == []


# Values equal to one another across types (1 == True == 1.0): a builder found by value must
# not serve a record whose value has another type.
LOOKALIKES: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("Level", (1, True, 1.0, 0, False)),
    ("Version", (1, True, 1.0, 0, False, 0.0)),
    ("EventID", (5145, 5145.0, "5145")),
    ("Task", (1, True, 1.0)),
    ("Opcode", (1, True, 1.0)),
    ("Keywords", ("0x8020000000000000", 0x8020000000000000)),
    ("Channel", ("Security", 1, True)),
)


@pytest.mark.parametrize(("field", "values"), LOOKALIKES, ids=[f for f, _ in LOOKALIKES])
def test_builders_are_not_shared_by_lookalike_values(field: str, values: tuple[Any, ...]) -> None:
    problems: list[str] = []
    for _ in range(2):
        for value in values:
            event = share_event(5145)
            event["System"][field] = value
            problems += check_builder(event, f"{field}={value!r}")
    for value in ("Microsoft-Windows-Security-Auditing", 1, True, None):
        event = share_event(5145)
        event["System"]["Provider"]["#attributes"]["Name"] = value
        problems += check_builder(event, f"Name={value!r}")
    assert problems == []


def test_a_fresh_document_is_mapped_once_and_copies_go_the_general_way() -> None:
    raw = record_to_raw(share_event(5145), "x.evtx")
    doc = short(raw, "agent")
    assert common.FRESH.doc is None
    again = to_ecs(copy.deepcopy(doc))  # no longer fresh: the general way, which keeps what is there
    assert again["event"]["category"] == ["network", "file"]
    assert differences(doc, general(raw, "agent")) == []


# --------------------------------------------------------------------------- damage and the worker


def damaged_copies(tmp_path: Path) -> dict[str, Path]:
    data = FILECOPY.read_bytes()
    files: dict[str, Path] = {}
    cut = tmp_path / "cut.evtx"
    cut.write_bytes(data[: 4096 + 3 * 65536 + 30000])
    files["cut"] = cut
    broken = bytearray(data)
    broken[4096 + 2 * 65536 + 5000 : 4096 + 2 * 65536 + 7000] = b"\xff" * 2000
    chunk5 = 4096 + 5 * 65536
    broken[chunk5 : chunk5 + 8] = b"XXXXXXXX"
    files["damaged"] = tmp_path / "damaged.evtx"
    files["damaged"].write_bytes(bytes(broken))
    stub = tmp_path / "stub.evtx"
    stub.write_bytes(data[:100])
    files["stub"] = stub
    return files


@needs_data
@pytest.mark.parametrize("case", ["cut", "damaged", "stub"])
def test_damaged_files_give_the_same_events_and_reports_with_the_worker(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(damaged_copies(tmp_path)[case])
    want, want_damage = oracle([path], "agent", monkeypatch)
    assert want_damage and all(m.startswith(path) for m in want_damage)
    with monkeypatch.context() as m:
        m.setattr(evtx_module, "USE_WORKER", False)
        local = read([path])
    with monkeypatch.context() as m:
        m.setattr(evtx_module, "WORKER_MIN_BYTES", 0)
        m.setattr(evtx_worker, "POLICY", "always")
        remote = read([path])
    for got, damage in (local, remote):
        assert_same(got, want)
        assert damage == want_damage


@needs_data
def test_damage_under_strict_raises_with_the_worker(tmp_path: Path, worker: None) -> None:
    path = str(damaged_copies(tmp_path)["damaged"])
    with pytest.raises(DataError, match=re.escape(path) + r": chunk 2 .*record 201"):
        list(read_events([path], report=ReadReport(), strict=True))
    got, _ = read([str(FILECOPY)])  # the worker is fine afterwards
    assert len(got) == 869


@needs_data
def test_the_worker_dying_half_way_loses_nothing(worker: None, monkeypatch: pytest.MonkeyPatch) -> None:
    want, _ = oracle([str(FILECOPY)], "agent", monkeypatch)
    got: list[Any] = []
    for i, ev in enumerate(read_events([str(FILECOPY)], report=ReadReport())):
        if i == 100:
            assert evtx_worker._worker is not None
            evtx_worker._worker.process.kill()
        got.append((ev.source, ev.index, ev.id))
    assert_same(got, want)
    got, _ = read([str(FILECOPY)])  # and a new worker takes over
    assert_same(got, want)


@needs_data
def test_a_file_given_up_on_half_way_does_not_disturb_the_next(
    worker: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    want, _ = oracle([str(FILECOPY)], "agent", monkeypatch)
    for stop in (1, 10, 300):
        head, _ = read([str(FILECOPY)], limit=stop)
        assert_same(head, want[:stop])
        got, _ = read([str(FILECOPY)])
        assert_same(got, want)


@needs_data
def test_two_files_read_at_once(worker: None, monkeypatch: pytest.MonkeyPatch) -> None:
    files = evtx_files()
    want, _ = oracle(files, "agent", monkeypatch)
    first = read_events(files, report=ReadReport())
    second = read_events(files, report=ReadReport())
    pairs = list(zip(first, second, strict=True))
    assert_same([(a.source, a.index, a.id) for a, _ in pairs], want)
    assert_same([(b.source, b.index, b.id) for _, b in pairs], want)


def test_an_exception_in_the_worker_is_raised_here(worker: None) -> None:
    args = ("/nonexistent.evtx", "/nonexistent.evtx", "x", 64)
    with pytest.raises(FileNotFoundError):
        list(chain.from_iterable(evtx_worker.batches(evtx_module._file_items, args)))
    with pytest.raises(FileNotFoundError):
        list(chain.from_iterable(evtx_worker.batches(evtx_module._file_items, args, remote=False)))


def test_worker_shutdown_and_restart(worker: None) -> None:
    evtx_worker.shutdown()
    assert evtx_worker._worker is None
    if DATASETS.is_dir():
        got, _ = read([str(FILECOPY)])
        assert len(got) == 869 and evtx_worker._worker is not None
    evtx_worker.shutdown()


@needs_data
def test_a_worker_that_cannot_start_leaves_the_reading_here(
    worker: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    want, _ = oracle([str(FILECOPY)], "agent", monkeypatch)
    evtx_worker.shutdown()
    monkeypatch.setattr(evtx_worker, "_failed", False)
    monkeypatch.setattr(evtx_worker.sys, "executable", "/nonexistent/python")
    got, _ = read([str(FILECOPY)])
    assert_same(got, want)
    assert evtx_worker._failed and evtx_worker._worker is None


@needs_data
def test_a_reader_that_stops_early_leaves_no_fresh_document(local: None) -> None:
    documents = evtx_documents(str(FILECOPY), "x", print)
    _key, raw = next(documents)
    assert common.FRESH.doc is raw
    documents.close()
    assert common.FRESH.doc is None
