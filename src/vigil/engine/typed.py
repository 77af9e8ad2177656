"""Typed field values: from raw JSON to what Elasticsearch indexed.

Elasticsearch coerces a document's values to the mapping's type at index time (a ``long`` field
given ``"445"`` holds 445; a ``keyword`` given 4 holds ``"4"``; a ``date`` holds an instant), and
EQL compares those indexed values. :func:`make_field_reader` builds, once per field and schema, a
function that reads and coerces a field of a document the same way, returning ``None`` (null or
missing), one value, or a ``list`` of values for a multi-valued field.
"""

from __future__ import annotations

import ipaddress
import itertools
import threading
from collections.abc import Callable
from functools import total_ordering
from typing import Any

from vigil.ecs import values
from vigil.ecs.fields import MISSING, make_getter
from vigil.ecs.schema import FieldSpec, FieldType, Schema

Reader = Callable[[Any], Any]

_DROP = object()  # a value the mapping would have rejected: not indexed, so not searchable


@total_ordering
class VersionValue:
    """A ``version`` field value: compares by semantic-version precedence, prints as written."""

    __slots__ = ("key", "text")

    def __init__(self, text: str):
        self.text = text
        # None: a version Elasticsearch refuses to index (see values.version_key); never equal.
        self.key: bytes = values.version_key(text) or b""

    def __eq__(self, other: object) -> bool:
        if isinstance(other, VersionValue):
            return bool(self.key == other.key)
        return NotImplemented

    def __lt__(self, other: object) -> bool:
        if isinstance(other, VersionValue):
            return bool(self.key < other.key)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.key)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"VersionValue({self.text!r})"


def _keyword(v: Any) -> Any:
    t = type(v)
    if t is str:
        return v
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        return values.java_double_to_string(v)
    return _DROP


def _long(v: Any) -> Any:
    t = type(v)
    if t is int:
        return v
    r = values.to_long(v)
    return _DROP if r is None else r


def _double(v: Any) -> Any:
    t = type(v)
    if t is float:
        return v
    if t is int:
        return float(v)
    r = values.to_double(v)
    return _DROP if r is None else r


def _boolean(v: Any) -> Any:
    if type(v) is bool:
        return v
    r = values.to_bool(v)
    return _DROP if r is None else r


_IP_CACHE: dict[Any, Any] = {}


def canonical_ip(v: Any) -> Any:
    """An IP address in the form Elasticsearch prints it, or ``_DROP`` when it is no address."""
    if type(v) is not str:
        return _DROP  # a number, or an object where an address belongs: no address
    r = _IP_CACHE.get(v)
    if r is not None:
        return r
    ip = values.parse_ip(v)
    r = _DROP if ip is None else values.format_ip(ip)
    if len(_IP_CACHE) > 100_000:
        _IP_CACHE.clear()
    _IP_CACHE[v] = r
    return r


_DAYS: dict[str, int] = {}
_DIGITS = frozenset("0123456789")


def _fast_utc(v: str) -> int | None:
    """Epoch nanoseconds of ``YYYY-MM-DDTHH:MM:SS[.fraction]Z`` (the form nearly every event
    carries), or None for anything else, which then takes the full date parser. The date part is
    parsed once per day by the full parser and cached."""
    n = len(v)
    if n < 20 or v[-1] != "Z" or v[10] != "T" or v[13] != ":" or v[16] != ":":
        return None
    day = _DAYS.get(v[:10])
    if day is None:
        parsed = values.parse_date(v[:10] + "T00:00:00Z")
        if parsed is None:
            return None
        if len(_DAYS) > 100_000:
            _DAYS.clear()
        day = _DAYS[v[:10]] = parsed
    hh, mm, ss = v[11:13], v[14:16], v[17:19]
    if not (_DIGITS.issuperset(hh) and _DIGITS.issuperset(mm) and _DIGITS.issuperset(ss)):
        return None
    h, m, s = int(hh), int(mm), int(ss)
    if h > 23 or m > 59 or s > 59:
        return None
    frac = 0
    if n > 20:
        digits = v[20:-1]
        if v[19] not in ".," or not 1 <= len(digits) <= 9 or not _DIGITS.issuperset(digits):
            return None
        frac = int(digits) * 10 ** (9 - len(digits))
    elif n != 20:
        return None
    return day + (h * 3600 + m * 60 + s) * 1_000_000_000 + frac


