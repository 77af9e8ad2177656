"""The alert phase in two processes (vigil.rules.alerting) gives what one process gives: the same
NDJSON text in the same order, the same stored alerts and runs, the same summaries; a failing
helper fails the run with a clear error."""

from __future__ import annotations

import io
import os
import random
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from test_keygate import SEQUENCES, _lifecycles
from test_ruleset_hunt import _plans, _rules
from vigil.alerts.output import AlertWriter
from vigil.alerts.store import AlertStore
from vigil.errors import VigilError
from vigil.rules import alerting
from vigil.rules.alerting import AlertPhase, run_rules, worth_splitting
from vigil.rules.scheduler import Collector
from vigil.sources import ReadReport, read_events

EVENT_RULES = [
    'process where event.type == "start"',
    "network where destination.port == 445",
    'authentication where event.outcome == "failure"',
    'file where file.name : "*.txt"',
]


def _collected(tmp_path: Path) -> tuple[Path, Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    folder = _rules(tmp_path, EVENT_RULES + SEQUENCES[:3])
    data = tmp_path / "events.ndjson"
    data.write_bytes(b"\n".join(orjson.dumps(d) for d in _lifecycles(random.Random(4), 600)) + b"\n")
    return folder, data


def _phase(tmp_path: Path, split: bool, name: str) -> tuple[str, list[Any], Path]:
    folder, data = _collected(tmp_path)
    plans = _plans(folder)
    for plan in plans:
        plan.start_stream()
    Collector(plans).collect(read_events([str(data)], report=ReadReport()))
    db = tmp_path / f"{name}.db"
    store = AlertStore.open(db)
    out = io.StringIO()
    writer = AlertWriter("ndjson", out)
    phase = AlertPhase("hunt", datetime(2024, 6, 1, tzinfo=UTC), None, None, db, lambda _t: None)
    if split:
        assert worth_splitting(plans)
    summaries = run_rules(plans, phase, store, writer, out, split=split)
    assert writer.close() == out.getvalue().count("\n")
    store.close()
    return out.getvalue(), summaries, db


def _rows(db: Path) -> tuple[list[Any], list[Any]]:
    conn = sqlite3.connect(db)
    try:
        alerts = conn.execute(
            "SELECT uuid, rule_id, group_id, group_index, document FROM alerts ORDER BY uuid"
        ).fetchall()
        runs = conn.execute(
            "SELECT rule_id, rule_name, events_scanned, hits, alerts_created, duplicates"
            " FROM runs ORDER BY rule_id"
        ).fetchall()
    finally:
        conn.close()
    return alerts, runs


def test_split_alert_phase_same_as_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerting, "MIN_SPLIT_WEIGHT", 1)
    one_text, one_summaries, one_db = _phase(tmp_path / "one", False, "one")
    # The main process is slowed down so that the helper takes a share of the rules.
    claimed, appended = alerting._claimed, alerting._append_parts
    helper_parts: list[int] = []

    def slow_front(*args: Any, front: bool, **kwargs: Any) -> Any:
        for plan in claimed(*args, front=front, **kwargs):
            if front:
                time.sleep(0.2)
            yield plan

    def counted(spool: str, parts: list[tuple[int, int]], out: Any) -> None:
        helper_parts.append(len(parts))
        appended(spool, parts, out)

    monkeypatch.setattr(alerting, "_claimed", slow_front)
    monkeypatch.setattr(alerting, "_append_parts", counted)
    two_text, two_summaries, two_db = _phase(tmp_path / "two", True, "two")
    assert helper_parts and 0 < helper_parts[0] < len(EVENT_RULES) + 3
    assert one_text.count("\n") > 100
    assert two_text == one_text
    assert [(s.rule_id, s.alerts, s.duplicates, s.hits, s.events_scanned) for s in two_summaries] == [
        (s.rule_id, s.alerts, s.duplicates, s.hits, s.events_scanned) for s in one_summaries
    ]
    assert _rows(two_db) == _rows(one_db)


def test_small_phases_stay_in_one_process(tmp_path: Path) -> None:
    folder, _data = _collected(tmp_path)
    plans = _plans(folder)
    for plan in plans:
        plan.start_stream()
    assert not worth_splitting(plans)  # nothing held yet


def test_a_failing_helper_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerting, "MIN_SPLIT_WEIGHT", 1)
    parent = os.getpid()
    real = alerting.run_plans

    def broken(*args: Any, **kwargs: Any) -> Any:
        if os.getpid() != parent:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(alerting, "run_plans", broken)
    with pytest.raises(
        VigilError, match=r"building the alerts of rules \d+-\d+ failed: RuntimeError: disk full"
    ):
        _phase(tmp_path, True, "broken")


def test_the_two_processes_take_rules_from_both_ends() -> None:
    import multiprocessing

    ends = multiprocessing.get_context("fork").RawArray("i", [0, 7])
    lock = multiprocessing.get_context("fork").Lock()
    plans = list("abcdefg")
    front = alerting._claimed(plans, ends, lock, front=True)
    taken: list[int] = []
    back = alerting._claimed(plans, ends, lock, front=False, taken=taken)
    got = [next(front), next(back), next(back), next(front), next(back)]
    assert got == ["a", "g", "f", "b", "e"]
    assert list(front) == ["c", "d"] and list(back) == []
    assert taken == [6, 5, 4]


def test_the_helpers_parts_are_appended_in_rule_order(tmp_path: Path) -> None:
    # Byte ranges of the spool, copied in the order given, characters cut by the reads whole.
    spool = tmp_path / "spool.ndjson"
    texts = ["é" * 700_000 + "\n", '{"a":1}\n', "", "€" * 400_000 + "\n"]
    data = [t.encode() for t in texts]
    spool.write_bytes(b"".join(reversed(data)))  # written last rule first
    ranges, at = [], 0
    for chunk in reversed(data):
        ranges.append((at, at + len(chunk)))
        at += len(chunk)
    out = io.StringIO()
    alerting._append_parts(str(spool), list(reversed(ranges)), out)
    assert out.getvalue() == "".join(texts)


def test_a_process_that_dies_holding_the_lock_does_not_hang_the_other() -> None:
    import multiprocessing

    ends = multiprocessing.get_context("fork").RawArray("i", [0, 3])
    lock = multiprocessing.get_context("fork").Lock()
    lock.acquire()  # as a process killed inside its few instructions under the lock leaves it
    claims = alerting._claimed(list("abc"), ends, lock, front=True, other_alive=lambda: False)
    with pytest.raises(VigilError, match="ended while the rules were being shared"):
        next(claims)
