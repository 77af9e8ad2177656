"""Windows event sources: EVTX files, NXLog flat JSON, Winlogbeat documents, `vigil convert`.

The data are the real captures in ../shared/datasets (read in place, never copied into the
repository); the tests skip when that folder is absent. Damaged files are made in tmp_path.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from vigil.cli import main
from vigil.errors import DataError
from vigil.sources import ReadReport, read_events

pytest.importorskip("evtx")

from vigil.sources.evtx import evtx_documents, record_to_raw
from vigil.sources.winlog import classify, guid_text, nxlog_to_raw

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
ATTACK = DATASETS / "evtx-attack-samples"
MITRE = DATASETS / "evtx-to-mitre-attack"
GOLDEN = DATASETS / "winlogbeat-golden"
PURPLESHARP = DATASETS / "mordor-purplesharp-ad-playbook"
SHARPSC = DATASETS / "mordor-covenant-sharpsc-create"
FILECOPY = ATTACK / "Lateral Movement" / "LM_5145_Remote_FileCopy.evtx"  # 17 chunk slots, 869 records
SMBMAP = ATTACK / "Lateral Movement" / "smbmap_upload_exec_sysmon.evtx"

needs_data = pytest.mark.skipif(not DATASETS.is_dir(), reason=f"{DATASETS} is absent (../shared)")

# Records per file, as the PROVENANCE.md files list them.
EVTX_COUNTS = {
    "evtx-attack-samples/Command and Control/tunna_iis_rdp_smb_tunneling_sysmon_3.evtx": 12,
    "evtx-attack-samples/Credential Access/Powershell_4104_MiniDumpWriteDump_Lsass.evtx": 4,
    "evtx-attack-samples/Discovery/discovery_sysmon_3_Invoke_UserHunter_SourceMachine.evtx": 9,
    "evtx-attack-samples/Lateral Movement/"
    "ImpersonateUser-via local Pass The Hash Sysmon and Security.evtx": 14,
    "evtx-attack-samples/Lateral Movement/LM_5145_Remote_FileCopy.evtx": 869,
    "evtx-attack-samples/Lateral Movement/LM_PowershellRemoting_sysmon_1_wsmprovhost.evtx": 1,
    "evtx-attack-samples/Lateral Movement/LM_Remote_Service01_5145_svcctl.evtx": 1,
    "evtx-attack-samples/Lateral Movement/LM_Remote_Service02_7045.evtx": 3,
    "evtx-attack-samples/Lateral Movement/LM_WMI_4624_4688_TargetHost.evtx": 8,
    "evtx-attack-samples/Lateral Movement/LM_renamed_psexecsvc_5145.evtx": 22,
    "evtx-attack-samples/Lateral Movement/LM_sysmon_psexec_smb_meterpreter.evtx": 10,
    "evtx-attack-samples/Lateral Movement/LM_wmiexec_impacket_sysmon_whoami.evtx": 7,
    "evtx-attack-samples/Lateral Movement/smbmap_upload_exec_sysmon.evtx": 27,
    "evtx-attack-samples/Privilege Escalation/CVE-2020-0796_SMBV3Ghost_LocalPrivEsc_Sysmon_3_1_10.evtx": 4,
    "evtx-to-mitre-attack/EVTX_full_APT_attack_steps/"
    "ID4624,4688,5140,5145-Eternal Romance - MS17_010_psexec (GLOBAL).evtx": 46,
    "evtx-to-mitre-attack/EVTX_full_APT_attack_steps/"
    "ID4688,5140,5145-WMIexec execution via SMB (GLOBAL).evtx": 97,
    "evtx-to-mitre-attack/TA0005-Defense Evasion/T1027-Obfuscated Files or Information/"
    "ID4103-4104-CrackMapExec payload execution.evtx": 24,
    "evtx-to-mitre-attack/TA0008-Lateral Movement/T1021.002-SMB Windows Admin Shares/"
    "ID4688,4697,5140-5145 PSexec remote execution + admin share.evtx": 30,
    "evtx-to-mitre-attack/TA0008-Lateral Movement/T1021.002-SMB Windows Admin Shares/"
    "ID4688-4648 Lateral movement with net use.evtx": 2,
    "evtx-to-mitre-attack/TA0008-Lateral Movement/T1021.002-SMB Windows Admin Shares/"
    "ID5145-remote shell execution via SMB admin share.evtx": 2,
    "evtx-to-mitre-attack/TA0008-Lateral Movement/T1021.003-Distributed Component Object Model (DCOM)/"
    "ID4103,4104-DCOMexec native via PowerShell.evtx": 5,
}
BRACED_GUID = re.compile(r"\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}")


def read(paths: list[str], **kwargs: Any) -> tuple[list[Any], ReadReport]:
    report = ReadReport(log=lambda _text: None)
    return list(read_events(paths, report=report, **kwargs)), report


def field(doc: dict[str, Any], path: str) -> Any:
    cur: Any = doc
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def flat(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat(value, name + "."))
        else:
            out[name] = value
    return out


def cli(*args: str, input: bytes | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


# --------------------------------------------------------------------------- EVTX


@needs_data
def test_every_evtx_file_is_read_whole_and_mapped() -> None:
    files = sorted(p for folder in (ATTACK, MITRE) for p in folder.rglob("*.evtx"))
    assert {str(p.relative_to(DATASETS)) for p in files} == set(EVTX_COUNTS)
    for path in files:
        events, report = read([str(path)])
        expected = EVTX_COUNTS[str(path.relative_to(DATASETS))]
        assert (len(events), report.events, report.skipped, report.corrupt) == (expected, expected, 0, 0), (
            path
        )
        for ev in events:
            doc = ev.source
            assert doc["@timestamp"] and doc["event"]["kind"] == "event", path
            assert doc["event"]["code"] == doc["winlog"]["event_id"]
            assert doc["host"]["name"] == doc["winlog"]["computer_name"]
            assert str(doc["winlog"]["record_id"]).isdigit()  # the ingest pipelines make it a string
            assert doc["winlog"]["channel"] and doc["winlog"]["provider_name"]
            assert doc["log"]["file"]["path"] == str(path)
            assert ev.index.startswith("logs-") and ev.index == "-".join(doc["data_stream"].values())
        for _key, raw in evtx_documents(str(path), str(path), print):
            assert all(isinstance(v, str) and v for v in (raw["winlog"].get("event_data") or {}).values())


@needs_data
def test_raw_document_has_winlogbeat_8_shape() -> None:
    """The raw document of a Security 4688 has the keys and types of Winlogbeat's raw-8x golden."""
    golden = json.loads(
        (GOLDEN / "security-windows2019_4688_Process_Created.evtx.golden.raw-8x.json").read_text()
    )
    path = MITRE / "TA0008-Lateral Movement" / "T1021.002-SMB Windows Admin Shares"
    path = path / "ID4688-4648 Lateral movement with net use.evtx"
    docs = [doc for _key, doc in evtx_documents(str(path), "x", print)]
    ours = next(d for d in docs if d["event"]["code"] == "4688")
    want = golden[0]
    assert set(ours) - {"log"} == set(want) - {"log"} | set()
    assert set(ours["event"]) == set(want["event"])
    assert set(ours["winlog"]) == set(want["winlog"])
    assert set(ours["winlog"]["event_data"]) <= set(want["winlog"]["event_data"])
    assert ours["log"]["level"] == want["log"]["level"] == "information"
    for key in ("keywords", "opcode", "task", "channel", "provider_name", "api"):
        assert ours["winlog"][key] == want["winlog"][key]
    assert ours["event"]["action"] == want["event"]["action"] and ours["event"]["outcome"] == "success"
    for key in ("event_id", "record_id", "version"):
        assert type(ours["winlog"][key]) is type(want["winlog"][key])
    assert ours["winlog"]["provider_guid"] == want["winlog"]["provider_guid"]


