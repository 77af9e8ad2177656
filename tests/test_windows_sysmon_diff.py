"""The fast Sysmon mapping against a frozen copy of the original processor-by-processor replay.

``_sysmon_reference`` is the mapping (and ``to_ecs``) as it was before it was rewritten for speed;
every document here goes through both, in both landing modes, and must come out identical, key
order included. The documents: every Sysmon record of the shared data sets (NXLog and EVTX) and
Winlogbeat's golden records, the same records bent in many ways (values emptied or of other
types, fields from other event types added, the event code swapped, fields the pipeline writes
already present...), and random documents from Hypothesis.

The data set records are a sample per event code by default; ``VIGIL_SYSMON_DIFF_FULL=1`` runs
every record of the data sets, upstream zips included (slow).
"""

from __future__ import annotations

import copy
import glob
import json
import os
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import _sysmon_reference as reference
import _sysmon_reference_helpers as reference_helpers
import _winlog_reference as winlog_reference
from vigil.ecs.windows import to_ecs
from vigil.ecs.windows.sysmon import EVENTS
from vigil.ecs.windows.sysmon_ingest import parse_utc_time
from vigil.ecs.windows.util import split_command_line
from vigil.sources.evtx import evtx_documents
from vigil.sources.winlog import is_nxlog, nxlog_to_raw

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
SYSMON = "microsoft-windows-sysmon/operational"
FULL = os.environ.get("VIGIL_SYSMON_DIFF_FULL", "") not in ("", "0")
PER_CODE = 10**9 if FULL else 150  # data set records kept per event code (NXLog and EVTX each)


def check(raw: dict[str, Any], label: str = "") -> None:
    """Map ``raw`` both ways in both modes; the results must be equal, key order included."""
    for mode in ("agent", "winlogbeat"):
        want = reference.to_ecs(copy.deepcopy(raw), mode=mode)
        got = to_ecs(copy.deepcopy(raw), mode=mode)  # type: ignore[arg-type]
        if got != want or json.dumps(got) != json.dumps(want):
            pytest.fail(
                f"{label} ({mode}) differs from the reference\n"
                f"raw:  {json.dumps(raw, default=repr)}\n"
                f"want: {json.dumps(want, default=repr)}\n"
                f"got:  {json.dumps(got, default=repr)}"
            )


# --- the data sets -------------------------------------------------------------------------


def _nxlog_lines() -> Iterator[bytes]:
    for path in sorted(glob.glob(str(DATASETS / "*" / "*.json"))):
        with open(path, "rb") as f:
            yield from f
    if FULL:
        for path in sorted(glob.glob(str(DATASETS / "*" / "*.zip"))):
            with zipfile.ZipFile(path) as zf:
                for name in zf.namelist():
                    with zf.open(name) as f:
                        yield from f


