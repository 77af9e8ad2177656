"""Sysmon (``Microsoft-Windows-Sysmon/Operational``) to ECS, as Elastic's ingest pipelines do it.

Two pipelines do this in the Elastic stack and they agree on almost everything: Winlogbeat 8.x's
``sysmon`` module pipeline and Elastic Agent's ``windows.sysmon_operational`` data stream pipeline.
:func:`map_sysmon` replays their processors in order over a Winlogbeat-raw document (see
:mod:`vigil.ecs.windows`), including their quirks, because detection rules are written against
what those pipelines actually store:

* ``event.category``/``event.type``/``event.action`` come from a table keyed by event code
  (:data:`EVENTS`); EID 3 is ``[start, connection, protocol]``, so a rule needs the category.
* ``@timestamp`` comes from ``UtcTime`` (millisecond text, UTC); when it is missing or does not
  parse, the record's own ``@timestamp`` stays.
* ``process.entity_id`` is ``ProcessGuid`` verbatim (braces and case as the source rendered them:
  no normalisation, so GUIDs from two different parsers will not join).
* ``event_data`` values that are empty, ``-`` or the all-zero GUID are dropped first; fields the
  pipeline moves to ECS leave ``winlog.event_data``, the rest (``TargetImage``, ``GrantedAccess``,
  ``CallTrace``, ``IntegrityLevel``, ``LogonId``, ``ParentUser``...) stay there, where rules look.
* Renames never overwrite: with both ``Image`` and ``SourceImage`` present, ``SourceImage`` stays in
  ``event_data``.
* Values that do not convert (a non-numeric ``ProcessId``, an invalid ``SourceIp``) are dropped
  silently, as the pipeline's ``ignore_failure`` does. Where the pipeline itself fails (a
  ``QueryResults`` entry ``type:`` without a type, an unparsable ``winlog.time_created``...), the
  document keeps what was mapped so far and gets ``event.kind: pipeline_error`` and
  ``error.message``, as Elasticsearch's ``on_failure`` handler leaves it. Nothing raises.

The pipelines differ in a few places, chosen by where the event lands (``data_stream`` present
means Elastic Agent): Winlogbeat puts EID 26 hashes under ``process.hash``, drops ``Details`` and
sets ``event.module``; Agent puts EID 26 hashes under ``file.hash`` and keeps
``winlog.event_data.Details``. Each stamps its own ``ecs.version``.

How: the documents every source hands over have one shape (``event``, ``ecs`` and ``winlog``
objects, no ``process``/``user``/``related``... yet), and for that shape the pipeline's effect is
written out as straight-line code over plain dicts: each ECS object is built as a dict and
attached where the pipeline would first create it (so keys come out in the same order), whole
groups of processors are skipped when none of their ``event_data`` fields is there, and values
that recur (hashes, user names, registry paths, addresses) are worked out once. Any other shape
goes to :mod:`.sysmon_generic`, which replays the processors one by one on dotted paths. The
test suite compares both against a frozen copy of the original replay, record by record.
"""

from __future__ import annotations

import copy
from typing import Any

from vigil.ecs.windows.sysmon_dns import QUERY_STATUS
from vigil.ecs.windows.sysmon_ingest import (
    PipelineFailure,
    append,
    java_str,
    parse_iso8601,
    parse_utc_time,
    put,
    template,
    to_bool,
    to_long,
)
from vigil.ecs.windows.sysmon_net import community_id, is_ip
from vigil.ecs.windows.sysmon_steps import (
    CLEANUP,
    ECS_VERSION_AGENT,
    ECS_VERSION_WINLOGBEAT,
    EVENTS,
    FILE_HASH_CODES,
    HIVES,
    MEMBER_FIELDS,
    PE_FIELDS,
    PROCESS_HASH_CODES_AGENT,
    PROCESS_HASH_CODES_BEAT,
    REGISTRY_CODES,
    ZERO_GUID,
    dns_results,
    drop_empty_event_data,
    fail,
    hash_fields,
    kv_pairs,
    member_fields,
    registry_data,
    registry_fields,
    registry_path,
)
from vigil.ecs.windows.util import split_command_line

__all__ = [
    "ECS_VERSION_AGENT",
    "ECS_VERSION_WINLOGBEAT",
    "EVENTS",
    "HIVES",
    "drop_empty_event_data",
    "kv_pairs",
    "map_sysmon",
    "registry_fields",
]

