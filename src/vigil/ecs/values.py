"""Value coercion per field type, as Elasticsearch does it when it indexes a document.

The evaluator reads raw JSON values; Elasticsearch would have turned them into typed index values
first (a ``long`` field fed ``"445.7"`` holds 445, a ``date`` field fed ``"2022"`` holds the year
2022, an ``ip`` field fed ``"::ffff:1.2.3.4"`` holds ``1.2.3.4``). The functions here reproduce
that, returning ``None`` when Elasticsearch would reject the value (the caller counts those).

Also here: the few Java primitives other modules need to stay bit-exact (``Long.parseLong``,
``Double.parseDouble``, ``Double.toString``), because EQL functions are Java code in Elasticsearch.
"""

from __future__ import annotations

import ipaddress
import math
import re
import struct
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from vigil.errors import DataError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1

# --------------------------------------------------------------------------- Java numbers


def java_digit(ch: str, radix: int) -> int:
    """``Character.digit(ch, radix)``: Unicode decimal digits and (fullwidth) Latin letters count."""
    o = ord(ch)
    if 48 <= o <= 57:
        value = o - 48
    elif 97 <= o <= 122:
        value = o - 87
    elif 65 <= o <= 90:
        value = o - 55
    elif 0xFF21 <= o <= 0xFF3A:
        value = o - 0xFF21 + 10
    elif 0xFF41 <= o <= 0xFF5A:
        value = o - 0xFF41 + 10
    elif o > 127:
        value = unicodedata.decimal(ch, -1)
    else:
        return -1
    return value if 0 <= value < radix else -1


_ASCII_INT = re.compile(r"[+-]?[0-9]+\Z")


def java_parse_long(text: str, radix: int = 10, *, bits: int = 64) -> int | None:
    """``Long.parseLong(text, radix)`` (``Integer.parseInt`` with ``bits=32``); None where Java throws."""
    if not 2 <= radix <= 36 or not text:
        return None
    if radix == 10 and text.isascii() and _ASCII_INT.match(text):
        try:
            value = int(text, radix)
        except ValueError:
            return None
    else:
        sign, body = (-1, text[1:]) if text[0] == "-" else (1, text[1:] if text[0] == "+" else text)
        if not body:
            return None
        value = 0
        for ch in body:
            d = java_digit(ch, radix)
            if d < 0:
                return None
            value = value * radix + d
        value *= sign
    limit = 1 << (bits - 1)
    return value if -limit <= value < limit else None


_JAVA_DEC_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fFdD]?\Z", re.ASCII)
_JAVA_HEX_FLOAT = re.compile(
    r"([+-]?)0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP]([+-]?\d+)[fFdD]?\Z", re.ASCII
)


def java_parse_double(text: str) -> float | None:
    """``Double.parseDouble(text)``: trims ASCII controls/spaces, accepts NaN, Infinity, an f/d
    suffix and hexadecimal floats; None where Java throws."""
    s = text.strip("".join(chr(c) for c in range(33)))
    if _JAVA_DEC_FLOAT.match(s):
        return float(s.rstrip("fFdD"))
    body = s[1:] if s[:1] in "+-" else s
    if body in ("NaN", "Infinity"):
        return float(s.replace("Infinity", "inf"))
    m = _JAVA_HEX_FLOAT.match(s)
    if m:
        try:
            return float.fromhex(f"{m.group(1)}0x{m.group(2)}p{m.group(3)}")
        except OverflowError:
            return math.copysign(math.inf, -1.0 if m.group(1) == "-" else 1.0)
    return None


def java_double_to_string(d: float) -> str:
    """``Double.toString(d)`` (JDK 19+ shortest-digit algorithm): ``1.0``, ``1.0E20``, ``1.5E-4``."""
    if d != d:
        return "NaN"
    if math.isinf(d):
        return "Infinity" if d > 0 else "-Infinity"
    if d == 0:
        return "-0.0" if math.copysign(1.0, d) < 0 else "0.0"
    sign = "-" if d < 0 else ""
    tup = Decimal(repr(abs(d))).as_tuple()
    exp = int(tup.exponent) + len(tup.digits) - 1  # scientific exponent of the first digit
    digits = "".join(map(str, tup.digits)).rstrip("0") or "0"
    if len(digits) == 1:
        # Java picks among 1- and 2-digit decimals the one closest to the value (4.9E-324, not 5.0E-324)
        exact = Decimal(abs(d))
        two = Decimal(f"{exact:.1e}")
        if float(two) == abs(d) and abs(two - exact) < abs(Decimal(f"{digits}E{exp}") - exact):
            exp = two.adjusted()
            digits = f"{two:.1e}".replace(".", "")[:2].rstrip("0") or "0"
    if 1e-3 <= abs(d) < 1e7:
        if exp >= 0:
            whole = digits[: exp + 1].ljust(exp + 1, "0")
            frac = digits[exp + 1 :] or "0"
        else:
            whole, frac = "0", "0" * (-exp - 1) + digits
        return f"{sign}{whole}.{frac}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exp}"


