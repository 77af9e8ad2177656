"""Security channel: what the Winlogbeat 8.x / Elastic Agent ``system.security`` pipeline does.

:func:`map_security` takes a Winlogbeat-raw Security document (``winlog.event_data`` values are
strings) and applies the steps of the security ingest pipeline, in the pipeline's order, because
later steps read what earlier ones wrote (``user.id`` set from the target account decides whether
the next account lands in ``user.target``; the subject account then overwrites ``user.*`` for the
events that list it). In brief:

* ``event.category``/``type``/``action`` from the event id (``logged-in``, ``created-process``...);
* ``winlog.logon.type`` named, ``winlog.logon.id`` from ``SubjectLogonId`` (or ``TargetLogonId``
  for log-offs), ``winlog.logon.failure.*`` for 4625/4776;
* ``user.*``, ``user.target.*``, ``user.effective.*``, ``group.*``, ``related.user``;
* ``process.*`` (hex pids decoded; for 4688 also the parent, ``args`` and ``command_line``);
* ``source.ip``/``port``/``domain`` from ``IpAddress``/``IpPort``/``WorkstationName`` (``-`` is
  absent), ``related.ip``;
* ``service.*`` (4697, and any event with ``ServiceName``), ``file.*`` for shares (5140/5145);
* descriptive event data the pipeline adds: ``StatusDescription``, ``TicketOptionsDescription``,
  ``TicketEncryptionTypeDescription``, ``NewUACList``, ``AccessListDescription``,
  ``AccessMaskDescription``, ``AuditPolicyChangesDescription``, ``Category``/``SubCategory``...

Event data the pipeline does not consume stays as it came: insertion strings such as ``%%1833``
are not rendered here (newer Winlogbeat versions render them while reading the log; rules
written against older data match the raw form). Where the pipeline would fail on a malformed
value (a pid that is not a number, a ``kv`` part without ``=``), this mapping skips that one
step instead of failing the document. Events of other providers only get the steps the Agent's
``default`` pipeline runs after the standard one. See :mod:`vigil.ecs.windows.security_tables`
for the lookup tables.
"""

from __future__ import annotations

import re
from typing import Any

from _security_reference.security_helpers import (
    JAVA_REGEX_SPACE,
    JsonDict,
    append_unique,
    apply_time_created,
    child,
    get_path,
    java_is_whitespace,
    java_long_decode,
    java_split,
    java_trim,
    last_path_part,
    painless_ws_split,
    related_user,
    set_path,
)
from _security_reference.security_msgtable import ACCESS_MASK_BITS, DESCRIPTIONS, REVERSED
from _security_reference.security_sddl import enrich_security_descriptors
from _security_reference.security_tables import (
    AUDIT_SUBCATEGORIES,
    CATEGORIZATION,
    KERBEROS_STATUS,
    LOGON_FAILURE_STATUS,
    LOGON_TYPES,
    SERVICE_TYPES,
    TICKET_ENCRYPTION,
    TICKET_OPTIONS,
    TRUST_ATTRIBUTES,
    TRUST_DIRECTIONS,
    TRUST_TYPES,
    UAC_FLAGS,
)

#: Providers whose Security-channel events the standard pipeline maps.
SECURITY_PROVIDERS = frozenset({"Microsoft-Windows-Eventlog", "Microsoft-Windows-Security-Auditing"})