def _sample(docs: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    kept: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        bucket = kept.setdefault(str(doc["winlog"].get("event_id")), [])
        if len(bucket) < PER_CODE:
            bucket.append(doc)
    return [doc for bucket in kept.values() for doc in bucket]


def _nxlog_raws() -> Iterator[dict[str, Any]]:
    for line in _nxlog_lines():
        if b"Sysmon" not in line:
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if type(doc) is dict and is_nxlog(doc) and str(doc.get("Channel", "")).lower() == SYSMON:
            yield nxlog_to_raw(doc)


def _evtx_raws() -> Iterator[dict[str, Any]]:
    for path in sorted(glob.glob(str(DATASETS / "**" / "*.evtx"), recursive=True)):
        for _key, doc in evtx_documents(path, path, lambda damage: None):
            if doc["winlog"]["channel"].lower() == SYSMON:
                yield doc


def _golden_raws() -> list[dict[str, Any]]:
    path = DATASETS / "winlogbeat-golden" / "sysmon-9.01.evtx.golden.raw-8x.excerpt.json"
    return json.loads(path.read_text()) if path.exists() else []


_RECORDS: list[dict[str, Any]] | None = None


def records() -> list[dict[str, Any]]:
    """Sysmon records of the shared data sets as raw documents (a sample per event code)."""
    global _RECORDS
    if _RECORDS is None:
        _RECORDS = _sample(_nxlog_raws()) + _sample(_evtx_raws()) + _golden_raws()
    if not _RECORDS:
        pytest.skip(f"no Sysmon records found under {DATASETS}")
    return _RECORDS


def test_data_set_records_map_identically() -> None:
    for i, raw in enumerate(records()):
        check(raw, f"record {i}")


# --- the same records, bent ------------------------------------------------------------------

# Fields of every event type, with values that exercise the pipeline's conditions.
EXTRA_FIELDS: dict[str, list[Any]] = {
    "TargetProcessGuid": ["{9a1b2c3d-2222-6631-2b01-000000000f00}"],
    "TargetProcessGUID": ["{9a1b2c3d-0f00-6631-0c00-000000000f00}"],
    "Hash": ["SHA256=AB12", "MD5=00000,IMPHASH=CC"],
    "Hashes": ["SHA1=AA,SHA1=BB", "garbage", "SHA1=0000,MD5=", "IMPHASH=F34D,SHA256=EE"],
    "Signed": [True, "true"],
    "Signature": ["Microsoft Windows", ["a", "b"]],
    "SignatureStatus": ["Valid", "Expired"],
    "Device": ["\\Device\\HarddiskVolume2"],
    "PipeName": ["\\PSHost.1234"],
    "ImageLoaded": ["C:\\Windows\\System32\\ntdll.dll", "x"],
    "TargetFilename": ["C:\\Users\\a.b\\file", "C:\\x.y\\z.txt", "noslash", "C:\\dir\\"],
    "Destination": ["C:\\evil.exe"],
    "SourceImage": ["C:\\src.exe"],
    "SourceProcessGuid": ["{9a1b2c3d-1111-6631-2a01-000000000f00}"],
    "SourceProcessGUID": ["{9a1b2c3d-3333-6631-2a01-000000000f00}"],
    "SourceProcessId": ["77", "0x10", "x"],
    "SourceThreadId": ["88", "-5"],
    "CommandLine": ['"C:\\a b\\c.exe" -x "y z"', "   ", 12],
    "ParentCommandLine": ["cmd.exe /c whoami"],
    "ParentImage": ["C:\\Windows\\explorer.exe"],
    "ParentProcessId": ["4120", "4x"],
    "OriginalFileName": ["PowerShell.EXE"],
    "Company": ["Microsoft Corporation", ["x"]],
    "Protocol": ["tcp", "udp", "icmp", "17", ""],
    "SourceIp": ["10.1.2.3", "::ffff:10.1.2.3", "010.1.2.3", "fe80::1%12", 5],
    "DestinationIp": ["10.1.9.9", "2001:db8::7", "10.1.2.3"],
    "SourcePort": ["50123", "0x50", "http", "70000"],
    "DestinationPort": ["445", "-1"],
    "SourcePortName": ["epmap"],
    "DestinationPortName": ["microsoft-ds"],
    "SourceHostname": ["ws01.corp.example.com"],
    "Initiated": ["true", "false", "TRUE"],
    "SourceIsIpv6": ["true", "false"],
    "QueryName": ["updates.example.com", "x.global.ssl.fastly.net", "localhost"],
    "QueryResults": ["type:  5 cdn.example.net;::ffff:198.51.100.7;2001:db8::7;", "type:;", "1.2.3.4;", 7],
    "QueryStatus": ["0", "9003", "1234", 0],
    "Archived": ["true", "false", "maybe"],
    "IsExecutable": ["TRUE", "no"],
    "TargetObject": ["HKLM\\SOFTWARE\\x\\y", "HKU\\S-1\\v", "\\", "hklm\\x", 9],
    "Details": ["DWORD (0x00000001)", "QWORD (0x00000001-0x00000002)", "Binary Data", "(Empty)", 3],
    "ID": ["5", 6],
    "Type": ["Image is replaced"],
    "User": ["CORP\\alice", "alice", "\\bob", "A\\B\\C", 'CORP\\a"b', ["x"]],
    "_MemberUserName": ["carol"],
    "_MemberDomain": ["CORP"],
    "_MemberAccountType": ["User"],
    "UtcTime": ["2024-02-29 23:59:59.000", "2023-02-29 10:00:00.000", "x"],
    "RuleName": ["technique_id=T1059", "-"],
    "ProcessGuid": ["{00000000-0000-0000-0000-000000000000}"],
    "ProcessId": ["abc", "0x1F4", " 7", "99999999999999999999"],
    "Image": ["System", "C:\\trailing\\"],
}
ODD_VALUES: list[Any] = ["-", "", None, 5, True, ["a"], "0x1F", "{00000000-0000-0000-0000-000000000000}"]
# Document-level changes: (path, value), "<del>" removes.
DOC_CHANGES: list[tuple[str, Any]] = [
    ("process", {"executable": "C:\\pre.exe", "parent": None}),
    ("process", None),
    ("process", "x"),
    ("user", {"name": "pre"}),
    ("related", {"user": "pre", "ip": ["10.1.2.3"]}),
    ("related", {"hosts": "x"}),
    ("file", {"path": "C:\\pre\\a.txt"}),
    ("network", {"iana_number": "6"}),
    ("source", {"ip": "192.0.2.1"}),
    ("dns", {"question": {"name": "pre.example.com"}}),
    ("error", {"message": "earlier"}),
    ("rule", {"name": "pre"}),
    ("sysmon", 5),
    ("icmp", {"type": 8, "code": 0}),
    ("_temp", {"x": 1}),
    ("registry", {}),
    ("message", "pre-existing message"),
    ("log", None),
    ("log", "text"),
    ("log", {"level": "warning"}),
    ("log", "<del>"),
    ("winlog.level", "Information"),
    ("winlog.level", ""),
    ("winlog.level", None),
    ("winlog.time_created", "2024-05-01T10:00:01.1234567+02:00"),
    ("winlog.time_created", "yesterday"),
    ("winlog.time_created", None),
    ("winlog.user", "S-1-5-18"),
    ("winlog.user", {"identifier": ""}),
    ("winlog.record_id", 5),
    ("winlog.record_id", True),
    ("winlog.record_id", "<del>"),
    ("winlog.event_id", 1),
    ("winlog.event_id", 'x"y'),
    ("winlog.event_id", "<del>"),
    ("winlog.event_data", "<del>"),
    ("winlog.event_data", None),
    ("winlog.event_data", "text"),
    ("winlog", "text"),
    ("event", None),
    ("ecs", "<del>"),
    ("data_stream", {"dataset": "x"}),
]


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    cur = doc
    for part in parents:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            return
        cur = nxt
    if value == "<del>":
        cur.pop(last, None)
    else:
        cur[last] = copy.deepcopy(value)


def bent(raw: dict[str, Any], rng: random.Random) -> Iterator[tuple[str, dict[str, Any]]]:
    """Variants of one raw document."""
    data = raw["winlog"].get("event_data") or {}
    for key in data:
        doc = copy.deepcopy(raw)
        del doc["winlog"]["event_data"][key]
        yield f"without {key}", doc
        doc = copy.deepcopy(raw)
        doc["winlog"]["event_data"][key] = value = rng.choice(ODD_VALUES)
        yield f"{key}={value!r}", doc
    for key, values in EXTRA_FIELDS.items():
        doc = copy.deepcopy(raw)
        doc["winlog"].setdefault("event_data", {})[key] = value = rng.choice(values)
        yield f"with {key}={value!r}", doc
    for code in EVENTS:
        doc = copy.deepcopy(raw)
        doc["winlog"]["event_id"] = code
        doc["event"]["code"] = code
        yield f"as event {code}", doc
    for path, value in DOC_CHANGES:
        doc = copy.deepcopy(raw)
        _set(doc, path, value)
        yield f"{path}={value!r}", doc
    # A few at once.
    for _ in range(40 if FULL else 10):
        doc = copy.deepcopy(raw)
        ed = doc["winlog"].setdefault("event_data", {})
        for key in rng.sample(sorted(EXTRA_FIELDS), 6):
            ed[key] = rng.choice(EXTRA_FIELDS[key])
        doc["winlog"]["event_id"] = rng.choice([*EVENTS, raw["winlog"].get("event_id")])
        if rng.random() < 0.3:
            _set(doc, *rng.choice(DOC_CHANGES))
        yield "mixed", doc


def _representatives() -> list[dict[str, Any]]:
    """A few records of each event code (and each source), to bend."""
    seen: dict[tuple[str, bool], int] = {}
    picked = []
    for raw in records():
        key = (str(raw["winlog"].get("event_id")), "api" in raw["winlog"])
        if seen.get(key, 0) < (3 if FULL else 1):
            seen[key] = seen.get(key, 0) + 1
            picked.append(raw)
    return picked


def test_bent_records_map_identically() -> None:
    rng = random.Random(20240501)
    count = 0
    for raw in _representatives():
        for label, doc in bent(raw, rng):
            check(doc, f"record {raw['winlog'].get('record_id')} {label}")
            count += 1
    assert count > 500


# --- random documents ---------------------------------------------------------------------------

_FIELDS = sorted(EXTRA_FIELDS)
_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from([v for values in EXTRA_FIELDS.values() for v in values]),
    st.sampled_from(ODD_VALUES),
    st.integers(),
    st.booleans(),
)


