"""The PowerShell mappings against pinned golden output: the ``operational-*`` and ``classic-*`` groups.

The inputs of the former tests/test_windows_differential.py (``Microsoft-Windows-PowerShell/
Operational`` and classic ``Windows PowerShell`` channels), generated the same way: every record of
those channels in ../shared/datasets, one seeded mutation of each, and seeded synthetic documents.
The machinery (hashing, data set records, the golden file and the comparison) is in
``windows_golden.py``, whose docstring says how the golden tests work.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from windows_golden import (
    CLASSIC,
    DOCS,
    ODD_VALUES,
    OPERATIONAL,
    Case,
    Group,
    check_golden,
    mapped_alternately,
    mutations_group,
    random_value,
    records_group,
    spoil,
)

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


def operational_synthetic() -> Iterator[Case]:
    rng = random.Random("operational")
    ids = ("4103", "4104", "4105", "4106", "40961", "53504", "8196", "")
    cases = [
        ((f"synthetic {eid or '(none)'}", f"#{i}"), synthetic_operational(rng, eid))
        for eid in ids
        for i in range(150)
    ]
    return mapped_alternately(cases)


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


def classic_synthetic() -> Iterator[Case]:
    rng = random.Random("classic")
    cases = [
        ((f"synthetic {eid}", f"#{i}"), synthetic_classic(rng, eid))
        for eid in ("400", "403", "600", "800")
        for i in range(150)
    ]
    return mapped_alternately(cases)


# =========================================================================== the golden comparison

GROUPS: dict[str, Group] = {
    "operational-records": (True, records_group(OPERATIONAL), DOCS),
    "classic-records": (True, records_group(CLASSIC), DOCS),
    "operational-mutations": (True, mutations_group(OPERATIONAL), DOCS),
    "classic-mutations": (True, mutations_group(CLASSIC), DOCS),
    "operational-synthetic": (False, operational_synthetic, DOCS),
    "classic-synthetic": (False, classic_synthetic, DOCS),
}


@pytest.mark.parametrize("group", list(GROUPS))
def test_output_matches_the_golden_hashes(group: str) -> None:
    check_golden(group, GROUPS[group])
