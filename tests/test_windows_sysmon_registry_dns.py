"""Sysmon to ECS, registry and DNS events (split from test_windows_sysmon.py, whose helpers
these tests share)."""

from __future__ import annotations

from typing import Any

import pytest

from test_windows_sysmon import BASE, at, ecs, ed, raw
from vigil.ecs.windows.sysmon import registry_fields
from vigil.ecs.windows.sysmon_dns import (
    QUERY_STATUS,
    clean_resolved_ips,
    parse_query_results,
    synthesize_ip_answers,
)
from vigil.ecs.windows.sysmon_psl import SuffixList, domain_parts

# --- registry --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "hive", "key", "value"),
    [
        ("HKLM\\SOFTWARE\\Run\\Updater", "HKLM", "SOFTWARE\\Run\\Updater", "Updater"),
        ("HKU\\S-1-5-21-1-2-3\\Environment\\X", "HKU", "S-1-5-21-1-2-3\\Environment\\X", "X"),
        ("HKCR\\ms-settings\\shell\\(Default)", "HKCR", "ms-settings\\shell\\(Default)", "(Default)"),
        ("HKEY_LOCAL_MACHINE\\SYSTEM\\Setup", "HKLM", "SYSTEM\\Setup", "Setup"),
        ("HKEY_CURRENT_USER\\Console", "HKCU", "Console", "Console"),
        ("HKEY_USERS\\.DEFAULT", "HKU", ".DEFAULT", ".DEFAULT"),
        ("HKCC\\System", "HKCC", "System", "System"),
        ("HKPD\\x", "HKPD", "x", "x"),
        ("HKEY_DYN_DATA\\x", "HKDD", "x", "x"),
        ("HKLM", "HKLM", "<absent>", "HKLM"),
        ("HKLM\\SOFTWARE\\Key\\", "HKLM", "SOFTWARE\\Key", "Key"),
        ("hklm\\software\\x", "<absent>", "<absent>", "x"),  # hive names are case-sensitive
        ("\\REGISTRY\\MACHINE\\SOFTWARE\\x", "<absent>", "<absent>", "x"),
    ],
)
def test_registry_hive_mapping(path: str, hive: Any, key: Any, value: str) -> None:
    reg = registry_fields(path, None)
    assert reg["path"] == path
    assert reg.get("hive", "<absent>") == hive
    assert reg.get("key", "<absent>") == key
    assert reg["value"] == value


@pytest.mark.parametrize(
    ("details", "strings", "type_"),
    [
        ("DWORD (0x00000001)", ["1"], "SZ_DWORD"),
        ("dword (0X0000FFFF)", ["65535"], "SZ_DWORD"),
        ("QWORD (0x00000000-0x00000005)", ["5"], "SZ_QWORD"),
        # The pipeline shifts the high part by 8 bits, not 32: kept for fidelity.
        ("QWORD (0x00000001-0x00000002)", ["258"], "SZ_QWORD"),
        ("Binary Data", ["Binary Data"], "REG_BINARY"),
        ("C:\\Users\\Public\\evil.exe", ["C:\\Users\\Public\\evil.exe"], "REG_SZ"),
        ("DWORD (0x1)", ["DWORD (0x1)"], "REG_SZ"),
        ("(Empty)", ["(Empty)"], "REG_SZ"),
    ],
)
def test_registry_data(details: str, strings: list[str], type_: str) -> None:
    assert registry_fields("HKLM\\X\\V", details)["data"] == {"strings": strings, "type": type_}


def test_registry_value_set_per_pipeline() -> None:
    data = dict(
        BASE,
        EventType="SetValue",
        TargetObject="HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\DisableAntiSpyware",
        Details="DWORD (0x00000001)",
    )
    beat = ecs(raw(13, dict(data)))
    assert beat["registry"] == {
        "path": data["TargetObject"],
        "hive": "HKLM",
        "key": "SOFTWARE\\Microsoft\\Windows Defender\\DisableAntiSpyware",
        "value": "DisableAntiSpyware",
        "data": {"strings": ["1"], "type": "SZ_DWORD"},
    }
    assert ed(beat) == {"EventType": "SetValue"}
    agent = ecs(raw(13, dict(data)), "agent")
    assert agent["registry"] == beat["registry"]
    assert ed(agent) == {"EventType": "SetValue", "Details": "DWORD (0x00000001)"}


