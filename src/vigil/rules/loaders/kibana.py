"""Kibana rule exports: NDJSON, one saved object per line, in Kibana's rule API shape.

An export from the rules management page holds the rules, then the exception lists and their
items the rules use, then a summary line (``exported_count``, ``missing_rules``...). Rules become
:class:`Rule` models; exception list items are returned as they are (dicts in Kibana's shape, see
:mod:`vigil.rules.exceptions`); the summary, the list containers and action connectors are
skipped.
"""

from __future__ import annotations

from typing import Any

import orjson

from vigil.errors import Location
from vigil.rules.exceptions import check_exception_item, is_exception_item, is_exception_list
from vigil.rules.loaders._text import json_string_map, query_mapper
from vigil.rules.loaders.common import Origin, RuleProblem, build_rule
from vigil.rules.model import Rule

_SUMMARY_KEYS = ("exported_count", "exported_rules_count", "missing_rules")


def top_level_spans(line: str) -> dict[str, tuple[int, int, int]]:
    """For a one-line JSON object, each top-level key's (key offset, value start, value end)."""
    spans: dict[str, tuple[int, int, int]] = {}
    i, n = 0, len(line)

    def skip_ws(j: int) -> int:
        while j < n and line[j] in " \t\r\n":
            j += 1
        return j

    def skip_string(j: int) -> int:
        j += 1
        while j < n and line[j] != '"':
            j += 2 if line[j] == "\\" else 1
        return j + 1

    def skip_value(j: int) -> int:
        if j < n and line[j] == '"':
            return skip_string(j)
        depth = 0
        while j < n:
            ch = line[j]
            if ch == '"':
                j = skip_string(j)
                continue
            if ch in "[{":
                depth += 1
            elif ch in "]}":
                if depth == 0:
                    return j
                depth -= 1
                if depth == 0:
                    return j + 1
            elif ch == "," and depth == 0:
                return j
            j += 1
        return j

    i = skip_ws(i)
    if i >= n or line[i] != "{":
        return spans
    i += 1
    while i < n:
        i = skip_ws(i)
        if i >= n or line[i] != '"':
            break
        key_start = i
        i = skip_string(i)
        try:
            key = orjson.loads(line[key_start:i])
        except orjson.JSONDecodeError:
            break
        i = skip_ws(i)
        if i >= n or line[i] != ":":
            break
        value_start = skip_ws(i + 1)
        i = skip_value(value_start)
        spans.setdefault(str(key), (key_start, value_start, i))
        i = skip_ws(i)
        if i < n and line[i] == ",":
            i += 1
    return spans


def _looks_like_rule(obj: dict[str, Any]) -> bool:
    return "rule_id" in obj or ("name" in obj and "type" in obj and ("query" in obj or "risk_score" in obj))


def is_export_line(obj: Any) -> bool:
    """True when a JSON value belongs in a Kibana rules export (a rule, an exception list or
    item, an export summary or an action connector)."""
    if not isinstance(obj, dict):
        return False
    return (
        _looks_like_rule(obj)
        or any(k in obj for k in _SUMMARY_KEYS)
        or is_exception_item(obj)
        or is_exception_list(obj)
        or ("attributes" in obj and obj.get("type") == "action")
    )


def load_ndjson(file: str, text: str) -> tuple[list[Rule], list[dict[str, Any]], list[RuleProblem], bool]:
    """Load one Kibana export: (rules, exception items, problems, looks like an export)."""
    rules: list[Rule] = []
    items: list[dict[str, Any]] = []
    problems: list[RuleProblem] = []
    first = True
    offset = 0
    for number, line in enumerate(text.split("\n"), start=1):
        line_start = offset
        offset += len(line) + 1
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            column = getattr(exc, "colno", None)
            caret = Location(number, column, source=text).caret() if column else ""
            problems.append(RuleProblem(file, number, None, f"bad JSON: {exc.msg}", "error", column, caret))
            first = False
            continue
        if first and not is_export_line(obj):
            return [], [], [RuleProblem(file, number, None, "not a Kibana rules export")], False
        first = False
        if not isinstance(obj, dict):
            problems.append(
                RuleProblem(file, number, None, f"expected a JSON object, got {type(obj).__name__}")
            )
            continue
        if any(k in obj for k in _SUMMARY_KEYS) or is_exception_list(obj):
            continue
        if "attributes" in obj and obj.get("type") == "action":
            continue
        spans = top_level_spans(line)
        if is_exception_item(obj):
            findings = check_exception_item(obj)
            for field, message, severity in findings:
                top = field.split(".")[0].split("[")[0]
                column = spans[top][0] + 1 if top in spans else None
                problems.append(RuleProblem(file, number, field, message, severity, column))
            # A malformed item is reported and left out, as Kibana's import would refuse it.
            if all(severity != "error" for _f, _m, severity in findings):
                items.append(obj)
            continue
        if not _looks_like_rule(obj):
            problems.append(
                RuleProblem(file, number, None, "neither a rule nor an exception item; skipped", "warning")
            )
            continue
        rule, found = _rule_from_line(file, text, number, line, line_start, obj, spans)
        problems.extend(found)
        if rule is not None:
            rules.append(rule)
    return rules, items, problems, True


def _rule_from_line(
    file: str,
    text: str,
    number: int,
    line: str,
    line_start: int,
    obj: dict[str, Any],
    spans: dict[str, tuple[int, int, int]],
) -> tuple[Rule | None, list[RuleProblem]]:
    def locate(path: str) -> tuple[int, int] | None:
        span = spans.get(path)
        return None if span is None else (number, span[0] + 1)

    query_at = None
    if "query" in spans and isinstance(obj.get("query"), str):
        _key, start, end = spans["query"]
        query_at = query_mapper(text, line_start + start, line[start:end], obj["query"], json_string_map)
    origin = Origin(file, text, locate, query_at, number, "ndjson")
    return build_rule(obj, origin)
