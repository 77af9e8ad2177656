"""Positions in rule files: line/column arithmetic and raw-to-decoded maps of quoted strings.

A query error points into the query *text*; to show it in the rule file, vigil maps the query's
character offset back to the raw, still-escaped string in the file (``\\n`` in JSON, ``\\\\`` in a
TOML basic string, a line-ending backslash...).
"""

from __future__ import annotations

from collections.abc import Callable

_TOML_SIMPLE_ESCAPES = frozenset('btnfr"\\e')


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def offset_of(text: str, line: int, column: int) -> int:
    """The offset of 1-based (line, column) in ``text`` (clamped to the text)."""
    pos = 0
    for _ in range(line - 1):
        nl = text.find("\n", pos)
        if nl < 0:
            return len(text)
        pos = nl + 1
    return min(pos + max(column - 1, 0), len(text))


def toml_string_map(raw: str) -> list[int] | None:
    """For a raw TOML string value (with its quotes), the raw offset of each decoded character
    (plus one past the end). None when ``raw`` is not a string."""
    if raw.startswith(("'''", '"""')):
        quote, body_start, body_end = raw[:3], 3, len(raw) - 3
        # A newline right after the opening delimiter is not part of the string.
        if raw.startswith("\n", 3):
            body_start = 4
        elif raw.startswith("\r\n", 3):
            body_start = 5
    elif raw[:1] in ("'", '"'):
        quote, body_start, body_end = raw[:1], 1, len(raw) - 1
    else:
        return None
    if quote.startswith("'"):
        return list(range(body_start, body_end + 1))
    out: list[int] = []
    i = body_start
    while i < body_end:
        ch = raw[i]
        if ch != "\\":
            out.append(i)
            i += 1
            continue
        nxt = raw[i + 1] if i + 1 < body_end else ""
        if nxt in _TOML_SIMPLE_ESCAPES:
            out.append(i)
            i += 2
        elif nxt == "u":
            out.append(i)
            i += 6
        elif nxt == "U":
            out.append(i)
            i += 10
        else:
            # A line-ending backslash: it and the whitespace (newlines included) after it vanish.
            i += 1
            while i < body_end and raw[i] in " \t\r\n":
                i += 1
    out.append(body_end)
    return out


def json_string_map(raw: str) -> list[int] | None:
    """For a raw JSON string (with its quotes), the raw offset of each decoded character (plus one
    past the end). A surrogate pair (two ``\\u`` escapes) is one character."""
    if len(raw) < 2 or raw[0] != '"':
        return None
    out: list[int] = []
    i, end = 1, len(raw) - 1
    while i < end:
        if raw[i] != "\\":
            out.append(i)
            i += 1
            continue
        out.append(i)
        if raw[i + 1 : i + 2] == "u":
            code = (
                int(raw[i + 2 : i + 6] or "0", 16)
                if all(c in "0123456789abcdefABCDEF" for c in raw[i + 2 : i + 6])
                else 0
            )
            i += 6
            if 0xD800 <= code <= 0xDBFF and raw[i : i + 2] == "\\u":
                i += 6
        else:
            i += 2
    out.append(end)
    return out


def query_mapper(
    text: str, value_start: int, raw: str, query: str, decode: Callable[[str], list[int] | None]
) -> Callable[[int, int], tuple[int, int] | None]:
    """A function from a (line, column) of ``query`` to the (line, column) in ``text`` where the
    raw string value ``raw`` (decoded as ``query``) starts at ``value_start``."""
    mapping = decode(raw)

    def at(line: int, column: int) -> tuple[int, int] | None:
        if mapping is None:
            return None
        offset = offset_of(query, line, column)
        if offset >= len(mapping):
            offset = len(mapping) - 1
        return line_col(text, value_start + mapping[offset])

    return at
