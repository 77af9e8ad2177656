"""Pattern predicates for ``:``, ``like``, ``like~``, ``regex`` and ``regex~``, compiled once.

Elasticsearch runs these patterns as Lucene automata over the field's terms, so:

* Wildcards (``:``, ``like``): ``*`` is any run of characters, ``?`` exactly one code point, and
  nothing else is special. EQL has no escape in wildcard strings: a backslash is a literal
  backslash and ``\\*`` is a backslash followed by a wildcard (EQL turns ``*``/``?`` into SQL
  ``%``/``_`` regardless of what precedes them). The match is on the whole value.
* Regular expressions (``regex``): Lucene's ``RegExp`` syntax with the flags Elasticsearch's
  ``regexp`` query uses (``ALL``: intersection ``&``, empty language ``#``, any string ``@``,
  numeric intervals ``<n-m>``, named automata ``<name>``). With Lucene 10 (Elasticsearch 9)
  complement is no longer part of ``ALL``, so ``~`` is an ordinary character. ``\\d \\D \\s \\S
  \\w \\W`` are ASCII classes (``\\s`` is ``[ \\t\\n\\r]``); any other backslash-letter is an error;
  any other backslash escapes the next character. Always anchored; ``.`` matches any code point.
* Case-insensitive variants (``:``, ``like~``, ``regex~``, ``in~``) are ASCII-only, as in
  Elasticsearch: ``É`` never matches ``é``. For regexes only single characters and quoted strings
  ignore case; ranges such as ``[a-c]`` stay case-sensitive (a documented Lucene limitation).

Regexes are translated to Python's ``re`` (same accepted language). Intersection has no ``re``
equivalent, so a pattern using ``&`` runs on a small automaton engine here, with the exact
Lucene semantics.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.ecs.values import java_parse_long
from vigil.errors import EqlSemanticError

Matcher = Callable[[str], bool]

MAX_CODE_POINT = 0x10FFFF
MAX_REGEX_LENGTH = 1000  # index.max_regex_length's default: longer regexes are refused

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_fold(value: str) -> str:
    """Lowercase ASCII letters only: Elasticsearch's case-insensitive term/wildcard matching."""
    return value.lower() if value.isascii() else value.translate(_ASCII_LOWER)


def _never(_: str) -> bool:
    return False


def _always(_: str) -> bool:
    return True


# --------------------------------------------------------------------------- wildcards


_WILDCARDS = re.compile(r"([*?])")  # splits a pattern into its wildcards and literal runs


def wildcard_to_regex(pattern: str) -> str:
    """The Python regex (for ``re.fullmatch`` with DOTALL) of an EQL wildcard pattern."""
    parts = _WILDCARDS.split(pattern)
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in parts if c)


def wildcard_matcher(patterns: Sequence[str], insensitive: bool) -> Matcher:
    """A predicate true when a value matches any of the wildcard ``patterns`` (full match).

    Exact strings become a set lookup; ``abc*``, ``*abc`` and ``*abc*`` become prefix, suffix and
    substring tests; the rest share one compiled alternation. ``insensitive`` folds ASCII case.
    """
    fold = ascii_fold if insensitive else None
    exact: set[str] = set()
    prefixes: list[str] = []
    suffixes: list[str] = []
    contains: list[str] = []
    regexes: list[str] = []
    for raw in patterns:
        p = fold(raw) if fold else raw
        if "?" not in p:
            if "*" not in p:
                exact.add(p)
                continue
            core = p.strip("*")
            if not core:
                return _always
            if "*" not in core:
                starts, ends = p.startswith("*"), p.endswith("*")
                (contains if starts and ends else suffixes if starts else prefixes).append(core)
                continue
        regexes.append(wildcard_to_regex(p))
    return _combine(fold, exact, tuple(prefixes), tuple(suffixes), tuple(contains), regexes)


