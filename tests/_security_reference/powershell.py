"""PowerShell channels, as Elastic Agent's ``windows.powershell*`` pipelines map them.

Two channels, two pipelines (Winlogbeat 8.x's ``powershell`` module does the same):

* ``Microsoft-Windows-PowerShell/Operational`` (:func:`map_powershell_operational`): 4103 module
  logging (``ContextInfo`` is parsed into fields, ``Payload`` into
  ``powershell.command.invocation_details``), 4104 script block logging
  (``powershell.file.script_block_text``/``_id``/``_hash``, ``powershell.sequence``/``total``,
  ``file.*`` from ``Path``), 4105/4106 script block start/stop.
* ``Windows PowerShell`` (:func:`map_powershell_classic`): 400/403 engine state, 600 provider
  state, 800 pipeline execution. The classic provider has no manifest, so Winlogbeat names the
  values ``param1``..``param3``; the ``Key=Value`` lines inside them are parsed into fields.

Both set ``event.category: process`` and ``event.type`` ``start``/``end``/``info`` (as strings, as
the pipelines do), ``process.entity_id``/``command_line``/``title``/``args`` from the host fields,
``user.*`` from the user field, and drop empty event data. Where the pipeline would fail the
whole document (a ``Key=Value`` part without ``=``, a parameter binding it cannot parse), this
mapping skips that part instead.
"""

from __future__ import annotations

import re
from typing import Any

from _security_reference.security_helpers import (
    JAVA_REGEX_DOT,
    JAVA_REGEX_SPACE,
    JsonDict,
    append_unique,
    apply_time_created,
    child,
    es_fingerprint_sha1,
    get_path,
    java_long_decode,
    java_split,
    java_trim,
    pop_path,
    related_user,
    set_path,
)
from _security_reference.util import split_command_line

_NEWLINE = re.compile("\n")
_NEWLINE_TAB = re.compile("\n\t")
_BACKSLASH = re.compile(r"\\")
_JAVA_SPACE = re.compile(JAVA_REGEX_SPACE)
# The classic channel's "\tKey=" lines (Java's [^\s\W] is an ASCII word character).
_CLASSIC_KEY = re.compile(r"\t([A-Za-z0-9_]+)=")
_DOT = JAVA_REGEX_DOT
_DETAIL_OPERATIONAL = re.compile(rf"([^(]+)\(([^)]+)\):{JAVA_REGEX_SPACE}*({_DOT}+)?")
_DETAIL_CLASSIC = re.compile(rf"([^:(]+)\(([^)]+)\):{JAVA_REGEX_SPACE}*({_DOT}+)?")
_PARAMETER_BINDING = re.compile(rf"name=({_DOT}+);{JAVA_REGEX_SPACE}*value=({_DOT}+)")
_SIGNATURE_BEGIN = "# SIG # Begin signature block"
_SIGNATURE_END = "# SIG # End signature block"

_OPERATIONAL_RENAMES: tuple[tuple[str, str], ...] = (
    ("ShellID", "powershell.id"),
    ("EngineVersion", "powershell.engine.version"),
    ("PipelineID", "powershell.pipeline_id"),
    ("RunspaceID", "powershell.runspace_id"),
    ("RunspaceId", "powershell.runspace_id"),
    ("HostVersion", "powershell.process.executable_version"),
    ("CommandLine", "powershell.command.value"),
    ("CommandPath", "powershell.command.path"),
    ("CommandName", "powershell.command.name"),
    ("CommandType", "powershell.command.type"),
    ("ScriptBlockId", "powershell.file.script_block_id"),
    ("ScriptBlockText", "powershell.file.script_block_text"),
)
_CLASSIC_RENAMES: tuple[tuple[str, str], ...] = (
    ("NewEngineState", "powershell.engine.new_state"),
    ("PreviousEngineState", "powershell.engine.previous_state"),
    ("NewProviderState", "powershell.provider.new_state"),
    ("ProviderName", "powershell.provider.name"),
)
_CLASSIC_RENAMES_AFTER_COUNTS: tuple[tuple[str, str], ...] = (
    ("EngineVersion", "powershell.engine.version"),
    ("PipelineId", "powershell.pipeline_id"),
    ("RunspaceId", "powershell.runspace_id"),
    ("HostVersion", "powershell.process.executable_version"),
    ("CommandLine", "powershell.command.value"),
    ("CommandPath", "powershell.command.path"),
    ("CommandName", "powershell.command.name"),
    ("CommandType", "powershell.command.type"),
)
_OPERATIONAL_CLEANUP = (
    "SequenceNumber",
    "User",
    "ConnectedUser",
    "ContextInfo",
    "Severity",
    "MessageTotal",
    "MessageNumber",
    "Payload",
)
_CLASSIC_CLEANUP = ("param1", "param2", "param3", "SequenceNumber", "DetailTotal", "DetailSequence", "UserId")