def java_string(value: Any) -> str:
    """``String.valueOf(value)`` for the scalar types EQL handles (null prints as ``null``)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return java_double_to_string(value)
    return str(value)


# --------------------------------------------------------------------------- numeric fields

_BIG_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z", re.ASCII)


def _unicode_digits_to_ascii(text: str) -> str:
    # Java's number parsers accept any Unicode decimal digit through Character.digit
    if text.isascii():
        return text
    return "".join(str(d) if (d := unicodedata.decimal(c, -1)) >= 0 else c for c in text)


def to_long(value: Any, *, coerce: bool = True, bits: int = 64) -> int | None:
    """A ``long`` (``bits=32``: ``integer``, 16: ``short``, 8: ``byte``) field's indexed value.

    Strings go through ``Long.parseLong`` then ``BigDecimal`` (``"1e3"`` is 1000, ``"445.7"`` is
    445 with ``coerce``, truncated toward zero); JSON floats are truncated; booleans, out-of-range
    and malformed values are rejected (None).
    """
    limit = 1 << (bits - 1)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        result = value
    elif isinstance(value, float):
        if not math.isfinite(value) or (not coerce and not value.is_integer()):
            return None
        if not -(2.0**63) <= value <= 2.0**63:
            return None
        result = int(value)
    elif isinstance(value, str):
        parsed = java_parse_long(value)
        if parsed is not None:
            result = parsed
        else:
            text = _unicode_digits_to_ascii(value)
            if not _BIG_DECIMAL.match(text):
                return None
            try:
                dec = Decimal(text)
            except InvalidOperation:
                return None
            if dec >= LONG_MAX + 1 or dec <= LONG_MIN - 1:
                return None
            if not coerce and dec != dec.to_integral_value():
                return None
            result = int(dec)  # truncates toward zero, like BigDecimal.toBigInteger
    else:
        return None
    return result if -limit <= result < limit else None


def to_double(value: Any, *, coerce: bool = True, bits: int = 64) -> float | None:
    """A ``double`` (``bits=32``: ``float``, 16: ``half_float``) field's indexed value.

    Strings use ``Double.parseDouble`` (whitespace trimmed); non-finite results are rejected, as
    Elasticsearch refuses NaN and infinities.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        try:
            result = float(value)
        except OverflowError:
            return None
    elif isinstance(value, float):
        result = value
    elif isinstance(value, str) and coerce:
        parsed = java_parse_double(value)
        if parsed is None:
            return None
        result = parsed
    else:
        return None
    if bits != 64:
        fmt = "f" if bits == 32 else "e"
        try:
            result = struct.unpack(fmt, struct.pack(fmt, result))[0]
        except OverflowError:
            return None
    return result if math.isfinite(result) else None


def to_bool(value: Any) -> bool | None:
    """A ``boolean`` field's indexed value: JSON booleans, ``"true"``, ``"false"`` and ``""`` (false)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"true": True, "false": False, "": False}.get(value)
    return None


def to_keyword(value: Any) -> str | None:
    """A ``keyword`` field's indexed text for a scalar JSON value (numbers and booleans as text).

    Elasticsearch keeps the JSON source text of a number; a parsed float only has Python's
    shortest form, which matches the source in the common cases (``1.5``, ``10.0``).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return None


# --------------------------------------------------------------------------- ip


def _parse_octet(part: str) -> int | None:
    # Integer.parseInt, then: no leading zero, at most 255
    value = java_parse_long(part, 10, bits=32)
    if value is None or value > 255 or value < 0 or (len(part) > 1 and part[0] == "0"):
        return None
    return value


def _ipv4_bytes(text: str) -> bytes | None:
    parts = text.split(".")
    if len(parts) != 4:
        return None
    octets = [_parse_octet(p) for p in parts]
    if any(o is None for o in octets):
        return None
    return bytes(o for o in octets if o is not None)


def _ipv6_bytes(text: str) -> bytes | None:
    parts = text.split(":")
    if len(parts) < 3 or len(parts) > 9:
        return None
    skip = -1
    for i in range(1, len(parts) - 1):
        if not parts[i]:
            if skip >= 0:
                return None
            skip = i
    if skip >= 0:
        hi, lo = skip, len(parts) - skip - 1
        if not parts[0]:
            hi -= 1
            if hi != 0:
                return None
        if not parts[-1]:
            lo -= 1
            if lo != 0:
                return None
    else:
        hi, lo = len(parts), 0
    skipped = 8 - (hi + lo)
    if not (skipped >= 1 if skip >= 0 else skipped == 0):
        return None
    words: list[int] = []
    for part in parts[:hi] + ["0"] * skipped + (parts[len(parts) - lo :] if lo else []):
        value = java_parse_long(part, 16, bits=32) if part else None
        if value is None or not 0 <= value <= 0xFFFF:
            return None
        words.append(value)
    return b"".join(w.to_bytes(2, "big") for w in words)


