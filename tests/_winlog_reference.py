"""A frozen copy of ``nxlog_to_raw`` (vigil.sources.winlog) as it was before it was optimised.

Kept only for the differential test in test_windows_sysmon_diff.py; the tables and small helpers
it uses (task names, keyword names, GUID and value rendering) are imported from the live module
where they did not change, and copied where they did. Do not optimise or "fix" this file.
"""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from vigil.sources.winlog import (
    AUDIT_FAILURE,
    AUDIT_SUCCESS,
    OPCODES,
    _KEYWORDS,
    _STANDARD_KEYWORDS,
    _TASKS_BY_PROVIDER,
    CANONICAL_CHANNELS,
)

_GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


def task_name(provider: str, task: int) -> str | None:
    """The task's name as Winlogbeat renders it, when known (task 0 is "None" everywhere)."""
    table = _TASKS_BY_PROVIDER.get(provider)
    if table is not None:
        found = table.get(task)
        if found is not None:
            return found
    return "None" if task == 0 else None


def keyword_names(mask: int) -> list[str]:
    """The names of the standard keyword bits set in ``mask`` (publisher bits have no name)."""
    if not mask & _STANDARD_KEYWORDS:
        return []
    return [name for bit, name in _KEYWORDS if mask & bit]


def canonical_channel(channel: str) -> str:
    """The channel's registered spelling when it is a well-known one, else as given."""
    return CANONICAL_CHANNELS.get(channel.lower(), channel)


def guid_text(value: str) -> str:
    """A GUID in Windows' XML rendering (lower case, braces); any other text as it is."""
    n = len(value)
    if n == 38 and value[0] == "{" and value[37] == "}" and _GUID.fullmatch(value, 1, 37):
        return value.lower()
    if n == 36 and value[8] == "-" and _GUID.fullmatch(value):
        return "{" + value.lower() + "}"
    return value


def data_text(value: Any) -> str:
    """An event data value as Winlogbeat writes it: a string, CR LF line ends as LF."""
    if type(value) is str:
        return value.replace("\r\n", "\n") if "\r" in value else value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(data_text(v) for v in value)
    if isinstance(value, dict):
        return data_text(value.get("#text"))
    return str(value)


# Fields NXLog's im_msvistalog writes about the record itself (the rest is EventData/UserData),
# plus what the collectors around it add (Logstash: @timestamp, @version, host, port, tags).
_NXLOG_CORE = frozenset(
    {
        "EventTime",
        "EventReceivedTime",
        "Hostname",
        "Keywords",
        "SeverityValue",
        "Severity",
        "SourceName",
        "ProviderGuid",
        "EventID",
        "Version",
        "Task",
        "OpcodeValue",
        "Opcode",
        "RecordNumber",
        "ActivityID",
        "RelatedActivityID",
        "ExecutionProcessID",
        "ThreadID",
        "Channel",
        "Domain",
        "AccountName",
        "UserID",
        "AccountType",
        "Category",
        "Message",
        "ERROR_EVT_UNRESOLVED",
        "SourceModuleName",
        "SourceModuleType",
        "EventTypeOrignal",
        "EventTypeOriginal",
        "EventXML",
        "@timestamp",
        "@version",
        "host",
        "port",
        "tags",
    }
)
# NXLog's EventType holds the level (or the audit outcome), unless an EventData field of that
# name (Sysmon's "SetValue", "CreatePipe", ...) replaced it.
_NXLOG_EVENT_TYPES: dict[str, str | None] = {
    "AUDIT_SUCCESS": "information",
    "AUDIT_FAILURE": "information",
    "CRITICAL": "critical",
    "ERROR": "error",
    "WARNING": "warning",
    "INFO": "information",
    "VERBOSE": "verbose",
}
_NXLOG_SEVERITIES: dict[str, str] = {
    "CRITICAL": "critical",
    "ERROR": "error",
    "WARNING": "warning",
    "INFO": "information",
    "DEBUG": "verbose",
}
_QUARTER_HOUR = 900


