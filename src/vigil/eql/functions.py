"""Elasticsearch EQL's functions, on already-evaluated scalar values.

Each function follows its Elasticsearch processor (the Java code that runs when the function is
evaluated in a script) so the answers match bit for bit:

* Strings are Java strings: lengths and positions count UTF-16 code units, ``~`` variants compare
  ``toLowerCase(Locale.ROOT)`` forms (full Unicode lowercasing, ``str.lower``).
* Numbers are Java ``Integer``/``Long``/``Double``: integer ``/`` truncates toward zero, ``%`` takes
  the dividend's sign, overflow of ``+ - *`` and integer division by zero are errors (Java's
  ``ArithmeticException``), floating division by zero gives infinities or NaN.
* ``string()``/``concat()`` print numbers as Java does (``1.0``, ``1.0E20``, ``true``).
* Null handling is per function, not uniform: most return null for a null argument, but
  ``between``, ``stringContains`` and ``cidrMatch`` fail on a null second argument (an open
  Elasticsearch bug, elastic/elasticsearch#155300) and ``substring``/``indexOf`` treat a null
  position as absent.

Where Elasticsearch throws at run time, :class:`EqlFunctionError` is raised: in Elasticsearch the
exception fails the search on that shard (the query returns partial or no results).

Some calls never reach these processors: Elasticsearch translates ``cidrMatch(field, ...)``,
``stringContains(field, "x")``, ``endsWith(field, "x")`` and ``startsWith(field, "x")`` to index
queries with slightly different semantics; :func:`pushdown_matcher` gives those.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from vigil.ecs.values import (
    ip_sort_key,
    java_double_to_string,
    java_parse_double,
    java_parse_long,
    java_string,
    parse_cidr,
    parse_ip,
)
from vigil.eql.patterns import Matcher, ascii_fold, lucene_wildcard_matcher
from vigil.errors import DataError, EqlSemanticError

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


class EqlFunctionError(DataError):
    """A function failed at run time where Elasticsearch's would throw (a shard failure there)."""


class _Missing:
    """Marks an argument that is not a literal in :func:`check_literal_args`."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

# --------------------------------------------------------------------------- Java helpers


def _type_error(what: str, value: Any) -> EqlFunctionError:
    return EqlFunctionError(f"A {what} is required; received [{java_string(value)}]")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _require_string(value: Any) -> str:
    if not isinstance(value, str):
        raise _type_error("string/char", value)
    return value


def _int_value(value: Any) -> int:
    """``Number.intValue()``: longs wrap to 32 bits, doubles truncate and saturate (NaN is 0)."""
    if isinstance(value, float):
        if value != value:
            return 0
        return max(INT_MIN, min(INT_MAX, int(value))) if math.isfinite(value) else (
            INT_MAX if value > 0 else INT_MIN)  # fmt: skip
    return (value - INT_MIN) % 2**32 + INT_MIN


def _has_astral(text: str) -> bool:
    return not text.isascii() and max(text) > "\uffff"


def _utf16(text: str) -> str:
    """One code point per UTF-16 code unit, so indices and lengths are Java's."""
    if not _has_astral(text):
        return text
    out = []
    for ch in text:
        cp = ord(ch)
        if cp > 0xFFFF:
            cp -= 0x10000
            out += [chr(0xD800 + (cp >> 10)), chr(0xDC00 + (cp & 0x3FF))]
        else:
            out.append(ch)
    return "".join(out)


def _from_utf16(text: str) -> str:
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def java_length(text: str) -> int:
    """``String.length()``: UTF-16 code units (a character outside the BMP counts 2)."""
    return len(text) if text.isascii() else len(text) + sum(1 for c in text if c > "\uffff")


# --------------------------------------------------------------------------- arithmetic


def _wrap(value: int, bits: int) -> int:
    half = 1 << (bits - 1)
    return (value + half) % (1 << bits) - half


def _exact(value: int, int32: bool) -> int:
    lo, hi = (INT_MIN, INT_MAX) if int32 else (LONG_MIN, LONG_MAX)
    if not lo <= value <= hi:
        raise EqlFunctionError("integer overflow" if int32 else "long overflow")
    return value