def _ip_string_to_bytes(text: str) -> bytes | None:
    # Elasticsearch's InetAddresses.ipStringToBytes (Guava-derived): no scope ids, no brackets
    has_colon = has_dot = False
    for ch in text:
        if ch == ".":
            has_dot = True
        elif ch == ":":
            if has_dot:
                return None
            has_colon = True
        elif java_digit(ch, 16) < 0:
            return None
    if has_colon:
        if has_dot:
            head, _, quad = text.rpartition(":")
            quad_bytes = _ipv4_bytes(quad)
            if quad_bytes is None:
                return None
            text = (
                f"{head}:{quad_bytes[:2].hex().lstrip('0') or '0'}:{quad_bytes[2:].hex().lstrip('0') or '0'}"
            )
        return _ipv6_bytes(text)
    if has_dot:
        return _ipv4_bytes(text)
    return None


_PLAIN_IPV4 = re.compile(r"(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}\Z")


def parse_ip(value: Any) -> IPAddress | None:
    """An ``ip`` field's value, or None if Elasticsearch would reject it.

    IPv4-mapped IPv6 addresses (``::ffff:1.2.3.4``) become IPv4 addresses, as Java's
    ``InetAddress`` does; leading zeros in IPv4 octets and zone ids are rejected.
    """
    if not isinstance(value, str):
        return None
    if _PLAIN_IPV4.match(value):
        octets = [int(part) for part in value.split(".")]
        if max(octets) <= 255:
            return ipaddress.IPv4Address(bytes(octets))
    raw = _ip_string_to_bytes(value)
    if raw is None:
        return None
    if len(raw) == 16 and raw[:12] == b"\x00" * 10 + b"\xff\xff":
        raw = raw[12:]
    return ipaddress.ip_address(raw)


def format_ip(addr: IPAddress) -> str:
    """How Elasticsearch prints an ip value: dotted IPv4, RFC 5952 compressed lowercase IPv6."""
    if isinstance(addr, ipaddress.IPv4Address):
        return str(addr)
    if addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    words = [int.from_bytes(addr.packed[i : i + 2], "big") for i in range(0, 16, 2)]
    best_start, best_len, run_start = -1, 1, -1
    for i in range(9):
        if i < 8 and words[i] == 0:
            if run_start < 0:
                run_start = i
        elif run_start >= 0:
            if i - run_start > best_len:
                best_start, best_len = run_start, i - run_start
            run_start = -1
    if best_start < 0:
        return ":".join(f"{w:x}" for w in words)
    head = ":".join(f"{w:x}" for w in words[:best_start])
    tail = ":".join(f"{w:x}" for w in words[best_start + best_len :])
    return f"{head}::{tail}"


def ip_sort_key(addr: IPAddress) -> bytes:
    """The 16-byte form Elasticsearch indexes (IPv4 as IPv4-mapped): sorts and compares ips."""
    if isinstance(addr, ipaddress.IPv4Address):
        return b"\x00" * 10 + b"\xff\xff" + addr.packed
    return addr.packed


def parse_cidr(text: str) -> tuple[bytes, bytes]:
    """The inclusive (low, high) 16-byte range of a CIDR block or single address, as
    Elasticsearch's ``cidrMatch`` reads it. Raises ValueError with Elasticsearch's message."""
    if "/" not in text:
        raw = _ip_string_to_bytes(text)
        if raw is None:
            raise ValueError(f"'{text}' is not an IP string literal.")
        key = ip_sort_key(ipaddress.ip_address(raw))
        return key, key
    fields = text.split("/")
    while fields and not fields[-1]:
        fields.pop()  # Java's String.split drops trailing empty strings
    if len(fields) != 2:
        raise ValueError(f"Expected [ip/prefix] but was [{text}]")
    raw = _ip_string_to_bytes(fields[0])
    if raw is None:
        raise ValueError(f"'{fields[0]}' is not an IP string literal.")
    addr = parse_ip(fields[0])
    assert addr is not None
    if ":" in fields[0] and isinstance(addr, ipaddress.IPv4Address):
        raise ValueError(
            f"CIDR notation is not allowed with IPv6-mapped IPv4 address [{fields[0]} as it introduces "
            "ambiguity as to whether the prefix length should be interpreted as a v4 prefix length or "
            "a v6 prefix length"
        )
    prefix = java_parse_long(fields[1], 10, bits=32)
    if prefix is None:
        raise ValueError(f'For input string: "{fields[1]}"')
    width = 32 if isinstance(addr, ipaddress.IPv4Address) else 128
    if not 0 <= prefix <= width:
        raise ValueError(
            f"Illegal prefix length [{prefix}] in [{text}]. "
            "Must be 0-32 for IPv4 ranges, 0-128 for IPv6 ranges"
        )
    base = int.from_bytes(addr.packed, "big")
    host_bits = width - prefix
    low = (base >> host_bits) << host_bits
    high = low | ((1 << host_bits) - 1)
    size = width // 8
    if width == 32:
        return ip_sort_key(ipaddress.IPv4Address(low)), ip_sort_key(ipaddress.IPv4Address(high))
    return low.to_bytes(size, "big"), high.to_bytes(size, "big")


# --------------------------------------------------------------------------- version

