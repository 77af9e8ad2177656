"""Rule exceptions: Kibana exception list items, and which events they except from a rule.

A rule names exception lists in ``exceptions_list`` (by ``list_id``). The lists' items come from a
Kibana export (the ``exception-list-item`` lines of a rules export NDJSON, see
:func:`vigil.rules.loaders.load_rules`). Kibana turns the items into one filter the rule's search
must *not* match, so an excepted event is invisible to the rule (it cannot take part in a sequence
either). The filter follows Kibana's translation of each entry:

* ``match``: ``match_phrase`` of the value (exact, on keyword fields);
* ``match_any``: any of the values;
* ``exists``: the field has a value;
* ``wildcard``: a Lucene ``wildcard`` query (``*``, ``?``, ``\\`` escapes), case-sensitive;
* ``nested``: one object of the array at ``field`` matches all the inner entries;
* ``list`` (value lists): not supported.

``operator: excluded`` negates an entry (so it matches an event *without* the field too). An item
matches when all its entries match and, when it has ``os_types``, ``host.os.type`` or
``host.os.name.caseless`` is one of them. An event is excepted when any item matches. Items whose
``expire_time`` has passed are ignored, as Kibana ignores them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from vigil.ecs.fields import MISSING, make_getter
from vigil.ecs.values import parse_date
from vigil.errors import RuleError
from vigil.rules.filters import Predicate, any_value, equals_test, exists_predicate, wildcard_test
from vigil.rules.model import Rule

Finding = tuple[str, str, Literal["error", "warning"]]

ENTRY_TYPES = ("match", "match_any", "exists", "wildcard", "nested", "list")
OPERATORS = ("included", "excluded")
# Kibana's exception list container types (the lists themselves, not their items).
LIST_TYPES = frozenset({
    "detection", "endpoint", "endpoint_trusted_apps", "endpoint_events",
    "endpoint_host_isolation_exceptions", "endpoint_blocklists", "rule_default",
})  # fmt: skip


def is_exception_item(obj: Mapping[str, Any]) -> bool:
    """True for an exception list item of a Kibana export (it has ``list_id`` and ``entries``)."""
    return "list_id" in obj and isinstance(obj.get("entries"), list) and "rule_id" not in obj


def is_exception_list(obj: Mapping[str, Any]) -> bool:
    """True for an exception list container of a Kibana export (``list_id`` without entries)."""
    return (
        "list_id" in obj and "entries" not in obj and "rule_id" not in obj and obj.get("type") in LIST_TYPES
    )


def check_exception_item(item: Mapping[str, Any]) -> list[Finding]:
    """Problems of one exception item as (field path, message, severity), severity ``error`` or
    ``warning``. An item with errors cannot be compiled."""
    problems: list[Finding] = []
    if not isinstance(item.get("list_id"), str) or not item.get("list_id"):
        problems.append(("list_id", "expected the id of the exception list (a non-empty string)", "error"))
    entries = item.get("entries")
    if not isinstance(entries, list) or not entries:
        problems.append(("entries", "expected a non-empty list of entries", "error"))
        return problems
    for i, entry in enumerate(entries):
        problems.extend(_check_entry(entry, f"entries[{i}]", nested=False))
    os_types = item.get("os_types", [])
    if not isinstance(os_types, list) or not all(isinstance(o, str) for o in os_types):
        problems.append(("os_types", "expected a list of operating systems (windows, linux, macos)", "error"))
    expire = item.get("expire_time")
    if expire is not None and (not isinstance(expire, str) or parse_date(expire) is None):
        problems.append(("expire_time", f"expected an ISO 8601 date, got {expire!r}", "error"))
    return problems


def _check_entry(entry: Any, where: str, *, nested: bool) -> list[Finding]:
    if not isinstance(entry, Mapping):
        return [(where, f"expected an object with field, operator, type and value, got {entry!r}", "error")]
    out: list[Finding] = []
    kind = entry.get("type")
    if kind not in ENTRY_TYPES or (nested and kind in ("nested", "list", "wildcard")):
        allowed = ("match", "match_any", "exists") if nested else ENTRY_TYPES
        return [(f"{where}.type", f"expected one of {', '.join(allowed)}, got {kind!r}", "error")]
    if not isinstance(entry.get("field"), str) or not entry["field"]:
        out.append((f"{where}.field", "expected a field name", "error"))
    if kind == "nested":
        inner = entry.get("entries")
        if not isinstance(inner, list) or not inner:
            out.append((f"{where}.entries", "a nested entry needs a non-empty list of entries", "error"))
        else:
            for j, sub in enumerate(inner):
                out.extend(_check_entry(sub, f"{where}.entries[{j}]", nested=True))
        return out
    if entry.get("operator") not in OPERATORS:
        out.append(
            (f"{where}.operator", f"expected included or excluded, got {entry.get('operator')!r}", "error")
        )
    value = entry.get("value")
    if kind in ("match", "wildcard") and (
        not isinstance(value, str | int | float) or isinstance(value, bool)
    ):
        out.append((f"{where}.value", f"expected a value to compare with, got {value!r}", "error"))
    if kind == "match_any" and (not isinstance(value, list) or not value):
        out.append((f"{where}.value", f"expected a non-empty list of values, got {value!r}", "error"))
    if kind == "list":
        out.append(
            (f"{where}.type", "value lists are not supported; rules using this item cannot run", "warning")
        )
    return out


def _entry_predicate(entry: Mapping[str, Any], parent: str | None = None) -> Predicate:
    kind = entry.get("type")
    field = str(entry.get("field", ""))
    if kind == "list":
        listed = entry.get("list", {})
        name = listed.get("id") if isinstance(listed, Mapping) else None
        raise RuleError(f"exception entry on {field!r}: value lists are not supported (list {name!r})")
    if kind == "nested":
        return _nested_predicate(field, entry.get("entries") or [])
    full = f"{parent}.{field}" if parent else field
    path = field if parent else None
    value = entry.get("value")
    pred: Predicate
    if kind == "match":
        pred = any_value(full, equals_test(full, value), path=path)
    elif kind == "match_any":
        tests = [equals_test(full, v) for v in value or []]
        pred = any_value(full, lambda v: any(t(v) for t in tests), path=path)
    elif kind == "exists":
        pred = exists_predicate(full, path=path)
    elif kind == "wildcard":
        pred = any_value(full, wildcard_test(str(value)), path=path)
    else:
        raise RuleError(f"exception entry on {field!r}: unknown type {kind!r}")
    if entry.get("operator") == "excluded":
        positive = pred
        return lambda doc: not positive(doc)
    return pred


def _nested_predicate(path: str, entries: Sequence[Mapping[str, Any]]) -> Predicate:
    """One object of the array at ``path`` matches every inner entry (Elasticsearch ``nested``)."""
    inner = [_entry_predicate(e, parent=path) for e in entries]
    get = make_getter(path)

    def pred(doc: Any) -> bool:
        value = get(doc)
        if value is MISSING or value is None:
            return False
        objects = value if isinstance(value, list) else [value]
        return any(isinstance(obj, dict) and all(p(obj) for p in inner) for obj in objects)

    return pred


def compile_exception_item(item: Mapping[str, Any]) -> Predicate:
    """A predicate true when the item matches an event (all entries, and the OS when given)."""
    errors = [f"{f}: {m}" for f, m, severity in check_exception_item(item) if severity == "error"]
    if errors:
        raise RuleError(f"exception item {item.get('item_id') or item.get('id') or '?'}: {errors[0]}")
    entries = [_entry_predicate(e) for e in item["entries"]]
    os_types = [str(o) for o in item.get("os_types") or []]
    if os_types:
        os_tests = [any_value("host.os.type", equals_test("host.os.type", os)) for os in os_types] + [
            any_value("host.os.name.caseless", equals_test("host.os.name.caseless", os)) for os in os_types
        ]
        entries.append(lambda doc: any(t(doc) for t in os_tests))

    def matches(doc: Any) -> bool:
        return all(p(doc) for p in entries)

    return matches


def expired(item: Mapping[str, Any], now: datetime) -> bool:
    """True when the item's ``expire_time`` is at or before ``now``."""
    expire = item.get("expire_time")
    if not isinstance(expire, str):
        return False
    nanos = parse_date(expire)
    if nanos is None:
        return False
    moment = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    now_ns = (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    return nanos <= now_ns


def items_for_rule(rule: Rule, items: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The items of the exception lists ``rule`` references (by list_id and namespace type)."""
    wanted = {(ref.list_id, ref.namespace_type) for ref in rule.exceptions_list}
    ids = {ref.list_id for ref in rule.exceptions_list}
    chosen = []
    for item in items:
        list_id = item.get("list_id")
        namespace = item.get("namespace_type")
        if list_id in ids and (namespace is None or (list_id, namespace) in wanted):
            chosen.append(item)
    return chosen


def compile_exceptions(
    rule: Rule, items: Sequence[Mapping[str, Any]], *, now: datetime | None = None
) -> Callable[[Any], bool]:
    """A predicate true when an event is excepted from ``rule`` by an item of the exception lists
    the rule references. Items expired at ``now`` (default: the current time) are left out.
    Raises :class:`RuleError` for an item vigil cannot evaluate (value lists, malformed entries)."""
    clock = now or datetime.now(UTC)
    preds = [compile_exception_item(item) for item in items_for_rule(rule, items) if not expired(item, clock)]
    if not preds:
        return lambda _doc: False

    def excepted(doc: Any) -> bool:
        return any(p(doc) for p in preds)

    return excepted


def load_exception_items(paths: Sequence[str]) -> tuple[dict[str, Any], ...]:
    """The exception list items found in Kibana exports under ``paths`` (problems are left to
    :func:`vigil.rules.loaders.load_rules`, which reads the same files)."""
    from vigil.rules.loaders import load_rules

    return load_rules(paths).exception_items
