"""Tables and pipeline steps shared by the fast Sysmon mapping and its generic fallback.

:mod:`vigil.ecs.windows.sysmon` maps the usual document shape with straight-line code;
:mod:`vigil.ecs.windows.sysmon_generic` replays the pipeline processor by processor for unusual
shapes. Both use what is here: the event table, the registry and ``Hashes`` parsing, and the
steps that are rare enough to run through the generic path helpers in either case (DNS answers,
``translate_sid`` user fields, the failure marking).
"""

from __future__ import annotations

import re
from typing import Any

from vigil.ecs.windows import sysmon_dns as dns
from vigil.ecs.windows.sysmon_ingest import (
    PipelineFailure,
    append,
    get,
    java_hashmap_order,
    java_str,
    put,
    remove,
    rename,
    template,
)

# The ecs.version each pipeline stamps: Agent's sysmon_operational pipeline sets 8.0.0, and the
# newest Winlogbeat test goldens show 8.17.0 (both overwrite whatever the shipper sent).
ECS_VERSION_AGENT = "8.0.0"
ECS_VERSION_WINLOGBEAT = "8.17.0"
ZERO_GUID = "{00000000-0000-0000-0000-000000000000}"
ED = "winlog.event_data"


def _ev(
    category: list[str] | None, type_: list[str], action: str, outcome: list[str] | None = None
) -> dict[str, Any]:
    fields: dict[str, Any] = {"type": type_, "action": action}
    if category is not None:
        fields["category"] = category
    if outcome is not None:
        fields["outcome"] = outcome
    return fields


# event.code -> the event.* fields the pipeline sets. EID 24 (clipboard) has no category and EID
# 255 (Sysmon error) no type; 27 and 255 carry the outcome as a one-element list, as stored.
EVENTS: dict[str, dict[str, Any]] = {
    "1": _ev(["process"], ["start"], "Process creation"),
    "2": _ev(["file"], ["change"], "A process changed a file creation time"),
    "3": _ev(["network"], ["start", "connection", "protocol"], "Network connection"),
    "4": _ev(["process"], ["change"], "Sysmon service state changed"),
    "5": _ev(["process"], ["end"], "Process terminated"),
    "6": _ev(["driver"], ["start"], "Driver loaded"),
    "7": _ev(["process"], ["change"], "Image loaded"),
    "8": _ev(["process"], ["change"], "CreateRemoteThread"),
    "9": _ev(["process"], ["access"], "RawAccessRead"),
    "10": _ev(["process"], ["access"], "ProcessAccess"),
    "11": _ev(["file"], ["creation"], "FileCreate"),
    "12": _ev(["configuration", "registry"], ["change"], "RegistryEvent (Object create and delete)"),
    "13": _ev(["configuration", "registry"], ["change"], "RegistryEvent (Value Set)"),
    "14": _ev(["configuration", "registry"], ["change"], "RegistryEvent (Key and Value Rename)"),
    "15": _ev(["file"], ["access"], "FileCreateStreamHash"),
    "16": _ev(["configuration"], ["change"], "ServiceConfigurationChange"),
    "17": _ev(["file"], ["creation"], "PipeEvent (Pipe Created)"),
    "18": _ev(["file"], ["access"], "PipeEvent (Pipe Connected)"),
    "19": _ev(["process"], ["info"], "WmiEvent (WmiEventFilter activity detected)"),
    "20": _ev(["process"], ["change"], "WmiEvent (WmiEventConsumer activity detected)"),
    "21": _ev(["process"], ["access"], "WmiEvent (WmiEventConsumerToFilter activity detected)"),
    "22": _ev(["network"], ["connection", "protocol", "info"], "DNSEvent (DNS query)"),
    "23": _ev(["file"], ["deletion"], "FileDelete (File Delete archived)"),
    "24": _ev(None, ["change"], "ClipboardChange (New content in the clipboard)"),
    "25": _ev(["process"], ["change"], "ProcessTampering (Process image change)"),
    "26": _ev(["file"], ["deletion"], "FileDeleteDetected (File Delete logged)"),
    "27": _ev(["file"], ["creation"], "FileBlockExecutable", ["failure"]),
    "28": _ev(["file"], ["deletion"], "FileBlockShredding"),
    "29": _ev(["file"], ["creation"], "FileExecutableDetected"),
    "255": {"category": ["process"], "outcome": ["failure"], "action": "Error"},
}

