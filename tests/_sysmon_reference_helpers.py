"""A frozen copy of the Sysmon mapping's helpers as they were before the fast rewrite.

Kept only for the differential test (tests/test_windows_sysmon_diff.py): ingest-processor helpers
(sysmon_ingest.py), IP checks and Community ID (sysmon_net.py), the QueryResults parsing of
sysmon_dns.py and the command-line split of util.py, verbatim. Do not optimise or "fix" this
file: it is the yardstick the fast implementation is compared against.
"""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from vigil.ecs.windows.sysmon_dns import QUERY_STATUS, RECORD_TYPES


# ---- sysmon_ingest.py

_MISSING = object()


class PipelineFailure(Exception):
    """A processor failed where the pipeline does not ignore failures."""


_PATHS: dict[str, list[str]] = {}


def _parts(path: str) -> list[str]:
    parts = _PATHS.get(path)
    if parts is None:
        parts = path.split(".")
        if len(_PATHS) < 4096:  # paths are mostly constants; bound the cache for the rest
            _PATHS[path] = parts
    return parts


def get(doc: dict[str, Any], path: str, default: Any = None) -> Any:
    """The value at a dotted path, or ``default``."""
    cur: Any = doc
    for part in _PATHS.get(path) or _parts(path):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def has(doc: dict[str, Any], path: str) -> bool:
    """True when the dotted path exists (even holding None), like ``IngestDocument.hasField``."""
    return get(doc, path, _MISSING) is not _MISSING


def put(doc: dict[str, Any], path: str, value: Any) -> bool:
    """Set a dotted path, creating objects; False when a parent is not an object."""
    parts = _PATHS.get(path) or _parts(path)
    cur = doc
    for part in parts[:-1]:
        nxt = cur.get(part)
        if nxt is None:
            nxt = cur[part] = {}
        elif not isinstance(nxt, dict):
            return False
        cur = nxt
    cur[parts[-1]] = value
    return True


def put_new(doc: dict[str, Any], path: str, value: Any) -> bool:
    """Set a dotted path only if it does not exist yet (a ``rename`` target); one walk."""
    parts = _PATHS.get(path) or _parts(path)
    cur = doc
    for part in parts[:-1]:
        nxt = cur.get(part)
        if nxt is None:
            if part in cur:
                return False  # a null parent: Elasticsearch cannot descend into it either
            nxt = cur[part] = {}
        elif not isinstance(nxt, dict):
            return False
        cur = nxt
    if parts[-1] in cur:
        return False
    cur[parts[-1]] = value
    return True


def remove(doc: dict[str, Any], path: str) -> Any:
    """Remove a dotted path if present and return its value (None when absent)."""
    parts = path.split(".")
    cur: Any = doc
    for part in parts[:-1]:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    if isinstance(cur, dict):
        return cur.pop(parts[-1], None)
    return None


def java_str(value: Any) -> str:
    """``Object.toString()`` for JSON-ish values."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(java_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_str(v)}" for k, v in value.items()) + "}"
    return str(value)


_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')
_JSON_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def template(value: Any) -> str:
    """What ``{{field}}`` renders to: the value's text, JSON-escaped (``{{{ }}}`` would not escape)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else java_str(value)
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return "".join(_JSON_SHORT.get(c) or (f"\\u{ord(c):04X}" if ord(c) < 0x20 else c) for c in text)


def append(doc: dict[str, Any], path: str, value: Any, *, allow_duplicates: bool = True) -> None:
    """The ``append`` processor: make a list (wrapping a scalar) and add ``value`` to it."""
    current = get(doc, path, _MISSING)
    if current is _MISSING:
        put(doc, path, [value])
        return
    items = current if isinstance(current, list) else [current]
    if allow_duplicates or value not in items:
        items.append(value)
    put(doc, path, items)


def rename(doc: dict[str, Any], source: str, target: str, *, ignore_failure: bool = True) -> bool:
    """The ``rename`` processor (with ``ignore_missing``): refuses to overwrite ``target``."""
    if not has(doc, source):
        return False
    if has(doc, target):
        if ignore_failure:
            return False
        raise PipelineFailure(f"field [{target}] already exists")
    value = remove(doc, source)
    if not put(doc, target, value):
        put(doc, source, value)
        if ignore_failure:
            return False
        raise PipelineFailure(f"cannot set [{target}]")
    return True


_LONG = re.compile(r"^[+-]?[0-9]+$")
_HEX = re.compile(r"^([+-]?)0[xX]([0-9a-fA-F]+)$")