@needs_data
def test_sysmon_raw_document_matches_the_golden_keys_and_guid_form() -> None:
    golden = json.loads((GOLDEN / "sysmon-9.01.evtx.golden.raw-8x.excerpt.json").read_text())
    docs = [doc for _key, doc in evtx_documents(str(SMBMAP), "x", print)]
    for code in ("1", "3"):
        want = next(g for g in golden if g["event"]["code"] == code)
        ours = next(d for d in docs if d["event"]["code"] == code)
        assert set(want["winlog"]) <= set(ours["winlog"])
        assert set(want["event"]) <= set(ours["event"])
        assert BRACED_GUID.fullmatch(ours["winlog"]["event_data"]["ProcessGuid"])
        assert ours["winlog"]["provider_guid"] == want["winlog"]["provider_guid"]
        assert ours["winlog"]["event_data"]["ProcessId"].isdigit()
    net = next(d for d in docs if d["event"]["code"] == "3")
    assert net["winlog"]["event_data"]["Initiated"] in ("true", "false")


def test_guid_forms() -> None:
    assert guid_text("365ABB72-2584-5CC9-0000-0010EA030000") == "{365abb72-2584-5cc9-0000-0010ea030000}"
    assert guid_text("{5770385F-C22A-43E0-BF4C-06F5698FFBD9}") == "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"
    assert guid_text("not a guid") == "not a guid"
    # A string that merely holds a GUID (PowerShell's ScriptBlockId) stays as written.
    event = {
        "System": {"EventID": 4104, "Channel": "Microsoft-Windows-PowerShell/Operational"},
        "EventData": {"ScriptBlockId": "9f63c3d4-dd42-47f7-86c1-4076ce091501", "Path": ""},
    }
    data = record_to_raw(event)["winlog"]["event_data"]
    assert data == {"ScriptBlockId": "9f63c3d4-dd42-47f7-86c1-4076ce091501"}


