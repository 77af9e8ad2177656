"""Rule runs over recorded events: visibility, windows, ticks, max_signals, dedup, gaps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from vigil.engine import Event
from vigil.engine.model import QueryResult
from vigil.rules.executor import index_matcher, plan_rule
from vigil.rules.model import Rule
from vigil.rules.scheduler import MAX_SIGNALS_WARNING, AlertSink, collect, hunt_rule, replay_rule, ticks

SMB = """sequence by process.entity_id
  [process where event.type == "start" and process.pid != 4]
  [network where destination.port == 445 and process.pid != 4 and
     not cidrmatch(destination.ip, "127.0.0.1", "::1")]"""

T0 = datetime(2024, 5, 14, 8, 0, tzinfo=UTC)


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def smb_pair(entity: str, at: datetime, index: str = "logs-endpoint.events.process-default") -> list[dict]:
    return [
        {
            "@timestamp": _iso(at),
            "event": {"category": "process", "type": "start"},
            "process": {"entity_id": entity, "pid": 1200},
            "_index": index,
        },
        {
            "@timestamp": _iso(at + timedelta(seconds=2)),
            "event": {"category": "network"},
            "process": {"entity_id": entity, "pid": 1200},
            "destination": {"ip": "10.0.0.9", "port": 445},
            "_index": index,
        },
    ]


def events(docs: list[dict]) -> list[Event]:
    out = []
    for i, d in enumerate(docs):
        index = d.pop("_index", "")
        out.append(Event(d, index, f"id{i}", i))
    return out


@dataclass(frozen=True)
class FakeGroup:
    primary_id: str
    hit: Any


def fake_build(rule: Rule, result: QueryResult, *, run_time: datetime, rule_uuid: str) -> list[FakeGroup]:
    """One group per hit, id from the hit's event ids (deterministic, like Kibana's)."""
    hits = result.events if result.kind == "events" else result.sequences
    out = []
    for h in hits:
        ids = [h.id] if isinstance(h, Event) else [e.id for e in h.events if e is not None]
        out.append(FakeGroup(f"{rule_uuid}:{'+'.join(ids)}", h))
    return out


def smb_rule(**changes: Any) -> Rule:
    base = {
        "rule_id": "smb",
        "name": "SMB",
        "type": "eql",
        "language": "eql",
        "query": SMB,
        "index": ("winlogbeat-*", "logs-endpoint.events.*", "logs-windows.*"),
        "interval": "5m",
        "from_": "now-9m",
        "max_signals": 100,
    }
    base.update(changes)
    return Rule(**base)


@pytest.mark.parametrize(
    ("patterns", "index", "expected"),
    [
        (["winlogbeat-*"], "winlogbeat-8.13.0", True),
        (["logs-endpoint.events.*"], "logs-endpoint.events.process-default", True),
        (["logs-endpoint.events.*"], "logs-windows.sysmon_operational-default", False),
        (["logs-*", "-logs-windows.*"], "logs-windows.sysmon_operational-default", False),
        (["logs-*,-logs-windows.*"], "logs-system.security-default", True),
        (["remote:winlogbeat-*"], "winlogbeat-7.17.0", True),
    ],
)
def test_index_patterns(patterns: list[str], index: str, expected: bool) -> None:
    assert index_matcher(patterns)(index) is expected


def test_rule_sees_only_its_indices_and_unknown_unless_strict() -> None:
    docs = smb_pair("A", T0) + smb_pair("B", T0, "logs-system.security-default") + smb_pair("C", T0, "")
    plan = plan_rule(smb_rule(), size=1000)
    collect([plan], events(docs))
    result = plan.run(plan.window(None, None))
    assert sorted(s.join_keys[0] for s in result.sequences) == ["A", "C"]
    strict = plan_rule(smb_rule(), size=1000, strict_index=True)
    collect([strict], events(smb_pair("A", T0) + smb_pair("C", T0, "")))
    assert [s.join_keys[0] for s in strict.run(strict.window(None, None)).sequences] == ["A"]


def test_ticks() -> None:
    assert ticks(T0, T0 + timedelta(minutes=10), timedelta(minutes=5)) == [
        T0,
        T0 + timedelta(minutes=5),
        T0 + timedelta(minutes=10),
    ]


def test_overlapping_windows_raise_one_alert() -> None:
    # The sequence at 08:03 is inside the windows of the 08:05 and 08:10 ticks (9m look-back).
    plan = plan_rule(smb_rule(), size=101)
    collect([plan], events(smb_pair("A", T0 + timedelta(minutes=3))))
    runs = []
    summary = replay_rule(
        plan,
        start=T0,
        end=T0 + timedelta(minutes=15),
        sink=AlertSink(None),
        build=fake_build,
        on_run=runs.append,
    )
    assert summary.runs == 4
    assert [r.hits for r in runs] == [0, 1, 1, 0]
    assert summary.alerts == 1
    assert summary.duplicates == 1
    assert summary.gaps == []


def test_gaps_when_look_back_is_shorter_than_interval() -> None:
    plan = plan_rule(smb_rule(from_="now-3m"), size=101)
    collect([plan], events([]))
    summary = replay_rule(
        plan, start=T0, end=T0 + timedelta(minutes=10), sink=AlertSink(None), build=fake_build
    )
    assert summary.gaps == [
        (T0, T0 + timedelta(minutes=2)),
        (T0 + timedelta(minutes=5), T0 + timedelta(minutes=7)),
    ]


def test_max_signals_caps_and_warns() -> None:
    docs: list[dict] = []
    for i in range(5):
        docs += smb_pair(f"E{i}", T0 + timedelta(minutes=1, seconds=i * 5))
    plan = plan_rule(smb_rule(max_signals=3), size=4)
    collect([plan], events(docs))
    runs = []
    summary = replay_rule(
        plan,
        start=T0 + timedelta(minutes=5),
        end=T0 + timedelta(minutes=5),
        sink=AlertSink(None),
        build=fake_build,
        on_run=runs.append,
    )
    assert summary.alerts == 3
    assert runs[0].warnings == [MAX_SIGNALS_WARNING]


def test_timestamp_override_falls_back_to_timestamp() -> None:
    rule = smb_rule(query='process where event.type == "start"', timestamp_override="event.ingested")
    late = T0 + timedelta(hours=2)
    docs = [
        # ingested late: seen by the run whose window holds event.ingested, not @timestamp
        {
            "@timestamp": _iso(T0 + timedelta(minutes=1)),
            "event": {"category": "process", "type": "start", "ingested": _iso(late)},
        },
        # no event.ingested: falls back to @timestamp
        {"@timestamp": _iso(T0 + timedelta(minutes=2)), "event": {"category": "process", "type": "start"}},
    ]
    plan = plan_rule(rule, size=101)
    collect([plan], events(docs))
    early = hunt_rule(plan, run_time=T0, sink=AlertSink(None), build=fake_build)
    assert early.alerts == 2  # a hunt has no window
    runs = []
    replay_rule(
        plan,
        start=T0 + timedelta(minutes=5),
        end=late + timedelta(minutes=5),
        sink=AlertSink(None),
        build=fake_build,
        on_run=runs.append,
    )
    hit_ticks = [r.tick for r in runs if r.hits]
    assert hit_ticks[0] == T0 + timedelta(minutes=5)  # the @timestamp-only event
    assert late + timedelta(minutes=5) in hit_ticks  # the late-ingested event
    no_fallback = plan_rule(
        smb_rule(
            query=rule.query, timestamp_override="event.ingested", timestamp_override_fallback_disabled=True
        ),
        size=101,
    )
    collect([no_fallback], events([dict(d) for d in docs]))
    assert len(no_fallback.window(None, None)) == 1


def test_failing_rule_is_reported_not_raised() -> None:
    plan = plan_rule(smb_rule(), size=101)
    collect([plan], events(smb_pair("A", T0)))

    def broken(*_a: Any, **_k: Any) -> list[Any]:
        raise RuntimeError("boom")

    summary = hunt_rule(plan, run_time=T0, sink=AlertSink(None), build=broken)
    assert summary.errors == ["RuntimeError: boom"]


def test_rules_with_their_own_category_field_see_every_event_the_index_would_skip() -> None:
    from vigil.engine.dispatch import bits
    from vigil.rules.scheduler import Collector

    plans = [
        plan_rule(smb_rule(rule_id="a", query='process where process.name == "a.exe"'), size=10),
        # category read from another field: the rule index (on event.category) cannot judge it
        plan_rule(
            smb_rule(rule_id="b", query="process where true", event_category_override="custom.kind"),
            size=10,
        ),
        plan_rule(smb_rule(rule_id="c", query="network where destination.port == 445"), size=10),
    ]
    dispatch = Collector(plans, use_ruleset=False).dispatch
    process_a = {"event": {"category": "process"}, "process": {"name": "a.exe"}}
    network = {"event": {"category": "network"}, "destination": {"port": 445}, "custom": {"kind": "process"}}
    assert bits(dispatch(process_a)) == [0, 1]
    assert bits(dispatch(network)) == [1, 2]
    assert bits(dispatch({"event": {"category": "file"}})) == [1]
