"""The steps of the Security pipeline, for :mod:`vigil.ecs.windows.security`.

Each function is one step of the ``system.security`` ingest pipeline (or one part of its value
decoding): :func:`security.map_security` calls them in the pipeline's order, often only when the
fields they read are there; each one still checks its inputs itself, so calling it without them
changes nothing. The frequent ones read the event data directly and remember recurring values
(access lists and masks, message-table codes, privilege lists, process names, command lines) in
bounded caches; the rest (Kerberos, account management, group membership, trust, sessions,
shares) are written plainly.
"""

from __future__ import annotations

import re
from typing import Any

from vigil.ecs.windows.security_helpers import (
    JAVA_REGEX_SPACE,
    JAVA_WHITESPACE,
    JsonDict,
    append_unique,
    child,
    java_long_decode,
    java_split,
    java_trim,
    painless_ws_split,
    related_user,
)
from vigil.ecs.windows.security_msgtable import ACCESS_MASK_BITS, DESCRIPTIONS, REVERSED
from vigil.ecs.windows.security_tables import (
    AUDIT_SUBCATEGORIES,
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

# Every event data field the decoding steps read: events without any of them (about four in ten)
# skip those steps after one C-level pass over their keys.
_DECODED = frozenset({
    "LogonType", "NewUacValue", "TicketOptions", "TicketEncryptionType", "Status", "SubStatus", "ServiceName",
    "ServiceType", "SubcategoryGuid", "FailureReason", "AuditPolicyChanges", "AccessList", "Direction",
    "LayerName", "AccessMask", "TdoType", "TdoDirection", "TdoAttributes",
})  # fmt: skip

_MAPPED_V4 = re.compile(r"^\[?::ffff:([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)(?:\](?::[0-9]+)?)?$")
_MAPPED_V4_ANYWHERE = re.compile(r"::ffff:([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)")
_WHITESPACE_RUN = re.compile(JAVA_REGEX_SPACE + "+")
_JAVA_WHITESPACE_CHAR = re.compile("[" + re.escape(JAVA_WHITESPACE) + "]")

# Values that recur across events (access lists and masks, message-table codes, privilege lists,
# process names, command lines) are worked out once. Each cache holds immutable results (tuples,
# strings), is emptied when full and only takes texts up to _CACHED_MAX_CHARS (a longer one is
# worked out each time), so its memory stays bounded whatever the input.
_CACHE_CAP = 4096
_CACHED_MAX_CHARS = 1024
_access_lists: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
_access_masks: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
_table_texts: dict[str, str | None] = {}
_privilege_lists: dict[str, tuple[str, ...]] = {}
_command_lines: dict[str, tuple[str, ...]] = {}
_path_names: dict[str, str] = {}
_UNSEEN: Any = object()

_MEMBER_NAME_SPLIT = re.compile(r"(?<!\\),")


def flag_names(value: int, flags: dict[int, str]) -> list[str]:
    return [name for flag, name in flags.items() if value & flag == flag]


# --------------------------------------------------------------------------- value decoding


def uac(data: JsonDict) -> None:
    """``NewUacValue`` bits as ``NewUACList``; ``UserAccountControl`` split into its codes."""
    raw = data.get("NewUacValue")
    if not isinstance(raw, str) or raw == "-":
        return
    value = java_long_decode(java_trim(raw))
    if value is None:
        return
    names = flag_names(value, UAC_FLAGS)
    if not names:
        return
    data["NewUACList"] = names
    uac = data.get("UserAccountControl")
    if isinstance(uac, str) and uac != "-":
        parts = (java_trim(p.replace("%%", "")) for p in uac.split("\n"))
        data["UserAccountControl"] = [p for p in parts if p]


def ticket_options(data: JsonDict) -> None:
    options = data.get("TicketOptions")
    if isinstance(options, str):
        decoded = java_long_decode(options)
        names = flag_names(decoded, TICKET_OPTIONS) if decoded is not None else []
        if names:
            data["TicketOptionsDescription"] = names


def ticket_encryption(data: JsonDict) -> None:
    encryption = data.get("TicketEncryptionType")
    if isinstance(encryption, str) and encryption.lower() in TICKET_ENCRYPTION:
        data["TicketEncryptionTypeDescription"] = TICKET_ENCRYPTION[encryption.lower()]


def kerberos_status(data: JsonDict) -> None:
    status = data.get("Status")
    if isinstance(status, str):
        key = "0x" + status[2:].upper() if len(status) > 2 else status
        if key in KERBEROS_STATUS:
            data["StatusDescription"] = KERBEROS_STATUS[key]


def service(doc: JsonDict, data: JsonDict) -> None:
    # Any event with a ServiceName gets service.name (4697, but also 4769's Kerberos service).
    if data.get("ServiceName") is not None:
        child(doc, "service")["name"] = data["ServiceName"]
    service_type = data.get("ServiceType")
    if isinstance(service_type, str) and service_type in SERVICE_TYPES:
        child(doc, "service")["type"] = SERVICE_TYPES[service_type]


def subcategory(data: JsonDict) -> None:
    guid = data.get("SubcategoryGuid")
    if isinstance(guid, str):
        found = AUDIT_SUBCATEGORIES.get(guid.replace("{", "").replace("}", "").upper())
        if found is not None:
            data["Category"] = found[1]
            data["SubCategory"] = found[0]


def failure_reason(winlog: JsonDict, data: JsonDict) -> None:
    reason = data.get("FailureReason")
    if isinstance(reason, str):
        stripped = reason.replace("%%", "")
        child(child(winlog, "logon"), "failure")["reason"] = DESCRIPTIONS.get(stripped, stripped)


def audit_policy_changes(data: JsonDict) -> None:
    changes = data.get("AuditPolicyChanges")
    if isinstance(changes, str):
        codes = (java_trim(part.replace("%%", "")) for part in changes.split(","))
        data["AuditPolicyChangesDescription"] = [DESCRIPTIONS.get(c, c) for c in codes]


def logon_failure_status(winlog: JsonDict, data: JsonDict) -> None:
    """4625/4776: ``Status``/``SubStatus`` as ``winlog.logon.failure.status``/``sub_status``."""
    status = data.get("Status")
    if not isinstance(status, str):
        return
    if status in LOGON_FAILURE_STATUS:
        child(child(winlog, "logon"), "failure")["status"] = LOGON_FAILURE_STATUS[status]
    sub_status = data.get("SubStatus")
    if isinstance(sub_status, str) and sub_status in LOGON_FAILURE_STATUS:
        child(child(winlog, "logon"), "failure")["sub_status"] = LOGON_FAILURE_STATUS[sub_status]


def trust(winlog: JsonDict, data: JsonDict) -> None:
    for field, table, target in (
        ("TdoType", TRUST_TYPES, "trustType"),
        ("TdoDirection", TRUST_DIRECTIONS, "trustDirection"),
        ("TdoAttributes", TRUST_ATTRIBUTES, "trustAttribute"),
    ):
        value = data.get(field)
        if isinstance(value, str) and value in table:
            winlog[target] = table[value]


# --------------------------------------------------------------------------- accounts


def session(doc: JsonDict, winlog: JsonDict, data: JsonDict) -> None:
    """4778/4779: the reconnected/disconnected session's account, client and logon id."""
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


def group_membership(doc: JsonDict, data: JsonDict) -> None:
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
    user = doc.get("user")
    target_account = user.get("target") if isinstance(user, dict) else None
    if isinstance(target_account, dict):
        copied = child(target_account, "group")
        existing = doc.get("group")
        if isinstance(existing, dict):
            copied.update(
                {k: v for k, v in existing.items() if k in ("id", "name", "domain") and v is not None}
            )


def computer_object(winlog: JsonDict, data: JsonDict) -> None:
    for field, key in (("TargetSid", "id"), ("TargetUserName", "name"), ("TargetDomainName", "domain")):
        if data.get(field) is not None:
            child(winlog, "computerObject")[key] = data[field]


def subject_user(doc: JsonDict, data: JsonDict) -> None:
    """The subject (acting) account overwrites ``user.*`` for the events that carry one."""
    sid = data.get("SubjectUserSid")
    user = child(doc, "user") if sid is not None else None
    if user is not None:
        user["id"] = sid
    name = data.get("SubjectUserName")
    if name is not None:
        if user is None:
            user = child(doc, "user")
        user["name"] = name
        related_user(doc, name)
    domain = data.get("SubjectDomainName")
    if domain is not None:
        (child(doc, "user") if user is None else user)["domain"] = domain


def copy_account(doc: JsonDict, data: JsonDict, where: str, sid_field: str) -> None:
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


def subject_from_user_data(doc: JsonDict, winlog: JsonDict) -> None:
    # 1102 (log cleared) carries its subject in user_data, not event_data.
    user_data = winlog.get("user_data")
    if isinstance(user_data, dict):
        subject_user(doc, user_data)


def renamed_account(doc: JsonDict, data: JsonDict) -> None:
    """4781: the old name is ``user.target.name``, the new one ``user.changes.name``."""
    old_name = data.get("OldTargetUserName")
    if old_name not in (None, ""):
        child(child(doc, "user"), "target")["name"] = old_name
    new_name = data.get("NewTargetUserName")
    if new_name not in (None, ""):
        child(child(doc, "user"), "changes")["name"] = new_name
    for name in (new_name, old_name):
        if isinstance(name, str) and name != "-":
            related_user(doc, name)


# --------------------------------------------------------------------------- objects


def share_file(doc: JsonDict, data: JsonDict) -> None:
    """5140/5145: the shared file or folder as ``file.*``."""
    file: JsonDict = {}
    name: Any = data.get("RelativeTargetName")
    if name is not None and name != "":
        file["name"] = name
    directory = data.get("ShareLocalPath")
    if directory is not None and directory != "":
        file["directory"] = directory
    if "name" in file and "directory" in file:
        file["path"] = f"{directory}\\{name}"
    share = data.get("ShareName")
    if share is not None and share != "" and "name" in file:
        file["target_path"] = f"{share}\\{name}"
    if isinstance(name, str) and "." in name:
        file["extension"] = name[name.rfind(".") + 1 :]
    if file:
        child(doc, "file").update(file)


# --------------------------------------------------------------------------- frequent steps


def source_ip(doc: JsonDict) -> None:
    """An IPv4-mapped IPv6 source address becomes the IPv4 address; it is also a ``related.ip``.

    Then the same for the Agent's pipeline, which runs after the standard one: the steps in
    between (descriptors, shares) touch neither ``source`` nor ``related.ip``.
    """
    source = doc.get("source")
    if isinstance(source, dict):
        ip = source.get("ip")
        if isinstance(ip, str):
            if "::ffff:" in ip:
                ip = source["ip"] = _MAPPED_V4.sub(r"\1", ip)
            if ip != "-":
                append_unique(child(doc, "related"), "ip", ip)
            if "::ffff:" in ip:
                agent_source_ip(doc, source)


def agent_source_ip(doc: JsonDict, source: JsonDict) -> None:
    # The Agent pipeline's step: "::ffff:" before an IPv4 address anywhere in source.ip goes.
    ip = source.get("ip")
    if isinstance(ip, str):
        if "::ffff:" in ip:
            ip = source["ip"] = _MAPPED_V4_ANYWHERE.sub(r"\1", ip)
        if ip != "-":
            append_unique(child(doc, "related"), "ip", ip)


def decode_values(
    doc: JsonDict, winlog: JsonDict, data: JsonDict, kerberos: bool, logon_failure: bool
) -> None:
    """Logon type, UAC, Kerberos, service, audit and message-table descriptions, in pipeline order."""
    if _DECODED.isdisjoint(data):  # (true for about four events in ten: one C-level pass)
        return
    logon_type = data.get("LogonType")
    if isinstance(logon_type, str) and logon_type in LOGON_TYPES:
        child(winlog, "logon")["type"] = LOGON_TYPES[logon_type]
    if "NewUacValue" in data:
        uac(data)
    if "TicketOptions" in data:
        ticket_options(data)
    if "TicketEncryptionType" in data:
        ticket_encryption(data)
    if kerberos and "Status" in data:
        kerberos_status(data)
    if "ServiceName" in data or "ServiceType" in data:
        service(doc, data)
    if "SubcategoryGuid" in data:
        subcategory(data)
    if "FailureReason" in data:
        failure_reason(winlog, data)
    if "AuditPolicyChanges" in data:
        audit_policy_changes(data)
    access_list = data.get("AccessList")
    if isinstance(access_list, str):
        found = _access_lists.get(access_list)
        if found is None:
            found = _remember(_access_lists, access_list, _describe_access_list(access_list))
        codes, descriptions = found
        if codes:
            data["AccessList"] = list(codes)
        data["AccessListDescription"] = list(descriptions)
    direction = data.get("Direction")
    if isinstance(direction, str):
        text = _table_text(direction)
        if text is not None:
            data["DirectionDescription"] = text
    layer = data.get("LayerName")
    if isinstance(layer, str):
        text = _table_text(layer)
        if text is not None:
            data["LayerNameDescription"] = text
    mask = data.get("AccessMask")
    if isinstance(mask, str):
        found = _access_masks.get(mask)
        if found is None:
            found = _remember(_access_masks, mask, _describe_access_mask(mask))
        shown, names = found
        if shown:
            data["AccessMask"] = list(shown)
        if names:
            data["AccessMaskDescription"] = list(names)
    if logon_failure:
        logon_failure_status(winlog, data)
    if "TdoType" in data or "TdoDirection" in data or "TdoAttributes" in data:
        trust(winlog, data)


def _remember(cache: dict[str, Any], key: str, value: Any) -> Any:
    if len(key) <= _CACHED_MAX_CHARS:
        if len(cache) >= _CACHE_CAP:
            cache.clear()
        cache[key] = value
    return value


def _describe_access_list(access_list: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # The entries without %% (empty ones dropped) and each entry's message-table text.
    entries = [java_trim(e.replace("%%", "")) for e in painless_ws_split(access_list)]
    return tuple(e for e in entries if e), tuple(DESCRIPTIONS.get(e, e) for e in entries)


def _describe_access_mask(mask: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # Each element's text (a %% code's description, else the element) and the names of the bits
    # of all elements' values combined (a rendered text maps back to its code first).
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
    names = tuple(
        ACCESS_MASK_BITS[1 << bit]
        for bit in range(32)
        if combined & (1 << bit) and (1 << bit) in ACCESS_MASK_BITS
    )
    return tuple(shown), names


def _table_text(value: str) -> str | None:
    """The message-table text of a ``%%NNNN`` value (``Direction``, ``LayerName``), else ``None``."""
    found = _table_texts.get(value, _UNSEEN)
    if found is _UNSEEN:
        found = _remember(_table_texts, value, DESCRIPTIONS.get(java_trim(value.replace("%%", ""))))
    return found


def privilege_list(privileges: str) -> list[str]:
    found = _privilege_lists.get(privileges)
    if found is None:
        found = _remember(_privilege_lists, privileges, tuple(java_split(_WHITESPACE_RUN, privileges)))
    return list(found)


def target_user(doc: JsonDict, data: JsonDict) -> None:
    """Logon, logoff and Kerberos events: the target account becomes ``user.*``.

    The first account fills ``user.<key>``; when that is already set, it goes to ``user.target``.
    """
    sid = data.get("TargetUserSid")
    if sid is None:
        sid = data.get("TargetSid")
    if sid is not None:
        user = child(doc, "user")
        if user.get("id") is None:
            user["id"] = sid
        else:
            child(user, "target")["id"] = sid
    name = data.get("TargetUserName")
    if isinstance(name, str):
        short = name.partition("@")[0]
        user = child(doc, "user")
        if user.get("name") is None:
            user["name"] = short
        else:
            child(user, "target")["name"] = short
        related_user(doc, short)
    domain = data.get("TargetDomainName")
    if domain is not None:
        user = child(doc, "user")
        if user.get("domain") is None:
            user["domain"] = domain
        else:
            child(user, "target")["domain"] = domain


def common_auth(doc: JsonDict, data: JsonDict) -> None:
    """Process, source address and workstation fields shared by many events (moved out of event data).

    A dict fetched (or created) once is reused: nothing in between replaces it in ``doc``.
    """
    process: JsonDict | None = None
    pid = data.get("ProcessId")
    if pid is not None:
        process = child(doc, "process")
        value = java_long_decode(pid) if isinstance(pid, str) else pid
        if value is not None:  # else the pipeline would fail; the raw value stays
            process["pid"] = value
            del data["ProcessId"]
    if data.get("ProcessName") is not None:
        if process is None:
            process = child(doc, "process")
        process["executable"] = data.pop("ProcessName")
    source: JsonDict | None = None
    address = data.get("IpAddress")
    if address is not None and address != "-":
        source = child(doc, "source")
        source["ip"] = data.pop("IpAddress")
    port = data.get("IpPort")
    if port is not None and port != "-":
        if source is None:
            source = child(doc, "source")
        value = java_long_decode(port) if isinstance(port, str) else port
        if value is not None:
            source["port"] = value
            del data["IpPort"]
    if data.get("WorkstationName") is not None:
        if source is None:
            source = child(doc, "source")
        source["domain"] = data.pop("WorkstationName")
    client = data.get("ClientAddress")
    if client is not None and client != "-":
        # The pipeline sets (not appends) related.ip here.
        child(doc, "related")["ip"] = data.pop("ClientAddress")
    found = doc.get("process")
    if isinstance(found, dict) and found.get("name") is None:
        executable = found.get("executable")
        if isinstance(executable, str):
            found["name"] = _path_name(executable)


def _path_name(path: str) -> str:
    """What ``splitOnToken("\\\\")[-1]`` gives: the text after the last backslash."""
    found = _path_names.get(path)
    if found is None:
        found = _remember(_path_names, path, path.rpartition("\\")[2])
    return found


def process_creation(doc: JsonDict, data: JsonDict) -> None:
    """4688: the new process, its parent and its command line."""
    process = child(doc, "process")
    pid = data.get("NewProcessId")
    if pid is not None:
        value = java_long_decode(pid) if isinstance(pid, str) else pid
        if value is not None:
            process["pid"] = value
            del data["NewProcessId"]
    if data.get("NewProcessName") is not None:
        process["executable"] = data.pop("NewProcessName")
    if data.get("ParentProcessName") is not None:
        child(process, "parent")["executable"] = data.pop("ParentProcessName")
    if process.get("name") is None:
        executable = process.get("executable")
        if isinstance(executable, str):
            process["name"] = _path_name(executable)
    parent = process.get("parent")
    if isinstance(parent, dict) and parent.get("name") is None:
        executable = parent.get("executable")
        if isinstance(executable, str):
            parent["name"] = _path_name(executable)
    parent_pid = data.get("ProcessId")
    if parent_pid is not None:
        # The creator's pid is copied, not moved: ProcessId stays in the event data.
        value = java_long_decode(parent_pid) if isinstance(parent_pid, str) else parent_pid
        if value is not None:
            child(process, "parent")["pid"] = value
    command_line = data.get("CommandLine")
    if isinstance(command_line, str):
        found = _command_lines.get(command_line)
        if found is None:
            found = _remember(_command_lines, command_line, tuple(split_4688_command_line(command_line)))
        process["args"] = list(found)
        process["args_count"] = len(found)
        process["command_line"] = command_line
    target = data.get("TargetUserName")
    if isinstance(target, str) and target != "-":
        related_user(doc, target)


def split_4688_command_line(command_line: str) -> list[str]:
    """The pipeline's own splitter for 4688 command lines.

    Every (Java) whitespace character outside double quotes ends an argument, so consecutive
    blanks give empty arguments and a trailing one an empty last argument; the quotes stay in
    the arguments. The text between the n-th and (n+1)-th quote is inside quotes when n is odd.
    """
    if not command_line:
        return []
    if '"' not in command_line:
        return _JAVA_WHITESPACE_CHAR.split(command_line)
    args: list[str] = []
    current = ""
    for i, part in enumerate(command_line.split('"')):
        if i:
            current += '"'
        if i % 2:
            current += part
            continue
        pieces = _JAVA_WHITESPACE_CHAR.split(part)
        current += pieces[0]
        if len(pieces) > 1:
            args.append(current)
            args += pieces[1:-1]
            current = pieces[-1]
    args.append(current)
    return args
