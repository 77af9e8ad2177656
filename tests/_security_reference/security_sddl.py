"""Security descriptor (SDDL) and SID list enrichment of events 4670, 4817, 4907 and 4908.

The security pipeline describes ``OldSd``/``NewSd`` as ``<prefix>Owner``, ``<prefix>Group``,
``<prefix>DaclN`` and ``<prefix>SaclN`` event data fields ("grantee :type ([perms])"), and splits
``SidList`` into ``SidList``/``SidListDesc``. The output mimics the pipeline's Java string forms
(``null`` for an unknown name, ``[a, b]`` for a permission list), so documents compare equal.
The SID, ACE type and permission names are Windows facts.
"""

from __future__ import annotations

import re
from typing import Any

from _security_reference.security_helpers import JsonDict, java_long_decode, java_string, related_user

_ACCOUNT_SIDS: dict[str, str] = {
    "AO": "Account operators",
    "RU": "Alias to allow previous Windows 2000",
    "AN": "Anonymous logon",
    "AU": "Authenticated users",
    "BA": "Built-in administrators",
    "BG": "Built-in guests",
    "BO": "Backup operators",
    "BU": "Built-in users",
    "CA": "Certificate server administrators",
    "CG": "Creator group",
    "CO": "Creator owner",
    "DA": "Domain administrators",
    "DC": "Domain computers",
    "DD": "Domain controllers",
    "DG": "Domain guests",
    "DU": "Domain users",
    "EA": "Enterprise administrators",
    "ED": "Enterprise domain controllers",
    "WD": "Everyone",
    "PA": "Group Policy administrators",
    "IU": "Interactively logged-on user",
    "LA": "Local administrator",
    "LG": "Local guest",
    "LS": "Local service account",
    "SY": "Local system",
    "NU": "Network logon user",
    "NO": "Network configuration operators",
    "NS": "Network service account",
    "PO": "Printer operators",
    "PS": "Personal self",
    "PU": "Power users",
    "RS": "RAS servers group",
    "RD": "Terminal server users",
    "RE": "Replicator",
    "RC": "Restricted code",
    "SA": "Schema administrators",
    "SO": "Server operators",
    "SU": "Service logon user",
    "S-1-0": "Null Authority",
    "S-1-0-0": "Nobody",
    "S-1-1": "World Authority",
    "S-1-1-0": "Everyone",
    "S-1-16-0": "Untrusted Mandatory Level",
    "S-1-16-12288": "High Mandatory Level",
    "S-1-16-16384": "System Mandatory Level",
    "S-1-16-20480": "Protected Process Mandatory Level",
    "S-1-16-28672": "Secure Process Mandatory Level",
    "S-1-16-4096": "Low Mandatory Level",
    "S-1-16-8192": "Medium Mandatory Level",
    "S-1-16-8448": "Medium Plus Mandatory Level",
    "S-1-2": "Local Authority",
    "S-1-2-0": "Local",
    "S-1-2-1": "Console Logon",
    "S-1-3": "Creator Authority",
    "S-1-3-0": "Creator Owner",
    "S-1-3-1": "Creator Group",
    "S-1-3-2": "Creator Owner Server",
    "S-1-3-3": "Creator Group Server",
    "S-1-3-4": "Owner Rights",
    "S-1-4": "Non-unique Authority",
    "S-1-5": "NT Authority",
    "S-1-5-1": "Dialup",
    "S-1-5-10": "Principal Self",
    "S-1-5-11": "Authenticated Users",
    "S-1-5-12": "Restricted Code",
    "S-1-5-13": "Terminal Server Users",
    "S-1-5-14": "Remote Interactive Logon",
    "S-1-5-15": "This Organization",
    "S-1-5-17": "This Organization",
    "S-1-5-18": "Local System",
    "S-1-5-19": "NT Authority",
    "S-1-5-2": "Network",
    "S-1-5-20": "NT Authority",
    "S-1-5-3": "Batch",
    "S-1-5-32-544": "Administrators",
    "S-1-5-32-545": "Users",
    "S-1-5-32-546": "Guests",
    "S-1-5-32-547": "Power Users",
    "S-1-5-32-548": "Account Operators",
    "S-1-5-32-549": "Server Operators",
    "S-1-5-32-550": "Print Operators",
    "S-1-5-32-551": "Backup Operators",
    "S-1-5-32-552": "Replicators",
    "S-1-5-32-554": "Builtin\\Pre-Windows 2000 Compatible Access",
    "S-1-5-32-555": "Builtin\\Remote Desktop Users",
    "S-1-5-32-556": "Builtin\\Network Configuration Operators",
    "S-1-5-32-557": "Builtin\\Incoming Forest Trust Builders",
    "S-1-5-32-558": "Builtin\\Performance Monitor Users",
    "S-1-5-32-559": "Builtin\\Performance Log Users",
    "S-1-5-32-560": "Builtin\\Windows Authorization Access Group",
    "S-1-5-32-561": "Builtin\\Terminal Server License Servers",
    "S-1-5-32-562": "Builtin\\Distributed COM Users",
    "S-1-5-32-569": "Builtin\\Cryptographic Operators",
    "S-1-5-32-573": "Builtin\\Event Log Readers",
    "S-1-5-32-574": "Builtin\\Certificate Service DCOM Access",
    "S-1-5-32-575": "Builtin\\RDS Remote Access Servers",
    "S-1-5-32-576": "Builtin\\RDS Endpoint Servers",
    "S-1-5-32-577": "Builtin\\RDS Management Servers",
    "S-1-5-32-578": "Builtin\\Hyper-V Administrators",
    "S-1-5-32-579": "Builtin\\Access Control Assistance Operators",
    "S-1-5-32-580": "Builtin\\Remote Management Users",
    "S-1-5-32-582": "Storage Replica Administrators",
    "S-1-5-4": "Interactive",
    "S-1-5-5-X-Y": "Logon Session",
    "S-1-5-6": "Service",
    "S-1-5-64-10": "NTLM Authentication",
    "S-1-5-64-14": "SChannel Authentication",
    "S-1-5-64-21": "Digest Authentication",
    "S-1-5-7": "Anonymous",
    "S-1-5-8": "Proxy",
    "S-1-5-80": "NT Service",
    "S-1-5-80-0": "All Services",
    "S-1-5-83-0": "NT Virtual Machine\\Virtual Machines",
    "S-1-5-9": "Enterprise Domain Controllers",
    "S-1-5-90-0": "Windows Manager\\Windows Manager Group",
}