def test_unnamed_data_user_data_and_qualifiers() -> None:
    event = {
        "System": {
            "Provider": {
                "#attributes": {
                    "Name": "Service Control Manager",
                    "Guid": "{555908d1-a6d7-4695-8e1e-26931d2012f4}",
                }
            },
            "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7036},
            "Level": 4,
            "Task": 0,
            "Keywords": "0x8080000000000000",
            "Channel": "system",
            "Computer": "WS1",
            "EventRecordID": 7,
            "Execution": {"#attributes": {"ProcessID": 0, "ThreadID": 12}},
        },
        "EventData": {"Data": {"#text": ["Windows Update", "", "running"]}, "Binary": "7700"},
        "UserData": {
            "LogFileCleared": {"#attributes": {"xmlns": "x"}, "SubjectUserName": "admin", "Empty": ""}
        },
    }
    raw = record_to_raw(event)
    w = raw["winlog"]
    assert w["event_id"] == "7036" and raw["event"]["code"] == "7036"
    assert w["channel"] == "System"  # registered spelling
    assert w["event_data"] == {"param1": "Windows Update", "param3": "running", "Binary": "7700"}
    assert w["user_data"] == {"SubjectUserName": "admin", "xml_name": "LogFileCleared"}
    assert w["keywords"] == ["Classic"]
    assert w["process"] == {"thread": {"id": 12}}  # zero values are left out, as Winlogbeat does
    assert w["task"] == "None" and raw["log"]["level"] == "information"
    assert "outcome" not in raw["event"]


# --------------------------------------------------------------------------- damaged EVTX


def _record_ids(events: list[Any]) -> set[str]:
    return {str(ev.source["winlog"]["record_id"]) for ev in events}


