"""System channel to ECS: the pipeline adds nothing event-specific, so neither does vigil."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from vigil.ecs.windows import to_ecs
from vigil.ecs.windows.system import map_system


def system(
    eid: int,
    provider: str,
    *,
    data: dict[str, Any] | None = None,
    user_data: dict[str, Any] | None = None,
    mode: str = "agent",
) -> dict[str, Any]:
    """A Winlogbeat 8.x raw System document, mapped."""
    winlog: dict[str, Any] = {
        "api": "wineventlog",
        "channel": "System",
        "computer_name": "ws01.corp.local",
        "event_id": str(eid),
        "provider_name": provider,
        "record_id": 88,
        "keywords": ["Classic"],
        "opcode": "Info",
        "process": {"pid": 780, "thread": {"id": 4321}},
    }
    if data is not None:
        winlog["event_data"] = data
    if user_data is not None:
        winlog["user_data"] = user_data
    doc = {
        "@timestamp": "2024-05-01T10:00:00.000Z",
        "event": {"code": str(eid), "kind": "event", "provider": provider, "action": "None"},
        "host": {"name": "ws01"},
        "log": {"level": "information"},
        "winlog": winlog,
    }
    return to_ecs(doc, mode=mode)  # type: ignore[arg-type]


SERVICE_INSTALL = {
    "ServiceName": "PSEXESVC",
    "ImagePath": "%SystemRoot%\\PSEXESVC.exe",
    "ServiceType": "user mode service",
    "StartType": "demand start",
    "AccountName": "LocalSystem",
}

CASES = [
    (7045, "Service Control Manager", SERVICE_INSTALL, None),
    (
        7036,
        "Service Control Manager",
        {"param1": "Windows Update", "param2": "running", "Binary": "770075006100750073007600"},
        None,
    ),
    (
        7040,
        "Service Control Manager",
        {
            "param1": "Background Intelligent Transfer Service",
            "param2": "auto start",
            "param3": "demand start",
            "param4": "BITS",
        },
        None,
    ),
    (
        104,
        "Microsoft-Windows-Eventlog",
        None,
        {
            "SubjectUserName": "alice",
            "SubjectDomainName": "CORP",
            "Channel": "System",
            "BackupPath": "",
            "xml_name": "LogFileCleared",
        },
    ),
    (6005, "EventLog", {"Binary": ""}, None),
    (6006, "EventLog", {"Binary": ""}, None),
]


@pytest.mark.parametrize(("eid", "provider", "data", "user_data"), CASES)
def test_system_events_keep_their_winlog_fields(
    eid: int, provider: str, data: dict[str, Any] | None, user_data: dict[str, Any] | None
) -> None:
    doc = system(eid, provider, data=copy.deepcopy(data), user_data=copy.deepcopy(user_data))
    assert doc["event"]["code"] == str(eid) and doc["event"]["module"] == "system"
    assert doc["event"]["dataset"] == "system.system" and doc["data_stream"]["dataset"] == "system.system"
    # No categorisation and no ECS entity fields: the system.system pipeline adds none.
    for absent in ("category", "type", "outcome"):
        assert absent not in doc["event"]
    for absent in ("service", "file", "process", "user", "related"):
        assert absent not in doc
    assert doc["event"]["action"] == "None"  # Winlogbeat's task name stays
    assert doc["winlog"].get("event_data") == data and doc["winlog"].get("user_data") == user_data
    assert doc["winlog"]["record_id"] == 88  # the pipeline has no convert step


def test_7045_fields_rules_read() -> None:
    doc = system(7045, "Service Control Manager", data=dict(SERVICE_INSTALL), mode="winlogbeat")
    assert doc["winlog"]["event_data"]["ImagePath"] == "%SystemRoot%\\PSEXESVC.exe"
    assert doc["winlog"]["event_data"]["ServiceName"] == "PSEXESVC"
    assert doc["agent"]["type"] == "winlogbeat" and "data_stream" not in doc


@pytest.mark.parametrize("doc", [{}, {"winlog": None}, {"winlog": {"event_data": None}}, {"winlog": "x"}])
def test_odd_documents_never_raise(doc: dict[str, Any]) -> None:
    before = copy.deepcopy(doc)
    map_system(doc)
    assert doc == before