@functools.lru_cache(maxsize=8192)
def _dotall(source: str) -> re.Pattern[str]:
    """A compiled DOTALL regex, shared: a thousand rules repeat patterns, and ``re``'s own cache
    holds only 512."""
    return re.compile(source, re.DOTALL)


def _combine(
    fold: Callable[[str], str] | None,
    exact: set[str],
    prefixes: tuple[str, ...],
    suffixes: tuple[str, ...],
    contains: tuple[str, ...],
    regexes: list[str],
) -> Matcher:
    # The alternation is compiled when first needed: many rules of a big set never see a value
    # that the exact, prefix, suffix and substring tests leave undecided.
    source = "|".join(f"(?:{r})" for r in regexes) if regexes else None
    compiled: list[Callable[[str], Any]] = []

    def full(value: str) -> Any:
        if not compiled:
            assert source is not None
            compiled.append(_dotall(source).fullmatch)
        return compiled[0](value)

    if not (prefixes or suffixes or contains or source is not None):
        if fold is None:
            return exact.__contains__ if exact else _never
        return lambda value: fold(value) in exact

    def match(value: str) -> bool:
        if fold is not None:
            value = fold(value)
        return (
            value in exact
            or (bool(prefixes) and value.startswith(prefixes))
            or (bool(suffixes) and value.endswith(suffixes))
            or any(c in value for c in contains)
            or (source is not None and full(value) is not None)
        )

    return match


