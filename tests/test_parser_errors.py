"""What the parser says about queries it refuses: the error class, the words, the place, the hint."""

from __future__ import annotations

import pytest

from vigil.eql.parser import parse, parse_expression
from vigil.errors import EqlError, EqlSemanticError, EqlSyntaxError, EqlUnsupportedError

Syntax, Semantic, Unsupported = EqlSyntaxError, EqlSemanticError, EqlUnsupportedError

# (query, error class, words in the message, (line, column), words in the hint or None)
ERRORS: list[tuple[str, type[EqlError], str, tuple[int, int], str | None]] = [
    # ---- lexical
    ('process where a == "abc', Syntax, "unterminated string", (1, 20), 'ends with "'),
    ('process where a == "a\nb"', Syntax, "unterminated string", (1, 20), None),
    ('process where a == "a\\w"', Syntax, "invalid escape sequence \\w", (1, 22), "raw string"),
    ('process where a == "\\uad12"', Syntax, "invalid unicode escape", (1, 21), "\\u{XXXX}"),
    ('process where a == "\\u{}"', Syntax, "invalid unicode escape", (1, 21), None),
    ('process where a == "\\u{D}"', Syntax, "2 to 8 hex digits, \\u{D} has 1", (1, 21), None),
    ('process where a == "\\u{123456789}"', Syntax, "has 9", (1, 21), None),
    ('process where a == "\\u{d800}"', Syntax, "surrogate", (1, 21), None),
    ('process where a == "\\u{110000}"', Syntax, "invalid unicode character code", (1, 21), None),
    ("process where a == 'x'", Unsupported, "single-quoted strings", (1, 20), "double quotes"),
    ("process where a == 'x", Syntax, "unterminated single-quoted string", (1, 20), None),
    ('process where a == ?"x"', Unsupported, '?"..." raw strings', (1, 20), '"""text"""'),
    ("process where a == ?'x'", Unsupported, "?'...' raw strings", (1, 20), '"""text"""'),
    ("process where `a == 1", Syntax, "unterminated backquoted name", (1, 15), "``"),
    ("process where a == 1 /* comment", Syntax, "unterminated comment", (1, 22), "*/"),
    ("process where a == 1 /* a /* b */", Syntax, "unterminated comment", (1, 22), None),
    ("process where a # 1", Syntax, 'unexpected character "#"', (1, 17), None),
    ("process where ! a", Syntax, 'unexpected character "!"', (1, 15), '"not"'),
    ("process where startsWith ~(a, b)", Syntax, 'unexpected character "~"', (1, 26), "right after"),
    ("process where a && b", Syntax, 'unknown operator "&&"; did you mean "and"?', (1, 17), None),
    ("process where a || b", Syntax, 'unknown operator "||"; did you mean "or"?', (1, 17), None),
    ("process where a <> 1", Syntax, 'unknown operator "<>"; did you mean "!="?', (1, 17), None),
    ('process where a !: "x"', Unsupported, "!: operator", (1, 17), "not field"),
    ("process where a == 1e999", Syntax, "number 1e999 is too large", (1, 20), None),
    # ---- grammar
    ("process where a = 1", Syntax, 'unknown operator "="; did you mean "=="?', (1, 17), '"=="'),
    ("process where a < b < c", Syntax, 'unexpected "<"', (1, 21), "cannot be chained"),
    ("process where a == 1 == 2", Syntax, 'unexpected "=="', (1, 22), "cannot be chained"),
    ("process where", Syntax, "unexpected end of query; expected an expression", (1, 14), None),
    ("process where (a", Syntax, 'expected an operator or ")"', (1, 17), None),
    ("process x == 1", Syntax, 'unexpected name "x"; expected "where"', (1, 9), None),
    ("process where a in ()", Syntax, 'unexpected ")"; expected an expression', (1, 21), None),
    ("process where a in 1", Syntax, 'expected "("', (1, 20), None),
    ('process where a not like "x"', Syntax, 'unexpected keyword "like"', (1, 21), "only in and in~"),
    ("process where a : -1", Syntax, "expected a constant", (1, 19), None),
    ("process where a : (1, b)", Syntax, "expected a constant", (1, 23), None),
    ("process where any == 1", Syntax, 'unexpected keyword "any"', (1, 15), "backquotes: `any`"),
    ("process where process.sequence == 1", Syntax, 'unexpected keyword "sequence"', (1, 23), "backquotes"),
    ("sequence where true", Syntax, 'unexpected keyword "where"', (1, 10), None),
    ("by where true", Syntax, 'unexpected keyword "by"', (1, 1), 'as a string: "by"'),
    ("process where a AND b", Syntax, 'unexpected name "AND"', (1, 17), "write and"),
    ("Process WHERE true", Syntax, 'unexpected name "WHERE"', (1, 9), "write where"),
    ("`process` where true", Syntax, "unexpected name `process`", (1, 1), None),
    ("process where true |", Syntax, "unexpected end of query", (1, 21), None),
    ("process where true ]", Syntax, 'unexpected "]"', (1, 20), None),
    ("sequence [process where true", Syntax, 'expected an operator or "]"', (1, 29), None),
    ("sequence [a where true] foo", Syntax, 'unexpected name "foo"', (1, 25), None),
    ("sequence [a where true] by x [b where true] by", Syntax, "unexpected end of query", (1, 47), None),
    ("sequence with [a where true] [b where true]", Syntax, 'expected "maxspan"', (1, 15), None),
    ("sequence with maxspan 5s [a where true] [b where true]", Syntax, 'expected "="', (1, 23), None),
    ("process where f(a,)", Syntax, "expected an expression", (1, 19), None),
    ("", Syntax, "empty query", (1, 1), None),
    ("  \n ", Syntax, "empty query", (1, 1), None),
    # ---- structure (Elasticsearch's builder)
    ("sequence [a where true]", Semantic, "at least 2 steps, found 1", (1, 1), "runs=N"),
    (
        "sequence with maxspan=5m by k [a where true] [b where true]",
        Syntax,
        "`by` must come before",
        (1, 26),
        None,
    ),
    ("sequence with maxspan=5 [a where true] [b where true]", Syntax, "needs a time unit", (1, 23), "5s"),
    (
        "sequence with maxspan=5y [a where true] [b where true]",
        Syntax,
        "unknown time unit y",
        (1, 24),
        "ms, s, m, h",
    ),
    ("sequence with maxspan=5S [a where true] [b where true]", Syntax, "unknown time unit S", (1, 24), None),
    (
        "sequence with maxspan=0s [a where true] [b where true]",
        Syntax,
        "must be a positive whole number",
        (1, 23),
        None,
    ),
    ("sequence with maxspan=1.5s [a where true] [b where true]", Syntax, "whole number", (1, 23), None),
    ("sequence [a where true] with runs=0 [b where true]", Syntax, "from 1 to 100, not 0", (1, 35), None),
    ("sequence [a where true] with runs=101 [b where true]", Syntax, "not 101", (1, 35), None),
    ("sequence [a where true] with runs=2.5 [b where true]", Syntax, "not 2.5", (1, 35), None),
    (
        "sequence [a where true] with repeat=2 [b where true]",
        Syntax,
        "unknown step option repeat",
        (1, 30),
        "runs",
    ),
    ("sequence [a where true] by x [b where true]", Semantic, "expected 1 but found 0", (1, 30), None),
    (
        "sequence by k [a where true] by x [b where true] by x, y",
        Semantic,
        "expected 1 but found 2",
        (1, 53),
        None,
    ),
    (
        "sequence [a where true] by x [b where true] by y until [c where true]",
        Semantic,
        "expected 1 but found 0",
        (1, 56),
        None,
    ),
    (
        "sequence [a where true] ![b where true]",
        Semantic,
        "missing events ![...] needs a maxspan",
        (1, 1),
        None,
    ),
    (
        "sequence with maxspan=1m ![a where true] ![b where true]",
        Semantic,
        "at least one step that is not",
        (1, 1),
        None,
    ),
    (
        "sequence with maxspan=1m [a where true] [b where true] until ![c where true]",
        Semantic,
        "until step cannot",
        (1, 62),
        None,
    ),
    ("sample by k [a where true]", Semantic, "sample needs at least 2 filters", (1, 1), None),
    ("sample [a where true] [b where true]", Semantic, "sample needs join keys", (1, 1), None),
    ("sample by k [a where true] ![b where true]", Semantic, "missing-event filters", (1, 28), None),
    ("sample by k [a where true] by x [b where true]", Semantic, "expected 1 but found 0", (1, 33), None),
    ("process where true | head", Semantic, "head pipe takes one whole number", (1, 20), "| head 10"),
    ("process where true | head -1", Semantic, "head pipe takes one whole number", (1, 20), None),
    ("process where true | tail 1.5", Semantic, "tail pipe takes one whole number", (1, 20), None),
    ("process where true | head 1, 2", Semantic, "head pipe", (1, 20), None),
    ("process where true | HEAD 1", Semantic, "unknown pipe HEAD", (1, 20), "did you mean head"),
    ("process where true | frobnicate", Semantic, "unknown pipe frobnicate", (1, 20), None),
    # ---- functions
    ("process where foo(a)", Semantic, "unknown function foo", (1, 15), "the functions are"),
    (
        'process where startwith(a, "x")',
        Semantic,
        "unknown function startwith",
        (1, 15),
        "did you mean startsWith",
    ),
    ("process where concat~(a)", Semantic, "no case-insensitive variant concat~", (1, 15), "stringContains"),
    ("process where length(a, b)", Semantic, "length takes 1 argument, but 2 were given", (1, 15), None),
    ("process where startsWith(a)", Semantic, "startsWith takes 2 arguments, but 1 was given", (1, 15), None),
    (
        "process where cidrMatch(a)",
        Semantic,
        "cidrMatch takes at least 2 arguments, but 1 was given",
        (1, 15),
        None,
    ),
    ("process where substring(a)", Semantic, "substring takes 2 or 3 arguments", (1, 15), None),
    ("process where between(a, b)", Semantic, "between takes 3 or 4 arguments", (1, 15), None),
    # ---- Endgame features Elasticsearch refuses
    ("join [a where true] [b where true]", Unsupported, "does not support join", (1, 1), "sequence"),
    ("process where descendant of [a where true]", Unsupported, "`descendant of [...]`", (1, 15), None),
    ("process where child of [a where true]", Unsupported, "`child of [...]`", (1, 15), None),
    ("process where event of [a where true]", Unsupported, "`event of [...]`", (1, 15), None),
    ("sequence [a where true] fork=true [b where true]", Unsupported, "fork", (1, 25), None),
    ("process where true | unique a", Unsupported, "the unique pipe", (1, 20), "head and tail"),
    ("process where true | unique_count a b", Unsupported, "the unique_count pipe", (1, 22), None),
    ("process where true | count", Unsupported, "the count pipe", (1, 20), None),
    ("process where true | filter a == 1", Unsupported, "the filter pipe", (1, 20), None),
    ("process where true | sort a b", Unsupported, "the sort pipe", (1, 22), None),
    ("process where true | window 5m", Unsupported, "the window pipe", (1, 22), None),
    ('process where arrayContains(a, "x")', Unsupported, "function arrayContains", (1, 15), "multi-valued"),
    ("process where arraySearch(a, s, s == 1)", Unsupported, "function arraySearch", (1, 15), None),
    ('process where wildcard(a, "x*")', Unsupported, "function wildcard", (1, 15), 'field : "pattern"'),
    ('process where match(a, "x")', Unsupported, "function match", (1, 15), "regex"),
    ("process where safe(a)", Unsupported, "function safe", (1, 15), None),
    ('process where a[0] == "x"', Unsupported, "array indexes", (1, 16), None),
    (
        "sequence [a where true] by pid * 2 [b where true] by ppid * 2",
        Unsupported,
        "joins on fields only",
        (1, 28),
        None,
    ),
    (
        "sequence by string(pid) [a where true] [b where true]",
        Unsupported,
        "joins on fields only",
        (1, 13),
        None,
    ),
    ("sample by 1 [a where true] [b where true]", Unsupported, "joins on fields only", (1, 11), None),
    ("process where a == b", Unsupported, "compare a field to another field (==)", (1, 15), "?field"),
    ("process where length(a) <= length(b)", Unsupported, "another field (<=)", (1, 15), None),
    ("process where not (x == 1 or a != b + 1)", Unsupported, "another field (!=)", (1, 30), None),
    ('process where a in (b, "x")', Unsupported, "another field (in)", (1, 21), "constants"),
    ("process where a : b", Unsupported, "another field with :", (1, 19), "constant"),
    ("process where a like~ ?b", Unsupported, "another field with like~", (1, 23), None),
]