# Event ids each pipeline step applies to (the lists in the pipeline's conditions).
# fmt: off
_KERBEROS = frozenset({"4768", "4769", "4770", "4771"})
_SESSION = frozenset({"4778", "4779"})
_TARGET_USER = frozenset({
    "4624", "4625", "4634", "4647", "4648", "4768", "4769", "4770", "4771", "4776", "4964",
})
_GROUP_EVENTS = frozenset({
    "4727", "4728", "4729", "4730", "4731", "4732", "4733", "4734", "4735", "4737", "4744", "4745", "4746",
    "4747", "4748", "4749", "4750", "4751", "4752", "4753", "4754", "4755", "4756", "4757", "4758", "4759",
    "4760", "4761", "4762", "4763", "4764", "4799",
})
_COMPUTER_OBJECT = frozenset({"4741", "4742", "4743"})
_LOGOFF = frozenset({"4634", "4647", "4964"})
_SUBJECT_USER = frozenset({
    "4648", "4657", "4662", "4670", "4672", "4673", "4674", "4688", "4689", "4697", "4698", "4699", "4700",
    "4701", "4702", "4706", "4707", "4713", "4716", "4717", "4718", "4719", "4720", "4722", "4723", "4724",
    "4725", "4726", "4727", "4728", "4729", "4730", "4731", "4732", "4733", "4734", "4735", "4737", "4738",
    "4739", "4740", "4741", "4742", "4743", "4744", "4745", "4746", "4747", "4748", "4749", "4750", "4751",
    "4752", "4753", "4754", "4755", "4756", "4757", "4758", "4759", "4760", "4761", "4762", "4763", "4764",
    "4767", "4781", "4797", "4798", "4799", "4817", "4904", "4905", "4907", "4912", "5136", "5140", "5145",
    "5379", "5380", "5381", "5382",
})
_USER_TARGET = frozenset({
    "4670", "4720", "4722", "4723", "4724", "4725", "4726", "4738", "4740", "4767", "4797", "4798", "4817",
    "4907",
})
_USER_EFFECTIVE = frozenset({"4648", "4688"})
_COMMON_AUTH = frozenset({
    "1100", "1102", "1104", "1105", "1108", "4624", "4625", "4648", "4670", "4673", "4674", "4689", "4697",
    "4719", "4720", "4722", "4723", "4724", "4725", "4726", "4727", "4728", "4729", "4730", "4731", "4732",
    "4733", "4734", "4735", "4737", "4738", "4740", "4741", "4742", "4743", "4744", "4745", "4746", "4747",
    "4748", "4749", "4750", "4751", "4752", "4753", "4754", "4755", "4756", "4757", "4758", "4759", "4760",
    "4761", "4762", "4763", "4764", "4767", "4768", "4769", "4770", "4771", "4798", "4799", "4817", "4904",
    "4905", "4907", "4912", "5140", "5145",
})
_RELATED_SUBJECT = frozenset({"4624", "4648", "4797", "5379", "5380", "5381", "5382"})
_RELATED_TARGET = frozenset({
    "4688", "4720", "4722", "4723", "4724", "4725", "4726", "4738", "4740", "4767", "4797", "4798",
})
_PRIVILEGE_LIST = frozenset({"4672", "4673", "4674", "4741", "4742", "4743"})
_SDDL = frozenset({"4670", "4817", "4907", "4908"})
_SHARES = frozenset({"5140", "5145"})
# fmt: on

_MEMBER_NAME_SPLIT = re.compile(r"(?<!\\),")
_WHITESPACE_RUN = re.compile(JAVA_REGEX_SPACE + "+")
_MAPPED_V4 = re.compile(r"^\[?::ffff:([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)(?:\](?::[0-9]+)?)?$")
_MAPPED_V4_ANYWHERE = re.compile(r"::ffff:([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)")


def map_security(doc: dict[str, Any]) -> None:
    """Map a Winlogbeat-raw Security event to ECS in place, as the security ingest pipeline does.

    Never raises on odd input: unknown event ids keep their ``winlog.*`` fields and ``event.code``
    and only get the generic steps (outcome, string ids, ``related.ip``). A document without
    ``winlog.provider_name`` is treated as a Security-Auditing event.
    """
    winlog = doc.get("winlog")
    if not isinstance(winlog, dict):
        return
    event = child(doc, "event")
    _collection_defaults(event, winlog)
    code = event.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        code = event["code"] = str(code)
    code = code if isinstance(code, str) else ""
    provider = winlog.get("provider_name")
    if provider is None or provider in SECURITY_PROVIDERS:
        data = winlog.get("event_data")
        _standard(doc, winlog, event, code, data if isinstance(data, dict) else None)
    _agent_tail(doc, winlog)


