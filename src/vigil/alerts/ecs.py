"""Preparing a source event for an alert document, as Kibana's ``traverseAndMutateDoc`` does.

An alert copies its source event, but the alerts index is mapped with ECS, so Kibana first walks the
event once and:

1. drops the top-level fields an alert must not inherit (``kibana``, ``signal``,
   ``threshold_result``), whether nested or dotted;
2. drops every value that does not fit the ECS mapping of its field: a ``long`` that is not a
   number, an ``ip`` that is not an address, a ``date`` that is neither a number nor ISO 8601, a
   ``boolean`` other than ``true``/``false``/``"true"``/``"false"``/``""``, an object where ECS has a
   leaf or a leaf where ECS has an object, a path that runs through an ECS leaf (``agent.name.x``).
   Array elements are judged one by one; arrays and objects left empty disappear;
3. copies the surviving ``event.*`` fields to ``kibana.alert.original_event.*`` and
   ``data_stream.*`` to ``kibana.alert.original_data_stream.*`` (flattened, dotted keys).

Kibana's ECS field map is built from ``@elastic/ecs`` leaving out ``constant_keyword``, ``nested``
and ``flattened`` fields (and their children) and a few experimental fields; nested fields are
still known by name. vigil reads ECS's own field list (``ecs_types.txt``) and derives the same.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from vigil.alerts.js import flatten_with_prefix, is_number, js_number

_EXCLUDED_TYPES = frozenset({"constant_keyword", "nested", "flattened"})
# Fields of ECS RFCs still at stage 2, which Kibana keeps out of its alert mapping.
_EXPERIMENTAL_FIELDS = frozenset(
    {
        "faas.trigger",
        "faas.trigger.request_id",
        "faas.trigger.type",
        "host.cpu.system.norm.pct",
        "host.cpu.user.norm.pct",
        "host.fsstats.total_size.total",
        "host.fsstats.total_size.used",
        "host.fsstats.total_size.used.pct",
        "host.load.norm.1",
        "host.load.norm.5",
        "host.load.norm.15",
        "host.memory.actual.used.bytes",
        "host.memory.actual.used.pct",
        "host.memory.total",
        "process.io.bytes",
    }
)
_BANNED_TOP_LEVEL = frozenset({"kibana", "signal", "threshold_result"})
_COPY_ROOTS = {"event": "kibana.alert.original_event", "data_stream": "kibana.alert.original_data_stream"}


class EcsMap:
    """The ECS knowledge the walk needs: field types, object paths and nested field names."""

    def __init__(self, types: dict[str, str]):
        excluded_parents = tuple(name + "." for name, t in types.items() if t in _EXCLUDED_TYPES)
        self.fields: dict[str, str] = {
            name: t
            for name, t in types.items()
            if t not in _EXCLUDED_TYPES
            and name not in _EXPERIMENTAL_FIELDS
            and not name.startswith(excluded_parents)
        }
        objects: set[str] = set()
        for name in self.fields:
            parts = name.split(".")
            for i in range(1, len(parts)):
                objects.add(".".join(parts[:i]))
        self.objects = frozenset(objects)
        self.nested = frozenset(name for name, t in types.items() if t == "nested")
        self._dotted_ok: dict[str, bool] = {}
        self._checks: dict[str, Callable[[Any], bool]] = {}  # is_ecs_compliant's test per path
        # prepare_copy's walk: per object path (with its trailing dot), per key, what depends on
        # the path alone (see _entry); bounded.
        self._levels: dict[str, dict[str, tuple[str, str, Callable[[Any], bool], bool, str | None]]] = {}

    def is_field(self, path: str) -> bool:
        """The path is in the ECS mapping (a field or an object holding fields)."""
        return path in self.fields or path in self.objects

    def is_object(self, path: str) -> bool:
        """The path is an object in the ECS mapping (``object``, ``flattened``, ``geo_point`` or a parent)."""
        return self.fields.get(path) in ("object", "flattened", "geo_point") or path in self.objects


@cache
def ecs_map() -> EcsMap:
    """ECS as Kibana's alert builder knows it (shared, read-only)."""
    text = resources.files("vigil.alerts").joinpath("ecs_types.txt").read_text(encoding="utf-8")
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, ftype = line.partition(" ")
            types[name] = ftype
    return EcsMap(types)


# --------------------------------------------------------------------------- value validators


def is_valid_numeric(value: Any) -> bool:
    """Kibana's numeric check: a number, or a string ``Number()`` reads as one."""
    if is_number(value):
        return True
    if isinstance(value, str):
        return js_number(value) == js_number(value)  # not NaN
    return False


