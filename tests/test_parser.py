"""The EQL parser: what each construct parses to, and every live Elasticsearch spec query parses."""

from __future__ import annotations

import contextlib
import re
import time
import tomllib
from pathlib import Path

import pytest

from vigil.eql import ast
from vigil.eql.ast import (
    And,
    Arithmetic,
    Comparison,
    EventQuery,
    Field,
    FunctionCall,
    InSet,
    Literal,
    Match,
    Negate,
    Not,
    Or,
    Pipe,
    Query,
    SampleQuery,
    SequenceQuery,
    SequenceStep,
    TimeSpan,
)
from vigil.eql.parser import parse, parse_expression
from vigil.errors import EqlError, EqlUnsupportedError

SHARED = Path(__file__).parents[2] / "shared"
SPECS = SHARED / "conformance" / "es-eql"
LIVE_FILES = (
    "test_queries",
    "additional_test_queries",
    "test_queries_date",
    "test_queries_date_nanos",
    "test_extra",
    "test_missing_events",
    "test_sample",
    "test_sample_multi",
    "test_failing_shards",
)


def F(path: str, optional: bool = False) -> Field:
    return Field(path, optional)


def L(value: str | int | float | bool | None) -> Literal:
    return Literal(value)


def where(condition: ast.Expr, category: str | None = "process") -> Query:
    return Query(EventQuery(category, condition))


# --------------------------------------------------------------------------- expressions