# Top-level fields the pipeline writes (or, for icmp, reads): a document that already has one
# of them takes the generic path, where every write checks what is there.
_TARGETS = frozenset(
    {"process", "file", "network", "source", "destination", "dns", "user", "related", "rule"}
    | {"registry", "sysmon", "error", "_temp", "icmp"}
)
# event_data values the pipeline's first script drops.
_DROP = frozenset({None, "", "-", ZERO_GUID})
_DROP_TEXT = ("", "-", ZERO_GUID)
# event.code -> the event.* (field, value) pairs, lists as tuples (each document gets its own).
_EVENT_FIELDS: dict[str, tuple[tuple[str, Any], ...]] = {
    code: tuple((key, tuple(value) if isinstance(value, list) else value) for key, value in fields.items())
    for code, fields in EVENTS.items()
}
# event_data fields of the processor groups that most events do not have.
_SOURCE_KEYS = frozenset(
    {"SourceProcessGuid", "SourceProcessGUID", "SourceProcessId", "SourceThreadId", "SourceImage"}
)
_CREATE_KEYS = frozenset(
    {"Destination", "CommandLine", "CurrentDirectory", "ParentProcessGuid", "ParentProcessId"}
    | {"ParentImage", "ParentCommandLine"}
)
_PE_KEYS = frozenset({"OriginalFileName", *(key for key, _ in PE_FIELDS)})
_FILE_KEYS = frozenset({"TargetFilename", "Device", "PipeName", "ImageLoaded", "Signature"})
_FILE_KEYS |= {"SignatureStatus", "Signed"}
_NET_KEYS = frozenset(
    {"Protocol", "DestinationPortName", "SourcePortName", "SourceIp", "SourceHostname", "SourcePort"}
    | {"DestinationIp", "DestinationHostname", "DestinationPort", "QueryName", "Initiated", "SourceIsIpv6"}
)
_CLEANUP = frozenset(CLEANUP)
_SYSMON_FILE_FLAGS = (("Archived", "sysmon.file.archived"), ("IsExecutable", "sysmon.file.is_executable"))

_CACHE_LIMIT = 4096
_ip_cache: dict[str, bool] = {}
_user_cache: dict[str, tuple[tuple[str, ...], str | None, str | None, str | None]] = {}
_flow_cache: dict[tuple[Any, ...], str | None] = {}


def map_sysmon(doc: dict[str, Any]) -> None:
    """Map a Winlogbeat-raw Sysmon document to ECS in place, as the Sysmon ingest pipelines do.

    Expects what :func:`vigil.ecs.windows.to_ecs` has already set (``event.code``, ``host.*``,
    ``data_stream`` or ``agent.type``). Never raises: where the pipeline would fail, the
    document is marked ``event.kind: pipeline_error`` with the reason appended to
    ``error.message``, and keeps what was mapped up to that point.
    """
    try:
        winlog, event, ecs = doc.get("winlog"), doc.get("event"), doc.get("ecs")
        if (
            type(winlog) is dict
            and type(event) is dict
            and type(ecs) is dict
            and doc.keys().isdisjoint(_TARGETS)
            and _usual_shape(doc, winlog)
        ):
            _map(doc, winlog, event, ecs, winlog.get("event_data"))
            return
        from vigil.ecs.windows.sysmon_generic import GenericRun

        GenericRun(doc).run()
    except PipelineFailure as failure:
        fail(doc, str(failure))
    except Exception as exc:  # an input shape nobody foresaw must not stop a whole hunt
        fail(doc, f"vigil sysmon mapping: {type(exc).__name__}: {exc}")


def _usual_shape(doc: dict[str, Any], winlog: dict[str, Any]) -> bool:
    """event_data an object (or absent), and log an object unless no level is moved into it."""
    data = winlog.get("event_data")
    if type(data) is not dict and (data is not None or "event_data" in winlog):
        return False
    log = doc.get("log")
    return log is None or type(log) is dict or winlog.get("level", "") == ""


