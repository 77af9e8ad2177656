"""The Security audit message table (``%%NNNN`` insertion strings) used by the ingest pipeline.

Windows writes some Security event values as references into msobjs.dll's message table
(``%%1833``, ``%%4417``). The Winlogbeat/Agent security pipeline turns a few of them into text
(``AccessListDescription``, ``AccessMaskDescription``, ``AuditPolicyChangesDescription``,
``winlog.logon.failure.reason``, ...). The ids and texts below are Windows facts, as that pipeline
lists them (typos included, so descriptions compare equal). They are stored compactly: most access
right groups are 16 ids, one per bit, whose unnamed bits read "Undefined Access (no effect) Bit N".
"""

from __future__ import annotations

from collections.abc import Iterable

_UNDEFINED = "Undefined Access (no effect) Bit {}"

# (first id, names in order); every name takes the next id.
# fmt: off
_RUNS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (279, (
        "Undefined Access (no effect) Bit 7",
    )),
    (1536, (
        "Unused message ID", "DELETE", "READ_CONTROL", "WRITE_DAC", "WRITE_OWNER", "SYNCHRONIZE",
        "ACCESS_SYS_SEC", "MAX_ALLOWED",
    )),
    (1552, (
        "Unknown specific access (bit 0)", "Unknown specific access (bit 1)",
        "Unknown specific access (bit 2)", "Unknown specific access (bit 3)",
        "Unknown specific access (bit 4)", "Unknown specific access (bit 5)",
        "Unknown specific access (bit 6)", "Unknown specific access (bit 7)",
        "Unknown specific access (bit 8)", "Unknown specific access (bit 9)",
        "Unknown specific access (bit 10)", "Unknown specific access (bit 11)",
        "Unknown specific access (bit 12)", "Unknown specific access (bit 13)",
        "Unknown specific access (bit 14)", "Unknown specific access (bit 15)",
    )),
    (1601, (
        "Not used",
    )),
    (1603, (
        "Assign Primary Token Privilege", "Lock Memory Privilege", "Increase Memory Quota Privilege",
        "Unsolicited Input Privilege", "Trusted Computer Base Privilege", "Security Privilege",
        "Take Ownership Privilege", "Load/Unload Driver Privilege", "Profile System Privilege",
        "Set System Time Privilege", "Profile Single Process Privilege",
        "Increment Base Priority Privilege", "Create Pagefile Privilege",
        "Create Permanent Object Privilege", "Backup Privilege", "Restore From Backup Privilege",
        "Shutdown System Privilege", "Debug Privilege", "View or Change Audit Log Privilege",
        "Change Hardware Environment Privilege", "Change Notify (and Traverse) Privilege",
        "Remotely Shut System Down Privilege",
    )),
    (1792, (
        "<value changed", "<value not set>", "<never>", "Enabled", "Disabled", "All", "None",
        "Audit Policy query/set API Operation",
        "<Value change auditing for this registry type is not supported>", "Granted by", "Denied by",
        "Denied by Integrity Policy check", "Granted by Ownership", "Not granted", "Granted by NULL DACL",
        "Denied by Empty DACL", "Granted by NULL Security Descriptor", "Unknown or unchecked",
        "Not granted due to missing", "Granted by ACE on parent folder", "Denied by ACE on parent folder",
        "Granted by Central Access Rule", "NOT Granted by Central Access Rule",
        "Granted by parent folder's Central Access Rule",
        "NOT Granted by parent folder's Central Access Rule", "Unknown Type", "String",
        "Unsigned 64-bit Integer", "64-bit Integer", "FQBN", "Blob", "Sid", "Boolean", "TRUE", "FALSE",
        "Invalid", "an ACE too long to display", "a Security Descriptor too long to display",
        "Not granted to AppContainers", "...", "Identification", "Impersonation",
    )),
    (1840, (
        "Delegation", "Denied by Process Trust Label ACE", "Yes", "No", "System", "Not Available",
        "Default", "DisallowMmConfig", "Off", "Auto",
    )),
    (1872, (
        "REG_NONE", "REG_SZ", "REG_EXPAND_SZ", "REG_BINARY", "REG_DWORD", "REG_DWORD_BIG_ENDIAN",
        "REG_LINK", "REG_MULTI_SZ (New lines are replaced with *. A * is replaced with **)",
        "REG_RESOURCE_LIST", "REG_FULL_RESOURCE_DESCRIPTOR", "REG_RESOURCE_REQUIREMENTS_LIST", "REG_QWORD",
    )),
    (1904, (
        "New registry value created", "Existing registry value modified", "Registry value deleted",
    )),
    (1920, (
        "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
    )),
    (1936, (
        "TokenElevationTypeDefault (1)", "TokenElevationTypeFull (2)", "TokenElevationTypeLimited (3)",
    )),
    (2304, (
        "An Error occured during Logon.", "The specified user account has expired.",
        "The NetLogon component is not active.", "Account locked out.",
        "The user has not been granted the requested logon type at this machine.",
        "The specified account's password has expired.", "Account currently disabled.",
        "Account logon time restriction violation.", "User not allowed to logon at this computer.",
        "Unknown user name or bad password.", "Domain sid inconsistent.",
        "Smartcard logon is required and was not used.",
    )),
    (2432, (
        "Not Available.",
    )),
    (2436, (
        "Random number generator failure.", "Random number generation failed FIPS-140 pre-hash check.",
        "Failed to zero secret data.", "Key failed pair wise consistency check.",
    )),
    (2448, (
        "Failed to unprotect persistent cryptographic key.", "Key export checks failed.",
        "Validation of public key failed.", "Signature verification failed.",
    )),
    (2456, (
        "Open key file.", "Delete key file.", "Read persisted key from file.",
        "Write persisted key to file.",
    )),
    (2464, (
        "Export of persistent cryptographic key.", "Import of persistent cryptographic key.",
    )),
    (2480, (
        "Open Key.", "Create Key.", "Delete Key.", "Encrypt.", "Decrypt.", "Sign hash.",
        "Secret agreement.", "Domain settings", "Local settings", "Add provider.", "Remove provider.",
        "Add context.", "Remove context.", "Add function.", "Remove function.", "Add function provider.",
        "Remove function provider.", "Add function property.", "Remove function property.", "Machine key.",
        "User key.", "Key Derivation.",
    )),
    (4864, (
        "Query State", "Modify State",
    )),
    (5632, (
        "View non-sensitive policy information", "View system audit requirements",
        "Get sensitive policy information", "Modify domain trust relationships",
        "Create special accounts (for assignment of user rights)", "Create a secret object",
        "Create a privilege", "Set default quota limits", "Change system audit requirements",
        "Administer audit log attributes", "Enable/Disable LSA", "Lookup Names/SIDs",
    )),
    (6656, (
        "Enumerate desktops", "Read attributes", "Access Clipboard", "Create desktop", "Write attributes",
        "Access global atoms", "Exit windows", "Unused Access Flag",
        "Include this windowstation in enumerations", "Read screen",
    )),
    (6672, (
        "Read Objects", "Create window", "Create menu", "Hook control", "Journal (record)",
        "Journal (playback)", "Include this desktop in enumerations", "Write objects",
        "Switch to this desktop",
    )),
    (6912, (
        "Administer print server", "Enumerate printers",
    )),
    (6930, (
        "Full Control", "Print",
    )),
    (6948, (
        "Administer Document",
    )),
    (7168, (
        "Connect to service controller", "Create a new service", "Enumerate services",
        "Lock service database for exclusive access", "Query service database lock state",
        "Set last-known-good state of service database",
    )),
    (7184, (
        "Query service configuration information", "Set service configuration information",
        "Query status of service", "Enumerate dependencies of service", "Start the service",
        "Stop the service", "Pause or continue the service", "Query information from service",
        "Issue service-specific control commands",
    )),
    (7424, (
        "DDE Share Read", "DDE Share Write", "DDE Share Initiate Static", "DDE Share Initiate Link",
        "DDE Share Request", "DDE Share Advise", "DDE Share Poke", "DDE Share Execute",
        "DDE Share Add Items", "DDE Share List Items",
    )),
    (7936, (
        "Audit Set System Policy", "Audit Query System Policy", "Audit Set Per User Policy",
        "Audit Query Per User Policy", "Audit Enumerate Users", "Audit Set Options", "Audit Query Options",
    )),
    (8064, (
        "Port sharing (read)", "Port sharing (write)",
    )),
    (8096, (
        "Default credentials", "Credentials manager", "Fresh credentials",
    )),
    (8192, (
        "Kerberos", "Preshared key", "Unknown authentication", "DES", "3DES", "MD5", "SHA1",
        "Local computer", "Remote computer", "No state", "Sent first (SA) payload",
        "Sent second (KE) payload", "Sent third (ID) payload", "Initiator", "Responder", "No state",
        "Sent first (SA) payload", "Sent final payload", "Complete", "Unknown", "Transport", "Tunnel",
        "IKE/AuthIP DoS prevention mode started", "IKE/AuthIP DoS prevention mode stopped", "Enabled",
        "Not enabled", "No state", "Sent first (EM attributes) payload", "Sent second (SSPI) payload",
        "Sent third (hash) payload", "IKEv1", "AuthIP", "Anonymous", "NTLM V2", "CGA", "Certificate", "SSL",
        "None", "DH group 1", "DH group 2", "DH group 14", "DH group ECP 256", "DH group ECP 384",
        "AES-128", "AES-192", "AES-256", "Certificate ECDSA P256", "Certificate ECDSA P384",
        "SSL ECDSA P256", "SSL ECDSA P384", "SHA 256", "SHA 384", "IKEv2", "EAP payload sent",
        "Authentication payload sent", "EAP", "DH group 24",
    )),
    (8272, (
        "System", "Logon/Logoff", "Object Access", "Privilege Use", "Detailed Tracking", "Policy Change",
        "Account Management", "DS Access", "Account Logon",
    )),
    (8448, (
        "Success removed", "Success Added", "Failure removed", "Failure Added", "Success include removed",
        "Success include added", "Success exclude removed", "Success exclude added",
        "Failure include removed", "Failure include added", "Failure exclude removed",
        "Failure exclude added",
    )),
    (12288, (
        "Security State Change", "Security System Extension", "System Integrity", "IPsec Driver",
        "Other System Events",
    )),
    (12544, (
        "Logon", "Logoff", "Account Lockout", "IPsec Main Mode", "Special Logon", "IPsec Quick Mode",
        "IPsec Extended Mode", "Other Logon/Logoff Events", "Network Policy Server", "User / Device Claims",
        "Group Membership",
    )),
    (12800, (
        "File System", "Registry", "Kernel Object", "SAM", "Other Object Access Events",
        "Certification Services", "Application Generated", "Handle Manipulation", "File Share",
        "Filtering Platform Packet Drop", "Filtering Platform Connection", "Detailed File Share",
        "Removable Storage", "Central Policy Staging",
    )),
    (13056, (
        "Sensitive Privilege Use", "Non Sensitive Privilege Use", "Other Privilege Use Events",
    )),
    (13312, (
        "Process Creation", "Process Termination", "DPAPI Activity", "RPC Events", "Plug and Play Events",
        "Token Right Adjusted Events",
    )),
    (13568, (
        "Audit Policy Change", "Authentication Policy Change", "Authorization Policy Change",
        "MPSSVC Rule-Level Policy Change", "Filtering Platform Policy Change", "Other Policy Change Events",
    )),
    (13824, (
        "User Account Management", "Computer Account Management", "Security Group Management",
        "Distribution Group Management", "Application Group Management", "Other Account Management Events",
    )),
    (14080, (
        "Directory Service Access", "Directory Service Changes", "Directory Service Replication",
        "Detailed Directory Service Replication",
    )),
    (14336, (
        "Credential Validation", "Kerberos Service Ticket Operations", "Other Account Logon Events",
        "Kerberos Authentication Service",
    )),
    (14592, (
        "Inbound", "Outbound", "Forward", "Bidirectional", "IP Packet", "Transport", "Forward", "Stream",
        "Datagram Data", "ICMP Error", "MAC 802.3", "MAC Native", "vSwitch",
    )),
    (14608, (
        "Resource Assignment", "Listen", "Receive/Accept", "Connect", "Flow Established",
    )),
    (14614, (
        "Resource Release", "Endpoint Closure", "Connect Redirect", "Bind Redirect",
    )),
    (14624, (
        "Stream Packet",
    )),
    (14640, (
        "ICMP Echo-Request", "vSwitch Ingress", "vSwitch Egress",
    )),
    (14672, (
        "<Binary>", "[NULL]", "Value Added", "Value Deleted", "Active Directory Domain Services",
        "Active Directory Lightweight Directory Services", "Yes", "No", "Value Added With Expiration Time",
        "Value Deleted With Expiration Time",
    )),
    (14688, (
        "Value Auto Deleted With Expiration Time",
    )),
    (16384, (
        "Add", "Delete", "Boot-time", "Persistent", "Not persistent", "Block", "Permit", "Callout", "MD5",
        "SHA-1", "SHA-256", "AES-GCM 128", "AES-GCM 192", "AES-GCM 256", "DES", "3DES", "AES-128",
        "AES-192", "AES-256", "Transport", "Tunnel", "Responder", "Initiator", "AES-GMAC 128",
        "AES-GMAC 192", "AES-GMAC 256",
    )),
    (16416, (
        "AuthNoEncap Transport",
    )),
    (16896, (
        "Enable WMI Account", "Execute Method", "Full Write", "Partial Write", "Provider Write",
        "Remote Access", "Subscribe", "Publish",
    )),
)
# fmt: on