@needs_data
def test_truncated_evtx_keeps_the_records_before_the_cut(tmp_path: Path) -> None:
    data = FILECOPY.read_bytes()
    cut = tmp_path / "cut.evtx"
    cut.write_bytes(data[: 4096 + 3 * 65536 + 30000])  # inside the fourth chunk
    whole, _ = read([str(FILECOPY)])
    messages: list[str] = []
    report = ReadReport(log=messages.append)
    events = list(read_events([str(cut)], report=report))
    assert report.corrupt == 1 and report.skipped == 0
    assert len(messages) == 1 and str(cut) in messages[0] and "chunk 3" in messages[0]
    assert "truncated" in messages[0]
    # The three whole chunks (287 records) and the records of the partial one before the cut.
    assert 287 < len(events) < len(whole)
    assert _record_ids(events) <= _record_ids(whole)
    assert [str(ev.source["winlog"]["record_id"]) for ev in events] == [
        str(ev.source["winlog"]["record_id"]) for ev in whole[: len(events)]
    ]


@needs_data
def test_damaged_record_and_chunk_are_skipped_and_the_rest_is_read(tmp_path: Path) -> None:
    data = bytearray(FILECOPY.read_bytes())
    whole, _ = read([str(FILECOPY)])
    whole_ids = [str(ev.source["winlog"]["record_id"]) for ev in whole]
    damaged = tmp_path / "damaged.evtx"
    offset = 4096 + 2 * 65536 + 5000  # inside the records of chunk 2
    data[offset : offset + 2000] = b"\xff" * 2000
    chunk5 = 4096 + 5 * 65536
    data[chunk5 : chunk5 + 8] = b"XXXXXXXX"  # chunk 5's signature
    damaged.write_bytes(bytes(data))
    messages: list[str] = []
    report = ReadReport(log=messages.append)
    events = list(read_events([str(damaged)], report=report))
    assert report.corrupt >= 2 and report.skipped == 0
    assert all(str(damaged) in m for m in messages)
    assert any("chunk 2" in m and "record 201" in m for m in messages)
    assert any("chunk 5" in m for m in messages)
    ids = [str(ev.source["winlog"]["record_id"]) for ev in events]
    # Chunks 0-1 (records 1-200 by header number) and chunks 3-4 and 6+ are read in full.
    assert ids[:200] == whole_ids[:200]
    assert set(whole_ids[287:451]) <= set(ids)
    assert set(whole_ids[540:]) <= set(ids)
    assert len(events) < len(whole)


@needs_data
def test_damage_under_strict_raises_with_its_place(tmp_path: Path) -> None:
    data = bytearray(FILECOPY.read_bytes())
    data[4096 + 65536 : 4096 + 65536 + 8] = b"XXXXXXXX"
    damaged = tmp_path / "damaged.evtx"
    damaged.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"damaged\.evtx: chunk 1 .*damaged chunk"):
        read([str(damaged)], strict=True)


@needs_data
def test_a_file_cut_in_its_header_is_skipped_and_the_next_one_read(tmp_path: Path) -> None:
    stub = tmp_path / "stub.evtx"
    stub.write_bytes(SMBMAP.read_bytes()[:100])  # the signature and half a file header
    messages: list[str] = []
    report = ReadReport(log=messages.append)
    events = list(read_events([str(stub), str(SMBMAP)], report=report))
    assert len(events) == 27 and report.corrupt >= 1
    assert all(m.startswith(f"warning: {stub}") for m in messages)


@needs_data
def test_evtx_from_stdin_and_gzip(tmp_path: Path) -> None:
    packed = tmp_path / "smbmap.evtx.gz"
    packed.write_bytes(gzip.compress(SMBMAP.read_bytes()))
    plain, _ = read([str(SMBMAP)])
    events, _ = read([str(packed)])
    assert len(events) == len(plain) == 27
    result = cli("convert", "-", input=SMBMAP.read_bytes())
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 27


def test_not_an_evtx_file_forced_as_one(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"a": 1}\n')
    events, report = read([str(path)], input_format="evtx")
    assert events == [] and report.skipped == 1 and "not an EVTX file" in report.malformed[0].message