def _collection_defaults(event: JsonDict, winlog: JsonDict) -> None:
    # Winlogbeat derives event.outcome from the audit keywords while reading the log; raw
    # documents built from other sources may lack it.
    if "outcome" in event:
        return
    keywords = winlog.get("keywords")
    if isinstance(keywords, str):
        keywords = [keywords]
    if not isinstance(keywords, list):
        return
    if "Audit Failure" in keywords:
        event["outcome"] = "failure"
    elif "Audit Success" in keywords:
        event["outcome"] = "success"


def _standard(doc: JsonDict, winlog: JsonDict, event: JsonDict, code: str, data: JsonDict | None) -> None:
    categorization = CATEGORIZATION.get(code)
    if categorization is not None:
        categories, types, action = categorization
        event["category"] = list(categories)
        event["type"] = list(types)
        event["action"] = action
    if data is not None:
        _decode_values(doc, winlog, code, data)
        _session(doc, winlog, code, data)
        if code in _TARGET_USER:
            _target_user(doc, data)
        if code in _GROUP_EVENTS:
            _group_membership(doc, data)
        if code in _COMPUTER_OBJECT:
            _computer_object(winlog, data)
        if code in _LOGOFF and "TargetLogonId" in data:
            child(winlog, "logon")["id"] = data["TargetLogonId"]
        if code in _SUBJECT_USER:
            _subject_user(doc, data)
        if code in _USER_TARGET:
            _copy_account(doc, data, "target", "TargetSid")
        if code in _USER_EFFECTIVE:
            _copy_account(doc, data, "effective", "TargetUserSid")
    if code == "1102":
        _subject_from_user_data(doc, winlog)
    if data is not None and "SubjectLogonId" in data:
        child(winlog, "logon")["id"] = data["SubjectLogonId"]
    user_data = winlog.get("user_data")
    if code == "1102" and isinstance(user_data, dict) and "SubjectLogonId" in user_data:
        child(winlog, "logon")["id"] = user_data["SubjectLogonId"]
    if data is None:
        return
    if code in _COMMON_AUTH:
        _common_auth(doc, data)
    if code == "4688":
        _process_creation(doc, data)
    _related_accounts(doc, code, data)
    _source_ip(doc)
    if code in _SDDL:
        enrich_security_descriptors(doc, data)
    if code in _SHARES:
        _share_file(doc, data)


def _agent_tail(doc: JsonDict, winlog: JsonDict) -> None:
    # Steps of the Agent's "default" pipeline that run after the standard one (geoip aside).
    source = doc.get("source")
    if isinstance(source, dict) and isinstance(source.get("ip"), str):
        source["ip"] = _MAPPED_V4_ANYWHERE.sub(r"\1", source["ip"])
        if source["ip"] != "-":
            append_unique(child(doc, "related"), "ip", source["ip"])
    for key in ("record_id", "event_id"):
        value = winlog.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            winlog[key] = str(value)
    level = winlog.get("level")
    if isinstance(level, str) and level:
        set_path(doc, "log.level", level)
    apply_time_created(doc)


def _flag_names(value: int, flags: dict[int, str]) -> list[str]:
    return [name for flag, name in flags.items() if value & flag == flag]