def _map(
    doc: dict[str, Any],
    winlog: dict[str, Any],
    event: dict[str, Any],
    ecs: dict[str, Any],
    data: dict[str, Any] | None,
) -> None:
    """The pipeline over a document of the usual shape (see :func:`map_sysmon`), in its order."""
    agent = "data_stream" in doc
    ecs["version"] = ECS_VERSION_AGENT if agent else ECS_VERSION_WINLOGBEAT
    # -- prologue: drop empty values, log level, times, event.* ----------------------------------
    ed: dict[str, Any] = {} if data is None else data
    if ed.get("RuleName") == "-":  # nearly every record; the rest are then usually clean
        del ed["RuleName"]
    try:
        dirty = not _DROP.isdisjoint(ed.values())
    except TypeError:  # an unhashable value: check them one by one
        dirty = True
    if dirty:
        for key in [k for k, v in ed.items() if v is None or v in _DROP_TEXT]:
            del ed[key]
    # From here on every event_data value is neither null nor "" nor "-": a present key passes
    # the pipeline's usual not-null-not-empty guard.
    if "level" in winlog and winlog["level"] != "":
        log = doc.get("log")
        if log is None:
            doc["log"] = {"level": winlog.pop("level")}
        elif "level" not in log:
            log["level"] = winlog.pop("level")
    created = winlog.get("time_created")
    if created is not None:
        parsed = parse_iso8601(created)
        if parsed is None:
            del winlog["time_created"]
            append(doc, "error.message", "fail-time_created_date")
            raise PipelineFailure(
                "Processor date with tag time_created_date in pipeline sysmon failed with message: "
                f"unable to parse date [{java_str(created)}]"
            )
        event["created"] = parsed
    value = ed.get("UtcTime")
    if value is not None:
        stamp = parse_utc_time(value)
        if stamp is not None:
            doc["@timestamp"] = stamp
    if not agent:
        event["module"] = "sysmon"
    event["kind"] = "event"
    code = winlog.get("event_id")
    if type(code) is not str or code not in _EVENT_FIELDS:
        code = template(code)
    event["code"] = code
    fields = _EVENT_FIELDS.get(code)
    if fields is not None:
        for key, value in fields:
            event[key] = list(value) if type(value) is tuple else value
    value = winlog.get("record_id")
    if value is not None:
        winlog["record_id"] = value if type(value) is str else java_str(value)
    if code == "255":
        value = ed.pop("ID", None)
        if value is not None:
            doc["error"] = {"code": value}
    value = ed.pop("RuleName", None)
    if value is not None:
        doc["rule"] = {"name": value}
    if code == "25" and "Type" in ed and "message" not in doc:
        doc["message"] = ed.pop("Type")

    # -- hashes ---------------------------------------------------------------------------------
    if "Hash" in ed and "Hashes" not in ed:
        ed["Hashes"] = ed.pop("Hash")
    temp: dict[str, Any] | None = None
    value = ed.get("Hashes")
    if isinstance(value, str):
        found = hash_fields(value)
        if found is not None:
            temp = doc["_temp"] = {"hashes": dict(found[0])}
            if found[1]:
                doc["related"] = {"hash": list(found[1])}

    # -- process.* ------------------------------------------------------------------------------
    keys = ed.keys()
    proc: dict[str, Any] = {}
    if temp is not None and code in (PROCESS_HASH_CODES_AGENT if agent else PROCESS_HASH_CODES_BEAT):
        hashes = proc["hash"] = temp.pop("hashes")
        if "imphash" in hashes:
            proc["pe"] = {"imphash": hashes.pop("imphash")}
    value = ed.pop("ProcessGuid", None)
    if value is not None:
        proc["entity_id"] = value
    value = ed.get("ProcessId")
    if value is not None:
        number = _long(value)
        if number is not None:
            proc["pid"] = number
    value = ed.pop("Image", None)
    if value is not None:
        proc["executable"] = value
    if not keys.isdisjoint(_SOURCE_KEYS):
        _source_process(ed, proc)
    parent: dict[str, Any] | None = None
    if not keys.isdisjoint(_CREATE_KEYS):
        if "Destination" in ed and "executable" not in proc:
            proc["executable"] = ed.pop("Destination")
        value = ed.pop("CommandLine", None)
        if value is not None:
            proc["command_line"] = value
        value = ed.pop("CurrentDirectory", None)
        if value is not None:
            proc["working_directory"] = value
        parent = {}
        value = ed.pop("ParentProcessGuid", None)
        if value is not None:
            parent["entity_id"] = value
        value = ed.get("ParentProcessId")
        if value is not None:
            number = _long(value)
            if number is not None:
                parent["pid"] = number
        value = ed.pop("ParentImage", None)
        if value is not None:
            parent["executable"] = value
        value = ed.pop("ParentCommandLine", None)
        if value is not None:
            parent["command_line"] = value
        if parent:
            proc["parent"] = parent
    if code != "7" and not keys.isdisjoint(_PE_KEYS):
        _pe_fields(ed, proc)
    value = proc.get("command_line")
    if isinstance(value, str) and value:
        args = proc["args"] = split_command_line(value)
        proc["args_count"] = len(args)
    if parent:
        value = parent.get("command_line")
        if isinstance(value, str) and value:
            args = parent["args"] = split_command_line(value)
            parent["args_count"] = len(args)
    value = proc.get("executable")
    if isinstance(value, str) and value:
        cut = value.rfind("\\")
        if cut > -1 and value[cut + 1 :]:
            proc["name"] = value[cut + 1 :]
    if parent:
        value = parent.get("executable")
        if isinstance(value, str) and value:
            cut = value.rfind("\\")
            if cut > -1 and value[cut + 1 :]:
                parent["name"] = value[cut + 1 :]
    if proc:
        doc["process"] = proc

    # -- file.* ---------------------------------------------------------------------------------
    file: dict[str, Any] = {}
    if temp is not None and "hashes" in temp and code in FILE_HASH_CODES:
        hashes = file["hash"] = temp.pop("hashes")
        if "imphash" in hashes:
            file["pe"] = {"imphash": hashes.pop("imphash")}
    if not keys.isdisjoint(_FILE_KEYS) or (code == "7" and not keys.isdisjoint(_PE_KEYS)):
        _file_fields(ed, file, code)
    if file:
        doc["file"] = file

    # -- network.*, source.*, destination.*, dns.question.name --------------------------------------
    src: dict[str, Any] | None = None
    dst: dict[str, Any] | None = None
    net: dict[str, Any] | None = None
    if code == "22" or not keys.isdisjoint(_NET_KEYS):
        net, src, dst = _network(doc, ed, code)
    if "QueryResults" in ed or "dns" in doc:
        dns_results(doc, ed)
    if src and dst and net:
        source_ip = src.get("ip")
        destination_ip = dst.get("ip")
        if source_ip is not None and destination_ip is not None:
            flow = _community_id(source_ip, destination_ip, net.get("transport"), src, dst)
            if flow is not None:
                net["community_id"] = flow

    # -- user.* ---------------------------------------------------------------------------------
    user: dict[str, Any] | None = None
    value = winlog.get("user")
    if isinstance(value, dict):
        value = value.get("identifier")
        if value is not None and value != "":
            user = doc["user"] = {"id": value}
    value = ed.get("User")
    related_user: str | None = None
    if value is not None:
        if not isinstance(value, str):
            raise PipelineFailure("field [winlog.event_data.User] is not a string, cannot split it")
        parts, domain, name, related_user = _user(value)
        if temp is None:
            temp = doc["_temp"] = {}
        temp["user_parts"] = list(parts)
        if domain is not None or name is not None:
            if user is None:
                user = doc["user"] = {}
            if domain is not None:
                user["domain"] = domain
            if name is not None:
                user["name"] = name
    if not keys.isdisjoint(MEMBER_FIELDS):
        member_fields(doc, ed)
        user = doc.get("user")
        value = user.get("name") if isinstance(user, dict) else None
        related_user = template(value) if value is not None and value != "" else None

    # -- sysmon.*, error.code ---------------------------------------------------------------------
    value = ed.pop("QueryStatus", None)
    if value is not None:
        status = QUERY_STATUS.get(value, value) if isinstance(value, str) else value
        doc["sysmon"] = {"dns": {"status": status}}
    if "Archived" in ed or "IsExecutable" in ed:
        for key, target in _SYSMON_FILE_FLAGS:
            value = ed.get(key)
            if value is not None:
                flag = to_bool(value)
                if flag is not None:
                    put(doc, target, flag)
    if code == "255" and "error" in doc:
        error = doc["error"]
        if error.get("code") is not None:
            error["code"] = java_str(error["code"])

    # -- related.user, related.ip -------------------------------------------------------------------
    if related_user is not None:
        related = doc.get("related")
        if related is None:
            doc["related"] = {"user": [related_user]}
        else:
            append(doc, "related.user", related_user, allow_duplicates=False)
    if src is not None or dst is not None:
        _related_ips(doc, src, dst)

    # -- registry.* -------------------------------------------------------------------------------
    if code in REGISTRY_CODES:
        value = ed.get("TargetObject")
        if value is not None:
            if not isinstance(value, str):
                raise PipelineFailure("TargetObject is not a string")
            hive, reg_key, last = registry_path(value)
            reg: dict[str, Any] = {"path": value}
            if hive is not None:
                reg["hive"] = hive
                if reg_key is not None:
                    reg["key"] = reg_key
            reg["value"] = last
            value = ed.get("Details")
            if value is not None:
                if not isinstance(value, str):
                    raise PipelineFailure("Details is not a string")
                text, kind = registry_data(value)
                reg["data"] = {"strings": [text], "type": kind}
            doc["registry"] = reg

    # -- epilogue ---------------------------------------------------------------------------------
    if "TargetProcessGuid" in ed:
        if "TargetProcessGUID" in ed:
            raise PipelineFailure("field [winlog.event_data.TargetProcessGUID] already exists")
        ed["TargetProcessGUID"] = ed.pop("TargetProcessGuid")
    if temp is not None:
        del doc["_temp"]
    for key in _CLEANUP.intersection(keys):
        del ed[key]
    if not agent:
        ed.pop("Details", None)
    winlog.pop("time_created", None)
    winlog.pop("level", None)
    if data is not None and not ed:
        del winlog["event_data"]


