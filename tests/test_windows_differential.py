"""The tuned Security/PowerShell mappings against a frozen copy of the code they replaced.

``tests/_security_reference`` holds the mappings as they were before they were optimised. Every
test here maps the same document with both and requires *identical* output: same keys in the
same order, same values of the same types (``1`` is not ``True``, ``"1"`` is not ``1``). On top
of that, two documents mapped from the same input must share no list or dict (a cache handing out
one list to two events would let a later step on one event change the other).

Inputs: every Security and PowerShell record of ../shared/datasets (NXLog lines, the classic
``Windows PowerShell`` lines of the upstream zips, EVTX records), seeded mutations of those
records (fields dropped, odd values swapped in), and seeded synthetic documents that need no
data set. The data set tests skip, saying why, when ../shared is absent.
"""

from __future__ import annotations

import functools
import io
import json
import random
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import orjson
import pytest

from _security_reference import common as ref_common
from _security_reference import powershell as ref_powershell
from _security_reference import security as ref_security
from vigil.ecs.windows import common as live_common
from vigil.ecs.windows import powershell as live_powershell
from vigil.ecs.windows import security as live_security

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

SECURITY = "security"
OPERATIONAL = "microsoft-windows-powershell/operational"
CLASSIC = "windows powershell"
CHANNELS = (SECURITY, OPERATIONAL, CLASSIC)

Mapper = Callable[[dict[str, Any]], None]
Mode = Literal["agent", "winlogbeat"]
MAPPERS: dict[str, tuple[Mapper, Mapper]] = {
    SECURITY: (ref_security.map_security, live_security.map_security),
    OPERATIONAL: (ref_powershell.map_powershell_operational, live_powershell.map_powershell_operational),
    CLASSIC: (ref_powershell.map_powershell_classic, live_powershell.map_powershell_classic),
}


# --------------------------------------------------------------------------- comparison


def differences(ours: Any, ref: Any, path: str = "$") -> list[str]:
    """Where two documents differ, down to key order and value types (empty when identical)."""
    if type(ours) is not type(ref):
        return [f"{path}: {type(ours).__name__} {ours!r} != reference {type(ref).__name__} {ref!r}"]
    if isinstance(ours, dict):
        if list(ours) != list(ref):
            return [f"{path}: keys {list(ours)} != reference {list(ref)}"]
        found: list[str] = []
        for key in ours:
            found += differences(ours[key], ref[key], f"{path}.{key}")
        return found
    if isinstance(ours, list):
        if len(ours) != len(ref):
            return [f"{path}: {ours!r} != reference {ref!r}"]
        found = []
        for i, (a, b) in enumerate(zip(ours, ref, strict=True)):
            found += differences(a, b, f"{path}[{i}]")
        return found
    return [] if ours == ref else [f"{path}: {ours!r} != reference {ref!r}"]


def containers(doc: Any) -> Iterator[int]:
    if isinstance(doc, dict):
        yield id(doc)
        for value in doc.values():
            yield from containers(value)
    elif isinstance(doc, list):
        yield id(doc)
        for value in doc:
            yield from containers(value)


def clone(doc: dict[str, Any]) -> dict[str, Any]:
    """A deep copy (documents hold JSON values only; much faster than ``copy.deepcopy``)."""
    copied: dict[str, Any] = orjson.loads(orjson.dumps(doc))
    return copied


def check(raw: dict[str, Any], label: str, mode: Mode = "agent") -> list[str]:
    """Map ``raw`` with the reference and the live code (mapper alone, then ``to_ecs``)."""
    channel = str(raw.get("winlog", {}).get("channel", "")).lower()
    ref_map, live_map = MAPPERS[channel]
    base = ref_common.to_ecs(clone(raw), mode=mode, channel_mapping=False)
    expected = clone(base)
    ref_map(expected)
    first, second = clone(base), clone(base)
    live_map(first)
    live_map(second)
    problems = differences(first, expected)
    problems += differences(second, expected)
    if set(containers(first)) & set(containers(second)):
        problems.append("two documents share a list or dict")
    # The whole path as vigil runs it (common fields included); key order aside, since the common
    # step is tuned separately.
    whole = sorted_keys(live_common.to_ecs(clone(raw), mode=mode))
    ref_whole = sorted_keys(ref_common.to_ecs(clone(raw), mode=mode))
    problems += [f"to_ecs({mode}): {d}" for d in differences(whole, ref_whole)]
    return [f"{label}: {p}" for p in problems[:5]]