def _float_div(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or a != a:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _float_mod(a: float, b: float) -> float:
    if b == 0 or a != a or b != b or math.isinf(a):
        return math.nan
    return a if math.isinf(b) else math.fmod(a, b)


def arithmetic(op: str, left: Any, right: Any, *, int32: bool = False) -> int | float | None:
    """``left op right`` for ``+ - * / %`` with Java's numeric promotion (QL ``Arithmetics``).

    Integers stay integers: 64-bit longs, or 32-bit ints when ``int32`` says both operands are
    Elasticsearch ``integer``s (literals that fit 32 bits, ``length()``/``indexOf()`` results,
    ``integer`` fields). Null in, null out. Raises EqlFunctionError on overflow, integer division
    by zero and non-numbers.
    """
    if left is None or right is None:
        return None
    for value in (left, right):
        if not _is_number(value):
            raise EqlFunctionError(f"A number is required; received {java_string(value)}")
    if isinstance(left, float) or isinstance(right, float):
        a, b = float(left), float(right)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        return _float_div(a, b) if op == "/" else _float_mod(a, b)
    if op == "+":
        return _exact(left + right, int32)
    if op == "-":
        return _exact(left - right, int32)
    if op == "*":
        return _exact(left * right, int32)
    if right == 0:
        raise EqlFunctionError("/ by zero")
    if op == "/":
        quotient = abs(left) // abs(right)
        return _wrap(quotient if (left < 0) == (right < 0) else -quotient, 32 if int32 else 64)
    remainder = abs(left) % abs(right)
    return -remainder if left < 0 else remainder


def negate(value: Any, *, int32: bool = False) -> int | float | None:
    """Unary minus as QL does it (``Math.negateExact``; negating ``Double.MIN_VALUE`` is an error)."""
    if value is None:
        return None
    if not _is_number(value):
        raise EqlFunctionError(f"A number is required; received {java_string(value)}")
    if isinstance(value, float):
        if value == 5e-324:
            raise EqlFunctionError("double overflow")
        return -value
    return _exact(-value, int32)


# --------------------------------------------------------------------------- string functions


def _between(args: Sequence[Any], insensitive: bool) -> str | None:
    source, left, right = args[0], args[1], args[2]
    greedy = args[3] if len(args) > 3 else False
    if source is None:
        return None
    source, left, right = _require_string(source), _require_string(left), _require_string(right)
    if not isinstance(greedy, bool):
        raise _type_error("boolean", greedy)
    if not source or not left or not right:
        return source
    match = source.lower() if insensitive else source
    if insensitive:
        left, right = left.lower(), right.lower()
    original, match, left, right = _utf16(source), _utf16(match), _utf16(left), _utf16(right)
    idx = match.find(left)
    if idx < 0:
        return ""
    start = idx + len(left)
    end = match.rfind(right) if greedy else match.find(right, start)
    if end < 0:
        return ""
    if end < start or end > len(original):
        # Java's String.substring throws; in Elasticsearch the query fails
        raise EqlFunctionError(f"begin {start}, end {end}, length {len(original)}")
    return _from_utf16(original[start:end])


@lru_cache(maxsize=1024)
def _cidr_ranges(cidrs: tuple[str, ...]) -> tuple[tuple[bytes, bytes], ...]:
    try:
        return tuple(parse_cidr(c) for c in cidrs)
    except ValueError as exc:
        raise EqlFunctionError(str(exc)) from None


def cidr_contains(address: str, cidrs: Sequence[str]) -> bool:
    """True when ``address`` is in one of the CIDR blocks (or equals one of the addresses).

    An IPv4 address matches an IPv6 block through its IPv4-mapped form (``::ffff:a.b.c.d``).
    Raises EqlFunctionError for an unparseable address or block.
    """
    ip = parse_ip(address)
    if ip is None:
        raise EqlFunctionError(f"'{address}' is not an IP string literal.")
    key = ip_sort_key(ip)
    return any(low <= key <= high for low, high in _cidr_ranges(tuple(cidrs)))


def _cidr_match(args: Sequence[Any], insensitive: bool) -> bool | None:
    if args[0] is None:
        return None
    address = _require_string(args[0])
    return cidr_contains(address, [_require_string(a) for a in args[1:]])


def _concat(args: Sequence[Any], insensitive: bool) -> str | None:
    if any(a is None for a in args):
        return None
    return "".join(java_string(a) for a in args)


def _affix(args: Sequence[Any], insensitive: bool, method: Callable[[str, str], bool]) -> bool | None:
    if args[0] is None:
        return None
    source = _require_string(args[0])
    if args[1] is None:
        return None
    pattern = _require_string(args[1])
    if insensitive:
        source, pattern = source.lower(), pattern.lower()
    return method(source, pattern)


def _index_of(args: Sequence[Any], insensitive: bool) -> int | None:
    start = args[2] if len(args) > 2 else None
    if args[0] is None:
        return None
    source = _require_string(args[0])
    if args[1] is None:
        return None
    sub = _require_string(args[1])
    if start is not None and not _is_number(start):
        raise _type_error("number", start)
    from_index = 0 if start is None else _int_value(start)
    if insensitive:
        source, sub = source.lower(), sub.lower()
    source, sub = _utf16(source), _utf16(sub)
    if from_index >= len(source):
        return len(source) if not sub else None
    found = source.find(sub, max(from_index, 0))
    return None if found < 0 else found


def _length(args: Sequence[Any], insensitive: bool) -> int | None:
    return None if args[0] is None else java_length(_require_string(args[0]))


def _number(args: Sequence[Any], insensitive: bool) -> int | float | None:
    value = args[0]
    base = args[1] if len(args) > 1 else None
    if value is None:
        return None
    value = _require_string(value)
    hex_prefix = value.startswith("0x")
    if base is None:
        radix = 16 if hex_prefix else 10
    elif isinstance(base, bool) or not isinstance(base, int) or not INT_MIN <= base <= INT_MAX:
        raise EqlFunctionError(f"An integer base is required; received [{java_string(base)}]")
    else:
        radix = base
    if hex_prefix and radix == 16:
        value = value[2:]
    if radix == 10:
        result: int | float | None = java_parse_long(value)
        if result is None:
            result = java_parse_double(value)
    else:
        result = java_parse_long(value, radix)
    if result is None:
        raise EqlFunctionError(f"Unable to convert [{value}] to number of base [{radix}]")
    return result


def _string(args: Sequence[Any], insensitive: bool) -> str | None:
    return None if args[0] is None else java_string(args[0])


def _string_contains(args: Sequence[Any], insensitive: bool) -> bool | None:
    if args[0] is None:
        return None
    string, substring = _require_string(args[0]), _require_string(args[1])
    if not string or not substring:
        return False
    if insensitive:
        string, substring = string.lower(), substring.lower()
    return substring in string


def _substring(args: Sequence[Any], insensitive: bool) -> str | None:
    start, end = args[1], args[2] if len(args) > 2 else None
    if args[0] is None:
        return None
    source = _require_string(args[0])
    if start is None:
        return source
    if not _is_number(start):
        raise _type_error("number", start)
    if end is not None and not _is_number(end):
        raise _type_error("number", end)
    text = _utf16(source)
    if not text:
        return source
    length = len(text)
    lo = _int_value(start)
    hi = length if end is None else _int_value(end)
    lo = max(lo + length if lo < 0 else lo, 0)
    hi = min(max(hi + length if hi < 0 else hi, 0), length)
    return "" if lo >= hi else _from_utf16(text[lo:hi])


def _binary(op: str) -> Callable[[Sequence[Any], bool], Any]:
    return lambda args, insensitive: arithmetic(op, args[0], args[1])


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class FunctionSpec:
    """One EQL function: arity, typing as Elasticsearch's verifier sees it, and implementation.

    ``param_kinds`` gives each parameter's accepted type (``string``, ``numeric``, ``integer``,
    ``ip``, ``boolean`` or ``any``); a variadic function repeats the last kind. Parameters from
    ``constant_from`` on must be constants (cidrMatch's blocks). ``impl(args, insensitive)`` takes
    the evaluated arguments (only the ones written) and returns the result.
    """

    name: str
    min_args: int
    max_args: int | None
    has_insensitive: bool
    param_kinds: tuple[str, ...]
    impl: Callable[[Sequence[Any], bool], Any] = field(compare=False)
    result_type: str = "keyword"
    arity_message: str = ""
    constant_from: int | None = None

    def kind_of(self, index: int) -> str:
        """The accepted type of parameter ``index`` (0-based)."""
        return self.param_kinds[min(index, len(self.param_kinds) - 1)]


def _spec(name: str, arity: tuple[int, int | None], kinds: str, impl: Callable[[Sequence[Any], bool], Any],
          result: str, message: str, *, insensitive: bool = False, constant_from: int | None = None
          ) -> FunctionSpec:  # fmt: skip
    return FunctionSpec(name, arity[0], arity[1], insensitive, tuple(kinds.split()), impl, result, message,
                        constant_from)  # fmt: skip


_TWO = "expects exactly two arguments"
FUNCTIONS: dict[str, FunctionSpec] = {
    s.name: s
    for s in (
        _spec("add", (2, 2), "numeric numeric", _binary("+"), "numeric", _TWO),
        _spec("between", (3, 4), "string string string boolean", _between, "keyword",
              "expects three or four arguments", insensitive=True),
        _spec("cidrMatch", (2, None), "ip string", _cidr_match, "boolean", "expects at least two arguments",
              constant_from=1),
        _spec("concat", (0, None), "any", _concat, "keyword", ""),
        _spec("divide", (2, 2), "numeric numeric", _binary("/"), "numeric", _TWO),
        _spec("endsWith", (2, 2), "string string", lambda a, i: _affix(a, i, str.endswith), "boolean", _TWO,
              insensitive=True),
        _spec("indexOf", (2, 3), "string string integer", _index_of, "integer",
              "expects two or three arguments", insensitive=True),
        _spec("length", (1, 1), "string", _length, "integer", "expects exactly one argument"),
        _spec("modulo", (2, 2), "numeric numeric", _binary("%"), "numeric", _TWO),
        _spec("multiply", (2, 2), "numeric numeric", _binary("*"), "numeric", _TWO),
        _spec("number", (1, 2), "string integer", _number, "numeric", "expects one or two arguments"),
        _spec("startsWith", (2, 2), "string string", lambda a, i: _affix(a, i, str.startswith), "boolean",
              _TWO, insensitive=True),
        _spec("string", (1, 1), "any", _string, "keyword", "expects exactly one argument"),
        _spec("stringContains", (2, 2), "string string", _string_contains, "boolean", _TWO, insensitive=True),
        _spec("substring", (2, 3), "string integer integer", _substring, "keyword",
              "expects two or three arguments"),
        _spec("subtract", (2, 2), "numeric numeric", _binary("-"), "numeric", _TWO),
    )
}  # fmt: skip
_BY_LOWER = {name.lower(): spec for name, spec in FUNCTIONS.items()}


def lookup_function(name: str) -> FunctionSpec | None:
    """The function called ``name``; Elasticsearch matches function names case-insensitively."""
    return _BY_LOWER.get(name.lower())


def call(name: str, args: Sequence[Any], insensitive: bool = False) -> Any:
    """Evaluate function ``name`` on ``args`` (convenience for tests and constant folding)."""
    spec = lookup_function(name)
    if spec is None:
        raise EqlSemanticError(f"Unknown function [{name}]")
    return spec.impl(args, insensitive)


# --------------------------------------------------------------------------- verification

_STRING_TYPES = {"keyword", "text", "wildcard", "constant_keyword", "match_only_text"}
_INTEGER_TYPES = {"byte", "short", "integer", "long", "unsigned_long"}
_NUMERIC_TYPES = _INTEGER_TYPES | {"double", "float", "half_float", "scaled_float"}
_ACCEPTS = {"string": _STRING_TYPES, "integer": _INTEGER_TYPES, "numeric": _NUMERIC_TYPES,
            "ip": {"ip"}, "boolean": {"boolean"}}  # fmt: skip
_ORDINALS = ("first ", "second ", "third ", "fourth ", "fifth ")


def literal_type(value: Any) -> str:
    """The Elasticsearch data type of an EQL literal: keyword, integer, long, double, boolean, null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer" if INT_MIN <= value <= INT_MAX else "long"
    if isinstance(value, float):
        return "double"
    return "keyword"


def _literal_text(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else java_string(value)


def check_arity(spec: FunctionSpec, count: int) -> None:
    """Raise EqlSemanticError (Elasticsearch's wording) when ``count`` arguments do not fit."""
    if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
        raise EqlSemanticError(f"error building [{spec.name.lower()}]: {spec.arity_message}")


def check_literal_args(
    spec: FunctionSpec,
    args: Sequence[Any],
    *,
    source_text: str | None = None,
    arg_texts: Sequence[str] | None = None,
    arg_types: Sequence[str | None] | None = None,
) -> None:
    """Reject a call the way Elasticsearch's verifier would.

    ``args`` holds each argument's literal value, or :data:`MISSING` when it is not a literal.
    ``arg_types`` may give the Elasticsearch type of non-literal arguments (field types) so they are
    checked too; ``source_text``/``arg_texts`` are the call's and arguments' text for the message,
    e.g. ``first argument of [length(1)] must be [string], found value [1] type [integer]``.
    Also checks that cidrMatch's blocks are constants and valid CIDR notation.
    """
    check_arity(spec, len(args))
    texts = list(arg_texts) if arg_texts is not None else [
        "?" if a is MISSING else _literal_text(a) for a in args]  # fmt: skip
    call_text = source_text or f"{spec.name}({', '.join(texts)})"
    for index, value in enumerate(args):
        ordinal = _ORDINALS[index] if index < len(_ORDINALS) else ""
        if spec.constant_from is not None and index >= spec.constant_from and value is MISSING:
            raise EqlSemanticError(
                f"{ordinal}argument of [{call_text}] must be a constant, received [{texts[index]}]"
            )
        if value is MISSING:
            found = arg_types[index] if arg_types is not None and index < len(arg_types) else None
        else:
            found = literal_type(value)
        kind = spec.kind_of(index)
        if found is None or found == "null" or kind == "any" or found in _ACCEPTS[kind]:
            continue
        raise EqlSemanticError(
            f"{ordinal}argument of [{call_text}] must be [{kind}], "
            f"found value [{texts[index]}] type [{found}]"
        )
    if spec.name == "cidrMatch":
        for value in args[1:]:
            if isinstance(value, str):
                try:
                    parse_cidr(value)
                except ValueError as exc:
                    raise EqlSemanticError(str(exc)) from None


# --------------------------------------------------------------------------- query pushdown


def pushdown_matcher(name: str, constant: str, insensitive: bool) -> Matcher | None:
    """The predicate Elasticsearch really applies to ``name(field, "constant")`` when it turns the
    call into an index query instead of running the function; None when it does not.

    * ``stringContains``/``endsWith``: a Lucene wildcard query ``*constant*`` / ``*constant``
      built from the raw constant, so ``*`` and ``?`` in it are wildcards and ``\\`` escapes the
      next character; ``~`` folds ASCII case only.
    * ``startsWith``: a prefix query; ``~`` folds ASCII case only.

    The query matches a document when any of the field's values matches, and never when the field
    is missing (where the function would give null); the caller applies it per value.
    """
    spec = lookup_function(name)
    if spec is None:
        return None
    if spec.name == "stringContains":
        return lucene_wildcard_matcher([f"*{constant}*"], insensitive)
    if spec.name == "endsWith":
        return lucene_wildcard_matcher([f"*{constant}"], insensitive)
    if spec.name == "startsWith":
        if insensitive:
            folded = ascii_fold(constant)
            return lambda value: ascii_fold(value).startswith(folded)
        return lambda value: value.startswith(constant)
    return None


__all__ = [
    "FUNCTIONS",
    "MISSING",
    "EqlFunctionError",
    "FunctionSpec",
    "arithmetic",
    "call",
    "check_arity",
    "check_literal_args",
    "cidr_contains",
    "java_double_to_string",
    "java_length",
    "literal_type",
    "lookup_function",
    "negate",
    "pushdown_matcher",
]
