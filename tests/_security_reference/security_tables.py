"""Lookup tables of the Security-channel ingest pipeline (facts about Windows, named as Elastic does).

Each table says which value the Winlogbeat 8.x / Elastic Agent ``system.security`` pipeline writes
for a given raw value: ECS categorisation per event id, logon type names, userAccountControl flags,
Kerberos options, encryption types and result codes, service types, audit subcategories, logon
failure codes and domain trust attributes. Ordered dicts keep the pipeline's parameter order, which
is the order the flag lists come out in.
"""

from __future__ import annotations

# Category and type names, shortened so the table below stays readable.
_AUTH = ("authentication",)
_IAM = ("iam",)
_CONF = ("configuration",)
_IAM_CONF = ("iam", "configuration")
_PROC = ("process",)
_DRV = ("driver",)

#: event.code -> (event.category, event.type, event.action)
CATEGORIZATION: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "1100": (_PROC, ("end",), "logging-service-shutdown"),
    "1102": (_IAM, ("admin", "change"), "audit-log-cleared"),
    "1104": (_IAM, ("admin",), "logging-full"),
    "1105": (_IAM, ("admin",), "auditlog-archieved"),
    "1108": (_IAM, ("admin",), "logging-processing-error"),
    "4610": (_CONF, ("access",), "authentication-package-loaded"),
    "4611": (_CONF, ("change",), "trusted-logon-process-registered"),
    "4614": (_CONF, ("access",), "notification-package-loaded"),
    "4616": (_CONF, ("change",), "system-time-changed"),
    "4622": (_CONF, ("access",), "security-package-loaded"),
    "4624": (_AUTH, ("start",), "logged-in"),
    "4625": (_AUTH, ("start",), "logon-failed"),
    "4634": (_AUTH, ("end",), "logged-out"),
    "4647": (_AUTH, ("end",), "logged-out"),
    "4648": (_AUTH, ("start",), "logged-in-explicit"),
    "4657": (("registry", "configuration"), ("change",), "registry-value-modified"),
    "4662": (_IAM_CONF, ("admin", "change"), "object-operation-performed"),
    "4670": (_IAM_CONF, ("admin", "change"), "permissions-changed"),
    "4672": (_IAM, ("admin",), "logged-in-special"),
    "4673": (_IAM, ("admin",), "privileged-service-called"),
    "4674": (_IAM, ("admin",), "privileged-operation"),
    "4688": (_PROC, ("start",), "created-process"),
    "4689": (_PROC, ("end",), "exited-process"),
    "4697": (_IAM_CONF, ("admin", "change"), "service-installed"),
    "4698": (_IAM_CONF, ("creation", "admin"), "scheduled-task-created"),
    "4699": (_IAM_CONF, ("deletion", "admin"), "scheduled-task-deleted"),
    "4700": (_IAM_CONF, ("change", "admin"), "scheduled-task-enabled"),
    "4701": (_IAM_CONF, ("change", "admin"), "scheduled-task-disabled"),
    "4702": (_IAM_CONF, ("change", "admin"), "scheduled-task-updated"),
    "4706": (_CONF, ("creation",), "domain-trust-added"),
    "4707": (_CONF, ("deletion",), "domain-trust-removed"),
    "4713": (_CONF, ("change",), "kerberos-policy-changed"),
    "4714": (_CONF, ("change",), "encrypted-data-recovery-policy-changed"),
    "4715": (_CONF, ("change",), "object-audit-policy-changed"),
    "4716": (_CONF, ("change",), "trusted-domain-information-changed"),
    "4717": (_IAM_CONF, ("admin", "change"), "system-security-access-granted"),
    "4718": (_IAM_CONF, ("admin", "deletion"), "system-security-access-removed"),
    "4719": (_IAM_CONF, ("admin", "change"), "changed-audit-config"),
    "4720": (_IAM, ("user", "creation"), "added-user-account"),
    "4722": (_IAM, ("user", "change"), "enabled-user-account"),
    "4723": (_IAM, ("user", "change"), "changed-password"),
    "4724": (_IAM, ("user", "change"), "reset-password"),
    "4725": (_IAM, ("user", "deletion"), "disabled-user-account"),
    "4726": (_IAM, ("user", "deletion"), "deleted-user-account"),
    "4727": (_IAM, ("group", "creation"), "added-group-account"),
    "4728": (_IAM, ("group", "change"), "added-member-to-group"),
    "4729": (_IAM, ("group", "change"), "removed-member-from-group"),
    "4730": (_IAM, ("group", "deletion"), "deleted-group-account"),
    "4731": (_IAM, ("group", "creation"), "added-group-account"),
    "4732": (_IAM, ("group", "change"), "added-member-to-group"),
    "4733": (_IAM, ("group", "change"), "removed-member-from-group"),
    "4734": (_IAM, ("group", "deletion"), "deleted-group-account"),
    "4735": (_IAM, ("group", "change"), "modified-group-account"),
    "4737": (_IAM, ("group", "change"), "modified-group-account"),
    "4738": (_IAM, ("user", "change"), "modified-user-account"),
    "4739": (_CONF, ("change",), "domain-policy-changed"),
    "4740": (_IAM, ("user", "change"), "locked-out-user-account"),
    "4741": (_IAM, ("creation", "admin"), "added-computer-account"),
    "4742": (_IAM, ("change", "admin"), "changed-computer-account"),
    "4743": (_IAM, ("deletion", "admin"), "deleted-computer-account"),
    "4744": (_IAM, ("group", "creation"), "added-distribution-group-account"),
    "4745": (_IAM, ("group", "change"), "changed-distribution-group-account"),
    "4746": (_IAM, ("group", "change"), "added-member-to-distribution-group"),
    "4747": (_IAM, ("group", "change"), "removed-member-from-distribution-group"),
    "4748": (_IAM, ("group", "deletion"), "deleted-distribution-group-account"),
    "4749": (_IAM, ("group", "creation"), "added-distribution-group-account"),
    "4750": (_IAM, ("group", "change"), "changed-distribution-group-account"),
    "4751": (_IAM, ("group", "change"), "added-member-to-distribution-group"),
    "4752": (_IAM, ("group", "change"), "removed-member-from-distribution-group"),
    "4753": (_IAM, ("group", "deletion"), "deleted-distribution-group-account"),
    "4754": (_IAM, ("group", "creation"), "added-group-account"),
    "4755": (_IAM, ("group", "change"), "modified-group-account"),
    "4756": (_IAM, ("group", "change"), "added-member-to-group"),
    "4757": (_IAM, ("group", "change"), "removed-member-from-group"),
    "4758": (_IAM, ("group", "deletion"), "deleted-group-account"),
    "4759": (_IAM, ("group", "creation"), "added-distribution-group-account"),
    "4760": (_IAM, ("group", "change"), "changed-distribution-group-account"),
    "4761": (_IAM, ("group", "change"), "added-member-to-distribution-group"),
    "4762": (_IAM, ("group", "change"), "removed-member-from-distribution-group"),
    "4763": (_IAM, ("group", "deletion"), "deleted-distribution-group-account"),
    "4764": (_IAM, ("group", "change"), "type-changed-group-account"),
    "4767": (_IAM, ("user", "change"), "unlocked-user-account"),
    "4768": (_AUTH, ("start",), "kerberos-authentication-ticket-requested"),
    "4769": (_AUTH, ("start",), "kerberos-service-ticket-requested"),
    "4770": (_AUTH, ("start",), "kerberos-service-ticket-renewed"),
    "4771": (_AUTH, ("start",), "kerberos-preauth-failed"),
    "4776": (_AUTH, ("start",), "credential-validated"),
    "4778": (("authentication", "session"), ("start",), "session-reconnected"),
    "4779": (("authentication", "session"), ("end",), "session-disconnected"),
    "4781": (_IAM, ("user", "change"), "renamed-user-account"),
    "4797": (_IAM, ("user", "info"), "query-existence-of-blank-password"),
    "4798": (_IAM, ("user", "info"), "group-membership-enumerated"),
    "4799": (_IAM, ("group", "info"), "user-member-enumerated"),
    "4817": (_IAM_CONF, ("admin", "change"), "object-audit-changed"),
    "4902": (_IAM_CONF, ("admin", "creation"), "user-audit-policy-created"),
    "4904": (_IAM_CONF, ("admin", "change"), "security-event-source-added"),
    "4905": (_IAM_CONF, ("admin", "deletion"), "security-event-source-removed"),
    "4906": (_IAM_CONF, ("admin", "change"), "crash-on-audit-changed"),
    "4907": (_IAM_CONF, ("admin", "change"), "audit-setting-changed"),
    "4908": (_IAM_CONF, ("admin", "change"), "special-group-table-changed"),
    "4912": (_IAM_CONF, ("admin", "change"), "per-user-audit-policy-changed"),
    "4950": (_CONF, ("change",), "windows-firewall-setting-changed"),
    "4954": (_CONF, ("change",), "windows-firewall-group-policy-changed"),
    "4964": (_IAM, ("admin", "group"), "logged-in-special"),
    "5024": (_PROC, ("start",), "windows-firewall-service-started"),
    "5025": (_PROC, ("end",), "windows-firewall-service-stopped"),
    "5033": (_DRV, ("start",), "windows-firewall-driver-started"),
    "5034": (_DRV, ("end",), "windows-firewall-driver-stopped"),
    "5037": (_DRV, ("end",), "windows-firewall-driver-error"),
    "5136": (_IAM_CONF, ("admin", "change"), "directory-service-object-modified"),
    "5140": (("network", "file"), ("info", "access"), "network-share-object-accessed"),
    "5145": (("network", "file"), ("info", "access"), "network-share-object-access-checked"),
    "5379": (_IAM, ("user", "info"), "credential-manager-credentials-were-read"),
    "5380": (_IAM, ("user", "info"), "vault-credential-find"),
    "5381": (_IAM, ("user", "info"), "vault-credentials-were-read"),
    "5382": (_IAM, ("user", "info"), "vault-credentials-were-read"),
}

