"""Sysmon DNS query events (EID 22): answers, query status names and the registered domain.

``QueryResults`` looks like ``type:  5 edge.example.net;::ffff:192.0.2.7;``: CNAME-style records
are ``type:`` followed by the numeric record type and the data, addresses stand alone (IPv4 ones as
IPv4-mapped IPv6). The pipeline turns that into ``dns.answers``, ``dns.resolved_ip`` and
``related.hosts``; ``dns.question.registered_domain`` and friends come from Elasticsearch's
``registered_domain`` processor, which uses the Public Suffix List (see :mod:`.sysmon_psl`).
"""

from __future__ import annotations

import re
from typing import Any

from vigil.ecs.windows.sysmon_net import is_ip
from vigil.ecs.windows.sysmon_psl import domain_parts

# DNS resource record type numbers (RFC 1035 and successors) to their mnemonics.
RECORD_TYPES: dict[str, str] = {
    str(number): name
    for number, name in (
        (1, "A"),
        (2, "NS"),
        (3, "MD"),
        (4, "MF"),
        (5, "CNAME"),
        (6, "SOA"),
        (7, "MB"),
        (8, "MG"),
        (9, "MR"),
        (10, "NULL"),
        (11, "WKS"),
        (12, "PTR"),
        (13, "HINFO"),
        (14, "MINFO"),
        (15, "MX"),
        (16, "TXT"),
        (17, "RP"),
        (18, "AFSDB"),
        (19, "X25"),
        (20, "ISDN"),
        (21, "RT"),
        (22, "NSAP"),
        (23, "NSAPPTR"),
        (24, "SIG"),
        (25, "KEY"),
        (26, "PX"),
        (27, "GPOS"),
        (28, "AAAA"),
        (29, "LOC"),
        (30, "NXT"),
        (31, "EID"),
        (32, "NIMLOC"),
        (33, "SRV"),
        (34, "ATMA"),
        (35, "NAPTR"),
        (36, "KX"),
        (37, "CERT"),
        (38, "A6"),
        (39, "DNAME"),
        (40, "SINK"),
        (41, "OPT"),
        (43, "DS"),
        (46, "RRSIG"),
        (47, "NSEC"),
        (48, "DNSKEY"),
        (49, "DHCID"),
        (100, "UINFO"),
        (101, "UID"),
        (102, "GID"),
        (103, "UNSPEC"),
        (248, "ADDRS"),
        (249, "TKEY"),
        (250, "TSIG"),
        (251, "IXFR"),
        (252, "AXFR"),
        (253, "MAILB"),
        (254, "MAILA"),
        (255, "ANY"),
        (65281, "WINS"),
        (65282, "WINSR"),
    )
}