EXPRESSIONS = [
    # literals
    ("null", L(None)),
    ("true", L(True)),
    ("false", L(False)),
    ("42", L(42)),
    ("4.5", L(4.5)),
    ("5.", L(5.0)),
    (".5", L(0.5)),
    ("1e3", L(1000.0)),
    ("1.5E-2", L(0.015)),
    ("9223372036854775807", L(9223372036854775807)),
    ("9223372036854775808", L(9.223372036854775808e18)),  # beyond long: a double, as in Elasticsearch
    ('"hello"', L("hello")),
    ('"a\\"b\\\\c\\n\\t\\r\\b\\f\\\'"', L("a\"b\\c\n\t\r\b\f'")),
    ('"\\u{41}\\u{0001F600}\\u{00e9}"', L("A\U0001f600\u00e9")),
    ('"""raw \\n "quoted" string"""', L('raw \\n "quoted" string')),
    ('""""x""""', L('"x"')),
    ('"""""hello""world!""""', L('""hello""world!"')),
    ('""', L("")),
    ('""""""', L("")),
    # fields
    ("process.name", F("process.name")),
    ("@timestamp", F("@timestamp")),
    ("?user.id", F("user.id", True)),
    ("? user.id", F("user.id", True)),
    ("`sequence`", F("sequence")),
    ("`my field`.x", F("my field.x")),
    ("`a``b`", F("a`b")),
    ("a.`b c`.d", F("a.b c.d")),
    ("_x1", F("_x1")),
    # arithmetic and precedence
    ("-5", Negate(L(5))),
    ("+5", L(5)),
    ("--5", Negate(Negate(L(5)))),
    ("1 + 2 * 3", Arithmetic("+", L(1), Arithmetic("*", L(2), L(3)))),
    ("(1 + 2) * 3", Arithmetic("*", Arithmetic("+", L(1), L(2)), L(3))),
    ("1 - 2 - 3", Arithmetic("-", Arithmetic("-", L(1), L(2)), L(3))),
    ("a % 2 / b", Arithmetic("/", Arithmetic("%", F("a"), L(2)), F("b"))),
    ("-a * b", Arithmetic("*", Negate(F("a")), F("b"))),
    (
        "1 * -2 <= -3 * 4",
        Comparison("<=", Arithmetic("*", L(1), Negate(L(2))), Arithmetic("*", Negate(L(3)), L(4))),
    ),
    # comparisons
    ("a == 1", Comparison("==", F("a"), L(1))),
    ("a != 1", Comparison("!=", F("a"), L(1))),
    ("a < 1", Comparison("<", F("a"), L(1))),
    ("a <= 1", Comparison("<=", F("a"), L(1))),
    ("a > 1", Comparison(">", F("a"), L(1))),
    ("a >= 1", Comparison(">=", F("a"), L(1))),
    ("a + 1 == 2", Comparison("==", Arithmetic("+", F("a"), L(1)), L(2))),
    ("null == (a > -1)", Comparison("==", L(None), Comparison(">", F("a"), Negate(L(1))))),
    # boolean logic, flattened
    ("a and b and c", And((F("a"), F("b"), F("c")))),
    ("a or b or c", Or((F("a"), F("b"), F("c")))),
    ("a and (b and c)", And((F("a"), F("b"), F("c")))),
    ("a or b and c", Or((F("a"), And((F("b"), F("c")))))),
    ("(a or b) and c", And((Or((F("a"), F("b"))), F("c")))),
    ("not a and b", And((Not(F("a")), F("b")))),
    ("not not a", Not(Not(F("a")))),
    ("not a == 1", Not(Comparison("==", F("a"), L(1)))),
    # predicates bind tighter than arithmetic and unary minus
    ("a in (1, 2)", InSet(F("a"), (L(1), L(2)))),
    ("a not in (1)", InSet(F("a"), (L(1),), negated=True)),
    ('a in~ ("x")', InSet(F("a"), (L("x"),), insensitive=True)),
    ('a not in~ ("x", "y")', InSet(F("a"), (L("x"), L("y")), negated=True, insensitive=True)),
    ("not a in (1)", Not(InSet(F("a"), (L(1),)))),
    ("1 + a in (1, 2)", Arithmetic("+", L(1), InSet(F("a"), (L(1), L(2))))),
    ('-a : "x"', Negate(Match(":", F("a"), (L("x"),)))),
    ("a in (1 + 2, ?b)", InSet(F("a"), (Arithmetic("+", L(1), L(2)), F("b", True)))),
    ('a : "x*"', Match(":", F("a"), (L("x*"),))),
    ('a : ("x*", "y")', Match(":", F("a"), (L("x*"), L("y")))),
    ('a like "x?"', Match("like", F("a"), (L("x?"),))),
    ('a like~ ("x", "y")', Match("like~", F("a"), (L("x"), L("y")))),
    ('a regex "[a-z]+"', Match("regex", F("a"), (L("[a-z]+"),))),
    ('a regex~ ("a.*")', Match("regex~", F("a"), (L("a.*"),))),
    ("a : null", Match(":", F("a"), (L(None),))),
    ('(a : "x") == true', Comparison("==", Match(":", F("a"), (L("x"),)), L(True))),
    # functions: any case, canonical name, ~ variants
    ('startsWith(a, "x")', FunctionCall("startsWith", (F("a"), L("x")))),
    ('startswith~(a, "x")', FunctionCall("startsWith", (F("a"), L("x")), insensitive=True)),
    ('STRINGCONTAINS(a, "x")', FunctionCall("stringContains", (F("a"), L("x")))),
    (
        'cidrmatch(ip, "10.0.0.0/8", "192.168.0.0/16")',
        FunctionCall("cidrMatch", (F("ip"), L("10.0.0.0/8"), L("192.168.0.0/16"))),
    ),
    ("concat(a)", FunctionCall("concat", (F("a"),))),
    ("length(a) > 0", Comparison(">", FunctionCall("length", (F("a"),)), L(0))),
    (
        'between~(a, "x", "y", true)',
        FunctionCall("between", (F("a"), L("x"), L("y"), L(True)), insensitive=True),
    ),
    ("add(a, multiply(2, b))", FunctionCall("add", (F("a"), FunctionCall("multiply", (L(2), F("b")))))),
    # comments and whitespace
    ("a /* one /* nested */ comment */ == // line\n 1", Comparison("==", F("a"), L(1))),
    ("a\t==\r\n1", Comparison("==", F("a"), L(1))),
]


@pytest.mark.parametrize(("text", "expected"), EXPRESSIONS, ids=[t for t, _ in EXPRESSIONS])
def test_expression(text: str, expected: ast.Expr) -> None:
    assert parse_expression(text) == expected


@pytest.mark.parametrize(("text", "expected"), EXPRESSIONS, ids=[t for t, _ in EXPRESSIONS])
def test_expression_inside_a_query(text: str, expected: ast.Expr) -> None:
    assert parse(f"process where {text}").body == EventQuery("process", expected)