def sorted_keys(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: sorted_keys(doc[k]) for k in sorted(doc)}
    if isinstance(doc, list):
        return [sorted_keys(v) for v in doc]
    return doc


def run_all(cases: list[tuple[str, dict[str, Any]]]) -> None:
    problems: list[str] = []
    for i, (label, raw) in enumerate(cases):
        problems += check(raw, label, "winlogbeat" if i % 2 else "agent")
        if len(problems) > 40:
            break
    assert problems == []


# --------------------------------------------------------------------------- data set records


def need_datasets() -> None:
    if not DATASETS.is_dir():
        pytest.skip(f"the shared data sets are not at hand ({DATASETS})")


def channel_of(raw: dict[str, Any]) -> str:
    return str(raw["winlog"].get("channel", "")).lower()


@functools.cache
def dataset_records() -> tuple[tuple[str, dict[str, Any]], ...]:
    """Every Security/PowerShell record of the data sets, as Winlogbeat-raw documents (read once)."""
    from vigil.sources.evtx import evtx_documents
    from vigil.sources.winlog import nxlog_to_raw

    found: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(DATASETS.glob("mordor-*/*.json")):
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    raw = nxlog_to_raw(json.loads(line))
                    if channel_of(raw) in CHANNELS:
                        found.append((f"{path.name}:{number}", raw))
    # The *_filtered.json files leave out the classic channel; the upstream zips have it.
    for path in sorted(DATASETS.glob("mordor-*/*.zip")):
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                with archive.open(member) as stream:
                    for number, line in enumerate(io.TextIOWrapper(stream, encoding="utf-8"), 1):
                        if '"Windows PowerShell"' in line:
                            raw = nxlog_to_raw(json.loads(line))
                            if channel_of(raw) == CLASSIC:
                                found.append((f"{member}:{number}", raw))
    for path in sorted(DATASETS.rglob("*.evtx")):
        for key, raw in evtx_documents(str(path), path.name, lambda _damage: None):
            if channel_of(raw) in CHANNELS:
                found.append((key.decode("utf-8", "replace"), raw))
    golden = DATASETS / "winlogbeat-golden"
    for path in sorted(golden.glob("security-*.raw-8x.json")):
        found += [(path.name, raw) for raw in json.loads(path.read_text())]
    return tuple(found)


def of_channel(channel: str) -> list[tuple[str, dict[str, Any]]]:
    need_datasets()
    cases = [(label, raw) for label, raw in dataset_records() if channel_of(raw) == channel]
    assert cases, f"no {channel} records found under {DATASETS}"
    return cases


@pytest.mark.parametrize("channel", CHANNELS)
def test_dataset_records_map_exactly_as_before(channel: str) -> None:
    run_all(of_channel(channel))


# Odd values a mutation may put in place of a field's value.
ODD_VALUES: tuple[Any, ...] = (
    None,
    "",
    "-",
    " ",
    "0",
    "0x0",
    "0x10",
    "#1f",
    "010",
    "-1",
    "+5",
    "0x",
    "x1",
    "12",
    3,
    True,
    2.5,
    "%%1833",
    "  %%4417 %%4418  ",
    "%%1537\n\t\t\t\t%%4423",
    "\u00a0",
    "LOCAL",
    "Unknown",
    "::ffff:10.1.2.3",
    "[::ffff:10.1.2.3]:445",
    "fe80::1",
    "S-1-5-18",
    "CORP\\bob",
    "a\\b\\c",
    "bob@corp.local",
    'C:\\x.exe "a b" c',
    "x=y",
    ["a", "b"],
    {"k": "v"},
)


def mutations(raw: dict[str, Any], rng: random.Random, count: int) -> Iterator[dict[str, Any]]:
    data = raw["winlog"].get("event_data")
    keys = list(data) if isinstance(data, dict) else []
    values = [v for v in data.values()] if isinstance(data, dict) else []
    for _ in range(count):
        doc = clone(raw)
        event_data = doc["winlog"].get("event_data")
        if not isinstance(event_data, dict) or not keys:
            yield doc
            continue
        for key in rng.sample(keys, k=min(len(keys), rng.randint(1, 4))):
            action = rng.random()
            if action < 0.3:
                event_data.pop(key, None)
            elif action < 0.7:
                event_data[key] = rng.choice(ODD_VALUES)
            else:
                event_data[key] = rng.choice(values)
        yield doc


