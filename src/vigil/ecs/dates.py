"""Dates as Elasticsearch's ``date`` and ``date_nanos`` fields parse and print them.

Parsing follows the mapping's formats (Java DateTimeFormatter patterns and Elasticsearch's named
formats such as ``strict_date_optional_time`` and ``epoch_millis``), returning epoch nanoseconds;
printing follows what Elasticsearch writes in responses (ISO 8601 with milliseconds, epoch millis).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from vigil.errors import DataError

LONG_MAX = 2**63 - 1

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