def test_integer_types() -> None:
    assert type(parse_expression("5").value) is int  # type: ignore[union-attr]
    assert type(parse_expression("5.0").value) is float  # type: ignore[union-attr]
    assert type(parse_expression("1e2").value) is float  # type: ignore[union-attr]


# --------------------------------------------------------------------------- queries

QUERIES = [
    ("process where true", where(L(True))),
    ("any where true", where(L(True), None)),
    ('"my-category" where true', where(L(True), "my-category")),
    ('"""any""" where true', where(L(True), "any")),
    (
        "process where x == 1 | head 5",
        Query(EventQuery("process", Comparison("==", F("x"), L(1))), (Pipe("head", (L(5),)),)),
    ),
    (
        "process where true | tail 0 | head 1",
        Query(EventQuery("process", L(True)), (Pipe("tail", (L(0),)), Pipe("head", (L(1),)))),
    ),
    (
        "sequence [process where true] [file where true]",
        Query(
            SequenceQuery(
                (SequenceStep(EventQuery("process", L(True))), SequenceStep(EventQuery("file", L(True))))
            )
        ),
    ),
    (
        (
            "sequence by host.id, ?user.id with maxspan=10m\n  [process where a == 1] by p\n"
            "  [file where true] by f\nuntil [process where b] by q"
        ),
        Query(
            SequenceQuery(
                (
                    SequenceStep(EventQuery("process", Comparison("==", F("a"), L(1))), (F("p"),)),
                    SequenceStep(EventQuery("file", L(True)), (F("f"),)),
                ),
                keys=(F("host.id"), F("user.id", True)),
                maxspan=TimeSpan(10, "m"),
                until=SequenceStep(EventQuery("process", F("b")), (F("q"),)),
            )
        ),
    ),
    ("sequence with maxspan=500ms [a where true] [b where true]", None),
    ("sequence with maxspan = 2 h [a where true] [b where true]", None),
    (
        "sequence [a where true] by j [b where true] by k with runs=3",
        Query(
            SequenceQuery(
                (
                    SequenceStep(EventQuery("a", L(True)), (F("j"),)),
                    SequenceStep(EventQuery("b", L(True)), (F("k"),), runs=3),
                )
            )
        ),
    ),
    (
        "sequence [a where true] with runs=2",  # two queries after expanding runs
        Query(SequenceQuery((SequenceStep(EventQuery("a", L(True)), runs=2),))),
    ),
    (
        "sequence with maxspan=1h [a where true] ![b where true] [c where true]",
        Query(
            SequenceQuery(
                (
                    SequenceStep(EventQuery("a", L(True))),
                    SequenceStep(EventQuery("b", L(True)), missing=True),
                    SequenceStep(EventQuery("c", L(True))),
                ),
                maxspan=TimeSpan(1, "h"),
            )
        ),
    ),
    (
        "sample by host [a where true] by os [b where true] by os",
        Query(
            SampleQuery(
                (
                    SequenceStep(EventQuery("a", L(True)), (F("os"),)),
                    SequenceStep(EventQuery("b", L(True)), (F("os"),)),
                ),
                (F("host"),),
            )
        ),
    ),
    (
        "sample [a where true] by ip [b where true] by host_ip",
        Query(
            SampleQuery(
                (
                    SequenceStep(EventQuery("a", L(True)), (F("ip"),)),
                    SequenceStep(EventQuery("b", L(True)), (F("host_ip"),)),
                )
            )
        ),
    ),
    ("process where ?x == ?y", where(Comparison("==", F("x", True), F("y", True)))),
    ('process where "foo" == a', where(Comparison("==", L("foo"), F("a")))),
    ("process where a + 1 == 3", where(Comparison("==", Arithmetic("+", F("a"), L(1)), L(3)))),
    (
        'process where endsWith("x.exe", file.extension)',
        where(FunctionCall("endsWith", (L("x.exe"), F("file.extension")))),
    ),
]


@pytest.mark.parametrize(("text", "expected"), QUERIES, ids=[t.replace("\n", " ") for t, _ in QUERIES])
def test_query(text: str, expected: Query | None) -> None:
    query = parse(text)
    assert query.source == text
    if expected is not None:
        assert query == expected