_LEGAL_MAIN = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*\Z")
_PRE_PART = r"(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
_LEGAL_PRE = re.compile(rf"-{_PRE_PART}(?:\.{_PRE_PART})*\Z")
_LEGAL_BUILD = re.compile(r"\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*\Z")
_DIGITS = re.compile(r"[0-9]+")


def _encode_digit_groups(text: str) -> bytes | None:
    out = bytearray()
    pos = 0
    for m in _DIGITS.finditer(text):
        out += text[pos : m.start()].encode()
        if len(m.group()) >= 128:
            return None  # Elasticsearch rejects digit groups longer than 127
        out += bytes((0x01, 0x80 | len(m.group()))) + m.group().encode()
        pos = m.end()
    out += text[pos:].encode()
    return bytes(out)


def version_key(s: str) -> bytes | None:
    """The byte key Elasticsearch's ``version`` field sorts and compares by (VersionEncoder).

    Valid semantic versions order by precedence (``1.2.4-SNAPSHOT`` < ``1.5.0`` < ``1.11.3``); a
    build suffix is an ASCII tail that counts for ordering and equality. Invalid versions keep their
    raw UTF-8 bytes, so they sort after every valid one and equal only themselves. None for a digit
    group of 128 digits or more, which Elasticsearch refuses to index.
    """
    main, build, pre = s, None, None
    plus = main.find("+")
    if plus > 0:
        main, build = main[:plus], main[plus:]
    dash = main.find("-")
    if dash > 0:
        main, pre = main[:dash], main[dash:]
    legal = (
        _LEGAL_MAIN.match(main) is not None
        and (pre is None or _LEGAL_PRE.match(pre) is not None)
        and (build is None or _LEGAL_BUILD.match(build) is not None)
    )
    if not legal:
        return s.encode("utf-8", "surrogatepass") if s else b"\x03"
    encoded = _encode_digit_groups(main)
    if encoded is None:
        return None
    out = bytearray(encoded)
    if pre is not None:
        out += b"\x02-"
        for i, part in enumerate(pre[1:].split(".")):
            if i:
                out += b"."
            if part.isdigit():
                group = _encode_digit_groups(part)
                if group is None:
                    return None
                out += group
            else:
                out += part.encode()
    else:
        out += b"\x03"
    if build is not None:
        out += build.encode()
    return bytes(out)


# --------------------------------------------------------------------------- dates

DEFAULT_DATE_FORMATS: tuple[str, ...] = ("strict_date_optional_time", "epoch_millis")
DEFAULT_DATE_NANOS_FORMATS: tuple[str, ...] = ("strict_date_optional_time_nanos", "epoch_millis")
NANOS_PER_SECOND = 1_000_000_000
NANOS_PER_MILLI = 1_000_000
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

Zone = int | tzinfo | None  # fixed offset in seconds, a region, or absent (UTC)
DateParser = Callable[[str], "int | None"]


def _days_from_civil(y: int, m: int, d: int) -> int:
    # days since 1970-01-01 in the proleptic Gregorian calendar (Java's IsoChronology)
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _civil_from_days(z: int) -> tuple[int, int, int]:
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (m <= 2), m, doy - (153 * mp + 2) // 5 + 1


def _month_length(y: int, m: int) -> int:
    if m == 2 and y % 4 == 0 and (y % 100 != 0 or y % 400 == 0):
        return 29
    return _MONTH_DAYS[m - 1]


def _instant(y: int, mo: int, d: int, h: int, mi: int, s: int, ns: int, zone: Zone) -> int | None:
    # LocalDateTime.of(...).atZone(zone) with STRICT validation; epoch nanoseconds
    if not (1 <= mo <= 12 and 1 <= d <= _month_length(y, mo) and h <= 23 and mi <= 59 and s <= 59):
        return None
    local = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
    if isinstance(zone, tzinfo):
        if not 1 <= y <= 9999:
            return None
        offset = datetime(y, mo, d, h, mi, s, tzinfo=zone).utcoffset() or timedelta()
        local -= int(offset.total_seconds())
    elif zone is not None:
        local -= zone
    return local * NANOS_PER_SECOND + ns


_FAST_ISO = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:[.,]([0-9]{1,9}))?Z\Z"
)


def _fast_iso_utc(text: str) -> int | None:
    # the per-event common case, same answer as the full strict_date_optional_time parser
    m = _FAST_ISO.match(text)
    if m is None:
        return None
    y, mo, d, h, mi, s, frac = m.groups()
    return _instant(
        int(y), int(mo), int(d), int(h), int(mi), int(s), int(frac.ljust(9, "0")) if frac else 0, 0
    )


_OFFSET = re.compile(r"([+-])([0-9]{1,2})(?:(:?)([0-9]{2})(?:\3([0-9]{2}))?)?\Z")


def _zone_offset_of(text: str) -> int | None:
    # ZoneOffset.of: Z, +h, +hh, +hh:mm, +hhmm, +hh:mm:ss, +hhmmss, within +-18:00
    if text == "Z":
        return 0
    m = _OFFSET.match(text)
    if m is None or (len(m.group(2)) == 1 and m.group(4)):
        return None
    h, mi, s = int(m.group(2)), int(m.group(4) or 0), int(m.group(5) or 0)
    total = h * 3600 + mi * 60 + s
    if mi > 59 or s > 59 or total > 18 * 3600:
        return None
    return -total if m.group(1) == "-" else total