def _long(value: Any) -> int | None:
    """``convert`` to ``long`` (see :func:`.sysmon_ingest.to_long`), plain digits done directly."""
    if type(value) is str and len(value) < 19 and value.isdigit() and value.isascii():
        return int(value)
    return to_long(value)


def _copy(value: Any) -> Any:
    return value if type(value) is str else copy.deepcopy(value)


def _source_process(ed: dict[str, Any], proc: dict[str, Any]) -> None:
    """The process fields of CreateRemoteThread and ProcessAccess (``Source*``)."""
    for key in ("SourceProcessGuid", "SourceProcessGUID"):
        if key in ed and "entity_id" not in proc:
            proc["entity_id"] = ed.pop(key)
    value = ed.get("SourceProcessId")
    if value is not None:
        number = _long(value)
        if number is not None:
            proc["pid"] = number
    value = ed.get("SourceThreadId")
    if value is not None:
        number = _long(value)
        if number is not None:
            proc["thread"] = {"id": number}
    if "SourceImage" in ed and "executable" not in proc:
        proc["executable"] = ed.pop("SourceImage")


def _pe_fields(ed: dict[str, Any], owner: dict[str, Any]) -> None:
    """``OriginalFileName`` moved and the version-resource fields copied into ``owner["pe"]``."""
    pe = owner.get("pe")
    fresh = pe is None
    if pe is None:
        pe = {}
    if "OriginalFileName" in ed and "original_file_name" not in pe:
        pe["original_file_name"] = ed.pop("OriginalFileName")
    for key, field in PE_FIELDS:
        value = ed.get(key)
        if value is not None:
            pe[field] = _copy(value)
    if fresh and pe:
        owner["pe"] = pe


