"""Kibana exception list items: which events they except from a rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from vigil.errors import RuleError
from vigil.rules.exceptions import (
    check_exception_item,
    compile_exception_item,
    compile_exceptions,
    items_for_rule,
    load_exception_items,
)
from vigil.rules.model import ExceptionListRef, Rule

NOW = datetime(2024, 6, 1, tzinfo=UTC)

DOC: dict[str, Any] = {
    "host": {"name": "WS-01", "os": {"type": "windows"}},
    "process": {"name": "svc.exe", "args": ["-a", "-b"], "executable": "C:\\Tools\\svc.exe"},
    "destination": {"port": 445, "ip": "10.0.0.5"},
    "file": {
        "Ext": {
            "code_signature": [
                {"subject_name": "Contoso", "trusted": False},
                {"subject_name": "Microsoft Windows", "trusted": True},
            ]
        }
    },
}


def entry(field: str, kind: str, value: Any = None, operator: str = "included") -> dict[str, Any]:
    out = {"field": field, "type": kind, "operator": operator}
    if value is not None:
        out["value"] = value
    return out


def item(*entries: dict[str, Any], list_id: str = "l1", **more: Any) -> dict[str, Any]:
    return {"item_id": "i", "list_id": list_id, "type": "simple", "entries": list(entries), **more}


CASES: list[tuple[list[dict[str, Any]], bool]] = [
    ([entry("process.name", "match", "svc.exe")], True),
    ([entry("process.name", "match", "SVC.EXE")], False),  # exact, case-sensitive
    ([entry("process.name", "match", "svc.exe", "excluded")], False),
    ([entry("process.name", "match", "other.exe", "excluded")], True),
    ([entry("user.name", "match", "bob", "excluded")], True),  # excluded: a missing field matches
    ([entry("destination.port", "match", "445")], True),  # compared as the long it is
    ([entry("process.args", "match", "-b")], True),
    ([entry("process.name", "match_any", ["a.exe", "svc.exe"])], True),
    ([entry("process.name", "match_any", ["a.exe", "b.exe"])], False),
    ([entry("process.name", "match_any", ["a.exe", "b.exe"], "excluded")], True),
    ([entry("host.name", "exists")], True),
    ([entry("user.name", "exists")], False),
    ([entry("user.name", "exists", operator="excluded")], True),
    ([entry("process.executable", "wildcard", "C:\\\\Tools\\\\*.exe")], True),
    ([entry("process.executable", "wildcard", "c:\\\\tools\\\\*")], False),  # case-sensitive
    ([entry("process.executable", "wildcard", "*\\\\Temp\\\\*", "excluded")], True),
    # All entries of an item must match.
    ([entry("process.name", "match", "svc.exe"), entry("host.name", "match", "WS-02")], False),
    ([entry("process.name", "match", "svc.exe"), entry("host.name", "match", "WS-01")], True),
    # nested: one element of the array matches every inner entry.
    (
        [
            {
                "field": "file.Ext.code_signature",
                "type": "nested",
                "entries": [
                    entry("subject_name", "match", "Microsoft Windows"),
                    entry("trusted", "match", "true"),
                ],
            }
        ],
        True,
    ),
    (
        [
            {
                "field": "file.Ext.code_signature",
                "type": "nested",
                "entries": [entry("subject_name", "match", "Contoso"), entry("trusted", "match", "true")],
            }
        ],
        False,
    ),
    (
        [
            {
                "field": "file.Ext.code_signature",
                "type": "nested",
                "entries": [entry("subject_name", "match", "Contoso", "excluded")],
            }
        ],
        True,
    ),
]


@pytest.mark.parametrize(("entries", "expected"), CASES)
def test_item(entries: list[dict[str, Any]], expected: bool) -> None:
    assert compile_exception_item(item(*entries))(DOC) is expected


def test_os_types() -> None:
    windows = item(entry("process.name", "match", "svc.exe"), os_types=["windows"])
    linux = item(entry("process.name", "match", "svc.exe"), os_types=["linux", "macos"])
    assert compile_exception_item(windows)(DOC)
    assert not compile_exception_item(linux)(DOC)
    caseless = {"host": {"os": {"name": {"caseless": "linux"}}}, "process": {"name": "svc.exe"}}
    assert compile_exception_item(linux)(caseless)


def _rule(*refs: tuple[str, str]) -> Rule:
    return Rule(
        rule_id="r",
        name="r",
        type="eql",
        exceptions_list=tuple(ExceptionListRef(list_id, list_id, "detection", ns) for list_id, ns in refs),
    )


def test_compile_exceptions_for_a_rule() -> None:
    hit = item(entry("process.name", "match", "svc.exe"), list_id="l1")
    other_list = item(entry("host.name", "exists"), list_id="l2")
    rule = _rule(("l1", "single"))
    excepted = compile_exceptions(rule, [hit, other_list], now=NOW)
    assert excepted(DOC)
    assert not excepted({"process": {"name": "x"}, "host": {"name": "h"}})  # l2 is not the rule's
    assert not compile_exceptions(_rule(), [hit], now=NOW)(DOC)
    # Any matching item excepts the event.
    miss = item(entry("process.name", "match", "nope"), list_id="l1")
    assert compile_exceptions(rule, [miss, hit], now=NOW)(DOC)
    assert not compile_exceptions(rule, [miss], now=NOW)(DOC)


def test_namespace_type_must_agree_when_given() -> None:
    agnostic = item(entry("host.name", "exists"), list_id="l1", namespace_type="agnostic")
    assert items_for_rule(_rule(("l1", "single")), [agnostic]) == []
    assert items_for_rule(_rule(("l1", "agnostic")), [agnostic]) == [agnostic]


def test_expired_items_are_ignored() -> None:
    rule = _rule(("l1", "single"))
    old = item(entry("host.name", "exists"), expire_time="2024-05-01T00:00:00.000Z")
    new = item(entry("host.name", "exists"), expire_time="2024-07-01T00:00:00.000Z")
    assert not compile_exceptions(rule, [old], now=NOW)(DOC)
    assert compile_exceptions(rule, [new], now=NOW)(DOC)


def test_value_lists_are_not_supported() -> None:
    listed = item(
        {"field": "source.ip", "operator": "included", "type": "list", "list": {"id": "ips", "type": "ip"}}
    )
    with pytest.raises(RuleError, match="value lists are not supported"):
        compile_exceptions(_rule(("l1", "single")), [listed], now=NOW)
    assert [p[2] for p in check_exception_item(listed)] == ["warning"]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (item(entry("a", "match", "x", "maybe")), "entries[0].operator"),
        (item(entry("a", "regex", "x")), "entries[0].type"),
        (item(entry("a", "match_any", [])), "entries[0].value"),
        (item(), "entries"),
        (item(entry("a", "exists"), list_id=""), "list_id"),
        (item(entry("a", "exists"), expire_time="soon"), "expire_time"),
        (
            item({"field": "n", "type": "nested", "entries": [entry("x", "wildcard", "*")]}),
            "entries[0].entries[0].type",
        ),
    ],
)
def test_malformed_items(bad: dict[str, Any], field: str) -> None:
    problems = check_exception_item(bad)
    assert field in [p[0] for p in problems]
    with pytest.raises(RuleError):
        compile_exception_item(bad)


def test_load_exception_items_from_an_export(tmp_path: Path) -> None:
    hit = item(entry("process.name", "match", "svc.exe"))
    export = tmp_path / "export.ndjson"
    lines = [
        {"list_id": "l1", "type": "detection", "namespace_type": "single", "name": "list"},
        hit,
        {"exported_count": 2, "exported_exception_list_count": 1},
    ]
    export.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert load_exception_items([str(export)]) == (hit,)