@settings(max_examples=400, deadline=None)
@given(
    eid=st.sampled_from([*EVENTS, "0", "x", 3]),
    data=st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=14),
    change=st.none() | st.sampled_from(DOC_CHANGES),
)
def test_random_documents_map_identically(eid: Any, data: dict[str, Any], change: Any) -> None:
    raw: dict[str, Any] = {
        "@timestamp": "2024-05-01T10:00:01.123456Z",
        "event": {"code": str(eid), "kind": "event", "provider": "Microsoft-Windows-Sysmon"},
        "host": {"name": "ws01"},
        "log": {"level": "information"},
        "winlog": {
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "computer_name": "ws01.corp.example.com",
            "event_id": eid,
            "record_id": 81234,
            "user": {"identifier": "S-1-5-18"},
            "event_data": data,
        },
    }
    if change is not None:
        _set(raw, *change)
    check(raw)


# --- NXLog records to raw documents ----------------------------------------------------------


def test_nxlog_records_build_identical_raw_documents() -> None:
    count = 0
    for line in _nxlog_lines():
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if type(doc) is not dict or not is_nxlog(doc):
            continue
        want = json.dumps(winlog_reference.nxlog_to_raw(doc))
        assert json.dumps(nxlog_to_raw(doc)) == want, line
        count += 1
    if not count:
        pytest.skip(f"no NXLog records found under {DATASETS}")


