"""The shipped parse tables (src/vigil/eql/parse_tables.json) against lark's own analysis.

The parser loads its LALR tables from a file instead of running lark at start-up (see
vigil.eql.tables). These tests keep that file current with grammar.lark and show that the parser
gives the same trees and the same errors whichever way the tables were made.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings

from test_parser import live_queries, unsupported_specs
from test_parser_errors import ERRORS
from test_printer import queries
from vigil.eql import ast, parser, tables
from vigil.eql.printer import to_text
from vigil.errors import EqlError

ROOT = Path(__file__).resolve().parents[1]


_LARK_BUILD = tables.build


@functools.cache
def _built() -> dict[str, Any]:
    """Tables from lark's analysis in this process (numbered as lark numbers them, not as shipped)."""
    original = tables._renumbered
    try:
        tables._renumbered = lambda digest, start, end, actions: {  # type: ignore[assignment]
            "grammar_sha256": digest,
            "start": start,
            "end": end,
            "actions": actions,
        }
        return _LARK_BUILD()
    finally:
        tables._renumbered = original  # type: ignore[assignment]


@contextlib.contextmanager
def lark_tables() -> Iterator[None]:
    """Parse with tables lark built in this process, as if no tables were shipped."""
    original = tables.load_shipped
    tables.load_shipped = lambda: None  # type: ignore[assignment]
    original_build = tables.build
    tables.build = _built  # type: ignore[assignment]
    parser._tables.cache_clear()
    parser._parse_cached.cache_clear()
    try:
        yield
    finally:
        tables.load_shipped = original  # type: ignore[assignment]
        tables.build = original_build  # type: ignore[assignment]
        parser._tables.cache_clear()
        parser._parse_cached.cache_clear()


def outcome(text: str, expression: bool = False) -> Any:
    """A query's tree (with its spans) or its error (class, message, place, hint)."""
    try:
        tree = parser.parse_expression(text) if expression else parser.parse(text)
    except EqlError as exc:
        where = (exc.location.line, exc.location.column) if exc.location else None
        return (type(exc).__name__, exc.message, where, exc.hint, str(exc))
    return (tree, repr(tree))  # repr shows the spans, which equality ignores


def outcomes(texts: list[str], expression: bool = False) -> tuple[list[Any], list[Any]]:
    parser._parse_cached.cache_clear()
    shipped = [outcome(t, expression) for t in texts]
    with lark_tables():
        built = [outcome(t, expression) for t in texts]
    return shipped, built


def corpus() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "examples").rglob("*.eql"))]
    texts += [q for q, *_rest in ERRORS]
    texts += [q for _id, q in live_queries()]
    texts += unsupported_specs()
    return texts


def test_shipped_tables_match_the_grammar() -> None:
    data = tables.load_shipped()
    assert data is not None, "run `python -m vigil.eql.tables`: parse_tables.json is missing or stale"
    assert data == json.loads(json.dumps(tables.build())), "run `python -m vigil.eql.tables`"


def test_a_stale_file_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "parse_tables.json"
    data = json.loads(tables.TABLES.read_text(encoding="utf-8"))
    data["grammar_sha256"] = "0" * 64
    stale.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setattr(tables, "TABLES", stale)
    assert tables.load_shipped() is None
    stale.write_text("{not json", encoding="utf-8")
    assert tables.load_shipped() is None


def test_parsing_does_not_import_lark() -> None:
    import subprocess
    import sys

    code = "import sys; from vigil.eql.parser import parse; parse('a where b'); print('lark' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_same_trees_and_errors_on_known_queries() -> None:
    texts = corpus()
    assert len(texts) > 100
    shipped, built = outcomes(texts)
    for text, a, b in zip(texts, shipped, built, strict=True):
        assert a == b, text
    assert any(isinstance(o[0], ast.Query) for o in shipped)
    assert any(isinstance(o[0], str) for o in shipped)


def test_same_errors_on_every_prefix_of_a_query() -> None:
    # Each prefix stops the automaton in another state: the "expected ..." lists come from the tables.
    text = (
        'sequence by host.id with maxspan=5m [process where event.type : ("start", "x*") and '
        "not process.pid in (4, 8)] by process.entity_id ![file where length(file.name) > 3] "
        '[network where cidrMatch(destination.ip, "10.0.0.0/8")] until [process where true] | head 3'
    )
    prefixes = [text[:n] for n in range(len(text) + 1)]
    shipped, built = outcomes(prefixes)
    assert shipped == built
    exprs = ['a == 1 and b : "x" or not c in~ (1, 2)'[:n] for n in range(40)]
    shipped, built = outcomes(exprs, expression=True)
    assert shipped == built


def test_lark_numbers_states_its_own_way() -> None:
    # The comparison below is meaningful only if the two tables differ in more than data layout.
    assert _built()["start"] != tables.load_shipped()["start"] or _built() != tables.load_shipped()


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@seed(20261129)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(queries())
def test_same_trees_on_random_queries(query: ast.Query) -> None:
    text = to_text(query)
    shipped, built = outcomes([text])
    assert shipped == built