# Win32 / DNS API status codes Sysmon reports in QueryStatus, as the pipeline names them. Ranges of
# consecutive codes are written as a start code followed by the names in order.
_STATUS_RUNS = """
0 SUCCESS
5 ERROR_ACCESS_DENIED
8 ERROR_NOT_ENOUGH_MEMORY
13 ERROR_INVALID_DATA ERROR_OUTOFMEMORY
123 ERROR_INVALID_NAME
1214 ERROR_INVALID_NETNAME
1223 ERROR_CANCELLED
1460 ERROR_TIMEOUT
4312 ERROR_OBJECT_NOT_FOUND
9001 DNS_ERROR_RCODE_FORMAT_ERROR DNS_ERROR_RCODE_SERVER_FAILURE DNS_ERROR_RCODE_NAME_ERROR
     DNS_ERROR_RCODE_NOT_IMPLEMENTED DNS_ERROR_RCODE_REFUSED DNS_ERROR_RCODE_YXDOMAIN
     DNS_ERROR_RCODE_YXRRSET DNS_ERROR_RCODE_NXRRSET DNS_ERROR_RCODE_NOTAUTH DNS_ERROR_RCODE_NOTZONE
9016 DNS_ERROR_RCODE_BADSIG DNS_ERROR_RCODE_BADKEY DNS_ERROR_RCODE_BADTIME
9101 DNS_ERROR_KEYMASTER_REQUIRED DNS_ERROR_NOT_ALLOWED_ON_SIGNED_ZONE
     DNS_ERROR_NSEC3_INCOMPATIBLE_WITH_RSA_SHA1 DNS_ERROR_NOT_ENOUGH_SIGNING_KEY_DESCRIPTORS
     DNS_ERROR_UNSUPPORTED_ALGORITHM DNS_ERROR_INVALID_KEY_SIZE DNS_ERROR_SIGNING_KEY_NOT_ACCESSIBLE
     DNS_ERROR_KSP_DOES_NOT_SUPPORT_PROTECTION DNS_ERROR_UNEXPECTED_DATA_PROTECTION_ERROR
     DNS_ERROR_UNEXPECTED_CNG_ERROR DNS_ERROR_UNKNOWN_SIGNING_PARAMETER_VERSION
     DNS_ERROR_KSP_NOT_ACCESSIBLE DNS_ERROR_TOO_MANY_SKDS DNS_ERROR_INVALID_ROLLOVER_PERIOD
     DNS_ERROR_INVALID_INITIAL_ROLLOVER_OFFSET DNS_ERROR_ROLLOVER_IN_PROGRESS
     DNS_ERROR_STANDBY_KEY_NOT_PRESENT DNS_ERROR_NOT_ALLOWED_ON_ZSK
     DNS_ERROR_NOT_ALLOWED_ON_ACTIVE_SKD DNS_ERROR_ROLLOVER_ALREADY_QUEUED
     DNS_ERROR_NOT_ALLOWED_ON_UNSIGNED_ZONE DNS_ERROR_BAD_KEYMASTER
     DNS_ERROR_INVALID_SIGNATURE_VALIDITY_PERIOD DNS_ERROR_INVALID_NSEC3_ITERATION_COUNT
     DNS_ERROR_DNSSEC_IS_DISABLED DNS_ERROR_INVALID_XML DNS_ERROR_NO_VALID_TRUST_ANCHORS
     DNS_ERROR_ROLLOVER_NOT_POKEABLE DNS_ERROR_NSEC3_NAME_COLLISION
     DNS_ERROR_NSEC_INCOMPATIBLE_WITH_NSEC3_RSA_SHA1
9501 DNS_INFO_NO_RECORDS DNS_ERROR_BAD_PACKET DNS_ERROR_NO_PACKET DNS_ERROR_RCODE
     DNS_ERROR_UNSECURE_PACKET DNS_REQUEST_PENDING
9551 DNS_ERROR_INVALID_TYPE DNS_ERROR_INVALID_IP_ADDRESS DNS_ERROR_INVALID_PROPERTY
     DNS_ERROR_TRY_AGAIN_LATER DNS_ERROR_NOT_UNIQUE DNS_ERROR_NON_RFC_NAME DNS_STATUS_FQDN
     DNS_STATUS_DOTTED_NAME DNS_STATUS_SINGLE_PART_NAME DNS_ERROR_INVALID_NAME_CHAR
     DNS_ERROR_NUMERIC_NAME DNS_ERROR_NOT_ALLOWED_ON_ROOT_SERVER DNS_ERROR_NOT_ALLOWED_UNDER_DELEGATION
     DNS_ERROR_CANNOT_FIND_ROOT_HINTS DNS_ERROR_INCONSISTENT_ROOT_HINTS DNS_ERROR_DWORD_VALUE_TOO_SMALL
     DNS_ERROR_DWORD_VALUE_TOO_LARGE DNS_ERROR_BACKGROUND_LOADING DNS_ERROR_NOT_ALLOWED_ON_RODC
     DNS_ERROR_NOT_ALLOWED_UNDER_DNAME DNS_ERROR_DELEGATION_REQUIRED DNS_ERROR_INVALID_POLICY_TABLE
     DNS_ERROR_ADDRESS_REQUIRED
9601 DNS_ERROR_ZONE_DOES_NOT_EXIST DNS_ERROR_NO_ZONE_INFO DNS_ERROR_INVALID_ZONE_OPERATION
     DNS_ERROR_ZONE_CONFIGURATION_ERROR DNS_ERROR_ZONE_HAS_NO_SOA_RECORD DNS_ERROR_ZONE_HAS_NO_NS_RECORDS
     DNS_ERROR_ZONE_LOCKED DNS_ERROR_ZONE_CREATION_FAILED DNS_ERROR_ZONE_ALREADY_EXISTS
     DNS_ERROR_AUTOZONE_ALREADY_EXISTS DNS_ERROR_INVALID_ZONE_TYPE DNS_ERROR_SECONDARY_REQUIRES_MASTER_IP
     DNS_ERROR_ZONE_NOT_SECONDARY DNS_ERROR_NEED_SECONDARY_ADDRESSES DNS_ERROR_WINS_INIT_FAILED
     DNS_ERROR_NEED_WINS_SERVERS DNS_ERROR_NBSTAT_INIT_FAILED DNS_ERROR_SOA_DELETE_INVALID
     DNS_ERROR_FORWARDER_ALREADY_EXISTS DNS_ERROR_ZONE_REQUIRES_MASTER_IP DNS_ERROR_ZONE_IS_SHUTDOWN
     DNS_ERROR_ZONE_LOCKED_FOR_SIGNING
9651 DNS_ERROR_PRIMARY_REQUIRES_DATAFILE DNS_ERROR_INVALID_DATAFILE_NAME DNS_ERROR_DATAFILE_OPEN_FAILURE
     DNS_ERROR_FILE_WRITEBACK_FAILED DNS_ERROR_DATAFILE_PARSING
9701 DNS_ERROR_RECORD_DOES_NOT_EXIST DNS_ERROR_RECORD_FORMAT DNS_ERROR_NODE_CREATION_FAILED
     DNS_ERROR_UNKNOWN_RECORD_TYPE DNS_ERROR_RECORD_TIMED_OUT DNS_ERROR_NAME_NOT_IN_ZONE
     DNS_ERROR_CNAME_LOOP DNS_ERROR_NODE_IS_CNAME DNS_ERROR_CNAME_COLLISION
     DNS_ERROR_RECORD_ONLY_AT_ZONE_ROOT DNS_ERROR_RECORD_ALREADY_EXISTS DNS_ERROR_SECONDARY_DATA
     DNS_ERROR_NO_CREATE_CACHE_DATA DNS_ERROR_NAME_DOES_NOT_EXIST DNS_WARNING_PTR_CREATE_FAILED
     DNS_WARNING_DOMAIN_UNDELETED DNS_ERROR_DS_UNAVAILABLE DNS_ERROR_DS_ZONE_ALREADY_EXISTS
     DNS_ERROR_NO_BOOTFILE_IF_DS_ZONE DNS_ERROR_NODE_IS_DNAME DNS_ERROR_DNAME_COLLISION
     DNS_ERROR_ALIAS_LOOP
9751 DNS_INFO_AXFR_COMPLETE DNS_ERROR_AXFR DNS_INFO_ADDED_LOCAL_WINS
9801 DNS_STATUS_CONTINUE_NEEDED
9851 DNS_ERROR_NO_TCPIP DNS_ERROR_NO_DNS_SERVERS
9901 DNS_ERROR_DP_DOES_NOT_EXIST DNS_ERROR_DP_ALREADY_EXISTS DNS_ERROR_DP_NOT_ENLISTED
     DNS_ERROR_DP_ALREADY_ENLISTED DNS_ERROR_DP_NOT_AVAILABLE DNS_ERROR_DP_FSMO_ERROR
9911 DNS_ERROR_RRL_NOT_ENABLED DNS_ERROR_RRL_INVALID_WINDOW_SIZE DNS_ERROR_RRL_INVALID_IPV4_PREFIX
     DNS_ERROR_RRL_INVALID_IPV6_PREFIX DNS_ERROR_RRL_INVALID_TC_RATE DNS_ERROR_RRL_INVALID_LEAK_RATE
     DNS_ERROR_RRL_LEAK_RATE_LESSTHAN_TC_RATE
9921 DNS_ERROR_VIRTUALIZATION_INSTANCE_ALREADY_EXISTS DNS_ERROR_VIRTUALIZATION_INSTANCE_DOES_NOT_EXIST
     DNS_ERROR_VIRTUALIZATION_TREE_LOCKED DNS_ERROR_INVAILD_VIRTUALIZATION_INSTANCE_NAME
     DNS_ERROR_DEFAULT_VIRTUALIZATION_INSTANCE
9951 DNS_ERROR_ZONESCOPE_ALREADY_EXISTS DNS_ERROR_ZONESCOPE_DOES_NOT_EXIST DNS_ERROR_DEFAULT_ZONESCOPE
     DNS_ERROR_INVALID_ZONESCOPE_NAME DNS_ERROR_NOT_ALLOWED_WITH_ZONESCOPES
     DNS_ERROR_LOAD_ZONESCOPE_FAILED DNS_ERROR_ZONESCOPE_FILE_WRITEBACK_FAILED
     DNS_ERROR_INVALID_SCOPE_NAME DNS_ERROR_SCOPE_DOES_NOT_EXIST DNS_ERROR_DEFAULT_SCOPE
     DNS_ERROR_INVALID_SCOPE_OPERATION DNS_ERROR_SCOPE_LOCKED DNS_ERROR_SCOPE_ALREADY_EXISTS
9971 DNS_ERROR_POLICY_ALREADY_EXISTS DNS_ERROR_POLICY_DOES_NOT_EXIST DNS_ERROR_POLICY_INVALID_CRITERIA
     DNS_ERROR_POLICY_INVALID_SETTINGS DNS_ERROR_CLIENT_SUBNET_IS_ACCESSED
     DNS_ERROR_CLIENT_SUBNET_DOES_NOT_EXIST DNS_ERROR_CLIENT_SUBNET_ALREADY_EXISTS
     DNS_ERROR_SUBNET_DOES_NOT_EXIST DNS_ERROR_SUBNET_ALREADY_EXISTS DNS_ERROR_POLICY_LOCKED
     DNS_ERROR_POLICY_INVALID_WEIGHT DNS_ERROR_POLICY_INVALID_NAME DNS_ERROR_POLICY_MISSING_CRITERIA
     DNS_ERROR_INVALID_CLIENT_SUBNET_NAME DNS_ERROR_POLICY_PROCESSING_ORDER_INVALID
     DNS_ERROR_POLICY_SCOPE_MISSING DNS_ERROR_POLICY_SCOPE_NOT_ALLOWED
     DNS_ERROR_SERVERSCOPE_IS_REFERENCED DNS_ERROR_ZONESCOPE_IS_REFERENCED
     DNS_ERROR_POLICY_INVALID_CRITERIA_CLIENT_SUBNET DNS_ERROR_POLICY_INVALID_CRITERIA_TRANSPORT_PROTOCOL
     DNS_ERROR_POLICY_INVALID_CRITERIA_NETWORK_PROTOCOL DNS_ERROR_POLICY_INVALID_CRITERIA_INTERFACE
     DNS_ERROR_POLICY_INVALID_CRITERIA_FQDN DNS_ERROR_POLICY_INVALID_CRITERIA_QUERY_TYPE
     DNS_ERROR_POLICY_INVALID_CRITERIA_TIME_OF_DAY
10054 WSAECONNRESET WSAENOBUFS
10060 WSAETIMEDOUT
"""


