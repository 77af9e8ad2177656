"""IP address checks and the Community ID flow hash, as Elasticsearch's ingest processors do them.

The Sysmon pipeline turns ``SourceIp``/``DestinationIp`` into ``source.ip``/``destination.ip`` with a
``convert`` processor of type ``ip`` (the text is kept as written when it parses, dropped when it
does not) and then runs the ``community_id`` processor over the result (seed 0).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import struct
from functools import lru_cache
from typing import Any

# Elasticsearch's InetAddresses (a fork of an old Guava) has no IPv6 zone ids and no leading zeros
# in IPv4 octets; Python's ipaddress accepts zone ids, so they are refused before it is asked.
_V4_OCTETS = re.compile(r"^(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}$")


def parse_ip(text: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``text`` names, or None when Elasticsearch would refuse it."""
    if not isinstance(text, str) or not text or "%" in text:
        return None
    return _parse_ip(text)


@lru_cache(maxsize=8192)  # the same few addresses recur in every log
def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv4Address) and not _V4_OCTETS.match(text):
        return None
    return addr


def is_ip(text: Any) -> bool:
    """True when a ``convert`` to ``ip`` would accept ``text``."""
    return parse_ip(text) is not None


def _address_bytes(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    # Java's InetAddress turns an IPv4-mapped IPv6 address into a 4-byte IPv4 one.
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.packed
    return addr.packed


_TRANSPORTS = {
    "icmp": 1,
    "igmp": 2,
    "tcp": 6,
    "udp": 17,
    "gre": 47,
    "ipv6-icmp": 58,
    "icmpv6": 58,
    "eigrp": 88,
    "ospf": 89,
    "pim": 103,
    "sctp": 132,
}
_WITH_PORTS = {6, 17, 132}
# Transport names of protocols with ports, to the protocol byte and the padding byte after it.
_PORT_TRANSPORTS = {name: bytes((number, 0)) for name, number in _TRANSPORTS.items() if number in _WITH_PORTS}
_PORTS = struct.Struct(">HH")
_endpoints: dict[Any, tuple[int, bytes] | None] = {}


def _endpoint(text: Any) -> tuple[int, bytes] | None:
    """(number, bytes) of an address as the flow hash takes it, None when it does not parse."""
    found = _endpoints.get(text, _endpoints) if type(text) is str else None
    if found is not _endpoints:
        return found  # type: ignore[return-value]
    addr = parse_ip(text)
    if addr is not None:
        packed = _address_bytes(addr)
        found = (int.from_bytes(packed, "big"), packed)
    else:
        found = None
    if len(_endpoints) >= 4096:
        _endpoints.clear()
    _endpoints[text] = found
    return found


_ICMP = {1, 58}
# ICMP types that have a reply counterpart, per protocol (v4, v6); others make one-way flows.
_ICMP_PAIRS = {
    False: {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 10: 9, 9: 10, 17: 18, 18: 17},
    True: {
        128: 129,
        129: 128,
        133: 134,
        134: 133,
        136: 135,
        135: 136,
        130: 131,
        139: 140,
        140: 139,
        144: 145,
        145: 144,
    },
}
_INT = re.compile(r"^[+-]?[0-9]+$")


def _java_int(value: Any) -> int | None:
    """Integer.parseInt / Number.intValue semantics; None where Java would throw."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return ((value + 2**31) % 2**32) - 2**31
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and _INT.match(value):
        number = int(value)
        return number if -(2**31) <= number < 2**31 else None
    return None


def _protocol_number(transport: Any) -> int | None:
    if isinstance(transport, bool):
        return None
    if isinstance(transport, int | float):
        number: int | None = int(transport)
    elif isinstance(transport, str):
        known = _TRANSPORTS.get(transport.lower())
        if known is not None:
            return known
        number = _java_int(transport) if _INT.match(transport) else None
    else:
        return None
    if number is None or number < 0 or number >= 255:
        return None
    return number


def community_id(
    source_ip: Any,
    destination_ip: Any,
    transport: Any,
    source_port: Any,
    destination_port: Any,
    *,
    iana_number: Any = None,
    icmp_type: Any = None,
    icmp_code: Any = None,
    seed: int = 0,
) -> str | None:
    """Community ID v1 of a flow, or None where Elasticsearch's processor would fail.

    Missing fields fail it too: the Sysmon pipeline runs the processor with
    ``ignore_missing: false`` and ``ignore_failure: true``, so a flow without both ports (for
    TCP, UDP and SCTP) or without a transport gets no ``network.community_id``.
    """
    if (
        iana_number is None
        and type(source_port) is int
        and type(destination_port) is int
        and 0 <= source_port <= 65535
        and 0 <= destination_port <= 65535
        and type(transport) is str
        and transport in _PORT_TRANSPORTS
    ):
        # TCP, UDP or SCTP with ports in range, the usual flow: cached addresses, no checks left.
        source, destination = _endpoint(source_ip), _endpoint(destination_ip)
        if source is None or destination is None:
            return None
        (snum, sbytes), (dnum, dbytes) = source, destination
        sport, dport = source_port, destination_port
        if not (snum < dnum or (snum == dnum and sport < dport)):
            sbytes, dbytes, sport, dport = dbytes, sbytes, dport, sport
        data = b"".join((seed.to_bytes(2, "big"), sbytes, dbytes, _PORT_TRANSPORTS[transport]))
        data += _PORTS.pack(sport, dport)
        return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")
    src = parse_ip(source_ip)
    dst = parse_ip(destination_ip)
    if src is None or dst is None:
        return None
    proto = _protocol_number(iana_number if iana_number is not None else transport)
    if proto is None:
        return None
    sport = dport = 0
    has_ports = proto in _WITH_PORTS or proto in _ICMP
    one_way = False
    if proto in _WITH_PORTS:
        if source_port is None or destination_port is None:
            return None
        s, d = _java_int(source_port), _java_int(destination_port)
        if s is None or d is None or not (0 <= s <= 65535 and 0 <= d <= 65535):
            return None
        sport, dport = s, d
    elif proto in _ICMP:
        t, c = _java_int(icmp_type), _java_int(icmp_code)
        if t is None or c is None:
            return None
        counterpart = _ICMP_PAIRS[proto == 58].get(t)
        one_way = counterpart is None
        sport, dport = t, (c if counterpart is None else counterpart)
        if not (0 <= sport <= 65535 and 0 <= dport <= 65535):
            return None
    sbytes, dbytes = _address_bytes(src), _address_bytes(dst)
    snum, dnum = int.from_bytes(sbytes, "big"), int.from_bytes(dbytes, "big")
    ordered = snum < dnum or (snum == dnum and sport < dport)
    if not ordered and not one_way:
        sbytes, dbytes, sport, dport = dbytes, sbytes, dport, sport
    data = seed.to_bytes(2, "big") + sbytes + dbytes + bytes([proto, 0])
    if has_ports:
        data += sport.to_bytes(2, "big") + dport.to_bytes(2, "big")
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")
