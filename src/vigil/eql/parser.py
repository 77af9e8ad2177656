"""Parse Elasticsearch EQL text into the syntax tree of :mod:`vigil.eql.ast`.

The pipeline mirrors Elasticsearch's: a lexer (hand-written, to reproduce Elasticsearch's tokens:
reserved lowercase keywords, ``in~`` and ``name~``, ``![``, its string and number rules, nested
comments), an LALR(1) parser driven by the tables lark builds from ``grammar.lark``, a builder
that makes the nodes, then :mod:`vigil.eql.verifier`. As in Elasticsearch, a syntax error anywhere
wins over what the builder finds (recorded while building, raised after a successful parse), and
that wins over what the verifier finds.

Every error is an :class:`~vigil.errors.EqlError` with a :class:`~vigil.errors.Location` (and so a
caret line) and, where one helps, a hint.
"""

from __future__ import annotations

import contextvars
import functools
from dataclasses import dataclass, replace
from typing import Any

from vigil.eql import ast, names
from vigil.eql.lexer import OPERATORS, WORD_TYPES, LexState, Token, tokenize
from vigil.eql.verifier import verify_expression, verify_query
from vigil.errors import EqlError, EqlSyntaxError, EqlUnsupportedError, Location

__all__ = ["parse", "parse_expression"]

_LONG_MAX = 2**63 - 1


# --------------------------------------------------------------------------- LALR driver


@dataclass(frozen=True)
class _Tables:
    """The parse tables, recast for a tight loop: per state, terminal -> shift or reduce."""

    actions: list[dict[str, Any]]
    start: dict[str, int]
    end: dict[str, int]


@functools.cache
def _tables() -> _Tables:
    """The LALR tables (see :mod:`vigil.eql.tables`: shipped as data, built by lark only when the
    grammar has changed since), with each reduction's node maker bound to a builder."""
    from vigil.eql import tables as shipped

    data = shipped.load_shipped() or shipped.build()
    builder = _Builder()
    makers: dict[tuple[str, str | None], Any] = {}
    actions: list[dict[str, Any]] = []
    for row in data["actions"]:
        out: dict[str, Any] = {}
        for symbol, entry in row.items():
            if isinstance(entry, list):
                size, origin, name, include = entry
                key = (name, _include_key(include))
                maker = makers.get(key)
                if maker is None:
                    maker = makers[key] = _maker(builder, name, include)
                out[symbol] = (size, maker, origin)
            else:
                out[symbol] = entry
        actions.append(out)
    return _Tables(actions, dict(data["start"]), dict(data["end"]))


def _include_key(include: list[list[int]] | None) -> str | None:
    """A hashable form of a reduction's child list."""
    return None if include is None else ",".join(f"{i}:{s}" for i, s in include)


class _Spliced:
    """The value of a rule without a builder method (lark's ``_rule`` and ``rule*`` helpers): its
    children, which the enclosing rule splices into its own."""

    __slots__ = ("children",)

    def __init__(self, children: list[Any]):
        self.children = children


def _maker(builder: _Builder, name: str, include: list[list[int]] | None) -> Any:
    """The node maker of a reduction: keep the listed children (splicing helper rules' children
    in, as lark's child filter does), then call the builder method or make a :class:`_Spliced`."""
    make: Any = _Spliced if name.startswith("tree:") else getattr(builder, name)
    if include is None:
        return make
    picks = [(int(i), bool(splice)) for i, splice in include]

    def filtered(children: list[Any]) -> Any:
        kept: list[Any] = []
        for i, splice in picks:
            if splice:
                kept += children[i].children
            else:
                kept.append(children[i])
        return make(kept)

    return filtered


def _drive(state: LexState, tokens: list[Token], start: str) -> Any:
    """Run the LALR automaton over ``tokens``, calling the builder at each reduction."""
    tables = _tables()
    actions = tables.actions
    stack = [tables.start[start]]
    values: list[Any] = []
    end = Token("$END", "", len(state.text), len(state.text), 0, 0)
    for tok in (*tokens, end):
        kind = tok.type
        while True:
            entry = actions[stack[-1]].get(kind)
            if entry.__class__ is int:
                stack.append(entry)
                values.append(tok)
                break
            if entry.__class__ is str:
                stack[-1] = actions[stack[-2]][entry]
                continue
            if entry is None:
                if kind == "$END" and len(stack) == 2 and stack[-1] == tables.end[start]:
                    return values[-1]
                raise _syntax_error(state, tok, stack, start)
            size, callback, origin = entry
            if size:
                children = values[-size:]
                del stack[-size:]
                del values[-size:]
            else:
                children = []
            values.append(callback(children))
            stack.append(actions[stack[-1]][origin])
    raise AssertionError("unreachable: the end token completes or fails the parse")