def _make_date(spec: FieldSpec | None) -> Callable[[Any], Any]:
    # A `date` field keeps milliseconds (floored), a `date_nanos` field nanoseconds.
    formats = spec.date_formats if spec else ()
    nanos = spec is not None and spec.type is FieldType.DATE_NANOS

    def coerce(v: Any) -> Any:
        if not formats and type(v) is str:
            fast = _fast_utc(v)
            if fast is not None:
                return fast if nanos else fast - fast % 1_000_000
        r = values.date_field_value(v, formats, nanos)
        return _DROP if r is None else r

    return coerce


def _version(v: Any) -> Any:
    if type(v) is not str:
        return _DROP
    if values.version_key(v) is None:
        return _DROP
    return VersionValue(v)


def _unknown(v: Any) -> Any:
    # Dynamic mapping: scalars keep their JSON type; objects are not values.
    if type(v) is dict:
        return _DROP
    return v


def coercer_for(ftype: FieldType, spec: FieldSpec | None) -> Callable[[Any], Any] | None:
    """The index-time coercion of one value for a field type (None: identity)."""
    if ftype in (FieldType.KEYWORD, FieldType.TEXT):
        return _keyword
    if ftype is FieldType.LONG:
        return _long
    if ftype is FieldType.DOUBLE:
        return _double
    if ftype is FieldType.BOOLEAN:
        return _boolean
    if ftype is FieldType.IP:
        return canonical_ip
    if ftype in (FieldType.DATE, FieldType.DATE_NANOS):
        return _make_date(spec)
    if ftype is FieldType.VERSION:
        return _version
    return None


def field_type(schema: Schema, path: str) -> FieldType:
    """The mapped type of a field, UNKNOWN when the schema does not type it."""
    spec = schema.spec(path)
    return spec.type if spec else FieldType.UNKNOWN


class _EventMemo(threading.local):
    """Field values of the event being offered to many queries, read once each.

    A hunt offers one document to many rules, and rules share fields (``host.os.type``,
    ``event.type``, ``process.name``...). Between :func:`begin_event` and the next call, readers
    built by :func:`make_field_reader` remember what they read from *that* document (by
    identity), keyed by the field's resolved path and mapping, so every rule after the first
    gets the value from a dict. Any other document is read as usual. The memo is per thread:
    the service runs rules in several threads at once, each offering its own events.
    """

    def __init__(self) -> None:
        self.doc: Any = None
        self.values: dict[Any, Any] = {}


_MEMO = _EventMemo()
_SLOTS = itertools.count()
_UNSET: Any = object()


def begin_event(doc: Any) -> None:
    """Share field reads of ``doc`` across readers until the next call (see :class:`_EventMemo`)."""
    _MEMO.doc = doc
    _MEMO.values.clear()


def end_event() -> None:
    """Stop sharing field reads (drops the reference to the last document)."""
    _MEMO.doc = None
    _MEMO.values.clear()


# A reader depends only on the field's resolved path and mapping, so readers are shared by that
# key: a thousand rules reading the same fields build each reader once, and the per-event memo
# below reads each (path, mapping) once per event whichever rule asks.
_READERS: dict[tuple[str, Any], Reader] = {}
_MAX_READERS = 100_000


def make_field_reader(schema: Schema, path: str) -> Reader:
    """A function reading ``path`` from a document with the schema's type coercion applied."""
    key = (schema.resolve(path), schema.spec(path))
    try:
        found = _READERS.get(key)
    except TypeError:  # a mapping with an unhashable null_value: not shared
        return _new_field_reader(schema, path, (id(schema), path))
    if found is not None:
        return found
    shared = _new_field_reader(schema, path, key)
    if len(_READERS) >= _MAX_READERS:
        _READERS.clear()  # mappings come and go in a long-running service: never grow unbounded
    _READERS[key] = shared
    return shared


def _new_field_reader(schema: Schema, path: str, key: Any) -> Reader:
    reader = _make_field_reader(schema, path)
    memo = _MEMO
    # The memo is keyed by a number of this reader's own: hashing ``key`` (a path and a mapping
    # dataclass) on every read cost more than the read it saves.
    key = next(_SLOTS)

    def shared(doc: Any) -> Any:
        if doc is memo.doc:
            values = memo.values
            v = values.get(key, _UNSET)
            if v is _UNSET:
                v = values[key] = reader(doc)
            return v
        return reader(doc)

    shared.__wrapped__ = reader  # type: ignore[attr-defined]
    return shared