# Access right groups of 16 ids (one per bit): named bits first (None = an unnamed bit inside the
# named ones); the rest read "Undefined Access (no effect) Bit N".
# fmt: off
_BIT_GROUPS: tuple[tuple[int, tuple[str | None, ...]], ...] = (
    (4352, (
        "Device Access Bit 0", "Device Access Bit 1", "Device Access Bit 2", "Device Access Bit 3",
        "Device Access Bit 4", "Device Access Bit 5", "Device Access Bit 6", "Device Access Bit 7",
        "Device Access Bit 8",
    )),
    (4368, (
        "Query directory", "Traverse", "Create object in directory", "Create sub-directory",
    )),
    (4384, (
        "Query event state", "Modify event state",
    )),
    (4416, (
        "ReadData (or ListDirectory)", "WriteData (or AddFile)",
        "AppendData (or AddSubdirectory or CreatePipeInstance)", "ReadEA", "WriteEA", "Execute/Traverse",
        "DeleteChild", "ReadAttributes", "WriteAttributes",
    )),
    (4432, (
        "Query key value", "Set key value", "Create sub-key", "Enumerate sub-keys",
        "Notify about changes to keys", "Create Link", None, None,
        "Enable 64(or 32) bit application to open 64 bit key",
        "Enable 64(or 32) bit application to open 32 bit key",
    )),
    (4448, (
        "Query mutant state",
    )),
    (4464, (
        "Communicate using port",
    )),
    (4480, (
        "Force process termination", "Create new thread in process", "Set process session ID",
        "Perform virtual memory operation", "Read from process memory", "Write to process memory",
        "Duplicate handle into or out of process", "Create a subprocess of process", "Set process quotas",
        "Set process information", "Query process information", "Set process termination port",
    )),
    (4496, (
        "Control profile",
    )),
    (4512, (
        "Query section state", "Map section for write", "Map section for read", "Map section for execute",
        "Extend size",
    )),
    (4528, (
        "Query semaphore state", "Modify semaphore state",
    )),
    (4544, (
        "Use symbolic link",
    )),
    (4560, (
        "Force thread termination", "Suspend or resume thread", "Send an alert to thread",
        "Get thread context", "Set thread context", "Set thread information", "Query thread information",
        "Assign a token to the thread", "Cause thread to directly impersonate another thread",
        "Directly impersonate this thread",
    )),
    (4576, (
        "Query timer state", "Modify timer state",
    )),
    (4592, (
        "AssignAsPrimary", "Duplicate", "Impersonate", "Query", "QuerySource", "AdjustPrivileges",
        "AdjustGroups", "AdjustDefaultDacl", "AdjustSessionID",
    )),
    (4608, (
        "Create instance of object type",
    )),
    (5120, (
        "Channel read message", "Channel write message", "Channel query information",
        "Channel set information",
    )),
    (5136, (
        "Assign process", "Set Attributes", "Query Attributes", "Terminate Job", "Set Security Attributes",
    )),
    (5376, (
        "ConnectToServer", "ShutdownServer", "InitializeServer", "CreateDomain", "EnumerateDomains",
        "LookupDomain",
    )),
    (5392, (
        "ReadPasswordParameters", "WritePasswordParameters", "ReadOtherParameters", "WriteOtherParameters",
        "CreateUser", "CreateGlobalGroup", "CreateLocalGroup", "GetLocalGroupMembership", "ListAccounts",
        "LookupIDs", "AdministerServer",
    )),
    (5408, (
        "ReadInformation", "WriteAccount", "AddMember", "RemoveMember", "ListMembers",
    )),
    (5424, (
        "AddMember", "RemoveMember", "ListMembers", "ReadInformation", "WriteAccount",
    )),
    (5440, (
        "ReadGeneralInformation", "ReadPreferences", "WritePreferences", "ReadLogon", "ReadAccount",
        "WriteAccount", "ChangePassword (with knowledge of old password)",
        "SetPassword (without knowledge of old password)", "ListGroups", "ReadGroupMembership",
        "ChangeGroupMembership",
    )),
    (5648, (
        "Change secret value", "Query secret value",
    )),
    (5664, (
        "Query trusted domain name/SID", "Retrieve the controllers in the trusted domain",
        "Change the controllers in the trusted domain",
        "Query the Posix ID offset assigned to the trusted domain",
        "Change the Posix ID offset assigned to the trusted domain",
    )),
    (5680, (
        "Query account information", "Change privileges assigned to account",
        "Change quotas assigned to account", "Change logon capabilities assigned to account",
        "Change the Posix ID offset assigned to the accounted domain",
    )),
    (5696, (
        "KeyedEvent Wait", "KeyedEvent Wake",
    )),
    (7680, (
        "Create Child", "Delete Child", "List Contents", "Write Self", "Read Property", "Write Property",
        "Delete Tree", "List Object", "Control Access",
    )),
)
# fmt: on

