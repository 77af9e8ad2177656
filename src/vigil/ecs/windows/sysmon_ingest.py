"""Elasticsearch ingest-processor semantics the Sysmon mapping needs, over nested-dict documents.

Each helper behaves like the processor it is named after, as the Sysmon pipelines configure it:
``rename`` refuses to overwrite an existing target, ``convert`` to ``long`` accepts only what
Java's ``Long.parseLong``/``Long.decode`` would, ``{{ }}`` templates render with Mustache's JSON
escaping, ``append`` builds lists and may skip duplicates. Failures that the pipeline ignores
(``ignore_failure``) return False; failures that it does not ignore raise :class:`PipelineFailure`,
which ends the pipeline as Elasticsearch's ``on_failure`` handler does.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

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
_UTC_TIME_USUAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} (?:[01][0-9]|2[0-3])(?::[0-5][0-9]){2}\.[0-9]{3}")


def format_millis(moment: datetime) -> str:
    """The date processor's output format, ``yyyy-MM-dd'T'HH:mm:ss.SSSXXX``, in UTC."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_utc_time(text: Any) -> str | None:
    """Sysmon's ``yyyy-MM-dd HH:mm:ss.SSS`` (UTC) as an ISO timestamp, None when it does not parse."""
    if type(text) is str and _UTC_TIME_USUAL.fullmatch(text) is not None:
        # The usual case without the datetime: the clock is checked by the pattern, the calendar
        # date once per day (cached).
        valid = _DAYS.get(text[:10])
        if valid is None:
            valid = _valid_day(text[:10])
        # Already UTC with milliseconds: the output format is the input with a T and a Z.
        return text.replace(" ", "T") + "Z" if valid else None
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
    return f"{text[:10]}T{text[11:]}Z"


_DAYS: dict[str, bool] = {}


def _valid_day(day: str) -> bool:
    try:
        datetime(int(day[:4]), int(day[5:7]), int(day[8:10]))
        valid = True
    except ValueError:
        valid = False
    if len(_DAYS) >= 4096:
        _DAYS.clear()
    _DAYS[day] = valid
    return valid


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
