"""Windows event log JSON: NXLog flat lines and Winlogbeat documents, to ECS.

Every Windows source is first brought to the shape Winlogbeat 8.x sends to Elasticsearch before
any ingest pipeline runs (the *raw* shape: ``@timestamp``, ``winlog.*``, ``event.code``,
``event.provider``, ``event.kind``, ``host.name``, ``log.level``, ``message``), then mapped by
:func:`vigil.ecs.windows.to_ecs`. This module holds that first step for JSON sources, and the
pieces the EVTX reader (:mod:`vigil.sources.evtx`) shares:

* **NXLog** ``im_msvistalog`` output as the OTRF/Mordor data sets hold it: one flat object per
  line, EventData fields at the top level next to ``EventID``, ``Channel``, ``SourceName``,
  ``Hostname``, ``RecordNumber``, ``EventTime`` ... (:func:`nxlog_to_raw`).
* **Winlogbeat / Elastic Agent**: 8.x raw documents (``winlog.*`` without ECS categorisation) are
  mapped; 7.x documents (mapped inside the Beat) and Agent documents (``data_stream``) are
  already ECS and stay as they are (:func:`needs_mapping`).

GUIDs: Windows' own XML rendering and Winlogbeat 8.x write GUID values lower case in braces
(``{42f11c3b-ce01-5c8f-0000-0010c73e2a00}``); so does NXLog for event data. Every source here is
normalised to that form (:func:`guid_text`), so ``process.entity_id`` of one process reads the
same whichever way its log was collected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

__all__ = [
    "INPUT_FORMATS",
    "InputFormat",
    "NotWindowsEvent",
    "classify",
    "guid_text",
    "keyword_names",
    "needs_mapping",
    "nxlog_to_raw",
    "windows_mapper",
]

InputFormat = Literal["auto", "ndjson", "evtx", "winlogbeat", "nxlog"]
INPUT_FORMATS: tuple[str, ...] = ("auto", "ndjson", "evtx", "winlogbeat", "nxlog")
EcsMode = Literal["agent", "winlogbeat"]
ECS_MODES: tuple[str, ...] = ("agent", "winlogbeat")


class NotWindowsEvent(ValueError):
    """A document read as a Windows event (``--input-format nxlog``) that is not one."""


# --------------------------------------------------------------------------- system values

# Names of the standard keyword bits, opcodes and levels (winmeta.xml of the Windows SDK), as
# Winlogbeat renders them when the publisher's own metadata has no name for a value.
_KEYWORDS: tuple[tuple[int, str], ...] = (
    (0x1000000000000, "Response Time"),
    (0x4000000000000, "WDI Diag"),
    (0x8000000000000, "SQM"),
    (0x10000000000000, "Audit Failure"),
    (0x20000000000000, "Audit Success"),
    (0x40000000000000, "Correlation Hint"),
    (0x80000000000000, "Classic"),
)
AUDIT_FAILURE = 0x10000000000000
AUDIT_SUCCESS = 0x20000000000000
_STANDARD_KEYWORDS = 0xFF000000000000
OPCODES: dict[int, str] = {
    0: "Info",
    1: "Start",
    2: "Stop",
    3: "DCStart",
    4: "DCStop",
    5: "Extension",
    6: "Reply",
    7: "Resume",
    8: "Suspend",
    9: "Send",
}
# log.level is the lower-cased level name; level 0 ("Log Always") shows as Information.
LEVELS: dict[int, str] = {
    0: "information",
    1: "critical",
    2: "error",
    3: "warning",
    4: "information",
    5: "verbose",
}

# Task names of the two providers detections lean on most, as their manifests name them (what
# Winlogbeat reads from the publisher metadata on a host where the provider is installed, and
# what NXLog writes as `Category`). EVTX files carry only the numbers.
_SECURITY_TASKS: dict[int, str] = {
    12288: "Security State Change",
    12289: "Security System Extension",
    12290: "System Integrity",
    12291: "IPsec Driver",
    12292: "Other System Events",
    12544: "Logon",
    12545: "Logoff",
    12546: "Account Lockout",
    12547: "IPsec Main Mode",
    12548: "Special Logon",
    12549: "IPsec Quick Mode",
    12550: "IPsec Extended Mode",
    12551: "Other Logon/Logoff Events",
    12552: "Network Policy Server",
    12553: "User / Device Claims",
    12554: "Group Membership",
    12800: "File System",
    12801: "Registry",
    12802: "Kernel Object",
    12803: "SAM",
    12804: "Other Object Access Events",
    12805: "Certification Services",
    12806: "Application Generated",
    12807: "Handle Manipulation",
    12808: "File Share",
    12809: "Filtering Platform Packet Drop",
    12810: "Filtering Platform Connection",
    12811: "Detailed File Share",
    12812: "Removable Storage",
    12813: "Central Policy Staging",
    13056: "Sensitive Privilege Use",
    13057: "Non Sensitive Privilege Use",
    13058: "Other Privilege Use Events",
    13312: "Process Creation",
    13313: "Process Termination",
    13314: "DPAPI Activity",
    13315: "RPC Events",
    13316: "Plug and Play Events",
    13317: "Token Right Adjusted Events",
    13568: "Audit Policy Change",
    13569: "Authentication Policy Change",
    13570: "Authorization Policy Change",
    13571: "MPSSVC Rule-Level Policy Change",
    13572: "Filtering Platform Policy Change",
    13573: "Other Policy Change Events",
    13824: "User Account Management",
    13825: "Computer Account Management",
    13826: "Security Group Management",
    13827: "Distribution Group Management",
    13828: "Application Group Management",
    13829: "Other Account Management Events",
    14080: "Directory Service Access",
    14081: "Directory Service Changes",
    14082: "Directory Service Replication",
    14083: "Detailed Directory Service Replication",
    14336: "Credential Validation",
    14337: "Kerberos Service Ticket Operations",
    14338: "Other Account Logon Events",
    14339: "Kerberos Authentication Service",
}
_SYSMON_TASKS: dict[int, str] = {
    1: "Process Create (rule: ProcessCreate)",
    2: "File creation time changed (rule: FileCreateTime)",
    3: "Network connection detected (rule: NetworkConnect)",
    4: "Sysmon service state changed",
    5: "Process terminated (rule: ProcessTerminate)",
    6: "Driver loaded (rule: DriverLoad)",
    7: "Image loaded (rule: ImageLoad)",
    8: "CreateRemoteThread detected (rule: CreateRemoteThread)",
    9: "RawAccessRead detected (rule: RawAccessRead)",
    10: "Process accessed (rule: ProcessAccess)",
    11: "File created (rule: FileCreate)",
    12: "Registry object added or deleted (rule: RegistryEvent)",
    13: "Registry value set (rule: RegistryEvent)",
    14: "Registry object renamed (rule: RegistryEvent)",
    15: "File stream created (rule: FileCreateStreamHash)",
    16: "Sysmon config state changed",
    17: "Pipe Created (rule: PipeEvent)",
    18: "Pipe Connected (rule: PipeEvent)",
    19: "WmiEventFilter activity detected (rule: WmiEvent)",
    20: "WmiEventConsumer activity detected (rule: WmiEvent)",
    21: "WmiEventConsumerToFilter activity detected (rule: WmiEvent)",
    22: "Dns query (rule: DnsQuery)",
    23: "File Delete archived (rule: FileDelete)",
    24: "Clipboard changed (rule: ClipboardChange)",
    25: "Process Tampering (rule: ProcessTampering)",
    26: "File Delete logged (rule: FileDeleteDetected)",
    27: "File Block Executable (rule: FileBlockExecutable)",
    28: "File Block Shredding (rule: FileBlockShredding)",
    29: "File Executable Detected (rule: FileExecutableDetected)",
    255: "Error",
}
_TASKS_BY_PROVIDER: dict[str, dict[int, str]] = {
    "Microsoft-Windows-Security-Auditing": _SECURITY_TASKS,
    "Microsoft-Windows-Sysmon": _SYSMON_TASKS,
}


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


# Channels whose names collectors sometimes lower-case (NXLog's second Security path writes
# "security"); Winlogbeat writes the channel's registered name.
CANONICAL_CHANNELS: dict[str, str] = {
    name.lower(): name
    for name in (
        "Security",
        "System",
        "Application",
        "Microsoft-Windows-Sysmon/Operational",
        "Microsoft-Windows-PowerShell/Operational",
        "Windows PowerShell",
        "ForwardedEvents",
    )
}


def canonical_channel(channel: str) -> str:
    """The channel's registered spelling when it is a well-known one, else as given."""
    return CANONICAL_CHANNELS.get(channel.lower(), channel)


