"""detection-rules TOML files: a ``[metadata]`` table and a ``[rule]`` table in Kibana's shape.

``tomllib`` reads the values; a small scanner here finds where each key sits (tomllib keeps no
positions), so a problem names the line of the offending key and a query error the line inside the
query string.
"""

from __future__ import annotations

import bisect
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from vigil.errors import Location
from vigil.rules.loaders._text import query_mapper, toml_string_map
from vigil.rules.loaders.common import Origin, RuleProblem, build_rule
from vigil.rules.model import Rule

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOML_ERROR_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_BASIC_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_LITERAL_STRING = re.compile(r"'[^'\n]*'")
_BARE_VALUE = re.compile(r"[^\n#]*")
_NESTED_STOP = re.compile(r"[\[\]{}\"'#]")


@dataclass(frozen=True)
class Span:
    """Where a key (or a table header) sits, and the raw text span of its value."""

    line: int
    column: int
    value_start: int = -1
    value_end: int = -1


class _Scanner:
    """Finds keys and table headers of a TOML text that tomllib has already accepted."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.spans: dict[str, Span] = {}
        self.table = ""
        self.arrays: dict[str, int] = {}  # array-of-tables path -> how many seen
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def _line_col(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1

    def run(self) -> dict[str, Span]:
        text = self.text
        while self.i < len(text):
            ch = text[self.i]
            if ch in " \t\r\n":
                self.i += 1
            elif ch == "#":
                self._skip_comment()
            elif ch == "[":
                self._header()
            else:
                self._key_value()
        return self.spans

    def _skip_comment(self) -> None:
        nl = self.text.find("\n", self.i)
        self.i = len(self.text) if nl < 0 else nl

    def _keys(self) -> list[str]:
        parts: list[str] = []
        text = self.text
        while self.i < len(text):
            while self.i < len(text) and text[self.i] in " \t":
                self.i += 1
            ch = text[self.i] if self.i < len(text) else ""
            if ch in ('"', "'"):
                start = self.i
                self._skip_simple_string()
                parts.append(_unquote(text[start : self.i]))
            else:
                m = _BARE_KEY.match(text, self.i)
                if not m:
                    break
                parts.append(m.group())
                self.i = m.end()
            while self.i < len(text) and text[self.i] in " \t":
                self.i += 1
            if self.i < len(text) and text[self.i] == ".":
                self.i += 1
                continue
            break
        return parts

    def _resolve(self, parts: list[str], new_array: bool) -> str:
        path = ""
        for n, part in enumerate(parts):
            path = f"{path}.{part}" if path else part
            if n == len(parts) - 1 and new_array:
                self.arrays[path] = self.arrays.get(path, 0) + 1
            if path in self.arrays:
                path = f"{path}[{self.arrays[path] - 1}]"
        return path

    def _header(self) -> None:
        line, column = self._line_col(self.i)
        double = self.text.startswith("[[", self.i)
        self.i += 2 if double else 1
        parts = self._keys()
        self.table = self._resolve(parts, double)
        self.spans.setdefault(self.table, Span(line, column))
        if double:
            # The array itself ("rule.threat") sits where its first table starts.
            self.spans.setdefault(self.table[: self.table.rfind("[")], Span(line, column))
        nl = self.text.find("\n", self.i)
        self.i = len(self.text) if nl < 0 else nl

    def _key_value(self) -> None:
        line, column = self._line_col(self.i)
        start = self.i
        parts = self._keys()
        if self.i >= len(self.text) or self.text[self.i] != "=" or not parts:
            # Not a key/value we understand: skip the line rather than guess.
            nl = self.text.find("\n", max(self.i, start + 1))
            self.i = len(self.text) if nl < 0 else nl
            return
        self.i += 1
        while self.i < len(self.text) and self.text[self.i] in " \t":
            self.i += 1
        value_start = self.i
        self._skip_value()
        path = ".".join([self.table, *parts]) if self.table else ".".join(parts)
        self.spans.setdefault(path, Span(line, column, value_start, self.i))

    def _skip_simple_string(self) -> None:
        pattern = _BASIC_STRING if self.text[self.i] == '"' else _LITERAL_STRING
        m = pattern.match(self.text, self.i)
        self.i = m.end() if m else self.i + 1

    def _skip_string(self) -> None:
        text = self.text
        for delim in ('"""', "'''"):
            if text.startswith(delim, self.i):
                j = self.i + 3
                while True:
                    k = text.find(delim, j)
                    if k < 0:
                        self.i = len(text)
                        return
                    if delim == '"""' and _escaped(text, k):
                        j = k + 1
                        continue
                    end = k + 3
                    # Up to two quotes may sit right before the closing delimiter.
                    while end < len(text) and text[end] == delim[0] and end - k < 5:
                        end += 1
                    self.i = end
                    return
        self._skip_simple_string()

    def _skip_value(self) -> None:
        text = self.text
        ch = text[self.i] if self.i < len(text) else ""
        if ch in ('"', "'"):
            self._skip_string()
        elif ch in "[{":
            self._skip_nested()
        else:
            m = _BARE_VALUE.match(text, self.i)
            assert m is not None
            self.i = m.start() + len(m.group().rstrip())

    def _skip_nested(self) -> None:
        text, depth = self.text, 0
        while self.i < len(text):
            m = _NESTED_STOP.search(text, self.i)
            if m is None:
                self.i = len(text)
                return
            self.i = m.start()
            ch = text[self.i]
            if ch in "[{":
                depth += 1
                self.i += 1
            elif ch in "]}":
                depth -= 1
                self.i += 1
                if depth == 0:
                    return
            elif ch in ('"', "'"):
                self._skip_string()
            else:
                self._skip_comment()