def _decode_values(doc: JsonDict, winlog: JsonDict, code: str, data: JsonDict) -> None:
    """Logon type, UAC, Kerberos, service, audit and message-table descriptions."""
    logon_type = data.get("LogonType")
    if isinstance(logon_type, str) and logon_type in LOGON_TYPES:
        child(winlog, "logon")["type"] = LOGON_TYPES[logon_type]
    _uac(data)
    options = data.get("TicketOptions")
    if isinstance(options, str):
        decoded = java_long_decode(options)
        names = _flag_names(decoded, TICKET_OPTIONS) if decoded is not None else []
        if names:
            data["TicketOptionsDescription"] = names
    encryption = data.get("TicketEncryptionType")
    if isinstance(encryption, str) and encryption.lower() in TICKET_ENCRYPTION:
        data["TicketEncryptionTypeDescription"] = TICKET_ENCRYPTION[encryption.lower()]
    status = data.get("Status")
    if code in _KERBEROS and isinstance(status, str):
        key = "0x" + status[2:].upper() if len(status) > 2 else status
        if key in KERBEROS_STATUS:
            data["StatusDescription"] = KERBEROS_STATUS[key]
    _service(doc, data)
    guid = data.get("SubcategoryGuid")
    if isinstance(guid, str):
        found = AUDIT_SUBCATEGORIES.get(guid.replace("{", "").replace("}", "").upper())
        if found is not None:
            data["Category"] = found[1]
            data["SubCategory"] = found[0]
    _message_table(winlog, data)
    if code in ("4625", "4776"):
        _logon_failure(winlog, data)
    for field, table, target in (
        ("TdoType", TRUST_TYPES, "trustType"),
        ("TdoDirection", TRUST_DIRECTIONS, "trustDirection"),
        ("TdoAttributes", TRUST_ATTRIBUTES, "trustAttribute"),
    ):
        value = data.get(field)
        if isinstance(value, str) and value in table:
            winlog[target] = table[value]


def _uac(data: JsonDict) -> None:
    raw = data.get("NewUacValue")
    if not isinstance(raw, str) or raw == "-":
        return
    value = java_long_decode(java_trim(raw))
    if value is None:
        return
    names = _flag_names(value, UAC_FLAGS)
    if not names:
        return
    data["NewUACList"] = names
    uac = data.get("UserAccountControl")
    if isinstance(uac, str) and uac != "-":
        parts = (java_trim(p.replace("%%", "")) for p in uac.split("\n"))
        data["UserAccountControl"] = [p for p in parts if p]


def _message_table(winlog: JsonDict, data: JsonDict) -> None:
    reason = data.get("FailureReason")
    if isinstance(reason, str):
        stripped = reason.replace("%%", "")
        child(child(winlog, "logon"), "failure")["reason"] = DESCRIPTIONS.get(stripped, stripped)
    changes = data.get("AuditPolicyChanges")
    if isinstance(changes, str):
        codes = (java_trim(part.replace("%%", "")) for part in changes.split(","))
        data["AuditPolicyChangesDescription"] = [DESCRIPTIONS.get(c, c) for c in codes]
    access_list = data.get("AccessList")
    if isinstance(access_list, str):
        entries = [java_trim(e.replace("%%", "")) for e in painless_ws_split(access_list)]
        codes_only = [e for e in entries if e]
        if codes_only:
            data["AccessList"] = codes_only
        data["AccessListDescription"] = [DESCRIPTIONS.get(e, e) for e in entries]
    for field in ("Direction", "LayerName"):
        value = data.get(field)
        if isinstance(value, str):
            key = java_trim(value.replace("%%", ""))
            if key in DESCRIPTIONS:
                data[field + "Description"] = DESCRIPTIONS[key]
    mask = data.get("AccessMask")
    if isinstance(mask, str):
        _access_mask(data, mask)


def _access_mask(data: JsonDict, mask: str) -> None:
    shown: list[str] = []
    combined = 0
    for element in painless_ws_split(mask):
        if not element:
            continue
        key = java_trim(element.replace("%%", ""))
        if key in DESCRIPTIONS:
            shown.append(DESCRIPTIONS[key])
        else:
            shown.append(key)
            key = REVERSED.get(key, key)
        decoded = java_long_decode(key)
        if decoded is not None:
            combined |= decoded
    if shown:
        data["AccessMask"] = shown
    names = [
        ACCESS_MASK_BITS[1 << bit]
        for bit in range(32)
        if combined & (1 << bit) and (1 << bit) in ACCESS_MASK_BITS
    ]
    if names:
        data["AccessMaskDescription"] = names


