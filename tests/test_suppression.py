"""Alert suppression per run and over a time window, with Kibana's suppression fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from vigil.alerts.build import build_alerts
from vigil.engine import Event
from vigil.rules.executor import plan_rule
from vigil.rules.model import AlertSuppression, Rule
from vigil.rules.scheduler import AlertSink, collect, replay_rule
from vigil.rules.suppression import DOCS_COUNT, END, INSTANCE, START, TERMS, Suppressor

T0 = datetime(2024, 5, 14, 8, 0, tzinfo=UTC)


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _events(specs: list[tuple[int, str | None]]) -> list[Event]:
    out = []
    for i, (second, host) in enumerate(specs):
        doc: dict = {
            "@timestamp": _iso(T0 + timedelta(seconds=second)),
            "event": {"category": "process", "type": "start"},
            "process": {"name": "cmd.exe"},
        }
        if host is not None:
            doc["host"] = {"name": host}
        out.append(Event(doc, "logs-endpoint.events.process-default", f"e{i}", i))
    return out


def _rule(**sup: object) -> Rule:
    return Rule(
        rule_id="cmd",
        name="cmd",
        type="eql",
        language="eql",
        query='process where process.name == "cmd.exe"',
        index=("logs-*",),
        interval="5m",
        from_="now-6m",
        alert_suppression=AlertSuppression(group_by=("host.name",), **sup),
    )  # type: ignore[arg-type]


def _replay(rule: Rule, events: list[Event], end_minutes: int) -> list:
    plan = plan_rule(rule, size=rule.max_signals + 1)
    collect([plan], events)
    runs: list = []
    replay_rule(
        plan,
        start=T0 + timedelta(minutes=5),
        end=T0 + timedelta(minutes=end_minutes),
        sink=AlertSink(None),
        build=build_alerts,
        on_run=runs.append,
        suppress=Suppressor(),
    )
    return runs


def test_per_run_one_alert_per_group_with_counts() -> None:
    runs = _replay(_rule(), _events([(10, "a"), (20, "a"), (30, "b"), (40, "a")]), 5)
    groups = runs[0].groups
    assert len(groups) == 2
    by_host = {g.primary[TERMS][0]["value"]: g.primary for g in groups}
    assert by_host["a"][DOCS_COUNT] == 2
    assert by_host["a"][START] < by_host["a"][END]
    assert by_host["b"][DOCS_COUNT] == 0
    assert by_host["a"][INSTANCE] != by_host["b"][INSTANCE]


def test_missing_values_suppressed_together_or_not() -> None:
    specs = [(10, None), (20, None), (30, "a")]
    assert len(_replay(_rule(), _events(specs), 5)[0].groups) == 2
    runs = _replay(_rule(missing_fields_strategy="doNotSuppress"), _events(specs), 5)
    assert len(runs[0].groups) == 3


def test_time_window_suppression_across_runs() -> None:
    # events of host a at minute 1 (run at 5) and minute 7 (run at 10): one alert with a 1h window
    events = _events([(60, "a"), (420, "a")])
    with_window = _replay(_rule(duration_seconds=3600), events, 10)
    assert sum(len(r.groups) for r in with_window) == 1
    per_run = _replay(_rule(), _events([(60, "a"), (420, "a")]), 10)
    assert sum(len(r.groups) for r in per_run) == 2


class _RememberingStore:
    """Stands in for the alert store: what an earlier process raised, and the updates since."""

    def __init__(self) -> None:
        self.raised: dict[str, tuple[dict, datetime]] = {}
        self.updated: list[dict] = []
        self.asked: list[tuple[str, str, datetime]] = []

    def find_suppressed(self, rule_uuid: str, inst: str, since: datetime) -> tuple[dict, datetime] | None:
        self.asked.append((rule_uuid, inst, since))
        found = self.raised.get(inst)
        return found if found is not None and found[1] >= since else None

    def update_alert(self, document: dict) -> bool:
        self.updated.append(document)
        return True


def _replay_with(rule: Rule, events: list[Event], start: int, end: int, suppressor: Suppressor) -> list:
    plan = plan_rule(rule, size=rule.max_signals + 1)
    collect([plan], events)
    runs: list = []
    replay_rule(
        plan,
        start=T0 + timedelta(minutes=start),
        end=T0 + timedelta(minutes=end),
        sink=AlertSink(None),
        build=build_alerts,
        on_run=runs.append,
        suppress=suppressor,
    )
    return runs


def test_time_window_suppression_survives_a_restart_through_the_store() -> None:
    rule = _rule(duration_seconds=3600)
    events = _events([(60, "a"), (420, "a")])
    store = _RememberingStore()
    # First process: the run at minute 5 raises the alert of host a, and stops.
    first = _replay_with(rule, events, 5, 5, Suppressor(store))
    [group] = [g for r in first for g in r.groups]
    store.raised[group.primary[INSTANCE]] = (group.primary, T0 + timedelta(minutes=5))
    # A new process (empty memory) runs at minute 10: the stored alert absorbs the new event.
    second = _replay_with(rule, events, 10, 10, Suppressor(store))
    assert sum(len(r.groups) for r in second) == 0
    [updated] = store.updated
    assert updated["kibana.alert.uuid"] == group.primary["kibana.alert.uuid"]
    assert updated[DOCS_COUNT] == group.primary[DOCS_COUNT] + 1
    assert store.asked[-1][2] == T0 + timedelta(minutes=10) - timedelta(hours=1)
    # Past the window the store's alert is too old: a new alert is raised.
    store.raised[group.primary[INSTANCE]] = (group.primary, T0 - timedelta(hours=2))
    store.updated.clear()
    third = _replay_with(rule, events, 10, 10, Suppressor(store))
    assert sum(len(r.groups) for r in third) == 1
    assert store.updated == []


def test_the_alert_store_recalls_the_instance_a_window_folds_into(tmp_path: Path) -> None:
    from vigil.alerts.store import AlertStore

    rule = _rule(duration_seconds=3600)
    events = _events([(60, "a"), (420, "a")])
    with AlertStore.open(tmp_path / "alerts.db") as store:
        first = _replay_with(rule, events, 5, 5, Suppressor(store))
        groups = [g for r in first for g in r.groups]
        assert store.add_alerts(groups) == (1, 0)
        [group] = groups
        inst = group.primary[INSTANCE]
        found = store.find_suppressed(group.rule_uuid, inst, T0)
        assert found is not None and found[1] == T0 + timedelta(minutes=5)
        assert store.find_suppressed(group.rule_uuid, inst, T0 + timedelta(minutes=6)) is None
        assert store.find_suppressed(group.rule_uuid, "another instance", T0) is None
    # A later process over the same store: the window folds the new event into the stored alert.
    with AlertStore.open(tmp_path / "alerts.db") as store:
        second = _replay_with(rule, events, 10, 10, Suppressor(store))
        assert sum(len(r.groups) for r in second) == 0
        [stored] = store.list_alerts()
        assert store.get_alert(stored.uuid).document[DOCS_COUNT] == group.primary[DOCS_COUNT] + 1