#: winlog.event_data.LogonType -> winlog.logon.type
LOGON_TYPES: dict[str, str] = {
    "2": "Interactive",
    "3": "Network",
    "4": "Batch",
    "5": "Service",
    "7": "Unlock",
    "8": "NetworkCleartext",
    "9": "NewCredentials",
    "10": "RemoteInteractive",
    "11": "CachedInteractive",
}

#: NewUacValue bits (MS-SAMR USER_* flags) -> NewUACList entries.
UAC_FLAGS: dict[int, str] = {
    0x00000001: "USER_ACCOUNT_DISABLED",
    0x00000002: "USER_HOME_DIRECTORY_REQUIRED",
    0x00000004: "USER_PASSWORD_NOT_REQUIRED",
    0x00000008: "USER_TEMP_DUPLICATE_ACCOUNT",
    0x00000010: "USER_NORMAL_ACCOUNT",
    0x00000020: "USER_MNS_LOGON_ACCOUNT",
    0x00000040: "USER_INTERDOMAIN_TRUST_ACCOUNT",
    0x00000080: "USER_WORKSTATION_TRUST_ACCOUNT",
    0x00000100: "USER_SERVER_TRUST_ACCOUNT",
    0x00000200: "USER_DONT_EXPIRE_PASSWORD",
    0x00000400: "USER_ACCOUNT_AUTO_LOCKED",
    0x00000800: "USER_ENCRYPTED_TEXT_PASSWORD_ALLOWED",
    0x00001000: "USER_SMARTCARD_REQUIRED",
    0x00002000: "USER_TRUSTED_FOR_DELEGATION",
    0x00004000: "USER_NOT_DELEGATED",
    0x00008000: "USER_USE_DES_KEY_ONLY",
    0x00010000: "USER_DONT_REQUIRE_PREAUTH",
    0x00020000: "USER_PASSWORD_EXPIRED",
    0x00040000: "USER_TRUSTED_TO_AUTHENTICATE_FOR_DELEGATION",
    0x00080000: "USER_NO_AUTH_DATA_REQUIRED",
    0x00100000: "USER_PARTIAL_SECRETS_ACCOUNT",
    0x00200000: "USER_USE_AES_KEYS",
}

