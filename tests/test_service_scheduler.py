"""The service's scheduler and rule registry: windows and ids as `vigil replay`, dedup across
windows and restarts, run records, max_signals, catch-up and gaps, failing and slow rules.

Every test drives :meth:`Scheduler.run_due` with a fake clock; none asserts on elapsed time."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vigil.alerts.store import AlertStore
from vigil.cli import main
from vigil.engine import Event
from vigil.rules.scheduler import MAX_SIGNALS_WARNING, to_nanos
from vigil.service.rules import RuleImportError, RuleRegistry
from vigil.service.scheduler import GAP_MARKER, Scheduler
from vigil.service.settings import Settings
from vigil.service.state import ServiceState
from vigil.sources import ReadReport, read_events
from vigil.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]
SMB_RULE = ROOT / "examples" / "rules" / "direct_outbound_smb.toml"
SMB_ID = "61cfddf0-f0a6-5d4f-9939-44c2d561be14"
DATA = ROOT / "examples" / "data"
T0 = datetime(2024, 5, 14, 8, 0, tzinfo=UTC)


class StoreEvents:
    """The ``events`` contract over a real event store (serialised: a Store is single-threaded)."""

    def __init__(self, store: Store):
        self.store = store
        self.lock = threading.Lock()

    def candidates(
        self, queries: Sequence[Any], *, start: int | None = None, end: int | None = None
    ) -> Iterator[Event]:
        with self.lock:
            return iter(list(self.store.candidates(queries, start=start, end=end)))

    def stats(self) -> dict[str, Any]:
        return {"events": self.store.info().rows}


class ListEvents:
    """The ``events`` contract over a list of documents; rules over ``boom-*`` fail to read and
    rules over ``slow-*`` block until :attr:`release` is set."""

    def __init__(self, docs: Sequence[dict[str, Any]]):
        self.events = [Event(dict(d), d.get("_index", "logs-test"), f"e{i}", i) for i, d in enumerate(docs)]
        self.release = threading.Event()

    def candidates(
        self, queries: Sequence[Any], *, start: int | None = None, end: int | None = None
    ) -> Iterator[Event]:
        sees = queries[0][1]
        if sees("boom-x"):
            raise OSError("the event log is unreadable")
        if sees("slow-x"):
            self.release.wait(30)
        out = []
        for ev in self.events:
            ts = to_nanos(datetime.fromisoformat(ev.source["@timestamp"].replace("Z", "+00:00")))
            if (start is None or ts >= start) and (end is None or ts <= end):
                out.append(ev)
        return iter(out)


def rule_toml(
    rule_id: str,
    *,
    index: str = "logs-*",
    max_signals: int = 100,
    interval: str = "5m",
    from_: str = "now-6m",
    query: str = 'process where event.type == "start"',
    type_: str = "eql",
) -> str:
    return f'''[metadata]
maturity = "production"

[rule]
author = ["test"]
description = "A test rule."
from = "{from_}"
index = ["{index}"]
interval = "{interval}"
language = "eql"
license = "Elastic License v2"
max_signals = {max_signals}
name = "Rule {rule_id}"
risk_score = 21
rule_id = "{rule_id}"
severity = "low"
type = "{type_}"
query = \'\'\'{query}\'\'\'
'''


def proc(at: datetime, n: int, index: str = "logs-test") -> dict[str, Any]:
    return {
        "@timestamp": at.isoformat().replace("+00:00", "Z"),
        "event": {"category": "process", "type": "start"},
        "process": {"pid": 100 + n, "entity_id": f"p{n}"},
        "host": {"name": "ws-1"},
        "_index": index,
    }


def make_state(tmp: Path, rule_paths: Sequence[Path], events: Any, **settings: Any) -> ServiceState:
    cfg = Settings(data_dir=tmp / "data", rule_paths=tuple(str(p) for p in rule_paths), **settings)
    return ServiceState(
        cfg, events=events, alerts=AlertStore.open(tmp / "alerts.db"), rules=RuleRegistry(cfg)
    )


def restart(state: ServiceState) -> ServiceState:
    """The same data directory and alert store, everything in memory new."""
    state.alerts.close()
    return ServiceState(
        state.settings,
        events=state.events,
        alerts=AlertStore.open(state.alerts.path),
        rules=RuleRegistry(state.settings),
    )


@pytest.fixture(scope="module")
def smb_events(tmp_path_factory: pytest.TempPathFactory) -> StoreEvents:
    store = open_store(tmp_path_factory.mktemp("events") / "events.store")
    store.append(read_events([str(DATA)], report=ReadReport()))
    return StoreEvents(store)


def all_ids(store: AlertStore) -> set[str]:
    return {a.uuid for a in store.list_alerts(include_building_blocks=True)}


def test_alert_ids_are_those_of_replay(tmp_path: Path, smb_events: StoreEvents) -> None:
    result = CliRunner().invoke(
        main,
        [
            "replay",
            "--rules",
            str(SMB_RULE),
            "--start",
            "2024-05-14T08:00:00Z",
            "--end",
            "2024-05-14T08:30:00Z",
            "--alert-db",
            str(tmp_path / "replay.db"),
            "--format",
            "ndjson",
            str(DATA),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    replay_ids = {
        json.loads(line)["kibana.alert.uuid"] for line in result.stdout.splitlines() if line.strip()
    }
    assert len(replay_ids) == 12  # 4 sequences: 4 shells + 8 building blocks

    state = make_state(tmp_path, [SMB_RULE], smb_events)
    scheduler = Scheduler(state)
    outcomes = []
    for k in range(7):  # the ticks of the replay: 08:00, 08:05, ..., 08:30
        outcomes += scheduler.run_due(T0 + k * timedelta(minutes=5))
    assert [o.tick for o in outcomes] == [T0 + k * timedelta(minutes=5) for k in range(7)]
    assert all(not o.errors for o in outcomes)
    assert all_ids(state.alerts) == replay_ids
    # Overlapping windows (from now-9m, every 5m) find the sequences twice; raised once.
    assert sum(o.alerts_created for o in outcomes) == 4
    assert sum(o.duplicates for o in outcomes) == 4
    runs = state.alerts.list_runs(SMB_ID)
    assert len(runs) == 7 and {r.status for r in runs} == {"succeeded"}
    first = runs[-1]
    assert (first.window_start, first.window_end) == (T0 - timedelta(minutes=9), T0)
    assert first.started is not None and sum(r.events_scanned for r in runs) > 0
    status = state.rules.get(SMB_ID)
    assert status.total_runs == 7 and status.total_alerts == 4 and status.gaps == 0
    assert scheduler.next_run(SMB_ID) == T0 + timedelta(minutes=35)
    scheduler.stop()


def test_a_restart_loses_nothing_and_duplicates_nothing(tmp_path: Path, smb_events: StoreEvents) -> None:
    state = make_state(tmp_path, [SMB_RULE], smb_events)
    at = T0 + timedelta(minutes=10)
    first = Scheduler(state).run_due(at)
    assert [o.alerts_created for o in first] == [4]
    # Restart 5 minutes later: the clock resumes after the recorded run, the next window
    # (08:06-08:15) sees the same sequences, and the store knows them.
    state = restart(state)
    scheduler = Scheduler(state)
    assert scheduler.run_due(at + timedelta(minutes=4)) == []  # not due yet
    again = scheduler.run_due(at + timedelta(minutes=5))
    assert [(o.tick, o.alerts_created, o.duplicates) for o in again] == [(at + timedelta(minutes=5), 0, 4)]
    assert state.alerts.count_alerts() == 4
    status = state.rules.get(SMB_ID)
    assert status.total_runs == 2 and status.total_alerts == 4  # totals restored from the records


def test_a_suppression_window_outlives_a_restart(tmp_path: Path) -> None:
    # Host ws-1 starts a process at 08:01 and at 08:07; with a 1-hour window grouped by host
    # there is one alert, whose count the second start raises, also across a restart.
    rule = rule_toml("sup", query='process where event.type == "start"') + (
        '\n[rule.alert_suppression]\ngroup_by = ["host.name"]\n'
        '\n[rule.alert_suppression.duration]\nunit = "h"\nvalue = 1\n'
    )
    (tmp_path / "sup.toml").write_text(rule)
    events = ListEvents([proc(T0 + timedelta(minutes=1), 1), proc(T0 + timedelta(minutes=7), 2)])
    state = make_state(tmp_path, [tmp_path / "sup.toml"], events)
    first = Scheduler(state).run_due(T0 + timedelta(minutes=5))
    assert [o.alerts_created for o in first] == [1]
    [alert] = state.alerts.list_alerts()
    count = alert.document["kibana.alert.suppression.docs_count"]
    state = restart(state)
    scheduler = Scheduler(state)
    again = scheduler.run_due(T0 + timedelta(minutes=10))
    assert [o.alerts_created for o in again] == [0]
    [same] = state.alerts.list_alerts()
    assert same.uuid == alert.uuid
    assert same.document["kibana.alert.suppression.docs_count"] == count + 1
    scheduler.stop()


def test_max_signals_warns_as_kibana(tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text(rule_toml("capped", max_signals=2))
    events = ListEvents([proc(T0 - timedelta(minutes=1), n) for n in range(3)])
    state = make_state(tmp_path, [tmp_path / "r.toml"], events)
    [outcome] = Scheduler(state).run_due(T0)
    assert outcome.alerts_created == 2 and outcome.hits == 2
    assert outcome.warnings == [MAX_SIGNALS_WARNING]
    assert state.alerts.list_runs("capped")[0].status == "partial failure"


def test_catch_up_after_downtime_is_bounded_and_records_the_gap(tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text(rule_toml("cu"))
    # One event during the downtime that only a skipped run would have searched, one in the
    # window of the oldest catch-up run.
    events = ListEvents([proc(T0 + timedelta(minutes=30), 1), proc(T0 + timedelta(minutes=88), 2)])
    state = make_state(tmp_path, [tmp_path / "r.toml"], events)
    assert [o.tick for o in Scheduler(state).run_due(T0)] == [T0]
    state = restart(state)
    scheduler = Scheduler(state, max_catch_up=3)
    down_until = T0 + timedelta(minutes=100)
    outcomes = scheduler.run_due(down_until)
    ticks = [T0 + timedelta(minutes=m) for m in (90, 95, 100)]
    assert [o.tick for o in outcomes] == ticks
    gap, skipped = outcomes[0].warnings[:2]
    assert GAP_MARKER in gap and "2024-05-14T08:00:00.000Z to 2024-05-14T09:24:00.000Z" in gap
    assert "17 scheduled run(s)" in skipped
    assert [o.alerts_created for o in outcomes] == [1, 0, 0]
    assert all(not o.warnings for o in outcomes[1:])
    assert scheduler.gaps("cu") == [(T0, T0 + timedelta(minutes=84))]
    assert state.rules.get("cu").gaps == 1
    # The gap is in the run record, so it is still counted after another restart.
    state = restart(state)
    Scheduler(state).run_due(down_until)
    assert state.rules.get("cu").gaps == 1


def test_a_window_shorter_than_the_interval_leaves_gaps(tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text(rule_toml("short", from_="now-2m"))
    state = make_state(tmp_path, [tmp_path / "r.toml"], ListEvents([]))
    scheduler = Scheduler(state)
    scheduler.run_due(T0)
    [outcome] = scheduler.run_due(T0 + timedelta(minutes=5))
    assert GAP_MARKER in outcome.warnings[0]
    assert scheduler.gaps("short") == [(T0, T0 + timedelta(minutes=3))]


def test_a_failing_rule_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(rule_toml("bad", index="boom-*"))
    (tmp_path / "good.toml").write_text(rule_toml("good"))
    state = make_state(tmp_path, [tmp_path / "bad.toml", tmp_path / "good.toml"], ListEvents([proc(T0, 1)]))
    outcomes = {o.rule_id: o for o in Scheduler(state).run_due(T0)}
    assert outcomes["bad"].errors == ["OSError: the event log is unreadable"]
    assert outcomes["good"].alerts_created == 1 and not outcomes["good"].errors
    assert state.alerts.list_runs("bad")[0].status == "failed"
    assert state.rules.get("bad").last_error == "OSError: the event log is unreadable"


def test_a_slow_rule_times_out_and_does_not_block_the_others(tmp_path: Path) -> None:
    (tmp_path / "slow.toml").write_text(rule_toml("slow", index="slow-*"))
    (tmp_path / "good.toml").write_text(rule_toml("good"))
    events = ListEvents([proc(T0, 1), proc(T0, 2, index="slow-1")])
    state = make_state(
        tmp_path, [tmp_path / "slow.toml", tmp_path / "good.toml"], events, run_timeout_seconds=0.2
    )
    scheduler = Scheduler(state)
    try:
        outcomes = {o.rule_id: o for o in scheduler.run_due(T0)}
        assert "did not finish within 0.2s" in outcomes["slow"].errors[0]
        assert outcomes["good"].alerts_created == 1
        assert state.alerts.list_runs("slow")[0].status == "failed"
        # While the abandoned run's thread still goes, the rule is not started again.
        assert [o.rule_id for o in scheduler.run_due(T0 + timedelta(minutes=5))] == ["good"]
    finally:
        events.release.set()
    busy = scheduler._clocks["slow"].busy
    assert busy is not None
    busy.result(timeout=30)  # the abandoned thread ends; its result is thrown away
    later = scheduler.run_due(T0 + timedelta(minutes=10))
    # The tick skipped while the rule was busy is caught up.
    slow = [o for o in later if o.rule_id == "slow"]
    assert [o.tick for o in slow] == [T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)]
    # The abandoned run stored nothing: the alert is raised by a later run.
    assert [o.alerts_created for o in slow] == [1, 0]
    scheduler.stop()


def test_disabled_and_unsupported_rules_do_not_run(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(rule_toml("a"))
    (tmp_path / "q.toml").write_text(rule_toml("q", type_="query"))
    state = make_state(tmp_path, [tmp_path / "a.toml", tmp_path / "q.toml"], ListEvents([proc(T0, 1)]))
    registry = state.rules
    assert registry.unsupported_reason("q") and not registry.get("q").enabled
    with pytest.raises(Exception, match="cannot be enabled"):
        registry.set_enabled("q", True)
    with pytest.raises(KeyError):
        registry.set_enabled("nope", True)
    registry.set_enabled("a", False)
    assert Scheduler(state).run_due(T0) == []
    # The flag survives a restart.
    again = RuleRegistry(state.settings).get("a")
    assert again is not None and again.enabled is False


def test_start_and_stop_the_background_loop(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(rule_toml("a"))
    state = make_state(tmp_path, [tmp_path / "a.toml"], ListEvents([proc(T0, 1)]), tick_seconds=0.01)
    ran = threading.Event()
    scheduler = Scheduler(state, clock=lambda: T0)
    original = scheduler._finish

    def finish(job: Any, result: Any) -> Any:
        out = original(job, result)
        ran.set()
        return out

    scheduler._finish = finish  # type: ignore[method-assign]
    scheduler.start()
    assert ran.wait(30)
    assert scheduler.health()["state"] == "running"
    scheduler.stop()
    assert scheduler.health()["state"] == "stopped"
    assert len(state.alerts.list_runs("a")) == 1  # the fake clock never moves: one tick


def test_import_a_rule_file_in_each_format(tmp_path: Path) -> None:
    cfg = Settings(data_dir=tmp_path / "data")
    registry = RuleRegistry(cfg)
    assert registry.statuses() == []
    for name in ("direct_outbound_smb.toml", "direct_outbound_smb.ndjson", "direct_outbound_smb.md"):
        text = (ROOT / "examples" / "rules" / name).read_text()
        [status] = registry.import_text(name, text)
        assert status.rule.rule_id == SMB_ID and status.enabled
    # Persisted under data_dir: a new registry loads the imports.
    assert [s.rule.rule_id for s in RuleRegistry(cfg).statuses()] == [SMB_ID]


def test_a_bad_rule_file_is_refused_with_its_location(tmp_path: Path) -> None:
    registry = RuleRegistry(Settings(data_dir=tmp_path / "data"))
    text = rule_toml("x", query="process where (")
    with pytest.raises(RuleImportError) as err:
        registry.import_text("bad.toml", text)
    assert err.value.location is not None and err.value.location.line > 0
    assert err.value.problems
    assert registry.statuses() == []
    with pytest.raises(RuleImportError, match="not a rule file"):
        registry.import_text("empty.toml", "# nothing\n")
