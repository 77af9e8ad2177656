"""The few JavaScript and lodash behaviours Kibana's alert builder relies on, in Python.

Kibana builds alerts in TypeScript, and some of its results depend on JavaScript semantics rather
than on any spec: ``Number("0x1f")`` is 31, ``String(1e21)`` is ``"1e+21"``, lodash's ``get`` reads
a dotted key before walking nested objects, and ``===`` compares arrays by identity. These helpers
reproduce exactly those behaviours, so that alert documents (ids, reasons, shared sequence fields)
come out as Kibana writes them.

Values are JSON values as Python decodes them: ``dict``, ``list``, ``str``, ``int``, ``float``,
``bool`` and ``None``. A ``bool`` is never a number here, as in JavaScript.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final


class _Undefined:
    """JavaScript's ``undefined``: a value that is not there (``None`` is JSON's ``null``)."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Final = _Undefined()
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


# The leaves of decoded JSON: a copy shares them (they are immutable), and testing a value's exact
# type against this set costs less than an isinstance test of a union.
_LEAVES: Final = frozenset({str, int, float, bool, type(None)})


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (dicts and lists copied, leaves shared: they are immutable)."""
    if isinstance(value, dict):
        return {k: v if type(v) in _LEAVES else json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [v if type(v) in _LEAVES else json_copy(v) for v in value]
    return value


def is_number(value: Any) -> bool:
    """``typeof value === 'number'``."""
    t = type(value)
    if t is int or t is float:  # decoded JSON: the common case, without isinstance tests
        return True
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_plain_object(value: Any) -> bool:
    """lodash ``isPlainObject`` for decoded JSON: a dict."""
    return isinstance(value, dict)


# ``Number(string)``: optional whitespace around a decimal literal, a 0x/0o/0b integer, or Infinity.
_JS_WHITESPACE = (
    " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\Z")
_RADIX = re.compile(r"0(?:[xX](?P<hex>[0-9a-fA-F]+)|[oO](?P<oct>[0-7]+)|[bB](?P<bin>[01]+))\Z")


def js_number(value: Any) -> float:
    """``Number(value)``: the number JavaScript converts ``value`` to (NaN when it cannot)."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if is_number(value):
        return float(value)
    if value is None:
        return 0.0
    if isinstance(value, str):
        text = value.strip(_JS_WHITESPACE)
        if not text:
            return 0.0
        radix = _RADIX.match(text)
        if radix:
            if radix["hex"]:
                return float(int(radix["hex"], 16))
            if radix["oct"]:
                return float(int(radix["oct"], 8))
            return float(int(radix["bin"], 2))
        if _DECIMAL.match(text):
            if text.lstrip("+-") == "Infinity":
                return -math.inf if text.startswith("-") else math.inf
            return float(text)
        return math.nan
    if isinstance(value, list):
        # Number([x]) is Number(String([x])); an empty array is 0.
        return js_number(js_string(value))
    return math.nan


def js_number_to_string(number: float | int) -> str:
    """``String(number)``: JavaScript's shortest round-trip text of a double."""
    if isinstance(number, int) and abs(number) <= 2**53:
        return str(number)
    number = float(number)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    # repr gives the shortest digits that round-trip, as JavaScript does; only the layout differs.
    _, digit_tuple, exponent = Decimal(repr(abs(number))).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits = stripped
    k = len(digits)
    n = k + exponent  # the value is 0.<digits> times 10**n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    exp = f"e+{e}" if e >= 0 else f"e-{-e}"
    return sign + digits[0] + ("." + digits[1:] if k > 1 else "") + exp