#: Kerberos TicketOptions bits -> TicketOptionsDescription entries.
TICKET_OPTIONS: dict[int, str] = {
    0x40000000: "Forwardable",
    0x20000000: "Forwarded",
    0x10000000: "Proxiable",
    0x08000000: "Proxy",
    0x04000000: "Allow-postdate",
    0x02000000: "Postdated",
    0x01000000: "Invalid",
    0x00800000: "Renewable",
    0x00400000: "Initial",
    0x00200000: "Pre-authent",
    0x00100000: "Opt-hardware-auth",
    0x00080000: "Transited-policy-checked",
    0x00040000: "Ok-as-delegate",
    0x00020000: "Request-anonymous",
    0x00010000: "Name-canonicalize",
    0x00000020: "Disable-transited-check",
    0x00000010: "Renewable-ok",
    0x00000008: "Enc-tkt-in-skey",
    0x00000002: "Renew",
    0x00000001: "Validate",
}

#: TicketEncryptionType (lower case) -> TicketEncryptionTypeDescription
TICKET_ENCRYPTION: dict[str, str] = {
    "0x1": "DES-CBC-CRC",
    "0x3": "DES-CBC-MD5",
    "0x11": "AES128-CTS-HMAC-SHA1-96",
    "0x12": "AES256-CTS-HMAC-SHA1-96",
    "0x17": "RC4-HMAC",
    "0x18": "RC4-HMAC-EXP",
    "0xffffffff": "FAIL",
}