# The pipeline's table has no entry for the timer group's bit 7.
_ABSENT = frozenset({4583})

# userAccountControl change texts (2048-2111): each flag once "Disabled", once "Enabled".
_UAC_LOW = (
    "Home Directory Required",
    "Password Not Required",
    "Temp Duplicate Account",
    "Normal Account",
    "MNS Logon Account",
    "Interdomain Trust Account",
    "Workstation Trust Account",
    "Server Trust Account",
    "Don't Expire Password",
)
_UAC_HIGH = (
    "Encrypted Text Password Allowed",
    "Smartcard Required",
    "Trusted For Delegation",
    "Not Delegated",
    "Use DES Key Only",
    "Don't Require Preauth",
    "Password Expired",
    "Trusted To Authenticate For Delegation",
    "Exclude Authorization Information",
    "Undefined UserAccountControl Bit 20",
    "Protect Kerberos Service Tickets with AES Keys",
    *(f"Undefined UserAccountControl Bit {i}" for i in range(22, 32)),
)


def _uac_texts(first: int, lead: str, lock: str, state: str) -> Iterable[tuple[int, str]]:
    yield first, lead
    for i, name in enumerate(_UAC_LOW, start=first + 1):
        yield i, f"{name}' - {state}"
    yield first + 10, lock
    for i, name in enumerate(_UAC_HIGH, start=first + 11):
        yield i, f"{name}' - {state}"