def nxlog_to_raw(doc: dict[str, Any]) -> dict[str, Any]:
    """Rebuild an NXLog ``im_msvistalog`` record in Winlogbeat 8.x's raw shape.

    ``@timestamp`` is the record's creation time in UTC. NXLog writes it as ``EventTime`` in the
    collecting host's local time without a zone; the zone's offset is recovered from the
    collector's own clock pair (``EventReceivedTime``, local, against the pipeline's UTC
    ``@timestamp``), rounded to a quarter hour. Without that pair the pipeline's ``@timestamp``
    stands. (Sysmon events take their time from ``UtcTime`` later, as Elastic's pipelines do.)
    """
    get = doc.get
    channel = canonical_channel(str(get("Channel") or ""))
    provider = str(get("SourceName") or "")
    event_id = str(get("EventID", ""))
    winlog: dict[str, Any] = {"channel": channel, "event_id": event_id}
    if provider:
        winlog["provider_name"] = provider
    guid = get("ProviderGuid")
    if isinstance(guid, str) and guid:
        winlog["provider_guid"] = guid_text(guid)
    record = get("RecordNumber")
    if record:
        winlog["record_id"] = record
    computer = get("Hostname")
    if computer:
        winlog["computer_name"] = computer
    version = get("Version")
    if version:
        winlog["version"] = version

    task = get("Category")
    if not task:
        raw_task = get("Task")
        task = task_name(provider, raw_task) if isinstance(raw_task, int) else None
    if task:
        winlog["task"] = task
    opcode = get("Opcode")
    if not opcode:
        opcode_value = get("OpcodeValue")
        opcode = OPCODES.get(opcode_value) if isinstance(opcode_value, int) else None
    if opcode:
        winlog["opcode"] = opcode
    keywords = get("Keywords")
    mask = 0
    if isinstance(keywords, int):
        mask = keywords & 0xFFFFFFFFFFFFFFFF  # NXLog writes the 64-bit mask as a signed number
        names = keyword_names(mask)
        if names:
            winlog["keywords"] = names
    for key, field in (("ActivityID", "activity_id"), ("RelatedActivityID", "related_activity_id")):
        value = get(key)
        if isinstance(value, str) and value:
            winlog[field] = guid_text(value)

    pid = get("ExecutionProcessID")
    pid_key = "ExecutionProcessID"
    if pid is None and isinstance(get("ProcessID"), int):
        pid, pid_key = get("ProcessID"), "ProcessID"  # older NXLog names the writer's pid so
    process: dict[str, Any] = {}
    if pid:
        process["pid"] = pid
    thread = get("ThreadID")
    if thread:
        process["thread"] = {"id": thread}
    if process:
        winlog["process"] = process
    sid = get("UserID")
    if sid:
        user: dict[str, Any] = {"identifier": sid}
        for key, field in (("Domain", "domain"), ("AccountName", "name"), ("AccountType", "type")):
            value = get(key)
            if value:
                user[field] = value
        winlog["user"] = user

    event_type = get("EventType")
    level = _NXLOG_EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    data: dict[str, str] = {}
    for key, value in doc.items():
        if key in _NXLOG_CORE or key == pid_key:
            continue
        if key == "EventType" and level is not None:
            continue
        text = data_text(value)
        if text:
            data[key] = guid_text(text) if len(text) == 38 else text
    if data:
        winlog["event_data"] = data

    event: dict[str, Any] = {"code": event_id, "kind": "event"}
    if provider:
        event["provider"] = provider
    if task:
        event["action"] = task
    if mask & AUDIT_FAILURE or event_type == "AUDIT_FAILURE":
        event["outcome"] = "failure"
    elif mask & AUDIT_SUCCESS or event_type == "AUDIT_SUCCESS":
        event["outcome"] = "success"
    if level is None:
        severity = get("Severity")
        level = _NXLOG_SEVERITIES.get(severity) if isinstance(severity, str) else None

    raw: dict[str, Any] = {}
    timestamp = _nxlog_time(doc)
    if timestamp is not None:
        raw["@timestamp"] = timestamp
    raw["event"] = event
    if computer:
        raw["host"] = {"name": computer}
    if level:
        raw["log"] = {"level": level}
    message = get("Message")
    if isinstance(message, str) and message:
        raw["message"] = message.replace("\r\n", "\n")
    raw["winlog"] = winlog
    return raw


def _nxlog_time(doc: dict[str, Any]) -> str | None:
    """The record's creation time in UTC, ISO 8601 (see :func:`nxlog_to_raw`)."""
    collected = doc.get("@timestamp")
    event_time = doc.get("EventTime")
    if not isinstance(event_time, str) or not event_time:
        return collected if isinstance(collected, str) else None
    try:
        local = datetime.fromisoformat(event_time)
    except ValueError:
        return collected if isinstance(collected, str) else None
    if local.tzinfo is not None:  # NXLog configured to write ISO 8601 with a zone
        return _iso(local.astimezone(UTC))
    received = doc.get("EventReceivedTime")
    if isinstance(collected, str) and isinstance(received, str):
        try:
            utc = datetime.fromisoformat(collected.replace("Z", "+00:00"))
            received_local = datetime.fromisoformat(received)
        except ValueError:
            return collected
        if utc.tzinfo is None or received_local.tzinfo is not None:
            return collected
        lag = (utc.replace(tzinfo=None) - received_local).total_seconds()
        offset = round(lag / _QUARTER_HOUR) * _QUARTER_HOUR
        return _iso(local + timedelta(seconds=offset))
    return collected if isinstance(collected, str) else None


def _iso(moment: datetime) -> str:
    text = moment.replace(tzinfo=None).isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text + "Z"