def to_long(value: Any) -> int | None:
    """``convert`` to ``long``: decimal, or hexadecimal with a ``0x`` prefix; None when Java throws."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = java_str(value)
    number: int | None = None
    if _LONG.match(text):
        number = int(text)
    else:
        m = _HEX.match(text)
        if m:
            number = int(m.group(2), 16) * (-1 if m.group(1) == "-" else 1)
    if number is None or not -(2**63) <= number < 2**63:
        return None
    return number


def to_bool(value: Any) -> bool | None:
    """``convert`` to ``boolean``: "true"/"false" in any case; None otherwise."""
    text = java_str(value).lower()
    if text == "true":
        return True
    if text == "false":
        return False
    return None


_UTC_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{3})$")


def format_millis(moment: datetime) -> str:
    """The date processor's output format, ``yyyy-MM-dd'T'HH:mm:ss.SSSXXX``, in UTC."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_utc_time(text: Any) -> str | None:
    """Sysmon's ``yyyy-MM-dd HH:mm:ss.SSS`` (UTC) as an ISO timestamp, None when it does not parse."""
    if not isinstance(text, str):
        return None
    m = _UTC_TIME.match(text)
    if not m:
        return None
    y, mo, d, h, mi, s, _ = (int(g) for g in m.groups())
    try:
        datetime(y, mo, d, h, mi, s)  # validates the calendar date and the clock
    except ValueError:
        return None
    # Already UTC with milliseconds: the output format is the input with a T and a Z.
    return f"{text[:10]}T{text[11:]}Z"


_ISO = re.compile(
    r"^([+-]?\d{4,9})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d{1,9}))?)?)?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_iso8601(text: Any) -> str | None:
    """Elasticsearch's ``ISO8601`` date format (the common shapes of it), or None."""
    if not isinstance(text, str):
        return None
    m = _ISO.match(text)
    if not m:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    tz = UTC
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        tz = timezone(sign * offset)
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((frac or "0").ljust(6, "0")[:6]),
            tzinfo=tz,
        )
    except (ValueError, OverflowError):
        return None
    return format_millis(moment)


def _java_string_hash(text: str) -> int:
    # String.hashCode over UTF-16 code units, in 32-bit arithmetic.
    h = 0
    for ch in text:
        code = ord(ch)
        if code > 0xFFFF:
            code -= 0x10000
            h = (31 * h + (0xD800 + (code >> 10))) & 0xFFFFFFFF
            code = 0xDC00 + (code & 0x3FF)
        h = (31 * h + code) & 0xFFFFFFFF
    return h


def java_hashmap_order(keys: list[str]) -> list[str]:
    """The iteration order of a ``java.util.HashMap`` filled with ``keys`` in this order.

    The pipeline builds ``related.hash`` by iterating such a map (the ``kv`` processor's output),
    so with several hashes the list follows bucket order, not the order Sysmon wrote them in.
    """
    return list(_hashmap_order(tuple(keys)))


@lru_cache(maxsize=512)
def _hashmap_order(keys: tuple[str, ...]) -> tuple[str, ...]:
    size = 16
    while len(keys) > size * 3 // 4:
        size *= 2

    def bucket(key: str) -> int:
        h = _java_string_hash(key)
        return (h ^ (h >> 16)) & (size - 1)

    return tuple(k for _, k in sorted(enumerate(keys), key=lambda item: (bucket(item[1]), item[0])))


# ---- sysmon_net.py

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


# ---- sysmon_dns.py

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


def query_status_name(status: str) -> str:
    """The name of a DNS query status code; unknown codes stay as they are."""
    return QUERY_STATUS.get(status, status)


# ---- util.py

# A run of backslashes ending in a quote, a run of blanks, or plain text (backslashes not followed
# by a quote are plain text). Scanning by token rather than by character keeps this fast.
_TOKEN = re.compile(r'(\\*)"|([ \t]+)|([^ \t"\\]+|\\+)')


def split_command_line(cmd: str) -> list[str]:
    """Split a Windows command line into arguments the way Elastic's ingest pipelines do.

    The Sysmon and Security pipelines use the same Painless port of Go's old
    ``CommandLineToArgv``: blanks are spaces and tabs, ``2n`` backslashes before a quote give
    ``n`` backslashes and toggle quoting, ``2n+1`` give ``n`` and a literal quote, and a doubled
    quote inside quotes is a literal quote that also ends the quoting (the "prior to 2008" rule).
    Backslashes elsewhere are literal. Only ASCII characters are special, so working on code
    points instead of UTF-16 units gives the same result.
    """
    return list(_split(cmd))


@lru_cache(maxsize=2048)  # parent command lines especially recur; callers get a fresh list
def _split(cmd: str) -> tuple[str, ...]:
    if '"' not in cmd:
        return tuple(arg for arg in re.split(r"[ \t]+", cmd) if arg)
    args: list[str] = []
    buf: list[str] = []
    in_arg = in_quote = False
    pos, end = 0, len(cmd)
    while pos < end:
        m = _TOKEN.match(cmd, pos)
        if m is None:  # cannot happen: the alternatives cover every character
            break
        pos = m.end()
        slashes, blanks, text = m.groups()
        if blanks is not None:
            if in_quote:
                buf.append(blanks)
            elif in_arg:
                args.append("".join(buf))
                buf, in_arg = [], False
            continue
        in_arg = True
        if text is not None:
            buf.append(text)
            continue
        buf.append("\\" * (len(slashes) // 2))
        if len(slashes) % 2:
            buf.append('"')
            continue
        if in_quote and pos < end and cmd[pos] == '"':
            buf.append('"')
            pos += 1
        in_quote = not in_quote
    if in_arg:
        args.append("".join(buf))
    return tuple(args)


# ---- sysmon_dns.py (registered domain: the live Public Suffix List code)


def registered_domain_fields(name: str) -> dict[str, str]:
    from vigil.ecs.windows.sysmon_psl import domain_parts

    return domain_parts(name)