def lucene_wildcard_to_regex(pattern: str, insensitive: bool = False) -> str:
    """The Python regex of a raw Lucene wildcard query (``*``, ``?``, ``\\`` escapes the next
    character, a trailing ``\\`` is literal). ``insensitive`` folds ASCII letters, except escaped
    ones, as Elasticsearch's case-insensitive wildcard query does."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif insensitive and ch.isascii() and ch.isalpha():
            out.append(f"[{ch.lower()}{ch.upper()}]")
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def lucene_wildcard_matcher(patterns: Sequence[str], insensitive: bool) -> Matcher:
    """A predicate for raw Lucene wildcard queries (what ``stringContains(field, "x")`` and
    ``endsWith(field, "x")`` become in Elasticsearch); full match, any pattern."""
    if not patterns:
        return _never
    full = re.compile(
        "|".join(f"(?:{lucene_wildcard_to_regex(p, insensitive)})" for p in patterns), re.DOTALL
    )
    return lambda value: full.fullmatch(value) is not None


# --------------------------------------------------------------------------- Lucene regex syntax


@dataclass(frozen=True)
class _Node:
    """A parsed regex: ``kind`` is ranges, eps, empty, concat, union, inter or repeat."""

    kind: str
    ranges: tuple[tuple[int, int], ...] = ()
    children: tuple[_Node, ...] = ()
    low: int = 0
    high: int | None = None  # repeat upper bound, None for unbounded


_EPS = _Node("eps")
_EMPTY = _Node("empty")
_ANY = _Node("ranges", ((0, MAX_CODE_POINT),))


def _ranges(pairs: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(pairs):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _complement(pairs: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    out, nxt = [], 0
    for lo, hi in pairs:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= MAX_CODE_POINT:
        out.append((nxt, MAX_CODE_POINT))
    return tuple(out)


def _concat(parts: Sequence[_Node]) -> _Node:
    return parts[0] if len(parts) == 1 else _Node("concat", children=tuple(parts))


def _union(parts: Sequence[_Node]) -> _Node:
    return parts[0] if len(parts) == 1 else _Node("union", children=tuple(parts))


def _repeat(node: _Node, low: int, high: int | None) -> _Node:
    return _Node("repeat", children=(node,), low=low, high=high)


_PREDEFINED = {
    "d": ((48, 57),),
    "s": _ranges([(32, 32), (9, 10), (13, 13)]),
    "w": _ranges([(48, 57), (65, 90), (95, 95), (97, 122)]),
}
_BAD_ESCAPES = set("abcefghijklmnopqrtuvxyzABCEFGHIJKLMNOPQRTUVXYZ")


class _LuceneParser:
    """A port of the recursive-descent parser of Lucene 10's ``RegExp`` (syntax flags ``ALL``)."""

    def __init__(self, text: str, insensitive: bool):
        self.text = text
        self.pos = 0
        self.insensitive = insensitive

    def error(self, message: str) -> EqlSemanticError:
        return EqlSemanticError(f"invalid regular expression [{self.text}]: {message}")

    def more(self) -> bool:
        return self.pos < len(self.text)

    def peek(self, chars: str) -> bool:
        return self.more() and self.text[self.pos] in chars

    def match(self, ch: str) -> bool:
        if self.more() and self.text[self.pos] == ch:
            self.pos += 1
            return True
        return False

    def next(self) -> str:
        if not self.more():
            raise self.error("unexpected end-of-string")
        self.pos += 1
        return self.text[self.pos - 1]

    def char(self, ch: str) -> _Node:
        # only single characters (not ranges) honour ASCII case-insensitivity, as in Lucene
        cp = ord(ch)
        if self.insensitive and cp <= 128 and ch.isalpha():
            other = ord(ch.lower()) if ch.isupper() else ord(ch.upper())
            return _Node("ranges", _ranges([(cp, cp), (other, other)]))
        return _Node("ranges", ((cp, cp),))

    def parse(self) -> _Node:
        if not self.text:
            return _EPS
        node = self.parse_union()
        if self.more():
            raise self.error(f"end-of-string expected at position {self.pos}")
        return node

    def parse_union(self) -> _Node:
        parts = [self.parse_inter()]
        while self.match("|"):
            parts.append(self.parse_inter())
        return _union(parts)

    def parse_inter(self) -> _Node:
        node = self.parse_concat()
        while self.match("&"):
            node = _Node("inter", children=(node, self.parse_concat()))
        return node

    def parse_concat(self) -> _Node:
        parts = [self.parse_repeat()]
        while self.more() and not self.peek(")|&"):
            parts.append(self.parse_repeat())
        return _concat(parts)

    def parse_repeat(self) -> _Node:
        node = self.parse_class_exp()
        while self.peek("?*+{"):
            op = self.next()
            if op == "?":
                node = _repeat(node, 0, 1)
            elif op == "*":
                node = _repeat(node, 0, None)
            elif op == "+":
                node = _repeat(node, 1, None)
            else:
                low = self.integer()
                high: int | None = low
                if self.match(","):
                    high = self.integer() if self.peek("0123456789") else None
                if not self.match("}"):
                    raise self.error(f"expected '}}' at position {self.pos}")
                if high is not None and low > high:
                    raise self.error(f"invalid repetition range(out of order): {low}..{high}")
                node = _repeat(node, low, high)
        return node

    def integer(self) -> int:
        start = self.pos
        while self.peek("0123456789"):
            self.pos += 1
        if start == self.pos:
            raise self.error(f"integer expected at position {self.pos}")
        value = int(self.text[start : self.pos])
        if value > 2**31 - 1:
            raise self.error(f'For input string: "{self.text[start : self.pos]}"')
        return value

    def parse_class_exp(self) -> _Node:
        if not self.match("["):
            return self.parse_simple()
        negate = self.match("^")
        pairs = list(self.parse_class_item())
        while self.more() and not self.peek("]"):
            pairs += self.parse_class_item()
        ranges = _ranges(pairs)
        if not self.match("]"):
            raise self.error(f"expected ']' at position {self.pos}")
        return _Node("ranges", _complement(ranges) if negate else ranges)

    def parse_class_item(self) -> tuple[tuple[int, int], ...]:
        predefined = self.predefined()
        if predefined is not None:
            return predefined.ranges
        first = self.char_exp()
        if self.match("-"):
            last = self.char_exp()
            if ord(first) > ord(last):
                raise self.error(f"invalid range: from ({ord(first)}) cannot be > to ({ord(last)})")
            return ((ord(first), ord(last)),)
        return self.char(first).ranges

    def predefined(self) -> _Node | None:
        # consumes a backslash even when no class follows, exactly as Lucene does
        if not self.match("\\"):
            return None
        if self.peek("dDwWsS"):
            letter = self.next()
            ranges = _PREDEFINED[letter.lower()]
            return _Node("ranges", _complement(ranges) if letter.isupper() else ranges)
        if self.peek("\\"):
            return self.char(self.next())
        if self.more() and self.text[self.pos] in _BAD_ESCAPES:
            raise self.error(f"invalid character class \\{self.next()}")
        return None

    def char_exp(self) -> str:
        self.match("\\")
        return self.next()

    def parse_simple(self) -> _Node:
        if self.match("."):
            return _ANY
        if self.match("#"):
            return _EMPTY
        if self.match("@"):
            return _repeat(_ANY, 0, None)
        if self.match('"'):
            start = self.pos
            while self.more() and not self.peek('"'):
                self.pos += 1
            if not self.match('"'):
                raise self.error(f"expected '\"' at position {self.pos}")
            chars = [self.char(c) for c in self.text[start : self.pos - 1]]
            return _concat(chars) if chars else _EPS
        if self.match("("):
            if self.match(")"):
                return _EPS
            node = self.parse_union()
            if not self.match(")"):
                raise self.error(f"expected ')' at position {self.pos}")
            return node
        if self.match("<"):
            return self.parse_interval()
        predefined = self.predefined()
        if predefined is not None:
            return predefined
        return self.char(self.char_exp())

    def parse_interval(self) -> _Node:
        start = self.pos
        while self.more() and not self.peek(">"):
            self.pos += 1
        if not self.match(">"):
            raise self.error(f"expected '>' at position {self.pos}")
        body = self.text[start : self.pos - 1]
        dash = body.find("-")
        if dash == -1:
            raise self.error(f"'{body}' not found")  # a named automaton; Elasticsearch has none
        low_text, high_text = body[:dash], body[dash + 1 :]
        low = java_parse_long(low_text, bits=32) if 0 < dash < len(body) - 1 else None
        high = java_parse_long(high_text, bits=32) if body.rfind("-") == dash else None
        if low is None or high is None:
            raise self.error(f"interval syntax error at position {self.pos - 1}")
        low, high = min(low, high), max(low, high)
        digits = len(low_text) if len(low_text) == len(high_text) else 0
        return _interval(low, high, digits)