_ACE_TYPES: dict[str, str] = {
    "A": "Access Allowed",
    "D": "Access Denied",
    "OA": "Object Access Allowed",
    "OD": "Object Access Denied",
    "AU": "System Audit",
    "AL": "System Alarm",
    "OU": "System Object Audit",
    "OL": "System Object Alarm",
    "ML": "System Mandatory Label",
    "SP": "Central Policy ID",
}

# Relative ids of well-known domain accounts and groups (S-1-5-21-...-RID).
_DOMAIN_RIDS: dict[str, str] = {
    "498": "Enterprise Read-only Domain Controllers",
    "500": "Administrator",
    "501": "Guest",
    "502": "KRBTGT",
    "512": "Domain Admins",
    "513": "Domain Users",
    "514": "Domain Guests",
    "515": "Domain Computers",
    "516": "Domain Controllers",
    "517": "Cert Publishers",
    "518": "Schema Admins",
    "519": "Enterprise Admins",
    "520": "Group Policy Creator Owners",
    "521": "Read-only Domain Controllers",
    "522": "Cloneable Domain Controllers",
    "526": "Key Admins",
    "527": "Enterprise Key Admins",
    "553": "RAS and IAS Servers",
    "571": "Allowed RODC Password Replication Group",
    "572": "Denied RODC Password Replication Group",
}

_PERMISSIONS: dict[str, str] = {
    "GA": "Generic All",
    "GR": "Generic Read",
    "GW": "Generic Write",
    "GX": "Generic Execute",
    "RC": "Read Permissions",
    "SD": "Delete",
    "WD": "Modify Permissions",
    "WO": "Modify Owner",
    "RP": "Read All Properties",
    "WP": "Write All Properties",
    "CC": "Create All Child Objects",
    "DC": "Delete All Child Objects",
    "LC": "List Contents",
    "SW": "All Validated",
    "LO": "List Object",
    "DT": "Delete Subtree",
    "CR": "All Extended Rights",
    "FA": "File All Access",
    "FR": "File Generic Read",
    "FX": "FILE GENERIC EXECUTE",
    "FW": "FILE GENERIC WRITE",
    "KA": "KEY ALL ACCESS",
    "KR": "KEY READ",
    "KW": "KEY WRITE",
    "KX": "KEY EXECUTE",
}