def is_valid_long(value: Any) -> bool:
    """Kibana's ``long`` check: numeric, and a string may not contain a space."""
    if isinstance(value, str) and " " in value:
        return False
    return is_valid_numeric(value)


def is_valid_boolean(value: Any) -> bool:
    """Kibana's ``boolean`` check: ``true``, ``false``, ``"true"``, ``"false"`` or ``""``."""
    return isinstance(value, bool) or value in ("true", "false", "")


# ipaddr.js IPv4 parts: decimal, 0x hex or 0-prefixed octal, in 1 to 4 dot-separated parts.
_IPV4_PART = re.compile(r"0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*|0[0-9]+", re.IGNORECASE)


def _ipv4_valid(text: str) -> bool:
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.fullmatch(p) for p in parts):
        return False
    values = []
    for part in parts:
        low = part.lower()
        if low.startswith("0x"):
            values.append(int(low, 16))
        elif len(low) > 1 and low.startswith("0"):
            if any(c in "89" for c in low):
                return False  # ipaddr.js refuses a non-octal digit in an octal part
            values.append(int(low, 8))
        else:
            values.append(int(low))
    if len(values) == 1:
        return values[0] <= 0xFFFFFFFF
    # a.b, a.b.c: the last part fills the remaining bytes, as inet_aton does.
    head, last = values[:-1], values[-1]
    return all(v <= 255 for v in head) and last < 256 ** (5 - len(values))


def _ipv6_valid(text: str) -> bool:
    address, _, zone = text.partition("%")
    if "%" in text and not zone:
        return False
    if not address or ":" not in address:
        return False
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return True


def is_valid_ip(value: Any) -> bool:
    """Kibana's ``ip`` check (ipaddr.js): an IPv4 or IPv6 address, or a CIDR block of either."""
    if not isinstance(value, str):
        return False
    if _ipv6_valid(value) or _ipv4_valid(value):
        return True
    address, slash, length = value.partition("/")
    if not slash or not length.isdigit():
        return False
    if re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}", address):  # parseCIDR wants four decimal octets
        return _ipv4_valid(address) and int(length) <= 32
    return _ipv6_valid(address) and int(length) <= 128


