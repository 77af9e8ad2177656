"""The columnar filter of many-rules hunts (vigil.engine.columnar): never a missed match, and as
narrow as the exact evaluator where every leaf is known (seeded property tests), plus the rows
it leaves to the line-by-line path."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from test_dispatch import NAMES, QUERIES, _doc
from vigil.ecs.ecs_schema import ecs_schema
from vigil.engine.columnar import ColumnarFilter
from vigil.engine.compile import ExprCompiler
from vigil.eql import ast
from vigil.eql.parser import parse

MORE = [
    'process where process.name != "cmd.exe"',
    "process where process.name == null",
    'process where process.name != null and not process.args : "-enc"',
    'process where not (process.name : "*.exe" or process.pid == 4)',
    "process where process.pid > 50 and process.pid <= 100",
    'process where startsWith(process.name, "cmd") or endsWith~(process.name, ".EXE")',
    'process where stringContains(process.command_line, "#1") and length(process.args) > 1',
    'process where process.name regex~ "c.d\\\\.exe"',
    "process where process.pid + process.parent.pid > 100",  # two fields: unknown
    'network where cidrmatch(destination.ip, "10.0.0.0/8", "::ffff:192.168.0.0/112", "fe80::/10")',
    'network where not cidrmatch(destination.ip, "127.0.0.1", "::1") and destination.port != 445',
    'network where cidrmatch(destination.ip, "192.168.1.1", "::ffff:192.168.0.9", "10.0.0.0/31", "::/127")',
    'network where cidrmatch(destination.ip, "192.168.0.0/16")'
    ' and not cidrmatch(destination.ip, "192.168.1.0/24")',
    'any where custom.num in (445, "80") or custom.num : "44*"',
    'any where ?custom.missing == null and event.action in~ ("CREATION")',
    'process where event.type : "start" and process.args like~ ("/ENC", "-e?c")',
    'file where file.name : ("*.TXT", "kmd*") and not file.extension == "txt"',
    'process where process.name like "\u0130*" or process.name : "\u212amd.exe"',
    "process where true",
    "any where false",
    "process where not true or process.pid == 4",
    'process where false or not (process.name == "cmd.exe" and true)',
    # a filter that is its category test: known (``true`` is a constant of the program)
    'sequence by process.entity_id [process where process.name == "cmd.exe"] [network where true]'
    ' until [process where true and event.type == "end"]',
    # every filter known: the rule is told which of its steps are true
    'sequence [process where process.name : "cmd*"] [network where destination.port == 445]'
    " until [process where process.pid == 4]",
    'sample by host.os.type [process where process.name == "x.exe"] [file where file.extension : "exe"]',
]
ALL = QUERIES + MORE
BODIES = [parse(q).body for q in ALL]


def _filters(body: Any) -> list[tuple[str, ast.EventQuery]]:
    if isinstance(body, ast.EventQuery):
        return [("event.category", body)]
    steps = [*body.steps, *([body.until] if getattr(body, "until", None) else [])]
    return [("event.category", s.query) for s in steps]


def _odd(rng: random.Random, doc: dict[str, Any]) -> dict[str, Any]:
    """Shapes of real data the reader must take apart: nulls, empty and null-holding arrays,
    values of other JSON types, IPv6 and mapped addresses."""
    r = rng.random()
    if r < 0.1 and "process" in doc:
        doc["process"]["name"] = rng.choice([None, 7, ["cmd.exe", "x.exe"], [], "", True])
    elif r < 0.2 and "process" in doc:
        doc["process"]["args"] = rng.choice([[], ["-enc", None], [None], "-ENC", ["a", "b", "c"]])
    elif r < 0.3:
        doc["destination"] = {
            "ip": rng.choice(
                [
                    "::1",
                    "::ffff:192.168.0.9",
                    "fe80::1",
                    "127.0.0.1",
                    "bad",
                    5,
                    "10.0.0.1",
                    "192.168.1.7",
                    "::",
                ]
            )
        }
    elif r < 0.35:
        doc["event"]["category"] = rng.choice([[], ["process", None], "PROCESS"])
    elif r < 0.4 and "process" in doc:
        doc["process"]["parent"] = {"name": rng.choice(NAMES)}
        doc["process"]["pid"] = rng.choice([50, 100, 101, -1, 2**40])
    return doc


def _docs(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [_odd(rng, _doc(rng)) for _ in range(n)]


@pytest.mark.parametrize("engine", ["hyperscan", "aho-corasick"])
@pytest.mark.parametrize("seed", range(4))
def test_candidates_cover_every_match_and_nothing_more_where_known(
    seed: int, engine: str, monkeypatch: Any
) -> None:
    from vigil.sources import scan
    from vigil.store import textcols

    if engine == "aho-corasick":
        monkeypatch.setattr(scan, "_NO_HYPERSCAN", True)  # the literal runs' fallback search

    # Parse failures split down to single rows, so that few documents are left over.
    monkeypatch.setattr(textcols, "MIN_SPLIT_ROWS", 1)
    schema = ecs_schema()
    cf = ColumnarFilter([_filters(b) for b in BODIES], schema)
    compiler = ExprCompiler(schema)
    tests = [[compiler.predicate(cf._condition(cat, q)) for cat, q in _filters(b)] for b in BODIES]
    docs = _docs(seed, 700)
    masks = cf.masks([orjson.dumps(d) for d in docs])
    known = cf.known
    exact_rows = told = several = 0
    for doc, mask, row_known in zip(docs, masks, known, strict=True):
        if "destination.port" in doc:
            assert mask is None  # a dotted key: only the field readers follow it
        if mask is None:
            continue
        exact_rows += 1
        for qi, preds in enumerate(tests):
            truths = tuple(k for k, p in enumerate(preds) if p(doc) is True)
            matches = bool(truths)
            named = bool(mask >> qi & 1)
            if row_known is not None and qi in row_known:
                # the filters the rule is told are true with the event are exactly those
                assert row_known[qi] == truths, (ALL[qi], doc)
                told += 1
                several += len(preds) > 1
            if matches:
                assert named, (ALL[qi], doc)
            if cf.exact[qi]:
                # every leaf known: the filter's answer is the evaluator's
                assert named == matches, (ALL[qi], doc)
    # half the documents have a dotted key; a few more hold values no column can (7 as a name)
    assert exact_rows > 250
    assert told > 100 and several > 10
    # the filter narrows: most documents are not candidates of most queries
    assert sum(bin(m).count("1") for m in masks if m is not None) < exact_rows * len(ALL) / 2


def test_rows_left_to_the_line_by_line_path(monkeypatch: Any) -> None:
    from vigil.store import textcols

    monkeypatch.setattr(textcols, "MIN_SPLIT_ROWS", 1)
    cf = ColumnarFilter([_filters(parse('process where process.name == "cmd.exe"').body)], ecs_schema())
    texts = [
        b'{"event":{"category":"process"},"process":{"name":"cmd.exe"}}',
        b'{"event":{"category":"process"},"process.name":"cmd.exe"}',  # a dotted key
        b'{"_source":{"event":{"category":"process"},"process":{"name":"cmd.exe"}}}',  # a hit
        b'{"event":{"category":"process"},"process":{"name":"svchost.exe"}}',
        b"[1, 2]",  # no object
        b'{"event": {"category": "process"}, "process": {"name": "cmd.exe"',  # cut short
        b'{"process":[{"name":"cmd.exe"}],"event":{"category":"process"}}',  # an array of objects
    ]
    masks = cf.masks(texts * 40)[: len(texts)]
    assert masks == [1, None, None, 0, None, None, None]


def test_memo_and_value_types() -> None:
    """The same value as a string and as a number are different values (each answered as the
    evaluator answers it); answers are remembered per value across batches."""
    q = parse('any where custom.v == "1" or custom.v == 2 or custom.v : "3*"').body
    cf = ColumnarFilter([_filters(q)], ecs_schema())
    pred = ExprCompiler(ecs_schema()).predicate(q.condition)  # type: ignore[union-attr]
    batches = [
        [b'{"custom":{"v":"1"}}', b'{"custom":{"v":"2"}}', b'{"custom":{"v":"35"}}', b"{}"],
        [b'{"custom":{"v":1}}', b'{"custom":{"v":2}}', b'{"custom":{"v":35}}', b'{"custom":{}}'],
        [b'{"custom":{"v":"2"}}', b'{"custom":{"v":"1"}}', b'{"custom":{"v":"30"}}'],
    ]
    sizes = []
    for texts in batches:
        masks = cf.masks(texts)
        assert None not in masks
        assert [bool(m) for m in masks] == [pred(orjson.loads(t)) is True for t in texts]
        sizes.append(len(cf._memo[0]))
    assert sizes[0] == 4 and sizes[1] == 7 and sizes[2] == 8  # "2", "1" remembered; "30" new


def test_a_batch_mostly_left_over_pauses_the_filter(monkeypatch: Any) -> None:
    """After a batch whose rows were mostly left over (dotted keys everywhere), the next batches
    skip the reader: every row left over, nothing told, until the pause ends."""
    from vigil.engine import columnar

    monkeypatch.setattr(columnar, "PAUSE_BATCHES", 2)
    cf = ColumnarFilter([_filters(parse('process where process.name == "cmd.exe"').body)], ecs_schema())
    dotted = [b'{"event.category":"process","process.name":"cmd.exe"}'] * 10
    plain = [b'{"event":{"category":"process"},"process":{"name":"cmd.exe"}}'] * 10
    assert cf.masks(dotted) == [None] * 10
    for _ in range(2):
        assert cf.masks(plain) == [None] * 10 and cf.known == [None] * 10
    assert cf.masks(plain) == [1] * 10 and cf.known == [{0: (0,)}] * 10