# Event codes whose hashes go to process.hash / file.hash (Winlogbeat also puts EID 26 under
# process.hash; Agent puts it under file.hash).
PROCESS_HASH_CODES_AGENT = frozenset({"1", "23", "24", "25"})
PROCESS_HASH_CODES_BEAT = frozenset({"1", "23", "24", "25", "26"})
FILE_HASH_CODES = frozenset({"6", "7", "15", "26", "29"})
REGISTRY_CODES = frozenset({"12", "13", "14"})

# Registry hive names (long and short) to the short form ECS uses.
HIVES: dict[str, str] = {
    "HKEY_CLASSES_ROOT": "HKCR",
    "HKCR": "HKCR",
    "HKEY_CURRENT_CONFIG": "HKCC",
    "HKCC": "HKCC",
    "HKEY_CURRENT_USER": "HKCU",
    "HKCU": "HKCU",
    "HKEY_DYN_DATA": "HKDD",
    "HKDD": "HKDD",
    "HKEY_LOCAL_MACHINE": "HKLM",
    "HKLM": "HKLM",
    "HKEY_PERFORMANCE_DATA": "HKPD",
    "HKPD": "HKPD",
    "HKEY_USERS": "HKU",
    "HKU": "HKU",
}

# event_data fields the pipeline deletes at the end (besides those it renamed away).
CLEANUP = (
    "ProcessId",
    "ParentProcessId",
    "SourceProcessId",
    "SourceThreadId",
    "SourceIp",
    "SourcePort",
    "SourcePortName",
    "DestinationIp",
    "DestinationPort",
    "DestinationPortName",
    "RuleName",
    "User",
    "Initiated",
    "SourceIsIpv6",
    "DestinationIsIpv6",
    "QueryStatus",
    "Archived",
    "IsExecutable",
    "QueryResults",
    "UtcTime",
    "Hash",
    "Hashes",
    "TargetObject",
)

PE_FIELDS = (
    ("Company", "company"),
    ("Description", "description"),
    ("FileVersion", "file_version"),
    ("Product", "product"),
)
SYSMON_FILE_FLAGS = (("Archived", "sysmon.file.archived"), ("IsExecutable", "sysmon.file.is_executable"))
# event_data fields Winlogbeat's translate_sid processor adds (rare: it has to be configured).
MEMBER_FIELDS = frozenset({"_MemberUserName", "_MemberDomain", "_MemberAccountType"})


def kv_pairs(text: str) -> list[tuple[str, str]]:
    """``Hashes`` split as the ``kv`` processor splits it (``,`` between pairs, ``=`` inside).

    The processor stops at the first pair without ``=`` (or with an empty key); the pairs before
    it are kept, as Elasticsearch has already written them when the failure is ignored.
    """
    parts = text.split(",")
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()  # Java's String.split drops trailing empty strings
    pairs: list[tuple[str, str]] = []
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not key:
            break
        pairs.append((key, value))
    return pairs


_CACHE_LIMIT = 4096
HashFields = tuple[tuple[tuple[str, str], ...], tuple[str, ...]]
_hash_cache: dict[str, HashFields | None] = {}