def _digit_run(lo: str, hi: str) -> list[_Node]:
    """Same-length decimal strings lo <= hi: alternatives covering every string between them."""
    if not lo:
        return [_EPS]
    rest = len(lo) - 1
    if lo[0] == hi[0]:
        head = _Node("ranges", ((ord(lo[0]), ord(lo[0])),))
        return [_concat([head, tail]) for tail in _digit_run(lo[1:], hi[1:])]
    if lo[1:] == "0" * rest and hi[1:] == "9" * rest:
        span = _Node("ranges", ((ord(lo[0]), ord(hi[0])),))
        return [_concat([span] + [_Node("ranges", ((48, 57),))] * rest)]
    middle: list[_Node] = []
    if ord(hi[0]) - ord(lo[0]) > 1:
        middle = _digit_run(chr(ord(lo[0]) + 1) + "0" * rest, chr(ord(hi[0]) - 1) + "9" * rest)
    return _digit_run(lo, lo[0] + "9" * rest) + middle + _digit_run(hi[0] + "0" * rest, hi)


def _interval(low: int, high: int, digits: int) -> _Node:
    """Lucene's decimal interval: zero-padded to ``digits`` when > 0, else any leading zeros."""
    if digits > 0:
        return _union(_digit_run(str(low).zfill(digits), str(high).zfill(digits)))
    alternatives: list[_Node] = []
    for width in range(len(str(low)), len(str(high)) + 1):
        a = max(low, 10 ** (width - 1) if width > 1 else 0)
        b = min(high, 10**width - 1)
        if a <= b:
            alternatives += _digit_run(str(a), str(b))
    zeros = _repeat(_Node("ranges", ((48, 48),)), 0, None)
    return _concat([zeros, _union(alternatives)])