# moment's ISO 8601 grammar (extended and basic forms): date, then optionally time and zone.
_ISO_EXTENDED = re.compile(
    r"\s*((?:[+-]\d{6}|\d{4})-(?:\d\d-\d\d|W\d\d-\d|W\d\d|\d\d\d|\d\d))"
    r"(?:(T| )(\d\d(?::\d\d(?::\d\d(?:[.,]\d+)?)?)?)([+-]\d\d(?::?\d\d)?|\s*Z)?)?\Z"
)
_ISO_BASIC = re.compile(
    r"\s*((?:[+-]\d{6}|\d{4})(?:\d\d\d\d|W\d\d\d|W\d\d|\d\d\d|\d\d|))"
    r"(?:(T| )(\d\d(?:\d\d(?:\d\d(?:[.,]\d+)?)?)?)([+-]\d\d(?::?\d\d)?|\s*Z)?)?\Z"
)
# moment's isoDates, in its order: (kind, pattern, time allowed). The first that matches wins.
_ISO_DATES = (
    ("ymd", re.compile(r"([+-]\d{6})-(\d\d)-(\d\d)"), True),
    ("ymd", re.compile(r"(\d{4})-(\d\d)-(\d\d)"), True),
    ("wde", re.compile(r"(\d{4})-W(\d\d)-(\d)"), True),
    ("wd", re.compile(r"(\d{4})-W(\d\d)"), False),
    ("ord", re.compile(r"(\d{4})-(\d{3})"), True),
    ("ym", re.compile(r"(\d{4})-(\d\d)"), False),
    ("ymd", re.compile(r"([+-]\d{6})(\d\d)(\d\d)"), True),
    ("ymd", re.compile(r"(\d{4})(\d\d)(\d\d)"), True),
    ("wde", re.compile(r"(\d{4})W(\d\d)(\d)"), True),
    ("wd", re.compile(r"(\d{4})W(\d\d)"), False),
    ("ord", re.compile(r"(\d{4})(\d{3})"), True),
    ("ym", re.compile(r"(\d{4})(\d\d)"), False),
    ("y", re.compile(r"(\d{4})"), False),
)
# Elasticsearch also takes "2015-01-01T" (Kibana checks it as an extra moment format).
_ES_DATE_T = re.compile(r"(\d{4})-(\d\d)-(\d\d)T\Z")


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _ymd_ok(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12:
        return False
    days = (31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    return 1 <= day <= days


def _iso_weeks(year: int) -> int:
    jan1 = date(2000 + year % 400, 1, 1).isoweekday()  # the calendar repeats every 400 years
    return 53 if jan1 == 4 or (jan1 == 3 and _leap(year)) else 52


def _date_part_ok(text: str, has_time: bool) -> bool:
    for kind, pattern, time_allowed in _ISO_DATES:
        match = pattern.search(text)
        if match is None:
            continue
        if has_time and not time_allowed:
            return False
        year = int(match[1])
        if kind == "ymd":
            return _ymd_ok(year, int(match[2]), int(match[3]))
        if kind == "ym":
            return 1 <= int(match[2]) <= 12
        if kind in ("wd", "wde"):
            weekday_ok = kind == "wd" or 1 <= int(match[3]) <= 7
            return weekday_ok and 1 <= int(match[2]) <= _iso_weeks(year)
        if kind == "ord":
            return 1 <= int(match[2]) <= (366 if _leap(year) else 365)
        return True
    return False


def _time_part_ok(text: str) -> bool:
    clock, _, fraction = text.replace(",", ".").partition(".")
    clock = clock.replace(":", "")
    hours, minutes, seconds = int(clock[:2]), int(clock[2:4] or 0), int(clock[4:6] or 0)
    if hours == 24:  # moment accepts 24:00:00.000 only
        return minutes == 0 and seconds == 0 and int(fraction[:3] or 0) == 0
    return hours < 24 and minutes < 60 and seconds < 60


def is_valid_date(value: Any) -> bool:
    """Kibana's ``date`` check: a number (or numeric string), or a date in strict ISO 8601 as
    moment.js reads it (or ``yyyy-MM-ddT``, which Elasticsearch also takes)."""
    if is_valid_numeric(value):
        return True
    if not isinstance(value, str):
        return False
    es_form = _ES_DATE_T.match(value)
    if es_form:
        return _ymd_ok(int(es_form[1]), int(es_form[2]), int(es_form[3]))
    match = _ISO_EXTENDED.match(value) or _ISO_BASIC.match(value)
    if match is None:
        return False
    if not _date_part_ok(match[1], match[3] is not None):
        return False
    return match[3] is None or _time_part_ok(match[3])


# --------------------------------------------------------------------------- the walk


def _dotted_path_ok(ecs: EcsMap, path: str) -> bool:
    # Whether no part of the way to ``path`` is an ECS leaf; events repeat paths, so it is cached.
    known = ecs._dotted_ok.get(path)
    if known is not None:
        return known
    parts = path.split(".")
    ok = True
    for i in range(1, len(parts)):
        prefix = ".".join(parts[:i])
        if ecs.is_field(prefix) and not ecs.is_object(prefix):
            ok = False
            break
    if len(ecs._dotted_ok) < 100_000:
        ecs._dotted_ok[path] = ok
    return ok


def is_ecs_compliant(value: Any, path: str, ecs: EcsMap | None = None) -> bool:
    """Whether ``value`` may stay at ``path`` in an alert (Kibana's ``computeIsEcsCompliant``)."""
    ecs = ecs or ecs_map()
    check = ecs._checks.get(path)
    if check is None:
        check = _checker(path, ecs)
        if len(ecs._checks) < 100_000:
            ecs._checks[path] = check
    return check(value)


def _checker(path: str, ecs: EcsMap) -> Callable[[Any], bool]:
    """The compliance test of values at ``path`` (what depends on the path alone, decided once)."""
    if "." in path and not _dotted_path_ok(ecs, path):
        return _never
    if path in ecs.nested:
        return _nested_ok
    if not ecs.is_field(path):
        return _always
    ftype = ecs.fields.get(path)
    if ftype == "geo_point":
        return _always
    if ftype == "long":
        return _remembered(is_valid_long)
    if ftype in ("float", "scaled_float"):
        return _remembered(is_valid_numeric)
    if ftype == "ip":
        return _remembered(is_valid_ip)
    if ftype == "date":
        return _remembered(is_valid_date)
    if ftype == "boolean":
        return is_valid_boolean
    return _is_dict if ecs.is_object(path) else _not_dict


_REMEMBERED: dict[Callable[[Any], bool], Callable[[Any], bool]] = {}


def _remembered(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """``check`` remembering its answer per string (addresses and the times of events that
    several alerts share come back; the parsers behind these checks are the walk's costliest)."""
    found = _REMEMBERED.get(check)
    if found is not None:
        return found
    answers: dict[str, bool] = {}

    def remembered(value: Any) -> bool:
        if type(value) is not str:
            return check(value)
        got = answers.get(value)
        if got is None:
            if len(answers) >= 20_000:
                answers.clear()
            got = answers[value] = check(value)
        return got

    _REMEMBERED[check] = remembered
    return remembered


def _never(_value: Any) -> bool:
    return False


def _always(_value: Any) -> bool:
    return True


def _nested_ok(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(item, dict) for item in value)
    return isinstance(value, dict)


def _is_dict(value: Any) -> bool:
    return isinstance(value, dict)


def _not_dict(value: Any) -> bool:
    return not isinstance(value, dict)


def prepare_source(document: dict[str, Any], ecs: EcsMap | None = None) -> tuple[dict[str, Any], list[str]]:
    """The event's ``_source`` made ready to be an alert: banned and non-ECS fields removed,
    ``event.*``/``data_stream.*`` copied under ``kibana.alert.original_*``. Replaces the content
    of ``document`` by :func:`prepare_copy`'s and returns it with the paths of the values
    removed."""
    prepared, removed = prepare_copy(document, ecs)
    document.clear()
    document.update(prepared)
    return document, removed


def prepare_copy(source: dict[str, Any], ecs: EcsMap | None = None) -> tuple[dict[str, Any], list[str]]:
    """A copy of the event's ``_source`` made ready to be an alert (see :func:`prepare_source`),
    and the paths of the values removed, in one walk: Kibana copies the source and deletes from
    the copy; here the copy is made of what that walk keeps (``source`` is left unchanged). Key
    order, removed paths and the values the copy shares with its ``kibana.alert.original_*``
    fields are Kibana's (``tests/test_alerts_build.py`` holds it to that walk, written out)."""
    ecs = ecs or ecs_map()
    removed: list[str] = []
    to_add: list[tuple[str, Any]] = []
    document = _copy_walk(source, "", True, removed, to_add, ecs)
    for key, value in to_add:
        document[key] = value
    return document, removed


def _copy_walk(
    src: dict[str, Any],
    prefix: str,
    top: bool,
    removed: list[str],
    to_add: list[tuple[str, Any]],
    ecs: EcsMap,
) -> dict[str, Any]:
    # Kibana's walk over the source (which deletes from a copy), written as the copy is made.
    # Documents repeat their keys, so what a key's path decides (its test, and at the top whether
    # it is banned or copied) is looked up by the key in its object's level, not worked out from
    # the joined path every time.
    out: dict[str, Any] = {}
    level = ecs._levels.get(prefix)
    if level is None:
        if len(ecs._levels) >= 10_000:
            ecs._levels.clear()
        level = ecs._levels[prefix] = {}
    for key, value in src.items():
        entry = level.get(key)
        if entry is None:
            entry = _entry(prefix, key, top, ecs)
            if len(level) < 2_000:
                level[key] = entry
        full_path, child, check, banned, target = entry
        if banned:
            removed.append(full_path)
            continue
        if isinstance(value, list):
            value = _copy_walk_array(value, full_path, removed, to_add, ecs)
            if not value:
                continue
        else:
            if not check(value):
                removed.append(full_path)
                continue
            if isinstance(value, dict):
                value = _copy_walk(value, child, False, removed, to_add, ecs)
                if not value:
                    continue
        out[key] = value
        if target is not None:
            if isinstance(value, dict):
                to_add.extend(flatten_with_prefix(target, value).items())
            else:
                to_add.append((target, value))
    return out


def _entry(
    prefix: str, key: str, top: bool, ecs: EcsMap
) -> tuple[str, str, Callable[[Any], bool], bool, str | None]:
    """(path, the prefix of its children, compliance test, banned at the top, where a top-level
    value is copied to) of ``key`` in the object at ``prefix`` (one string object each, whose
    hash is then computed once)."""
    full_path = prefix + key
    check = ecs._checks.get(full_path)
    if check is None:
        check = _checker(full_path, ecs)
        if len(ecs._checks) < 100_000:
            ecs._checks[full_path] = check
    banned = top and key.split(".")[0] in _BANNED_TOP_LEVEL
    target = None
    if top:
        root = full_path.split(".")[0]
        if root in _COPY_ROOTS:
            target = _COPY_ROOTS[root] + full_path[len(root) :]
    return full_path, full_path + ".", check, banned, target


def _copy_walk_array(
    array: list[Any], path_text: str, removed: list[str], to_add: list[tuple[str, Any]], ecs: EcsMap
) -> list[Any]:
    # Kibana's walk of an array, over a copy: inner arrays first, then each item, as it does.
    items = [
        _copy_walk_array(value, path_text, removed, to_add, ecs) if isinstance(value, list) else value
        for value in array
    ]
    kept: list[Any] = []
    for value in items:
        if isinstance(value, list):
            if value:
                kept.append(value)
        elif not is_ecs_compliant(value, path_text, ecs):
            removed.append(path_text)
        elif isinstance(value, dict):
            inner = _copy_walk(value, path_text + ".", False, removed, to_add, ecs)
            if inner:
                kept.append(inner)
        else:
            kept.append(value)
    return kept
