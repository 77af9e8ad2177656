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

from vigil.ecs.windows.security_helpers import (
    JAVA_REGEX_DOT,
    JAVA_REGEX_SPACE,
    JsonDict,
    append_unique,
    apply_time_created,
    child,
    es_fingerprint_sha1,
    java_long_decode,
    java_trim,
    related_user,
)
from vigil.ecs.windows.util import split_command_line

# Java's regex \s: what the pipelines squeeze out of keys and of the script block before hashing.
_JAVA_SPACE_CHARS = " \t\n\x0b\f\r"
_SQUEEZE = str.maketrans("", "", _JAVA_SPACE_CHARS)
# The classic channel's "\tKey=" lines (Java's [^\s\W] is an ASCII word character).
_CLASSIC_KEY = re.compile(r"\t([A-Za-z0-9_]+)=")
_DOT = JAVA_REGEX_DOT
_DETAIL_OPERATIONAL = re.compile(rf"([^(]+)\(([^)]+)\):{JAVA_REGEX_SPACE}*({_DOT}+)?")
_DETAIL_CLASSIC = re.compile(rf"([^:(]+)\(([^)]+)\):{JAVA_REGEX_SPACE}*({_DOT}+)?")
_PARAMETER_BINDING = re.compile(rf"name=({_DOT}+);{JAVA_REGEX_SPACE}*value=({_DOT}+)")
_SIGNATURE_BEGIN = "# SIG # Begin signature block"
_SIGNATURE_END = "# SIG # End signature block"

Move = tuple[str, tuple[str, ...], str]


def _moves(pairs: tuple[tuple[str, str], ...]) -> tuple[Move, ...]:
    # (event data field, parent keys of the target, target key), split once here.
    moves = []
    for field, target in pairs:
        *parents, leaf = target.split(".")
        moves.append((field, tuple(parents), leaf))
    return tuple(moves)