@lru_cache(maxsize=256)
def _zone_id_of(text: str) -> Zone | Literal[False]:
    """``ZoneId.of``: an offset, ``UTC``/``GMT``/``UT`` (+offset), or a region; False if invalid."""
    offset = _zone_offset_of(text)
    if offset is not None:
        return offset
    for prefix in ("UTC", "GMT", "UT"):
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            if not rest:
                return 0
            if rest[0] in "+-":
                off = _zone_offset_of(rest)
                return off if off is not None else False
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9~/._+-]+", text):
        return False
    try:
        return ZoneInfo(text)
    except (ValueError, OSError):
        return False


def _two(s: str, start: int) -> int | None:
    part = s[start : start + 2]
    return int(part) if len(part) == 2 and part.isdigit() and part.isascii() else None


def _iso_zone(s: str, pos: int, tz: str) -> Zone | Literal[False]:
    # Iso8601Parser.parseZoneId: Z, +HH[[:]mm[[:]ss]] (colons both or neither), else ZoneId.of
    if tz == "forbidden":
        return False
    if s[pos] == "Z" and len(s) == pos + 1:
        return 0
    if s[pos] not in "+-":
        return _zone_id_of(s[pos:])
    sign = -1 if s[pos] == "-" else 1
    hours = _two(s, pos + 1)
    if hours is None or hours > 23:
        return False
    pos += 3
    if pos == len(s):
        return sign * hours * 3600 if hours <= 18 else False
    colon = s[pos] == ":"
    pos += colon
    minutes = _two(s, pos)
    if minutes is None or minutes > 59:
        return False
    pos += 2
    if pos == len(s):
        total = hours * 3600 + minutes * 60
        return sign * total if total <= 18 * 3600 else False
    if (s[pos] == ":") != colon:
        return False
    pos += colon
    seconds = _two(s, pos)
    if seconds is None or seconds > 59 or pos + 2 != len(s):
        return False
    total = hours * 3600 + minutes * 60 + seconds
    return sign * total if total <= 18 * 3600 else False


def _is_zone_start(s: str, pos: int) -> bool:
    c = s[pos]
    return c in "+-" or ("A" <= c <= "Z") or ("a" <= c <= "z")


def _iso_parser(mandatory: frozenset[int], optional_time: bool, tz: str = "optional") -> DateParser:
    """Elasticsearch's Iso8601Parser. Field levels: 1 month, 2 day, 3 hour, 4 minute, 5 second,
    6 fraction; ``mandatory`` lists the required ones, ``optional_time`` makes the whole time part
    optional even so; ``tz`` is optional, mandatory or forbidden."""

    def parse(text: str) -> int | None:
        neg = text.startswith("-")
        s = text[1:] if neg else text
        n = len(s)
        if n < 4 or not (s[:4].isdigit() and s[:4].isascii()):
            return None
        y = -int(s[:4]) if neg else int(s[:4])
        if n == 4:
            return None if 1 in mandatory else _instant(y, 1, 1, 0, 0, 0, 0, None)
        mo = _two(s, 5)
        if s[4] != "-" or mo is None or mo > 12:
            return None
        if n == 7:
            return None if 2 in mandatory else _instant(y, mo, 1, 0, 0, 0, 0, None)
        d = _two(s, 8)
        if s[7] != "-" or d is None or d > 31:
            return None
        if n == 10:
            return _instant(y, mo, d, 0, 0, 0, 0, None) if optional_time or 3 not in mandatory else None
        if s[10] != "T":
            return None
        if n == 11:
            return None if 3 in mandatory else _instant(y, mo, d, 0, 0, 0, 0, None)
        fields = [0, 0, 0, 0]  # hour, minute, second, nanos
        pos = 11
        for level in (3, 4, 5):
            value = _two(s, pos)
            if value is None or value > (23 if level == 3 else 59):
                return None
            fields[level - 3] = value
            pos += 2
            h, mi, sec = fields[0], fields[1], fields[2]
            if pos == n:
                ok = level + 1 not in mandatory and tz != "mandatory"
                return _instant(y, mo, d, h, mi, sec, 0, None) if ok else None
            if _is_zone_start(s, pos):
                zone = _iso_zone(s, pos, tz)
                ok = zone is not False and (level == 5 or level + 1 not in mandatory)
                return _instant(y, mo, d, h, mi, sec, 0, zone) if ok else None
            if level < 5:
                if s[pos] != ":":
                    return None
                pos += 1
        if s[pos] not in ".,":
            return None
        start = pos = pos + 1
        while pos < n and pos < start + 9 and "0" <= s[pos] <= "9":
            pos += 1
        if pos == start:
            return None
        nanos = int(s[start:pos].ljust(9, "0"))
        h, mi, sec = fields[0], fields[1], fields[2]
        if pos == n:
            return _instant(y, mo, d, h, mi, sec, nanos, None) if tz != "mandatory" else None
        if _is_zone_start(s, pos):
            zone = _iso_zone(s, pos, tz)
            return _instant(y, mo, d, h, mi, sec, nanos, zone) if zone is not False else None
        return None

    return parse


