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
from decimal import Decimal, InvalidOperation
from typing import Any

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


def plain_ipv4(text: str) -> bytes | None:
    """The four bytes of a plain dotted IPv4 address (no leading zeros, each part at most 255),
    else None (the text may still be an address of another spelling: see :func:`parse_ip`)."""
    if not _PLAIN_IPV4.match(text):
        return None
    octets = [int(part) for part in text.split(".")]
    return bytes(octets) if max(octets) <= 255 else None


def parse_ip(value: Any) -> IPAddress | None:
    """An ``ip`` field's value, or None if Elasticsearch would reject it.

    IPv4-mapped IPv6 addresses (``::ffff:1.2.3.4``) become IPv4 addresses, as Java's
    ``InetAddress`` does; leading zeros in IPv4 octets and zone ids are rejected.
    """
    if not isinstance(value, str):
        return None
    plain = plain_ipv4(value)
    if plain is not None:
        return ipaddress.IPv4Address(plain)
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


# Dates live in vigil.ecs.dates; these names stay importable from here.
from vigil.ecs.dates import (  # noqa: E402, F401
    DEFAULT_DATE_FORMATS,
    DEFAULT_DATE_NANOS_FORMATS,
    NANOS_PER_MILLI,
    NANOS_PER_SECOND,
    DateParser,
    Zone,
    date_field_value,
    format_date,
    format_date_iso,
    format_epoch_millis,
    parse_date,
    validate_date_formats,
    zoned_datetime_string,
)