def _file_fields(ed: dict[str, Any], file: dict[str, Any], code: str) -> None:
    value = ed.pop("TargetFilename", None)
    if value is not None:
        file["path"] = value
    if "Device" in ed and "path" not in file:
        file["path"] = ed.pop("Device")
    value = ed.pop("PipeName", None)
    if value is not None:
        file["name"] = value
    if "ImageLoaded" in ed and "path" not in file:
        file["path"] = ed.pop("ImageLoaded")
    signature: dict[str, Any] = {}
    value = ed.get("Signature")
    if value is not None:
        signature["subject_name"] = _copy(value)
    status = ed.get("SignatureStatus")
    if status is not None:
        signature["status"] = _copy(status)
    if signature:
        file["code_signature"] = signature
    if code == "7":
        _pe_fields(ed, file)
    # The pipeline compares Signed with the boolean true; event_data holds the text "true",
    # so file.code_signature.signed is never set from real Sysmon data.
    if ed.get("Signed") is True:
        signature["signed"] = True
        file["code_signature"] = signature
    if status == "Valid":
        signature["valid"] = True
        file["code_signature"] = signature
    path = file.get("path")
    if isinstance(path, str) and len(path) > 1:
        cut = path.rfind("\\")
        if cut > -1:
            file["name"] = path[cut + 1 :]
            file["directory"] = path[:cut]
            # The extension is whatever follows the last dot of the whole path, as in the
            # pipeline (a dot in a directory name and none in the file name gives odd values).
            dot = path.rfind(".")
            if dot > -1:
                file["extension"] = path[dot + 1 :]