_EPOCH_MILLIS = re.compile(r"(-?)([0-9]{1,19})(?:\.([0-9]{0,6}))?\Z")
_EPOCH_SECOND = re.compile(r"(-?)([0-9]{1,19})(?:\.([0-9]{0,9}))?\Z")


def _epoch_parser(pattern: re.Pattern[str], unit: int, frac_digits: int) -> DateParser:
    def parse(text: str) -> int | None:
        m = pattern.match(text)
        if m is None:
            return None
        value = int(m.group(2)) * unit + int((m.group(3) or "").ljust(frac_digits, "0") or 0)
        return -value if m.group(1) else value

    return parse


_ALL_TIME = frozenset({3, 4, 5})
_NAMED_PARSERS: dict[str, DateParser] = {
    "strict_date_optional_time": _iso_parser(frozenset(), False),
    "date_optional_time": _iso_parser(frozenset(), False),
    "iso8601": _iso_parser(frozenset(), False),
    "strict_date_optional_time_nanos": _iso_parser(_ALL_TIME, True),
    "strict_date_time": _iso_parser(frozenset({1, 2, 3, 4, 5, 6}), False, "mandatory"),
    "date_time": _iso_parser(frozenset({1, 2, 3, 4, 5, 6}), False, "mandatory"),
    "strict_date_time_no_millis": _iso_parser(frozenset({1, 2, 3, 4, 5}), False, "mandatory"),
    "date_time_no_millis": _iso_parser(frozenset({1, 2, 3, 4, 5}), False, "mandatory"),
    "epoch_millis": _epoch_parser(_EPOCH_MILLIS, NANOS_PER_MILLI, 6),
    "epoch_second": _epoch_parser(_EPOCH_SECOND, NANOS_PER_SECOND, 9),
}
# named formats that are plain Java patterns
_NAMED_PATTERNS = {
    "strict_date": "yyyy-MM-dd", "date": "yyyy-MM-dd", "strict_year_month_day": "yyyy-MM-dd",
    "year_month_day": "yyyy-MM-dd", "strict_year_month": "yyyy-MM", "year_month": "yyyy-MM",
    "strict_year": "yyyy", "year": "yyyy", "basic_date": "yyyyMMdd",
    "strict_date_hour_minute_second": "yyyy-MM-dd'T'HH:mm:ss",
    "date_hour_minute_second": "yyyy-MM-dd'T'HH:mm:ss",
    "strict_date_hour_minute": "yyyy-MM-dd'T'HH:mm", "date_hour_minute": "yyyy-MM-dd'T'HH:mm",
    "strict_hour_minute_second": "HH:mm:ss", "hour_minute_second": "HH:mm:ss",
}  # fmt: skip

_TOKEN = re.compile(r"'((?:[^']|'')*)'|([A-Za-z])\2*|(.)", re.S)
_NUMERIC_LETTERS = "yuMdDHhkKmsn"


def _pattern_tokens(pattern: str) -> list[tuple[str, int | str]]:
    """(letter, count) for fields, ('', text) for literals, ('[' or ']', 0) for optional sections."""
    out: list[tuple[str, int | str]] = []
    for m in _TOKEN.finditer(pattern):
        if m.group(1) is not None:
            out.append(("", m.group(1).replace("''", "'") or "'"))
        elif m.group(2):
            out.append((m.group(2), len(m.group(0))))
        elif m.group(3) in "[]":
            out.append((m.group(3), 0))
        else:
            out.append(("", m.group(3)))
    return out


def _field_regex(letter: str, count: int) -> str:
    if letter in _NUMERIC_LETTERS:
        if letter in "yu" and count == 2:
            return "([0-9]{2})"
        if letter in "yu" and count >= 4:
            return f"([0-9]{{{count}}})"
        if letter == "M" and count >= 3:
            names = _MONTHS if count == 4 else tuple(m[:3] for m in _MONTHS)
            return f"({'|'.join(names)})"
        return "([0-9]{1,19})" if count == 1 else f"([0-9]{{{count}}})"
    if letter == "S":
        return f"([0-9]{{{count}}})"
    if letter == "a":
        return "(AM|PM)"
    if letter == "E":
        return f"({'|'.join(_DAYS if count == 4 else tuple(d[:3] for d in _DAYS))})"
    if letter in "Xx":
        z = "Z|" if letter == "X" else ""
        body = {1: "[0-9]{2}(?:[0-9]{2})?", 2: "[0-9]{4}", 3: "[0-9]{2}:[0-9]{2}",
                4: "[0-9]{4}(?:[0-9]{2})?", 5: "[0-9]{2}:[0-9]{2}(?::[0-9]{2})?"}.get(count)  # fmt: skip
        if body is not None:
            return f"({z}[+-]{body})"
    if letter == "Z" and count <= 3:
        return "([+-][0-9]{4})"
    if letter == "Z" and count == 5:
        return "(Z|[+-][0-9]{2}:[0-9]{2}(?::[0-9]{2})?)"
    if letter == "V" and count == 2:
        return "([A-Za-z][A-Za-z0-9~/._+-]+)"
    raise DataError(f"unsupported date format pattern letter [{letter * count}]")


