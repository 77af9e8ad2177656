"""A rule's ``filters``, compiled to a predicate over an event document.

Kibana adds a rule's filters to the rule's search as query DSL. Each filter is a Kibana filter
object ``{"meta": {...}, "query": {...}}`` (older ones put the query beside ``meta``: ``{"meta":
..., "exists": {...}}``) or bare query DSL. A filter with ``meta.disabled`` is ignored; one with
``meta.negate`` must *not* match. Every other filter must match.

Supported queries: ``bool`` (``must``, ``filter``, ``should`` with ``minimum_should_match``,
``must_not``), ``term``, ``terms``, ``match``, ``match_phrase``, ``exists``, ``range``,
``wildcard``, ``prefix``, ``regexp``, ``match_all``, ``match_none`` and ``constant_score``.
Others (``query_string``, ``nested``, ``script``...) raise :class:`UnsupportedFilterError`.

How values compare follows the field's type in the ECS schema (:mod:`vigil.ecs.ecs_schema`):

* Numbers (``destination.port``) compare as numbers: ``445``, ``"445"`` and ``445.0`` are equal.
* IPs compare as addresses. A ``term`` on an IP field may be a CIDR block (``10.0.0.0/8``).
* Dates compare as instants. Bounds may be date math (``now-1d/d``, Elasticsearch's dialect); a
  ``term`` on a date covers the unit it names (``2024-01-01`` is that whole day).
* Other fields are **keywords**, as ECS strings are. ``term`` is exact, and ``match`` and
  ``match_phrase`` are exact too: a keyword field's analyser keeps the whole value as one token.
  vigil does not emulate analysed ``text`` fields.
* A field the schema does not know is typed from each JSON value (numbers as numbers, booleans
  as booleans, strings as keywords, or as dates in a date ``range``), as dynamic mapping would.

A multi-valued field matches when any of its values matches. A missing field or a JSON null
matches nothing, except under ``must_not`` and ``negate``, which turn that into a match.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from vigil.ecs.ecs_schema import ecs_schema
from vigil.ecs.fields import MISSING, make_getter
from vigil.ecs.schema import FieldType
from vigil.ecs.values import (
    date_field_value,
    ip_sort_key,
    parse_cidr,
    parse_ip,
    to_bool,
    to_double,
    to_keyword,
    to_long,
)
from vigil.eql.patterns import ascii_fold, lucene_regex_matcher, lucene_wildcard_matcher
from vigil.errors import RuleError, VigilError
from vigil.rules.datemath import parse_date_math

Predicate = Callable[[Any], bool]
ValueTest = Callable[[Any], bool]

_IGNORED_PARAMS = frozenset({"boost", "_name"})


class UnsupportedFilterError(RuleError):
    """A valid query DSL construct that vigil does not evaluate (yet)."""


def _always(_: Any) -> bool:
    return True


def _never(_: Any) -> bool:
    return False


def field_type(field: str) -> FieldType:
    """The type the ECS schema gives ``field`` (``UNKNOWN`` when it does not list it)."""
    spec = ecs_schema().spec(field)
    return spec.type if spec is not None else FieldType.UNKNOWN


# --------------------------------------------------------------------------- field access


def any_value(field: str, test: ValueTest, *, path: str | None = None) -> Predicate:
    """A document predicate: some non-null value of ``field`` passes ``test``. ``path`` reads
    the values from another (relative) path than ``field``, for nested exception entries."""
    get = make_getter(path if path is not None else field)

    def pred(doc: Any) -> bool:
        v = get(doc)
        if v is MISSING or v is None:
            return False
        if type(v) is list:
            return any(x is not None and test(x) for x in v)
        return test(v)

    return pred


def _has_leaf(value: Any) -> bool:
    if value is None or value is MISSING:
        return False
    if isinstance(value, list):
        return any(_has_leaf(v) for v in value)
    if isinstance(value, dict):
        return any(_has_leaf(v) for v in value.values())
    return True


def exists_predicate(field: str, *, path: str | None = None) -> Predicate:
    """Elasticsearch's ``exists``: the field holds at least one non-null value (an object field
    exists when some field under it does)."""
    get = make_getter(path if path is not None else field)
    return lambda doc: _has_leaf(get(doc))


# --------------------------------------------------------------------------- equality


def _number(field: str, value: Any, what: str) -> float:
    number = to_double(value) if not isinstance(value, bool) else None
    if number is None:
        raise RuleError(f"{what} on the number field {field!r}: {value!r} is not a number")
    return number


def equals_test(
    field: str, value: Any, *, case_insensitive: bool = False, now: datetime | None = None
) -> ValueTest:
    """A value test: one field value equals ``value`` as a ``term`` query on ``field`` decides."""
    if isinstance(value, dict | list) or value is None:
        raise RuleError(f"term on {field!r}: expected a single value, got {value!r}")
    ftype = field_type(field)
    if ftype is FieldType.LONG:
        target = _number(field, value, "term")
        if not target.is_integer():
            return _never  # a long field holds no fractional value
        whole = int(target)
        return lambda v: to_long(v) == whole
    if ftype is FieldType.DOUBLE:
        target = _number(field, value, "term")
        return lambda v: to_double(v) == target
    if ftype is FieldType.IP:
        try:
            low, high = parse_cidr(str(value))
        except ValueError as exc:
            raise RuleError(f"term on the ip field {field!r}: {exc}") from None

        def ip_test(v: Any) -> bool:
            addr = parse_ip(v)
            return addr is not None and low <= ip_sort_key(addr) <= high

        return ip_test
    if ftype in (FieldType.DATE, FieldType.DATE_NANOS):
        low_ns, high_ns = _date_span(field, value, now)
        return lambda v: (d := date_field_value(v)) is not None and low_ns <= d <= high_ns
    if ftype is FieldType.BOOLEAN:
        wanted = to_bool(value)
        if wanted is None:
            raise RuleError(f"term on the boolean field {field!r}: {value!r} is not true or false")
        return lambda v: to_bool(v) == wanted
    text = to_keyword(value)
    assert text is not None
    if case_insensitive:
        folded = ascii_fold(text)
        keyword_test: ValueTest = lambda v: (k := to_keyword(v)) is not None and ascii_fold(k) == folded  # noqa: E731
    else:
        keyword_test = lambda v: to_keyword(v) == text  # noqa: E731
    if ftype is not FieldType.UNKNOWN:
        return keyword_test
    number = to_double(value) if not isinstance(value, bool) else None
    flag = to_bool(value)

    def dynamic(v: Any) -> bool:
        if isinstance(v, bool):
            return flag is not None and v == flag
        if isinstance(v, int | float):
            return number is not None and v == number
        return keyword_test(v)

    return dynamic


def _date_span(field: str, value: Any, now: datetime | None) -> tuple[int, int]:
    """The [first, last] epoch nanoseconds a date ``term`` covers (a whole day for 2024-01-01)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        ms = int(value)
        return ms * 1_000_000, ms * 1_000_000
    try:
        math = parse_date_math(str(value), dialect="elasticsearch")
    except RuleError as exc:
        raise RuleError(f"date on {field!r}: {exc.message}", hint=exc.hint) from None
    clock = now or datetime.now(UTC)
    low = math.resolve(clock)
    high = math.resolve(clock, round_up=True)
    return _nanos(low), _nanos(high)