# --------------------------------------------------------------------------- GUIDs

_GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


def guid_text(value: str) -> str:
    """A GUID in Windows' XML rendering (lower case, braces); any other text as it is."""
    n = len(value)
    if n == 38 and value[0] == "{" and value[37] == "}" and _GUID.fullmatch(value, 1, 37):
        return value.lower()
    if n == 36 and value[8] == "-" and _GUID.fullmatch(value):
        return "{" + value.lower() + "}"
    return value


def evtx_value_guid(value: str) -> str:
    """:func:`guid_text` for an event data value from the Rust ``evtx`` parser.

    That parser prints GUID-typed values upper case without braces, while a *string* holding a
    GUID (PowerShell's ``ScriptBlockId``) comes out as written, usually lower case, and Windows
    shows it without braces too. So only braced GUIDs and bare ones without lower-case letters
    (the parser's GUID form) are rewritten.
    """
    n = len(value)
    if n == 38:
        return guid_text(value)
    if n == 36 and value[8] == "-" and value == value.upper() and _GUID.fullmatch(value):
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


# --------------------------------------------------------------------------- Winlogbeat


def needs_mapping(doc: dict[str, Any]) -> bool:
    """True for a Winlogbeat 8.x raw document: ``winlog`` without ECS categorisation.

    Winlogbeat 7.x documents carry ``event.category`` (the Beat mapped them) and Agent documents
    carry ``data_stream`` (an ingest pipeline mapped them): those are ECS already.
    """
    if type(doc.get("winlog")) is not dict or "data_stream" in doc or "event.category" in doc:
        return False
    event = doc.get("event")
    return not (type(event) is dict and "category" in event)