def _logon_failure(winlog: JsonDict, data: JsonDict) -> None:
    status = data.get("Status")
    if not isinstance(status, str):
        return
    if status in LOGON_FAILURE_STATUS:
        child(child(winlog, "logon"), "failure")["status"] = LOGON_FAILURE_STATUS[status]
    sub_status = data.get("SubStatus")
    if isinstance(sub_status, str) and sub_status in LOGON_FAILURE_STATUS:
        child(child(winlog, "logon"), "failure")["sub_status"] = LOGON_FAILURE_STATUS[sub_status]


def _session(doc: JsonDict, winlog: JsonDict, code: str, data: JsonDict) -> None:
    """4778/4779: the reconnected/disconnected session's account, client and logon id."""
    if code not in _SESSION:
        return
    account = data.get("AccountName")
    if account is not None:
        child(doc, "user")["name"] = account
        related_user(doc, account)
    if data.get("AccountDomain") is not None:
        child(doc, "user")["domain"] = data["AccountDomain"]
    address = data.get("ClientAddress")
    if isinstance(address, str) and address not in ("-", "Unknown"):
        if address == "LOCAL":  # not an address; the pipeline rewrites it in the event data too
            address = data["ClientAddress"] = "127.0.0.1"
        child(doc, "source")["ip"] = address
        append_unique(child(doc, "related"), "ip", address)
    if data.get("ClientName") is not None:
        child(doc, "source")["domain"] = data["ClientName"]
    if data.get("LogonID") is not None:
        child(winlog, "logon")["id"] = data["LogonID"]


def _user_or_target(doc: JsonDict, key: str, value: Any) -> None:
    # The first account fills user.*; a second one (user.<key> already set) goes to user.target.
    user = child(doc, "user")
    if user.get(key) is None:
        user[key] = value
    else:
        child(user, "target")[key] = value


def _target_user(doc: JsonDict, data: JsonDict) -> None:
    """Logon, logoff and Kerberos events: the target account becomes ``user.*``."""
    sid = data.get("TargetUserSid")
    if sid is None:
        sid = data.get("TargetSid")
    if sid is not None:
        _user_or_target(doc, "id", sid)
    name = data.get("TargetUserName")
    if isinstance(name, str):
        short = name.split("@")[0]
        _user_or_target(doc, "name", short)
        related_user(doc, short)
    if data.get("TargetDomainName") is not None:
        _user_or_target(doc, "domain", data["TargetDomainName"])


def _group_membership(doc: JsonDict, data: JsonDict) -> None:
    """Group events: the member (``MemberName`` DN) is ``user.target``, the group is ``group.*``."""
    member = data.get("MemberName")
    if isinstance(member, str):
        parts = java_split(_MEMBER_NAME_SPLIT, member)
        name = parts[0].replace("CN=", "").replace("cn=", "") if parts else ""
        target = child(child(doc, "user"), "target")
        target["name"] = name
        related_user(doc, name)
        if len(parts) >= 4:
            target["domain"] = parts[3].replace("DC=", "").replace("dc=", "")
    group: JsonDict = {}
    for field in ("TargetUserSid", "TargetSid"):  # TargetSid wins when both are there
        if data.get(field) is not None:
            group["id"] = data[field]
    if data.get("TargetUserName") is not None:
        group["name"] = data["TargetUserName"]
    domain = data.get("TargetDomainName")
    if isinstance(domain, str):
        group["domain"] = domain.replace("DC=", "").replace("dc=", "")
    if group:
        child(doc, "group").update(group)
    target_account = get_path(doc, "user.target")
    if isinstance(target_account, dict):
        copied = child(target_account, "group")
        existing = doc.get("group")
        if isinstance(existing, dict):
            copied.update(
                {k: v for k, v in existing.items() if k in ("id", "name", "domain") and v is not None}
            )