def js_string(value: Any) -> str:
    """``String(value)`` for JSON values (an array joins its elements with commas)."""
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return js_number_to_string(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return js_join(value, ",")
    return "[object Object]"


def js_join(values: Iterable[Any], separator: str) -> str:
    """``Array.prototype.join``: null and undefined elements print as empty strings."""
    return separator.join("" if v is None or v is UNDEFINED else js_string(v) for v in values)


def strict_equals(a: Any, b: Any) -> bool:
    """``a === b``: primitives by type and value (NaN never equal), objects and arrays by identity."""
    t = type(a)
    if t is type(b) and (t is str or t is int or t is float):
        return bool(a == b)  # decoded JSON's common case, without the tests below
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) and is_number(b):
        return bool(a == b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return a is b  # None, UNDEFINED


def same_value_zero(a: Any, b: Any) -> bool:
    """SameValueZero (lodash's equality for ``intersection``): ``===``, except NaN equals NaN."""
    if is_number(a) and is_number(b) and math.isnan(a) and math.isnan(b):
        return True
    return strict_equals(a, b)


def lodash_intersection(a: list[Any], b: list[Any]) -> list[Any]:
    """lodash ``intersection(a, b)``: the unique values of ``a``, in order, that ``b`` holds."""
    if all(type(v) is str for v in a) and all(type(v) is str for v in b):
        # Strings only (SameValueZero is string equality there): sets instead of pairwise tests.
        held = set(b)
        seen: set[str] = set()
        kept = []
        for value in a:
            if value in held and value not in seen:
                seen.add(value)
                kept.append(value)
        return kept
    out: list[Any] = []
    for value in a:
        if any(same_value_zero(value, kept) for kept in out):
            continue
        if any(same_value_zero(value, other) for other in b):
            out.append(value)
    return out


def lodash_get(obj: Any, path: str) -> Any:
    """lodash ``get(obj, path)``: the key ``path`` itself when ``obj`` has it, else the dotted path
    walked through objects (and array indexes); ``UNDEFINED`` when nothing is there."""
    if isinstance(obj, dict) and path in obj:
        return obj[path]
    parts = path.split(".")
    current = obj
    for i, part in enumerate(parts):
        if isinstance(current, dict):
            current = current.get(part, UNDEFINED)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return UNDEFINED
        if current is None:
            # get() stops at null: a null leaf is null, a null part of the way is undefined.
            return None if i == len(parts) - 1 else UNDEFINED
    return current


def robust_get(document: dict[str, Any], key: str) -> Any:
    """Kibana's ``robustGet``: ``key`` read through any mix of dotted keys and nested objects."""
    fast = document.get(key)
    if fast is not None:
        return fast
    parts = key.split(".")
    for i in range(len(parts) - 1):
        value = document.get(".".join(parts[: i + 1]))
        if value is not None:
            if isinstance(value, dict):
                return robust_get(value, ".".join(parts[i + 1 :]))
            return UNDEFINED
    return UNDEFINED


def robust_unset(document: dict[str, Any], key: str) -> None:
    """What Kibana's ``robustSet(key, undefined)`` leaves once serialised: ``key`` gone, whichever
    mix of dotted keys and nested objects holds it."""
    parts = key.split(".")
    for i in range(len(parts) - 1):
        value = document.get(".".join(parts[: i + 1]))
        if isinstance(value, dict):
            robust_unset(value, ".".join(parts[i + 1 :]))
            return
    document.pop(key, None)


def flatten_with_prefix(prefix: str, value: Any) -> dict[str, Any]:
    """``flattenWithPrefix``: nested objects under ``prefix`` as dotted keys (arrays are leaves)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(flatten_with_prefix(f"{prefix}.{key}", inner))
        return out
    return {prefix: value}


def iso_millis(moment: datetime) -> str:
    """``Date.prototype.toISOString``: UTC, millisecond precision, ``Z`` (a naive time is UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return iso_from_epoch_millis(delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000)


def iso_from_epoch_millis(millis: int) -> str:
    """``new Date(millis).toISOString()`` (six-digit signed years outside 0000-9999)."""
    days, ms_of_day = divmod(millis, 86_400_000)
    year, month, day = _civil_from_days(days)
    hours, rest = divmod(ms_of_day, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, ms = divmod(rest, 1000)
    year_text = f"{year:04d}" if 0 <= year <= 9999 else f"{'-' if year < 0 else '+'}{abs(year):06d}"
    return f"{year_text}-{month:02d}-{day:02d}T{hours:02d}:{minutes:02d}:{seconds:02d}.{ms:03d}Z"


def _civil_from_days(z: int) -> tuple[int, int, int]:
    # Howard Hinnant's days-to-civil, valid for every proleptic Gregorian date.
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


# --------------------------------------------------------------------------- shared sequence fields


def _flatten_with_notation(obj: dict[str, Any]) -> tuple[list[tuple[list[str], Any]], set[str]]:
    """Leaf paths and values of ``obj`` (dotted keys split), and the paths whose last key was
    dotted. The walk order is Kibana's (a stack), which decides which of two spellings of one path
    wins when a document has both."""
    path_values: list[tuple[list[str], Any]] = []
    dot_paths: set[str] = set()
    stack: list[tuple[dict[str, Any], list[str]]] = [(obj, [])]
    while stack:
        current, prefix = stack.pop()
        for key, value in current.items():
            path = prefix + key.split(".")
            if isinstance(value, dict):
                stack.append((value, path))
            else:
                path_values.append((path, value))
                if "." in key:
                    dot_paths.add(".".join(path))
    return path_values, dot_paths


def _set_path(target: dict[str, Any], path: list[str], value: Any) -> None:
    # lodash setWith: missing or primitive steps become objects; a property set on an array is
    # lost when serialised, so it is dropped here.
    for part in path[:-1]:
        nxt = target.get(part)
        if isinstance(nxt, list):
            return
        if not isinstance(nxt, dict):
            nxt = target[part] = {}
        target = nxt
    target[path[-1]] = value


def _unflatten(path_values: list[tuple[list[str], Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in path_values:
        _set_path(out, path, value)
    return out


def _defined(value: Any) -> bool:
    return value is not UNDEFINED


def _prune(obj: dict[str, Any]) -> None:
    for key in list(obj):
        value = obj[key]
        if isinstance(value, dict):
            _prune(value)
            if not value or not any(_defined(v) for v in value.values()):
                del obj[key]


def object_pair_intersection(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    """Kibana's ``objectPairIntersection``: the fields two alert documents share.

    Dotted keys and nested objects name the same field. Objects intersect field by field; equal
    primitives are kept; where either side is an array the result is the lodash intersection of
    the two (as arrays; objects inside arrays never match, being distinct instances); anything
    else is dropped. Objects left empty disappear; the result is None when nothing is shared. A
    path is written dotted when both inputs wrote it dotted, nested otherwise."""
    if a is None or b is None:
        return None
    a_nested, a_dots = _renest(a)
    b_nested, b_dots = _renest(b)
    result: dict[str, Any] = {}
    stack: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = [(result, a_nested, b_nested)]
    while stack:
        target, a_obj, b_obj = stack.pop()
        for key, a_val in a_obj.items():
            if key not in b_obj:
                continue
            b_val = b_obj[key]
            if isinstance(a_val, dict) and isinstance(b_val, dict):
                inner: dict[str, Any] = {}
                target[key] = inner
                stack.append((inner, a_val, b_val))
            elif strict_equals(a_val, b_val):
                target[key] = a_val
            elif isinstance(a_val, list) or isinstance(b_val, list):
                target[key] = lodash_intersection(
                    a_val if isinstance(a_val, list) else [a_val],
                    b_val if isinstance(b_val, list) else [b_val],
                )
    _prune(result)
    if not any(_defined(v) for v in result.values()):
        return None
    return _renest(result, a_dots & b_dots)[0]


def _renest(obj: dict[str, Any], dotted: set[str] | None = None) -> tuple[dict[str, Any], set[str]]:
    """``_unflatten(_flatten_with_notation(obj)[0])`` and the dotted paths, in one walk: the
    same stack, the same values set in the same order, but the object each value goes into
    found once per path prefix rather than from the root for every value. A path of ``dotted``
    is written as one dotted key at the top instead (the write-back of
    :func:`object_pair_intersection`).

    A prefix's object stays the one :func:`_set_path` would reach until a value replaces an
    object or an array (which may lie on some prefix's way): the places found are then
    forgotten."""
    out: dict[str, Any] = {}
    dot_paths: set[str] = set()
    places: dict[tuple[str, ...], dict[str, Any] | None] = {}
    stack: list[tuple[dict[str, Any], tuple[str, ...]]] = [(obj, ())]
    while stack:
        current, prefix = stack.pop()
        # The object at ``prefix`` (found on the first plain key): values written while this
        # object's keys are read all lie below ``prefix``, so it is never replaced meanwhile.
        here: Any = _UNPLACED
        base = ".".join(prefix) + "." if dotted and prefix else ""
        for key, value in current.items():
            if "." in key:
                if prefix:
                    parts = key.split(".")
                    if isinstance(value, dict):
                        stack.append((value, (*prefix, *parts)))
                        continue
                    where: tuple[str, ...] = (*prefix, *parts[:-1])
                    last = parts[-1]
                    text = ".".join(where) + "." + last if where else last
                else:
                    # A dotted key at the top (an alert's kibana.alert.* fields): the same keys
                    # in every document, split once.
                    split = _TOP_KEYS.get(key)
                    if split is None:
                        split = _top_key(key)
                    if isinstance(value, dict):
                        stack.append((value, split[0]))
                        continue
                    _parts, where, last = split
                    text = key
                dot_paths.add(text)
                if dotted and text in dotted:
                    out[text] = value
                    continue
                target = places.get(where, _UNPLACED)
                if target is _UNPLACED:
                    target = places[where] = _place(out, where)
            elif type(value) is dict or isinstance(value, dict):
                stack.append((value, (*prefix, key)))
                continue
            else:
                last = key
                if dotted and (base + key if base else key) in dotted:
                    out[base + key if base else key] = value
                    continue
                if here is _UNPLACED:
                    here = places.get(prefix, _UNPLACED)
                    if here is _UNPLACED:
                        here = places[prefix] = _place(out, prefix)
                target = here
            if target is None:
                continue  # an array on the way: the value is lost
            old = target.get(last)
            if old is not None and isinstance(old, dict | list):
                places.clear()
            target[last] = value
    return out, dot_paths


_UNPLACED: Any = object()
# A dotted top-level key -> (its parts, all but the last, the last); bounded.
_TOP_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {}


def _top_key(key: str) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    parts = tuple(key.split("."))
    found = (parts, parts[:-1], parts[-1])
    if len(_TOP_KEYS) < 10_000:
        _TOP_KEYS[key] = found
    return found


def _place(out: dict[str, Any], prefix: tuple[str, ...]) -> dict[str, Any] | None:
    """The object at ``prefix`` in ``out``, made as :func:`_set_path` makes it; None when an
    array is on the way (values set there are lost)."""
    target = out
    for part in prefix:
        nxt = target.get(part)
        if isinstance(nxt, list):
            return None
        if not isinstance(nxt, dict):
            nxt = target[part] = {}
        target = nxt
    return target


def object_array_intersection(objects: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Kibana's ``objectArrayIntersection``: the fields all the documents share (the first
    document itself when there is only one)."""
    if not objects:
        return None
    result: dict[str, Any] | None = objects[0]
    for other in objects[1:]:
        result = object_pair_intersection(result, other)
    return result