def _make_field_reader(schema: Schema, path: str) -> Reader:
    spec = schema.spec(path)
    getter = make_getter(schema.resolve(path))
    ftype = spec.type if spec else FieldType.UNKNOWN
    coerce = coercer_for(ftype, spec) or _unknown
    null_value = spec.null_value if spec else None
    ignore_above = spec.ignore_above if spec else None

    if null_value is not None:
        null_coerced = coerce(null_value)
        if null_coerced is _DROP:
            null_coerced = None
    else:
        null_coerced = None

    def one(v: Any) -> Any:
        if v is None:
            return null_coerced
        r = coerce(v)
        if r is _DROP:
            return None
        if ignore_above is not None and type(r) is str and len(r) > ignore_above:
            return None
        return r

    if coerce is _keyword and ignore_above is None and null_value is None:
        # Hot path: most ECS fields are keywords holding strings.
        def read_keyword(doc: Any) -> Any:
            v = getter(doc)
            if type(v) is str:
                return v
            if v is MISSING or v is None:
                return None
            if type(v) is list:
                return _many(v, one)
            return one(v)

        return read_keyword

    if coerce is _long and null_value is None:

        def read_long(doc: Any) -> Any:
            v = getter(doc)
            if type(v) is int:
                return v
            if v is MISSING or v is None:
                return None
            if type(v) is list:
                return _many(v, one)
            return one(v)

        return read_long

    if coerce is _unknown and null_value is None:

        def read_dynamic(doc: Any) -> Any:
            v = getter(doc)
            if v is MISSING:
                return None
            if type(v) is list:
                return _many(v, one)
            if type(v) is dict:
                return None
            return v

        return read_dynamic

    def read(doc: Any) -> Any:
        v = getter(doc)
        if v is MISSING:
            return None
        if type(v) is list:
            return _many(v, one)
        return one(v)

    return read


def _many(vs: list[Any], one: Callable[[Any], Any]) -> Any:
    out = []
    for x in vs:
        r = one(x)
        if r is not None:
            out.append(r)
    if not out:
        return None
    if len(out) == 1:
        return out[0]
    return out


def coerce_literal(value: Any, ftype: FieldType, spec: FieldSpec | None) -> Any:
    """A query literal in the type of the field it is compared with (``"445"`` for a long is 445).

    Returns the literal unchanged when the field type does not apply to it.
    """
    if value is None or ftype is FieldType.UNKNOWN or ftype is FieldType.OBJECT:
        return value
    if ftype in (FieldType.DATE, FieldType.DATE_NANOS):
        formats = spec.date_formats if spec else ()
        if type(value) is str:
            r = values.parse_date(value, formats)
            if r is None:
                r = values.parse_date(value, ())
            return value if r is None else r
        if type(value) in (int, float) and type(value) is not bool:
            r = values.parse_date(value, ())
            return value if r is None else r
        return value
    if ftype is FieldType.IP:
        if type(value) is str:
            r = canonical_ip(value)
            return value if r is _DROP else r
        return value
    if ftype is FieldType.VERSION:
        return VersionValue(value) if type(value) is str else value
    if ftype in (FieldType.LONG, FieldType.DOUBLE):
        if type(value) is str:
            num: int | float | None = (
                values.to_long(value) if ftype is FieldType.LONG else values.to_double(value)
            )
            if num is None:
                num = values.to_double(value)
            return value if num is None else num
        return value
    if ftype in (FieldType.KEYWORD, FieldType.TEXT):
        if type(value) in (int, float, bool):
            r = _keyword(value)
            return value if r is _DROP else r
        return value
    if ftype is FieldType.BOOLEAN and type(value) is str:
        r = values.to_bool(value)
        return value if r is None else r
    return value


def json_value(value: Any, ftype: FieldType, for_sample: bool = False) -> Any:
    """A typed value as Elasticsearch prints it in a response (join keys)."""
    if value is None:
        return None
    if ftype in (FieldType.DATE, FieldType.DATE_NANOS) and type(value) is int:
        if for_sample:
            return value // 1_000_000
        return values.format_date_iso(value, ftype is FieldType.DATE_NANOS)
    if isinstance(value, VersionValue):
        return value.text
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(value)
    return value
