"""The rule index never hides a query that matches an event (seeded property test)."""

from __future__ import annotations

import random

import pytest

from vigil.ecs.ecs_schema import ecs_schema
from vigil.engine import Event, QueryOptions, compile_query
from vigil.engine.dispatch import Dispatcher, filter_anchor
from vigil.eql.parser import parse

QUERIES = [
    'process where process.name == "cmd.exe"',
    'process where process.name : ("CMD.EXE", "powershell.exe") and process.pid != 4',
    'process where host.os.type == "windows" and process.name : "*.exe"',
    "network where destination.port == 445",
    'network where destination.port in (139, 445) and not cidrmatch(destination.ip, "10.0.0.0/8")',
    'any where event.action == "creation"',
    "any where true",
    'file where file.extension in~ ("EXE", "dll")',
    'sequence by process.entity_id [process where process.name == "net.exe"] [network where true]',
    'sequence [process where event.type == "start"] [file where file.name like "a.txt"]'
    " until [process where true]",
    'registry where registry.path : "*run*"',
    'process where process.args == "-enc" or process.name == "x.exe"',
]

NAMES = [
    "cmd.exe",
    "CMD.EXE",
    "Cmd.Exe",
    "powershell.exe",
    "net.exe",
    "x.exe",
    "a.txt",
    "A.TXT",
    "svchost.exe",
]


def _doc(rng: random.Random) -> dict:
    cat = rng.choice(["process", "network", "file", "registry", ["process", "network"], None])
    doc: dict = {"@timestamp": "2024-05-01T00:00:00Z", "event": {}}
    if cat is not None:
        doc["event"]["category"] = cat
    if rng.random() < 0.5:
        doc["event"]["type"] = rng.choice(["start", ["start", "process_start"], "end"])
    if rng.random() < 0.3:
        doc["event"]["action"] = rng.choice(["creation", "Creation", "deletion"])
    if rng.random() < 0.8:
        doc["process"] = {
            "name": rng.choice(NAMES),
            "pid": rng.choice([4, 100, "4"]),
            "entity_id": "e1",
            "args": rng.choice([["cmd", "-enc"], "-enc", ["-ENC"]]),
        }
    if rng.random() < 0.5:
        doc["destination.port"] = rng.choice([445, "445", 139, 80])
        doc["destination"] = {"ip": rng.choice(["10.0.0.1", "192.168.1.1"])}
    if rng.random() < 0.4:
        doc["file"] = {"extension": rng.choice(["exe", "EXE", "Dll", "txt"]), "name": rng.choice(NAMES)}
    if rng.random() < 0.2:
        doc["registry"] = {"path": rng.choice(["HKLM\\Software\\Run\\x", "HKLM\\x"])}
    if rng.random() < 0.5:
        doc["host"] = {"os": {"type": rng.choice(["windows", "linux"])}}
    return doc


@pytest.mark.parametrize("seed", range(5))
def test_candidates_cover_every_match(seed: int) -> None:
    rng = random.Random(seed)
    parsed = [parse(q) for q in QUERIES]
    dispatcher = Dispatcher(parsed, ecs_schema())
    compiled = [compile_query(q, options=QueryOptions(size=100)) for q in QUERIES]
    for i in range(300):
        doc = _doc(rng)
        ev = Event(doc, "logs-x", str(i), i)
        cands = dispatcher.candidates(doc)
        for qi, c in enumerate(compiled):
            if c.part_of(ev) is not None:
                assert qi in cands, (QUERIES[qi], doc)


def test_anchor_choice_prefers_discriminating_fields() -> None:
    q = parse('process where host.os.type == "windows" and process.name in ("a.exe", "b.exe")').body
    anchor = filter_anchor(q, ecs_schema())  # type: ignore[arg-type]
    assert anchor is not None and anchor.field == "process.name"
    wild = parse('process where process.name : "*.exe"').body
    assert filter_anchor(wild, ecs_schema()) is None  # type: ignore[arg-type]