def _build() -> dict[str, str]:
    table: dict[int, str] = {}
    for first, names in _RUNS:
        for i, name in enumerate(names):
            table[first + i] = name
    for first, named in _BIT_GROUPS:
        for bit in range(16):
            named_bit = named[bit] if bit < len(named) else None
            table[first + bit] = named_bit if named_bit is not None else _UNDEFINED.format(bit)
    table.update(_uac_texts(2048, "Account Enabled", "Account Unlocked", "Disabled"))
    table.update(_uac_texts(2080, "Account Disabled", "Account Locked", "Enabled"))
    for absent in _ABSENT:
        table.pop(absent, None)
    return {str(k): v for k, v in sorted(table.items())}


#: ``"1833"`` -> ``"Impersonation"`` (keys without the ``%%``).
DESCRIPTIONS: dict[str, str] = _build()


def _reverse(table: dict[str, str]) -> dict[str, str]:
    # The pipeline maps an already rendered text back to (the first of) its ids.
    reverse: dict[str, str] = {}
    for code, text in table.items():
        reverse.setdefault(text, code)
    return reverse


#: ``"Impersonation"`` -> ``"1833"``; used when Winlogbeat already rendered an access mask entry.
REVERSED: dict[str, str] = _reverse(DESCRIPTIONS)

#: Access mask bits and their names (single-bit entries; the pipeline tests one bit at a time).
ACCESS_MASK_BITS: dict[int, str] = {
    0x00000001: "Create Child",
    0x00000002: "Delete Child",
    0x00000004: "List Contents",
    0x00000008: "SELF",
    0x00000010: "Read Property",
    0x00000020: "Write Property",
    0x00000040: "Delete Treee",
    0x00000080: "List Object",
    0x00000100: "Control Access",
    0x00010000: "DELETE",
    0x00020000: "READ_CONTROL",
    0x00040000: "WRITE_DAC",
    0x00080000: "WRITE_OWNER",
    0x00100000: "SYNCHRONIZE",
    0x01000000: "ADS_RIGHT_ACCESS_SYSTEM_SECURITY",
    0x10000000: "ADS_RIGHT_GENERIC_ALL",
    0x20000000: "ADS_RIGHT_GENERIC_EXECUTE",
    0x40000000: "ADS_RIGHT_GENERIC_WRITE",
    0x80000000: "ADS_RIGHT_GENERIC_READ",
}
