"""The EQL lexer: Elasticsearch's tokens, by hand.

Hand-written rather than generated, to reproduce Elasticsearch's lexing exactly: reserved
lowercase keywords, ``in~`` and ``name~`` tokens, ``![``, its string and number rules (escapes,
triple-quoted raw strings), nested block comments, and the errors it raises for characters and
constructs of other EQL dialects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vigil.eql import names
from vigil.errors import EqlError, EqlSyntaxError, EqlUnsupportedError, Location


class Token:
    """A token: its kind (a terminal of the grammar), value and place in the text."""

    __slots__ = ("column", "end_pos", "line", "start_pos", "type", "value")

    def __init__(self, kind: str, value: str, start: int, end: int, line: int, column: int) -> None:
        self.type = kind
        self.value = value
        self.start_pos = start
        self.end_pos = end
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"Token({self.type}, {self.value!r}, {self.start_pos})"


@dataclass
class LexState:
    """What one parse accumulates: the tokens so far and the errors the builder recorded."""

    text: str
    tokens: list[Token] = field(default_factory=list)
    deferred: list[tuple[int, EqlError]] = field(default_factory=list)

    def location(self, start: int, end: int) -> Location:
        """The location of ``text[start:end]``."""
        line = self.text.count("\n", 0, start) + 1
        column = start - (self.text.rfind("\n", 0, start) + 1) + 1
        return Location(line, column, max(end - start, 1), self.text)

    def defer(
        self,
        start: int,
        end: int,
        message: str,
        hint: str | None = None,
        error: type[EqlError] = EqlSyntaxError,
    ) -> None:
        """Record an error to raise once the text is known to be grammatical."""
        self.deferred.append((start, error(message, self.location(start, end), hint)))


# --------------------------------------------------------------------------- lexer

# One token, after any whitespace; the group that matched names its kind.
_MASTER = re.compile(
    r"""[ \t\r\n]*(?:
     (?P<comment>//[^\n]*\n?)
    |(?P<block>/\*)
    |(?P<word>[A-Za-z_][A-Za-z0-9_]*~?|@[A-Za-z0-9_]*)
    |(?P<decimal>\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
    |(?P<integer>\d+)
    |(?P<raw>\"\"\"[^\r\n]*?\"\"\"(?:\"\"?)?)
    |(?P<string>"(?:[^"\\\r\n]|\\[btnfr"'\\]|\\u\{[0-9A-Fa-f]+\})*")
    |(?P<single>'(?:[^'\\\r\n]|\\[btnfr"'\\])*')
    |(?P<qmark>\?"(?:\\"|[^"\r\n])*"|\?'(?:\\'|[^'\r\n])*')
    |(?P<backquoted>`(?:[^`]|``)*`)
    |(?P<foreign>!:|<>|&&|\|\|)
    |(?P<index>\[(?=[ \t\r\n]*\d))
    |(?P<op>!\[|!=|==|<=|>=|[=<>:+\-*/%.,\[\]()|?]))""",
    re.VERBOSE,
)
_SPACE = re.compile(r"[ \t\r\n]*")
# fmt: off
OPERATORS = {
    "![": "MISSING_EVENT_OPEN", "!=": "NEQ", "==": "EQ", "<=": "LTE", ">=": "GTE", "=": "ASGN", "<": "LT",
    ">": "GT", ":": "SEQ", "+": "PLUS", "-": "MINUS", "*": "ASTERISK", "/": "SLASH", "%": "PERCENT",
    ".": "DOT", ",": "COMMA", "[": "LB", "]": "RB", "(": "LP", ")": "RP", "|": "PIPE", "?": "OPTIONAL",
}
WORD_TYPES = {kw: kw.upper() for kw in names.KEYWORDS} | {
    "in~": "IN_INSENSITIVE", "like~": "LIKE_INSENSITIVE", "regex~": "REGEX_INSENSITIVE",
}
# fmt: on
_UNSUPPORTED = EqlUnsupportedError
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "'": "'", "\\": "\\"}
_UNICODE_ESCAPE = re.compile(r"u\{[0-9A-Fa-f]+\}")
# Operators of other languages that users type out of habit.
_FOREIGN = {
    "!:": ("Elasticsearch EQL does not support the !: operator", 'write `not field : "pattern"`'),
    "<>": ('unknown operator "<>"; did you mean "!="?', None),
    "&&": ('unknown operator "&&"; did you mean "and"?', None),
    "||": ('unknown operator "||"; did you mean "or"?', None),
}


def _decode_string(state: LexState, raw: str, start: int) -> str:
    """The value of a double-quoted string literal; checks its ``\\u{...}`` escapes."""
    if "\\" not in raw:
        return raw[1:-1]
    out: list[str] = []
    i, end = 1, len(raw) - 1
    while i < end:
        ch = raw[i]
        if ch != "\\":
            out.append(ch)
            i += 1
        elif raw[i + 1] != "u":
            out.append(_ESCAPES[raw[i + 1]])
            i += 2
        else:
            close = raw.index("}", i)
            digits = raw[i + 3 : close]
            where = (start + i, start + close + 1)
            code = int(digits, 16)
            if not 2 <= len(digits) <= 8:
                message = f"a unicode escape needs 2 to 8 hex digits, \\u{{{digits}}} has {len(digits)}"
                state.defer(*where, message, "write for example \\u{41} or \\u{0001F600}")
            elif 0xD800 <= code <= 0xDFFF:
                state.defer(*where, f"invalid unicode character \\u{{{digits}}}: it is a surrogate code")
            elif code > 0x10FFFF:
                state.defer(*where, f"invalid unicode character code \\u{{{digits}}}")
            else:
                out.append(chr(code))
            i = close + 1
    return "".join(out)


def _bad_character(state: LexState, pos: int) -> EqlError:
    """Explain why no token starts at ``pos``."""
    text = state.text
    ch = text[pos]
    if ch == '"':
        i = pos + 1
        while i < len(text) and text[i] not in '"\r\n':
            if text[i] == "\\":
                nxt = text[i + 1 : i + 2]
                if nxt == "u" and not _UNICODE_ESCAPE.match(text, i + 1):
                    return EqlSyntaxError(
                        "invalid unicode escape in string",
                        state.location(i, i + 2),
                        "write a code point as \\u{XXXX}, with 2 to 8 hex digits",
                    )
                if nxt and nxt not in _ESCAPES and nxt != "u":
                    return EqlSyntaxError(
                        f"invalid escape sequence \\{nxt} in string",
                        state.location(i, i + 2),
                        "the escapes are \\\" \\\\ \\n \\r \\t \\b \\f \\' and \\u{XXXX}; write \\\\ for a "
                        'backslash, or use a raw string """...""" in which \\ is literal',
                    )
                i += 1
            i += 1
        return EqlSyntaxError(
            "unterminated string",
            state.location(pos, i),
            'a string ends with " on the same line; write a line break as \\n',
        )
    if ch == "'":
        return EqlSyntaxError(
            "unterminated single-quoted string",
            state.location(pos, pos + 1),
            'Elasticsearch EQL strings use double quotes: "text"',
        )
    if ch == "`":
        return EqlSyntaxError(
            "unterminated backquoted name",
            state.location(pos, len(text)),
            "close it with a backquote; write a backquote inside a name as ``",
        )
    hint = None
    if ch == "!":
        hint = 'use "not" to negate, "!=" for not-equal, or "![" for a missing-event step'
    elif ch == "~":
        hint = "write ~ right after a function name (startsWith~) or after in, like or regex"
    elif ch.isalpha():
        hint = "names use ASCII letters, digits and _; write other names in backquotes"
    return EqlSyntaxError(f'unexpected character "{ch}"', state.location(pos, pos + 1), hint)


def _skip_block_comment(state: LexState, start: int) -> int:
    """The end of the ``/* ... */`` comment at ``start``; Elasticsearch lets them nest."""
    text, depth, i = state.text, 0, start
    while i < len(text):
        if text.startswith("/*", i):
            depth += 1
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    raise EqlSyntaxError("unterminated comment", state.location(start, start + 2), "close it with */")


def tokenize(state: LexState) -> list[Token]:
    """The tokens of ``state.text``, split the way Elasticsearch's EQL lexer splits them."""
    text, pos, end_of_text = state.text, 0, len(state.text)
    line, line_start = 1, 0
    tokens = state.tokens
    append = tokens.append
    match = _MASTER.match
    while pos < end_of_text:
        m = match(text, pos)
        if m is None:
            space = _SPACE.match(text, pos)
            if space is not None and space.end() == end_of_text:
                break
            raise _bad_character(state, space.end() if space else pos)
        kind = m.lastgroup
        assert kind is not None  # every alternative is a named group
        start, end = m.span(kind)
        if start != pos:  # whitespace before the token
            newlines = text.count("\n", pos, start)
            if newlines:
                line += newlines
                line_start = text.rfind("\n", pos, start) + 1
        value = m.group(kind)
        column = start - line_start + 1
        if kind == "word":
            word = WORD_TYPES.get(value, "TILDE_IDENTIFIER" if value[-1] == "~" else "IDENTIFIER")
            append(Token(word, value, start, end, line, column))
        elif kind == "op":
            append(Token(OPERATORS[value], value, start, end, line, column))
        elif kind == "string":
            append(Token("STRING", _decode_string(state, value, start), start, end, line, column))
        elif kind == "integer":
            append(Token("INTEGER_VALUE", value, start, end, line, column))
        elif kind in ("comment", "block", "backquoted"):
            if kind == "block":
                end = _skip_block_comment(state, start)
            elif kind == "backquoted":
                append(Token("QUOTED_IDENTIFIER", value[1:-1].replace("``", "`"), start, end, line, column))
            newlines = text.count("\n", start, end)
            if newlines:
                line += newlines
                line_start = text.rfind("\n", start, end) + 1
        elif kind == "decimal":
            append(Token("DECIMAL_VALUE", value, start, end, line, column))
        elif kind == "raw":
            append(Token("STRING", value[3:-3], start, end, line, column))
        elif kind == "index":
            append(Token("LB_INDEX", value, start, end, line, column))
        elif kind == "single":
            hint = 'use double quotes ("text"), or three double quotes for a raw string ("""text""")'
            state.defer(
                start, end, "Elasticsearch EQL does not support single-quoted strings", hint, _UNSUPPORTED
            )
            append(Token("STRING", value[1:-1], start, end, line, column))
        elif kind == "qmark":
            message = f"Elasticsearch EQL does not support ?{value[1]}...{value[1]} raw strings"
            hint = 'write a raw string between three double quotes: """text"""'
            state.defer(start, end, message, hint, _UNSUPPORTED)
            append(Token("STRING", value[2:-1], start, end, line, column))
        else:  # foreign
            foreign, foreign_hint = _FOREIGN[value]
            # `!:` is pre-7.12 syntax that Elasticsearch dropped, like Endgame's features
            error = EqlUnsupportedError if value == "!:" else EqlSyntaxError
            raise error(foreign, state.location(start, end), foreign_hint)
        pos = end
    return tokens
