"""A frozen copy of ``vigil.ecs.windows.sysmon`` as it was before the fast rewrite.

The processor-by-processor replay of the Sysmon ingest pipeline, kept verbatim (only its imports
point at the frozen helpers in ``_sysmon_reference_helpers``) so that the differential test can
check that the fast mapping gives identical documents. The registered-domain split is taken from
the live ``vigil.ecs.windows.sysmon_psl`` (the Public Suffix List data source is not what is being
compared). Do not optimise or "fix" this file.
"""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any, Literal

import _sysmon_reference_helpers as dns
from _sysmon_reference_helpers import (
    PipelineFailure,
    append,
    community_id,
    get,
    has,
    is_ip,
    java_hashmap_order,
    java_str,
    parse_iso8601,
    parse_utc_time,
    put,
    put_new,
    remove,
    rename,
    split_command_line,
    template,
    to_bool,
    to_long,
)

# The ecs.version each pipeline stamps: Agent's sysmon_operational pipeline sets 8.0.0, and the
# newest Winlogbeat test goldens show 8.17.0 (both overwrite whatever the shipper sent).
ECS_VERSION_AGENT = "8.0.0"
ECS_VERSION_WINLOGBEAT = "8.17.0"
_ZERO_GUID = "{00000000-0000-0000-0000-000000000000}"
_ED = "winlog.event_data"


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
_CLEANUP = (
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


class _Run:
    """One pass of the pipeline over one document."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.agent = "data_stream" in doc
        self.code = ""
        data = get(doc, _ED)
        # The event_data object is edited in place, so one reference serves the whole run; a
        # detached {} stands in when there is none.
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}

    # -- event_data access -------------------------------------------------------------------

    def ed(self) -> dict[str, Any]:
        return self.data

    def val(self, key: str) -> Any:
        """The event_data value if present and neither null nor "" (the pipeline's usual guard)."""
        value = self.data.get(key)
        return None if value is None or value == "" else value

    def move(self, key: str, target: str) -> bool:
        """``rename`` from event_data, guarded by the pipeline's not-null-not-empty condition."""
        value = self.data.get(key)
        if value is None or value == "" or not put_new(self.doc, target, value):
            return False
        del self.data[key]
        return True

    def copy(self, key: str, target: str) -> None:
        value = self.val(key)
        if value is not None:
            put(self.doc, target, copy.deepcopy(value))

    def long(self, key: str, target: str) -> None:
        value = self.val(key)
        if value is not None:
            number = to_long(value)
            if number is not None:
                put(self.doc, target, number)

    def ip(self, key: str, target: str) -> None:
        value = self.val(key)
        if value is not None and is_ip(java_str(value)):
            put(self.doc, target, java_str(value))

    # -- the pipeline --------------------------------------------------------------------------

    def run(self) -> None:
        self.prologue()
        self.hashes()
        self.process()
        self.file()
        self.network()
        self.dns()
        self.user()
        self.sysmon_fields()
        self.related()
        self.registry()
        self.epilogue()

    def prologue(self) -> None:
        doc = self.doc
        put(doc, "ecs.version", ECS_VERSION_AGENT if self.agent else ECS_VERSION_WINLOGBEAT)
        if get(doc, _ED) is not None and not isinstance(get(doc, _ED), dict):
            # The pipeline's first script iterates event_data as a map and fails on anything else.
            raise PipelineFailure("winlog.event_data is not an object")
        data = self.data
        for key in [k for k, v in data.items() if v is None or v in ("", "-", _ZERO_GUID)]:
            del data[key]
        if get(doc, "winlog.level") != "":
            rename(doc, "winlog.level", "log.level")
        created = get(doc, "winlog.time_created")
        if created is not None:
            parsed = parse_iso8601(created)
            if parsed is None:
                remove(doc, "winlog.time_created")
                append(doc, "error.message", "fail-time_created_date")
                raise PipelineFailure(
                    "Processor date with tag time_created_date in pipeline sysmon failed with message: "
                    f"unable to parse date [{java_str(created)}]"
                )
            put(doc, "event.created", parsed)
        if self.ed().get("UtcTime") is not None:
            stamp = parse_utc_time(self.ed().get("UtcTime"))
            if stamp is not None:
                doc["@timestamp"] = stamp
        if not self.agent:
            put(doc, "event.module", "sysmon")
        put(doc, "event.kind", "event")
        self.code = template(get(doc, "winlog.event_id"))
        put(doc, "event.code", self.code)
        fields = EVENTS.get(self.code)
        if fields is not None:
            for key, value in fields.items():
                put(doc, f"event.{key}", list(value) if isinstance(value, list) else value)
        record_id = get(doc, "winlog.record_id")
        if record_id is not None:
            put(doc, "winlog.record_id", java_str(record_id))
        if self.code == "255":
            self.move("ID", "error.code")
        rule_name = self.val("RuleName")
        if rule_name is not None and rule_name != "-":
            self.move("RuleName", "rule.name")
        if self.code == "25":
            self.move("Type", "message")

    def hashes(self) -> None:
        doc = self.doc
        self.move("Hash", f"{_ED}.Hashes")
        raw = self.ed().get("Hashes")
        if not isinstance(raw, str):
            return
        parsed: dict[str, Any] = {}
        for key, value in kv_pairs(raw):
            if key in parsed:
                # The kv processor appends a repeated key, turning its value into a list.
                old = parsed[key]
                parsed[key] = [*old, value] if isinstance(old, list) else [old, value]
            else:
                parsed[key] = value
        if not parsed:
            return
        hashes: dict[str, str] = {}
        related: list[str] = []
        for key in java_hashmap_order(list(parsed)):
            value = java_str(parsed[key]).lower()
            if value.strip("0") == "":
                continue  # empty or all-zero: Sysmon's placeholder for a hash it did not compute
            hashes[key.lower()] = value
            related.append(value)
        put(doc, "_temp.hashes", hashes)
        if related:
            doc["related"] = {"hash": related}

    def process(self) -> None:
        doc = self.doc
        code = self.code
        process_hash_codes = {"1", "23", "24", "25"} if self.agent else {"1", "23", "24", "25", "26"}
        if get(doc, "_temp.hashes") is not None and code in process_hash_codes:
            rename(doc, "_temp.hashes", "process.hash", ignore_failure=False)
        rename(doc, "process.hash.imphash", "process.pe.imphash")
        self.move("ProcessGuid", "process.entity_id")
        self.long("ProcessId", "process.pid")
        self.move("Image", "process.executable")
        self.move("SourceProcessGuid", "process.entity_id")
        self.move("SourceProcessGUID", "process.entity_id")
        self.long("SourceProcessId", "process.pid")
        self.long("SourceThreadId", "process.thread.id")
        self.move("SourceImage", "process.executable")
        self.move("Destination", "process.executable")
        self.move("CommandLine", "process.command_line")
        self.move("CurrentDirectory", "process.working_directory")
        self.move("ParentProcessGuid", "process.parent.entity_id")
        self.long("ParentProcessId", "process.parent.pid")
        self.move("ParentImage", "process.parent.executable")
        self.move("ParentCommandLine", "process.parent.command_line")
        if code != "7":
            self.move("OriginalFileName", "process.pe.original_file_name")
            for key, field in _PE_FIELDS:
                self.copy(key, f"process.pe.{field}")
        for prefix in ("process", "process.parent"):
            cmd = get(doc, f"{prefix}.command_line")
            if isinstance(cmd, str) and cmd:
                args = split_command_line(cmd)
                put(doc, f"{prefix}.args", args)
                put(doc, f"{prefix}.args_count", len(args))
        for prefix in ("process", "process.parent"):
            exe = get(doc, f"{prefix}.executable")
            if isinstance(exe, str) and exe and get(doc, f"{prefix}.name") is None:
                cut = exe.rfind("\\")
                if cut > -1 and exe[cut + 1 :]:
                    put(doc, f"{prefix}.name", exe[cut + 1 :])

    def file(self) -> None:
        doc = self.doc
        code = self.code
        if get(doc, "_temp.hashes") is not None and code in {"6", "7", "15", "26", "29"}:
            rename(doc, "_temp.hashes", "file.hash", ignore_failure=False)
        rename(doc, "file.hash.imphash", "file.pe.imphash")
        self.move("TargetFilename", "file.path")
        self.move("Device", "file.path")
        self.move("PipeName", "file.name")
        self.move("ImageLoaded", "file.path")
        self.copy("Signature", "file.code_signature.subject_name")
        self.copy("SignatureStatus", "file.code_signature.status")
        if code == "7":
            self.move("OriginalFileName", "file.pe.original_file_name")
            for key, field in _PE_FIELDS:
                self.copy(key, f"file.pe.{field}")
        # The pipeline compares Signed with the boolean true; event_data holds the text "true",
        # so file.code_signature.signed is never set from real Sysmon data.
        if self.ed().get("Signed") is True:
            put(doc, "file.code_signature.signed", True)
        if self.ed().get("SignatureStatus") == "Valid":
            put(doc, "file.code_signature.valid", True)
        path = get(doc, "file.path")
        if isinstance(path, str) and len(path) > 1:
            cut = path.rfind("\\")
            if cut > -1:
                put(doc, "file.name", path[cut + 1 :])
                put(doc, "file.directory", path[:cut])
                # The extension is whatever follows the last dot of the whole path, as in the
                # pipeline (a dot in a directory name and none in the file name gives odd values).
                dot = path.rfind(".")
                if dot > -1:
                    put(doc, "file.extension", path[dot + 1 :])

    def network(self) -> None:
        code = self.code
        self.move("Protocol", "network.transport")
        if code != "22":
            self.move("DestinationPortName", "network.protocol")
            self.move("SourcePortName", "network.protocol")
        else:
            put(self.doc, "network.protocol", "dns")
        self.ip("SourceIp", "source.ip")
        self.move("SourceHostname", "source.domain")
        self.long("SourcePort", "source.port")
        self.ip("DestinationIp", "destination.ip")
        self.move("DestinationHostname", "destination.domain")
        self.long("DestinationPort", "destination.port")
        self.move("QueryName", "dns.question.name")
        initiated = self.ed().get("Initiated")
        if initiated == "true":
            put(self.doc, "network.direction", "egress")
        elif initiated == "false":
            put(self.doc, "network.direction", "ingress")
        v6 = self.ed().get("SourceIsIpv6")
        if v6 == "false":
            put(self.doc, "network.type", "ipv4")
        elif v6 == "true":
            put(self.doc, "network.type", "ipv6")

    def dns(self) -> None:
        doc = self.doc
        results = self.val("QueryResults")
        if results is not None:
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
        flow = community_id(
            get(doc, "source.ip"),
            get(doc, "destination.ip"),
            get(doc, "network.transport"),
            get(doc, "source.port"),
            get(doc, "destination.port"),
            iana_number=get(doc, "network.iana_number"),
            icmp_type=get(doc, "icmp.type"),
            icmp_code=get(doc, "icmp.code"),
        )
        if flow is not None:
            put(doc, "network.community_id", flow)

    def user(self) -> None:
        doc = self.doc
        identifier = get(doc, "winlog.user.identifier")
        if identifier is not None and identifier != "":
            put(doc, "user.id", identifier)
        user = self.ed().get("User")
        if user is not None:
            if not isinstance(user, str):
                raise PipelineFailure("field [winlog.event_data.User] is not a string, cannot split it")
            parts = user.split("\\")
            while parts and parts[-1] == "":
                parts.pop()  # Java's String.split drops trailing empty strings
            put(doc, "_temp.user_parts", parts)
            if len(parts) == 2:
                if parts[0]:
                    put(doc, "user.domain", template(parts[0]))
                if parts[1]:
                    put(doc, "user.name", template(parts[1]))
        # Names resolved from a SID by Winlogbeat's translate_sid processor, when configured.
        rename(doc, f"{_ED}._MemberUserName", "user.name")
        rename(doc, f"{_ED}._MemberDomain", "user.domain")
        account_type = self.ed().get("_MemberAccountType")
        if account_type is not None:
            append(doc, "user.roles", java_str(account_type), allow_duplicates=False)
            roles = get(doc, "user.roles")
            if isinstance(roles, list) and java_str(account_type) in roles:
                remove(doc, f"{_ED}._MemberAccountType")

    def sysmon_fields(self) -> None:
        doc = self.doc
        if self.move("QueryStatus", "sysmon.dns.status"):
            status = get(doc, "sysmon.dns.status")
            if isinstance(status, str):
                put(doc, "sysmon.dns.status", dns.query_status_name(status))
        for key, target in _SYSMON_FILE_FLAGS:
            value = self.val(key)
            if value is not None:
                flag = to_bool(value)
                if flag is not None:
                    put(doc, target, flag)
        if has(doc, "error.code") and get(doc, "error.code") is not None:
            put(doc, "error.code", java_str(get(doc, "error.code")))

    def related(self) -> None:
        doc = self.doc
        name = get(doc, "user.name")
        if name is not None and name != "":
            append(doc, "related.user", template(name), allow_duplicates=False)
        for side in ("source", "destination"):
            ip = get(doc, f"{side}.ip")
            if ip is not None and ip != "":
                append(doc, "related.ip", template(ip), allow_duplicates=False)

    def registry(self) -> None:
        target = self.val("TargetObject")
        if target is None or self.code not in {"12", "13", "14"}:
            return
        if not isinstance(target, str):
            raise PipelineFailure("TargetObject is not a string")
        reg = registry_fields(target, self.val("Details"))
        self.doc["registry"] = reg

    def epilogue(self) -> None:
        doc = self.doc
        data = get(doc, _ED)
        if isinstance(data, dict) and "TargetProcessGuid" in data:
            rename(doc, f"{_ED}.TargetProcessGuid", f"{_ED}.TargetProcessGUID", ignore_failure=False)
        remove(doc, "_temp")
        if isinstance(data, dict):
            for key in _CLEANUP:
                data.pop(key, None)
            if not self.agent:
                data.pop("Details", None)
        remove(doc, "winlog.time_created")
        remove(doc, "winlog.level")
        drop_empty_event_data(doc)


def map_sysmon(doc: dict[str, Any]) -> None:
    """Map a Winlogbeat-raw Sysmon document to ECS in place, as the Sysmon ingest pipelines do.

    Expects what :func:`vigil.ecs.windows.to_ecs` has already set (``event.code``, ``host.*``,
    ``data_stream`` or ``agent.type``). Never raises: where the pipeline would fail, the
    document is marked ``event.kind: pipeline_error`` with the reason appended to
    ``error.message``, and keeps what was mapped up to that point.
    """
    run = _Run(doc)
    try:
        run.run()
    except PipelineFailure as failure:
        _fail(doc, str(failure))
    except Exception as exc:  # an input shape nobody foresaw must not stop a whole hunt
        _fail(doc, f"vigil sysmon mapping: {type(exc).__name__}: {exc}")


def _fail(doc: dict[str, Any], message: str) -> None:
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
    tokens = path.split("\\")
    while tokens and tokens[-1] == "":
        tokens.pop()
    if not tokens:
        raise PipelineFailure(f"registry path [{path}] has no component")
    hive = HIVES.get(tokens[0])
    if hive is not None:
        reg["hive"] = hive
        if len(tokens) > 1:
            reg["key"] = "\\".join(tokens[1:])
    reg["value"] = tokens[-1]
    if details is None or details == "":
        return reg
    if not isinstance(details, str):
        raise PipelineFailure("Details is not a string")
    m = _QWORD.fullmatch(details)
    if m:
        high, low = int(m.group(2)[2:], 16), int(m.group(3)[2:], 16)
        reg["data"] = {"strings": [str((high << 8) + low)], "type": "SZ_QWORD"}
        return reg
    m = _DWORD.fullmatch(details)
    if m:
        reg["data"] = {"strings": [str(int(m.group(1)[2:], 16))], "type": "SZ_DWORD"}
        return reg
    kind = "REG_BINARY" if details == "Binary Data" else "REG_SZ"
    reg["data"] = {"strings": [details], "type": kind}
    return reg


_QWORD = re.compile(r"QWORD \(((0x[0-9A-F]{8})-(0x[0-9A-F]{8}))\)", re.IGNORECASE)
_DWORD = re.compile(r"DWORD \((0x[0-9A-F]{8})\)", re.IGNORECASE)

_PE_FIELDS = (
    ("Company", "company"),
    ("Description", "description"),
    ("FileVersion", "file_version"),
    ("Product", "product"),
)
_SYSMON_FILE_FLAGS = (("Archived", "sysmon.file.archived"), ("IsExecutable", "sysmon.file.is_executable"))


def drop_empty_event_data(doc: dict[str, Any]) -> None:
    """Remove null, "" and "-" values from event_data, and event_data itself when it ends up empty."""
    data = get(doc, _ED)
    if not isinstance(data, dict):
        return
    for key in [k for k, v in data.items() if v is None or v in ("", "-")]:
        del data[key]
    if not data:
        remove(doc, _ED)


# ---- vigil/ecs/windows/common.py: to_ecs, with only the Sysmon channel mapped (frozen copy)

Mode = Literal["agent", "winlogbeat"]
DEFAULT_AGENT_VERSION = "8.17.0"
ECS_VERSION = "8.11.0"

Mapper = Callable[[dict[str, Any]], None]

# channel (lower case) -> (Elastic Agent data stream dataset, event.module in Winlogbeat)
_DATASETS: dict[str, tuple[str, str]] = {
    "microsoft-windows-sysmon/operational": ("windows.sysmon_operational", "sysmon"),
    "security": ("system.security", "security"),
    "system": ("system.system", "system"),
    "application": ("system.application", "system"),
    "microsoft-windows-powershell/operational": ("windows.powershell_operational", "powershell"),
    "windows powershell": ("windows.powershell", "powershell"),
    "forwardedevents": ("windows.forwarded", "windows"),
}
_FALLBACK = ("windows.forwarded", "windows")


def dataset_of(channel: str) -> tuple[str, str]:
    """(Agent dataset, Winlogbeat module) for a channel; unknown channels are forwarded events."""
    return _DATASETS.get(channel.lower(), _FALLBACK)


def _node(doc: dict[str, Any], key: str) -> dict[str, Any]:
    """``doc[key]`` as a dict (created, or replacing a non-object value)."""
    node = doc.get(key)
    if type(node) is not dict:
        node = doc[key] = {}
    return node


def to_ecs(
    raw: dict[str, Any], *, mode: Mode = "agent", agent_version: str = DEFAULT_AGENT_VERSION
) -> dict[str, Any]:
    """Map a Winlogbeat-raw document to ECS in place and return it (see the package docstring).

    ``mode`` picks where the event lands: ``agent`` gives it Elastic Agent's ``data_stream``
    (``logs-windows.sysmon_operational-default``, ``logs-system.security-default``, ...);
    ``winlogbeat`` marks it as Winlogbeat output (``agent.type: winlogbeat``), which lands in
    ``winlogbeat-<version>``. Events of channels without a mapping keep their ``winlog.*``
    fields and ``event.code``: nothing is dropped.
    """
    winlog = raw.get("winlog")
    if not isinstance(winlog, dict):
        winlog = raw["winlog"] = {}
    channel = str(winlog.get("channel") or "")
    dataset, module = dataset_of(channel)
    event = raw.get("event")
    if not isinstance(event, dict):
        event = raw["event"] = {}
    if "event_id" in winlog and "code" not in event:
        event["code"] = str(winlog["event_id"])
    if winlog.get("provider_name") and "provider" not in event:
        event["provider"] = winlog["provider_name"]
    event.setdefault("kind", "event")
    event.setdefault("module", module)
    host = _node(raw, "host")
    computer = winlog.get("computer_name")
    if computer and "name" not in host:
        host["name"] = computer
    os_ = _node(host, "os")
    os_.setdefault("type", "windows")
    os_.setdefault("family", "windows")
    os_.setdefault("platform", "windows")
    _node(raw, "ecs").setdefault("version", ECS_VERSION)
    agent = _node(raw, "agent")
    if mode == "agent":
        event.setdefault("dataset", dataset)
        raw["data_stream"] = {"type": "logs", "dataset": dataset, "namespace": "default"}
        agent.setdefault("type", "filebeat")
        agent.setdefault("version", agent_version)
        _node(raw, "elastic_agent").setdefault("version", agent_version)
    else:
        raw.pop("data_stream", None)
        agent.setdefault("type", "winlogbeat")
        agent.setdefault("version", agent_version)
    if channel.lower() == "microsoft-windows-sysmon/operational":
        map_sysmon(raw)
    return raw