def hash_fields(raw: str) -> HashFields | None:
    """(``_temp.hashes`` items, ``related.hash``) of a ``Hashes`` text; None when kv finds nothing.

    Items are in the order the pipeline's HashMap iterates them, names lower-cased, values
    lower-cased; empty and all-zero values (Sysmon's "not computed") are left out. Cached: the
    same binaries recur all through a log. Callers build fresh containers from the tuples.
    """
    found = _hash_cache.get(raw, _hash_cache)
    if found is not _hash_cache:
        return found  # type: ignore[return-value]
    parsed: dict[str, Any] = {}
    for key, value in kv_pairs(raw):
        if key in parsed:
            # The kv processor appends a repeated key, turning its value into a list.
            old = parsed[key]
            parsed[key] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            parsed[key] = value
    result: HashFields | None = None
    if parsed:
        items: list[tuple[str, str]] = []
        related: list[str] = []
        for key in java_hashmap_order(list(parsed)):
            value = java_str(parsed[key]).lower()
            if value.strip("0") == "":
                continue  # empty or all-zero: Sysmon's placeholder for a hash it did not compute
            items.append((key.lower(), value))
            related.append(value)
        result = (tuple(items), tuple(related))
    if len(_hash_cache) >= _CACHE_LIMIT:
        _hash_cache.clear()
    _hash_cache[raw] = result
    return result


def registry_fields(path: str, details: Any) -> dict[str, Any]:
    """``registry.*`` from ``TargetObject`` and ``Details``, as the pipeline's script builds them.

    ``hive`` is set only for a known first component (``HKLM``, ``HKEY_LOCAL_MACHINE``, ...;
    Sysmon writes ``HKLM`` and ``HKU`` and sometimes ``HKCR``), with ``key`` the rest of the path;
    ``value`` is always the last component. ``Details`` of ``DWORD (0x...)`` become
    ``SZ_DWORD`` with the decimal value, ``QWORD (0x...-0x...)`` ``SZ_QWORD`` (computed as the
    pipeline does, high part shifted by 8 bits only), ``Binary Data`` ``REG_BINARY`` and anything
    else ``REG_SZ``.
    """
    reg: dict[str, Any] = {"path": path}
    hive, key, value = registry_path(path)
    if hive is not None:
        reg["hive"] = hive
        if key is not None:
            reg["key"] = key
    reg["value"] = value
    if details is None or details == "":
        return reg
    if not isinstance(details, str):
        raise PipelineFailure("Details is not a string")
    text, kind = registry_data(details)
    reg["data"] = {"strings": [text], "type": kind}
    return reg


_path_cache: dict[str, tuple[str | None, str | None, str]] = {}
_data_cache: dict[str, tuple[str, str]] = {}


def registry_path(path: str) -> tuple[str | None, str | None, str]:
    """(hive, key, value) of a registry path (hive and key None when not set); cached."""
    found = _path_cache.get(path)
    if found is not None:
        return found
    tokens = path.split("\\")
    while tokens and tokens[-1] == "":
        tokens.pop()
    if not tokens:
        raise PipelineFailure(f"registry path [{path}] has no component")
    hive = HIVES.get(tokens[0])
    key = "\\".join(tokens[1:]) if hive is not None and len(tokens) > 1 else None
    found = (hive, key, tokens[-1])
    if len(_path_cache) >= _CACHE_LIMIT:
        _path_cache.clear()
    _path_cache[path] = found
    return found


def registry_data(details: str) -> tuple[str, str]:
    """(the one ``registry.data.strings`` entry, ``registry.data.type``) of ``Details``; cached."""
    found = _data_cache.get(details)
    if found is not None:
        return found
    m = _QWORD.fullmatch(details)
    if m:
        high, low = int(m.group(2)[2:], 16), int(m.group(3)[2:], 16)
        found = (str((high << 8) + low), "SZ_QWORD")
    else:
        m = _DWORD.fullmatch(details)
        if m:
            found = (str(int(m.group(1)[2:], 16)), "SZ_DWORD")
        else:
            found = (details, "REG_BINARY" if details == "Binary Data" else "REG_SZ")
    if len(_data_cache) >= _CACHE_LIMIT:
        _data_cache.clear()
    _data_cache[details] = found
    return found