def _computer_object(winlog: JsonDict, data: JsonDict) -> None:
    for field, key in (("TargetSid", "id"), ("TargetUserName", "name"), ("TargetDomainName", "domain")):
        if data.get(field) is not None:
            child(winlog, "computerObject")[key] = data[field]


def _subject_user(doc: JsonDict, data: JsonDict) -> None:
    """The subject (acting) account overwrites ``user.*`` for the events that carry one."""
    if data.get("SubjectUserSid") is not None:
        child(doc, "user")["id"] = data["SubjectUserSid"]
    if data.get("SubjectUserName") is not None:
        child(doc, "user")["name"] = data["SubjectUserName"]
        related_user(doc, data["SubjectUserName"])
    if data.get("SubjectDomainName") is not None:
        child(doc, "user")["domain"] = data["SubjectDomainName"]


def _copy_account(doc: JsonDict, data: JsonDict, where: str, sid_field: str) -> None:
    """``user.target`` (account management) or ``user.effective`` (4648/4688); ``-`` is no value."""
    user = child(doc, "user")
    account = child(user, where)
    sid = data.get(sid_field)
    if sid not in (None, "", "-"):
        account["id"] = sid
    name = data.get("TargetUserName")
    if isinstance(name, str) and name not in ("", "-"):
        account["name"] = name.split("@")[0]
        related_user(doc, account["name"])
    domain = data.get("TargetDomainName")
    if domain not in (None, "", "-"):
        account["domain"] = domain
    if not account:
        del user[where]


def _subject_from_user_data(doc: JsonDict, winlog: JsonDict) -> None:
    # 1102 (log cleared) carries its subject in user_data, not event_data.
    user_data = winlog.get("user_data")
    if isinstance(user_data, dict):
        _subject_user(doc, user_data)


def _decode_into(target: JsonDict, key: str, data: JsonDict, field: str) -> None:
    raw = data.get(field)
    if raw is None:
        return
    value = java_long_decode(raw) if isinstance(raw, str) else raw
    if value is None:
        return  # the pipeline would fail here; keep the raw value instead
    target[key] = value
    del data[field]


def _common_auth(doc: JsonDict, data: JsonDict) -> None:
    """Process, source address and workstation fields shared by many events (moved out of event data)."""
    if data.get("ProcessId") is not None:
        _decode_into(child(doc, "process"), "pid", data, "ProcessId")
    if data.get("ProcessName") is not None:
        child(doc, "process")["executable"] = data.pop("ProcessName")
    address = data.get("IpAddress")
    if address is not None and address != "-":
        child(doc, "source")["ip"] = data.pop("IpAddress")
    port = data.get("IpPort")
    if port is not None and port != "-":
        _decode_into(child(doc, "source"), "port", data, "IpPort")
    if data.get("WorkstationName") is not None:
        child(doc, "source")["domain"] = data.pop("WorkstationName")
    client = data.get("ClientAddress")
    if client is not None and client != "-":
        # The pipeline sets (not appends) related.ip here.
        child(doc, "related")["ip"] = data.pop("ClientAddress")
    process = doc.get("process")
    if (
        isinstance(process, dict)
        and process.get("name") is None
        and isinstance(process.get("executable"), str)
    ):
        process["name"] = last_path_part(process["executable"])


def _split_4688_command_line(command_line: str) -> list[str]:
    # The pipeline's own splitter: whitespace outside double quotes separates arguments and the
    # quotes stay in the arguments; consecutive spaces give empty arguments.
    args: list[str] = []
    start = 0
    in_quote = False
    last = len(command_line) - 1
    for i, char in enumerate(command_line):
        if char == '"':
            in_quote = not in_quote
        if java_is_whitespace(char) and not in_quote:
            args.append(command_line[start:i])
            start = i + 1
        if i == last:
            args.append(command_line[start : i + 1])
    return args


