"""EQL text: string literals, conditions with the operators of the corpus, event query layout."""

from __future__ import annotations

import random
from collections.abc import Sequence


def eql_string(value: str) -> str:
    """``value`` as an EQL double-quoted string (backslashes and quotes escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(value: str | int) -> str:
    return str(value) if isinstance(value, int) else eql_string(value)


def _has_wildcard(values: Sequence[str | int]) -> bool:
    return any(isinstance(v, str) and ("*" in v or "?" in v) for v in values)


def _values_text(values: Sequence[str | int], indent: str) -> str:
    """A parenthesised value list; long lists are wrapped as the corpus writes them."""
    items = [_literal(v) for v in values]
    one_line = "(" + ", ".join(items) + ")"
    if len(one_line) <= 96:
        return one_line
    lines: list[str] = []
    current = ""
    for item in items:
        candidate = f"{current}, {item}" if current else item
        if current and len(candidate) > 96:
            lines.append(current + ",")
            current = item
        else:
            current = candidate
    lines.append(current)
    inner = indent + "  "
    return "(\n" + "\n".join(inner + line for line in lines) + "\n" + indent + ")"


def condition(rng: random.Random, fld: str, values: Sequence[str | int], indent: str = "  ") -> str:
    """``fld`` compared with ``values`` using an operator the corpus uses for such values:
    ``:`` or ``like~`` when a value has wildcards, else also ``==``, ``in``, ``in~``."""
    values = list(dict.fromkeys(values))  # keep order, drop repeats
    numeric = all(isinstance(v, int) for v in values)
    if numeric:
        op = "in" if len(values) > 1 else "=="
    elif _has_wildcard(values):
        op = rng.choices((":", "like~"), (85, 15))[0]
    else:
        op = rng.choices((":", "in~", "in", "like~"), (55, 15, 20, 10))[0]
    if len(values) == 1:
        if op == "in":
            op = "=="
        elif op == "in~":
            op = ":"
        return f"{fld} {op} {_literal(values[0])}"
    return f"{fld} {op} {_values_text(values, indent)}"


def negate(text: str) -> str:
    """``not`` in front of a condition, with parentheses around compound ones."""
    if " and " in text or " or " in text:
        return f"not ({text})"
    return f"not {text}"


def render_event_query(category: str, clauses: Sequence[str], indent: str = "  ") -> str:
    """``category where c1 and c2 and ...``: the first (base) clauses on the first line, one
    clause per line after them, as the corpus lays queries out."""
    head = [c for c in clauses[:2] if "\n" not in c and len(c) < 60]
    rest = list(clauses[len(head) :])
    first = f"{category} where " + (" and ".join(head) if head else (rest.pop(0) if rest else "true"))
    if not rest:
        return first
    return first + " and\n" + " and\n".join(indent + c for c in rest)