@pytest.mark.parametrize("channel", CHANNELS)
def test_mutated_dataset_records_map_exactly_as_before(channel: str) -> None:
    rng = random.Random(f"mutate-{channel}")
    cases = of_channel(channel)
    mutated = [
        (f"{label} (mutation {i})", doc)
        for label, raw in cases
        for i, doc in enumerate(mutations(raw, rng, 1))
    ]
    run_all(mutated)


# --------------------------------------------------------------------------- synthetic documents

# Values of the fields the Security mapping reads, realistic ones first, then odd ones.
SECURITY_FIELDS: dict[str, tuple[Any, ...]] = {
    "LogonType": ("2", "3", "5", "10", "11", "0", " 3"),
    "NewUacValue": ("0x15", "0x210", "0x0", "-", " 0x80 ", "zz"),
    "UserAccountControl": ("%%2080\n\t\t%%2082", "-", "\n", "%%2048"),
    "TicketOptions": ("0x40810010", "0x60810010", "0x0", "0X1", "x"),
    "TicketEncryptionType": ("0x17", "0x12", "0X17", "0xffffffff", "0x5"),
    "Status": ("0x0", "0x6", "0x18", "0xc000006d", "0xc0000064", "0x1b", "0x", "1"),
    "SubStatus": ("0xc000006a", "0x0", "0xc0000072"),
    "ServiceName": ("krbtgt", "PSEXESVC", "WS01$"),
    "ServiceType": ("0x10", "0x20", "0x3"),
    "SubcategoryGuid": ("{0CCE9215-69AE-11D9-BED3-505054503030}", "{0cce9227-69ae-11d9-bed3-505054503030}"),
    "FailureReason": ("%%2313", "%%2304", "oops"),
    "AuditPolicyChanges": ("%%8448, %%8450", "%%8449", "x,,y"),
    "AccessList": ("%%1537\n\t\t\t\t%%1538\n\t\t\t\t", "%%4416 %%4417", "  ", "READ_CONTROL"),
    "AccessMask": ("0x1", "0x100", "0x20019", "%%1537 %%1538", "READ_CONTROL SYNCHRONIZE", "0x", "\n"),
    "Direction": ("%%14592", "%%14593", "x"),
    "LayerName": ("%%14610", "%%14611 ", "y"),
    "TdoType": ("1", "2", "9"),
    "TdoDirection": ("3", "0"),
    "TdoAttributes": ("8", "1024", "5"),
    "AccountName": ("bob", "-"),
    "AccountDomain": ("CORP",),
    "ClientAddress": ("10.0.0.9", "LOCAL", "-", "Unknown", "::ffff:10.0.0.9"),
    "ClientName": ("WS07", "-"),
    "LogonID": ("0x8dcf21",),
    "TargetUserSid": ("S-1-5-21-1-2-3-1106", "S-1-0-0", "-", ""),
    "TargetSid": ("S-1-5-21-1-2-3-512", "-"),
    "TargetUserName": ("bob", "bob@CORP.LOCAL", "WS01$", "-", "", "Domain Admins"),
    "TargetDomainName": ("CORP", "-", "", "DC=corp,DC=local"),
    "MemberName": ("CN=bob,OU=Users,DC=corp,DC=local", "cn=a\\,b,OU=x,DC=c,DC=d", "-", "CN=x"),
    "TargetLogonId": ("0x8dcf21", "0x3e7"),
    "SubjectUserSid": ("S-1-5-18", "S-1-5-21-1-2-3-1105", "S-1-0-0"),
    "SubjectUserName": ("alice", "WS01$", "-", "LOCAL SERVICE"),
    "SubjectDomainName": ("CORP", "NT AUTHORITY", "-"),
    "SubjectLogonId": ("0x3e7", "0x3e7a1", "0x0"),
    "ProcessId": ("0x1c0", "0x0", "448", "0xzz", "-"),
    "ProcessName": ("C:\\Windows\\System32\\lsass.exe", "-", "lsass.exe"),
    "IpAddress": ("10.0.0.5", "::ffff:10.0.0.5", "-", "::1", "127.0.0.1", "fe80::1%12"),
    "IpPort": ("49823", "0", "-", "0x1bb"),
    "WorkstationName": ("WS07", "-", "\\\\WS07"),
    "NewProcessId": ("0x11cc", "0x0", "bad"),
    "NewProcessName": ("C:\\Windows\\System32\\cmd.exe", "cmd.exe", ""),
    "ParentProcessName": ("C:\\Windows\\explorer.exe", ""),
    "CommandLine": (
        'cmd.exe /c "whoami /all"',
        "  net  use \\\\dc01\\c$ ",
        '"C:\\Program Files\\x.exe" --a="b c" d',
        "a\tb\u2003c\u00a0d",
        "",
        'x "unterminated',
    ),
    "PrivilegeList": ("SeSecurityPrivilege\n\t\t\tSeBackupPrivilege", "-", "SeDebugPrivilege", " a  b "),
    "OldTargetUserName": ("old", "", "-"),
    "NewTargetUserName": ("new", "", "-"),
    "OldSd": ("D:(A;;FA;;;BA)", "O:BAG:SYD:(A;;0x1f01ff;;;SY)(D;;GA;;;WD)S:(AU;SA;FA;;;WD)", "x"),
    "NewSd": ("O:BAG:SYD:PAI(A;;FA;;;S-1-5-21-1-2-3-500)", "D:(OA;;CR;x;;AU)"),
    "SidList": ("%{S-1-5-32-544} %{S-1-5-21-1-2-3-512}", "%{S-1-1-0}"),
    "RelativeTargetName": ("dir\\file.txt", "svcctl", "", "noext", "a.b.c"),
    "ShareLocalPath": ("\\??\\C:\\", "C:\\Windows", ""),
    "ShareName": ("\\\\*\\C$", "\\\\*\\IPC$", ""),
    "ObjectName": ("\\REGISTRY\\MACHINE\\SAM", "C:\\x.txt"),
    "HandleId": ("0x3c4",),
    "Application": ("\\device\\harddiskvolume2\\windows\\system32\\svchost.exe",),
}