def _status_table(text: str) -> dict[str, str]:
    table: dict[str, str] = {}
    code = 0
    for token in text.split():
        if token.isdigit():
            code = int(token)
            continue
        table[str(code)] = token
        code += 1
    return table


QUERY_STATUS: dict[str, str] = _status_table(_STATUS_RUNS)

# Java's \s: ASCII whitespace only (Python's would also split on Unicode spaces).
_JAVA_SPACE = re.compile(r"[ \t\n\x0b\f\r]+")
# The pipeline's gsub: an IPv4-mapped IPv6 address, maybe in brackets with a port, to plain IPv4.
_V4_MAPPED = re.compile(r"^\[?::ffff:([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)(?:\](?::[0-9]+)?)?$")


class QueryResultsError(ValueError):
    """A ``type:`` entry without a record type: the pipeline's script throws on it."""


def _java_split(pattern: re.Pattern[str], text: str) -> list[str]:
    # Java's Pattern.split drops trailing empty strings (and a leading one for a zero-width match,
    # which cannot happen with these patterns).
    parts = pattern.split(text)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def parse_query_results(results: str) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """(answers, addresses, answer host names) from ``QueryResults``, before address clean-up.

    Raises :class:`QueryResultsError` for a ``type:`` entry with no type number, as the
    pipeline's script does (the event then becomes a pipeline error).
    """
    answers: list[dict[str, Any]] = []
    addresses: list[str] = []
    hosts: list[str] = []
    for entry in _java_split(re.compile(";"), results):
        if entry == "":
            continue
        if entry.startswith("type:"):
            parts = _java_split(_JAVA_SPACE, entry)
            if len(parts) < 2:
                raise QueryResultsError("unexpected QueryResult format")
            rtype = RECORD_TYPES.get(parts[1])
            if len(parts) == 3:
                answers.append({"type": rtype, "data": parts[2]})
                hosts.append(parts[2])
            else:
                answers.append({"type": rtype})
        else:
            addresses.append(entry)
    return answers, addresses, hosts


