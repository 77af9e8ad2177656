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
    # wildcard patterns: indexed by their literal prefix, suffix or core
    'process where process.name : "cmd*"',
    'process where process.name like "Cmd.?xe"',
    'process where process.name : "kmd*" or process.name like~ "*.TXT"',
    'process where process.command_line : "*-EncodedCommand*"',
    'process where process.command_line like "*rundll32*,#1*"',
    'registry where registry.path like~ "hklm\\\\*\\\\RUN\\\\*"',
    'any where custom.num : "44*"',  # a dynamic field: numbers are matched by their text
    'process where process.args : ("*ENC", "?enc")',
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
    "kmd.exe",
    "\u212amd.exe",  # KELVIN SIGN: no ASCII letter, so "kmd*" does not match it
    "\u0130.exe",  # LATIN CAPITAL LETTER I WITH DOT ABOVE: lowercases to two code points
    "Cmd.Xxe",
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
            "args": rng.choice([["cmd", "-enc"], "-enc", ["-ENC"], ["/enc", "x"]]),
            "command_line": rng.choice(
                ["RUNDLL32.EXE x.dll,#1 y", "rundll32.exe x.dll,#1 y", "pwsh -encodedcommand AA", "cmd /c"]
            ),
        }
    if rng.random() < 0.3:
        doc["custom"] = {"num": rng.choice([445, "445", 80, 44.5, [1, 443], True])}
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
    for i in range(600):
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
    wild = parse('process where process.name : "*.exe" and process.pid != 4').body
    anchor = filter_anchor(wild, ecs_schema())  # type: ignore[arg-type]
    assert anchor is not None and anchor.patterns == ("*.exe",) and anchor.insensitive
    # an exact value is preferred to a pattern
    both = parse('process where process.name : "*.exe" and process.parent.name == "a.exe"').body
    anchor = filter_anchor(both, ecs_schema())  # type: ignore[arg-type]
    assert anchor is not None and anchor.field == "process.parent.name"