def _java_pattern_parser(pattern: str) -> DateParser:
    """A parser for a Java DateTimeFormatter pattern (ROOT locale, STRICT resolver, UTC default)."""
    parts: list[str] = []
    fields: list[tuple[str, int]] = []
    for letter, arg in _pattern_tokens(pattern):
        if letter == "":
            parts.append(re.escape(str(arg)))
        elif letter in "[]":
            parts.append("(?:" if letter == "[" else ")?")
        else:
            parts.append(_field_regex(letter, int(arg)))
            fields.append((letter, int(arg)))
    try:
        regex = re.compile("".join(parts) + r"\Z")
    except re.error as exc:
        raise DataError(f"invalid date format [{pattern}]: {exc}") from None

    def parse(text: str) -> int | None:
        m = regex.match(text)
        if m is None:
            return None
        v: dict[str, int] = {}
        zone: Zone = None
        dow = None
        for (letter, count), raw in zip(fields, m.groups(), strict=True):
            if raw is None:
                continue
            if letter == "M" and count >= 3:
                v["M"] = (
                    [x[: len(raw)] for x in _MONTHS].index(raw) + 1 if count == 3 else _MONTHS.index(raw) + 1
                )
            elif letter in "yu":
                v["y"] = 2000 + int(raw) if count == 2 else int(raw)
            elif letter == "S":
                v["S"] = int(raw.ljust(9, "0")[:9])
            elif letter == "a":
                v["a"] = int(raw == "PM")
            elif letter == "E":
                dow = [d[: len(raw)] for d in _DAYS].index(raw)
            elif letter in "XxZV":
                z = _zone_id_of(raw)
                if z is False:
                    return None
                zone = z
            else:
                v[letter] = int(raw)
        hour = v.get("H", 0)
        if "h" in v or "K" in v:
            h12 = v.get("h", v.get("K", 0))
            if ("h" in v and not 1 <= h12 <= 12) or ("K" in v and h12 > 11):
                return None
            hour = h12 % 12 + 12 * v.get("a", 0)
        elif "k" in v:
            if not 1 <= v["k"] <= 24:
                return None
            hour = v["k"] % 24
        y = v.get("y", 1970)
        if "D" in v:
            if not 1 <= v["D"] <= (366 if _month_length(y, 2) == 29 else 365):
                return None
            _, mo, d = _civil_from_days(_days_from_civil(y, 1, 1) + v["D"] - 1)
        else:
            mo, d = v.get("M", 1), v.get("d", 1)
        nanos = v.get("S", v.get("n", 0))
        if nanos >= NANOS_PER_SECOND:
            return None
        result = _instant(y, mo, d, hour, v.get("m", 0), v.get("s", 0), nanos, zone)
        if result is not None and dow is not None and (_days_from_civil(y, mo, d) + 3) % 7 != dow:
            return None  # the STRICT resolver cross-checks the day of week
        return result

    return parse


def _format_parser(name: str) -> DateParser:
    name = name.strip()
    if name in _NAMED_PARSERS:
        return _NAMED_PARSERS[name]
    return _java_pattern_parser(_NAMED_PATTERNS.get(name, name))


@lru_cache(maxsize=128)
def _compile_formats(formats: tuple[str, ...]) -> tuple[DateParser, ...]:
    return tuple(_format_parser(part) for fmt in formats for part in fmt.split("||"))


def validate_date_formats(formats: tuple[str, ...] | list[str]) -> None:
    """Raise DataError if a mapping's date format is one vigil cannot parse (call at load time)."""
    _compile_formats(tuple(formats))


def parse_date(value: Any, formats: tuple[str, ...] | list[str] = ()) -> int | None:
    """Epoch nanoseconds of a date value as a ``date``/``date_nanos`` field parses it, or None.

    ``formats`` are the mapping's formats (each may hold ``||`` alternatives), tried in order;
    empty means Elasticsearch's default ``strict_date_optional_time||epoch_millis``. Numbers are
    read as their text, as Elasticsearch does, so ``2022`` is the year 2022 while ``1`` is 1 ms,
    and ``"131509374294.365140"`` is milliseconds with a nanosecond fraction.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)
    else:
        return None
    if not formats:
        if text[-1:] == "Z":
            fast = _fast_iso_utc(text)
            if fast is not None:
                return fast
        formats = DEFAULT_DATE_FORMATS
    for parser in _compile_formats(tuple(formats)):
        result = parser(text)
        if result is not None:
            return result
    return None


def date_field_value(
    value: Any, formats: tuple[str, ...] | list[str] = (), nanos: bool = False
) -> int | None:
    """What a ``date`` (millisecond resolution, floored) or ``date_nanos`` field stores, in epoch
    nanoseconds; None if unparseable or outside date_nanos' range (1970 to 2262)."""
    result = parse_date(value, formats or (DEFAULT_DATE_NANOS_FORMATS if nanos else ()))
    if result is None:
        return None
    if nanos:
        return result if 0 <= result <= LONG_MAX else None
    return result // NANOS_PER_MILLI * NANOS_PER_MILLI