@pytest.mark.parametrize(
    ("query", "error", "words", "where", "hint"),
    ERRORS,
    ids=[q.replace("\n", " ") or "<empty>" for q, *_ in ERRORS],
)
def test_error(
    query: str, error: type[EqlError], words: str, where: tuple[int, int], hint: str | None
) -> None:
    with pytest.raises(EqlError) as caught:
        parse(query)
    exc = caught.value
    assert type(exc) is error, str(exc)
    assert words in exc.message, str(exc)
    assert exc.location is not None
    assert (exc.location.line, exc.location.column) == where, str(exc)
    if hint is not None:
        assert exc.hint is not None and hint in exc.hint, str(exc)
    rendered = str(exc)
    assert "Token(" not in rendered and "$END" not in rendered and "_Tok" not in rendered
    assert not any(name in exc.message for name in ("IDENTIFIER", "INTEGER_VALUE", "RPAR", "LB_INDEX"))


def test_caret_points_at_the_offending_token() -> None:
    with pytest.raises(EqlSyntaxError) as caught:
        parse("sequence by host.id\n  [process where a = 1]\n  [file where true]")
    rendered = str(caught.value)
    assert rendered.splitlines()[:3] == [
        'line 2, column 20: unknown operator "="; did you mean "=="?',
        "  [process where a = 1]",
        " " * 19 + "^",
    ]