# --------------------------------------------------------------------------- to Python re


def _cp(cp: int) -> str:
    return f"\\x{cp:02x}" if cp < 0x100 else (f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}")


def _to_python(node: _Node) -> str:
    kind = node.kind
    if kind == "ranges":
        if node.ranges == _ANY.ranges:
            return "."
        if not node.ranges:
            return "(?!)"
        if len(node.ranges) == 1 and node.ranges[0][0] == node.ranges[0][1]:
            return re.escape(chr(node.ranges[0][0]))
        return "[" + "".join(_cp(a) if a == b else f"{_cp(a)}-{_cp(b)}" for a, b in node.ranges) + "]"
    if kind == "eps":
        return ""
    if kind == "empty":
        return "(?!)"
    if kind == "concat":
        return "".join(_to_python(c) for c in node.children)
    if kind == "union":
        return "(?:" + "|".join(_to_python(c) for c in node.children) + ")"
    inner = _to_python(node.children[0])
    suffix = {(0, None): "*", (1, None): "+", (0, 1): "?"}.get((node.low, node.high))
    if suffix is None:
        suffix = f"{{{node.low},}}" if node.high is None else f"{{{node.low},{node.high}}}"
    return f"(?:{inner}){suffix}"


def _has_intersection(node: _Node) -> bool:
    return node.kind == "inter" or any(_has_intersection(c) for c in node.children)


def parse_lucene_regex(pattern: str, insensitive: bool = False) -> _Node:
    """Parse a Lucene regular expression; EqlSemanticError with Lucene's message if invalid."""
    return _LuceneParser(pattern, insensitive).parse()


def lucene_regex_to_python(pattern: str, insensitive: bool = False) -> str | None:
    """The equivalent Python regex (use with ``re.fullmatch`` and DOTALL), or None when the
    pattern needs intersection, which ``re`` cannot express."""
    node = parse_lucene_regex(pattern, insensitive)
    return None if _has_intersection(node) else _to_python(node)


# --------------------------------------------------------------------------- automaton engine