# --------------------------------------------------------------------------- NXLog


def _first(path: Path, channel: str, code: int) -> dict[str, Any]:
    with open(path, "rb") as f:
        for line in f:
            doc = orjson.loads(line)
            if doc.get("Channel") == channel and doc.get("EventID") == code:
                return doc
    raise AssertionError(f"no {channel} {code} in {path}")


@needs_data
def test_nxlog_raw_document_has_the_evtx_shape() -> None:
    nxlog_file = next(SHARPSC.glob("*_filtered.json"))
    evtx_docs = [doc for _k, doc in evtx_documents(str(SMBMAP), "x", print)]
    evtx_docs += [
        doc
        for _k, doc in evtx_documents(
            str(ATTACK / "Lateral Movement" / "LM_WMI_4624_4688_TargetHost.evtx"), "x", print
        )
    ]
    for channel, code in (
        ("Microsoft-Windows-Sysmon/Operational", 3),
        ("Microsoft-Windows-Sysmon/Operational", 1),
        ("Security", 4624),
    ):
        nx = nxlog_to_raw(_first(nxlog_file, channel, code))
        ev = next(
            d for d in evtx_docs if d["winlog"]["channel"] == channel and d["event"]["code"] == str(code)
        )
        # NXLog adds the rendered message and resolved user names; EVTX adds the file and API.
        assert set(nx) - {"message"} == set(ev) | set()
        assert set(nx["winlog"]) - {"user"} == set(ev["winlog"]) - {"api", "user"}
        assert set(nx["event"]) == set(ev["event"])
        assert nx["winlog"]["channel"] == ev["winlog"]["channel"]
        for key in ("event_id", "record_id", "version", "process"):
            assert type(nx["winlog"][key]) is type(ev["winlog"][key])
        for key in ("ProcessGuid", "LogonGuid"):
            if key in nx["winlog"]["event_data"]:
                assert BRACED_GUID.fullmatch(nx["winlog"]["event_data"][key])
                assert BRACED_GUID.fullmatch(ev["winlog"]["event_data"][key])


@needs_data
def test_nxlog_time_is_utc_and_channel_case_is_fixed() -> None:
    nxlog_file = next(PURPLESHARP.glob("*_filtered.json"))
    doc = _first(nxlog_file, "Security", 4624)
    raw = nxlog_to_raw(doc)
    # EventTime is local (UTC-4 here); @timestamp is the pipeline's UTC ingest time.
    assert doc["EventTime"].startswith("2020-10-22 04:")
    assert raw["@timestamp"].startswith("2020-10-22T08:") and raw["@timestamp"].endswith("Z")
    lower = next((DATASETS / "mordor-covenant-copy-smb").glob("*.json"))
    low = _first(lower, "security", 5145)
    assert low["Channel"] == "security"
    assert nxlog_to_raw(low)["winlog"]["channel"] == "Security"


# Fields both paths must give a mapped event of each kind, with the same JSON types.
CORE_FIELDS = {
    ("Microsoft-Windows-Sysmon/Operational", 1): [
        "@timestamp", "event.category", "event.type", "event.code", "process.entity_id", "process.pid",
        "process.executable", "process.name", "process.command_line", "process.parent.pid",
        "process.parent.entity_id", "host.name", "data_stream.dataset",
    ],
    ("Microsoft-Windows-Sysmon/Operational", 3): [
        "@timestamp", "event.category", "event.type", "process.entity_id", "process.pid",
        "process.executable", "destination.ip", "destination.port", "source.ip", "source.port",
        "network.transport", "network.direction", "host.name",
    ],
    ("Security", 4624): [
        "@timestamp", "event.category", "event.type", "event.outcome", "user.name", "host.name",
    ],
}  # fmt: skip