def _process_creation(doc: JsonDict, data: JsonDict) -> None:
    """4688: the new process, its parent and its command line."""
    process = child(doc, "process")
    if data.get("NewProcessId") is not None:
        _decode_into(process, "pid", data, "NewProcessId")
    if data.get("NewProcessName") is not None:
        process["executable"] = data.pop("NewProcessName")
    if data.get("ParentProcessName") is not None:
        child(process, "parent")["executable"] = data.pop("ParentProcessName")
    if process.get("name") is None and isinstance(process.get("executable"), str):
        process["name"] = last_path_part(process["executable"])
    parent = process.get("parent")
    if isinstance(parent, dict) and parent.get("name") is None and isinstance(parent.get("executable"), str):
        parent["name"] = last_path_part(parent["executable"])
    parent_pid = data.get("ProcessId")
    if parent_pid is not None:
        # The creator's pid is copied, not moved: ProcessId stays in the event data.
        value = java_long_decode(parent_pid) if isinstance(parent_pid, str) else parent_pid
        if value is not None:
            child(process, "parent")["pid"] = value
    command_line = data.get("CommandLine")
    if isinstance(command_line, str):
        args = _split_4688_command_line(command_line)
        process["args"] = args
        process["args_count"] = len(args)
        process["command_line"] = command_line
    target = data.get("TargetUserName")
    if isinstance(target, str) and target != "-":
        related_user(doc, target)


def _related_accounts(doc: JsonDict, code: str, data: JsonDict) -> None:
    subject = data.get("SubjectUserName")
    if code in _RELATED_SUBJECT and isinstance(subject, str) and subject != "-":
        related_user(doc, subject)
    target = data.get("TargetUserName")
    if code in _RELATED_TARGET and isinstance(target, str) and target != "-":
        related_user(doc, target)
    privileges = data.get("PrivilegeList")
    if code in _PRIVILEGE_LIST and isinstance(privileges, str):
        data["PrivilegeList"] = java_split(_WHITESPACE_RUN, privileges)
    old_name = data.get("OldTargetUserName")
    if old_name not in (None, ""):
        child(child(doc, "user"), "target")["name"] = old_name
    new_name = data.get("NewTargetUserName")
    if new_name not in (None, ""):
        child(child(doc, "user"), "changes")["name"] = new_name
    for name in (new_name, old_name):
        if isinstance(name, str) and name != "-":
            related_user(doc, name)


def _source_ip(doc: JsonDict) -> None:
    source = doc.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("ip"), str):
        return
    source["ip"] = _MAPPED_V4.sub(r"\1", source["ip"])
    if source["ip"] != "-":
        append_unique(child(doc, "related"), "ip", source["ip"])


def _share_file(doc: JsonDict, data: JsonDict) -> None:
    """5140/5145: the shared file or folder as ``file.*``."""
    file: JsonDict = {}
    name = data.get("RelativeTargetName")
    if name is not None and name != "":
        file["name"] = name
    directory = data.get("ShareLocalPath")
    if directory is not None and directory != "":
        file["directory"] = directory
    if "name" in file and "directory" in file:
        file["path"] = f"{file['directory']}\\{file['name']}"
    share = data.get("ShareName")
    if share is not None and share != "" and "name" in file:
        file["target_path"] = f"{share}\\{file['name']}"
    if isinstance(file.get("name"), str) and "." in file["name"]:
        file["extension"] = file["name"][file["name"].rfind(".") + 1 :]
    if file:
        child(doc, "file").update(file)


def _service(doc: JsonDict, data: JsonDict) -> None:
    # Any event with a ServiceName gets service.name (4697, but also 4769's Kerberos service).
    if data.get("ServiceName") is not None:
        child(doc, "service")["name"] = data["ServiceName"]
    service_type = data.get("ServiceType")
    if isinstance(service_type, str) and service_type in SERVICE_TYPES:
        child(doc, "service")["type"] = SERVICE_TYPES[service_type]


__all__ = ["SECURITY_PROVIDERS", "map_security"]