SECURITY_EVENT_IDS = (
    *sorted(ref_security.CATEGORIZATION),
    "4656",
    "4658",
    "4661",
    "4663",
    "4690",
    "4703",
    "5156",
    "5157",
    "5158",
    "4627",
    "5447",
    "9999",
    "",
)


def spoil(rng: random.Random, data: dict[str, Any]) -> None:
    """Now and then, an odd value (``None``, a number, a list...) in place of a field's value."""
    for key in list(data):
        if rng.random() < 0.08:
            data[key] = rng.choice(ODD_VALUES)


def random_value(rng: random.Random, pool: tuple[Any, ...]) -> Any:
    return rng.choice(pool) if rng.random() < 0.85 else rng.choice(ODD_VALUES)


def synthetic_security(rng: random.Random, eid: str) -> dict[str, Any]:
    fields = rng.sample(sorted(SECURITY_FIELDS), k=rng.randint(0, 24))
    data = {field: random_value(rng, SECURITY_FIELDS[field]) for field in fields}
    winlog: dict[str, Any] = {"channel": rng.choice(("Security", "security")), "event_id": eid}
    if rng.random() < 0.9:
        winlog["event_data"] = data
    elif rng.random() < 0.5:
        winlog["event_data"] = rng.choice(ODD_VALUES)
    provider = rng.choice(
        ("Microsoft-Windows-Security-Auditing", "Microsoft-Windows-Eventlog", None, "Other-Provider")
    )
    if provider is not None:
        winlog["provider_name"] = provider
    if rng.random() < 0.5:
        winlog["keywords"] = rng.choice((["Audit Success"], ["Audit Failure"], "Audit Failure", [], "x"))
    if rng.random() < 0.5:
        winlog["record_id"] = rng.choice((1234, "1234", True))
    if rng.random() < 0.3:
        winlog["event_id"] = int(eid) if eid.isdigit() else eid
    if rng.random() < 0.5:
        winlog["level"] = rng.choice(("information", "", "warning", 3))
    if rng.random() < 0.5:
        winlog["time_created"] = rng.choice(
            ("2024-05-01T10:00:01.1234567Z", "2024-05-01T10:00:01Z", "2024-05-01T12:00:01.5+02:00", "bad", "")
        )
    if eid == "1102" or rng.random() < 0.05:
        winlog["user_data"] = {
            "SubjectUserSid": "S-1-5-21-1-2-3-500",
            "SubjectUserName": rng.choice(("admin", None)),
            "SubjectDomainName": "CORP",
            "SubjectLogonId": "0x1a2b",
        }
    doc: dict[str, Any] = {"@timestamp": "2024-05-01T10:00:01.123Z", "winlog": winlog}
    event: dict[str, Any] = {"kind": "event"}
    if rng.random() < 0.8:
        event["code"] = rng.choice((eid, int(eid) if eid.isdigit() else eid))
    if rng.random() < 0.3:
        event["outcome"] = "unknown"
    doc["event"] = event
    # Fields already in the document before the mapping (as other sources may leave them).
    if rng.random() < 0.1:
        doc["related"] = {"user": rng.choice(("bob", ["bob"], None)), "ip": "10.0.0.5"}
    if rng.random() < 0.1:
        doc["user"] = rng.choice(({"id": "S-1-5-18"}, {"name": "x"}, "notadict"))
    if rng.random() < 0.1:
        doc["process"] = rng.choice(({"name": "x"}, {"executable": 5}, {"parent": "p"}))
    if rng.random() < 0.1:
        doc["source"] = rng.choice(({"ip": "::ffff:1.2.3.4"}, {"ip": 5}, "x"))
    return doc


