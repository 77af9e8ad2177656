"""The Security mapping against pinned golden output: the ``security-*`` groups, and the caches.

The inputs of the former tests/test_windows_differential.py (Security channel), generated the same
way: every Security record of ../shared/datasets, one seeded mutation of each, seeded synthetic
documents, and more distinct values than the value caches hold. The machinery (hashing, data set
records, the golden file and the comparison) is in ``windows_golden.py``, whose docstring says how
the golden tests work.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from vigil.ecs.windows import powershell, security_helpers, security_steps
from vigil.ecs.windows.security import map_security
from windows_golden import (
    DOCS,
    ODD_VALUES,
    SECURITY,
    Case,
    Group,
    check_golden,
    clone,
    mapped_alternately,
    mutations_group,
    random_value,
    records_group,
)

# Values of the fields the Security mapping reads, realistic ones first, then odd ones.
SECURITY_FIELDS: dict[str, tuple[Any, ...]] = {
    "LogonType": ("2", "3", "5", "10", "11", "0", " 3"),
    "NewUacValue": ("0x15", "0x210", "0x0", "-", " 0x80 ", "zz"),
    "UserAccountControl": ("%%2080\n\t\t%%2082", "-", "\n", "%%2048"),
    "TicketOptions": ("0x40810010", "0x60810010", "0x0", "0X1", "x"),
    "TicketEncryptionType": ("0x17", "0x12", "0X17", "0xffffffff", "0x5"),
    "Status": ("0x0", "0x6", "0x18", "0xc000006d", "0xc0000064", "0x1b", "0x", "1"),
    "SubStatus": ("0xc000006a", "0x0", "0xc0000072"),
    "ServiceName": ("krbtgt", "PSEXESVC", "WS01$"),
    "ServiceType": ("0x10", "0x20", "0x3"),
    "SubcategoryGuid": ("{0CCE9215-69AE-11D9-BED3-505054503030}", "{0cce9227-69ae-11d9-bed3-505054503030}"),
    "FailureReason": ("%%2313", "%%2304", "oops"),
    "AuditPolicyChanges": ("%%8448, %%8450", "%%8449", "x,,y"),
    "AccessList": ("%%1537\n\t\t\t\t%%1538\n\t\t\t\t", "%%4416 %%4417", "  ", "READ_CONTROL"),
    "AccessMask": ("0x1", "0x100", "0x20019", "%%1537 %%1538", "READ_CONTROL SYNCHRONIZE", "0x", "\n"),
    "Direction": ("%%14592", "%%14593", "x"),
    "LayerName": ("%%14610", "%%14611 ", "y"),
    "TdoType": ("1", "2", "9"),
    "TdoDirection": ("3", "0"),
    "TdoAttributes": ("8", "1024", "5"),
    "AccountName": ("bob", "-"),
    "AccountDomain": ("CORP",),
    "ClientAddress": ("10.0.0.9", "LOCAL", "-", "Unknown", "::ffff:10.0.0.9"),
    "ClientName": ("WS07", "-"),
    "LogonID": ("0x8dcf21",),
    "TargetUserSid": ("S-1-5-21-1-2-3-1106", "S-1-0-0", "-", ""),
    "TargetSid": ("S-1-5-21-1-2-3-512", "-"),
    "TargetUserName": ("bob", "bob@CORP.LOCAL", "WS01$", "-", "", "Domain Admins"),
    "TargetDomainName": ("CORP", "-", "", "DC=corp,DC=local"),
    "MemberName": ("CN=bob,OU=Users,DC=corp,DC=local", "cn=a\\,b,OU=x,DC=c,DC=d", "-", "CN=x"),
    "TargetLogonId": ("0x8dcf21", "0x3e7"),
    "SubjectUserSid": ("S-1-5-18", "S-1-5-21-1-2-3-1105", "S-1-0-0"),
    "SubjectUserName": ("alice", "WS01$", "-", "LOCAL SERVICE"),
    "SubjectDomainName": ("CORP", "NT AUTHORITY", "-"),
    "SubjectLogonId": ("0x3e7", "0x3e7a1", "0x0"),
    "ProcessId": ("0x1c0", "0x0", "448", "0xzz", "-"),
    "ProcessName": ("C:\\Windows\\System32\\lsass.exe", "-", "lsass.exe"),
    "IpAddress": ("10.0.0.5", "::ffff:10.0.0.5", "-", "::1", "127.0.0.1", "fe80::1%12"),
    "IpPort": ("49823", "0", "-", "0x1bb"),
    "WorkstationName": ("WS07", "-", "\\\\WS07"),
    "NewProcessId": ("0x11cc", "0x0", "bad"),
    "NewProcessName": ("C:\\Windows\\System32\\cmd.exe", "cmd.exe", ""),
    "ParentProcessName": ("C:\\Windows\\explorer.exe", ""),
    "CommandLine": (
        'cmd.exe /c "whoami /all"',
        "  net  use \\\\dc01\\c$ ",
        '"C:\\Program Files\\x.exe" --a="b c" d',
        "a\tb\u2003c\u00a0d",
        "",
        'x "unterminated',
    ),
    "PrivilegeList": ("SeSecurityPrivilege\n\t\t\tSeBackupPrivilege", "-", "SeDebugPrivilege", " a  b "),
    "OldTargetUserName": ("old", "", "-"),
    "NewTargetUserName": ("new", "", "-"),
    "OldSd": ("D:(A;;FA;;;BA)", "O:BAG:SYD:(A;;0x1f01ff;;;SY)(D;;GA;;;WD)S:(AU;SA;FA;;;WD)", "x"),
    "NewSd": ("O:BAG:SYD:PAI(A;;FA;;;S-1-5-21-1-2-3-500)", "D:(OA;;CR;x;;AU)"),
    "SidList": ("%{S-1-5-32-544} %{S-1-5-21-1-2-3-512}", "%{S-1-1-0}"),
    "RelativeTargetName": ("dir\\file.txt", "svcctl", "", "noext", "a.b.c"),
    "ShareLocalPath": ("\\??\\C:\\", "C:\\Windows", ""),
    "ShareName": ("\\\\*\\C$", "\\\\*\\IPC$", ""),
    "ObjectName": ("\\REGISTRY\\MACHINE\\SAM", "C:\\x.txt"),
    "HandleId": ("0x3c4",),
    "Application": ("\\device\\harddiskvolume2\\windows\\system32\\svchost.exe",),
}

# The event ids of the Security categorization table when the golden data was first made (the
# table itself may grow: the inputs must not change with it), then others.
_CATEGORIZED_IDS = """
1100 1102 1104 1105 1108 4610 4611 4614 4616 4622 4624 4625 4634 4647 4648 4657 4662 4670 4672
4673 4674 4688 4689 4697 4698 4699 4700 4701 4702 4706 4707 4713 4714 4715 4716 4717 4718 4719
4720 4722 4723 4724 4725 4726 4727 4728 4729 4730 4731 4732 4733 4734 4735 4737 4738 4739 4740
4741 4742 4743 4744 4745 4746 4747 4748 4749 4750 4751 4752 4753 4754 4755 4756 4757 4758 4759
4760 4761 4762 4763 4764 4767 4768 4769 4770 4771 4776 4778 4779 4781 4797 4798 4799 4817 4902
4904 4905 4906 4907 4908 4912 4950 4954 4964 5024 5025 5033 5034 5037 5136 5140 5145 5379 5380
5381 5382
"""
SECURITY_EVENT_IDS = (
    *_CATEGORIZED_IDS.split(),
    "4656",
    "4658",
    "4661",
    "4663",
    "4690",
    "4703",
    "5156",
    "5157",
    "5158",
    "4627",
    "5447",
    "9999",
    "",
)


def synthetic_security(rng: random.Random, eid: str) -> dict[str, Any]:
    fields = rng.sample(sorted(SECURITY_FIELDS), k=rng.randint(0, 24))
    data = {field: random_value(rng, SECURITY_FIELDS[field]) for field in fields}
    winlog: dict[str, Any] = {"channel": rng.choice(("Security", "security")), "event_id": eid}
    if rng.random() < 0.9:
        winlog["event_data"] = data
    elif rng.random() < 0.5:
        winlog["event_data"] = rng.choice(ODD_VALUES)
    provider = rng.choice(
        ("Microsoft-Windows-Security-Auditing", "Microsoft-Windows-Eventlog", None, "Other-Provider")
    )
    if provider is not None:
        winlog["provider_name"] = provider
    if rng.random() < 0.5:
        winlog["keywords"] = rng.choice((["Audit Success"], ["Audit Failure"], "Audit Failure", [], "x"))
    if rng.random() < 0.5:
        winlog["record_id"] = rng.choice((1234, "1234", True))
    if rng.random() < 0.3:
        winlog["event_id"] = int(eid) if eid.isdigit() else eid
    if rng.random() < 0.5:
        winlog["level"] = rng.choice(("information", "", "warning", 3))
    if rng.random() < 0.5:
        winlog["time_created"] = rng.choice(
            ("2024-05-01T10:00:01.1234567Z", "2024-05-01T10:00:01Z", "2024-05-01T12:00:01.5+02:00", "bad", "")
        )
    if eid == "1102" or rng.random() < 0.05:
        winlog["user_data"] = {
            "SubjectUserSid": "S-1-5-21-1-2-3-500",
            "SubjectUserName": rng.choice(("admin", None)),
            "SubjectDomainName": "CORP",
            "SubjectLogonId": "0x1a2b",
        }
    doc: dict[str, Any] = {"@timestamp": "2024-05-01T10:00:01.123Z", "winlog": winlog}
    event: dict[str, Any] = {"kind": "event"}
    if rng.random() < 0.8:
        event["code"] = rng.choice((eid, int(eid) if eid.isdigit() else eid))
    if rng.random() < 0.3:
        event["outcome"] = "unknown"
    doc["event"] = event
    # Fields already in the document before the mapping (as other sources may leave them).
    if rng.random() < 0.1:
        doc["related"] = {"user": rng.choice(("bob", ["bob"], None)), "ip": "10.0.0.5"}
    if rng.random() < 0.1:
        doc["user"] = rng.choice(({"id": "S-1-5-18"}, {"name": "x"}, "notadict"))
    if rng.random() < 0.1:
        doc["process"] = rng.choice(({"name": "x"}, {"executable": 5}, {"parent": "p"}))
    if rng.random() < 0.1:
        doc["source"] = rng.choice(({"ip": "::ffff:1.2.3.4"}, {"ip": 5}, "x"))
    return doc


def security_synthetic() -> Iterator[Case]:
    rng = random.Random("security")
    cases = [
        ((f"synthetic {eid or '(none)'}", f"#{i}"), synthetic_security(rng, eid))
        for eid in SECURITY_EVENT_IDS
        for i in range(60)
    ]
    return mapped_alternately(cases)


def caches_group() -> Iterator[Case]:
    """More distinct values than a cache holds: it empties and refills, results stay the same."""
    count = security_steps._CACHE_CAP + 500
    for i in range(count):
        data = {
            "SubjectUserName": "alice",
            "SubjectLogonId": "0x3e7",
            "AccessMask": hex(i),
            "AccessList": f"%%{1536 + i % 40}\n\t\t\t\t%%{4416 + i % 9} {i}",
            "Direction": f"%%{14592 + i % 3} {i}",
            "NewProcessName": f"C:\\x\\p{i}.exe",
            "CommandLine": f'p{i}.exe "a b" c{i}',
            "ProcessId": hex(i + 10),
        }
        given, output = [], []
        for code in ("4656", "4688"):
            doc = {"event": {"code": code}, "winlog": {"event_data": dict(data)}}
            given.append(clone(doc))
            map_security(doc)
            output.append(doc)
        yield ("cache fillers", f"#{i}"), given, output


# =========================================================================== the golden comparison

GROUPS: dict[str, Group] = {
    "security-records": (True, records_group(SECURITY), DOCS),
    "security-mutations": (True, mutations_group(SECURITY), DOCS),
    "security-synthetic": (False, security_synthetic, DOCS),
    "security-cache-fillers": (False, caches_group, DOCS),
}


@pytest.mark.parametrize("group", list(GROUPS))
def test_output_matches_the_golden_hashes(group: str) -> None:
    check_golden(group, GROUPS[group])


# =========================================================================== properties (no oracle)


def test_caches_stay_bounded() -> None:
    """More distinct values than a cache holds: the caches empty and refill, never grow past their cap."""
    for _case in caches_group():
        pass
    caches = (
        security_steps._access_lists,
        security_steps._access_masks,
        security_steps._table_texts,
        security_steps._command_lines,
        security_steps._path_names,
        security_helpers._long_cache,
    )
    for cache in caches:
        assert 0 < len(cache) <= security_steps._CACHE_CAP


def test_long_values_are_mapped_but_not_remembered() -> None:
    command_line = "p.exe " + "a" * (security_steps._CACHED_MAX_CHARS + 10)
    payload = "\n".join(['ParameterBinding(Get-Item): name="Path"; value="x"'] * 200)
    assert len(payload) > powershell._CACHED_BLOCK_MAX_CHARS
    sec: dict[str, Any] = {"event": {"code": "4688"}, "winlog": {"event_data": {"CommandLine": command_line}}}
    ps: dict[str, Any] = {"winlog": {"event_id": "4103", "event_data": {"Payload": payload}}}
    map_security(sec)
    powershell.map_powershell_operational(ps)
    assert sec["process"]["args"] == ["p.exe", "a" * (security_steps._CACHED_MAX_CHARS + 10)]
    assert len(ps["powershell"]["command"]["invocation_details"]) == 200
    assert command_line not in security_steps._command_lines
    assert payload not in powershell._payloads[powershell._DETAIL_OPERATIONAL]