# Result codes 0x0-0x1B and 0x1F-0x2A are contiguous.
_KDC_NAMES = (
    "KDC_ERR_NONE",
    "KDC_ERR_NAME_EXP",
    "KDC_ERR_SERVICE_EXP",
    "KDC_ERR_BAD_PVNO",
    "KDC_ERR_C_OLD_MAST_KVNO",
    "KDC_ERR_S_OLD_MAST_KVNO",
    "KDC_ERR_C_PRINCIPAL_UNKNOWN",
    "KDC_ERR_S_PRINCIPAL_UNKNOWN",
    "KDC_ERR_PRINCIPAL_NOT_UNIQUE",
    "KDC_ERR_NULL_KEY",
    "KDC_ERR_CANNOT_POSTDATE",
    "KDC_ERR_NEVER_VALID",
    "KDC_ERR_POLICY",
    "KDC_ERR_BADOPTION",
    "KDC_ERR_ETYPE_NOTSUPP",
    "KDC_ERR_SUMTYPE_NOSUPP",
    "KDC_ERR_PADATA_TYPE_NOSUPP",
    "KDC_ERR_TRTYPE_NO_SUPP",
    "KDC_ERR_CLIENT_REVOKED",
    "KDC_ERR_SERVICE_REVOKED",
    "KDC_ERR_TGT_REVOKED",
    "KDC_ERR_CLIENT_NOTYET",
    "KDC_ERR_SERVICE_NOTYET",
    "KDC_ERR_KEY_EXPIRED",
    "KDC_ERR_PREAUTH_FAILED",
    "KDC_ERR_PREAUTH_REQUIRED",
    "KDC_ERR_SERVER_NOMATCH",
    "KDC_ERR_MUST_USE_USER2USER",
)
_KRB_AP_NAMES = (
    "KRB_AP_ERR_BAD_INTEGRITY",
    "KRB_AP_ERR_TKT_EXPIRED",
    "KRB_AP_ERR_TKT_NYV",
    "KRB_AP_ERR_REPEAT",
    "KRB_AP_ERR_NOT_US",
    "KRB_AP_ERR_BADMATCH",
    "KRB_AP_ERR_SKEW",
    "KRB_AP_ERR_BADADDR",
    "KRB_AP_ERR_BADVERSION",
    "KRB_AP_ERR_MSG_TYPE",
    "KRB_AP_ERR_MODIFIED",
    "KRB_AP_ERR_BADORDER",
)
_KRB_TAIL = {
    0x2C: "KRB_AP_ERR_BADKEYVER",
    0x2D: "KRB_AP_ERR_NOKEY",
    0x2E: "KRB_AP_ERR_MUT_FAIL",
    0x2F: "KRB_AP_ERR_BADDIRECTION",
    0x30: "KRB_AP_ERR_METHOD",
    0x31: "KRB_AP_ERR_BADSEQ",
    0x32: "KRB_AP_ERR_INAPP_CKSUM",
    0x33: "KRB_AP_PATH_NOT_ACCEPTED",
    0x34: "KRB_ERR_RESPONSE_TOO_BIG",
    0x3C: "KRB_ERR_GENERIC",
    0x3D: "KRB_ERR_FIELD_TOOLONG",
    0x3E: "KDC_ERR_CLIENT_NOT_TRUSTED",
    0x3F: "KDC_ERR_KDC_NOT_TRUSTED",
    0x40: "KDC_ERR_INVALID_SIG",
    0x41: "KDC_ERR_KEY_TOO_WEAK",
    0x42: "KRB_AP_ERR_USER_TO_USER_REQUIRED",
    0x43: "KRB_AP_ERR_NO_TGT",
    0x44: "KDC_ERR_WRONG_REALM",
}