def test_caret_spans_the_whole_token() -> None:
    with pytest.raises(EqlSyntaxError) as caught:
        parse("process where a == 1 foo")
    assert str(caught.value).splitlines()[2] == " " * 21 + "^^^"


def test_syntax_errors_win_over_later_refusals() -> None:
    # Elasticsearch only builds (and refuses) a query that parsed; a syntax error comes first
    with pytest.raises(EqlSyntaxError):
        parse("process where a[0] == 'x' and )")


def test_the_first_refusal_is_reported() -> None:
    with pytest.raises(EqlUnsupportedError, match="single-quoted"):
        parse("process where a == 'x' and b[0] == 1")


def test_unsupported_is_a_semantic_error() -> None:
    with pytest.raises(EqlSemanticError):
        parse("join [a where true] [b where true]")


def test_parse_expression_errors() -> None:
    with pytest.raises(EqlSyntaxError, match="empty expression"):
        parse_expression(" ")
    with pytest.raises(EqlSemanticError, match="unknown function"):
        parse_expression("nope(1)")
    with pytest.raises(EqlSyntaxError, match="expected an operator or the end of the query"):
        parse_expression("a b")
    assert parse_expression("a == b") is not None  # field comparisons are a query-level check


def test_not_a_string() -> None:
    with pytest.raises(TypeError):
        parse(b"process where true")  # type: ignore[arg-type]


def test_errors_are_reported_left_to_right() -> None:
    with pytest.raises(EqlSemanticError, match="unknown function foo"):
        parse("process where foo(a) and bar(b)")
    with pytest.raises(EqlSemanticError, match="unknown function foo"):
        parse("process where length(foo(a)) > bar(1)")