def _accepts(stack: list[int], kind: str, start: str) -> bool:
    """Whether the automaton in ``stack`` can take a token of this kind (after its reductions)."""
    tables = _tables()
    stack = list(stack)
    while True:
        entry = tables.actions[stack[-1]].get(kind)
        if isinstance(entry, int):
            return True
        if entry is None:
            return kind == "$END" and len(stack) == 2 and stack[-1] == tables.end[start]
        size, origin = (1, entry) if isinstance(entry, str) else (entry[0], entry[2])
        if size:
            del stack[-size:]
        stack.append(tables.actions[stack[-1]][origin])


def _replay(tokens: list[Token], start: str) -> list[int]:
    """The stack of the automaton after ``tokens`` (which it accepts), without building nodes."""
    actions = _tables().actions
    stack = [_tables().start[start]]
    for tok in tokens:
        while True:
            entry = actions[stack[-1]][tok.type]
            if isinstance(entry, int):
                stack.append(entry)
                break
            size, origin = (1, entry) if isinstance(entry, str) else (entry[0], entry[2])
            if size:
                del stack[-size:]
            stack.append(actions[stack[-1]][origin])
    return stack


# --------------------------------------------------------------------------- builder


@dataclass(frozen=True)
class _Keys:
    items: tuple[ast.Expr, ...]
    span: ast.Span


@dataclass(frozen=True)
class _Runs:
    value: int


@dataclass(frozen=True)
class _Header:
    keys: tuple[ast.Expr, ...]
    maxspan: ast.TimeSpan | None


@dataclass(frozen=True)
class _Until:
    step: ast.SequenceStep


def _span(first: Any, last: Any) -> ast.Span:
    if isinstance(first, Token):
        start, line, column = first.start_pos, first.line, first.column
    else:
        start, line, column = first.span.start, first.span.line, first.span.column
    return ast.Span(line, column, start, last.end_pos if isinstance(last, Token) else last.span.end)


def _nodes(items: list[Any]) -> list[Any]:
    return [i for i in items if not isinstance(i, Token)]