def _kerberos_status() -> dict[str, str]:
    codes: dict[int, str] = dict(enumerate(_KDC_NAMES))  # 0x0 - 0x1B
    codes.update({0x1F + i: name for i, name in enumerate(_KRB_AP_NAMES)})  # 0x1F - 0x2A
    codes.update(_KRB_TAIL)
    # Keys as the pipeline spells them: "0x" then upper-case hex digits.
    return {f"0x{code:X}": name for code, name in codes.items()}


#: Kerberos result code ("0x" + upper-case hex) -> StatusDescription
KERBEROS_STATUS: dict[str, str] = _kerberos_status()

#: ServiceType (as Windows writes it in 4697) -> service.type
SERVICE_TYPES: dict[str, str] = {
    "0x1": "Kernel Driver",
    "0x2": "File System Driver",
    "0x8": "Recognizer Driver",
    "0x10": "Win32 Own Process",
    "0x20": "Win32 Share Process",
    "0x110": "Interactive Own Process",
    "0x120": "Interactive Share Process",
}

_SUBCATEGORY_SUFFIX = "-69AE-11D9-BED3-505054503030"
_SUBCATEGORIES: tuple[tuple[int, str, str], ...] = (
    (0x10, "Security State Change", "System"),
    (0x11, "Security System Extension", "System"),
    (0x12, "System Integrity", "System"),
    (0x13, "IPsec Driver", "System"),
    (0x14, "Other System Events", "System"),
    (0x15, "Logon", "Logon/Logoff"),
    (0x16, "Logoff", "Logon/Logoff"),
    (0x17, "Account Lockout", "Logon/Logoff"),
    (0x18, "IPsec Main Mode", "Logon/Logoff"),
    (0x19, "IPsec Quick Mode", "Logon/Logoff"),
    (0x1A, "IPsec Extended Mode", "Logon/Logoff"),
    (0x1B, "Special Logon", "Logon/Logoff"),
    (0x1C, "Other Logon/Logoff Events", "Logon/Logoff"),
    (0x43, "Network Policy Server", "Logon/Logoff"),
    (0x47, "User / Device Claims", "Logon/Logoff"),
    (0x1D, "File System", "Object Access"),
    (0x1E, "Registry", "Object Access"),
    (0x1F, "Kernel Object", "Object Access"),
    (0x20, "SAM", "Object Access"),
    (0x21, "Certification Services", "Object Access"),
    (0x22, "Application Generated", "Object Access"),
    (0x23, "Handle Manipulation", "Object Access"),
    (0x24, "File Share", "Object Access"),
    (0x25, "Filtering Platform Packet Drop", "Object Access"),
    (0x26, "Filtering Platform Connection ", "Object Access"),
    (0x27, "Other Object Access Events", "Object Access"),
    (0x44, "Detailed File Share", "Object Access"),
    (0x45, "Removable Storage", "Object Access"),
    (0x46, "Central Policy Staging", "Object Access"),
    (0x28, "Sensitive Privilege Use", "Privilege Use"),
    (0x29, "Non Sensitive Privilege Use", "Privilege Use"),
    (0x2A, "Other Privilege Use Events", "Privilege Use"),
    (0x2B, "Process Creation", "Detailed Tracking"),
    (0x2C, "Process Termination", "Detailed Tracking"),
    (0x2D, "DPAPI Activity", "Detailed Tracking"),
    (0x2E, "RPC Events", "Detailed Tracking"),
    (0x48, "Plug and Play Events", "Detailed Tracking"),
    (0x2F, "Audit Policy Change", "Policy Change"),
    (0x30, "Authentication Policy Change", "Policy Change"),
    (0x31, "Authorization Policy Change", "Policy Change"),
    (0x32, "MPSSVC Rule-Level Policy Change", "Policy Change"),
    (0x33, "Filtering Platform Policy Change", "Policy Change"),
    (0x34, "Other Policy Change Events", "Policy Change"),
    (0x35, "User Account Management", "Account Management"),
    (0x36, "Computer Account Management", "Account Management"),
    (0x37, "Security Group Management", "Account Management"),
    (0x38, "Distribution Group Management", "Account Management"),
    (0x39, "Application Group Management", "Account Management"),
    (0x3A, "Other Account Management Events", "Account Management"),
    (0x3B, "Directory Service Access", "Account Management"),
    (0x3C, "Directory Service Changes", "Account Management"),
    (0x3D, "Directory Service Replication", "Account Management"),
    (0x3E, "Detailed Directory Service Replication", "Account Management"),
    (0x3F, "Credential Validation", "Account Logon"),
    (0x40, "Kerberos Service Ticket Operations", "Account Logon"),
    (0x41, "Other Account Logon Events", "Account Logon"),
    (0x42, "Kerberos Authentication Service", "Account Logon"),
)