# Hex permission masks; 0x4000000 (not 0x40000000) is how the pipeline lists Generic Write.
_PERM_FLAGS: tuple[tuple[int, str], ...] = (
    (0x80000000, "Generic Read"),
    (0x4000000, "Generic Write"),
    (0x20000000, "Generic Execute"),
    (0x10000000, "Generic All"),
    (0x02000000, "Maximum Allowed"),
    (0x01000000, "Access System Security"),
    (0x00100000, "Syncronize"),
    (0x00080000, "Write Owner"),
    (0x00040000, "Write DACL"),
    (0x00020000, "Read Control"),
    (0x00010000, "Delete"),
)

_PRIVILEGED = frozenset({"Administrator", "Guest", "KRBTGT"})
_RID = re.compile(r"[0-9]{1,5}$")
_OWNER = re.compile(r"^O:[A-Z]{2}")
_GROUP = re.compile(r"^G:[A-Z]{2}")
_DACL = re.compile(r"(D:([A-Z]*(\(.*\))*))")
_SACL = re.compile(r"(S:([A-Z]*(\(.*\))*))?$")
_ACE = re.compile(r"\([^*)]*\)")
_TWO = re.compile(r".{1,2}")


def translate_sid(sid: str) -> str | None:
    """A SID (or SDDL alias) as the pipeline names it; ``None`` for an unnamed domain RID."""
    if sid in _ACCOUNT_SIDS:
        return _ACCOUNT_SIDS[sid]
    if sid.startswith("S-1-5-21"):
        match = _RID.search(sid)
        if match:
            return _DOMAIN_RIDS.get(match.group(0))
    return sid


def _perm_mask(mask: str) -> list[str]:
    value = java_long_decode(mask)
    if value is None:
        return [mask]
    names = [name for flag, name in _PERM_FLAGS if value & flag == flag]
    return names or [mask]


def _ace(text: str) -> tuple[str | None, str | None, list[str | None] | None]:
    parts = text.split(";")
    grantee = translate_sid(parts[5]) if len(parts) >= 6 else None
    ace_type = _ACE_TYPES.get(parts[0])
    perms: list[str | None] | None = None
    if len(parts) >= 3:
        if parts[2].startswith("0x"):
            perms = list(_perm_mask(parts[2]))
        else:
            perms = [_PERMISSIONS.get(p) for p in _TWO.findall(parts[2])]
    return grantee, ace_type, perms


def _describe_aces(doc: JsonDict, data: JsonDict, aces: list[str], name: str) -> None:
    for i, ace in enumerate(aces):
        grantee, ace_type, perms = _ace(ace.replace("(", "").replace(")", ""))
        data[f"{name}{i}"] = f"{java_string(grantee)} :{java_string(ace_type)} ({java_string(perms)})"
        if grantee in _PRIVILEGED:
            related_user(doc, grantee)


def _enrich(doc: JsonDict, data: JsonDict, sddl: str, prefix: str) -> None:
    owner = _OWNER.search(sddl)
    if owner:
        data[prefix + "Owner"] = translate_sid(owner.group(0))
    group = _GROUP.search(sddl)
    if group:
        data[prefix + "Group"] = translate_sid(group.group(0))
    dacl = _DACL.search(sddl)
    if dacl:
        _describe_aces(doc, data, _ACE.findall(dacl.group(1)), prefix + "Dacl")
    sacl = _SACL.search(sddl)
    if sacl:
        _describe_aces(doc, data, _ACE.findall(sacl.group(0)), prefix + "Sacl")


def enrich_security_descriptors(doc: JsonDict, data: JsonDict) -> None:
    """Describe ``OldSd``/``NewSd`` and split ``SidList`` in ``data`` (the event data)."""
    for key in ("OldSd", "NewSd"):
        value: Any = data.get(key)
        if isinstance(value, str):
            _enrich(doc, data, value, key)
    sids = data.get("SidList")
    if isinstance(sids, str):
        parts = sids.split(" ")
        data["SidList"] = parts
        cleaned = (p.replace("%", "").replace("{", "").replace("}", "").replace(" ", "") for p in parts)
        data["SidListDesc"] = [translate_sid(p) for p in cleaned]
