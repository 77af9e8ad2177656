"""Sysmon to ECS: Winlogbeat's own golden output, then each event family with hand-made events."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.ecs.windows import to_ecs
from vigil.ecs.windows.sysmon import EVENTS, kv_pairs, map_sysmon
from vigil.ecs.windows.sysmon_ingest import java_hashmap_order, parse_iso8601, template, to_long
from vigil.ecs.windows.sysmon_net import community_id, is_ip
from vigil.ecs.windows.sysmon_psl import domain_parts
from vigil.ecs.windows.util import split_command_line

GOLDEN = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "winlogbeat-golden"
RAW_8X = GOLDEN / "sysmon-9.01.evtx.golden.raw-8x.excerpt.json"
INGEST = GOLDEN / "sysmon-9.01.ingest.golden.excerpt.json"


def flat(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def at(doc: dict[str, Any], path: str, default: Any = "<absent>") -> Any:
    cur: Any = doc
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def raw(eid: int | str, data: dict[str, Any] | None, **winlog: Any) -> dict[str, Any]:
    """A Winlogbeat 8.x raw Sysmon document, as the sources hand it over."""
    doc: dict[str, Any] = {
        "@timestamp": "2024-05-01T10:00:01.123456Z",
        "event": {"code": str(eid), "kind": "event", "provider": "Microsoft-Windows-Sysmon"},
        "host": {"name": "ws01"},
        "log": {"level": "information"},
        "winlog": {
            "api": "wineventlog",
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "computer_name": "ws01.corp.example.com",
            "event_id": str(eid),
            "process": {"pid": 3012, "thread": {"id": 4100}},
            "provider_guid": "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}",
            "provider_name": "Microsoft-Windows-Sysmon",
            "record_id": 81234,
            "user": {"identifier": "S-1-5-18"},
            "version": 5,
        },
    }
    if data is not None:
        doc["winlog"]["event_data"] = copy.deepcopy(data)  # to_ecs maps in place
    doc["winlog"].update(winlog)
    return doc


def ecs(doc: dict[str, Any], mode: str = "winlogbeat") -> dict[str, Any]:
    return to_ecs(doc, mode=mode)  # type: ignore[arg-type]


def ed(doc: dict[str, Any]) -> dict[str, Any]:
    value = at(doc, "winlog.event_data", {})
    return value if isinstance(value, dict) else {}


BASE = {
    "RuleName": "-",
    "UtcTime": "2024-05-01 10:00:00.512",
    "ProcessGuid": "{9a1b2c3d-1111-6631-2a01-000000000f00}",
    "ProcessId": "6312",
    "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
    "User": "CORP\\alice",
}


# --- Winlogbeat's golden files --------------------------------------------------------------

# Fields where the ingest golden differs from what today's pipelines make of the raw-8x records,
# and why. Everything else must be equal.
_LANDING = ("agent.type", "agent.version", "host.os.type", "host.os.family", "host.os.platform")
BY_DESIGN = {
    "message": "the golden's harness rendered it with shifted values; raw records have none",
    "ecs.version": "an older pipeline (ECS 1.12) made the golden; today's stamp their own",
    "event.action": "the older pipeline kept Winlogbeat's rendered task name; today's use a table",
    "winlog.task": "rendered when the golden was recorded; raw-8x was produced without rendering",
    "winlog.opcode": "rendered when the golden was recorded; raw-8x was produced without rendering",
    "winlog.user.domain": "Winlogbeat's SID lookup at collection time; raw-8x has only the SID",
    "winlog.user.name": "Winlogbeat's SID lookup at collection time; raw-8x has only the SID",
    "winlog.user.type": "Winlogbeat's SID lookup at collection time; raw-8x has only the SID",
    "winlog.api": "in the raw-8x records, not in the older records the ingest golden was fed",
    **dict.fromkeys(_LANDING, "to_ecs adds landing metadata; the golden harness has none"),
}
# GUIDs are kept verbatim; the two golden runs rendered them in different case.
GUID_FIELDS = {"process.entity_id", "process.parent.entity_id", "winlog.event_data.LogonGuid"}
GUID_FIELDS.add("winlog.provider_guid")


def _golden_pairs() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    if not RAW_8X.exists() or not INGEST.exists():
        pytest.skip(f"Winlogbeat golden files not found under {GOLDEN}")
    raws = json.loads(RAW_8X.read_text())
    ingest = {str(r["winlog"]["record_id"]): r for r in json.loads(INGEST.read_text())}
    pairs = [
        (r, ingest[str(r["winlog"]["record_id"])]) for r in raws if str(r["winlog"]["record_id"]) in ingest
    ]
    assert pairs, "no raw-8x record has an ingest counterpart"
    return pairs


def test_golden_field_by_field() -> None:
    for source, expected in _golden_pairs():
        got = flat(ecs(copy.deepcopy(source)))
        want = flat(expected)
        equal = 0
        for field in sorted(set(got) | set(want)):
            if field in BY_DESIGN:
                continue
            g, w = got.get(field, "<absent>"), want.get(field, "<absent>")
            if field in GUID_FIELDS and isinstance(g, str) and isinstance(w, str):
                g, w = g.upper(), w.upper()
            assert g == w, f"record {source['winlog']['record_id']}: {field}: got {g!r}, golden {w!r}"
            equal += 1
        assert equal >= 25


def test_golden_by_design_differences_are_real() -> None:
    # Keeps the exemption list honest: each entry differs in at least one record.
    differing: set[str] = set()
    for source, expected in _golden_pairs():
        got, want = flat(ecs(copy.deepcopy(source))), flat(expected)
        differing |= {f for f in BY_DESIGN if got.get(f, "<absent>") != want.get(f, "<absent>")}
    assert differing == set(BY_DESIGN)


def test_golden_agent_mode_same_ecs_fields() -> None:
    for source, _ in _golden_pairs():
        beat = flat(ecs(copy.deepcopy(source), "winlogbeat"))
        agent = flat(ecs(copy.deepcopy(source), "agent"))
        landing = {"ecs.version", "event.module", "event.dataset", "agent.type", "elastic_agent.version"}
        for field in set(beat) | set(agent):
            if field in landing or field.startswith("data_stream."):
                continue
            assert beat.get(field) == agent.get(field), field
        assert agent["data_stream.dataset"] == "windows.sysmon_operational"


# --- event categorisation --------------------------------------------------------------------

CATEGORIES = [
    (1, ["process"], ["start"], "Process creation"),
    (2, ["file"], ["change"], "A process changed a file creation time"),
    (3, ["network"], ["start", "connection", "protocol"], "Network connection"),
    (4, ["process"], ["change"], "Sysmon service state changed"),
    (5, ["process"], ["end"], "Process terminated"),
    (6, ["driver"], ["start"], "Driver loaded"),
    (7, ["process"], ["change"], "Image loaded"),
    (8, ["process"], ["change"], "CreateRemoteThread"),
    (9, ["process"], ["access"], "RawAccessRead"),
    (10, ["process"], ["access"], "ProcessAccess"),
    (11, ["file"], ["creation"], "FileCreate"),
    (12, ["configuration", "registry"], ["change"], "RegistryEvent (Object create and delete)"),
    (13, ["configuration", "registry"], ["change"], "RegistryEvent (Value Set)"),
    (14, ["configuration", "registry"], ["change"], "RegistryEvent (Key and Value Rename)"),
    (15, ["file"], ["access"], "FileCreateStreamHash"),
    (16, ["configuration"], ["change"], "ServiceConfigurationChange"),
    (17, ["file"], ["creation"], "PipeEvent (Pipe Created)"),
    (18, ["file"], ["access"], "PipeEvent (Pipe Connected)"),
    (19, ["process"], ["info"], "WmiEvent (WmiEventFilter activity detected)"),
    (20, ["process"], ["change"], "WmiEvent (WmiEventConsumer activity detected)"),
    (21, ["process"], ["access"], "WmiEvent (WmiEventConsumerToFilter activity detected)"),
    (22, ["network"], ["connection", "protocol", "info"], "DNSEvent (DNS query)"),
    (23, ["file"], ["deletion"], "FileDelete (File Delete archived)"),
    (24, "<absent>", ["change"], "ClipboardChange (New content in the clipboard)"),
    (25, ["process"], ["change"], "ProcessTampering (Process image change)"),
    (26, ["file"], ["deletion"], "FileDeleteDetected (File Delete logged)"),
    (27, ["file"], ["creation"], "FileBlockExecutable"),
    (28, ["file"], ["deletion"], "FileBlockShredding"),
    (29, ["file"], ["creation"], "FileExecutableDetected"),
    (255, ["process"], "<absent>", "Error"),
]


@pytest.mark.parametrize(("eid", "category", "type_", "action"), CATEGORIES)
def test_categorisation(eid: int, category: Any, type_: Any, action: str) -> None:
    doc = ecs(raw(eid, dict(BASE)))
    assert at(doc, "event.category") == category
    assert at(doc, "event.type") == type_
    assert at(doc, "event.action") == action
    assert at(doc, "event.code") == str(eid)
    assert at(doc, "event.kind") == "event"
    assert at(doc, "event.module") == "sysmon"
    assert doc["@timestamp"] == "2024-05-01T10:00:00.512Z"
    assert at(doc, "process.entity_id") == BASE["ProcessGuid"]
    assert at(doc, "process.pid") == 6312


def test_categorisation_covers_every_sysmon_event() -> None:
    assert {str(c[0]) for c in CATEGORIES} == set(EVENTS)
    assert at(ecs(raw(27, {})), "event.outcome") == ["failure"]
    assert at(ecs(raw(255, {})), "event.outcome") == ["failure"]


def test_category_lists_are_not_shared_between_documents() -> None:
    first = ecs(raw(1, {}))
    first["event"]["category"].append("mutated")
    assert at(ecs(raw(1, {})), "event.category") == ["process"]


def test_unknown_event_id_keeps_generic_fields() -> None:
    doc = ecs(raw(4242, dict(BASE, Custom="x")))
    assert at(doc, "event.category") == "<absent>"
    assert at(doc, "event.action") == "<absent>"
    assert at(doc, "event.code") == "4242"
    assert at(doc, "process.pid") == 6312
    assert at(doc, "user.name") == "alice"
    assert ed(doc) == {"Custom": "x"}


# --- process events --------------------------------------------------------------------------

EID1 = {
    "RuleName": "technique_id=T1059.001,technique_name=PowerShell",
    "UtcTime": "2024-05-01 10:00:00.512",
    "ProcessGuid": "{9a1b2c3d-1111-6631-2a01-000000000f00}",
    "ProcessId": "6312",
    "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
    "FileVersion": "10.0.19041.3996 (WinBuild.160101.0800)",
    "Description": "Windows PowerShell",
    "Product": "Microsoft® Windows® Operating System",
    "Company": "Microsoft Corporation",
    "OriginalFileName": "PowerShell.EXE",
    "CommandLine": "powershell.exe -nop -w hidden -c \"IEX (New-Object Net.WebClient).DownloadString('x')\"",
    "CurrentDirectory": "C:\\Users\\alice\\",
    "User": "CORP\\alice",
    "LogonGuid": "{9a1b2c3d-0f55-6631-e1a2-0b0000000000}",
    "LogonId": "0xba2e1",
    "TerminalSessionId": "1",
    "IntegrityLevel": "Medium",
    "Hashes": "SHA1=AB12,MD5=CD34,SHA256=EF56,IMPHASH=0000000000000000000000000000000",
    "ParentProcessGuid": "{9a1b2c3d-0f60-6631-5c00-000000000f00}",
    "ParentProcessId": "4120",
    "ParentImage": "C:\\Windows\\explorer.exe",
    "ParentCommandLine": "C:\\Windows\\Explorer.EXE",
    "ParentUser": "CORP\\alice",
}


def test_process_create() -> None:
    doc = ecs(raw(1, dict(EID1)))
    assert doc["process"] == {
        "entity_id": "{9a1b2c3d-1111-6631-2a01-000000000f00}",
        "pid": 6312,
        "executable": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "name": "powershell.exe",
        "command_line": EID1["CommandLine"],
        "args": [
            "powershell.exe",
            "-nop",
            "-w",
            "hidden",
            "-c",
            "IEX (New-Object Net.WebClient).DownloadString('x')",
        ],
        "args_count": 6,
        "working_directory": "C:\\Users\\alice\\",
        "hash": {"sha1": "ab12", "md5": "cd34", "sha256": "ef56"},
        "pe": {
            "original_file_name": "PowerShell.EXE",
            "company": "Microsoft Corporation",
            "description": "Windows PowerShell",
            "file_version": "10.0.19041.3996 (WinBuild.160101.0800)",
            "product": "Microsoft® Windows® Operating System",
        },
        "parent": {
            "entity_id": "{9a1b2c3d-0f60-6631-5c00-000000000f00}",
            "pid": 4120,
            "executable": "C:\\Windows\\explorer.exe",
            "name": "explorer.exe",
            "command_line": "C:\\Windows\\Explorer.EXE",
            "args": ["C:\\Windows\\Explorer.EXE"],
            "args_count": 1,
        },
    }
    assert doc["rule"] == {"name": EID1["RuleName"]}
    assert doc["user"] == {"id": "S-1-5-18", "domain": "CORP", "name": "alice"}
    # Java HashMap order of SHA1/MD5/SHA256 keys; the all-zero IMPHASH is Sysmon's "none".
    assert doc["related"] == {"hash": ["ef56", "ab12", "cd34"], "user": ["alice"]}
    # Copied (not moved) PE fields and the ones no ECS field takes stay in event_data.
    assert ed(doc) == {
        "FileVersion": EID1["FileVersion"],
        "Description": "Windows PowerShell",
        "Product": EID1["Product"],
        "Company": "Microsoft Corporation",
        "LogonGuid": EID1["LogonGuid"],
        "LogonId": "0xba2e1",
        "TerminalSessionId": "1",
        "IntegrityLevel": "Medium",
        "ParentUser": "CORP\\alice",
    }
    assert at(doc, "winlog.record_id") == "81234"


def test_imphash_goes_to_pe() -> None:
    doc = ecs(raw(1, dict(BASE, Hashes="MD5=AA,IMPHASH=F34D5F2D4577ED6D9CEEC516C1F5A744")))
    assert at(doc, "process.hash") == {"md5": "aa"}
    assert at(doc, "process.pe.imphash") == "f34d5f2d4577ed6d9ceec516c1f5a744"
    assert sorted(at(doc, "related.hash")) == ["aa", "f34d5f2d4577ed6d9ceec516c1f5a744"]


SOURCE_GUID = "{9a1b2c3d-1111-6631-2a01-000000000f00}"
TARGET = {"TargetProcessId": "712", "TargetImage": "C:\\Windows\\system32\\lsass.exe"}
USERS = {"SourceUser": "CORP\\alice", "TargetUser": "NT AUTHORITY\\SYSTEM"}


def test_create_remote_thread() -> None:
    data = {"SourceProcessGuid": SOURCE_GUID, "SourceProcessId": "6312", "SourceImage": "C:\\x\\inject.exe"}
    data |= {"TargetProcessGuid": "{9a1b2c3d-2222-6631-2b01-000000000f00}", **TARGET, **USERS}
    data |= {
        "NewThreadId": "5120",
        "StartAddress": "0x00007FFB1A2C0000",
        "StartModule": "-",
        "StartFunction": "-",
    }
    doc = ecs(raw(8, data))
    assert at(doc, "process.entity_id") == SOURCE_GUID
    assert at(doc, "process.pid") == 6312
    assert at(doc, "process.name") == "inject.exe"
    assert ed(doc) == {
        "TargetProcessGUID": "{9a1b2c3d-2222-6631-2b01-000000000f00}",  # the pipeline's spelling
        **TARGET,
        **USERS,
        "NewThreadId": "5120",
        "StartAddress": "0x00007FFB1A2C0000",
    }


def test_process_access_keeps_target_fields_for_rules() -> None:
    trace = "C:\\Windows\\SYSTEM32\\ntdll.dll+9d4c4|UNKNOWN(00000000001A0000)"
    data = {"SourceProcessGUID": SOURCE_GUID, "SourceProcessId": "6312", "SourceThreadId": "7788"}
    data |= {
        "SourceImage": "C:\\x\\procdump64.exe",
        "TargetProcessGUID": "{9a1b2c3d-0f00-6631-0c00-000000000f00}",
    }
    data |= {**TARGET, **USERS, "GrantedAccess": "0x1fffff", "CallTrace": trace}
    doc = ecs(raw(10, data))
    assert at(doc, "process.entity_id") == SOURCE_GUID
    assert at(doc, "process.thread.id") == 7788
    assert at(doc, "process.name") == "procdump64.exe"
    assert ed(doc) == {
        "TargetProcessGUID": data["TargetProcessGUID"],
        **TARGET,
        **USERS,
        "GrantedAccess": "0x1fffff",
        "CallTrace": trace,
    }


def test_rename_never_overwrites() -> None:
    doc = ecs(
        raw(10, {"Image": "C:\\a.exe", "SourceImage": "C:\\b.exe", "ProcessId": "1", "SourceProcessId": "2"})
    )
    assert at(doc, "process.executable") == "C:\\a.exe"
    assert ed(doc) == {"SourceImage": "C:\\b.exe"}
    assert at(doc, "process.pid") == 2  # convert does overwrite


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("System", "<absent>"),
        ("C:\\Windows\\System32\\svchost.exe", "svchost.exe"),
        ("\\\\?\\C:\\Windows\\system32\\wbem\\WMIADAP.EXE", "WMIADAP.EXE"),
        ("C:\\trailing\\", "<absent>"),
        ("<unknown process>", "<absent>"),
    ],
)
def test_process_name_is_basename_after_backslash(image: str, name: str) -> None:
    assert at(ecs(raw(3, {"Image": image})), "process.name") == name


# --- network ---------------------------------------------------------------------------------

EID3 = {
    "RuleName": "-",
    "UtcTime": "2024-05-01 10:00:04.250",
    "ProcessGuid": "{9a1b2c3d-1111-6631-2a01-000000000f00}",
    "ProcessId": "6312",
    "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
    "User": "CORP\\alice",
    "Protocol": "tcp",
    "Initiated": "true",
    "SourceIsIpv6": "false",
    "SourceIp": "10.1.2.3",
    "SourceHostname": "ws01.corp.example.com",
    "SourcePort": "50123",
    "SourcePortName": "-",
    "DestinationIsIpv6": "false",
    "DestinationIp": "10.1.9.9",
    "DestinationHostname": "fs01.corp.example.com",
    "DestinationPort": "445",
    "DestinationPortName": "microsoft-ds",
}


def test_network_connection() -> None:
    doc = ecs(raw(3, dict(EID3)))
    assert doc["source"] == {"ip": "10.1.2.3", "domain": "ws01.corp.example.com", "port": 50123}
    assert doc["destination"] == {"ip": "10.1.9.9", "domain": "fs01.corp.example.com", "port": 445}
    assert doc["network"] == {
        "transport": "tcp",
        "protocol": "microsoft-ds",
        "direction": "egress",
        "type": "ipv4",
        "community_id": community_id("10.1.2.3", "10.1.9.9", "tcp", 50123, 445),
    }
    assert doc["related"] == {"user": ["alice"], "ip": ["10.1.2.3", "10.1.9.9"]}
    assert at(doc, "winlog.event_data") == "<absent>"


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"Initiated": "false"}, "network.direction", "ingress"),
        ({"Initiated": "TRUE"}, "network.direction", "<absent>"),
        ({"SourceIsIpv6": "true"}, "network.type", "ipv6"),
        ({"DestinationPortName": "", "SourcePortName": "epmap"}, "network.protocol", "epmap"),
        ({"DestinationPortName": "-", "SourcePortName": "-"}, "network.protocol", "<absent>"),
        ({"SourceIp": "not-an-ip"}, "source.ip", "<absent>"),
        ({"SourceIp": "010.1.2.3"}, "source.ip", "<absent>"),
        ({"SourceIp": "fe80::1%12"}, "source.ip", "<absent>"),
        ({"SourceIp": "fe80:0:0:0:c0a8:1:0:1"}, "source.ip", "fe80:0:0:0:c0a8:1:0:1"),
        ({"SourcePort": "http"}, "source.port", "<absent>"),
        ({"SourcePort": "0x50"}, "source.port", 80),
        ({"SourcePort": "http"}, "network.community_id", "<absent>"),
        ({"Protocol": ""}, "network.community_id", "<absent>"),
        ({"DestinationHostname": "-"}, "destination.domain", "<absent>"),
    ],
)
def test_network_odd_values(changes: dict[str, str], field: str, expected: Any) -> None:
    doc = ecs(raw(3, dict(EID3, **changes)))
    assert at(doc, field) == expected
    for gone in ("SourceIp", "SourcePort", "SourcePortName", "Initiated", "SourceIsIpv6"):
        assert gone not in ed(doc)


def test_community_id_vectors() -> None:
    # From Winlogbeat's golden (computed there by Elasticsearch's community_id processor).
    assert (
        community_id(
            "a00:20f:0:0:18a2:6e00:e0:ffff", "a00:203:3000:3000:3000:3000:3000:3300", "udp", 62141, 53
        )
        == "1:EQDBfI6vAylArTBQHY8kNmaweOA="
    )
    assert community_id("10.0.2.15", "40.77.226.250", "tcp", 1138, 443) == "1:W2ZbP8nXMY+YAGYw2h/3Sa8Gu/w="
    # Direction does not matter; a mapped IPv4 address is the IPv4 address.
    assert (
        community_id("40.77.226.250", "10.0.2.15", "TCP", "443", "1138") == "1:W2ZbP8nXMY+YAGYw2h/3Sa8Gu/w="
    )
    assert community_id("::ffff:10.0.2.15", "40.77.226.250", 6, 1138, 443) == "1:W2ZbP8nXMY+YAGYw2h/3Sa8Gu/w="
    assert community_id("10.0.2.15", "40.77.226.250", "tcp", None, 443) is None
    assert community_id("10.0.2.15", "40.77.226.250", "tcp", 70000, 443) is None
    assert community_id("10.0.2.15", "40.77.226.250", "bogus", 1, 2) is None
    assert community_id("10.0.2.15", "40.77.226.250", "icmp", None, None) is not None
    assert [is_ip(x) for x in ("10.0.0.1", "::1", "::ffff:1.2.3.4", "1.2.3", "", None)] == [True] * 3 + [
        False
    ] * 3


# --- files, pipes, drivers, images -----------------------------------------------------------


def test_file_create() -> None:
    data = dict(BASE, TargetFilename="C:\\Users\\alice\\AppData\\Local\\Temp\\payload.ps1")
    data["CreationUtcTime"] = "2024-05-01 09:59:58.000"
    doc = ecs(raw(11, data))
    assert doc["file"] == {
        "path": "C:\\Users\\alice\\AppData\\Local\\Temp\\payload.ps1",
        "name": "payload.ps1",
        "directory": "C:\\Users\\alice\\AppData\\Local\\Temp",
        "extension": "ps1",
    }
    assert ed(doc) == {"CreationUtcTime": "2024-05-01 09:59:58.000"}


@pytest.mark.parametrize(
    ("path", "name", "directory", "extension"),
    [
        ("C:\\a.d\\README", "README", "C:\\a.d", "d\\README"),  # the pipeline's last-dot rule
        ("C:\\x\\archive.tar.gz", "archive.tar.gz", "C:\\x", "gz"),
        ("relative.txt", "<absent>", "<absent>", "<absent>"),
        ("C:\\dir\\", "", "C:\\dir", "<absent>"),
    ],
)
def test_file_path_parts(path: str, name: Any, directory: Any, extension: Any) -> None:
    doc = ecs(raw(11, {"TargetFilename": path}))
    assert at(doc, "file.name") == name
    assert at(doc, "file.directory") == directory
    assert at(doc, "file.extension") == extension


def test_image_loaded() -> None:
    data = dict(
        BASE,
        ImageLoaded="C:\\Windows\\System32\\clr.dll",
        FileVersion="4.8.4700.0",
        Description="Microsoft .NET Runtime Common Language Runtime - WorkStation",
        Product="Microsoft® .NET Framework",
        Company="Microsoft Corporation",
        OriginalFileName="clr.dll",
        Hashes="SHA256=AA11,IMPHASH=BB22",
        Signed="true",
        Signature="Microsoft Corporation",
        SignatureStatus="Valid",
    )
    doc = ecs(raw(7, data))
    assert doc["file"] == {
        "path": "C:\\Windows\\System32\\clr.dll",
        "name": "clr.dll",
        "directory": "C:\\Windows\\System32",
        "extension": "dll",
        "hash": {"sha256": "aa11"},
        "pe": {
            "imphash": "bb22",
            "original_file_name": "clr.dll",
            "company": "Microsoft Corporation",
            "description": data["Description"],
            "file_version": "4.8.4700.0",
            "product": data["Product"],
        },
        # "signed" is missing on purpose: the pipeline compares the text "true" with a boolean.
        "code_signature": {"subject_name": "Microsoft Corporation", "status": "Valid", "valid": True},
    }
    assert "pe" not in doc["process"] and "hash" not in doc["process"]
    assert ed(doc)["Signed"] == "true"


def test_driver_loaded() -> None:
    data = {
        "UtcTime": "2024-05-01 10:00:05.000",
        "ImageLoaded": "C:\\Windows\\System32\\drivers\\evil.sys",
        "Hashes": "SHA1=0102",
        "Signed": "false",
        "Signature": "-",
        "SignatureStatus": "Unavailable",
    }
    doc = ecs(raw(6, data))
    assert at(doc, "file.hash") == {"sha1": "0102"}
    assert at(doc, "file.code_signature") == {"status": "Unavailable"}
    assert at(doc, "event.category") == ["driver"]


@pytest.mark.parametrize("eid", [17, 18])
def test_pipe_events(eid: int) -> None:
    doc = ecs(raw(eid, dict(BASE, EventType="CreatePipe", PipeName="\\MSSE-1234-server")))
    assert at(doc, "file.name") == "\\MSSE-1234-server"
    assert at(doc, "file.path") == "<absent>"
    assert ed(doc) == {"EventType": "CreatePipe"}


def test_file_stream_hash() -> None:
    data = dict(BASE, TargetFilename="C:\\Users\\alice\\Downloads\\a.exe:Zone.Identifier", Hash="SHA256=CC")
    data["Contents"] = "[ZoneTransfer]  ZoneId=3"
    doc = ecs(raw(15, data))
    assert at(doc, "file.hash") == {"sha256": "cc"}
    assert at(doc, "file.name") == "a.exe:Zone.Identifier"
    assert ed(doc) == {"Contents": "[ZoneTransfer]  ZoneId=3"}


@pytest.mark.parametrize(
    ("mode", "where"),
    [("winlogbeat", "process.hash"), ("agent", "file.hash")],
)
def test_file_delete_detected_hashes_differ_by_pipeline(mode: str, where: str) -> None:
    data = dict(BASE, TargetFilename="C:\\t\\x.exe", Hashes="SHA256=DD", IsExecutable="true")
    doc = ecs(raw(26, data), mode)
    assert at(doc, where) == {"sha256": "dd"}
    assert at(doc, "sysmon.file.is_executable") is True


def test_file_delete_archived() -> None:
    data = dict(BASE, TargetFilename="C:\\t\\x.exe", Hashes="MD5=EE", IsExecutable="true", Archived="false")
    doc = ecs(raw(23, data))
    assert at(doc, "process.hash") == {"md5": "ee"}
    assert doc["sysmon"] == {"file": {"archived": False, "is_executable": True}}
    assert ed(doc) == {}


def test_file_block_and_executable_detected() -> None:
    assert at(ecs(raw(29, dict(BASE, TargetFilename="C:\\a.exe", Hashes="SHA1=FF"))), "file.hash") == {
        "sha1": "ff"
    }
    blocked = ecs(raw(27, dict(BASE, TargetFilename="C:\\a.exe", Hashes="SHA1=FF")))
    assert at(blocked, "file.hash") == "<absent>"  # neither hash list includes 27
    assert at(blocked, "related.hash") == ["ff"]


def test_clipboard_and_tampering() -> None:
    clip = ecs(raw(24, dict(BASE, Session="1", ClientInfo="user: alice", Hashes="SHA1=12", Archived="true")))
    assert at(clip, "process.hash") == {"sha1": "12"}
    assert at(clip, "sysmon.file.archived") is True
    tamper = ecs(raw(25, dict(BASE, Type="Image is replaced")))
    assert tamper["message"] == "Image is replaced"
    rendered = raw(25, dict(BASE, Type="Image is replaced"))
    rendered["message"] = "Process Tampering:..."
    kept = ecs(rendered)
    assert kept["message"] == "Process Tampering:..."
    assert ed(kept) == {"Type": "Image is replaced"}


def test_wmi_events_keep_their_details() -> None:
    data = dict(
        BASE,
        EventType="WmiConsumerEvent",
        Operation="Created",
        Name='"Updater"',
        Type="Command Line",
        Destination='"powershell.exe -enc AAAA"',
    )
    doc = ecs(raw(20, data))
    # Destination is one of the pipeline's process.executable sources; Image was there first.
    assert at(doc, "process.executable") == BASE["Image"]
    assert ed(doc)["Destination"] == '"powershell.exe -enc AAAA"'
    assert ed(doc)["Operation"] == "Created"


def test_sysmon_error_event() -> None:
    doc = ecs(
        raw(255, {"UtcTime": "2024-05-01 10:00:09.000", "ID": "DriverCommunication", "Description": "x"})
    )
    assert at(doc, "error.code") == "DriverCommunication"
    assert ed(doc) == {"Description": "x"}
    assert at(doc, "process.pe.description") == "x"


# --- users, time, odd input ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "domain", "name"),
    [
        ("NT AUTHORITY\\SYSTEM", "NT AUTHORITY", "SYSTEM"),
        ("CORP\\alice", "CORP", "alice"),
        ("alice", "<absent>", "<absent>"),
        ("\\alice", "<absent>", "alice"),
        ("CORP\\", "<absent>", "<absent>"),
        ("A\\B\\C", "<absent>", "<absent>"),
        ("-", "<absent>", "<absent>"),
    ],
)
def test_user_split(user: str, domain: Any, name: Any) -> None:
    doc = ecs(raw(1, {"User": user}))
    assert at(doc, "user.domain") == domain
    assert at(doc, "user.name") == name
    assert at(doc, "user.id") == "S-1-5-18"
    assert at(doc, "related.user") == ([name] if name != "<absent>" else "<absent>")
    assert "User" not in ed(doc)


@pytest.mark.parametrize(
    ("utc", "stamp"),
    [
        ("2019-03-18 16:57:37.949", "2019-03-18T16:57:37.949Z"),
        ("2024-02-29 23:59:59.000", "2024-02-29T23:59:59.000Z"),
        ("2023-02-29 10:00:00.000", "2024-05-01T10:00:01.123456Z"),
        ("2024-05-01 10:00:00.5", "2024-05-01T10:00:01.123456Z"),
        ("2024-05-01T10:00:00.500Z", "2024-05-01T10:00:01.123456Z"),
        ("-", "2024-05-01T10:00:01.123456Z"),
    ],
)
def test_timestamp_from_utc_time(utc: str, stamp: str) -> None:
    doc = ecs(raw(1, {"UtcTime": utc}))
    assert doc["@timestamp"] == stamp
    assert "UtcTime" not in ed(doc)


def test_time_created() -> None:
    doc = ecs(raw(1, {}, time_created="2024-05-01T10:00:01.1234567+02:00"))
    assert at(doc, "event.created") == "2024-05-01T08:00:01.123Z"
    assert at(doc, "winlog.time_created") == "<absent>"
    bad = ecs(raw(1, {"ProcessId": "1"}, time_created="yesterday"))
    assert at(bad, "event.kind") == "pipeline_error"
    assert at(bad, "error.message")[0] == "fail-time_created_date"
    assert len(at(bad, "error.message")) == 2
    assert at(bad, "process.pid") == "<absent>"  # the pipeline stopped early


def test_empty_dash_and_zero_guid_values_are_absent() -> None:
    data = dict(
        BASE,
        ParentProcessGuid="{00000000-0000-0000-0000-000000000000}",
        ParentImage="-",
        ParentCommandLine="",
        CommandLine="   ",
    )
    doc = ecs(raw(1, data))
    assert "parent" not in doc["process"]
    assert at(doc, "process.args") == []
    assert at(doc, "process.args_count") == 0
    assert ed(doc) == {}


@pytest.mark.parametrize(
    ("pid", "expected"), [("abc", "<absent>"), ("0x1F4", 500), ("-1", -1), (" 7", "<absent>")]
)
def test_pid_conversion(pid: str, expected: Any) -> None:
    doc = ecs(raw(1, {"ProcessId": pid}))
    assert at(doc, "process.pid") == expected
    assert "ProcessId" not in ed(doc)


def test_no_event_data_and_no_utc_time() -> None:
    doc = ecs(raw(4, None))
    assert doc["@timestamp"] == "2024-05-01T10:00:01.123456Z"
    assert at(doc, "event.category") == ["process"]
    assert at(doc, "winlog.event_data") == "<absent>"


def test_map_sysmon_never_raises_on_garbage() -> None:
    for doc in ({}, {"winlog": "x"}, {"winlog": {"event_data": "x", "event_id": 3}}, {"event": None}):
        map_sysmon(doc)
    not_a_map = ecs(raw(3, None, event_data="x"))
    assert at(not_a_map, "event.kind") == "pipeline_error"
    assert at(not_a_map, "winlog.event_data") == "x"
    weird = raw(13, {"TargetObject": 5, "User": ["a"], "QueryResults": 1})
    map_sysmon(weird)
    assert at(weird, "event.kind") == "pipeline_error"


_MORE = ("TargetObject", "Details", "QueryName", "QueryResults", "QueryStatus", "TargetFilename", "Hash")
_MORE += ("ImageLoaded", "PipeName", "SourceImage", "TargetProcessGuid", "TargetProcessGUID", "Device", "ID")
_FIELDS = sorted({*EID1, *EID3, *_MORE, "Archived", "IsExecutable", "Type", "Signed"})
_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["-", "", "true", "false", "0x10", "::ffff:1.2.3.4", "type:", "HKLM\\", "\\", "SHA1=0"]),
    st.none(),
    st.integers(),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    eid=st.sampled_from([*EVENTS, "0", "x"]),
    data=st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=12),
    mode=st.sampled_from(["winlogbeat", "agent"]),
)
def test_never_raises_and_stays_json(eid: str, data: dict[str, Any], mode: str) -> None:
    doc = ecs(raw(eid, data), mode)
    json.dumps(doc)
    assert at(doc, "event.kind") in ("event", "pipeline_error")


# --- helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cmd", "args"),
    [
        ('"C:\\Program Files\\App\\app.exe" -x "y z"', ["C:\\Program Files\\App\\app.exe", "-x", "y z"]),
        ("cmd.exe /c whoami /all", ["cmd.exe", "/c", "whoami", "/all"]),
        ("  a\t\tb  ", ["a", "b"]),
        ("", []),
        ('a\\\\\\\\"b c" d', ["a\\\\b c", "d"]),  # 2n backslashes + quote: n backslashes, quote toggles
        ('a\\\\\\"b c', ['a\\"b', "c"]),  # 2n+1 backslashes + quote: n backslashes and a literal quote
        ('"a""b"', ['a"b']),  # doubled quote inside quotes, "prior to 2008" rule
        ('"a"" b"', ['a"', "b"]),
        ('"C:\\dir\\\\" next', ["C:\\dir\\", "next"]),
        ("\\\\server\\share C:\\dir\\", ["\\\\server\\share", "C:\\dir\\"]),
        ('"unterminated arg', ["unterminated arg"]),
        ('x ""', ["x", ""]),
    ],
)
def test_split_command_line(cmd: str, args: list[str]) -> None:
    assert split_command_line(cmd) == args


def test_hashes_kv() -> None:
    assert kv_pairs("SHA1=AA,MD5=BB") == [("SHA1", "AA"), ("MD5", "BB")]
    assert kv_pairs("SHA1=AA,garbage,MD5=BB") == [("SHA1", "AA")]  # kv stops at the bad pair
    assert kv_pairs("SHA1=,MD5=A=B,") == [("SHA1", ""), ("MD5", "A=B")]
    doc = ecs(raw(1, {"Hashes": "SHA1=AA,SHA1=BB"}))
    assert at(doc, "process.hash") == {"sha1": "[aa, bb]"}  # a repeated key becomes a Java list


def test_java_hashmap_order() -> None:
    assert java_hashmap_order(["SHA1", "MD5", "SHA256", "IMPHASH"]) == ["SHA256", "SHA1", "MD5", "IMPHASH"]
    assert java_hashmap_order(["MD5", "SHA1"]) == ["SHA1", "MD5"]


def test_small_conversions() -> None:
    assert to_long("42") == 42 and to_long("0x2A") == 42 and to_long("1e3") is None
    assert to_long("9223372036854775808") is None
    assert template('a"b\\c\n') == 'a\\"b\\\\c\\n'
    assert template(None) == ""
    assert parse_iso8601("2024-05-01T10:00:00Z") == "2024-05-01T10:00:00.000Z"
    assert parse_iso8601("2024-05-01") == "2024-05-01T00:00:00.000Z"
    assert parse_iso8601("nope") is None


def test_public_suffix_list_comes_bundled() -> None:
    # The list ships with the publicsuffixlist package, so no system file is needed.
    from vigil.ecs.windows.sysmon_psl import _bundled_list, suffix_list

    assert Path(_bundled_list()).is_file()
    assert "co.uk" in suffix_list().rules and not suffix_list().fallback
    assert domain_parts("a.b.example.co.uk")["registered_domain"] == "example.co.uk"
    assert domain_parts("x.global.ssl.fastly.net")["registered_domain"] == "global.ssl.fastly.net"