def _split(nanos: int) -> tuple[int, int, int, int, int, int, int]:
    seconds, ns = divmod(nanos, NANOS_PER_SECOND)
    days, rem = divmod(seconds, 86400)
    y, mo, d = _civil_from_days(days)
    return y, mo, d, rem // 3600, rem // 60 % 60, rem % 60, ns


def _year_text(y: int) -> str:
    # appendValue(YEAR, 4, 9, EXCEEDS_PAD)
    return f"+{y}" if y > 9999 else (f"-{-y:04d}" if y < 0 else f"{y:04d}")


def format_date_iso(nanos: int, nanos_precision: bool = False) -> str:
    """A date as Elasticsearch prints it with its default format: ``1970-01-01T00:00:00.000Z``.
    With ``nanos_precision`` (date_nanos) the fraction keeps 3 to 9 digits, trailing zeros cut."""
    y, mo, d, h, mi, s, ns = _split(nanos)
    frac = f"{ns:09d}"
    frac = frac.rstrip("0").ljust(3, "0") if nanos_precision else frac[:3]
    return f"{_year_text(y)}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{frac}Z"


def format_epoch_millis(nanos: int) -> str:
    """``epoch_millis`` printing: whole milliseconds, plus a fraction when sub-millisecond."""
    millis, sub = divmod(nanos, NANOS_PER_MILLI)
    return f"{millis}.{f'{sub:06d}'.rstrip('0')}" if sub else str(millis)


def _format_pattern(nanos: int, pattern: str) -> str:
    y, mo, d, h, mi, s, ns = _split(nanos)
    doy = _days_from_civil(y, mo, d) - _days_from_civil(y, 1, 1) + 1
    values = {"y": y, "u": y, "M": mo, "d": d, "H": h, "k": h or 24, "K": h % 12, "h": h % 12 or 12,
              "m": mi, "s": s, "n": ns, "D": doy}  # fmt: skip
    out = []
    for letter, arg in _pattern_tokens(pattern):
        count = arg if isinstance(arg, int) else 0
        if letter == "":
            out.append(str(arg))
        elif letter in "[]":
            continue
        elif letter == "M" and count >= 3:
            out.append(_MONTHS[mo - 1] if count == 4 else _MONTHS[mo - 1][:3])
        elif letter in "yu" and count == 2:
            out.append(f"{y % 100:02d}")
        elif letter in values:
            out.append(f"{values[letter]:0{count}d}")
        elif letter == "S":
            out.append(f"{ns:09d}"[:count].ljust(count, "0"))
        elif letter == "a":
            out.append("PM" if h >= 12 else "AM")
        elif letter == "E":
            name = _DAYS[(_days_from_civil(y, mo, d) + 3) % 7]
            out.append(name if count == 4 else name[:3])
        elif letter in "XZV":
            out.append("Z" if letter != "Z" or count == 5 else "+0000")
        elif letter == "x":
            out.append("+00" if count == 1 else ("+00:00" if count in (3, 5) else "+0000"))
        else:
            raise DataError(f"unsupported date format pattern letter [{letter * count}]")
    return "".join(out)


def format_date(nanos: int, formats: tuple[str, ...] | list[str] = (), nanos_precision: bool = False) -> str:
    """A date printed with the first of a mapping's formats (the field's DocValueFormat, in UTC)."""
    first = formats[0].split("||")[0].strip() if formats else ""
    if first in ("", "strict_date_optional_time", "date_optional_time", "iso8601", "strict_date_time",
                 "date_time"):  # fmt: skip
        return format_date_iso(nanos, nanos_precision)
    if first == "strict_date_optional_time_nanos":
        return format_date_iso(nanos, True)
    if first == "epoch_millis":
        return format_epoch_millis(nanos)
    if first == "epoch_second":
        seconds, sub = divmod(nanos, NANOS_PER_SECOND)
        return f"{seconds}.{f'{sub:09d}'.rstrip('0')}" if sub else str(seconds)
    if first in _NAMED_PARSERS:
        return format_date_iso(nanos, nanos_precision)
    return _format_pattern(nanos, _NAMED_PATTERNS.get(first, first))


def zoned_datetime_string(nanos: int) -> str:
    """``ZonedDateTime.toString()`` in UTC, what ``string()`` gives for a date value in a script:
    seconds and fraction are left out when zero (``2022-05-04T12:00Z``)."""
    y, mo, d, h, mi, s, ns = _split(nanos)
    year = f"{y:04d}" if 0 <= y <= 9999 else (f"-{-y:04d}" if y < 0 else f"+{y}")
    text = f"{year}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}"
    if s or ns:
        text += f":{s:02d}"
    if ns:
        text += f".{ns // NANOS_PER_MILLI:03d}" if ns % NANOS_PER_MILLI == 0 else (
            f".{ns // 1000:06d}" if ns % 1000 == 0 else f".{ns:09d}")  # fmt: skip
    return text + "Z"