def test_maxspan_units() -> None:
    for unit, millis in (("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)):
        body = parse(f"sequence with maxspan=3{unit} [a where true] [b where true]").body
        assert isinstance(body, SequenceQuery) and body.maxspan is not None
        assert body.maxspan.millis == 3 * millis


def test_spans_point_into_the_text() -> None:
    text = 'process where\n  process.name : "cmd.exe" and x == 1'
    condition = parse(text).body.condition  # type: ignore[union-attr]
    assert isinstance(condition, And)
    match, comparison = condition.terms
    assert match.span is not None and (match.span.line, match.span.column) == (2, 3)
    assert text[match.span.start : match.span.end] == 'process.name : "cmd.exe"'
    assert comparison.span is not None and text[comparison.span.start : comparison.span.end] == "x == 1"


def test_spans_do_not_affect_equality() -> None:
    assert parse("process where a == 1") == parse("process   where   a==1")


# --------------------------------------------------------------------------- Elasticsearch's own specs


def _load_specs(name: str) -> list[dict[str, object]]:
    text = (SPECS / f"{name}.toml").read_text(encoding="utf-8")
    # test_extra.toml writes some join keys as a bare null, which TOML does not allow
    text = re.sub(r"(?<=[\[,\s])null(?=\s*[,\]])", '"null"', text)
    return list(tomllib.loads(text)["queries"])


def live_queries() -> list[tuple[str, str]]:
    """(id, query) for every live spec of the conformance suite."""
    if not SPECS.is_dir():
        return []
    return [
        (f"{name}:{spec['name']}", str(spec["query"]).strip())
        for name in LIVE_FILES
        for spec in _load_specs(name)
    ]


needs_shared = pytest.mark.skipif(not SPECS.is_dir(), reason=f"conformance specs not found at {SPECS}")


@needs_shared
def test_every_live_spec_query_parses() -> None:
    queries = live_queries()
    assert len(queries) == 320
    failures = []
    for ident, query in queries:
        try:
            parse(query)
        except EqlError as exc:
            failures.append(f"{ident}: {exc}")
    assert not failures, "\n\n".join(failures)


@needs_shared
def test_live_spec_queries_parse_quickly() -> None:
    queries = [q for _, q in live_queries()]
    started = time.perf_counter()
    for query in queries:
        parse(query)
    # ~0.1 s on a small CI machine; the bound only catches an accidental slowdown by an order of magnitude
    assert time.perf_counter() - started < 3.0


# The historical list of queries Elasticsearch skipped. Those that use an Endgame-only feature must be
# refused as unsupported; the others are valid Elasticsearch EQL (their answers differed) or plain errors.
ENDGAME_FEATURE = re.compile(
    r"\|\s*(filter|unique|unique_count|sort|count)\b"  # pipes
    r"|^\s*join\b|\b(descendant|child|event) of\b"  # join, lineage
    r"|\bfork\s*="  # fork
    r"|\b(arrayContains|arraySearch|arrayCount|matchLite|match|safe)\s*\("  # functions
    r"|\w\[\d+\]"  # array index
    r"|\bby\s+\w+\s*\*"  # expression join keys
    r"|!:"  # pre-7.12 operator
    r"|\?\""  # ?"raw" strings
    # field compared to field
    r"|\b\w+\s*(<=|:)\s*(parent_process_name|pid|original_file_name|serial_event_id|process_name)\b"
    r"|\bin\s*\(\s*parent_process_name",
    re.MULTILINE,
)


def unsupported_specs() -> list[str]:
    if not SPECS.is_dir():
        return []
    return [str(spec["query"]) for spec in _load_specs("test_queries_unsupported")]


@needs_shared
def test_historical_unsupported_queries() -> None:
    queries = unsupported_specs()
    assert len(queries) == 126
    endgame = [q for q in queries if ENDGAME_FEATURE.search(q)]
    assert len(endgame) > 80
    for query in endgame:
        with pytest.raises(EqlUnsupportedError):
            parse(query)
    for query in queries:
        with contextlib.suppress(EqlError):  # refusing is fine; crashing with anything else is not
            parse(query)