def is_nxlog(doc: dict[str, Any]) -> bool:
    """True for an NXLog ``im_msvistalog`` record: ``EventID`` plus channel or source name at
    the top level."""
    return "EventID" in doc and ("Channel" in doc or "SourceName" in doc) and "winlog" not in doc


def classify(doc: Any) -> str:
    """The input format a decoded document belongs to: ``nxlog``, ``winlogbeat`` (8.x raw, to
    be mapped) or ``ndjson`` (anything else, read as it is)."""
    if type(doc) is not dict:
        return "ndjson"
    source = doc.get("_source")
    if type(source) is dict:
        doc = source
    if is_nxlog(doc):
        return "nxlog"
    if needs_mapping(doc):
        return "winlogbeat"
    return "ndjson"


def windows_mapper(
    input_format: str, mode: EcsMode, agent_version: str | None = None
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A function that maps one decoded Windows document to ECS, in place where it can.

    NXLog records are rebuilt in the raw shape first; Winlogbeat 8.x raw documents (also as the
    ``_source`` of an export) go to :func:`~vigil.ecs.windows.to_ecs` as they are; documents
    that are ECS already are returned untouched. With ``input_format="nxlog"`` a document that
    is neither raises :class:`NotWindowsEvent`.
    """
    from vigil.ecs.windows import DEFAULT_AGENT_VERSION, to_ecs

    version = agent_version or DEFAULT_AGENT_VERSION
    strict_nxlog = input_format == "nxlog"

    def map_doc(doc: dict[str, Any]) -> dict[str, Any]:
        source = doc.get("_source")
        target = source if type(source) is dict else doc
        if is_nxlog(target):
            mapped = to_ecs(nxlog_to_raw(target), mode=mode, agent_version=version)
            if target is doc:
                return mapped
            doc["_source"] = mapped
            return doc
        if needs_mapping(target):
            to_ecs(target, mode=mode, agent_version=version)
        elif strict_nxlog:
            raise NotWindowsEvent("not an NXLog Windows event record (no EventID and Channel)")
        return doc

    return map_doc


# --------------------------------------------------------------------------- NXLog

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
# What the event data loop skips: the core fields, the writer's pid under its older name
# ("ProcessID"), and EventType when it holds the level: [older pid name, EventType is the level].
_NXLOG_SKIP: dict[tuple[bool, bool], frozenset[str]] = {
    (older_pid, level): _NXLOG_CORE
    | {"ProcessID" if older_pid else "ExecutionProcessID"}
    | ({"EventType"} if level else set())
    for older_pid in (False, True)
    for level in (False, True)
}
# Values that recur in every record (GUIDs, keyword masks), worked out once each; bounded.
_CACHE_LIMIT = 4096
_guid_cache: dict[str, str] = {}
_keyword_cache: dict[int, tuple[str, ...]] = {}
_time_cache: dict[tuple[str, int], str] = {}
_offsets: dict[int, timedelta] = {}


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


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
        winlog["provider_guid"] = _guid_cache.get(guid) or _remember(_guid_cache, guid, guid_text(guid))
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
        names = _keyword_cache.get(mask)
        if names is None:
            names = _remember(_keyword_cache, mask, tuple(keyword_names(mask)))
        if names:
            winlog["keywords"] = list(names)
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
    skip = _NXLOG_SKIP[pid_key == "ProcessID", level is not None]
    guids = _guid_cache
    for key, value in doc.items():
        if key in skip:
            continue
        if type(value) is str:  # nearly always: data_text inlined
            if not value:
                continue
            if "\r" in value:
                value = value.replace("\r\n", "\n")
            if len(value) == 38:
                value = guids.get(value) or _remember(guids, value, guid_text(value))
            data[key] = value
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
            if collected[-1:] == "Z" and collected.count("Z") == 1 and len(collected) > 11:
                # The usual "...T...Z": the naive time is the UTC time (an offset before the Z
                # makes no valid time either way; a date alone goes the long way).
                utc = datetime.fromisoformat(collected[:-1])
                if utc.tzinfo is not None:
                    return collected
            else:
                utc = datetime.fromisoformat(collected.replace("Z", "+00:00"))
                if utc.tzinfo is None:
                    return collected
                utc = utc.replace(tzinfo=None)
            received_local = datetime.fromisoformat(received)
        except ValueError:
            return collected
        if received_local.tzinfo is not None:
            return collected
        lag = (utc - received_local).total_seconds()
        offset = round(lag / _QUARTER_HOUR) * _QUARTER_HOUR
        # Records come in bursts within one second (EventTime has no fraction): cached.
        key = (event_time, offset)
        text = _time_cache.get(key)
        if text is None:
            delta = _offsets.get(offset)
            if delta is None:
                delta = _remember(_offsets, offset, timedelta(seconds=offset))
            text = _remember(_time_cache, key, _iso(local + delta))
        return text
    return collected if isinstance(collected, str) else None


def _iso(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.replace(tzinfo=None)
    text = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text + "Z"