def test_synthetic_security_documents_map_exactly_as_before() -> None:
    rng = random.Random("security")
    cases = [
        (f"synthetic {eid} #{i}", synthetic_security(rng, eid))
        for eid in SECURITY_EVENT_IDS
        for i in range(60)
    ]
    run_all(cases)


CONTEXT_LINES = (
    "Severity = Informational",
    "Host Name = ConsoleHost",
    "Host Version = 5.1.17763.1",
    "Host ID = 0f32a2f5-6a51-4b35-8f4a-0c7e0b6a7d11",
    "Host Application = powershell.exe -nop -w hidden -c \"IEX 'x'\"",
    "Host Application = C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
    "Engine Version = 5.1.17763.1",
    "Runspace ID = 5e4b0c8e-23f5-4a3e-9b9d-8d1f3a0d5c22",
    "Pipeline ID = 12",
    "Command Name = Get-Item",
    "Command Name = ",
    "Command Type = Cmdlet",
    "Script Name = C:\\Users\\bob\\a.ps1",
    "Script Name = ",
    "Command Path = ",
    "Sequence Number = 33",
    "Sequence Number = x",
    "User = CORP\\bob",
    "User = bob",
    "Connected User = CORP\\eve",
    "Connected User = ",
    "Shell ID = Microsoft.PowerShell",
    "no equals sign",
    "Key With  Spaces = v=w",
)
PAYLOAD_LINES = (
    'CommandInvocation(Get-Item): "Get-Item"',
    'ParameterBinding(Get-Item): name="Path"; value="C:\\"',
    'ParameterBinding(Out-Default): name="InputObject"; value=""',
    "ParameterBinding(x): bad",
    "Context:",
    "plain text",
    "",
    "CommandInvocation(Out-Null):",
)
SCRIPT_BLOCKS = (
    "  Get-Process | Out-Null  ",
    "# SIG # Begin signature block\n# MIIa\n# xyz\n# SIG # End signature block\n",
    "prompt",
    "",
    "\t\n",
)