def _network(
    doc: dict[str, Any], ed: dict[str, Any], code: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """network.*, source.*, destination.* and dns.question.name; (network, source, destination)."""
    net: dict[str, Any] = {}
    value = ed.pop("Protocol", None)
    if value is not None:
        net["transport"] = value
    if code != "22":
        value = ed.pop("DestinationPortName", None)
        if value is not None:
            net["protocol"] = value
        if "SourcePortName" in ed and "protocol" not in net:
            net["protocol"] = ed.pop("SourcePortName")
    else:
        net["protocol"] = "dns"
    if net:
        doc["network"] = net
    sides: list[dict[str, Any]] = []
    for ip_key, host_key, port_key, side in _SIDES:
        fields: dict[str, Any] = {}
        value = ed.get(ip_key)
        if value is not None:
            text = value if type(value) is str else java_str(value)
            valid = _ip_cache.get(text)
            if valid is None:
                valid = is_ip(text)
                if len(_ip_cache) >= _CACHE_LIMIT:
                    _ip_cache.clear()
                _ip_cache[text] = valid
            if valid:
                fields["ip"] = text
        value = ed.pop(host_key, None)
        if value is not None:
            fields["domain"] = value
        value = ed.get(port_key)
        if value is not None:
            number = _long(value)
            if number is not None:
                fields["port"] = number
        if fields:
            doc[side] = fields
        sides.append(fields)
    value = ed.pop("QueryName", None)
    if value is not None:
        doc["dns"] = {"question": {"name": value}}
    value = ed.get("Initiated")
    if value == "true":
        net["direction"] = "egress"
    elif value == "false":
        net["direction"] = "ingress"
    value = ed.get("SourceIsIpv6")
    if value == "false":
        net["type"] = "ipv4"
    elif value == "true":
        net["type"] = "ipv6"
    if net and "network" not in doc:
        doc["network"] = net
    return net, sides[0], sides[1]


_SIDES = (
    ("SourceIp", "SourceHostname", "SourcePort", "source"),
    ("DestinationIp", "DestinationHostname", "DestinationPort", "destination"),
)


def _community_id(
    source_ip: str, destination_ip: str, transport: Any, src: dict[str, Any], dst: dict[str, Any]
) -> str | None:
    """``network.community_id`` (see :func:`.sysmon_net.community_id`), cached per flow."""
    key = (source_ip, destination_ip, transport, src.get("port"), dst.get("port"))
    if type(transport) is not str:
        return community_id(*key)
    flow = _flow_cache.get(key, _flow_cache)
    if flow is _flow_cache:
        flow = community_id(*key)
        if len(_flow_cache) >= _CACHE_LIMIT:
            _flow_cache.clear()
        _flow_cache[key] = flow
    return flow  # type: ignore[return-value]


def _user(text: str) -> tuple[tuple[str, ...], str | None, str | None, str | None]:
    """(``_temp.user_parts``, ``user.domain``, ``user.name``, ``related.user``) of ``User``."""
    found = _user_cache.get(text)
    if found is not None:
        return found
    parts = text.split("\\")
    while parts and parts[-1] == "":
        parts.pop()  # Java's String.split drops trailing empty strings
    domain = name = related = None
    if len(parts) == 2:
        if parts[0]:
            domain = template(parts[0])
        if parts[1]:
            name = template(parts[1])
            related = template(name)
    found = (tuple(parts), domain, name, related)
    if len(_user_cache) >= _CACHE_LIMIT:
        _user_cache.clear()
    _user_cache[text] = found
    return found


def _related_ips(doc: dict[str, Any], src: dict[str, Any] | None, dst: dict[str, Any] | None) -> None:
    """``related.ip`` from source.ip and destination.ip (valid addresses need no escaping)."""
    for side in (src, dst):
        ip = side.get("ip") if side else None
        if ip is None or ip == "":
            continue
        related = doc.get("related")
        if related is None:
            doc["related"] = {"ip": [ip]}
            continue
        ips = related.get("ip")
        if ips is None and "ip" not in related:
            related["ip"] = [ip]
        elif type(ips) is list:
            if ip not in ips:
                ips.append(ip)
        else:
            append(doc, "related.ip", ip, allow_duplicates=False)
