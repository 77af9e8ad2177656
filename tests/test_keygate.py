"""The key gate of a many-rules hunt (vigil.rules.keygate) never changes an answer.

* table-driven: which events a rule's gate spares, per kind of key (sequence keys, per-step keys,
  multi-valued, optional, none), and which rules can be gated at all;
* a seeded hunt over generated process lifecycles, written partly out of time order and cut into
  tiny byte ranges (sequences crossing ranges), with sequence rules of every shape: the same alert
  ids with the gate, without it and line by line, while the gate spares most events.
"""

from __future__ import annotations

import random
from array import array
from pathlib import Path
from typing import Any

import orjson
import pytest

from test_ruleset_hunt import _alert_ids, _line_by_line, _plans, _rules, parallel_hunt
from vigil.ecs.ecs_schema import ecs_schema
from vigil.engine.columnar import ColumnarFilter, query_filters
from vigil.engine.model import Event
from vigil.rules.keygate import RowGates, final_keys, final_spans, gateable
from vigil.rules.parallel import COLUMNAR_MIN_RULES
from vigil.sources import ReadReport
from vigil.store.textcols import JsonColumns

SEQUENCES = [
    # until every process end, a broad second step
    'sequence by process.entity_id with maxspan=5m [process where event.type == "start" and'
    ' process.name == "net.exe"] [network where destination.port == 445] until [process where'
    ' event.type == "end"]',
    # per-step keys: a parent, then its child
    'sequence with maxspan=10m [process where process.name == "cmd.exe"] by process.entity_id'
    " [process where true] by process.parent.entity_id",
    # two keys, runs
    "sequence by host.id, user.name with maxspan=1m [authentication where event.outcome =="
    ' "failure"] with runs=2 [authentication where event.outcome == "success"]',
    # a multi-valued key
    "sequence by host.ip [network where destination.port == 3389]"
    ' [process where process.name == "mstsc.exe"]',
    # an optional key (null where absent)
    'sequence by ?process.group_id [process where process.name == "a.exe"] [process where'
    ' process.name == "b.exe"]',
    # no keys at all
    'sequence [process where process.name == "net.exe"] [file where file.name == "out.txt"]',
    # a first step that never matches: every later event is spared
    'sequence by process.entity_id [process where process.name == "never.exe"] [network where true]',
    # a missing-event step: not gated
    'sequence by process.entity_id with maxspan=5m [process where process.name == "cmd.exe"]'
    ' ![file where file.name == "x.txt"] [network where destination.port == 445]',
]
FILLER = [f'process where process.name == "tool{i}.exe"' for i in range(COLUMNAR_MIN_RULES)]
NAMES = ["net.exe", "cmd.exe", "a.exe", "b.exe", "mstsc.exe", "svchost.exe", "conhost.exe"]


