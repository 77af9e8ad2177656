"""The SQLite alert store: dedup by alert id, filters, workflow status, runs, durability."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vigil.alerts.build import AlertGroup, build_alerts
from vigil.alerts.store import (
    SCHEMA_VERSION,
    AlertStore,
    AlertStoreError,
    AmbiguousAlertError,
    RunRecord,
    UnknownAlertError,
    default_path,
)
from vigil.engine.model import Event, QueryResult, SequenceHit
from vigil.rules.model import Rule

RUN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def rule(name: str = "Shell", rule_id: str = "rule-1", severity: str = "high") -> Rule:
    return Rule(
        rule_id=rule_id, name=name, type="eql", query="any where true", severity=severity, risk_score=47
    )


def ev(eid: str, host: str, user: str | None = None, minute: int = 0) -> Event:
    source: dict[str, object] = {"@timestamp": f"2024-05-01T11:{minute:02d}:00Z", "host": {"name": host}}
    if user:
        source["user"] = {"name": user}
    return Event(source, "idx", eid)


def event_groups(r: Rule | None = None, run: datetime = RUN, *events: Event) -> list[AlertGroup]:
    r = r or rule()
    events = events or (ev("e1", "WS-01", "alice", 1), ev("e2", "db-01", "bob", 2))
    return build_alerts(
        r, QueryResult("events", events=list(events)), run_time=run, rule_uuid="uuid-" + r.rule_id
    )


def sequence_group(r: Rule | None = None) -> AlertGroup:
    r = r or rule("Sequence Rule", "rule-seq", "critical")
    hit = SequenceHit(["x"], [ev("s1", "web-01", "carol", 3), ev("s2", "web-01", "dave", 4)])
    return build_alerts(r, QueryResult("sequences", sequences=[hit]), run_time=RUN, rule_uuid="uuid-seq")[0]


@pytest.fixture
def store(tmp_path: Path) -> AlertStore:
    s = AlertStore.open(tmp_path / "alerts.db")
    yield s  # type: ignore[misc]
    s.close()


def test_add_and_dedup(store: AlertStore) -> None:
    groups = [*event_groups(), sequence_group()]
    assert store.add_alerts(groups) == (3, 0)
    assert store.add_alerts(groups) == (0, 3)  # raised before: not raised again
    ids = [g.primary_id for g in groups]
    assert store.known_ids([*ids, "nope"]) == set(ids)
    assert store.count_alerts() == 3
    assert store.count_alerts(include_building_blocks=True) == 5


def test_dedup_keeps_the_stored_status(store: AlertStore) -> None:
    groups = event_groups()
    store.add_alerts(groups)
    store.set_status(groups[0].primary_id, "closed", "alice")
    store.add_alerts(groups)
    assert store.get_alert(groups[0].primary_id).workflow_status == "closed"


def test_columns_and_document(store: AlertStore) -> None:
    group = sequence_group()
    store.add_alerts([group])
    shell = store.get_alert(group.primary_id)
    assert shell.is_shell and not shell.building_block
    assert (
        shell.rule_id == "rule-seq" and shell.rule_uuid == "uuid-seq" and shell.rule_name == "Sequence Rule"
    )
    assert shell.severity == "critical" and shell.risk_score == 47
    assert shell.host_name == "web-01" and shell.user_name is None
    assert shell.original_time == "2024-05-01T11:03:00.000Z"  # its first event, not the run time
    assert shell.created == "2024-05-01T12:00:00.000Z"
    assert shell.document == group.primary
    blocks = store.group_alerts(shell.group_id or "")
    assert [b.group_index for b in blocks] == [0, 1]
    assert [b.user_name for b in blocks] == ["carol", "dave"]
    assert all(b.building_block and b.group_id == shell.uuid for b in blocks)


def test_list_filters(store: AlertStore) -> None:
    later = RUN + timedelta(hours=1)
    store.add_alerts(event_groups())
    store.add_alerts(event_groups(rule("Other Thing", "rule-2", "low"), later, ev("e9", "ws-02", "Eve", 9)))
    store.add_alerts([sequence_group()])

    def uuids(**kw: object) -> list[str]:
        return [a.rule_id + ":" + (a.host_name or "") for a in store.list_alerts(**kw)]  # type: ignore[arg-type]

    # Newest first: by alert time, then by event time.
    assert uuids() == ["rule-2:ws-02", "rule-seq:web-01", "rule-1:db-01", "rule-1:WS-01"]
    assert uuids(rule="rule-2") == ["rule-2:ws-02"]
    assert uuids(rule="other") == ["rule-2:ws-02"]  # part of the name, any case
    assert uuids(severity="critical") == ["rule-seq:web-01"]
    assert uuids(severity=["low", "critical"]) == ["rule-2:ws-02", "rule-seq:web-01"]
    assert uuids(host="ws-01") == ["rule-1:WS-01"]  # case-insensitive
    assert uuids(host="WS-*") == ["rule-2:ws-02", "rule-1:WS-01"]
    assert uuids(user="eve") == ["rule-2:ws-02"]
    assert uuids(since=later) == ["rule-2:ws-02"]
    assert uuids(until=RUN) == ["rule-seq:web-01", "rule-1:db-01", "rule-1:WS-01"]
    assert uuids(limit=2, offset=1) == ["rule-seq:web-01", "rule-1:db-01"]
    assert len(store.list_alerts(include_building_blocks=True)) == 6
    store.set_status(store.list_alerts(rule="rule-2")[0].uuid, "acknowledged", "me")
    assert uuids(status="acknowledged") == ["rule-2:ws-02"]
    assert len(uuids(status="open")) == 3


def test_get_alert_by_prefix(store: AlertStore) -> None:
    def doc(uuid: str) -> dict[str, object]:
        return {
            "kibana.alert.uuid": uuid,
            "@timestamp": "2024-01-01T00:00:00.000Z",
            "kibana.alert.rule.name": "R",
        }

    store.add_alerts(
        [
            AlertGroup("abc123", (doc("abc123"),), None, "r", "u"),
            AlertGroup("abc456", (doc("abc456"),), None, "r", "u"),
        ]
    )
    assert store.get_alert("abc1").uuid == "abc123"
    assert store.get_alert("ABC456").uuid == "abc456"
    with pytest.raises(AmbiguousAlertError, match="matches 2 alerts"):
        store.get_alert("abc")
    with pytest.raises(UnknownAlertError, match="no alert with id"):
        store.get_alert("ff")
    with pytest.raises(UnknownAlertError):
        store.get_alert("a%")  # LIKE wildcards are plain characters


def test_set_status(store: AlertStore, tmp_path: Path) -> None:
    group = sequence_group()
    store.add_alerts([group])
    when = datetime(2024, 6, 1, 8, 30, tzinfo=UTC)
    changed = store.set_status(group.primary_id[:10], "acknowledged", "alice", when)
    assert changed.workflow_status == "acknowledged" and changed.workflow_user == "alice"
    assert changed.workflow_status_updated_at == "2024-06-01T08:30:00.000Z"
    assert changed.document["kibana.alert.workflow_status"] == "acknowledged"
    assert changed.document["kibana.alert.workflow_user"] == "alice"
    assert changed.document["kibana.alert.workflow_status_updated_at"] == "2024-06-01T08:30:00.000Z"
    assert {b.workflow_status for b in store.group_alerts(group.primary_id)} == {"open"}  # as Kibana does
    store.set_status(group.primary_id, "closed", "bob", when, with_building_blocks=True)
    assert {b.workflow_status for b in store.group_alerts(group.primary_id)} == {"closed"}
    with pytest.raises(AlertStoreError, match="unknown workflow status"):
        store.set_status(group.primary_id, "resolved", "bob")
    store.close()
    with AlertStore.open(tmp_path / "alerts.db") as again:
        assert again.get_alert(group.primary_id).workflow_user == "bob"


def test_runs(store: AlertStore) -> None:
    first = RunRecord("rule-1", "Shell", RUN, RUN - timedelta(minutes=6), RUN, RUN, 0.25, 100, 2, 2, 0)
    run_id = store.record_run(first)
    assert run_id > 0

    @dataclass
    class Outcome:  # the scheduler's outcome has these names
        rule_id: str
        rule_name: str
        tick: datetime
        window_start: datetime | None
        window_end: datetime | None
        events_scanned: int
        hits: int
        alerts_created: int
        duplicates: int
        seconds: float
        warnings: list[str] = field(default_factory=list)
        errors: list[str] = field(default_factory=list)

    store.record_run(
        Outcome(
            "rule-2",
            "Other",
            RUN + timedelta(minutes=5),
            None,
            None,
            7,
            101,
            100,
            1,
            1.5,
            ["max signals reached"],
        )
    )
    store.record_run(
        Outcome("rule-2", "Other", RUN + timedelta(minutes=10), None, None, 0, 0, 0, 0, 0.1, [], ["boom"])
    )
    runs = store.list_runs()
    assert [r.status for r in runs] == ["failed", "partial failure", "succeeded"]
    assert runs[1].warnings == ("max signals reached",) and runs[1].duration_seconds == 1.5
    assert runs[2] == replace(first, status="succeeded") and runs[2].window_start == RUN - timedelta(
        minutes=6
    )
    assert [r.rule_id for r in store.list_runs("rule-1")] == ["rule-1"]
    assert len(store.list_runs("other", limit=1)) == 1


def test_runs_recorded_in_one_batch(store: AlertStore) -> None:
    runs = [RunRecord(f"rule-{i}", f"Rule {i}", RUN, None, None, RUN, 0.01 * i, i, 0, 0, 0) for i in range(5)]
    ids = store.record_runs(runs)
    assert len(ids) == 5 and ids == sorted(ids) and len(set(ids)) == 5
    assert store.record_runs([]) == []
    stored = {r.rule_id: r for r in store.list_runs()}
    assert set(stored) == {f"rule-{i}" for i in range(5)}
    assert stored["rule-3"].events_scanned == 3 and stored["rule-3"].status == "succeeded"


def test_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    AlertStore.open(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(AlertStoreError, match=f"schema version {SCHEMA_VERSION + 1}"):
        AlertStore.open(path)


def test_unreadable_and_missing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database, just text" * 100)
    with pytest.raises(AlertStoreError, match="alert database"):
        AlertStore.open(bad)
    with pytest.raises(AlertStoreError, match="no alert database"):
        AlertStore.open(tmp_path / "missing.db", create=False)


def test_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("VIGIL_ALERT_DB", raising=False)
    assert default_path().name == "alerts.db" and "vigil" in str(default_path())
    monkeypatch.setenv("VIGIL_ALERT_DB", str(tmp_path / "x.db"))
    assert default_path() == tmp_path / "x.db"


def test_alerts_survive_sigkill(tmp_path: Path) -> None:
    """A child stores alerts, says so, and is killed at once: every acknowledged alert is there."""
    path = tmp_path / "crash.db"
    child = textwrap.dedent(
        f"""
        import sys, time
        sys.path[:0] = {sys.path!r}
        from tests.test_alerts_store import event_groups, sequence_group
        from vigil.alerts.store import AlertStore
        store = AlertStore.open({str(path)!r})
        groups = [*event_groups(), sequence_group()]
        print(store.add_alerts(groups), flush=True)
        print(",".join(g.primary_id for g in groups), flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "(3, 0)"
        ids = proc.stdout.readline().strip().split(",")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    with AlertStore.open(path) as store:
        assert store.known_ids(ids) == set(ids)
        assert store.count_alerts(include_building_blocks=True) == 5
        assert store.get_alert(ids[0]).document["kibana.alert.uuid"] == ids[0]


def test_update_alert_keeps_workflow(store: AlertStore) -> None:
    group = event_groups()[0]
    store.add_alerts([group])
    store.set_status(group.primary_id, "acknowledged", "alice")
    doc = dict(group.primary)
    doc["kibana.alert.suppression.docs_count"] = 3
    assert store.update_alert(doc)
    stored = store.get_alert(group.primary_id)
    assert stored.document["kibana.alert.suppression.docs_count"] == 3
    assert (
        stored.workflow_status == "acknowledged" and stored.document["kibana.alert.workflow_user"] == "alice"
    )
    assert not store.update_alert({**doc, "kibana.alert.uuid": "unknown"})