_OPERATIONAL_RENAMES = _moves(
    (
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
)
_CLASSIC_RENAMES = _moves(
    (
        ("NewEngineState", "powershell.engine.new_state"),
        ("PreviousEngineState", "powershell.engine.previous_state"),
        ("NewProviderState", "powershell.provider.new_state"),
        ("ProviderName", "powershell.provider.name"),
    )
)
_CLASSIC_RENAMES_AFTER_COUNTS = _moves(
    (
        ("EngineVersion", "powershell.engine.version"),
        ("PipelineId", "powershell.pipeline_id"),
        ("RunspaceId", "powershell.runspace_id"),
        ("HostVersion", "powershell.process.executable_version"),
        ("CommandLine", "powershell.command.value"),
        ("CommandPath", "powershell.command.path"),
        ("CommandName", "powershell.command.name"),
        ("CommandType", "powershell.command.type"),
    )
)
_SCRIPT_PATH = _moves((("ScriptName", "file.path"),))
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
_MEMBER_FIELDS = ("_MemberUserName", "_MemberDomain", "_MemberAccountType")

# Context lines, invocation detail lines, squeezed keys and script block hashes recur from event to
# event: each is worked out once. The caches hold immutable values (or templates that are copied)
# and are emptied when full; each takes texts up to a length only (a longer one is worked out each
# time), so memory stays bounded whatever the input. Hashing a long text (a base64 -enc command
# line) for a lookup would cost about as much as working it out anyway.
_CACHE_CAP = 4096
_CACHED_LINE_MAX_CHARS = 512
# Whole payloads and script blocks: fewer and longer.
_BLOCK_CACHE_CAP = 1024
_CACHED_BLOCK_MAX_CHARS = 4096
_UNSEEN: Any = object()


def _remember(cache: dict[Any, Any], key: Any, value: Any, cap: int = _CACHE_CAP) -> Any:
    if len(cache) >= cap:
        cache.clear()
    cache[key] = value
    return value


class _SqueezedKeys(dict[Any, str]):
    """Event data key -> the key without Java whitespace (``cache[key]``, worked out when missing)."""

    def __missing__(self, key: Any) -> str:
        name = str(key).translate(_SQUEEZE)
        if type(key) is str and len(key) <= _CACHED_LINE_MAX_CHARS:
            _remember(self, key, name)
        return name


class _KvParts(dict[str, tuple[str, str] | None]):
    """One ``kv`` part -> ``(key, value)``, both trimmed, or ``None`` for a part without ``=``."""

    def __init__(self, trim: str):
        super().__init__()
        self.trim = trim


def _kv_pair(part: str, trim: str) -> tuple[str, str] | None:
    if "=" not in part:
        return None
    key, value = part.split("=", 1)
    return key.strip(trim), value.strip(trim)


_squeezed_keys = _SqueezedKeys()
_context_parts = _KvParts(" \n\t")
_classic_parts = _KvParts("\n\t")
# Invocation detail templates, per pattern: of whole payloads, and of single lines.
_payloads: dict[re.Pattern[str], dict[str, tuple[JsonDict, ...]]] = {
    _DETAIL_OPERATIONAL: {},
    _DETAIL_CLASSIC: {},
}
_detail_lines: dict[re.Pattern[str], dict[str, JsonDict]] = {_DETAIL_OPERATIONAL: {}, _DETAIL_CLASSIC: {}}
_script_hashes: dict[str, str] = {}


def map_powershell_operational(doc: dict[str, Any]) -> None:
    """Map a Winlogbeat-raw ``Microsoft-Windows-PowerShell/Operational`` event to ECS in place."""
    winlog = doc.get("winlog")
    if not isinstance(winlog, dict):
        return
    event_id = winlog.get("event_id")
    code = "" if event_id is None else str(event_id)
    raw_data = winlog.get("event_data")
    data: JsonDict = raw_data if isinstance(raw_data, dict) else {}
    if code == "4103":
        context = data.get("ContextInfo")
        if isinstance(context, str):
            _kv(data, context, "\n", _context_parts)
    # Context info keys have spaces ("Host Application"); the pipeline squeezes every key.
    data = winlog["event_data"] = _squeeze_keys(data)
    _event_fields(doc, winlog, code, "4105", "4106")
    _sequence_and_host(doc, data, "HostID")
    user_info = winlog.get("user")
    if isinstance(user_info, dict):
        identifier = user_info.get("identifier")
        if identifier is not None and identifier != "":
            child(doc, "user")["id"] = identifier
    _split_user(doc, data.get("User"), "user")
    if "ConnectedUser" in data or "source" in doc:
        _connected_user(doc, data)
    if "_MemberUserName" in data or "_MemberDomain" in data or "_MemberAccountType" in data:
        _member_enrichment(doc, data)
    if "MessageNumber" in data:
        _convert_long(doc, data, "MessageNumber", "powershell", "sequence")
    if "MessageTotal" in data:
        _convert_long(doc, data, "MessageTotal", "powershell", "total")
    _rename_all(doc, data, _OPERATIONAL_RENAMES)
    powershell = doc.get("powershell")
    if isinstance(powershell, dict):
        _script_block(powershell)
    if code == "4103":
        _invocation_details(doc, data, "Payload", _DETAIL_OPERATIONAL)
    _process_args(doc)
    if "Path" in data and data["Path"] != "" and "ScriptName" not in data:
        data["ScriptName"] = data.pop("Path")
    _script_file(doc, data)
    _cleanup(doc, winlog, data, _OPERATIONAL_CLEANUP)


def map_powershell_classic(doc: dict[str, Any]) -> None:
    """Map a Winlogbeat-raw ``Windows PowerShell`` (400/403/600/800) event to ECS in place."""
    winlog = doc.get("winlog")
    if not isinstance(winlog, dict):
        return
    event_id = winlog.get("event_id")
    code = "" if event_id is None else str(event_id)
    raw_data = winlog.get("event_data")
    data: JsonDict = raw_data if isinstance(raw_data, dict) else {}
    winlog["event_data"] = data
    if code == "800":
        param2 = data.get("param2")
        if isinstance(param2, str):
            _kv(data, param2, "\n\t", _classic_parts)
    else:
        param3 = data.get("param3")
        if isinstance(param3, str):
            _classic_fields(data, param3)
    _event_fields(doc, winlog, code, "400", "403")
    _sequence_and_host(doc, data, "HostId")
    _split_user(doc, data.get("UserId"), "user")
    if "_MemberUserName" in data or "_MemberDomain" in data or "_MemberAccountType" in data:
        _member_enrichment(doc, data)
    _rename_all(doc, data, _CLASSIC_RENAMES)
    if data.get("DetailTotal") != "":
        _convert_long(doc, data, "DetailTotal", "powershell", "total")
    if data.get("DetailSequence") != "":
        _convert_long(doc, data, "DetailSequence", "powershell", "sequence")
    _rename_all(doc, data, _CLASSIC_RENAMES_AFTER_COUNTS)
    if code == "800":
        _invocation_details(doc, data, "param3", _DETAIL_CLASSIC)
    _process_args(doc)
    _script_file(doc, data)
    _cleanup(doc, winlog, data, _CLASSIC_CLEANUP)


def _squeeze_keys(data: JsonDict) -> JsonDict:
    """A copy of ``data`` with Java whitespace removed from every key (a later duplicate wins)."""
    return dict(zip(map(_squeezed_keys.__getitem__, data), data.values(), strict=True))


def _lines(text: str, separator: str) -> list[str]:
    """``String.split`` on a literal separator: trailing empty parts dropped, ``[text]`` if absent."""
    if separator not in text:
        return [text]
    parts = text.split(separator)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _kv(data: JsonDict, text: str, field_split: str, parts: _KvParts) -> None:
    """The ``kv`` processor into the event data: repeated keys collect their values in a list.

    (``String.split`` drops trailing empty parts, but an empty part has no ``=`` and is skipped
    anyway, so a plain ``str.split`` gives the same fields.) A part without ``=`` is skipped too;
    the processor would fail the whole document there.
    """
    trim = parts.trim
    for part in text.split(field_split):
        if len(part) > _CACHED_LINE_MAX_CHARS:  # (not hashed for a lookup, see above)
            pair = _kv_pair(part, trim)
        else:
            pair = parts.get(part, _UNSEEN)
            if pair is _UNSEEN:
                pair = _kv_pair(part, trim)
                if len(parts) >= _CACHE_CAP:
                    parts.clear()
                parts[part] = pair
        if pair is not None:
            key, value = pair
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


def _event_fields(doc: JsonDict, winlog: JsonDict, code: str, start: str, end: str) -> None:
    level = winlog.get("level")
    if isinstance(level, str) and level:
        child(doc, "log")["level"] = level
    if "time_created" in winlog:
        apply_time_created(doc)
    event = doc.get("event")
    if not isinstance(event, dict):
        event = doc["event"] = {}
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


def _convert_long(doc: JsonDict, data: JsonDict, field: str, parent: str, key: str) -> None:
    value = data.get(field)
    if value is None:
        return
    number = java_long_decode(value) if isinstance(value, str) else value
    if isinstance(number, int) and not isinstance(number, bool):
        child(doc, parent)[key] = number


def _rename_all(doc: JsonDict, data: JsonDict, moves: tuple[Move, ...]) -> None:
    """The ``rename`` processor as the pipelines use it, for each move in turn: skip empty values
    and taken targets (a target is taken when its value is not null). Missing objects on the way
    are created, and a non-object value on the way is replaced by one."""
    for field, parents, leaf in moves:
        if field not in data:
            continue
        value = data[field]
        if value == "":
            continue
        if len(parents) == 1:
            node = doc.get(parents[0])
            if isinstance(node, dict):
                if node.get(leaf) is not None:
                    continue
            else:
                node = doc[parents[0]] = {}
        elif len(parents) == 2:
            top = doc.get(parents[0])
            if isinstance(top, dict):
                node = top.get(parents[1])
                if isinstance(node, dict):
                    if node.get(leaf) is not None:
                        continue
                else:
                    node = top[parents[1]] = {}
            else:
                top = doc[parents[0]] = {}
                node = top[parents[1]] = {}
        else:
            found: Any = doc
            for key in parents:
                found = found.get(key)
                if not isinstance(found, dict):
                    break
            else:
                if found.get(leaf) is not None:
                    continue
            node = doc
            for key in parents:
                node = child(node, key)
        del data[field]
        node[leaf] = value


def _sequence_and_host(doc: JsonDict, data: JsonDict, host_id: str) -> None:
    if "SequenceNumber" in data:
        _convert_long(doc, data, "SequenceNumber", "event", "sequence")
    for field, leaf in ((host_id, "entity_id"), ("HostApplication", "command_line"), ("HostName", "title")):
        if field in data and data[field] != "":
            process = doc.get("process")
            if not isinstance(process, dict):
                process = doc["process"] = {}
            if process.get(leaf) is None:
                process[leaf] = data.pop(field)


def _split_user(doc: JsonDict, value: Any, target: str) -> None:
    """``DOMAIN\\name`` into ``<target>.domain``/``<target>.name`` (only with exactly two parts)."""
    if not isinstance(value, str):
        return
    parts = _lines(value, "\\")
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
    source = doc.get("source")
    source_user = source.get("user") if isinstance(source, dict) else None
    if source_user is None:
        return
    user = child(doc, "user")
    for key in ("domain", "name"):
        if key in user:
            destination = doc.get("destination")
            account = destination.get("user") if isinstance(destination, dict) else None
            if not isinstance(account, dict) or account.get(key) is None:
                child(child(doc, "destination"), "user")[key] = user.pop(key)
        if isinstance(source_user, dict) and source_user.get(key) not in (None, ""):
            user[key] = source_user[key]


def _member_enrichment(doc: JsonDict, data: JsonDict) -> None:
    # Fields an Agent-side translate_sid processor may have added.
    for field, key in (("_MemberUserName", "name"), ("_MemberDomain", "domain")):
        if field in data:
            user = doc.get("user")
            if not isinstance(user, dict) or user.get(key) is None:
                child(doc, "user")[key] = data.pop(field)
    account_type = data.get("_MemberAccountType")
    if account_type is not None:
        append_unique(child(doc, "user"), "roles", account_type)
        del data["_MemberAccountType"]


def _script_block(powershell: JsonDict) -> None:
    """Trimmed script block text, its Authenticode signature block and a whitespace-free hash."""
    file = powershell.get("file")
    if not isinstance(file, dict):
        return
    text = file.get("script_block_text")
    if not isinstance(text, str):
        return
    text = file["script_block_text"] = java_trim(text)
    # A dissect pattern that starts with the begin marker: it only matches a block that starts
    # with the signature (the last part of a long, split script).
    if text.startswith(_SIGNATURE_BEGIN):
        end = text.find(_SIGNATURE_END, len(_SIGNATURE_BEGIN))
        if end >= 0:
            file["script_block_signature"] = text[len(_SIGNATURE_BEGIN) : end].replace("\n# ", "")
    found = _script_hashes.get(text)
    if found is None:
        found = es_fingerprint_sha1(text.translate(_SQUEEZE))
        if len(text) <= _CACHED_BLOCK_MAX_CHARS:
            _remember(_script_hashes, text, found, _BLOCK_CACHE_CAP)
    file["script_block_hash"] = found


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
    # The pipeline also replaces the field with its lines, but the cleanup drops it right after.
    raw = data.get(field)
    if not isinstance(raw, str):
        return
    payloads = _payloads[pattern]
    templates = payloads.get(raw)
    if templates is None:
        lines = _detail_lines[pattern]
        parsed = []
        for line in _lines(raw, "\n"):
            detail = lines.get(line)
            if detail is None:
                detail = _parse_detail(line, pattern)
                if len(line) <= _CACHED_LINE_MAX_CHARS:
                    _remember(lines, line, detail)
            parsed.append(detail)
        templates = tuple(parsed)
        if len(raw) <= _CACHED_BLOCK_MAX_CHARS:
            _remember(payloads, raw, templates, _BLOCK_CACHE_CAP)
    if templates:
        powershell = child(doc, "powershell")
        child(powershell, "command")["invocation_details"] = list(map(dict.copy, templates))


def _process_args(doc: JsonDict) -> None:
    process = doc.get("process")
    if not isinstance(process, dict):
        return
    command_line = process.get("command_line")
    if isinstance(command_line, str) and command_line:
        args = split_command_line(command_line)
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
    if "ScriptName" in data:
        _rename_all(doc, data, _SCRIPT_PATH)


def _cleanup(doc: JsonDict, winlog: JsonDict, data: JsonDict, fields: tuple[str, ...]) -> None:
    doc.pop("_temp", None)
    for field in fields:
        if field in data:
            del data[field]
    values = data.values()
    if None in values or "" in values:  # (a C-level check first: most events have no empty value)
        for key in [k for k, v in data.items() if v is None or v == ""]:
            del data[key]
    if not data:
        del winlog["event_data"]
    winlog.pop("time_created", None)
    winlog.pop("level", None)


__all__ = ["map_powershell_classic", "map_powershell_operational"]