_COMPARISONS = {"EQ": "==", "NEQ": "!=", "LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}
_MATCH_OPS = {
    "SEQ": ":",
    "LIKE": "like",
    "LIKE_INSENSITIVE": "like~",
    "REGEX": "regex",
    "REGEX_INSENSITIVE": "regex~",
}
_CURRENT: contextvars.ContextVar[LexState] = contextvars.ContextVar("vigil_eql_parse")


def _defer(
    where: Any,
    message: str,
    hint: str | None = None,
    *,
    last: Any = None,
    error: type[EqlError] = EqlSyntaxError,
) -> None:
    """Record an error about ``where`` (to ``last``) for after the parse."""
    span = _span(where, where if last is None else last)
    _CURRENT.get().defer(span.start, span.end, message, hint, error)


def _long(text: str) -> int | None:
    """The value of an integer literal, or None beyond Elasticsearch's long range."""
    digits = text.lstrip("0")
    # the length test first: Python refuses to convert very long digit strings to int
    if len(digits) > 19 or int(text) > _LONG_MAX:
        return None
    return int(text)


def _number(tok: Token) -> int | float:
    """An integer or decimal literal, with Elasticsearch's range rules."""
    if tok.type == "INTEGER_VALUE":
        value = _long(tok.value)
        if value is not None:
            return value
    # Elasticsearch reads an integer beyond the long range as a double.
    number = float(tok.value)
    if number == float("inf"):
        _defer(tok, f"number {tok.value} is too large")
        return 0
    return number


class _Builder:
    """Callbacks that turn grammar rules into :mod:`vigil.eql.ast` nodes."""

    # ---- expressions

    def constant(self, items: list[Token]) -> ast.Literal:
        tok = items[0]
        value: str | int | float | bool | None
        if tok.type == "STRING":
            value = tok.value
        elif tok.type == "NULL":
            value = None
        elif tok.type in ("TRUE", "FALSE"):
            value = tok.type == "TRUE"
        else:
            value = _number(tok)
        return ast.Literal(value, span=_span(tok, tok))

    def field(self, items: list[Token]) -> ast.Field:
        parts = [t.value for t in items if t.type in ("IDENTIFIER", "QUOTED_IDENTIFIER")]
        index = [t for t in items if t.type == "LB_INDEX"]
        if index:
            _defer(
                index[0],
                "Elasticsearch EQL does not support array indexes",
                "a multi-valued field matches a condition when any of its values does; "
                "compare the field itself",
                last=items[-1],
                error=EqlUnsupportedError,
            )
        return ast.Field(".".join(parts), items[0].type == "OPTIONAL", span=_span(items[0], items[-1]))

    def function_call(self, items: list[Any]) -> ast.FunctionCall:
        raw = items[0].value
        insensitive = raw.endswith("~")
        name = raw[:-1] if insensitive else raw
        spec = names.lookup_function(name)
        return ast.FunctionCall(
            spec.name if spec else name, tuple(_nodes(items)), insensitive, span=_span(items[0], items[-1])
        )

    def parenthesized(self, items: list[Any]) -> ast.Expr:
        return items[1]

    def in_set(self, items: list[Any]) -> ast.InSet:
        negated = items[1].type == "NOT"
        op = items[2 if negated else 1]
        return ast.InSet(
            items[0],
            tuple(_nodes(items[1:])),
            negated=negated,
            insensitive=op.type == "IN_INSENSITIVE",
            span=_span(items[0], items[-1]),
        )

    def match(self, items: list[Any]) -> ast.Match:
        return ast.Match(
            _MATCH_OPS[items[1].type], items[0], tuple(_nodes(items[1:])), span=_span(items[0], items[-1])
        )

    def unary(self, items: list[Any]) -> ast.Expr:
        if items[0].type == "PLUS":  # Elasticsearch drops a unary plus
            return items[1]
        return ast.Negate(items[1], span=_span(items[0], items[1]))

    def arithmetic(self, items: list[Any]) -> ast.Arithmetic:
        return ast.Arithmetic(items[1].value, items[0], items[2], span=_span(items[0], items[2]))

    def comparison(self, items: list[Any]) -> ast.Comparison:
        return ast.Comparison(_COMPARISONS[items[1].type], items[0], items[2], span=_span(items[0], items[2]))

    def not_(self, items: list[Any]) -> ast.Not:
        return ast.Not(items[1], span=_span(items[0], items[1]))

    def and_(self, items: list[Any]) -> ast.And:
        left, right = items[0], items[2]
        terms = (
            *(left.terms if isinstance(left, ast.And) else (left,)),
            *(right.terms if isinstance(right, ast.And) else (right,)),
        )
        return ast.And(terms, span=_span(left, right))

    def or_(self, items: list[Any]) -> ast.Or:
        left, right = items[0], items[2]
        terms = (
            *(left.terms if isinstance(left, ast.Or) else (left,)),
            *(right.terms if isinstance(right, ast.Or) else (right,)),
        )
        return ast.Or(terms, span=_span(left, right))

    def relationship(self, items: list[Any]) -> ast.Literal:
        _defer(
            items[0],
            f"Elasticsearch EQL does not support `{items[0].value} of [...]` (process lineage)",
            "descendant of, child of and event of exist only in Endgame EQL",
            last=items[1],
            error=EqlUnsupportedError,
        )
        return ast.Literal(None, span=_span(items[0], items[-1]))

    # ---- queries

    def event_filter(self, items: list[Any]) -> ast.EventQuery:
        category = None if items[0].type == "ANY" else items[0].value
        return ast.EventQuery(category, items[2], span=_span(items[0], items[2]))

    def event_query(self, items: list[Any]) -> ast.EventQuery:
        return items[0]

    def subquery(self, items: list[Any]) -> ast.SequenceStep:
        return ast.SequenceStep(
            items[1], missing=items[0].type == "MISSING_EVENT_OPEN", span=_span(items[0], items[2])
        )

    def join_keys(self, items: list[Any]) -> _Keys:
        return _Keys(tuple(_nodes(items)), _span(items[0], items[-1]))

    def runs(self, items: list[Token]) -> _Runs:
        if items[1].value != "runs":
            _defer(items[1], f"unknown step option {items[1].value}", "a sequence step accepts `with runs=N`")
            return _Runs(1)
        if items[3].type != "INTEGER_VALUE" or not 1 <= (_long(items[3].value) or 0) <= names.MAX_RUNS:
            _defer(items[3], f"runs must be a whole number from 1 to {names.MAX_RUNS}, not {items[3].value}")
            return _Runs(1)
        return _Runs(int(items[3].value))

    def join_term(self, items: list[Any]) -> ast.SequenceStep:
        keys = items[1].items if len(items) > 1 else ()
        return replace(items[0], keys=keys, span=_span(items[0], items[-1]))

    def sequence_term(self, items: list[Any]) -> ast.SequenceStep:
        keys = next((i.items for i in items if isinstance(i, _Keys)), ())
        runs = next((i.value for i in items if isinstance(i, _Runs)), 1)
        last = next((i for i in reversed(items) if isinstance(i, (Token, _Keys, ast.SequenceStep))), items[0])
        return replace(items[0], keys=keys, runs=runs, span=_span(items[0], last))

    def until_clause(self, items: list[Any]) -> _Until:
        return _Until(items[1])

    join_until = until_clause

    def maxspan(self, items: list[Token]) -> ast.TimeSpan:
        number, span = items[3], _span(items[0], items[-1])
        unit = items[4].value if len(items) > 4 else None
        value = _long(number.value) if number.type == "INTEGER_VALUE" else None
        units = "the units are ms, s, m, h and d"
        if number.type != "INTEGER_VALUE":
            _defer(number, f"maxspan must be a whole number, not {number.value}", "for example maxspan=90s")
        elif value is None or value <= 0:
            _defer(number, f"maxspan must be a positive whole number, not {number.value}")
        elif unit is None:
            _defer(number, "maxspan needs a time unit", f"did you mean {number.value}s? The {units}")
        elif unit not in names.TIME_UNITS:
            _defer(items[4], f"unknown time unit {unit} in maxspan", units.capitalize())
        else:
            return ast.TimeSpan(value, unit, span=span)
        return ast.TimeSpan(1, "s", span=span)  # a placeholder: the query is refused after parsing

    def sequence_header(self, items: list[Any]) -> _Header:
        return _Header(items[0].items, items[1] if len(items) > 1 else None)

    def sequence_header_late_by(self, items: list[Any]) -> _Header:
        if len(items) > 1:
            _defer(items[1], "`by` must come before `with maxspan`", "write: sequence by key with maxspan=5m")
            return _Header(items[1].items, items[0])
        return _Header((), items[0])

    def sequence(self, items: list[Any]) -> ast.SequenceQuery:
        header = next((i for i in items if isinstance(i, _Header)), _Header((), None))
        steps = tuple(i for i in items if isinstance(i, ast.SequenceStep))
        until = next((i.step for i in items if isinstance(i, _Until)), None)
        last = until or steps[-1]
        return ast.SequenceQuery(steps, header.keys, header.maxspan, until, span=_span(items[0], last))

    def sample(self, items: list[Any]) -> ast.SampleQuery:
        keys = next((i.items for i in items if isinstance(i, _Keys)), ())
        steps = tuple(i for i in items if isinstance(i, ast.SequenceStep))
        return ast.SampleQuery(steps, keys, span=_span(items[0], items[-1]))

    def join(self, items: list[Any]) -> ast.EventQuery:
        _defer(
            items[0],
            "Elasticsearch EQL does not support join",
            "use sequence (ordered events) or sample (unordered events)",
            error=EqlUnsupportedError,
        )
        return ast.EventQuery(None, ast.Literal(True), span=_span(items[0], items[0]))

    def pipe(self, items: list[Any]) -> ast.Pipe:
        return ast.Pipe(items[1].value, tuple(_nodes(items)), span=_span(items[0], items[-1]))

    def statement(self, items: list[Any]) -> ast.Query:
        return ast.Query(items[0], tuple(items[1:]))


# --------------------------------------------------------------------------- syntax errors

_EXPRESSION_START = {"IDENTIFIER", "QUOTED_IDENTIFIER", "STRING", "INTEGER_VALUE", "LP"}
_CONSTANTS = {"NULL", "TRUE", "FALSE", "STRING", "INTEGER_VALUE", "DECIMAL_VALUE"}
# fmt: off
_VALUE_START = _CONSTANTS | {"IDENTIFIER", "QUOTED_IDENTIFIER", "TILDE_IDENTIFIER", "LP", "NOT", "MINUS",
                             "PLUS", "OPTIONAL"}
# What may follow a complete operand: shown as "an operator" when several are possible.
_CONTINUATIONS = {*_COMPARISONS, *_MATCH_OPS, "AND", "OR", "PLUS", "MINUS", "ASTERISK", "SLASH", "PERCENT",
                  "IN", "IN_INSENSITIVE", "NOT", "DOT", "LB_INDEX", "LP"}
# fmt: on
_TEXT = (
    {kind: symbol for symbol, kind in OPERATORS.items()}
    | {kind: word for word, kind in WORD_TYPES.items()}
    | {"LB_INDEX": "[", "$END": "end of query"}
)
_WORDS = dict.fromkeys(("STRING",), "a string") | dict.fromkeys(
    ("INTEGER_VALUE", "DECIMAL_VALUE"), "a number"
)
_WORDS |= dict.fromkeys(("IDENTIFIER", "QUOTED_IDENTIFIER"), "a name") | {
    "TILDE_IDENTIFIER": "a function name"
}


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "end of query"
    text = tok.value
    if tok.type == "STRING":
        return f'string "{text[:30]}{"..." if len(text) > 30 else ""}"'
    if tok.type in ("INTEGER_VALUE", "DECIMAL_VALUE"):
        return f"number {text}"
    if tok.type in ("IDENTIFIER", "TILDE_IDENTIFIER"):
        return f'name "{text}"'
    if tok.type == "QUOTED_IDENTIFIER":
        return f"name `{text}`"
    if text in WORD_TYPES:
        return f'keyword "{text}"'
    return f'"{text}"'


def _describe_expected(expected: set[str]) -> str:
    parts: list[str] = []
    rest = set(expected)
    if rest >= _EXPRESSION_START:
        parts.append("an expression" if "NOT" in rest else "a value")
        rest -= _VALUE_START
    elif rest >= _CONSTANTS:
        parts.append("a constant (a string, number, true, false or null)")
        rest -= _CONSTANTS
    elif {"ANY", "STRING", "IDENTIFIER"} <= rest:
        parts.append("an event category (a name, a string or any)")
        rest -= {"ANY", "STRING", "IDENTIFIER"}
    if len(rest & _CONTINUATIONS) >= 4:
        parts.append("an operator")
        rest -= _CONTINUATIONS
    end = "$END" in rest
    rest.discard("$END")
    parts.extend(f'"{_TEXT[k]}"' if k in _TEXT else _WORDS.get(k, k.lower()) for k in sorted(rest))
    if end:
        parts.append("the end of the query")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def _syntax_error(state: LexState, tok: Token, stack: list[int], start: str) -> EqlError:
    """The error for ``tok``, which the automaton in ``stack`` cannot take, in the user's words."""
    tokens = state.tokens
    index = next((i for i, t in enumerate(tokens) if t is tok), len(tokens))
    # The automaton may have reduced on this token before failing; ask the state it was in.
    stack = _replay(tokens[:index], start)
    expected = {
        kind
        for kind in _tables().actions[stack[-1]]
        if (kind.isupper() or kind == "$END") and _accepts(stack, kind, start)
    }
    expected.discard("OF")  # lineage (`descendant of`) is only parsed to be refused
    prev = tokens[index - 1] if index > 0 else None
    if tok.type == "$END":
        end = prev.end_pos if prev is not None else 0
        location = state.location(end, end + 1)
    else:
        location = state.location(tok.start_pos, tok.end_pos)
    pipe = next(
        (tokens[i + 1] for i in range(index - 1, -1, -1) if tokens[i].type == "PIPE" and i + 1 < len(tokens)),
        None,
    )
    if pipe is not None and pipe.type == "IDENTIFIER" and pipe.value in names.ENDGAME_PIPES:
        return EqlUnsupportedError(
            f"Elasticsearch EQL does not support the {pipe.value} pipe",
            state.location(pipe.start_pos, pipe.end_pos),
            "only the head and tail pipes exist in Elasticsearch EQL",
        )
    if tok.type == "IDENTIFIER" and tok.value == "fork" and prev is not None and prev.type == "RB":
        return EqlUnsupportedError(
            "Elasticsearch EQL does not support fork in sequences",
            location,
            "remove `fork=...`; each step matches one event",
        )
    if (
        prev is not None
        and prev.type in _MATCH_OPS
        and tok.type in ("IDENTIFIER", "QUOTED_IDENTIFIER", "OPTIONAL")
    ):
        return EqlUnsupportedError(
            f"Elasticsearch EQL cannot compare a field to another field with {prev.value}",
            location,
            f"the right side of {prev.value} must be a constant, or a list of constants in parentheses",
        )
    if tok.type == "ASGN" and "EQ" in expected:
        return EqlSyntaxError(
            'unknown operator "="; did you mean "=="?',
            location,
            'use "==" for case-sensitive equality or ":" for case-insensitive matching',
        )
    hint = None
    if tok.type in _COMPARISONS and "EQ" not in expected and prev is not None:
        hint = "comparisons cannot be chained; join them with and, as in `a < b and b < c`"
    elif tok.type in _MATCH_OPS and prev is not None and prev.type == "NOT":
        hint = f'only in and in~ can follow not; write `not field {tok.value} "pattern"`'
    elif tok.type == "IDENTIFIER" and tok.value.lower() in names.KEYWORDS and tok.value != tok.value.lower():
        hint = f"keywords are lowercase in Elasticsearch EQL: write {tok.value.lower()}"
    elif tok.value in names.KEYWORDS and {"ANY", "STRING"} <= expected:
        hint = f'{tok.value} is a keyword; as an event category, write it as a string: "{tok.value}"'
    elif tok.value in names.KEYWORDS and "IDENTIFIER" in expected:
        hint = f"{tok.value} is a keyword; to use it as a field name, write it in backquotes: `{tok.value}`"
    after = ""
    if prev is not None:
        after = " after the step" if prev.type == "RB" else f' after "{prev.value}"'
        if prev.type in ("STRING", "INTEGER_VALUE", "DECIMAL_VALUE", "IDENTIFIER", "QUOTED_IDENTIFIER"):
            after = f" after {_describe_token(prev)}"
    message = f"unexpected {_describe_token(tok)}; expected {_describe_expected(expected)}{after}"
    return EqlSyntaxError(message, location, hint)


# --------------------------------------------------------------------------- entry points


def _run(text: str, start: str) -> Any:
    if not isinstance(text, str):
        raise TypeError(f"EQL text must be a str, not {type(text).__name__}")
    state = LexState(text)
    if not text.strip(" \t\r\n"):
        raise EqlSyntaxError(
            f"empty {start if start == 'expression' else 'query'}",
            Location(1, 1, 1, text),
            'an EQL query looks like: process where process.name == "cmd.exe"',
        )
    token = _CURRENT.set(state)
    try:
        result = _drive(state, tokenize(state), start)
    finally:
        _CURRENT.reset(token)
    if state.deferred:
        raise min(state.deferred, key=lambda item: item[0])[1]
    return result


def parse(text: str) -> ast.Query:
    """Parse an EQL query (an event query, sequence or sample, with pipes) into an :class:`ast.Query`.

    Raises :class:`~vigil.errors.EqlSyntaxError` for text that is not EQL,
    :class:`~vigil.errors.EqlUnsupportedError` for Endgame EQL that Elasticsearch refuses, and
    :class:`~vigil.errors.EqlSemanticError` for other invalid queries (unknown function, wrong
    argument count, too few sequence steps...).
    """
    if not isinstance(text, str):
        raise TypeError(f"EQL text must be a str, not {type(text).__name__}")
    known = _REMEMBERED.get(text)
    return known if known is not None else _parse_cached(text)


# Trees parsed by another process (rules loaded by a helper, see vigil.rules.loaders): the same
# trees this process would make of the same texts.
_REMEMBERED: dict[str, ast.Query] = {}


def remember_parsed(trees: dict[str, ast.Query]) -> None:
    """Take the parsed trees of these query texts as :func:`parse` would make them (a few
    thousand at most are kept)."""
    if len(_REMEMBERED) + len(trees) > 8192:
        _REMEMBERED.clear()
    _REMEMBERED.update(trees)


# A rule's query is parsed when the rule is loaded (to report errors at their place in the file)
# and again when it is compiled; the tree is immutable, so the second parse can share the first.
@functools.lru_cache(maxsize=4096)
def _parse_cached(text: str) -> ast.Query:
    query: ast.Query = replace(_run(text, "statement"), source=text)
    verify_query(query)
    return query


def parse_expression(text: str) -> ast.Expr:
    """Parse a lone EQL expression (a condition or a value), such as ``a == 1 and b : "x*"``.

    The function checks apply; the checks that concern a whole query (field-to-field comparisons,
    join keys, pipes, steps) do not.
    """
    expr: ast.Expr = _run(text, "expression")
    verify_expression(expr, text)
    return expr