@needs_data
@pytest.mark.parametrize("kind", sorted(CORE_FIELDS))
def test_nxlog_and_evtx_map_to_the_same_ecs_fields(kind: tuple[str, int]) -> None:
    channel, code = kind
    nx_events, nx_report = read([str(next(SHARPSC.glob("*_filtered.json")))])
    ev_events, ev_report = read(
        [str(SMBMAP), str(ATTACK / "Lateral Movement" / "LM_WMI_4624_4688_TargetHost.evtx")]
    )
    assert nx_report.skipped == ev_report.skipped == 0

    def pick(events: list[Any]) -> dict[str, Any]:
        return next(
            flat(e.source)
            for e in events
            if e.source["winlog"]["channel"] == channel and e.source["event"]["code"] == str(code)
        )

    nx, ev = pick(nx_events), pick(ev_events)
    for name in CORE_FIELDS[kind]:
        assert name in nx and name in ev, name
        assert type(nx[name]) is type(ev[name]), name
    for name in ("process.entity_id", "process.parent.entity_id"):
        if name in nx:
            assert BRACED_GUID.fullmatch(nx[name]) and BRACED_GUID.fullmatch(ev[name])
    assert nx["data_stream.dataset"] == ev["data_stream.dataset"]


# --------------------------------------------------------------------------- Winlogbeat JSON


@needs_data
def test_winlogbeat_golden_raw_is_mapped_and_mapped_ones_are_kept() -> None:
    raw_files = sorted(GOLDEN.glob("*raw-8x*.json"))
    events, report = read([str(p) for p in raw_files])
    assert report.skipped == 0 and events
    for ev in events:
        assert ev.index in ("logs-windows.sysmon_operational-default", "logs-system.security-default")
        assert ev.source["event"].get("category")
    wb, _ = read([str(p) for p in raw_files], ecs_mode="winlogbeat")
    assert {e.index for e in wb} == {"winlogbeat-8.17.0"}
    assert all("data_stream" not in e.source for e in wb)
    for path in [*GOLDEN.glob("*js-7x*.json"), *GOLDEN.glob("*ingest*.json")]:
        original = json.loads(path.read_text())
        kept, _ = read([str(path)])
        assert [e.source for e in kept] == original, path  # ECS already: as they are


def test_classify() -> None:
    assert classify({"EventID": 4624, "Channel": "Security", "Hostname": "h"}) == "nxlog"
    assert classify({"winlog": {"channel": "Security"}, "event": {"code": "4624"}}) == "winlogbeat"
    assert classify({"winlog": {}, "event": {"category": ["process"]}}) == "ndjson"
    assert classify({"winlog": {}, "data_stream": {"type": "logs"}}) == "ndjson"
    assert classify({"_source": {"EventID": 1, "SourceName": "x"}}) == "nxlog"
    assert classify({"process": {"pid": 4}}) == "ndjson"


# --------------------------------------------------------------------------- formats and options


@needs_data
def test_formats_mix_in_one_run_and_can_be_forced(tmp_path: Path) -> None:
    plain = tmp_path / "plain.ndjson"
    plain.write_text('{"@timestamp": "2024-01-01T00:00:00Z", "event": {"category": ["process"]}}\n')
    nxlog_file = next(PURPLESHARP.glob("*_filtered.json"))
    events, report = read([str(plain), str(SMBMAP), str(nxlog_file)])
    assert report.events == 1 + 27 + 4718 and report.skipped == 0
    assert events[0].index == "" and events[1].index == "logs-windows.sysmon_operational-default"
    # Forced: NXLog lines read as plain NDJSON stay unmapped.
    raw_events, _ = read([str(nxlog_file)], input_format="ndjson")
    assert "winlog" not in raw_events[0].source and raw_events[0].index == ""
    # Forced nxlog on a line that is not a Windows event: reported, skipped.
    events, report = read([str(plain)], input_format="nxlog")
    assert events == [] and report.skipped == 1 and "not an NXLog" in report.malformed[0].message