def _nanos(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


# --------------------------------------------------------------------------- patterns


def wildcard_test(pattern: str, *, case_insensitive: bool = False) -> ValueTest:
    """A value test for a Lucene ``wildcard`` pattern (``*``, ``?``, ``\\`` escapes), full match."""
    match = lucene_wildcard_matcher([pattern], case_insensitive)
    return lambda v: (k := to_keyword(v)) is not None and match(k)


def _prefix_test(prefix: str, case_insensitive: bool) -> ValueTest:
    if case_insensitive:
        folded = ascii_fold(prefix)
        return lambda v: (k := to_keyword(v)) is not None and ascii_fold(k).startswith(folded)
    return lambda v: (k := to_keyword(v)) is not None and k.startswith(prefix)


def _regexp_test(field: str, pattern: str, case_insensitive: bool) -> ValueTest:
    try:
        match = lucene_regex_matcher([pattern], case_insensitive)
    except VigilError as exc:
        raise RuleError(f"regexp on {field!r}: {exc.message}") from None
    return lambda v: (k := to_keyword(v)) is not None and match(k)


# --------------------------------------------------------------------------- range


def _range_test(field: str, params: Mapping[str, Any], now: datetime | None) -> ValueTest:
    bounds: dict[str, Any] = {}
    for key in ("gt", "gte", "lt", "lte"):
        if params.get(key) is not None:
            bounds[key] = params[key]
    # The legacy form: from/to with include_lower/include_upper (both default true).
    if params.get("from") is not None:
        bounds["gte" if params.get("include_lower", True) else "gt"] = params["from"]
    if params.get("to") is not None:
        bounds["lte" if params.get("include_upper", True) else "lt"] = params["to"]
    unknown = set(params) - {"gt", "gte", "lt", "lte", "from", "to", "include_lower", "include_upper",
                             "format", "time_zone", "relation", "boost", "_name"}  # fmt: skip
    if unknown:
        raise RuleError(f"range on {field!r}: unknown parameter {sorted(unknown)[0]!r}")
    zone = params.get("time_zone")
    if zone not in (None, "UTC", "Z", "+00:00", "Etc/UTC", "GMT"):
        raise UnsupportedFilterError(f"range on {field!r}: time_zone {zone!r} is not supported (only UTC)")
    fmt = params.get("format")
    formats: tuple[str, ...] = tuple(str(fmt).split("||")) if fmt else ()
    ftype = field_type(field)
    if ftype in (FieldType.LONG, FieldType.DOUBLE):
        numbers = {k: _number(field, v, "range") for k, v in bounds.items()}
        read: Callable[[Any], Any] = to_long if ftype is FieldType.LONG else to_double
        return _compare(numbers, read)
    if ftype is FieldType.IP:
        keys = {}
        for k, v in bounds.items():
            addr = parse_ip(v)
            if addr is None:
                raise RuleError(f"range on the ip field {field!r}: {v!r} is not an IP address")
            keys[k] = ip_sort_key(addr)
        return _compare(keys, lambda v: None if (a := parse_ip(v)) is None else ip_sort_key(a))
    if ftype in (FieldType.DATE, FieldType.DATE_NANOS):
        return _compare(_date_bounds(field, bounds, formats, now), date_field_value)
    if ftype is not FieldType.UNKNOWN:
        texts = {k: to_keyword(v) for k, v in bounds.items()}
        return _compare(texts, to_keyword)
    # Unmapped: numbers compare as numbers; strings as dates when both sides read as dates
    # (dynamic mapping's date detection), else as keywords.
    numeric = {k: to_double(v) for k, v in bounds.items() if not isinstance(v, bool)}
    all_numbers = len(numeric) == len(bounds) and None not in numeric.values()
    number_test = _compare(numeric, to_double) if all_numbers else _never
    try:
        dates = _date_bounds(field, bounds, formats, now)
        date_test = _compare(dates, date_field_value)
    except RuleError:
        date_test = None
    text_test = _compare({k: to_keyword(v) for k, v in bounds.items()}, to_keyword)

    def dynamic(v: Any) -> bool:
        if isinstance(v, bool):
            return False
        if isinstance(v, int | float):
            return number_test(v)
        if date_test is not None and date_field_value(v) is not None:
            return date_test(v)
        return text_test(v)

    return dynamic


def _date_bounds(
    field: str, bounds: Mapping[str, Any], formats: tuple[str, ...], now: datetime | None
) -> dict[str, int]:
    clock = now or datetime.now(UTC)
    out: dict[str, int] = {}
    for key, value in bounds.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = int(value) * 1_000_000
            continue
        try:
            math = parse_date_math(str(value), dialect="elasticsearch", formats=formats)
        except RuleError as exc:
            raise RuleError(f"range on {field!r}: {exc.message}", hint=exc.hint) from None
        # Elasticsearch rounds gt and lte bounds up, gte and lt bounds down.
        out[key] = _nanos(math.resolve(clock, round_up=key in ("gt", "lte")))
    return out


def _compare(bounds: Mapping[str, Any], read: Callable[[Any], Any]) -> ValueTest:
    gt, gte, lt, lte = (bounds.get(k) for k in ("gt", "gte", "lt", "lte"))

    def test(v: Any) -> bool:
        x = read(v)
        if x is None:
            return False
        return (
            (gt is None or x > gt)
            and (gte is None or x >= gte)
            and (lt is None or x < lt)
            and (lte is None or x <= lte)
        )

    return test


# --------------------------------------------------------------------------- query DSL


def _single_field(kind: str, body: Any) -> tuple[str, Any]:
    if not isinstance(body, Mapping):
        raise RuleError(f"{kind}: expected an object naming one field, got {body!r}")
    fields = [k for k in body if k not in _IGNORED_PARAMS]
    if len(fields) != 1:
        raise RuleError(
            f"{kind}: expected exactly one field, got {len(fields)} ({', '.join(fields) or 'none'})"
        )
    return fields[0], body[fields[0]]


def _value_and_options(kind: str, field: str, params: Any, value_keys: tuple[str, ...]) -> tuple[Any, bool]:
    """(value, case_insensitive) from ``{field: value}`` or ``{field: {value: ..., ...}}``."""
    if isinstance(params, Mapping):
        for key in value_keys:
            if key in params:
                return params[key], bool(params.get("case_insensitive", False))
        raise RuleError(f"{kind} on {field!r}: expected {' or '.join(value_keys)} in {dict(params)!r}")
    return params, False


def _clauses(kind: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        return [value]
    raise RuleError(f"bool.{kind}: expected a query or a list of queries, got {value!r}")


def minimum_should_match(spec: Any, optional: int) -> int:
    """Elasticsearch's ``minimum_should_match`` for ``optional`` should clauses: a count, a
    negative count (all but N), a percentage or a negative percentage (rounded toward zero)."""
    text = str(spec).strip()
    try:
        if text.endswith("%"):
            calc = optional * int(text[:-1]) / 100
            result = optional + int(calc) if calc < 0 else int(calc)
        else:
            calc_int = int(text)
            result = optional + calc_int if calc_int < 0 else calc_int
    except ValueError:
        raise UnsupportedFilterError(
            f"bool: minimum_should_match {spec!r} is not supported (use a count or a percentage)"
        ) from None
    return max(result, 0)


def _bool(body: Any, now: datetime | None) -> Predicate:
    if not isinstance(body, Mapping):
        raise RuleError(f"bool: expected an object, got {body!r}")
    unknown = set(body) - {"must", "filter", "should", "must_not", "minimum_should_match", "boost", "_name",
                           "adjust_pure_negative"}  # fmt: skip
    if unknown:
        raise RuleError(f"bool: unknown clause {sorted(unknown)[0]!r}")
    required = [compile_query(q, now=now) for k in ("must", "filter") for q in _clauses(k, body.get(k))]
    excluded = [compile_query(q, now=now) for q in _clauses("must_not", body.get("must_not"))]
    optional = [compile_query(q, now=now) for q in _clauses("should", body.get("should"))]
    spec = body.get("minimum_should_match")
    if spec is None:
        needed = 1 if optional and not required else 0
    else:
        needed = minimum_should_match(spec, len(optional))
    if needed > len(optional):
        return _never

    def pred(doc: Any) -> bool:
        for p in required:
            if not p(doc):
                return False
        for p in excluded:
            if p(doc):
                return False
        if needed:
            hits = 0
            for p in optional:
                if p(doc):
                    hits += 1
                    if hits >= needed:
                        return True
            return False
        return True

    return pred


def compile_query(query: Any, *, now: datetime | None = None) -> Predicate:
    """Compile one query DSL object (``{"term": {...}}``...) to a document predicate.

    ``now`` is the clock for date math in ``range`` and date ``term`` queries (default: the
    current time, read once). Raises :class:`RuleError` for malformed queries and
    :class:`UnsupportedFilterError` for queries vigil does not evaluate.
    """
    if not isinstance(query, Mapping):
        raise RuleError(f"expected a query object, got {query!r}")
    if not query:
        return _always
    if len(query) != 1:
        raise RuleError(f"a query object has one key (its kind), got {', '.join(map(str, query))}")
    kind, body = next(iter(query.items()))
    if kind == "bool":
        return _bool(body, now)
    if kind == "match_all":
        return _always
    if kind == "match_none":
        return _never
    if kind == "constant_score":
        if not isinstance(body, Mapping) or "filter" not in body:
            raise RuleError("constant_score: expected a filter")
        return compile_query(body["filter"], now=now)
    if kind == "exists":
        if not isinstance(body, Mapping) or not isinstance(body.get("field"), str):
            raise RuleError(f"exists: expected {{'field': NAME}}, got {body!r}")
        return exists_predicate(body["field"])
    if kind == "term":
        field, params = _single_field(kind, body)
        value, ci = _value_and_options(kind, field, params, ("value",))
        return any_value(field, equals_test(field, value, case_insensitive=ci, now=now))
    if kind in ("match", "match_phrase"):
        field, params = _single_field(kind, body)
        value, _ = _value_and_options(kind, field, params, ("query",))
        return any_value(field, equals_test(field, value, now=now))
    if kind == "terms":
        field, values = _single_field(kind, body)
        if isinstance(values, Mapping):
            raise UnsupportedFilterError(f"terms on {field!r}: terms lookup is not supported")
        if not isinstance(values, list):
            raise RuleError(f"terms on {field!r}: expected a list of values, got {values!r}")
        tests = [equals_test(field, v, now=now) for v in values]
        return any_value(field, lambda v: any(t(v) for t in tests))
    if kind == "range":
        field, params = _single_field(kind, body)
        if not isinstance(params, Mapping):
            raise RuleError(f"range on {field!r}: expected bounds such as {{'gte': 1}}, got {params!r}")
        return any_value(field, _range_test(field, params, now))
    if kind == "wildcard":
        field, params = _single_field(kind, body)
        value, ci = _value_and_options(kind, field, params, ("value", "wildcard"))
        return any_value(field, wildcard_test(str(value), case_insensitive=ci))
    if kind == "prefix":
        field, params = _single_field(kind, body)
        value, ci = _value_and_options(kind, field, params, ("value",))
        return any_value(field, _prefix_test(str(value), ci))
    if kind == "regexp":
        field, params = _single_field(kind, body)
        value, ci = _value_and_options(kind, field, params, ("value",))
        if isinstance(params, Mapping) and params.get("flags", "ALL") != "ALL":
            raise UnsupportedFilterError(f"regexp on {field!r}: flags other than ALL are not supported")
        return any_value(field, _regexp_test(field, str(value), ci))
    if isinstance(kind, str) and kind:
        raise UnsupportedFilterError(f"the {kind} query is not supported in rule filters")
    raise RuleError(f"unknown query {kind!r}")


def filter_query(item: Any) -> tuple[Any, bool, bool]:
    """(query DSL, negate, disabled) of one filter: a Kibana filter object or bare query DSL."""
    if not isinstance(item, Mapping):
        raise RuleError(f"a filter is an object, got {item!r}")
    meta = item.get("meta")
    if meta is None and "query" not in item:
        return item, False, False
    if meta is not None and not isinstance(meta, Mapping):
        raise RuleError(f"filter meta: expected an object, got {meta!r}")
    meta = meta or {}
    if "query" in item:
        query = item["query"]
    else:
        query = {k: v for k, v in item.items() if k not in ("meta", "$state")}
    return query, bool(meta.get("negate", False)), bool(meta.get("disabled", False))


def compile_filters(filters: Sequence[Any], *, now: datetime | None = None) -> Predicate:
    """Compile a rule's ``filters`` to one predicate over an event document (True: the rule
    sees the event). See the module docstring for the semantics."""
    positive: list[Predicate] = []
    negative: list[Predicate] = []
    for i, item in enumerate(filters):
        try:
            query, negate, disabled = filter_query(item)
            if disabled:
                continue
            pred = compile_query(query, now=now)
        except UnsupportedFilterError as exc:
            raise UnsupportedFilterError(f"filters[{i}]: {exc.message}", hint=exc.hint) from None
        except RuleError as exc:
            raise RuleError(f"filters[{i}]: {exc.message}", hint=exc.hint) from None
        (negative if negate else positive).append(pred)
    if not positive and not negative:
        return _always

    def sees(doc: Any) -> bool:
        for p in positive:
            if not p(doc):
                return False
        return all(not p(doc) for p in negative)

    return sees