def map_powershell_operational(doc: dict[str, Any]) -> None:
    """Map a Winlogbeat-raw ``Microsoft-Windows-PowerShell/Operational`` event to ECS in place."""
    winlog = doc.get("winlog")
    if not isinstance(winlog, dict):
        return
    code = _event_id(winlog)
    raw_data = winlog.get("event_data")
    data: JsonDict = raw_data if isinstance(raw_data, dict) else {}
    if code == "4103" and isinstance(data.get("ContextInfo"), str):
        _kv(data, data["ContextInfo"], _NEWLINE, " \n\t")
    # Context info keys have spaces ("Host Application"); the pipeline squeezes every key.
    data = winlog["event_data"] = {_JAVA_SPACE.sub("", str(k)): v for k, v in data.items()}
    _event_fields(doc, winlog, code, start="4105", end="4106")
    _sequence_and_host(doc, data, host_id="HostID")
    identifier = get_path(winlog, "user.identifier")
    if identifier not in (None, ""):
        child(doc, "user")["id"] = identifier
    _split_user(doc, data.get("User"), "user")
    _connected_user(doc, data)
    _member_enrichment(doc, data)
    _convert_long(doc, data, "MessageNumber", "powershell.sequence")
    _convert_long(doc, data, "MessageTotal", "powershell.total")
    for field, target in _OPERATIONAL_RENAMES:
        _rename(doc, data, field, target)
    _script_block(doc)
    if code == "4103":
        _invocation_details(doc, data, "Payload", _DETAIL_OPERATIONAL)
    _process_args(doc)
    _rename(doc, data, "Path", "winlog.event_data.ScriptName")
    _script_file(doc, data)
    _cleanup(doc, winlog, _OPERATIONAL_CLEANUP)


def map_powershell_classic(doc: dict[str, Any]) -> None:
    """Map a Winlogbeat-raw ``Windows PowerShell`` (400/403/600/800) event to ECS in place."""
    winlog = doc.get("winlog")
    if not isinstance(winlog, dict):
        return
    code = _event_id(winlog)
    raw_data = winlog.get("event_data")
    data: JsonDict = raw_data if isinstance(raw_data, dict) else {}
    winlog["event_data"] = data
    if code == "800":
        if isinstance(data.get("param2"), str):
            _kv(data, data["param2"], _NEWLINE_TAB, "\n\t")
    elif isinstance(data.get("param3"), str):
        _classic_fields(data, data["param3"])
    _event_fields(doc, winlog, code, start="400", end="403")
    _sequence_and_host(doc, data, host_id="HostId")
    _split_user(doc, data.get("UserId"), "user")
    _member_enrichment(doc, data)
    for field, target in _CLASSIC_RENAMES:
        _rename(doc, data, field, target)
    if data.get("DetailTotal") != "":
        _convert_long(doc, data, "DetailTotal", "powershell.total")
    if data.get("DetailSequence") != "":
        _convert_long(doc, data, "DetailSequence", "powershell.sequence")
    for field, target in _CLASSIC_RENAMES_AFTER_COUNTS:
        _rename(doc, data, field, target)
    if code == "800":
        _invocation_details(doc, data, "param3", _DETAIL_CLASSIC)
    _process_args(doc)
    _script_file(doc, data)
    _cleanup(doc, winlog, _CLASSIC_CLEANUP)