_QWORD = re.compile(r"QWORD \(((0x[0-9A-F]{8})-(0x[0-9A-F]{8}))\)", re.IGNORECASE)
_DWORD = re.compile(r"DWORD \((0x[0-9A-F]{8})\)", re.IGNORECASE)


def dns_results(doc: dict[str, Any], data: dict[str, Any]) -> None:
    """The DNS part of the pipeline's ``dns`` step: answers, resolved addresses, the registered
    domain and ``related.hosts``/``related.ip`` (the Community ID is computed separately)."""
    results = data.get("QueryResults")
    if results is not None and results != "":
        if not isinstance(results, str):
            raise PipelineFailure("QueryResults is not a string")
        try:
            answers, addresses, hosts = dns.parse_query_results(results)
        except dns.QueryResultsError as err:
            raise PipelineFailure(str(err)) from err
        if (answers or addresses) and not isinstance(doc.get("dns"), dict):
            # The script writes into ctx.dns, which only exists when QueryName was present.
            raise PipelineFailure("cannot access dns: no dns.question.name in the document")
        if answers:
            doc["dns"]["answers"] = answers
        if addresses:
            doc["dns"]["resolved_ip"] = addresses
        if hosts:
            if not isinstance(doc.get("related"), dict):
                doc["related"] = {}
            doc["related"]["hosts"] = hosts
    resolved = get(doc, "dns.resolved_ip")
    if isinstance(resolved, list):
        cleaned = dns.clean_resolved_ips([java_str(ip) for ip in resolved])
        doc["dns"]["resolved_ip"] = cleaned
        current = get(doc, "dns.answers")
        if not isinstance(current, list):
            current = []
            doc["dns"]["answers"] = current
        dns.synthesize_ip_answers(cleaned, current)
    name = get(doc, "dns.question.name")
    if isinstance(name, str):
        for key, value in dns.registered_domain_fields(name).items():
            put(doc, f"dns.question.{key}", value)
    if name is not None and name != "":
        append(doc, "related.hosts", template(name), allow_duplicates=False)
    remove(doc, "dns.question.domain")
    resolved = get(doc, "dns.resolved_ip")
    if isinstance(resolved, list):
        for ip in resolved:
            append(doc, "related.ip", template(ip), allow_duplicates=False)


def member_fields(doc: dict[str, Any], data: dict[str, Any]) -> None:
    """User names that Winlogbeat's ``translate_sid`` processor resolved, when configured."""
    rename(doc, f"{ED}._MemberUserName", "user.name")
    rename(doc, f"{ED}._MemberDomain", "user.domain")
    account_type = data.get("_MemberAccountType")
    if account_type is not None:
        append(doc, "user.roles", java_str(account_type), allow_duplicates=False)
        roles = get(doc, "user.roles")
        if isinstance(roles, list) and java_str(account_type) in roles:
            remove(doc, f"{ED}._MemberAccountType")


def drop_empty_event_data(doc: dict[str, Any]) -> None:
    """Remove null, "" and "-" values from event_data, and event_data itself when it ends up empty."""
    data = get(doc, ED)
    if not isinstance(data, dict):
        return
    for key in [k for k, v in data.items() if v is None or v in ("", "-")]:
        del data[key]
    if not data:
        remove(doc, ED)


def fail(doc: dict[str, Any], message: str) -> None:
    """Mark ``doc`` as Elasticsearch's ``on_failure`` handler leaves it."""
    if not isinstance(doc.get("event"), dict):
        doc["event"] = {}
    doc["event"]["kind"] = "pipeline_error"
    error = doc.get("error")
    if not isinstance(error, dict):
        error = doc["error"] = {}
    messages = error.get("message")
    if messages is None:
        error["message"] = [message]
    elif isinstance(messages, list):
        messages.append(message)
    else:
        error["message"] = [messages, message]
