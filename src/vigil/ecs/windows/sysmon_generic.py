"""The Sysmon pipeline replayed processor by processor, for documents of an unusual shape.

:func:`vigil.ecs.windows.sysmon.map_sysmon` maps the usual documents (what the EVTX, NXLog and
Winlogbeat sources hand over) with straight-line code. A document that already holds fields the
pipeline writes (``process``, ``user``, ``related``...), or whose ``event``/``winlog``/
``event_data`` is not an object, comes here instead: every step goes through the generic
dotted-path helpers of :mod:`.sysmon_ingest`, which behave like the ingest processors on any
shape (a rename never overwrites, a put into a non-object fails, ...). Slower, and rare.
"""

from __future__ import annotations

import copy
from typing import Any

from vigil.ecs.windows.sysmon_dns import query_status_name
from vigil.ecs.windows.sysmon_ingest import (
    PipelineFailure,
    append,
    get,
    has,
    java_str,
    parse_iso8601,
    parse_utc_time,
    put,
    put_new,
    remove,
    rename,
    template,
    to_bool,
    to_long,
)
from vigil.ecs.windows.sysmon_net import community_id, is_ip
from vigil.ecs.windows.sysmon_steps import (
    CLEANUP,
    ECS_VERSION_AGENT,
    ECS_VERSION_WINLOGBEAT,
    ED,
    EVENTS,
    PE_FIELDS,
    SYSMON_FILE_FLAGS,
    ZERO_GUID,
    dns_results,
    drop_empty_event_data,
    hash_fields,
    member_fields,
    registry_fields,
)
from vigil.ecs.windows.util import split_command_line


class GenericRun:
    """One pass of the pipeline over one document, processor by processor."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.agent = "data_stream" in doc
        self.code = ""
        data = get(doc, ED)
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
        if get(doc, ED) is not None and not isinstance(get(doc, ED), dict):
            # The pipeline's first script iterates event_data as a map and fails on anything else.
            raise PipelineFailure("winlog.event_data is not an object")
        data = self.data
        for key in [k for k, v in data.items() if v is None or v in ("", "-", ZERO_GUID)]:
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
        self.move("Hash", f"{ED}.Hashes")
        raw = self.ed().get("Hashes")
        if not isinstance(raw, str):
            return
        found = hash_fields(raw)
        if found is None:
            return
        items, related = found
        put(doc, "_temp.hashes", dict(items))
        if related:
            doc["related"] = {"hash": list(related)}

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
            for key, field in PE_FIELDS:
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
            for key, field in PE_FIELDS:
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
        dns_results(doc, self.data)
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
        member_fields(doc, self.data)

    def sysmon_fields(self) -> None:
        doc = self.doc
        if self.move("QueryStatus", "sysmon.dns.status"):
            status = get(doc, "sysmon.dns.status")
            if isinstance(status, str):
                put(doc, "sysmon.dns.status", query_status_name(status))
        for key, target in SYSMON_FILE_FLAGS:
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
        data = get(doc, ED)
        if isinstance(data, dict) and "TargetProcessGuid" in data:
            rename(doc, f"{ED}.TargetProcessGuid", f"{ED}.TargetProcessGUID", ignore_failure=False)
        remove(doc, "_temp")
        if isinstance(data, dict):
            for key in CLEANUP:
                data.pop(key, None)
            if not self.agent:
                data.pop("Details", None)
        remove(doc, "winlog.time_created")
        remove(doc, "winlog.level")
        drop_empty_event_data(doc)