def _escaped(text: str, pos: int) -> bool:
    backslashes = 0
    while pos - backslashes - 1 >= 0 and text[pos - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def _unquote(raw: str) -> str:
    if raw.startswith('"'):
        try:
            return str(tomllib.loads(f"k = {raw}")["k"])
        except tomllib.TOMLDecodeError:
            return raw.strip('"')
    return raw.strip("'")


def scan_positions(text: str) -> dict[str, Span]:
    """Positions of the keys and table headers of a TOML text, by dotted path with array-of-tables
    indexes (``rule.threat[0].tactic.id``). Best effort: a construct it does not follow is
    skipped, never an error."""
    try:
        return _Scanner(text).run()
    except (IndexError, ValueError):
        return {}


def toml_error(file: str, text: str, exc: tomllib.TOMLDecodeError) -> RuleProblem:
    """A located problem for a TOML syntax error."""
    message = str(exc)
    m = _TOML_ERROR_AT.search(message)
    if m is None:
        lines = text.count("\n") + 1
        return RuleProblem(file, lines, None, f"bad TOML: {message}")
    line, column = int(m.group(1)), int(m.group(2))
    caret = Location(line, column, source=text).caret()
    return RuleProblem(file, line, None, f"bad TOML: {message[: m.start()]}", "error", column, caret)


def is_rule_document(data: dict[str, Any]) -> bool:
    """True when a TOML document looks like a rule file (it has a rule or metadata table)."""
    return "rule" in data or "metadata" in data


def load_toml(file: str, text: str) -> tuple[list[Rule], list[RuleProblem], bool]:
    """Load one detection-rules TOML file: (rules, problems, looks like a rule file)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [], [toml_error(file, text, exc)], True
    if not is_rule_document(data):
        return [], [RuleProblem(file, None, None, "not a rule file: there is no [rule] table")], False
    # Positions only serve problems: scanned on the first one (most rules have none, and the
    # scan costs as much as the TOML parse).
    positions: list[dict[str, Span]] = []

    def spans() -> dict[str, Span]:
        if not positions:
            positions.append(scan_positions(text))
        return positions[0]

    rule_data = data.get("rule")
    if not isinstance(rule_data, dict):
        line = spans()["metadata"].line if "metadata" in spans() else None
        return [], [RuleProblem(file, line, "rule", "missing: a rule file needs a [rule] table")], True

    def locate(path: str) -> tuple[int, int | None] | None:
        span = spans().get(f"rule.{path}")
        # Keys sit at the start of their line: the line says it all.
        return None if span is None else (span.line, None)

    def query_at(line: int, column: int) -> tuple[int, int] | None:
        query_span = spans().get("rule.query")
        if query_span is None or query_span.value_start < 0 or not isinstance(rule_data.get("query"), str):
            return None
        raw = text[query_span.value_start : query_span.value_end]
        mapper = query_mapper(text, query_span.value_start, raw, rule_data["query"], toml_string_map)
        return mapper(line, column)

    def rule_line() -> int | None:
        rule_span = spans().get("rule")
        return rule_span.line if rule_span else None

    origin = Origin(file, text, locate, query_at, None, "toml", rule_line)
    extra = {key: value for key, value in data.items() if key != "rule"}
    rule, problems = build_rule(rule_data, origin, extra=extra)
    return ([rule] if rule is not None else []), problems, True
