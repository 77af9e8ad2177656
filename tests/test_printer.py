"""The printer: canonical text, and parse(to_text(tree)) == tree for parsed and random trees."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from vigil.eql import ast
from vigil.eql.names import FUNCTIONS, TIME_UNITS
from vigil.eql.parser import parse, parse_expression
from vigil.eql.printer import quote_name, quote_string, to_text
from vigil.eql.verifier import has_required_field

SPECS = Path(__file__).parents[2] / "shared" / "conformance" / "es-eql"

CANONICAL = [
    ("process where true", "process where true"),
    ("process   where   a==1", "process where a == 1"),
    ("any where true", "any where true"),
    ('"any" where true', '"any" where true'),
    ('"my-category" where true', '"my-category" where true'),
    ('"""process""" where true', "process where true"),
    ('"sequence" where true', '"sequence" where true'),
    ("process where ?user.id != null", "process where ?user.id != null"),
    ("process where `sequence` == 1", "process where `sequence` == 1"),
    ("process where `my field`.x == 1", "process where `my field`.x == 1"),
    ("process where `a``b` == 1", "process where `a``b` == 1"),
    ("process where `plain` == 1", "process where plain == 1"),
    ('process where a == """C:\\Windows\\"""', 'process where a == "C:\\\\Windows\\\\"'),
    ('process where a == "tab\\there \\"q\\" \\u{00e9}"', 'process where a == "tab\\there \\"q\\" é"'),
    ('process where a == "\\u{200F}"', 'process where a == "\\u{200F}"'),
    ('process where a == "\\u{01}"', 'process where a == "\\u{01}"'),
    ("process where a == 1.50", "process where a == 1.5"),
    ("process where a == 1e3", "process where a == 1000.0"),
    ("process where a == 99999999999999999999", "process where a == 1e+20"),
    ("process where (a)", "process where a"),
    ("process where ((a == 1))", "process where a == 1"),
    ("process where a or b and c", "process where a or b and c"),
    ("process where (a or b) and c", "process where (a or b) and c"),
    ("process where not (a and b)", "process where not (a and b)"),
    ("process where not a and b", "process where not a and b"),
    ("process where 1 + 2 * 3 == 7", "process where 1 + 2 * 3 == 7"),
    ("process where (1 + 2) * 3 == 9", "process where (1 + 2) * 3 == 9"),
    ("process where 1 - (2 - 3) == 2", "process where 1 - (2 - 3) == 2"),
    ("process where (1 - 2) - 3 == -4", "process where 1 - 2 - 3 == -4"),
    ("process where - - a == 1", "process where - -a == 1"),
    ("process where +a == 1", "process where a == 1"),
    ("process where -(a + 1) == 1", "process where -(a + 1) == 1"),
    ("process where (a + b) in (1, 2)", "process where (a + b) in (1, 2)"),
    ("process where 1 + a in (1,2)", "process where 1 + a in (1, 2)"),
    ('process where a not in~ ("x","y")', 'process where a not in~ ("x", "y")'),
    ('process where a : ("x")', 'process where a : "x"'),
    ('process where a like~ ("x", "y*")', 'process where a like~ ("x", "y*")'),
    ('process where (a : "x") == false', 'process where a : "x" == false'),
    ("process where (a == 1) == (?b == 2)", "process where (a == 1) == (?b == 2)"),
    ('process where cidrmatch(ip, "10.0.0.0/8")', 'process where cidrMatch(ip, "10.0.0.0/8")'),
    ('process where STARTSWITH~(a, "x")', 'process where startsWith~(a, "x")'),
    ("process where true | head 5 | tail 2", "process where true | head 5 | tail 2"),
    (
        "sequence by host.id with maxspan=5m [process where a == 1] by pid with runs=2 "
        "![file where true] by pid until [process where b == 2] by pid | head 3",
        "sequence by host.id with maxspan=5m\n"
        "  [process where a == 1] by pid with runs=2\n"
        "  ![file where true] by pid\n"
        "until [process where b == 2] by pid\n"
        "| head 3",
    ),
    ("sequence [a where true] with runs=1 [b where true]", "sequence\n  [a where true]\n  [b where true]"),
    (
        "sample by host [a where true] by os [b where true] by os",
        "sample by host\n  [a where true] by os\n  [b where true] by os",
    ),
]


@pytest.mark.parametrize(("text", "canonical"), CANONICAL, ids=[t for t, _ in CANONICAL])
def test_canonical_text(text: str, canonical: str) -> None:
    query = parse(text)
    assert to_text(query) == canonical
    assert parse(canonical) == query
    assert to_text(parse(canonical)) == canonical  # canonical text is a fixed point


def test_parts_print_on_their_own() -> None:
    query = parse("sequence with maxspan=2h [a where x == 1] by k [b where true] by k | tail 1")
    body = query.body
    assert isinstance(body, ast.SequenceQuery)
    assert to_text(body.steps[0]) == "[a where x == 1] by k"
    assert to_text(body.steps[0].query) == "a where x == 1"
    assert to_text(body.steps[0].query.condition) == "x == 1"
    assert body.maxspan is not None and to_text(body.maxspan) == "2h"
    assert to_text(query.pipes[0]) == "| tail 1"


def test_hand_built_trees() -> None:
    assert to_text(ast.Literal(-5)) == "-5"  # reads back as a negation of 5
    assert parse_expression(to_text(ast.Literal(-5))) == ast.Negate(ast.Literal(5))
    assert to_text(ast.Negate(ast.Literal(-5))) == "- -5"
    nested = ast.And((ast.Field("a"), ast.And((ast.Field("b"), ast.Field("c")))))
    assert to_text(nested) == "a and (b and c)"
    with pytest.raises(TypeError):
        to_text(object())  # type: ignore[arg-type]


def test_quoting_helpers() -> None:
    assert quote_string('a"b\\c\n') == '"a\\"b\\\\c\\n"'
    assert quote_string("\x00\u2028") == '"\\u{00}\\u{2028}"'
    assert quote_name("name_1") == "name_1"
    assert quote_name("1name") == "`1name`"
    assert quote_name("and") == "`and`"
    assert quote_name("") == "``"


def _spec_queries() -> list[str]:
    if not SPECS.is_dir():
        return []
    queries = []
    for path in sorted(SPECS.glob("*.toml")):
        text = re.sub(r"(?<=[\[,\s])null(?=\s*[,\]])", '"null"', path.read_text(encoding="utf-8"))
        queries += [str(spec["query"]) for spec in tomllib.loads(text).get("queries", [])]
    return queries


@pytest.mark.skipif(not SPECS.is_dir(), reason=f"conformance specs not found at {SPECS}")
def test_round_trip_of_every_spec_query() -> None:
    count = 0
    for text in _spec_queries():
        try:
            query = parse(text)
        except Exception:  # the historical files hold queries Elasticsearch refuses
            continue
        count += 1
        printed = to_text(query)
        assert parse(printed) == query, f"{text!r} printed as {printed!r}"
        assert to_text(parse(printed)) == printed
    assert count >= 320


# --------------------------------------------------------------------------- random trees

_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=8)
_SEGMENT = st.one_of(st.sampled_from(["a", "b", "process", "name", "@timestamp", "and", "x1", "_y"]), _TEXT)
_PATH = st.lists(_SEGMENT, min_size=1, max_size=3).map(".".join)
_FIELDS = st.builds(ast.Field, _PATH, st.booleans())
_CONSTANT_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=0, max_value=2**63 - 1),
    st.floats(min_value=0.0, allow_nan=False, allow_infinity=False),
    _TEXT,
)
_CONSTANTS = st.builds(ast.Literal, _CONSTANT_VALUES)


def _flat(kind: type[ast.And] | type[ast.Or], terms: list[ast.Expr]) -> ast.Expr:
    flat: list[ast.Expr] = []
    for term in terms:
        flat.extend(term.terms if isinstance(term, kind) else (term,))
    return kind(tuple(flat))


def _comparable(pair: tuple[ast.Expr, ast.Expr]) -> bool:
    # Elasticsearch refuses a comparison between two fields (see the verifier)
    return not (has_required_field(pair[0]) and has_required_field(pair[1]))


def _calls(children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    specs = list(FUNCTIONS.values())

    @st.composite
    def call(draw: st.DrawFn) -> ast.Expr:
        spec = draw(st.sampled_from(specs))
        count = draw(
            st.integers(spec.min_args, spec.max_args if spec.max_args is not None else spec.min_args + 2)
        )
        args = tuple(draw(children) for _ in range(count))
        return ast.FunctionCall(spec.name, args, spec.insensitive_variant and draw(st.booleans()))

    return call()


def _extend(children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    pairs = st.tuples(children, children).filter(_comparable)
    return st.one_of(
        st.builds(
            lambda op, p: ast.Comparison(op, *p), st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), pairs
        ),
        st.builds(
            lambda op, p: ast.Arithmetic(op, *p),
            st.sampled_from(["+", "-", "*", "/", "%"]),
            st.tuples(children, children),
        ),
        st.builds(ast.Negate, children),
        st.builds(ast.Not, children),
        st.lists(children, min_size=2, max_size=3).map(lambda ts: _flat(ast.And, ts)),
        st.lists(children, min_size=2, max_size=3).map(lambda ts: _flat(ast.Or, ts)),
        st.builds(
            ast.InSet,
            children,
            st.lists(children, min_size=1, max_size=3).map(tuple),
            st.booleans(),
            st.booleans(),
        ).filter(lambda node: all(_comparable((node.expr, v)) for v in node.values)),
        st.builds(
            ast.Match,
            st.sampled_from([":", "like", "like~", "regex", "regex~"]),
            children,
            st.lists(_CONSTANTS, min_size=1, max_size=3).map(tuple),
        ),
        _calls(children),
    )


EXPRESSIONS = st.recursive(st.one_of(_CONSTANTS, _FIELDS), _extend, max_leaves=10)
_KEY_FIELDS = st.builds(
    ast.Field, st.sampled_from(["host.id", "user.name", "pid", "`sequence`", "x"]), st.booleans()
)
_CATEGORIES = st.one_of(st.none(), st.sampled_from(["process", "file", "any", "network_2", "my-cat"]), _TEXT)


@st.composite
def _steps(draw: st.DrawFn, count: int, key_count: int, sequence: bool) -> tuple[ast.SequenceStep, ...]:
    steps = []
    for _ in range(count):
        keys = tuple(draw(_KEY_FIELDS) for _ in range(key_count))
        runs = draw(st.integers(1, 3)) if sequence else 1
        query = ast.EventQuery(draw(_CATEGORIES), draw(EXPRESSIONS))
        steps.append(ast.SequenceStep(query, keys, runs, sequence and draw(st.booleans())))
    if all(s.missing for s in steps):
        steps[0] = ast.SequenceStep(steps[0].query, steps[0].keys, steps[0].runs, False)
    return tuple(steps)


@st.composite
def queries(draw: st.DrawFn) -> ast.Query:
    kind = draw(st.sampled_from(["event", "sequence", "sample"]))
    body: ast.QueryBody
    if kind == "event":
        body = ast.EventQuery(draw(_CATEGORIES), draw(EXPRESSIONS))
    else:
        keys = tuple(draw(_KEY_FIELDS) for _ in range(draw(st.integers(1 if kind == "sample" else 0, 2))))
        key_count = draw(st.integers(0, 2))
        steps = draw(_steps(draw(st.integers(2, 3)), key_count, kind == "sequence"))
        if kind == "sample":
            body = ast.SampleQuery(steps, keys)
        else:
            maxspan = draw(
                st.none() | st.builds(ast.TimeSpan, st.integers(1, 10_000), st.sampled_from(list(TIME_UNITS)))
            )
            if maxspan is None and any(s.missing for s in steps):
                maxspan = ast.TimeSpan(5, "m")
            until = draw(st.none() | _steps(1, key_count, False).map(lambda s: s[0]))
            body = ast.SequenceQuery(steps, keys, maxspan, until)
    pipes = tuple(
        ast.Pipe(draw(st.sampled_from(["head", "tail"])), (ast.Literal(draw(st.integers(0, 1000))),))
        for _ in range(draw(st.integers(0, 2)))
    )
    return ast.Query(body, pipes)


# The recursive strategy is large; describing it is slow and useless.
_QUIET = pytest.mark.filterwarnings("ignore:Generating overly large repr")


@_QUIET
@seed(20240611)
@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(EXPRESSIONS)
def test_random_expressions_round_trip(expr: ast.Expr) -> None:
    text = to_text(expr)
    assert parse_expression(text) == expr, text


@_QUIET
@seed(20240612)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(queries())
def test_random_queries_round_trip(query: ast.Query) -> None:
    text = to_text(query)
    assert parse(text) == query, text
