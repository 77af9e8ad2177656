"""The alert phase in two processes (vigil.rules.alerting) gives what one process gives: the same
NDJSON text in the same order, the same stored alerts and runs, the same summaries; a failing
helper fails the run with a clear error."""

from __future__ import annotations

import io
import os
import random
import sqlite3
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
from vigil.rules.alerting import AlertPhase, run_rules, split_point
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
        assert split_point(plans) is not None
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
    two_text, two_summaries, two_db = _phase(tmp_path / "two", True, "two")
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
    assert split_point(plans) is None  # nothing held yet


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
