"""Security channel to ECS: Winlogbeat's own ingest goldens, then each event family by hand."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from vigil.ecs.windows import to_ecs
from vigil.ecs.windows.security import map_security
from vigil.ecs.windows.security_msgtable import DESCRIPTIONS, REVERSED
from vigil.ecs.windows.security_sddl import translate_sid

GOLDEN = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "winlogbeat-golden"
RAW_4688 = GOLDEN / "security-windows2019_4688_Process_Created.evtx.golden.raw-8x.json"
INGEST_4688 = GOLDEN / "security-windows2019_4688_Process_Created.ingest.golden.json"
INGEST_4624 = GOLDEN / "security-windows2012r2-logon.ingest.golden.excerpt.json"

# Fields vigil's common step adds to every Windows event (host.os.*, agent.*): not in the goldens.
COMMON_EXTRAS = ("host.os.", "agent.")

# Differences by design between vigil's output for the raw-8x 4688 record and the ingest golden.
BY_DESIGN_4688 = {
    "ecs.version": "set by vigil.ecs.windows.common for every channel; the golden shows the Beat's",
    "message": "the raw-8x record has no message and vigil does not render one",
    "winlog.api": "in the raw-8x input; the newer Winlogbeat that produced the ingest golden omits it",
    "winlog.provider_guid": "upper case in the ingest golden (newer Winlogbeat renderer); no pipeline step",
    "winlog.event_data.TokenElevationType": "the newer Winlogbeat renders %%1937 while reading the log "
    "(the golden's message shows the rendered text); the pipeline leaves the value as it is",
    "process.args_count": "added by the current pipeline's 4688 step, newer than the golden",
}

# Differences by design for the 4624 record (the raw form is rebuilt from the golden itself).
BY_DESIGN_4624 = {
    "ecs.version": "set by vigil.ecs.windows.common; the golden shows ECS 1.12.0 (its Winlogbeat 7.16 era)",
    "event.ingested": "the time Elasticsearch received the event; vigil invents no ingest time",
}


def flat(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def at(doc: dict[str, Any], path: str, default: Any = "<absent>") -> Any:
    cur: Any = doc
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def compare(ours: dict[str, Any], golden: dict[str, Any], by_design: dict[str, str]) -> list[str]:
    """Field-by-field differences, except the listed ones; also flags stale by-design entries."""
    mine, theirs = flat(ours), flat(golden)
    problems = []
    for key in sorted(set(mine) | set(theirs)):
        if key in by_design or (key not in theirs and key.startswith(COMMON_EXTRAS)):
            continue
        if mine.get(key, "<absent>") != theirs.get(key, "<absent>"):
            problems.append(
                f"{key}: vigil {mine.get(key, '<absent>')!r} != golden {theirs.get(key, '<absent>')!r}"
            )
    for key in by_design:
        if mine.get(key, "<absent>") == theirs.get(key, "<absent>"):
            problems.append(f"{key} is listed as differing by design but is equal")
    return problems


def load(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        pytest.skip(f"golden file {path.name} is not at hand ({GOLDEN})")
    return json.loads(path.read_text())


def test_4688_golden_field_by_field() -> None:
    raw = load(RAW_4688)[0]
    golden = load(INGEST_4688)[0]
    ours = to_ecs(copy.deepcopy(raw), mode="winlogbeat")
    assert compare(ours, golden, BY_DESIGN_4688) == []
    assert ours["process"]["pid"] == 4556 and ours["process"]["parent"]["pid"] == 4652
    assert "entity_id" not in ours["process"]


def raw_4624_from_golden(golden: dict[str, Any]) -> dict[str, Any]:
    """Undo the pipeline: put the ECS fields back into event data as Winlogbeat 8.x sends them."""
    doc = copy.deepcopy(golden)
    for key in ("user", "related", "process", "source", "ecs"):
        doc.pop(key)
    event = doc["event"]
    for key in ("category", "type", "action", "module", "ingested"):
        event.pop(key)
    event["action"] = "Logon"  # Winlogbeat's raw event.action is the task name
    winlog = doc["winlog"]
    winlog.pop("logon")
    winlog["record_id"] = int(winlog["record_id"])
    data = winlog["event_data"]
    data["ProcessId"] = hex(golden["process"]["pid"])  # "0x1c0", as the message shows
    data["ProcessName"] = golden["process"]["executable"]
    data["IpAddress"] = golden["source"]["ip"]
    data["IpPort"] = str(golden["source"]["port"])
    data["WorkstationName"] = golden["source"]["domain"]
    return doc


def test_4624_golden_rebuilt_raw_field_by_field() -> None:
    golden = load(INGEST_4624)[0]
    raw = raw_4624_from_golden(golden)
    assert raw["winlog"]["event_data"]["ProcessId"] == "0x1c0"
    ours = to_ecs(raw, mode="winlogbeat")
    assert compare(ours, golden, BY_DESIGN_4624) == []


# --------------------------------------------------------------------------- hand-made events


def security(
    eid: int | str,
    data: dict[str, Any] | None,
    *,
    keywords: str = "Audit Success",
    provider: str = "Microsoft-Windows-Security-Auditing",
    **winlog: Any,
) -> dict[str, Any]:
    """A Winlogbeat 8.x raw Security document, mapped."""
    doc: dict[str, Any] = {
        "@timestamp": "2024-05-01T10:00:01.123Z",
        "event": {"code": str(eid), "kind": "event", "provider": provider},
        "host": {"name": "dc01"},
        "log": {"level": "information"},
        "winlog": {
            "channel": "Security",
            "computer_name": "dc01.corp.local",
            "event_id": str(eid),
            "keywords": [keywords],
            "provider_name": provider,
            "record_id": 1234,
            **winlog,
        },
    }
    if data is not None:
        doc["winlog"]["event_data"] = data
    return to_ecs(doc)


SUBJECT = {
    "SubjectUserSid": "S-1-5-21-1-2-3-1105",
    "SubjectUserName": "alice",
    "SubjectDomainName": "CORP",
    "SubjectLogonId": "0x3e7a1",
}


def test_4624_network_logon() -> None:
    doc = security(
        4624,
        {
            "SubjectUserSid": "S-1-0-0",
            "SubjectUserName": "-",
            "SubjectDomainName": "-",
            "SubjectLogonId": "0x0",
            "TargetUserSid": "S-1-5-21-1-2-3-1106",
            "TargetUserName": "bob",
            "TargetDomainName": "CORP",
            "TargetLogonId": "0x8dcf21",
            "LogonType": "3",
            "LogonProcessName": "NtLmSsp ",
            "AuthenticationPackageName": "NTLM",
            "WorkstationName": "WS07",
            "ProcessId": "0x0",
            "ProcessName": "-",
            "IpAddress": "::ffff:10.0.0.5",
            "IpPort": "49823",
            "ImpersonationLevel": "%%1833",
            "ElevatedToken": "%%1842",
        },
    )
    assert doc["event"]["category"] == ["authentication"] and doc["event"]["type"] == ["start"]
    assert doc["event"]["action"] == "logged-in" and doc["event"]["outcome"] == "success"
    assert doc["winlog"]["logon"] == {"type": "Network", "id": "0x0"}
    assert doc["source"] == {"ip": "10.0.0.5", "port": 49823, "domain": "WS07"}
    assert doc["related"] == {"user": ["bob"], "ip": ["10.0.0.5"]}
    assert doc["user"] == {"id": "S-1-5-21-1-2-3-1106", "name": "bob", "domain": "CORP"}
    assert doc["process"] == {"pid": 0, "executable": "-", "name": "-"}
    data = doc["winlog"]["event_data"]
    for moved in ("IpAddress", "IpPort", "WorkstationName", "ProcessId", "ProcessName"):
        assert moved not in data
    # Insertion strings stay as Windows wrote them; rules match "%%1842".
    assert data["ImpersonationLevel"] == "%%1833" and data["ElevatedToken"] == "%%1842"
    assert doc["data_stream"]["dataset"] == "system.security"


LOGON_TYPE_NAMES = (
    "Interactive Network Batch Service - Unlock NetworkCleartext NewCredentials RemoteInteractive"
)
LOGON_TYPES = [(str(i), n) for i, n in enumerate(LOGON_TYPE_NAMES.split(), start=2) if n != "-"]


@pytest.mark.parametrize(("logon_type", "name"), [*LOGON_TYPES, ("11", "CachedInteractive")])
def test_logon_type_names(logon_type: str, name: str) -> None:
    doc = security(4624, {"LogonType": logon_type, "TargetUserName": "bob"})
    assert doc["winlog"]["logon"]["type"] == name


def test_unknown_logon_type_and_missing_ip_values() -> None:
    doc = security(4624, {"LogonType": "0", "IpAddress": "-", "IpPort": "-", "TargetUserName": "bob"})
    assert at(doc, "winlog.logon.type") == "<absent>"
    assert "source" not in doc and "ip" not in doc.get("related", {})
    assert doc["winlog"]["event_data"]["IpAddress"] == "-"


def test_4625_failure_descriptions() -> None:
    doc = security(
        4625,
        {
            "SubjectUserSid": "S-1-0-0",
            "SubjectUserName": "-",
            "TargetUserSid": "S-1-0-0",
            "TargetUserName": "administrator",
            "TargetDomainName": "CORP",
            "Status": "0xc000006d",
            "FailureReason": "%%2313",
            "SubStatus": "0xc000006a",
            "LogonType": "3",
            "IpAddress": "203.0.113.9",
            "IpPort": "0",
            "WorkstationName": "KALI",
        },
        keywords="Audit Failure",
    )
    assert doc["event"]["action"] == "logon-failed" and doc["event"]["outcome"] == "failure"
    assert doc["winlog"]["logon"]["failure"] == {
        "reason": "Unknown user name or bad password.",
        "status": "This is either due to a bad username or authentication information",
        "sub_status": "User logon with misspelled or bad password",
    }
    assert doc["user"]["name"] == "administrator" and doc["user"]["id"] == "S-1-0-0"
    assert doc["source"]["ip"] == "203.0.113.9" and doc["source"]["port"] == 0


@pytest.mark.parametrize("eid", [4634, 4647])
def test_logoff_logon_id_from_target(eid: int) -> None:
    doc = security(
        eid,
        {
            "TargetUserSid": "S-1-5-21-1-2-3-1106",
            "TargetUserName": "bob",
            "TargetDomainName": "CORP",
            "TargetLogonId": "0x8dcf21",
            "LogonType": "10",
        },
    )
    assert doc["event"]["action"] == "logged-out" and doc["event"]["type"] == ["end"]
    assert doc["winlog"]["logon"]["id"] == "0x8dcf21"
    assert doc["user"]["name"] == "bob"


def test_4648_explicit_credentials() -> None:
    doc = security(
        4648,
        {
            **SUBJECT,
            "LogonGuid": "{00000000-0000-0000-0000-000000000000}",
            "TargetUserName": "admin",
            "TargetDomainName": "CORP",
            "TargetServerName": "fs01.corp.local",
            "TargetInfo": "fs01.corp.local",
            "ProcessId": "0x1f8",
            "ProcessName": "C:\\Windows\\System32\\runas.exe",
            "IpAddress": "-",
            "IpPort": "-",
        },
    )
    assert doc["event"]["action"] == "logged-in-explicit"
    assert doc["user"]["name"] == "alice" and doc["user"]["id"] == SUBJECT["SubjectUserSid"]
    assert doc["user"]["effective"] == {"name": "admin", "domain": "CORP"}
    assert doc["related"]["user"] == ["admin", "alice"]
    assert doc["process"] == {
        "pid": 504,
        "executable": "C:\\Windows\\System32\\runas.exe",
        "name": "runas.exe",
    }
    assert doc["winlog"]["logon"]["id"] == "0x3e7a1"


def test_4672_privileges_split() -> None:
    doc = security(
        4672,
        {**SUBJECT, "PrivilegeList": "SeSecurityPrivilege\n\t\t\tSeBackupPrivilege\n\t\t\tSeDebugPrivilege"},
    )
    assert doc["event"]["action"] == "logged-in-special" and doc["event"]["category"] == ["iam"]
    assert doc["winlog"]["event_data"]["PrivilegeList"] == [
        "SeSecurityPrivilege",
        "SeBackupPrivilege",
        "SeDebugPrivilege",
    ]
    assert doc["user"]["name"] == "alice"


def test_4688_with_target_account_and_odd_command_lines() -> None:
    doc = security(
        4688,
        {
            **SUBJECT,
            "NewProcessId": "0x1a2b",
            "NewProcessName": "C:\\Windows\\System32\\cmd.exe",
            "TokenElevationType": "%%1938",
            "ProcessId": "0x0ff0",
            "CommandLine": 'cmd.exe  /c "echo a b" ',
            "TargetUserSid": "S-1-5-21-1-2-3-1106",
            "TargetUserName": "bob",
            "TargetDomainName": "CORP",
            "TargetLogonId": "0x8dcf21",
            "ParentProcessName": "C:\\Windows\\explorer.exe",
            "MandatoryLabel": "S-1-16-8192",
        },
    )
    process = doc["process"]
    assert process["pid"] == 0x1A2B and process["parent"] == {
        "executable": "C:\\Windows\\explorer.exe",
        "name": "explorer.exe",
        "pid": 0x0FF0,
    }
    # The pipeline's splitter keeps quotes and yields empty arguments for repeated/trailing blanks.
    assert process["args"] == ["cmd.exe", "", "/c", '"echo a b"', ""]
    assert process["args_count"] == 5
    assert doc["user"]["effective"] == {"id": "S-1-5-21-1-2-3-1106", "name": "bob", "domain": "CORP"}
    assert doc["related"]["user"] == ["alice", "bob"]
    assert doc["winlog"]["event_data"]["ProcessId"] == "0x0ff0"
    empty = security(4688, {"NewProcessId": "0x4", "CommandLine": ""})
    assert empty["process"]["args"] == [] and empty["process"]["args_count"] == 0


def test_4689_process_exit() -> None:
    doc = security(
        4689,
        {
            **SUBJECT,
            "Status": "0x0",
            "ProcessId": "0x1a4",
            "ProcessName": "C:\\Windows\\System32\\notepad.exe",
        },
    )
    assert doc["event"]["action"] == "exited-process" and doc["event"]["type"] == ["end"]
    assert doc["process"] == {
        "pid": 420,
        "executable": "C:\\Windows\\System32\\notepad.exe",
        "name": "notepad.exe",
    }
    assert doc["winlog"]["event_data"]["Status"] == "0x0"


def test_4697_service_installed() -> None:
    doc = security(
        4697,
        {
            **SUBJECT,
            "ServiceName": "PSEXESVC",
            "ServiceFileName": "%SystemRoot%\\PSEXESVC.exe",
            "ServiceType": "0x10",
            "ServiceStartType": "3",
            "ServiceAccount": "LocalSystem",
        },
    )
    assert doc["event"]["category"] == ["iam", "configuration"] and doc["event"]["type"] == [
        "admin",
        "change",
    ]
    assert doc["event"]["action"] == "service-installed"
    assert doc["service"] == {"name": "PSEXESVC", "type": "Win32 Own Process"}
    assert doc["winlog"]["event_data"]["ServiceFileName"] == "%SystemRoot%\\PSEXESVC.exe"
    assert doc["user"]["name"] == "alice"


@pytest.mark.parametrize(
    ("eid", "action", "types"),
    [
        (4698, "scheduled-task-created", ["creation", "admin"]),
        (4699, "scheduled-task-deleted", ["deletion", "admin"]),
        (4700, "scheduled-task-enabled", ["change", "admin"]),
        (4701, "scheduled-task-disabled", ["change", "admin"]),
        (4702, "scheduled-task-updated", ["change", "admin"]),
    ],
)
def test_scheduled_tasks(eid: int, action: str, types: list[str]) -> None:
    content = '<?xml version="1.0" encoding="UTF-16"?><Task><Actions><Exec><Command>cmd.exe</Command>'
    doc = security(eid, {**SUBJECT, "TaskName": "\\Updater", "TaskContent": content})
    assert doc["event"]["action"] == action and doc["event"]["type"] == types
    assert doc["event"]["category"] == ["iam", "configuration"]
    # Task name and content stay in the event data (rules read them there).
    assert doc["winlog"]["event_data"]["TaskName"] == "\\Updater"
    assert doc["winlog"]["event_data"]["TaskContent"] == content
    assert doc["user"]["id"] == SUBJECT["SubjectUserSid"]


def test_4719_audit_policy_change() -> None:
    doc = security(
        4719,
        {
            **SUBJECT,
            "CategoryId": "%%8273",
            "SubcategoryId": "%%12544",
            "SubcategoryGuid": "{0cce9215-69ae-11d9-bed3-505054503030}",
            "AuditPolicyChanges": "%%8448, %%8450",
        },
    )
    data = doc["winlog"]["event_data"]
    assert data["Category"] == "Logon/Logoff" and data["SubCategory"] == "Logon"
    assert data["AuditPolicyChangesDescription"] == ["Success removed", "Failure removed"]
    assert data["CategoryId"] == "%%8273"
    assert doc["event"]["action"] == "changed-audit-config"


def test_4720_user_created_with_uac() -> None:
    doc = security(
        4720,
        {
            **SUBJECT,
            "TargetSid": "S-1-5-21-1-2-3-1200",
            "TargetUserName": "svc_backup",
            "TargetDomainName": "CORP",
            "SamAccountName": "svc_backup",
            "NewUacValue": "0x15",
            "OldUacValue": "0x0",
            "UserAccountControl": "\n\t\t%%2080\n\t\t%%2082\n\t\t%%2084",
        },
    )
    data = doc["winlog"]["event_data"]
    assert data["NewUACList"] == [
        "USER_ACCOUNT_DISABLED",
        "USER_PASSWORD_NOT_REQUIRED",
        "USER_NORMAL_ACCOUNT",
    ]
    assert data["UserAccountControl"] == ["2080", "2082", "2084"]
    assert doc["user"]["target"] == {"id": "S-1-5-21-1-2-3-1200", "name": "svc_backup", "domain": "CORP"}
    assert doc["user"]["name"] == "alice"
    assert doc["related"]["user"] == ["alice", "svc_backup"]
    assert doc["event"]["type"] == ["user", "creation"]


@pytest.mark.parametrize(
    ("eid", "action"),
    [
        (4722, "enabled-user-account"),
        (4723, "changed-password"),
        (4724, "reset-password"),
        (4725, "disabled-user-account"),
        (4726, "deleted-user-account"),
        (4738, "modified-user-account"),
        (4740, "locked-out-user-account"),
        (4798, "group-membership-enumerated"),
    ],
)
def test_user_account_events(eid: int, action: str) -> None:
    doc = security(
        eid,
        {**SUBJECT, "TargetSid": "S-1-5-21-1-2-3-1106", "TargetUserName": "bob", "TargetDomainName": "CORP"},
    )
    assert doc["event"]["action"] == action and doc["event"]["category"] == ["iam"]
    assert doc["user"]["target"] == {"id": "S-1-5-21-1-2-3-1106", "name": "bob", "domain": "CORP"}
    assert doc["user"]["name"] == "alice"
    assert doc["related"]["user"] == ["alice", "bob"]


def test_4738_preauth_disabled_flag() -> None:
    doc = security(
        4738,
        {**SUBJECT, "TargetUserName": "bob", "NewUacValue": "0x10210", "UserAccountControl": "\n\t\t%%2096"},
    )
    assert "USER_DONT_REQUIRE_PREAUTH" in doc["winlog"]["event_data"]["NewUACList"]
    assert "USER_DONT_EXPIRE_PASSWORD" in doc["winlog"]["event_data"]["NewUACList"]
    unchanged = security(4738, {**SUBJECT, "TargetUserName": "bob", "NewUacValue": "-"})
    assert "NewUACList" not in unchanged["winlog"]["event_data"]


@pytest.mark.parametrize(
    ("eid", "action"),
    [
        (4728, "added-member-to-group"),
        (4729, "removed-member-from-group"),
        (4732, "added-member-to-group"),
        (4733, "removed-member-from-group"),
        (4756, "added-member-to-group"),
    ],
)
def test_group_membership(eid: int, action: str) -> None:
    doc = security(
        eid,
        {
            **SUBJECT,
            "MemberName": "CN=John Doe\\, Jr,OU=Users,DC=corp,DC=local",
            "MemberSid": "S-1-5-21-1-2-3-1300",
            "TargetUserName": "Domain Admins",
            "TargetDomainName": "CORP",
            "TargetSid": "S-1-5-21-1-2-3-512",
        },
    )
    assert doc["event"]["action"] == action and doc["event"]["type"] == ["group", "change"]
    assert doc["group"] == {"id": "S-1-5-21-1-2-3-512", "name": "Domain Admins", "domain": "CORP"}
    # An escaped comma stays in the name; the fourth DN part gives the domain, as the pipeline has it.
    assert doc["user"]["target"] == {
        "name": "John Doe\\, Jr",
        "domain": "local",
        "group": {"id": "S-1-5-21-1-2-3-512", "name": "Domain Admins", "domain": "CORP"},
    }
    assert doc["user"]["name"] == "alice"
    assert doc["related"]["user"] == ["John Doe\\, Jr", "alice"]


def test_local_group_member_without_dn() -> None:
    doc = security(
        4732,
        {
            **SUBJECT,
            "MemberName": "-",
            "MemberSid": "S-1-5-21-1-2-3-1300",
            "TargetUserName": "Administrators",
            "TargetDomainName": "Builtin",
            "TargetSid": "S-1-5-32-544",
        },
    )
    assert doc["user"]["target"]["name"] == "-"
    assert doc["group"]["name"] == "Administrators" and doc["group"]["domain"] == "Builtin"


def test_4799_group_enumeration() -> None:
    doc = security(
        4799,
        {
            **SUBJECT,
            "TargetUserName": "Administrators",
            "TargetDomainName": "Builtin",
            "TargetSid": "S-1-5-32-544",
            "CallerProcessId": "0x1b0",
            "CallerProcessName": "C:\\Windows\\System32\\net1.exe",
        },
    )
    assert doc["event"]["action"] == "user-member-enumerated" and doc["event"]["type"] == ["group", "info"]
    assert doc["group"] == {"id": "S-1-5-32-544", "name": "Administrators", "domain": "Builtin"}
    assert doc["winlog"]["event_data"]["CallerProcessName"] == "C:\\Windows\\System32\\net1.exe"
    assert "target" not in doc["user"]


def test_4768_kerberos_tgt() -> None:
    doc = security(
        4768,
        {
            "TargetUserName": "bob",
            "TargetDomainName": "CORP.LOCAL",
            "TargetSid": "S-1-5-21-1-2-3-1106",
            "ServiceName": "krbtgt",
            "ServiceSid": "S-1-5-21-1-2-3-502",
            "TicketOptions": "0x40810010",
            "Status": "0x0",
            "TicketEncryptionType": "0x12",
            "PreAuthType": "2",
            "IpAddress": "::ffff:10.0.0.7",
            "IpPort": "49712",
        },
    )
    data = doc["winlog"]["event_data"]
    assert data["StatusDescription"] == "KDC_ERR_NONE"
    assert data["TicketOptionsDescription"] == [
        "Forwardable",
        "Renewable",
        "Name-canonicalize",
        "Renewable-ok",
    ]
    assert data["TicketEncryptionTypeDescription"] == "AES256-CTS-HMAC-SHA1-96"
    assert doc["service"] == {"name": "krbtgt"}
    assert doc["user"] == {"id": "S-1-5-21-1-2-3-1106", "name": "bob", "domain": "CORP.LOCAL"}
    assert doc["source"] == {"ip": "10.0.0.7", "port": 49712}
    assert doc["event"]["action"] == "kerberos-authentication-ticket-requested"


def test_4769_and_4771_kerberos() -> None:
    tgs = security(
        4769,
        {
            "TargetUserName": "bob@CORP.LOCAL",
            "TargetDomainName": "CORP.LOCAL",
            "ServiceName": "sqlsvc",
            "TicketEncryptionType": "0x17",
            "Status": "0x0",
            "TicketOptions": "0x40810000",
            "IpAddress": "10.0.0.7",
            "IpPort": "50001",
        },
    )
    assert tgs["user"]["name"] == "bob" and tgs["related"]["user"] == ["bob"]
    assert tgs["winlog"]["event_data"]["TicketEncryptionTypeDescription"] == "RC4-HMAC"
    assert tgs["event"]["action"] == "kerberos-service-ticket-requested"
    pre = security(
        4771,
        {
            "TargetUserName": "bob",
            "TargetSid": "S-1-5-21-1-2-3-1106",
            "ServiceName": "krbtgt/CORP.LOCAL",
            "Status": "0x18",
            "PreAuthType": "2",
            "IpAddress": "10.0.0.7",
            "IpPort": "50002",
        },
        keywords="Audit Failure",
    )
    assert pre["winlog"]["event_data"]["StatusDescription"] == "KDC_ERR_PREAUTH_FAILED"
    assert pre["event"]["outcome"] == "failure" and pre["event"]["action"] == "kerberos-preauth-failed"
    lower = security(4769, {"Status": "0x1a"})
    assert lower["winlog"]["event_data"]["StatusDescription"] == "KDC_ERR_SERVER_NOMATCH"


def test_4776_credential_validation() -> None:
    doc = security(
        4776,
        {
            "PackageName": "MICROSOFT_AUTHENTICATION_PACKAGE_V1_0",
            "TargetUserName": "bob",
            "Workstation": "WS07",
            "Status": "0xc000006a",
        },
        keywords="Audit Failure",
    )
    assert doc["winlog"]["logon"]["failure"]["status"] == "User logon with misspelled or bad password"
    assert doc["user"]["name"] == "bob"
    assert doc["winlog"]["event_data"]["Workstation"] == "WS07"
    assert doc["event"]["action"] == "credential-validated"


def test_5140_share_access() -> None:
    doc = security(
        5140,
        {
            **SUBJECT,
            "ObjectType": "File",
            "IpAddress": "10.0.0.8",
            "IpPort": "51515",
            "ShareName": "\\\\*\\C$",
            "ShareLocalPath": "\\??\\C:\\",
            "AccessMask": "0x1",
            "AccessList": "%%4416\n\t\t\t\t",
        },
    )
    assert doc["event"]["category"] == ["network", "file"] and doc["event"]["type"] == ["info", "access"]
    assert doc["file"] == {"directory": "\\??\\C:\\"}
    data = doc["winlog"]["event_data"]
    assert data["AccessList"] == ["4416"]
    # A trailing blank run leaves an empty last element, as in the pipeline.
    assert data["AccessListDescription"] == ["ReadData (or ListDirectory)", ""]
    assert data["AccessMask"] == ["0x1"] and data["AccessMaskDescription"] == ["Create Child"]
    assert doc["source"] == {"ip": "10.0.0.8", "port": 51515} and doc["user"]["name"] == "alice"


def test_5145_share_file_checked() -> None:
    doc = security(
        5145,
        {
            **SUBJECT,
            "ShareName": "\\\\*\\ADMIN$",
            "ShareLocalPath": "\\??\\C:\\Windows",
            "RelativeTargetName": "Temp\\evil.exe",
            "AccessMask": "0x100180",
            "AccessList": "%%1541\n\t\t\t\t%%4423\n\t\t\t\t%%4424\n\t\t\t\t",
            "IpAddress": "10.0.0.8",
            "IpPort": "51516",
        },
    )
    assert doc["file"] == {
        "name": "Temp\\evil.exe",
        "directory": "\\??\\C:\\Windows",
        "path": "\\??\\C:\\Windows\\Temp\\evil.exe",
        "target_path": "\\\\*\\ADMIN$\\Temp\\evil.exe",
        "extension": "exe",
    }
    data = doc["winlog"]["event_data"]
    assert data["AccessList"] == ["1541", "4423", "4424"]
    assert data["AccessListDescription"] == ["SYNCHRONIZE", "ReadAttributes", "WriteAttributes", ""]
    assert data["AccessMaskDescription"] == ["List Object", "Control Access", "SYNCHRONIZE"]
    assert doc["event"]["action"] == "network-share-object-access-checked"


def test_1102_log_cleared_from_user_data() -> None:
    doc = security(
        1102,
        None,
        provider="Microsoft-Windows-Eventlog",
        user_data={
            "SubjectUserSid": "S-1-5-21-1-2-3-1105",
            "SubjectUserName": "alice",
            "SubjectDomainName": "CORP",
            "SubjectLogonId": "0x3e7a1",
            "xml_name": "LogFileCleared",
        },
    )
    assert doc["event"]["action"] == "audit-log-cleared" and doc["event"]["type"] == ["admin", "change"]
    assert doc["user"] == {"id": "S-1-5-21-1-2-3-1105", "name": "alice", "domain": "CORP"}
    assert doc["winlog"]["logon"]["id"] == "0x3e7a1" and doc["related"]["user"] == ["alice"]


def test_4616_time_change_only_categorised() -> None:
    doc = security(
        4616,
        {
            **SUBJECT,
            "PreviousTime": "2024-05-01T09:00:00Z",
            "NewTime": "2024-05-01T10:00:00Z",
            "ProcessId": "0x4d0",
            "ProcessName": "C:\\Windows\\System32\\svchost.exe",
        },
    )
    assert doc["event"]["action"] == "system-time-changed" and doc["event"]["category"] == ["configuration"]
    assert "user" not in doc and "process" not in doc
    assert doc["winlog"]["logon"]["id"] == "0x3e7a1"


def test_4778_session_reconnect() -> None:
    doc = security(
        4778,
        {
            "AccountName": "bob",
            "AccountDomain": "CORP",
            "LogonID": "0x8dcf21",
            "SessionName": "RDP-Tcp#3",
            "ClientName": "LAPTOP",
            "ClientAddress": "LOCAL",
        },
    )
    assert doc["source"] == {"ip": "127.0.0.1", "domain": "LAPTOP"}
    assert doc["winlog"]["event_data"]["ClientAddress"] == "127.0.0.1"
    assert doc["user"] == {"name": "bob", "domain": "CORP"} and doc["winlog"]["logon"]["id"] == "0x8dcf21"


def test_sddl_permissions_changed() -> None:
    doc = security(
        4670,
        {
            **SUBJECT,
            "ObjectServer": "Security",
            "ObjectType": "File",
            "OldSd": "D:(A;;FA;;;SY)(A;;0x1200a9;;;S-1-5-21-1-2-3-500)",
            "NewSd": "O:BAG:SYD:(D;;GA;;;WD)",
        },
    )
    data = doc["winlog"]["event_data"]
    assert data["OldSdDacl0"] == "Local system :Access Allowed ([File All Access])"
    assert data["OldSdDacl1"] == "Administrator :Access Allowed ([Syncronize, Read Control])"
    assert data["NewSdOwner"] == "O:BA" and data["NewSdDacl0"] == "Everyone :Access Denied ([Generic All])"
    assert "Administrator" in doc["related"]["user"]
    assert translate_sid("S-1-5-21-1-2-3-1106") is None and translate_sid("S-1-5-18") == "Local System"


def test_unknown_event_and_other_provider_keep_raw_fields() -> None:
    doc = security(9999, {"Foo": "bar", "ProcessId": "0x10"})
    assert doc["event"]["code"] == "9999" and "category" not in doc["event"]
    assert doc["winlog"]["event_data"] == {"Foo": "bar", "ProcessId": "0x10"}
    assert doc["winlog"]["record_id"] == "1234" and "process" not in doc
    other = security(
        4688,
        {"NewProcessId": "0x10", "NewProcessName": "C:\\x.exe"},
        provider="Microsoft-Windows-Security-Mitigations",
    )
    assert "process" not in other and "category" not in other["event"]


@pytest.mark.parametrize(
    "data",
    [
        {
            "NewProcessId": "zz",
            "ProcessId": "0x",
            "IpPort": "port",
            "TicketOptions": "bad",
            "NewUacValue": "x",
            "LogonType": ["3"],
            "ServiceType": ["0x10"],
            "AccessMask": "%%zz 0xq",
            "AccessList": 5,
            "MemberName": None,
            "TargetUserName": 7,
            "CommandLine": None,
        },
        {
            "SubjectUserName": None,
            "TargetUserName": "",
            "TargetSid": "",
            "OldSd": "garbage((",
            "SidList": "%{} ",
        },
        {},
    ],
)
@pytest.mark.parametrize("eid", [4624, 4625, 4688, 4720, 4728, 4768, 4670, 5145, 1102])
def test_odd_values_never_raise(data: dict[str, Any], eid: int) -> None:
    doc = security(eid, copy.deepcopy(data))
    assert doc["event"]["code"] == str(eid)


def test_odd_documents_never_raise() -> None:
    for doc in ({}, {"winlog": None}, {"winlog": {"event_data": "x"}}, {"winlog": {}, "event": "x"}):
        map_security(doc)
    bad_pid = security(4688, {"NewProcessId": "zz"})
    assert bad_pid["winlog"]["event_data"]["NewProcessId"] == "zz"


# --------------------------------------------------------------------------- helpers and tables


def test_message_table_facts() -> None:
    assert DESCRIPTIONS["1833"] == "Impersonation" and DESCRIPTIONS["1842"] == "Yes"
    assert (
        DESCRIPTIONS["4417"] == "WriteData (or AddFile)"
        and DESCRIPTIONS["4438"] == "Undefined Access (no effect) Bit 6"
    )
    assert (
        DESCRIPTIONS["2096"] == "Don't Require Preauth' - Enabled"
        and DESCRIPTIONS["2090"] == "Account Locked"
    )
    assert "4583" not in DESCRIPTIONS and DESCRIPTIONS["16903"] == "Publish"
    assert REVERSED["ReadData (or ListDirectory)"] == "4416"
