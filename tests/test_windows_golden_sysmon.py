"""The Sysmon mapping and the NXLog conversion against pinned golden output: ``sysmon-*``, ``nxlog-*``.

The inputs of the former tests/test_windows_sysmon_diff.py, generated the same way: a sample per
event code of the data sets' Sysmon records (all of them with ``VIGIL_SYSMON_DIFF_FULL=1``), the
same records bent in many ways, seeded random documents (each mapped in both modes); and NXLog
records turned into Winlogbeat-raw documents (``nxlog_to_raw``). The machinery (hashing, data set
records, the golden file and the comparison) is in ``windows_golden.py``, whose docstring says how
the golden tests work.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from vigil.ecs.windows import to_ecs
from vigil.sources.winlog import is_nxlog, nxlog_to_raw
from windows_golden import (
    DATASETS,
    DOCS,
    FULL,
    Case,
    Group,
    Label,
    check_golden,
    draw_int,
    draw_text,
    mapped_both_ways,
    need_datasets,
    nxlog_lines,
    records,
)

# The Sysmon event codes mapped when the golden data was first made (vigil.ecs.windows.sysmon.EVENTS
# then; frozen here so that the inputs do not change when a code is added).
EVENTS = (*(str(code) for code in range(1, 30)), "255")


def sysmon_records_group() -> Iterator[Case]:
    return mapped_both_ways(iter(records()))


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
SYSMON_ODD_VALUES: list[Any] = [
    "-",
    "",
    None,
    5,
    True,
    ["a"],
    "0x1F",
    "{00000000-0000-0000-0000-000000000000}",
]
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
        doc["winlog"]["event_data"][key] = value = rng.choice(SYSMON_ODD_VALUES)
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


def representatives() -> list[tuple[Label, dict[str, Any]]]:
    """A few records of each event code (and each source), to bend."""
    seen: dict[tuple[str, bool], int] = {}
    picked = []
    for label, raw in records():
        key = (str(raw["winlog"].get("event_id")), "api" in raw["winlog"])
        if seen.get(key, 0) < (3 if FULL else 1):
            seen[key] = seen.get(key, 0) + 1
            picked.append((label, raw))
    return picked


def sysmon_bent_group() -> Iterator[Case]:
    rng = random.Random(20240501)
    variants = [
        ((source, f"{item} / {j} {variant}"), doc)
        for (source, item), raw in representatives()
        for j, (variant, doc) in enumerate(bent(raw, rng))
    ]
    assert len(variants) > 500
    return mapped_both_ways(iter(variants))


_SYSMON_VALUE_POOL = [v for values in EXTRA_FIELDS.values() for v in values]


def draw_sysmon_value(rng: random.Random) -> Any:
    r = rng.randrange(5)
    if r == 0:
        return draw_text(rng, None, 30)
    if r == 1:
        return copy.deepcopy(rng.choice(_SYSMON_VALUE_POOL))
    if r == 2:
        return copy.deepcopy(rng.choice(SYSMON_ODD_VALUES))
    if r == 3:
        return draw_int(rng)
    return rng.random() < 0.5


def random_sysmon_document(rng: random.Random) -> dict[str, Any]:
    eid = rng.choice([*EVENTS, "0", "x", 3])
    fields = sorted(EXTRA_FIELDS)
    data = {rng.choice(fields): draw_sysmon_value(rng) for _ in range(rng.randint(0, 14))}
    change = None if rng.random() < 0.3 else rng.choice(DOC_CHANGES)
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
    return raw


def sysmon_random_group() -> Iterator[Case]:
    rng = random.Random("sysmon-random")
    return mapped_both_ways((("random", f"#{i}"), random_sysmon_document(rng)) for i in range(400))


# =========================================================================== NXLog to raw documents


def nxlog_records_group() -> Iterator[Case]:
    need_datasets()
    count = 0
    for label, line in nxlog_lines():
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if type(doc) is not dict or not is_nxlog(doc):
            continue
        count += 1
        yield label, doc, nxlog_to_raw(doc)
    if not count:
        pytest.skip(f"no NXLog records found under {DATASETS}")


_COLLECTED = ["2020-10-22T08:29:56.123Z", "2020-10-22T08:29:56Z", "2020-10-22Z", "2020-10-22T08Z"]
_COLLECTED += ["2020-10-22T08:29:56+01:00Z", "2020-10-22T08:29:56.123", "2020-10-22T08:29:56+00:00"]
_COLLECTED += ["", "Z", "x", "2020-10-22T08:29:56ZZ", "2020-10-22 08:29:56Z", "20201022T082956Z", "20201022Z"]
_RECEIVED = ["2020-10-22 04:29:55", "2020-10-22T04:29:55", "2020-10-22 04:29:55+01:00", "x", "", "2020-10-22"]
_EVENT_TIMES = ["2020-10-22 04:29:53", "2020-10-22 04:29:53.5", "2020-10-22T04:29:53+02:00", "bad", ""]
_ODD_NXLOG_FIELDS = ["ProcessID", "EventType", "Keywords", "ProviderGuid", ""]


def nxlog_times_group() -> Iterator[Case]:
    rng = random.Random("nxlog-times")
    for i in range(300):
        r = rng.randrange(4)
        collected: Any = (
            None
            if r == 0
            else draw_int(rng)
            if r == 1
            else rng.choice(_COLLECTED)
            if r == 2
            else draw_text(rng, "0123456789-T:.Z+ ", 26)
        )
        received = None if rng.random() < 0.3 else rng.choice(_RECEIVED)
        event_time = None if rng.random() < 0.3 else rng.choice(_EVENT_TIMES)
        extra = {rng.choice(_ODD_NXLOG_FIELDS): draw_sysmon_value(rng) for _ in range(rng.randint(0, 3))}
        doc: dict[str, Any] = {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", **extra}
        times = (("@timestamp", collected), ("EventReceivedTime", received), ("EventTime", event_time))
        for key, value in times:
            if value is not None:
                doc[key] = value
        yield ("times", f"#{i}"), doc, nxlog_to_raw(doc)


# =========================================================================== the golden comparison

GROUPS: dict[str, Group] = {
    "sysmon-records": (True, sysmon_records_group, DOCS),
    "sysmon-bent": (True, sysmon_bent_group, DOCS),
    "sysmon-random": (False, sysmon_random_group, DOCS),
    "nxlog-records": (True, nxlog_records_group, DOCS),
    "nxlog-times": (False, nxlog_times_group, DOCS),
}


@pytest.mark.parametrize("group", list(GROUPS))
def test_output_matches_the_golden_hashes(group: str) -> None:
    check_golden(group, GROUPS[group])


# =========================================================================== properties (no oracle)


def _containers(value: Any, found: dict[int, Any]) -> dict[int, Any]:
    if isinstance(value, dict | list):
        found[id(value)] = value  # kept alive, so ids stay unique
        for item in value.values() if isinstance(value, dict) else value:
            _containers(item, found)
    return found


def test_sysmon_documents_share_no_containers() -> None:
    # The caches (hashes, users, registry paths, command lines...) hand out fresh lists and
    # dicts: a later step changing one event must not change another.
    for _label, raw in representatives():
        for mode in ("agent", "winlogbeat"):
            first = to_ecs(copy.deepcopy(raw), mode=mode)
            second = to_ecs(copy.deepcopy(raw), mode=mode)
            shared = _containers(first, {}).keys() & _containers(second, {}).keys()
            assert not shared, (raw["winlog"].get("event_id"), mode)