def synthetic_operational(rng: random.Random, eid: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if eid == "4103" or rng.random() < 0.2:
        lines = rng.sample(CONTEXT_LINES, k=rng.randint(0, 10))
        sep = rng.choice(("\n", "\r\n", "\n\t"))
        data["ContextInfo"] = sep.join(" " * rng.randint(0, 8) + line for line in lines)
        data["Payload"] = "\n".join(rng.choice(PAYLOAD_LINES) for _ in range(rng.randint(0, 4)))
    if eid == "4104" or rng.random() < 0.2:
        data["ScriptBlockText"] = rng.choice(SCRIPT_BLOCKS)
        data["ScriptBlockId"] = rng.choice(("6b1f4a2e-0000-4c1b-9f3e-1a2b3c4d5e6f", ""))
        data["MessageNumber"] = rng.choice(("1", "2", "x", ""))
        data["MessageTotal"] = rng.choice(("1", "3", "0x2"))
        data["Path"] = rng.choice(("C:\\Users\\bob\\a.ps1", "", "a", "C:\\noext", "\\", None))
    for field, pool in (
        ("RunspaceId", ("5e4b0c8e-23f5-4a3e-9b9d-8d1f3a0d5c22",)),
        ("HostApplication", ("powershell.exe -c x", "")),
        ("_MemberUserName", ("bob",)),
        ("_MemberDomain", ("CORP",)),
        ("_MemberAccountType", ("User",)),
        ("User", ("CORP\\bob",)),
    ):
        if rng.random() < 0.1:
            data[field] = random_value(rng, pool)
    for field in ("ScriptName", "HostID", "HostName", "SequenceNumber", "ShellID", "CommandLine", "Path"):
        if rng.random() < 0.05:
            data[field] = rng.choice(ODD_VALUES)
    spoil(rng, data)
    winlog: dict[str, Any] = {"channel": "Microsoft-Windows-PowerShell/Operational", "event_id": eid}
    winlog["provider_name"] = "Microsoft-Windows-PowerShell"
    if rng.random() < 0.9:
        winlog["event_data"] = data
    if rng.random() < 0.5:
        winlog["user"] = {"identifier": rng.choice(("S-1-5-21-1-2-3-1105", ""))}
    if rng.random() < 0.5:
        winlog["record_id"] = rng.choice((42, "42"))
    if rng.random() < 0.5:
        winlog["level"] = rng.choice(("information", "verbose", ""))
    if rng.random() < 0.5:
        winlog["time_created"] = "2024-05-01T10:00:01.1234567Z"
    doc: dict[str, Any] = {"winlog": winlog, "event": {"code": eid, "kind": "event"}}
    if rng.random() < 0.1:
        doc["event"]["type"] = "change"
    if rng.random() < 0.1:
        doc["process"] = {"command_line": "already"}
    return doc


def test_synthetic_operational_documents_map_exactly_as_before() -> None:
    rng = random.Random("operational")
    ids = ("4103", "4104", "4105", "4106", "40961", "53504", "8196", "")
    cases = [(f"synthetic {eid} #{i}", synthetic_operational(rng, eid)) for eid in ids for i in range(150)]
    run_all(cases)


CLASSIC_KEYS = (
    "NewEngineState=Available",
    "PreviousEngineState=None",
    "NewProviderState=Started",
    "ProviderName=Registry",
    "SequenceNumber=15",
    "HostName=ConsoleHost",
    "HostVersion=5.1.17763.1",
    "HostId=0f32a2f5-6a51-4b35-8f4a-0c7e0b6a7d11",
    "HostApplication=powershell.exe -nop -enc SQBFAFgA",
    "HostApplication=C:\\Windows\\system32\\wsmprovhost.exe -Embedding",
    "EngineVersion=5.1.17763.1",
    "RunspaceId=5e4b0c8e-23f5-4a3e-9b9d-8d1f3a0d5c22",
    "PipelineId=3",
    "CommandName=Get-Item",
    "CommandType=Cmdlet",
    "ScriptName=C:\\a.ps1",
    "CommandPath=",
    "CommandLine=Get-Item 'x=y'\n  second line",
    "UserId=CORP\\bob",
    "DetailTotal=1",
    "DetailSequence=1",
    "DetailTotal=",
    "no-equals",
)


def synthetic_classic(rng: random.Random, eid: str) -> dict[str, Any]:
    lines = rng.sample(CLASSIC_KEYS, k=rng.randint(0, 14))
    text = "".join("\t" + line + rng.choice(("\n", "\r\n", "\n\t", "")) for line in lines)
    data: dict[str, Any] = {"param1": rng.choice(("Available", "Get-Item"))}
    if eid == "800":
        data["param2"] = text
        data["param3"] = "\n".join(rng.choice(PAYLOAD_LINES) for _ in range(rng.randint(0, 4))).replace(
            "): ", rng.choice(("): ", "):"))
        )
    else:
        data["param2"] = rng.choice(("Available", ""))
        data["param3"] = text
    for field in (
        "ScriptName",
        "HostId",
        "HostName",
        "SequenceNumber",
        "DetailTotal",
        "UserId",
        "CommandLine",
    ):
        if rng.random() < 0.05:
            data[field] = rng.choice(ODD_VALUES)
    spoil(rng, data)
    winlog: dict[str, Any] = {"channel": "Windows PowerShell", "event_id": rng.choice((eid, int(eid)))}
    winlog["provider_name"] = "PowerShell"
    if rng.random() < 0.9:
        winlog["event_data"] = data
    if rng.random() < 0.5:
        winlog["record_id"] = rng.choice((42, "42"))
    if rng.random() < 0.5:
        winlog["level"] = "information"
    return {"winlog": winlog, "event": {"code": eid, "kind": "event"}}


def test_synthetic_classic_documents_map_exactly_as_before() -> None:
    rng = random.Random("classic")
    cases = [
        (f"synthetic {eid} #{i}", synthetic_classic(rng, eid))
        for eid in ("400", "403", "600", "800")
        for i in range(150)
    ]
    run_all(cases)