def test_registry_create_and_rename() -> None:
    created = ecs(raw(12, dict(BASE, EventType="CreateKey", TargetObject="HKU\\S-1-5-21-9\\Software\\Evil")))
    assert at(created, "registry.key") == "S-1-5-21-9\\Software\\Evil"
    assert at(created, "registry.data") == "<absent>"
    renamed = ecs(raw(14, dict(BASE, EventType="RenameKey", TargetObject="HKLM\\A\\B", NewName="HKLM\\A\\C")))
    assert at(renamed, "registry.path") == "HKLM\\A\\B"
    assert ed(renamed) == {"EventType": "RenameKey", "NewName": "HKLM\\A\\C"}


def test_registry_only_for_registry_events() -> None:
    assert "registry" not in ecs(raw(1, dict(BASE, TargetObject="HKLM\\X")))


# --- DNS -------------------------------------------------------------------------------------


def test_dns_query() -> None:
    data = dict(
        BASE,
        QueryName="updates.example.com",
        QueryStatus="0",
        QueryResults="type:  5 cdn.example.net;::ffff:198.51.100.7;2001:db8::7;",
    )
    doc = ecs(raw(22, data))
    assert doc["dns"] == {
        "question": {
            "name": "updates.example.com",
            "registered_domain": "example.com",
            "top_level_domain": "com",
            "subdomain": "updates",
        },
        "answers": [
            {"type": "CNAME", "data": "cdn.example.net"},
            {"type": "A", "data": "198.51.100.7"},
            {"type": "AAAA", "data": "2001:db8::7"},
        ],
        "resolved_ip": ["198.51.100.7", "2001:db8::7"],
    }
    assert doc["related"] == {
        "hosts": ["cdn.example.net", "updates.example.com"],
        "ip": ["198.51.100.7", "2001:db8::7"],
        "user": ["alice"],
    }
    assert at(doc, "network.protocol") == "dns"
    assert at(doc, "sysmon.dns.status") == "SUCCESS"
    assert ed(doc) == {}


@pytest.mark.parametrize(
    ("results", "answers", "addresses", "hosts"),
    [
        ("", [], [], []),
        (";;", [], [], []),
        ("type:  33 ;type:  33 ;", [{"type": "SRV"}, {"type": "SRV"}], [], []),
        ("type:  999 x.example", [{"type": None, "data": "x.example"}], [], ["x.example"]),
        ("type:\t12\tptr.example;", [{"type": "PTR", "data": "ptr.example"}], [], ["ptr.example"]),
        ("type:  5 a b", [{"type": "CNAME"}], [], []),
        ("::ffff:1.2.3.4;[::ffff:5.6.7.8]:53", [], ["::ffff:1.2.3.4", "[::ffff:5.6.7.8]:53"], []),
    ],
)
def test_query_results_parsing(results: str, answers: Any, addresses: Any, hosts: Any) -> None:
    assert parse_query_results(results) == (answers, addresses, hosts)


def test_resolved_ip_cleanup_keeps_the_pipelines_skip_quirk() -> None:
    cleaned = clean_resolved_ips(["::ffff:1.2.3.4", "[::ffff:5.6.7.8]:53", "garbage", "9.9.9.9", "fe80::1"])
    assert cleaned == ["1.2.3.4", "5.6.7.8", None, "9.9.9.9", "fe80::1"]
    answers: list[dict[str, Any]] = []
    synthesize_ip_answers(cleaned, answers)
    # The entry after a dropped one is skipped, as the pipeline's index loop does.
    assert cleaned == ["1.2.3.4", "5.6.7.8", "9.9.9.9", "fe80::1"]
    assert answers == [
        {"type": "A", "data": "1.2.3.4"},
        {"type": "A", "data": "5.6.7.8"},
        {"type": "AAAA", "data": "fe80::1"},
    ]