def _event_id(winlog: JsonDict) -> str:
    value = winlog.get("event_id")
    return "" if value is None else str(value)


def _kv(data: JsonDict, text: str, field_split: re.Pattern[str], trim: str) -> None:
    """The ``kv`` processor into the event data: repeated keys collect their values in a list."""
    for part in java_split(field_split, text):
        if "=" not in part:
            continue  # the processor would fail the document here
        key, value = part.split("=", 1)
        key, value = key.strip(trim), value.strip(trim)
        if key in data:
            append = data[key] if isinstance(data[key], list) else [data[key]]
            append.append(value)
            data[key] = append
        else:
            data[key] = value


def _classic_fields(data: JsonDict, text: str) -> None:
    # Values may span lines and contain '=', so everything between one "\tKey=" and the next is
    # the value (trimmed), as the pipeline's script does.
    matches = list(_CLASSIC_KEY.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        data[match.group(1)] = java_trim(text[match.end() : end])


def _event_fields(doc: JsonDict, winlog: JsonDict, code: str, *, start: str, end: str) -> None:
    level = winlog.get("level")
    if isinstance(level, str) and level:
        set_path(doc, "log.level", level)
    apply_time_created(doc)
    event = child(doc, "event")
    event["kind"] = "event"
    event["code"] = code
    event["category"] = "process"
    if code == start:
        event["type"] = "start"
    elif code == end:
        event["type"] = "end"
    elif event.get("type") is None:
        event["type"] = "info"
    record = winlog.get("record_id")
    if isinstance(record, int) and not isinstance(record, bool):
        winlog["record_id"] = str(record)


def _convert_long(doc: JsonDict, data: JsonDict, field: str, target: str) -> None:
    value = data.get(field)
    if value is None:
        return
    number = java_long_decode(value) if isinstance(value, str) else value
    if isinstance(number, int) and not isinstance(number, bool):
        set_path(doc, target, number)


def _rename(doc: JsonDict, data: JsonDict, field: str, target: str) -> None:
    """The ``rename`` processor as the pipelines use it: skip empty values and taken targets."""
    if field not in data or data[field] == "":
        return
    if target.startswith("winlog.event_data."):
        name = target.rsplit(".", 1)[1]
        if name not in data:
            data[name] = data.pop(field)
        return
    if get_path(doc, target) is None:
        set_path(doc, target, data.pop(field))


def _sequence_and_host(doc: JsonDict, data: JsonDict, *, host_id: str) -> None:
    _convert_long(doc, data, "SequenceNumber", "event.sequence")
    _rename(doc, data, host_id, "process.entity_id")
    _rename(doc, data, "HostApplication", "process.command_line")
    _rename(doc, data, "HostName", "process.title")


def _split_user(doc: JsonDict, value: Any, target: str) -> None:
    """``DOMAIN\\name`` into ``<target>.domain``/``<target>.name`` (only with exactly two parts)."""
    if not isinstance(value, str):
        return
    parts = java_split(_BACKSLASH, value)
    if len(parts) != 2:
        return
    account = child(doc, "user") if target == "user" else child(child(doc, "source"), "user")
    if parts[0]:
        account["domain"] = parts[0]
    if parts[1]:
        account["name"] = parts[1]
    if account.get("name") is not None:
        related_user(doc, account["name"])


def _connected_user(doc: JsonDict, data: JsonDict) -> None:
    # A remote session: the connected (source) account is the user; the local one the destination.
    _split_user(doc, data.get("ConnectedUser"), "source.user")
    source_user = get_path(doc, "source.user")
    if source_user is None:
        return
    user = child(doc, "user")
    for key in ("domain", "name"):
        if key in user and get_path(doc, f"destination.user.{key}") is None:
            set_path(doc, f"destination.user.{key}", user.pop(key))
        if isinstance(source_user, dict) and source_user.get(key) not in (None, ""):
            user[key] = source_user[key]


def _member_enrichment(doc: JsonDict, data: JsonDict) -> None:
    # Fields an Agent-side translate_sid processor may have added.
    for field, key in (("_MemberUserName", "name"), ("_MemberDomain", "domain")):
        if field in data and get_path(doc, f"user.{key}") is None:
            child(doc, "user")[key] = data.pop(field)
    account_type = data.get("_MemberAccountType")
    if account_type is not None:
        append_unique(child(doc, "user"), "roles", account_type)
        del data["_MemberAccountType"]


def _script_block(doc: JsonDict) -> None:
    """Trimmed script block text, its Authenticode signature block and a whitespace-free hash."""
    text = get_path(doc, "powershell.file.script_block_text")
    if not isinstance(text, str):
        return
    text = java_trim(text)
    set_path(doc, "powershell.file.script_block_text", text)
    # A dissect pattern that starts with the begin marker: it only matches a block that starts
    # with the signature (the last part of a long, split script).
    if text.startswith(_SIGNATURE_BEGIN):
        end = text.find(_SIGNATURE_END, len(_SIGNATURE_BEGIN))
        if end >= 0:
            signature = text[len(_SIGNATURE_BEGIN) : end].replace("\n# ", "")
            set_path(doc, "powershell.file.script_block_signature", signature)
    set_path(doc, "powershell.file.script_block_hash", es_fingerprint_sha1(_JAVA_SPACE.sub("", text)))


def _parse_detail(line: str, pattern: re.Pattern[str]) -> JsonDict:
    match = pattern.fullmatch(line)
    if match is None:
        return {"value": line}
    kind, command, value = match.group(1), match.group(2), match.group(3)
    if kind != "ParameterBinding":
        detail: JsonDict = {"type": kind, "related_command": command}
        if value is not None:
            detail["value"] = value
        return detail
    binding = _PARAMETER_BINDING.fullmatch(value) if value is not None else None
    if binding is None:
        # The pipeline's script fails on these lines; keep what there is instead.
        return {"value": value if value is not None else line}
    return {"type": kind, "related_command": command, "name": binding.group(1), "value": binding.group(2)}


def _invocation_details(doc: JsonDict, data: JsonDict, field: str, pattern: re.Pattern[str]) -> None:
    raw = data.get(field)
    if not isinstance(raw, str):
        return
    lines = java_split(_NEWLINE, raw)
    data[field] = lines
    details = [_parse_detail(line, pattern) for line in lines]
    if details:
        set_path(doc, "powershell.command.invocation_details", details)


def _process_args(doc: JsonDict) -> None:
    command_line = get_path(doc, "process.command_line")
    if isinstance(command_line, str) and command_line:
        args = split_command_line(command_line)
        process = child(doc, "process")
        process["args"] = args
        process["args_count"] = len(args)


def _script_file(doc: JsonDict, data: JsonDict) -> None:
    path = data.get("ScriptName")
    if isinstance(path, str) and len(path) > 1:
        slash = path.rfind("\\")
        if slash > -1:
            file = child(doc, "file")
            file["name"] = path[slash + 1 :]
            file["directory"] = path[:slash]
            dot = path.rfind(".")
            if dot > -1:
                file["extension"] = path[dot + 1 :]
    _rename(doc, data, "ScriptName", "file.path")


def _cleanup(doc: JsonDict, winlog: JsonDict, fields: tuple[str, ...]) -> None:
    doc.pop("_temp", None)
    data = winlog.get("event_data")
    if isinstance(data, dict):
        for field in fields:
            data.pop(field, None)
        for key in [k for k, v in data.items() if v is None or v == ""]:
            del data[key]
        if not data:
            del winlog["event_data"]
    pop_path(doc, "winlog.time_created")
    pop_path(doc, "winlog.level")


__all__ = ["map_powershell_classic", "map_powershell_operational"]