_COLLECTED = ["2020-10-22T08:29:56.123Z", "2020-10-22T08:29:56Z", "2020-10-22Z", "2020-10-22T08Z"]
_COLLECTED += ["2020-10-22T08:29:56+01:00Z", "2020-10-22T08:29:56.123", "2020-10-22T08:29:56+00:00"]
_COLLECTED += ["", "Z", "x", "2020-10-22T08:29:56ZZ", "2020-10-22 08:29:56Z", "20201022T082956Z", "20201022Z"]
_RECEIVED = ["2020-10-22 04:29:55", "2020-10-22T04:29:55", "2020-10-22 04:29:55+01:00", "x", "", "2020-10-22"]
_EVENT_TIMES = ["2020-10-22 04:29:53", "2020-10-22 04:29:53.5", "2020-10-22T04:29:53+02:00", "bad", ""]


_TIME_TEXT = st.text(alphabet="0123456789-T:.Z+ ", max_size=26)
_ODD_NXLOG_FIELDS = st.sampled_from(["ProcessID", "EventType", "Keywords", "ProviderGuid", ""])


@settings(max_examples=300, deadline=None)
@given(
    collected=st.none() | st.integers() | st.sampled_from(_COLLECTED) | _TIME_TEXT,
    received=st.none() | st.sampled_from(_RECEIVED),
    event_time=st.none() | st.sampled_from(_EVENT_TIMES),
    extra=st.dictionaries(_ODD_NXLOG_FIELDS, _VALUES),
)
def test_nxlog_times_and_odd_fields(
    collected: Any, received: Any, event_time: Any, extra: dict[str, Any]
) -> None:
    doc: dict[str, Any] = {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", **extra}
    times = (("@timestamp", collected), ("EventReceivedTime", received), ("EventTime", event_time))
    for key, value in times:
        if value is not None:
            doc[key] = value
    assert json.dumps(nxlog_to_raw(doc)) == json.dumps(winlog_reference.nxlog_to_raw(doc))


# --- no shared containers ----------------------------------------------------------------------


def _containers(value: Any, found: dict[int, Any]) -> dict[int, Any]:
    if isinstance(value, dict | list):
        found[id(value)] = value  # kept alive, so ids stay unique
        for item in value.values() if isinstance(value, dict) else value:
            _containers(item, found)
    return found


def test_documents_share_no_containers() -> None:
    # The caches (hashes, users, registry paths, command lines...) hand out fresh lists and
    # dicts: a later step changing one event must not change another.
    for raw in _representatives():
        for mode in ("agent", "winlogbeat"):
            first = to_ecs(copy.deepcopy(raw), mode=mode)  # type: ignore[arg-type]
            second = to_ecs(copy.deepcopy(raw), mode=mode)  # type: ignore[arg-type]
            shared = _containers(first, {}).keys() & _containers(second, {}).keys()
            assert not shared, (raw["winlog"].get("event_id"), mode)


_CMD_PIECES = st.sampled_from(['"', "\\", " ", "\t", "a", "b", "C:\\P F\\x.exe"])


@settings(max_examples=500, deadline=None)
@given(st.lists(_CMD_PIECES, max_size=14).map("".join))
def test_command_line_split_matches_the_reference(cmd: str) -> None:
    assert split_command_line(cmd) == reference_helpers.split_command_line(cmd)


_EDITS = st.lists(st.tuples(st.integers(0, 23), st.sampled_from("0123456789 -:.T\n٣")), max_size=3)


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from(["2024-02-29 23:59:59.000", "2023-02-28 10:00:00.512"]), edits=_EDITS)
def test_utc_time_matches_the_reference(base: str, edits: list[tuple[int, str]]) -> None:
    chars = list(base)
    for at, char in edits:
        chars[at : at + 1] = [char]  # replaces, or appends past the end
    text = "".join(chars)
    assert parse_utc_time(text) == reference_helpers.parse_utc_time(text)