def test_query_status_names() -> None:
    checks = {
        "0": "SUCCESS",
        "5": "ERROR_ACCESS_DENIED",
        "14": "ERROR_OUTOFMEMORY",
        "1460": "ERROR_TIMEOUT",
        "9003": "DNS_ERROR_RCODE_NAME_ERROR",
        "9010": "DNS_ERROR_RCODE_NOTZONE",
        "9130": "DNS_ERROR_NSEC_INCOMPATIBLE_WITH_NSEC3_RSA_SHA1",
        "9501": "DNS_INFO_NO_RECORDS",
        "9573": "DNS_ERROR_ADDRESS_REQUIRED",
        "9622": "DNS_ERROR_ZONE_LOCKED_FOR_SIGNING",
        "9722": "DNS_ERROR_ALIAS_LOOP",
        "9963": "DNS_ERROR_SCOPE_ALREADY_EXISTS",
        "9996": "DNS_ERROR_POLICY_INVALID_CRITERIA_TIME_OF_DAY",
        "10055": "WSAENOBUFS",
        "10060": "WSAETIMEDOUT",
    }
    for code, name in checks.items():
        assert QUERY_STATUS[code] == name
    assert len(QUERY_STATUS) == 197
    doc = ecs(raw(22, dict(BASE, QueryName="x.example.com", QueryStatus="1234")))
    assert at(doc, "sysmon.dns.status") == "1234"


def test_dns_failures_become_pipeline_errors() -> None:
    bad = ecs(raw(22, dict(BASE, QueryName="x.example.com", QueryResults="type:;")))
    assert at(bad, "event.kind") == "pipeline_error"
    assert at(bad, "error.message") == ["unexpected QueryResult format"]
    assert at(bad, "process.pid") == 6312  # mapped before the failure
    orphan = ecs(raw(22, dict(BASE, QueryResults="1.2.3.4;")))
    assert at(orphan, "event.kind") == "pipeline_error"


PSL = SuffixList.parse(
    """
// ===BEGIN ICANN DOMAINS===
com
uk
co.uk
*.ck
!www.ck
// ===END ICANN DOMAINS===
// ===BEGIN PRIVATE DOMAINS===
global.ssl.fastly.net
net
// ===END PRIVATE DOMAINS===
"""
)


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        (
            "www.example.com",
            {"registered_domain": "example.com", "top_level_domain": "com", "subdomain": "www"},
        ),
        ("example.com", {"registered_domain": "example.com", "top_level_domain": "com"}),
        (
            "a.b.example.co.uk",
            {"registered_domain": "example.co.uk", "top_level_domain": "co.uk", "subdomain": "a.b"},
        ),
        # Mixed case: the root is found lower-cased, the subdomain search then fails.
        ("WWW.Example.COM", {"registered_domain": "example.com", "top_level_domain": "com"}),
        ("com", {"top_level_domain": "com"}),
        (
            "x.global.ssl.fastly.net",
            {
                "registered_domain": "global.ssl.fastly.net",
                "top_level_domain": "ssl.fastly.net",
                "subdomain": "x",
            },
        ),
        ("a.b.ck", {"registered_domain": "a.b.ck", "top_level_domain": "b.ck"}),
        ("www.ck", {"registered_domain": "www.ck", "top_level_domain": "ck"}),
        ("host.unknowntld", {}),
        ("localhost", {}),
    ],
)
def test_registered_domain(name: str, parts: dict[str, str]) -> None:
    got = domain_parts(name, PSL)
    assert {k: v for k, v in got.items() if k != "domain"} == parts
    if got:
        assert got["domain"] == name