class _Automaton:
    """A Thompson NFA over code-point ranges, with intersection by product construction."""

    def __init__(self) -> None:
        self.edges: list[list[tuple[int, int, int]]] = []
        self.eps: list[list[int]] = []

    def state(self) -> int:
        self.edges.append([])
        self.eps.append([])
        return len(self.edges) - 1

    def closure(self, states: Iterable[int]) -> frozenset[int]:
        seen = set(states)
        stack = list(seen)
        while stack:
            for nxt in self.eps[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return frozenset(seen)

    def build(self, node: _Node) -> tuple[int, int]:
        start, end = self.state(), self.state()
        kind = node.kind
        if kind == "ranges":
            self.edges[start] += [(lo, hi, end) for lo, hi in node.ranges]
        elif kind == "eps":
            self.eps[start].append(end)
        elif kind == "concat":
            cur = start
            for child in node.children:
                s, e = self.build(child)
                self.eps[cur].append(s)
                cur = e
            self.eps[cur].append(end)
        elif kind == "union":
            for child in node.children:
                s, e = self.build(child)
                self.eps[start].append(s)
                self.eps[e].append(end)
        elif kind == "repeat":
            cur = start
            for _ in range(node.low):
                s, e = self.build(node.children[0])
                self.eps[cur].append(s)
                cur = e
            if node.high is None:
                s, e = self.build(node.children[0])
                self.eps[cur] += [s, end]
                self.eps[e] += [s, end]
            else:
                for _ in range(node.high - node.low):
                    s, e = self.build(node.children[0])
                    self.eps[cur] += [s, end]
                    cur = e
            self.eps[cur].append(end)
        elif kind == "inter":
            self.intersect(start, end, self.build(node.children[0]), self.build(node.children[1]))
        return start, end

    def intersect(self, start: int, end: int, a: tuple[int, int], b: tuple[int, int]) -> None:
        ids: dict[tuple[int, int], int] = {}
        todo: list[tuple[int, int]] = []

        def pair_state(p: int, q: int) -> int:
            if (p, q) not in ids:
                ids[(p, q)] = self.state()
                todo.append((p, q))
            return ids[(p, q)]

        self.eps[start].append(pair_state(a[0], b[0]))
        while todo:
            p, q = todo.pop()
            here = ids[(p, q)]
            cp, cq = self.closure([p]), self.closure([q])
            if a[1] in cp and b[1] in cq:
                self.eps[here].append(end)
            for p1 in cp:
                for lo1, hi1, t1 in self.edges[p1]:
                    for q1 in cq:
                        for lo2, hi2, t2 in self.edges[q1]:
                            lo, hi = max(lo1, lo2), min(hi1, hi2)
                            if lo <= hi:
                                self.edges[here].append((lo, hi, pair_state(t1, t2)))


def _automaton_matcher(node: _Node) -> Matcher:
    auto = _Automaton()
    start, end = auto.build(node)
    initial = auto.closure([start])
    table: dict[tuple[frozenset[int], int], frozenset[int]] = {}

    def step(states: frozenset[int], cp: int) -> frozenset[int]:
        key = (states, cp)
        found = table.get(key)
        if found is None:
            found = auto.closure(t for s in states for lo, hi, t in auto.edges[s] if lo <= cp <= hi)
            if len(table) < 100_000:  # a lazily built DFA; bounded so odd inputs cannot exhaust memory
                table[key] = found
        return found

    def match(value: str) -> bool:
        states = initial
        for ch in value:
            states = step(states, ord(ch))
            if not states:
                return False
        return end in states

    return match


# --------------------------------------------------------------------------- regex predicates


def _java_length(text: str) -> int:
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def check_regex_length(pattern: str, max_length: int | None = MAX_REGEX_LENGTH) -> None:
    """Refuse a regex longer than ``index.max_regex_length``, with Elasticsearch's message."""
    if max_length is not None and _java_length(pattern) > max_length:
        raise EqlSemanticError(
            f"The length of regex [{_java_length(pattern)}] used in the Regexp Query request has exceeded "
            f"the allowed maximum of [{max_length}]. This maximum can be set by changing the "
            "[index.max_regex_length] index level setting."
        )


def lucene_regex_matcher(
    patterns: Sequence[str], insensitive: bool, *, max_length: int | None = MAX_REGEX_LENGTH
) -> Matcher:
    """A predicate true when a value fully matches any of the Lucene regular expressions.

    Raises EqlSemanticError for an invalid pattern (Lucene's message) or one longer than
    ``max_length`` (Elasticsearch's ``index.max_regex_length``, None to disable).
    """
    python_parts: list[str] = []
    engines: list[Matcher] = []
    for pattern in patterns:
        check_regex_length(pattern, max_length)
        node = parse_lucene_regex(pattern, insensitive)
        if _has_intersection(node):
            engines.append(_automaton_matcher(node))
        else:
            python_parts.append(_to_python(node))
    full = None
    if python_parts:
        try:
            full = re.compile("|".join(f"(?:{p})" for p in python_parts), re.DOTALL).fullmatch
        except (re.error, OverflowError, RecursionError) as exc:
            raise EqlSemanticError(f"regular expression too complex to compile: {exc}") from None
    if not engines:
        if full is None:
            return _never
        compiled = full
        return lambda value: compiled(value) is not None

    def match(value: str) -> bool:
        return (full is not None and full(value) is not None) or any(engine(value) for engine in engines)

    return match