@needs_data
def test_parallel_reader_leaves_windows_inputs_to_one_process() -> None:
    from vigil.engine import QueryOptions
    from vigil.sources.parallel import execute_parallel

    query = 'process where event.type == "start"'
    for paths in ([str(SMBMAP)], [str(next(PURPLESHARP.glob("*_filtered.json")))]):
        report = ReadReport(log=lambda _t: None)
        assert execute_parallel(query, QueryOptions(), paths, report, workers=2, min_bytes=0) is None


@needs_data
def test_query_over_evtx_with_both_ecs_modes() -> None:
    for mode, index in (
        ("agent", "logs-windows.sysmon_operational-default"),
        ("winlogbeat", "winlogbeat-8.17.0"),
    ):
        result = cli(
            "query",
            "network where destination.port == 445",
            str(SMBMAP),
            "--format",
            "json",
            "--ecs-mode",
            mode,
        )
        assert result.exit_code == 0, result.stderr
        hits = json.loads(result.stdout)["hits"]["events"]
        assert hits and {h["_index"] for h in hits} == {index}


# --------------------------------------------------------------------------- vigil convert


@needs_data
def test_convert_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "mitre.ndjson"
    result = cli("convert", str(MITRE), "--to", "ndjson", "--output", str(out))
    assert result.exit_code == 0, result.stderr
    lines = out.read_bytes().splitlines()
    assert len(lines) == sum(n for name, n in EVTX_COUNTS.items() if name.startswith("evtx-to-mitre-attack/"))
    docs = [orjson.loads(line) for line in lines]
    assert all(d["data_stream"]["type"] == "logs" and d["event"]["kind"] == "event" for d in docs)
    assert "206 events written as ndjson" in result.stderr
    # Reading the converted file gives the same events as reading the EVTX files.
    again, _ = read([str(out)])
    direct, _ = read([str(MITRE)])
    assert [e.source for e in again] == [e.source for e in direct]
    assert [e.index for e in again] == [e.index for e in direct]

    wb = tmp_path / "wb.ndjson"
    result = cli("convert", str(SMBMAP), "--ecs-mode", "winlogbeat", "--output", str(wb))
    assert result.exit_code == 0, result.stderr
    assert {e.index for e in read([str(wb)])[0]} == {"winlogbeat-8.17.0"}


@needs_data
def test_convert_then_hunt_gives_the_purplesharp_alert(tmp_path: Path) -> None:
    converted = tmp_path / "purplesharp.ndjson"
    source = next(PURPLESHARP.glob("*_filtered.json"))
    assert cli("convert", str(source), "--output", str(converted)).exit_code == 0
    rule = Path(__file__).resolve().parents[1] / "examples" / "rules" / "direct_outbound_smb.toml"
    result = cli(
        "hunt",
        "--rules",
        str(rule),
        str(converted),
        "--format",
        "ndjson",
        "--alert-db",
        str(tmp_path / "a.db"),
    )
    assert result.exit_code == 0, result.stderr
    alerts = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    shells = [a for a in alerts if "kibana.alert.group.index" not in a]
    assert len(shells) == 1
    assert shells[0]["process"]["entity_id"] == "{313fa531-4300-5f91-ae04-000000000400}"


def test_convert_reports_a_missing_input(tmp_path: Path) -> None:
    result = cli("convert", str(tmp_path / "nope.evtx"))
    assert result.exit_code == 1 and "no such file" in result.stderr


def test_convert_writes_plain_ndjson_unchanged(tmp_path: Path) -> None:
    src = tmp_path / "a.ndjson"
    src.write_text('{"a": 1}\n{"b": [1, 2]}\n')
    result = cli("convert", str(src))
    assert result.exit_code == 0
    assert [json.loads(x) for x in result.stdout.splitlines()] == [{"a": 1}, {"b": [1, 2]}]
    shutil.rmtree(tmp_path, ignore_errors=True)