#: Audit subcategory GUID (upper case, no braces) -> (SubCategory, Category)
AUDIT_SUBCATEGORIES: dict[str, tuple[str, str]] = {
    f"0CCE92{low:02X}{_SUBCATEGORY_SUFFIX}": (sub, cat) for low, sub, cat in _SUBCATEGORIES
}

#: 4625/4776 Status and SubStatus -> winlog.logon.failure.status / sub_status
LOGON_FAILURE_STATUS: dict[str, str] = {
    "0xc000005e": "There are currently no logon servers available to service the logon request.",
    "0xc0000064": "User logon with misspelled or bad user account",
    "0xc000006a": "User logon with misspelled or bad password",
    "0xc000006d": "This is either due to a bad username or authentication information",
    "0xc000006e": "Unknown user name or bad password.",
    "0xc000006f": "User logon outside authorized hours",
    "0xc0000070": "User logon from unauthorized workstation",
    "0xc0000071": "User logon with expired password",
    "0xc0000072": "User logon to account disabled by administrator",
    "0xc00000dc": "Indicates the Sam Server was in the wrong state to perform the desired operation.",
    "0xc0000133": "Clocks between DC and other computer too far out of sync",
    "0xc000015b": "The user has not been granted the requested logon type (aka logon right) at this machine",
    "0xc000018c": "The logon request failed because the trust relationship between the primary domain "
    "and the trusted domain failed.",
    "0xc0000192": "An attempt was made to logon, but the Netlogon service was not started.",
    "0xc0000193": "User logon with expired account",
    "0xc0000224": "User is required to change password at next logon",
    "0xc0000225": "Evidently a bug in Windows and not a risk",
    "0xc0000234": "User logon with account locked",
    "0xc00002ee": "Failure Reason: An Error occurred during Logon",
    "0xc0000413": "Logon Failure: The machine you are logging onto is protected by an authentication "
    "firewall. The specified account is not allowed to authenticate to the machine.",
    "0xc0000371": "The local account store does not contain secret material for the specified account",
    "0x0": "Status OK.",
}

#: 4706/4716 TdoType, TdoDirection, TdoAttributes -> winlog.trustType / trustDirection / trustAttribute
TRUST_TYPES: dict[str, str] = {
    "1": "TRUST_TYPE_DOWNLEVEL",
    "2": "TRUST_TYPE_UPLEVEL",
    "3": "TRUST_TYPE_MIT",
    "4": "TRUST_TYPE_DCE",
}
TRUST_DIRECTIONS: dict[str, str] = {
    "0": "TRUST_DIRECTION_DISABLED",
    "1": "TRUST_DIRECTION_INBOUND",
    "2": "TRUST_DIRECTION_OUTBOUND",
    "3": "TRUST_DIRECTION_BIDIRECTIONAL",
}
TRUST_ATTRIBUTES: dict[str, str] = {
    "0": "UNDEFINED",
    "1": "TRUST_ATTRIBUTE_NON_TRANSITIVE",
    "2": "TRUST_ATTRIBUTE_UPLEVEL_ONLY",
    "4": "TRUST_ATTRIBUTE_QUARANTINED_DOMAIN",
    "8": "TRUST_ATTRIBUTE_FOREST_TRANSITIVE",
    "16": "TRUST_ATTRIBUTE_CROSS_ORGANIZATION",
    "32": "TRUST_ATTRIBUTE_WITHIN_FOREST",
    "64": "TRUST_ATTRIBUTE_TREAT_AS_EXTERNAL",
    "128": "TRUST_ATTRIBUTE_USES_RC4_ENCRYPTION",
    "512": "TRUST_ATTRIBUTE_CROSS_ORGANIZATION_NO_TGT_DELEGATION",
    "1024": "TRUST_ATTRIBUTE_PIM_TRUST",
}