def clean_resolved_ips(addresses: list[str]) -> list[str | None]:
    """Unwrap IPv4-mapped addresses; addresses that do not parse become None, as in the pipeline."""
    cleaned: list[str | None] = []
    for address in addresses:
        plain = _V4_MAPPED.sub(r"\1", address)
        cleaned.append(plain if is_ip(plain) else None)
    return cleaned


def synthesize_ip_answers(resolved: list[str | None], answers: list[dict[str, Any]]) -> None:
    """Append an A/AAAA answer per resolved address and drop the unparsable ones from ``resolved``.

    This keeps a quirk of the pipeline's script: it removes a None while iterating by index, so
    the entry right after a None is skipped (neither checked nor turned into an answer).
    """
    i = 0
    while i < len(resolved):
        ip = resolved[i]
        if ip is None:
            del resolved[i]
            i += 1
            continue
        answers.append({"type": "AAAA" if ":" in ip else "A", "data": ip})
        i += 1


def registered_domain_fields(name: str) -> dict[str, str]:
    """The fields Elasticsearch's ``registered_domain`` processor sets for ``name``.

    Keys are among ``domain``, ``registered_domain``, ``top_level_domain`` and ``subdomain``; an
    empty dict when the processor sets nothing (no known suffix, or a bare label).
    """
    return domain_parts(name)


def query_status_name(status: str) -> str:
    """The name of a DNS query status code; unknown codes stay as they are."""
    return QUERY_STATUS.get(status, status)