def _lifecycles(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Process starts, their network, file, authentication and child events, and their ends."""
    docs: list[dict[str, Any]] = []
    t = 0
    for p in range(n):
        t += rng.randint(1, 20)
        host = f"h{rng.randint(1, 4)}"
        entity = f"e{p}"
        parent = f"e{rng.randint(0, p)}" if p else "e0"
        name = rng.choice(NAMES)
        proc: dict[str, Any] = {"entity_id": entity, "name": name, "parent": {"entity_id": parent}}
        if rng.random() < 0.5:
            proc["group_id"] = f"g{rng.randint(1, 3)}"
        base = {"host": {"id": host, "ip": [f"10.0.0.{rng.randint(1, 3)}", "fe80::1"]}}
        docs.append(
            {**base, "@timestamp": t, "event": {"category": "process", "type": "start"}, "process": proc}
        )
        for _ in range(rng.randint(0, 3)):
            t += rng.randint(1, 30)
            kind = rng.choice(["network", "file", "authentication"])
            doc = {**base, "@timestamp": t, "event": {"category": kind}, "process": {"entity_id": entity}}
            if kind == "network":
                doc["destination"] = {"port": rng.choice([445, 3389, 80])}
            elif kind == "file":
                doc["file"] = {"name": rng.choice(["out.txt", "x.txt", "y.txt"])}
            else:
                doc["event"]["outcome"] = rng.choice(["failure", "failure", "success"])
                doc["user"] = {"name": rng.choice(["u1", "u2"])}
            docs.append(doc)
        if rng.random() < 0.7:
            t += rng.randint(1, 30)
            end = {**base, "@timestamp": t, "event": {"category": "process", "type": "end"}, "process": proc}
            docs.append(end)
    for doc in docs:
        doc["@timestamp"] = (
            f"2024-05-01T{doc['@timestamp'] // 3600:02d}:{doc['@timestamp'] // 60 % 60:02d}:"
            + (f"{doc['@timestamp'] % 60:02d}Z")
        )
        doc["data_stream"] = {"type": "logs", "dataset": "endpoint.events", "namespace": "default"}
    # Some events a little out of time order (a later step read before its first step).
    for _ in range(len(docs) // 20):
        i = rng.randrange(len(docs) - 1)
        docs[i], docs[i + 1] = docs[i + 1], docs[i]
    return docs


@pytest.mark.parametrize("seed", [1, 2])
def test_gated_hunt_same_alerts(tmp_path: Path, seed: int) -> None:
    folder = _rules(tmp_path, SEQUENCES + FILLER)
    data = tmp_path / "events.ndjson"
    data.write_bytes(b"\n".join(orjson.dumps(d) for d in _lifecycles(random.Random(seed), 1500)) + b"\n")
    expected = _line_by_line(folder, data)
    assert sum(len(ids) for ids in expected) > 0  # the scenarios do produce sequences
    seen = {}
    for gate in (True, False):
        plans, _report, stats = parallel_hunt(folder, data, 16 * 1024, key_gate=gate)
        assert stats.gated_rules == (7 if gate else 0)  # every sequence but the missing-event one
        assert _alert_ids(plans, None) == expected, gate
        seen[gate] = {p.rule.name: p.events_seen for p in plans}
    # The gate spared the rules most events: all of the never-matching first step's, and
    # many of the until rule's; the missing-event rule is not gated.
    assert seen[True]["rule 6"] == 0 < seen[False]["rule 6"]
    assert seen[True]["rule 0"] < seen[False]["rule 0"]
    assert seen[True]["rule 7"] == seen[False]["rule 7"]


def _odd_keys(docs: list[dict[str, Any]], rng: random.Random) -> list[bytes]:
    """The lines of ``docs`` with the key fields spelled every way a reader meets: a dotted key,
    a number, null, an array, escaped characters (the row gates read keys from the columns; each
    spelling must give the event's own key, or leave the row to the decoded event)."""
    lines = []
    for doc in docs:
        proc = doc.get("process")
        r = rng.random()
        if isinstance(proc, dict) and "entity_id" in proc:
            entity = proc["entity_id"]
            if r < 0.05:
                doc = {**doc, "process": {k: v for k, v in proc.items() if k != "entity_id"}}
                doc["process.entity_id"] = entity  # a dotted key: the row is left over
            elif r < 0.08:
                doc = {**doc, "process": {**proc, "entity_id": int(entity[1:])}}  # a number
            elif r < 0.10:
                doc = {**doc, "process": {**proc, "entity_id": None}}
            elif r < 0.13:
                doc = {**doc, "process": {**proc, "entity_id": [entity, "e0"]}}
        line = orjson.dumps(doc)
        if rng.random() < 0.05:
            line = line.replace(b'"e', b'"\\u0065', 1)  # an escaped letter, in a key or a value
        lines.append(line)
    return lines


@pytest.mark.parametrize("seed", [5, 6])
def test_row_gates_over_odd_key_spellings(tmp_path: Path, seed: int) -> None:
    folder = _rules(tmp_path, SEQUENCES + FILLER)
    data = tmp_path / "events.ndjson"
    rng = random.Random(seed)
    data.write_bytes(b"\n".join(_odd_keys(_lifecycles(rng, 1200), rng)) + b"\n")
    expected = _line_by_line(folder, data)
    assert sum(len(ids) for ids in expected) > 0
    for gate in (True, False):
        plans, report, stats = parallel_hunt(folder, data, 16 * 1024, key_gate=gate)
        assert stats.gated_rules == (7 if gate else 0)
        assert _alert_ids(plans, None) == expected, gate
        assert report.malformed == []


def _gate(query: str, tmp_path: Path) -> tuple[RowGates, ColumnarFilter]:
    """The row gates of a one-rule columnar filter of ``query`` (which must be gated)."""
    plans = _plans(_rules(tmp_path, [query]))
    assert [i for i, _r in gateable(plans)] == [0]
    cf = ColumnarFilter([query_filters(plans[0].compiled.query, "event.category")], ecs_schema())
    rows = RowGates({0: plans[0].compiled}, cf)
    assert rows.complete == {0}
    cf.row_gate = rows
    return rows, cf


KEYED = (
    'sequence by process.entity_id [process where process.name == "a.exe"] [network where true]'
    ' until [process where event.type == "end"]'
)


@pytest.mark.parametrize(
    ("query", "keys", "doc", "true", "spared"),
    [
        # the first step true: never spared
        (KEYED, set(), {"process": {"entity_id": "x"}}, (0, 1), False),
        # a later step or until, of a key some first-step event has: kept
        (KEYED, {"x"}, {"process": {"entity_id": "x"}}, (1,), False),
        (KEYED, {"x"}, {"process": {"entity_id": "x"}}, (2,), False),
        # ... of another key: spared
        (KEYED, {"x"}, {"process": {"entity_id": "y"}}, (1, 2), True),
        # no key at all: the filter gives the rule nothing
        (KEYED, {"x"}, {"process": {}}, (1,), True),
        # a number where a string is mapped: compared as the rule reads it
        (KEYED, {7}, {"process": {"entity_id": 7}}, (1,), False),
        # a multi-valued key: kept when one of its values is a first-step key
        (
            "sequence by host.ip [network where true] [process where true]",
            {"10.0.0.2"},
            {"host": {"ip": ["10.0.0.1", "10.0.0.2"]}},
            (1,),
            False,
        ),
        (
            "sequence by host.ip [network where true] [process where true]",
            {"10.0.0.2"},
            {"host": {"ip": ["10.0.0.1", "10.0.0.3"]}},
            (1,),
            True,
        ),
        # per-step keys: the later step's own field is read
        (
            "sequence [process where true] by process.entity_id [process where true] by"
            " process.parent.entity_id",
            {"p"},
            {"process": {"entity_id": "c", "parent": {"entity_id": "p"}}},
            (1,),
            False,
        ),
        (
            "sequence [process where true] by process.entity_id [process where true] by"
            " process.parent.entity_id",
            {"c"},
            {"process": {"entity_id": "c", "parent": {"entity_id": "p"}}},
            (1,),
            True,
        ),
        # an optional key: null is a key like any other
        ("sequence by ?process.group_id [process where true] [file where true]", {None}, {}, (1,), False),
        ("sequence by ?process.group_id [process where true] [file where true]", {"g"}, {}, (1,), True),
        # no keys: spared only when no first-step event exists
        ("sequence [process where true] [file where true]", {()}, {}, (1,), False),
        ("sequence [process where true] [file where true]", set(), {}, (1,), True),
    ],
)
def test_what_a_gate_spares(
    tmp_path: Path, query: str, keys: set[Any], doc: dict[str, Any], true: tuple[int, ...], spared: bool
) -> None:
    # A row held from the columns of the event's line, decided with the rule's first-step keys.
    rows, cf = _gate(query, tmp_path)
    groups, left = JsonColumns(cf.parsed_columns).parse([orjson.dumps(doc)])
    assert left == []
    rows.begin(groups[0][1], [0])
    rows.defer(0, [0], true)
    chosen = rows.chosen(rows.held, {0: frozenset(keys)}, frozenset(keys))
    assert (0 not in chosen) is spared
    if not spared:
        assert chosen == {0: {0: true}}  # kept with its true filters
    # A rule left ungated (too many keys) keeps every row.
    assert rows.chosen(rows.held, {0: None}, frozenset()) == {0: {0: true}}


def test_row_gates_hold_lines(tmp_path: Path) -> None:
    # A batch: the rule's rows are held (never named: mask 0, not decoded in the pass), the
    # first step's rows give their keys; after the pass, rows of a first-step key are kept with
    # their true filters. A line with a dotted key is left over (every rule), as is any line
    # the parse cannot read as columns.
    rows, cf = _gate(KEYED, tmp_path)
    lines = [
        {"event": {"category": "network"}, "process": {"entity_id": "y"}},  # another key
        {"event": {"category": "network"}, "process": {"entity_id": "z"}},  # a first-step key
        {"event": {"category": "process", "type": "end"}, "process": {"entity_id": "z"}},  # until
        {"event": {"category": "process"}, "process": {"name": "a.exe", "entity_id": "z"}},  # step 0
        {"event": {"category": "network"}, "process.entity_id": "y"},  # dotted: left over
        {"event": {"category": "file"}, "process": {"entity_id": "y"}},  # no filter true
    ]
    cf.offsets = [100 * k for k in range(len(lines))]
    masks = cf.masks([orjson.dumps(d) for d in lines])
    assert masks == [0, 0, 0, 0, None, 0]
    assert rows.first == {0: {"z"}}
    keys = final_keys(rows.first)
    assert rows.chosen(rows.held, keys, keys[0] or frozenset()) == {
        100: {0: (1,)},
        200: {0: (2,)},
        300: {0: (0,)},
    }
    rows.restart()
    assert rows.first == {0: set()} and not rows.held


TIMED = (
    'sequence by process.entity_id with maxspan=1m [process where process.name == "a.exe"]'
    ' [network where true] until [process where event.type == "end"]'
)


def _at(seconds: float) -> str:
    whole = int(seconds)
    return f"2024-05-01T10:{whole // 60:02d}:{whole % 60:02d}.{round((seconds - whole) * 1000):03d}Z"


def _timed_lines(first: Any) -> list[dict[str, Any]]:
    """A first-step event of key z at 10:10:00 (its timestamp ``first``), then rows of the rule's
    later steps at other times and keys."""
    net = {"event": {"category": "network"}}
    return [
        {**net, "@timestamp": _at(630), "process": {"entity_id": "z"}},  # 30 s after: kept
        {**net, "@timestamp": _at(660), "process": {"entity_id": "z"}},  # exactly maxspan: kept
        {**net, "@timestamp": _at(780), "process": {"entity_id": "z"}},  # 3 min after: spared
        {**net, "@timestamp": _at(300), "process": {"entity_id": "z"}},  # 5 min before: spared
        {**net, "@timestamp": _at(620), "process": {"entity_id": "y"}},  # another key: spared
        {**net, "process": {"entity_id": "z"}},  # no timestamp: kept (the event decides)
        {  # until, 20 s after: kept; 10 min after: spared
            "event": {"category": "process", "type": "end"},
            "@timestamp": _at(620),
            "process": {"entity_id": "z"},
        },
        {
            "event": {"category": "process", "type": "end"},
            "@timestamp": _at(1200),
            "process": {"entity_id": "z"},
        },
        {
            "event": {"category": "process"},
            "@timestamp": first,
            "process": {"name": "a.exe", "entity_id": "z"},
        },
    ]


def test_row_gates_by_time(tmp_path: Path) -> None:
    # A rule with a maxspan keeps a later step's row only when a first-step event of its key
    # may lie within the maxspan before it (a time slot as wide as the maxspan, or the one before).
    rows, cf = _gate(TIMED, tmp_path)
    assert 0 in rows.timed
    lines = _timed_lines(_at(600))
    cf.offsets = [100 * k for k in range(len(lines))]
    assert cf.masks([orjson.dumps(d) for d in lines]) == [0] * len(lines)
    keys = final_keys(rows.first)
    spans = final_spans(rows.spans, keys)
    assert spans[0] is not None and len(spans[0]) == 1
    assert rows.chosen(rows.held, keys, keys[0] or frozenset(), spans) == {
        0: {0: (1,)},
        100: {0: (1,)},
        500: {0: (1,)},
        600: {0: (2,)},
        800: {0: (0,)},
    }
    # Without the time slots (an older caller, a rule left ungated by time): by keys alone.
    assert set(rows.chosen(rows.held, keys, keys[0] or frozenset())) == {0, 100, 200, 300, 500, 600, 700, 800}


def test_row_gates_by_time_without_a_first_time(tmp_path: Path) -> None:
    # A first-step event whose timestamp reads as none (not a date) is in no sequence: the rows
    # of its key are spared, but for the one without a time (the event decides).
    rows, cf = _gate(TIMED, tmp_path)
    lines = _timed_lines("not a date")
    cf.offsets = [100 * k for k in range(len(lines))]
    cf.masks([orjson.dumps(d) for d in lines])
    keys = final_keys(rows.first)
    spans = final_spans(rows.spans, keys)
    assert spans[0] is not None and len(spans[0]) == 0
    assert set(rows.chosen(rows.held, keys, keys[0] or frozenset(), spans)) == {500, 800}


def test_row_gates_by_time_need_readable_times(tmp_path: Path) -> None:
    # A time the reader raises on leaves the rule ungated by time: every row of a first-step key
    # is kept.
    rows, cf = _gate(TIMED, tmp_path)
    number = rows.timed[0][0]
    read, path = rows._readers[number]

    def fussy(doc: dict[str, Any]) -> Any:
        if doc.get("@timestamp") == _at(600):
            raise ValueError("cannot tell")
        return read(doc)

    rows._readers[number] = (fussy, path)  # (this test's own gate)
    lines = _timed_lines(_at(600))
    cf.offsets = [100 * k for k in range(len(lines))]
    cf.masks([orjson.dumps(d) for d in lines])
    keys = final_keys(rows.first)
    spans = final_spans(rows.spans, keys)
    assert spans == {0: None}
    assert set(rows.chosen(rows.held, keys, keys[0] or frozenset(), spans)) == {
        0,
        100,
        200,
        300,
        500,
        600,
        700,
        800,
    }


def test_an_event_held_whole_gives_its_time(tmp_path: Path) -> None:
    # A first-step event decoded whole gives its key and time slot from the event itself.
    rows, cf = _gate(TIMED, tmp_path)
    step0 = {
        "event": {"category": "process"},
        "@timestamp": _at(600),
        "process": {"name": "a.exe", "entity_id": "z"},
    }
    rows.hold_event(_event(step0), [0], 10_000)
    lines = _timed_lines(_at(600))[:4]
    cf.offsets = [100 * k for k in range(len(lines))]
    cf.masks([orjson.dumps(d) for d in lines])
    keys = final_keys(rows.first)
    spans = final_spans(rows.spans, keys)
    assert set(rows.chosen(rows.held, keys, keys[0] or frozenset(), spans)) == {0, 100, 10_000}


def test_an_event_held_whole(tmp_path: Path) -> None:
    # A line the columns cannot answer is decoded for the other rules: held whole for the gated
    # rule, its first step tested exactly on the event, and always kept.
    rows, _cf = _gate(KEYED, tmp_path)
    step0 = {"event": {"category": "process"}, "process": {"name": "a.exe", "entity_id": "q"}}
    rows.hold_event(_event(step0), [0], 10)
    rows.hold_event(_event({"event": {"category": "network"}, "process": {"entity_id": "r"}}), [0], 20)
    assert rows.first == {0: {"q"}}
    keys = final_keys(rows.first)
    assert rows.chosen(rows.held, keys, frozenset()) == {10: {0: None}, 20: {0: None}}


def _event(doc: dict[str, Any]) -> Event:
    return Event(doc, "logs-endpoint.events-default", None, 0)


@pytest.mark.parametrize(
    "query",
    [
        'process where process.name == "a.exe"',
        'sequence by process.entity_id with maxspan=1m [process where process.name == "a"] ![file where true]'
        " [network where true]",
        "sequence by process.entity_id [any where true] [network where true]",  # no needle
        'sample by host.id [process where process.name == "a"] [file where file.name == "b"]',
    ],
)
def test_rules_not_gated(tmp_path: Path, query: str) -> None:
    assert gateable(_plans(_rules(tmp_path, [query]))) == []


def test_profile_names_the_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vigil.cli_hunt import _profile
    from vigil.rules.scheduler import CollectStats

    report = ReadReport()
    report.events = 1000
    _profile(report, [], [], 1.0, CollectStats(events=1000, gated_rules=3, gate_seconds=0.25))
    err = capsys.readouterr().err
    assert "key gate: 3 sequence rule(s) gated by their first steps' keys" in err
    assert "decided and offered after it in 0.25 s" in err
    _profile(report, [], [], 1.0, CollectStats(events=1000))
    assert "key gate" not in capsys.readouterr().err


def test_gates_within_a_total() -> None:
    from vigil.rules.keygate import within_total

    a, b, c = {"x", "y", "z"}, {"x", "y"}, {"w"}
    # four distinct keys: the largest set goes first, until the rest hold at most the total
    assert within_total([set(a), set(b), set(c), None], total=4) == [a, b, c, None]
    assert within_total([set(a), set(b), set(c), None], total=3) == [None, b, c, None]
    assert within_total([set(a), set(b), set(c)], total=1) == [None, None, c]
    # one object per key value, whichever sets hold it
    k1, k2 = "".join(["ab", "c"]), "".join(["a", "bc"])
    assert k1 is not k2
    one, two = within_total([{k1}, {k2}], total=10)
    assert one is not None and two is not None
    assert next(iter(one)) is next(iter(two))


def test_final_keys_leave_out_rules_with_too_many(monkeypatch: pytest.MonkeyPatch) -> None:
    from vigil.rules import keygate

    monkeypatch.setattr(keygate, "GATE_MAX_KEYS", 2)
    got = final_keys({3: {"a", "b"}, 5: {"a", "b", "c"}, 7: None}, total=10)
    assert got == {3: frozenset({"a", "b"}), 5: None, 7: None}
    assert final_keys({3: {"a", "b"}, 5: {"c"}}, total=1) == {3: None, 5: frozenset({"c"})}


def test_held_rows_that_cannot_be_written_are_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows held for the gated rules go to temporary files: when they cannot be written,
    the hunt stops with an error naming the folder and the way out, not a traceback."""
    from vigil.errors import DataError
    from vigil.rules import parallel

    folder = _rules(tmp_path, SEQUENCES + FILLER)
    data = tmp_path / "events.ndjson"
    data.write_bytes(b"\n".join(orjson.dumps(d) for d in _lifecycles(random.Random(3), 300)) + b"\n")
    gone = tmp_path / "no-such-folder"
    monkeypatch.setattr(parallel.tempfile, "mkdtemp", lambda prefix="": str(gone))
    with pytest.raises(DataError) as caught:
        parallel_hunt(folder, data, 16 * 1024)
    text = str(caught.value)
    assert f"cannot write the rows the key gate holds during the pass in {gone}" in text
    assert "--no-key-gate" in text
    # without the gate the same hunt needs no temporary files
    _plans, _report, stats = parallel_hunt(folder, data, 16 * 1024, key_gate=False)
    assert stats.gated_rules == 0


def test_final_spans_leave_out_rules_with_too_many() -> None:
    # Past the total, the rules with the most time slots are kept whatever their time; a rule not
    # gated by its keys is not gated by time either.
    found: dict[int, set[int] | None] = {0: set(range(5)), 1: set(range(3)), 2: {7}, 3: None, 4: {1}}
    keys: dict[int, frozenset[Any] | None] = {
        0: frozenset("a"),
        1: frozenset("b"),
        2: frozenset("c"),
        3: frozenset("d"),
        4: None,
    }
    assert final_spans(found, keys, total=4) == {
        0: None,
        1: array("q", [0, 1, 2]),
        2: array("q", [7]),
        3: None,
        4: None,
    }
    # (sorted distinct 8-byte hashes, whatever order and repeats they came in)
    assert final_spans({0: array("q", [9, -3, 9, 2])}, {0: frozenset("a")}) == {0: array("q", [-3, 2, 9])}
