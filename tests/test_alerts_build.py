"""Alert documents as Kibana's EQL rule writes them: ids, shapes, sequences, reasons."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from vigil.alerts import ecs as ecs_mod
from vigil.alerts.build import (
    AlertGroup,
    alert_id_of_ancestors,
    alert_id_of_event,
    build_alerts,
    building_block_ids,
    sequence_alert_ids,
)
from vigil.alerts.ecs import is_valid_date, is_valid_ip, is_valid_numeric, prepare_source
from vigil.alerts.js import flatten_with_prefix, js_number, js_number_to_string, object_pair_intersection
from vigil.alerts.reason import reason_message
from vigil.engine.model import Event, QueryResult, SequenceHit
from vigil.rules.model import Rule, Technique, Threat, ThreatEntry

RUN = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
RUN_ISO = "2024-05-01T12:00:00.000Z"
RULE_UUID = "7d2e2b0c-1111-4a6e-9c6e-3f1d2a0b9c01"
INDEX = "logs-endpoint.events.process-default"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_rule(**changes: object) -> Rule:
    fields: dict[str, object] = dict(
        rule_id="0a1b2c3d-0000-4000-8000-000000000001",
        name="Suspicious Shell",
        type="eql",
        language="eql",
        query='process where process.name == "cmd.exe"',
        description="A shell started.",
        index=("logs-endpoint.events.*",),
        severity="high",
        risk_score=73,
        tags=("Domain: Endpoint", "Tactic: Execution"),
        threat=(
            Threat(
                "MITRE ATT&CK",
                ThreatEntry("TA0002", "Execution", "https://attack.mitre.org/tactics/TA0002/"),
                (
                    Technique(
                        ThreatEntry(
                            "T1059", "Command and Scripting Interpreter", "https://attack.mitre.org/T1059/"
                        ),
                        (
                            ThreatEntry(
                                "T1059.003", "Windows Command Shell", "https://attack.mitre.org/T1059/003/"
                            ),
                        ),
                    ),
                ),
            ),
        ),
        author=("Elastic",),
        license="Elastic License v2",
        references=("https://example.com/ref",),
        version=3,
    )
    fields.update(changes)
    return Rule(**fields)  # type: ignore[arg-type]


def event(eid: str, source: dict[str, object], index: str = INDEX, seq: int = 0) -> Event:
    return Event(source, index, eid, seq)


def shell_event(eid: str = "ev-1", **extra: object) -> Event:
    source: dict[str, object] = {
        "@timestamp": "2024-05-01T11:58:30.123456Z",
        "event": {"category": ["process"], "type": ["start"], "kind": "event", "action": "exec"},
        "process": {"name": "cmd.exe", "pid": 4242, "args": ["cmd.exe", "/c", "whoami"]},
        "host": {"name": "ws-01", "os": {"family": "windows"}},
        "user": {"name": "alice"},
        "data_stream": {"dataset": "endpoint.events.process", "namespace": "default", "type": "logs"},
    }
    source.update(extra)
    return event(eid, source)


def one(groups: list[AlertGroup]) -> dict[str, object]:
    assert len(groups) == 1 and len(groups[0].alerts) == 1
    return groups[0].alerts[0]


# --------------------------------------------------------------------------- event alerts


def test_event_alert_id_is_kibanas_hash() -> None:
    ev = shell_event()
    groups = build_alerts(make_rule(), QueryResult("events", events=[ev]), run_time=RUN, rule_uuid=RULE_UUID)
    expected = sha256(INDEX + "ev-1" + "undefined" + "default:" + RULE_UUID)
    doc = one(groups)
    assert doc["kibana.alert.uuid"] == expected == groups[0].primary_id
    assert alert_id_of_event(INDEX, "ev-1", RULE_UUID) == expected
    # another space, another id; a real _version would be hashed as its text
    assert alert_id_of_event(INDEX, "ev-1", RULE_UUID, space_id="soc") == sha256(
        INDEX + "ev-1undefinedsoc:" + RULE_UUID
    )
    assert alert_id_of_event(INDEX, "ev-1", RULE_UUID, version=1) == sha256(
        INDEX + "ev-11default:" + RULE_UUID
    )


def test_event_alert_document() -> None:
    ev = shell_event(kibana={"alert": {"x": 1}}, **{"signal.x": 1})
    doc = one(
        build_alerts(make_rule(), QueryResult("events", events=[ev]), run_time=RUN, rule_uuid=RULE_UUID)
    )
    assert doc["@timestamp"] == RUN_ISO
    assert doc["event.kind"] == "signal"
    assert doc["event"] == {"category": ["process"], "type": ["start"], "action": "exec"}  # its kind moved
    assert doc["kibana.alert.original_event.kind"] == "event"
    assert doc["kibana.alert.original_event.category"] == ["process"]
    assert doc["kibana.alert.original_event.action"] == "exec"
    assert doc["kibana.alert.original_data_stream.dataset"] == "endpoint.events.process"
    assert doc["kibana.alert.original_time"] == "2024-05-01T11:58:30.123Z"
    assert "kibana" not in doc and "signal.x" not in doc  # never copied from a source
    assert doc["process"] == {"name": "cmd.exe", "pid": 4242, "args": ["cmd.exe", "/c", "whoami"]}
    assert doc["kibana.alert.ancestors"] == [{"id": "ev-1", "type": "event", "index": INDEX, "depth": 0}]
    assert doc["kibana.alert.depth"] == 1
    assert doc["kibana.alert.workflow_status"] == "open"
    assert doc["kibana.alert.status"] == "active"
    assert doc["kibana.space_ids"] == ["default"]
    assert doc["kibana.alert.severity"] == "high" and doc["kibana.alert.risk_score"] == 73
    assert doc["kibana.alert.rule.uuid"] == RULE_UUID
    assert doc["kibana.alert.rule.rule_id"] == "0a1b2c3d-0000-4000-8000-000000000001"
    assert doc["kibana.alert.rule.name"] == "Suspicious Shell"
    assert doc["kibana.alert.rule.type"] == "eql"
    assert doc["kibana.alert.rule.interval"] == "5m" and doc["kibana.alert.rule.from"] == "now-6m"
    assert doc["kibana.alert.rule.max_signals"] == 100
    assert doc["kibana.alert.rule.indices"] == ["logs-endpoint.events.*"]
    assert doc["kibana.alert.rule.tags"] == ["Domain: Endpoint", "Tactic: Execution"]
    assert doc["kibana.alert.rule.version"] == 3
    assert doc["kibana.alert.rule.consumer"] == "siem" and doc["kibana.alert.rule.producer"] == "siem"
    assert doc["kibana.alert.rule.rule_type_id"] == "siem.eqlRule"
    assert doc["kibana.alert.rule.category"] == "Event Correlation Rule"
    assert doc["kibana.alert.rule.threat"] == [
        {
            "framework": "MITRE ATT&CK",
            "tactic": {
                "id": "TA0002",
                "name": "Execution",
                "reference": "https://attack.mitre.org/tactics/TA0002/",
            },
            "technique": [
                {
                    "id": "T1059",
                    "name": "Command and Scripting Interpreter",
                    "reference": "https://attack.mitre.org/T1059/",
                    "subtechnique": [
                        {
                            "id": "T1059.003",
                            "name": "Windows Command Shell",
                            "reference": "https://attack.mitre.org/T1059/003/",
                        }
                    ],
                }
            ],
        }
    ]
    params = doc["kibana.alert.rule.parameters"]
    assert isinstance(params, dict)
    assert params["query"] == 'process where process.name == "cmd.exe"'
    assert (
        params["language"] == "eql" and params["type"] == "eql" and params["rule_id"] == make_rule().rule_id
    )
    assert "output_index" not in params
    assert "kibana.alert.building_block_type" not in doc and "kibana.alert.group.id" not in doc
    assert doc["kibana.version"] and doc["kibana.alert.start"] == RUN_ISO
    assert doc["kibana.alert.reason"] == (
        "process event with process cmd.exe, by alice on ws-01 created high alert Suspicious Shell."
    )


def test_alerts_are_deterministic() -> None:
    rule = make_rule()
    result = QueryResult("events", events=[shell_event("a"), shell_event("b")])
    first = build_alerts(rule, result, run_time=RUN, rule_uuid=RULE_UUID)
    second = build_alerts(rule, result, run_time=RUN, rule_uuid=RULE_UUID)
    assert first == second
    assert len({g.primary_id for g in first}) == 2


def test_non_ecs_values_are_dropped() -> None:
    ev = shell_event(
        process={"name": "cmd.exe", "pid": "not a number", "args": ["a", {"x": 1}]},
        source={"ip": "not-an-ip", "port": "80"},
        host="ws-01",  # ECS has host as an object
        custom={"anything": [1, "x"]},
    )
    doc = one(
        build_alerts(make_rule(), QueryResult("events", events=[ev]), run_time=RUN, rule_uuid=RULE_UUID)
    )
    assert doc["process"] == {"name": "cmd.exe", "args": ["a"]}
    assert doc["source"] == {"port": "80"}
    assert "host" not in doc
    assert doc["custom"] == {"anything": [1, "x"]}


def test_original_time_is_timestamp_whatever_the_override() -> None:
    # Kibana reads @timestamp for kibana.alert.original_time, even with a timestamp override.
    rule = make_rule(timestamp_override="event.ingested")
    ev = shell_event(event={"ingested": "2024-05-01T11:59:00Z", "category": ["process"]})
    doc = one(build_alerts(rule, QueryResult("events", events=[ev]), run_time=RUN, rule_uuid=RULE_UUID))
    assert doc["kibana.alert.original_time"] == "2024-05-01T11:58:30.123Z"
    assert doc["kibana.alert.rule.timestamp_override"] == "event.ingested"


def test_original_time_without_timestamp() -> None:
    source = {"event": {"created": 1714564710000, "category": "process"}, "process": {"name": "x"}}
    groups = build_alerts(
        make_rule(),
        QueryResult("events", events=[event("e", source)]),
        run_time=RUN,
        rule_uuid=RULE_UUID,
        timestamp_field="event.created",
    )
    assert "kibana.alert.original_time" not in groups[0].alerts[0]
    # The group's time falls back to the timestamp field.
    assert groups[0].original_time == "2024-05-01T11:58:30.000Z"


def test_epoch_millis_timestamp() -> None:
    ev = event("e", {"@timestamp": 1714564710123})
    doc = one(
        build_alerts(make_rule(), QueryResult("events", events=[ev]), run_time=RUN, rule_uuid=RULE_UUID)
    )
    assert doc["kibana.alert.original_time"] == "2024-05-01T11:58:30.123Z"


def test_no_alert_on_the_rules_own_alerts() -> None:
    own = event(
        "a1",
        {
            "kibana.alert.uuid": "a1",
            "kibana.alert.rule.uuid": RULE_UUID,
            "kibana.alert.ancestors": [{"id": "e0", "index": "i", "type": "event", "depth": 0}],
        },
    )
    assert (
        build_alerts(make_rule(), QueryResult("events", events=[own]), run_time=RUN, rule_uuid=RULE_UUID)
        == []
    )


def test_alert_on_another_rules_alert() -> None:
    other = event(
        "a1",
        {
            "kibana.alert.uuid": "a1",
            "kibana.alert.rule.uuid": "other",
            "kibana.alert.depth": 1,
            "kibana.alert.ancestors": [{"id": "e0", "index": "i", "type": "event", "depth": 0}],
        },
        index=".internal.alerts-security.alerts-default-000001",
    )
    doc = one(
        build_alerts(make_rule(), QueryResult("events", events=[other]), run_time=RUN, rule_uuid=RULE_UUID)
    )
    assert doc["kibana.alert.ancestors"] == [
        {"id": "e0", "index": "i", "type": "event", "depth": 0},
        {
            "id": "a1",
            "type": "signal",
            "index": ".internal.alerts-security.alerts-default-000001",
            "depth": 1,
            "rule": "other",
        },
    ]
    assert doc["kibana.alert.depth"] == 2


def test_severity_risk_and_name_overrides() -> None:
    rule = make_rule(
        extra={
            "severity_mapping": [
                {"field": "event.severity", "operator": "equals", "value": "73", "severity": "critical"},
                {"field": "process.name", "operator": "equals", "value": "cmd.exe", "severity": "low"},
            ],
            "risk_score_mapping": [{"field": "event.risk_score", "operator": "equals", "value": ""}],
            "rule_name_override": "message",
        }
    )
    ev = shell_event(event={"severity": 73, "risk_score": "88.5", "category": ["process"]}, message="Shell!")
    doc = one(build_alerts(rule, QueryResult("events", events=[ev]), run_time=RUN, rule_uuid=RULE_UUID))
    assert doc["kibana.alert.severity"] == "critical"
    assert doc["kibana.alert.risk_score"] == 88.5
    assert doc["kibana.alert.rule.name"] == "Shell!"
    assert doc["kibana.alert.rule.severity"] == "high" and doc["kibana.alert.rule.risk_score"] == 73
    assert doc["kibana.alert.reason"].endswith("created critical alert Shell!.")


# --------------------------------------------------------------------------- sequences


def sequence_events() -> tuple[Event, Event]:
    first = event(
        "e-1",
        {
            "@timestamp": "2024-05-01T11:58:00Z",
            "event": {"category": ["process"], "kind": "event"},
            "process": {"name": "cmd.exe", "pid": 10},
            "host": {"name": "ws-01", "id": "h-1"},
            "user": {"name": "alice"},
        },
        index="idx-a",
    )
    second = event(
        "e-2",
        {
            "@timestamp": "2024-05-01T11:59:00Z",
            "event": {"category": ["network"], "kind": "event"},
            "process": {"name": "cmd.exe", "pid": 11},
            "host": {"name": "ws-01", "id": "h-1"},
            "destination": {"ip": "10.0.0.5", "port": 445},
        },
        index="idx-b",
    )
    return first, second


def test_sequence_ids_follow_kibanas_formulas() -> None:
    first, second = sequence_events()
    hit = SequenceHit(["ws-01"], [first, None, second])  # the missing-event step is left out
    groups = build_alerts(
        make_rule(), QueryResult("sequences", sequences=[hit]), run_time=RUN, rule_uuid=RULE_UUID
    )
    assert len(groups) == 1
    group = groups[0]
    shell, b0, b1 = group.alerts
    base = "e-1" + "idx-a" + RULE_UUID + "e-2" + "idx-b" + RULE_UUID
    assert b0["kibana.alert.uuid"] == sha256(base + "0")
    assert b1["kibana.alert.uuid"] == sha256(base + "1")
    shell_id = sha256("e-1idx-a" + sha256(base + "0") + "" + "e-2idx-b" + sha256(base + "1") + "" + RULE_UUID)
    assert shell["kibana.alert.uuid"] == shell_id == group.primary_id
    assert group.kind == "sequence" and group.primary is shell and group.building_blocks == (b0, b1)
    assert sequence_alert_ids([first, None, second], RULE_UUID) == (
        shell_id,
        [b0["kibana.alert.uuid"], b1["kibana.alert.uuid"]],
    )


def test_sequence_ids_match_kibanas_own_test_vectors() -> None:
    # build_alert_group_from_sequence.test.ts: two events of index myFakeSignalIndex, rule sampleRuleGuid.
    rule_guid = "04128c15-0d1b-4716-a4c5-46997ac7f3bd"
    events = [
        [{"id": "d5e8eb51-a6a0-456d-8a15-4b79bfec3d71", "index": "myFakeSignalIndex"}],
        [{"id": "619389b2-b077-400e-b40b-abde20d675d3", "index": "myFakeSignalIndex"}],
    ]
    ids = building_block_ids(events, rule_guid)
    assert ids == [
        "f2db3574eaf8450e3f4d1cf4f416d70b110b035ae0a7a00026242df07f0a6c90",
        "1dbc416333244efbda833832eb83f13ea5d980a33c2f981ca8d2b35d82a045da",
    ]
    ancestors = [events[0][0], {"id": ids[0], "index": ""}, events[1][0], {"id": ids[1], "index": ""}]
    assert alert_id_of_ancestors(ancestors, rule_guid) == (
        "1b7d06954e74257140f3bf73f139078483f9658fe829fd806cc307fc0388fb23"
    )


def test_sequence_documents() -> None:
    first, second = sequence_events()
    hit = SequenceHit(["ws-01"], [first, second])
    group = build_alerts(
        make_rule(), QueryResult("sequences", sequences=[hit]), run_time=RUN, rule_uuid=RULE_UUID
    )[0]
    shell, b0, b1 = group.alerts
    for i, block in enumerate((b0, b1)):
        assert block["kibana.alert.building_block_type"] == "default"
        assert block["kibana.alert.group.id"] == shell["kibana.alert.uuid"]
        assert block["kibana.alert.group.index"] == i
        assert block["kibana.alert.depth"] == 1
    assert b0["kibana.alert.ancestors"] == [{"id": "e-1", "type": "event", "index": "idx-a", "depth": 0}]
    assert b0["kibana.alert.original_time"] == "2024-05-01T11:58:00.000Z"
    assert b1["kibana.alert.original_time"] == "2024-05-01T11:59:00.000Z"
    assert b1["kibana.alert.reason"] == (
        "network event with process cmd.exe, destination 10.0.0.5 on ws-01"
        " created high alert Suspicious Shell."
    )
    # The shell: only what the building blocks share.
    assert "kibana.alert.building_block_type" not in shell and "kibana.alert.group.index" not in shell
    assert shell["kibana.alert.group.id"] == shell["kibana.alert.uuid"]
    assert shell["kibana.alert.depth"] == 2
    assert shell["host"] == {"name": "ws-01", "id": "h-1"}
    assert shell["process"] == {"name": "cmd.exe"}  # the pids differ
    assert "user" not in shell and "destination" not in shell
    assert shell["event"] == {"category": []}  # arrays intersect: process vs network share nothing
    assert shell["kibana.alert.original_event.kind"] == "event"
    assert (
        "kibana.alert.original_event.category" in shell
        and shell["kibana.alert.original_event.category"] == []
    )
    assert (
        shell["kibana.alert.reason"]
        == "event with process cmd.exe, on ws-01 created high alert Suspicious Shell."
    )
    assert [a["id"] for a in shell["kibana.alert.ancestors"]] == [
        "e-1",
        b0["kibana.alert.uuid"],
        "e-2",
        b1["kibana.alert.uuid"],
    ]
    assert shell["kibana.alert.ancestors"][1] == {
        "id": b0["kibana.alert.uuid"],
        "type": "signal",
        "index": "",
        "depth": 1,
        "rule": RULE_UUID,
    }
    # Kibana reads the shell's original time from its first building block's @timestamp: the run time.
    assert shell["kibana.alert.original_time"] == RUN_ISO
    assert group.original_time == "2024-05-01T11:58:00.000Z"
    assert shell["kibana.alert.rule.name"] == "Suspicious Shell" and shell["event.kind"] == "signal"


def test_sequence_with_only_missing_events_raises_nothing() -> None:
    hit = SequenceHit([], [None, None])
    assert (
        build_alerts(
            make_rule(), QueryResult("sequences", sequences=[hit]), run_time=RUN, rule_uuid=RULE_UUID
        )
        == []
    )


# --------------------------------------------------------------------------- reasons and helpers


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({}, "event created low alert R."),
        (
            {"event": {"category": "file"}, "file": {"name": "a.txt"}, "host": {"name": "h"}},
            "file event with file a.txt, on h created low alert R.",
        ),
        (
            {"source": {"ip": "1.2.3.4", "port": "53"}, "user": {"name": ["u1", "u2"]}},
            "event with source 1.2.3.4:53, by u1, u2 created low alert R.",
        ),
        (
            {"destination.ip": "10.0.0.1", "destination.port": 445},
            "event with destination 10.0.0.1 created low alert R.",
        ),
        (
            {"process": {"name": "-", "parent": {"name": "explorer.exe"}}},
            "event with parent process explorer.exe, created low alert R.",
        ),
        (
            {"host": {"name": ["-"]}, "user": {"name": ""}, "process": {"name": 7}},
            "event created low alert R.",
        ),
        ({"host": {"name": "null"}}, "event created low alert R."),
    ],
)
def test_reason_message(source: dict[str, object], expected: str) -> None:
    assert reason_message("R", "low", source) == expected


def test_intersection_rules() -> None:
    assert object_pair_intersection({"a": [3, 4, 5]}, {"a": [1, 2, 3, 4]}) == {"a": [3, 4]}
    assert object_pair_intersection({"a": 1, "b": 1}, {"a": 1, "b": "1"}) == {"a": 1}
    assert object_pair_intersection({"a.b": 1}, {"a": {"b": 1}}) == {"a": {"b": 1}}
    assert object_pair_intersection({"a.b": 1}, {"a.b": 1}) == {"a.b": 1}
    assert object_pair_intersection({"a": [{"x": 1}]}, {"a": [{"x": 1}]}) == {"a": []}  # objects never match
    assert object_pair_intersection({"a": 1}, {"b": 1}) is None


def test_value_checks() -> None:
    assert is_valid_numeric(" 24 ") and is_valid_numeric("0x1f") and not is_valid_numeric("2015x")
    assert not is_valid_numeric(True)
    assert is_valid_ip("127.0.0.1") and is_valid_ip("2001:db8::") and is_valid_ip("10.0.0.0/8")
    assert not is_valid_ip("localhost") and not is_valid_ip("127.0.0.")
    assert is_valid_date("2015-01-01T12:10Z") and is_valid_date("2015-01-01T") and is_valid_date(387497835948)
    assert not is_valid_date("2015-20-20") and not is_valid_date("2015Z") and not is_valid_date("2022/12/12")
    assert (
        js_number("0b101") == 5 and js_number_to_string(1e21) == "1e+21" and js_number_to_string(2.0) == "2"
    )


def test_prepare_source_copies_event_fields() -> None:
    doc, removed = prepare_source({"event.action": "x", "event": {"outcome": "success"}, "kibana.a": 1})
    assert doc == {
        "event.action": "x",
        "event": {"outcome": "success"},
        "kibana.alert.original_event.action": "x",
        "kibana.alert.original_event.outcome": "success",
    }
    assert removed == ["kibana.a"]


def _reference_prepare(document: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Kibana's preparation of a source as Kibana writes it (``stripNonEcsFields`` and the copy of
    ``event.*``): a walk that deletes from the document it is given (a copy). The oracle of
    :func:`vigil.alerts.ecs.prepare_copy`, which makes the copy from what this walk keeps."""
    removed: list[str] = []
    to_add: list[tuple[str, Any]] = []
    _walk(document, "", True, removed, to_add, ecs_mod.ecs_map())
    for key, value in to_add:
        document[key] = value
    return document, removed


def _walk(
    doc: dict[str, Any],
    prefix: str,
    top: bool,
    removed: list[str],
    to_add: list[tuple[str, Any]],
    ecs: ecs_mod.EcsMap,
) -> None:
    # ``prefix``: the dotted path of ``doc`` with a trailing dot ("" at the top).
    for key in list(doc):
        value = doc[key]
        full_path = prefix + key
        deleted = False
        if top and key.split(".")[0] in ecs_mod._BANNED_TOP_LEVEL:
            del doc[key]
            removed.append(full_path)
            deleted = True
        if not deleted:
            if isinstance(value, list):
                kept = _walk_array(value, full_path, removed, to_add, ecs)
                if kept:
                    doc[key] = kept
                else:
                    del doc[key]
                    deleted = True
            elif not ecs_mod.is_ecs_compliant(value, full_path, ecs):
                del doc[key]
                removed.append(full_path)
                deleted = True
            elif isinstance(value, dict):
                _walk(value, full_path + ".", False, removed, to_add, ecs)
                if not value:
                    del doc[key]
                    deleted = True
        if not deleted and top:
            root = full_path.split(".")[0]
            if root in ecs_mod._COPY_ROOTS:
                target = ecs_mod._COPY_ROOTS[root] + full_path[len(root) :]
                current = doc[key]
                if isinstance(current, dict):
                    to_add.extend(flatten_with_prefix(target, current).items())
                else:
                    to_add.append((target, current))


def _walk_array(
    array: list[Any], path_text: str, removed: list[str], to_add: list[tuple[str, Any]], ecs: ecs_mod.EcsMap
) -> list[Any]:
    for i, value in enumerate(array):
        if isinstance(value, list):
            array[i] = _walk_array(value, path_text, removed, to_add, ecs)
    kept: list[Any] = []
    for value in array:
        if isinstance(value, list):
            if value:
                kept.append(value)
        elif not ecs_mod.is_ecs_compliant(value, path_text, ecs):
            removed.append(path_text)
        elif isinstance(value, dict):
            _walk(value, path_text + ".", False, removed, to_add, ecs)
            if value:
                kept.append(value)
        else:
            kept.append(value)
    return kept


@pytest.mark.parametrize("seed", range(60))
def test_prepare_copy_equals_copying_then_preparing(seed: int) -> None:
    # The alert builder prepares a copy of the event in one walk: the same document (key order
    # included), the same removed paths, the same values shared between event.* and its
    # kibana.alert.original_event.* copies, and the event itself unchanged.
    from vigil.alerts.ecs import prepare_copy
    from vigil.alerts.js import json_copy

    rng = random.Random(seed)
    keys = [
        "event", "data_stream", "kibana", "signal", "source", "ip", "port", "category", "kind",
        "event.kind", "host", "name", "@timestamp", "threat", "enrichments", "user", "x.y", "z",
    ]  # fmt: skip
    leaves: list[Any] = ["10.0.0.1", "not an ip", "2020-01-01T00:00:00Z", "24", 7, True, None, 1.5, ""]

    def value(depth: int) -> Any:
        r = rng.random()
        if depth < 4 and r < 0.35:
            return {rng.choice(keys): value(depth + 1) for _ in range(rng.randint(0, 4))}
        if depth < 4 and r < 0.5:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return rng.choice(leaves)

    for _ in range(20):
        source = {rng.choice(keys): value(1) for _ in range(rng.randint(1, 8))}
        before = orjson.dumps(source)
        want, want_removed = _reference_prepare(json_copy(source))
        got, got_removed = prepare_copy(source)
        assert orjson.dumps(got) == orjson.dumps(want)
        assert got_removed == want_removed
        assert orjson.dumps(source) == before

        def shared(doc: dict[str, Any]) -> list[tuple[str, bool]]:
            out = []
            for key, val in doc.items():
                for root, target in (
                    ("event", "kibana.alert.original_event"),
                    ("data_stream", "kibana.alert.original_data_stream"),
                ):
                    if key.startswith(target + ".") and isinstance(val, list | dict):
                        path = root + key[len(target) :]
                        node: Any = doc
                        for part in path.split("."):
                            node = node.get(part) if isinstance(node, dict) else None
                        out.append((key, node is val))
            return out

        assert shared(got) == shared(want)


@pytest.mark.parametrize("seed", range(40))
def test_renesting_in_one_walk_equals_flattening_and_rebuilding(seed: int) -> None:
    # The intersection rebuilds documents in one walk; it must give what Kibana's path walk
    # gives (same fields, same order, same lost values), dotted keys, collisions and arrays on
    # the way included, and write the shared dotted paths back the same way.
    from vigil.alerts.js import _flatten_with_notation, _renest, _set_path, _unflatten

    rng = random.Random(seed)
    leaves: list[Any] = [1, "x", True, None, [1, 2], [], 2.5, {"deep": 1}]
    keys = ["a", "b", "c", "a.b", "b.c", "a.b.c", "c.a"]

    def doc(depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for _ in range(rng.randint(0, 5)):
            key = rng.choice(keys)
            out[key] = doc(depth + 1) if depth < 3 and rng.random() < 0.45 else rng.choice(leaves)
        return out

    # A place found with an array on the way, the array then replaced by a value, then a value
    # set below it: the array must be forgotten.
    crafted = {"x": {"p.a": 5, "p": {"a.d": 7}}, "x.p": {"a": [1], "a.b": 1}}
    for d in [crafted, *(doc(0) for _ in range(25))]:
        values, dots = _flatten_with_notation(d)
        got, got_dots = _renest(d)
        assert json.dumps(got) == json.dumps(_unflatten(values)), d
        assert got_dots == dots
        chosen = set(rng.sample(sorted(dots), len(dots) // 2)) if dots else set()
        nested = _unflatten(values)
        want: dict[str, Any] = {}
        for path, value in _flatten_with_notation(nested)[0]:
            text = ".".join(path)
            if text in chosen:
                want[text] = value
            else:
                _set_path(want, path, value)
        assert json.dumps(_renest(nested, chosen)[0]) == json.dumps(want), (d, chosen)


@pytest.mark.parametrize("seed", range(10))
def test_intersection_of_string_lists_as_pairwise(seed: int) -> None:
    # Lists of strings take a set-based path: it must keep lodash's order and uniqueness.
    from vigil.alerts.js import lodash_intersection, same_value_zero, strict_equals

    rng = random.Random(seed)
    pool = ["a", "b", "A", "", "ab", "1"]
    mixed = [*pool, 1, 1.0, True, None, float("nan")]
    for _ in range(200):
        source = pool if rng.random() < 0.7 else mixed
        a = [rng.choice(source) for _ in range(rng.randint(0, 6))]
        b = [rng.choice(source) for _ in range(rng.randint(0, 6))]
        want: list[Any] = []
        for value in a:
            if not any(same_value_zero(value, k) for k in want) and any(same_value_zero(value, o) for o in b):
                want.append(value)
        assert json.dumps(lodash_intersection(a, b)) == json.dumps(want), (a, b)
    same: list[Any] = [1]
    for x, y, equal in [
        ("a", "a", True),
        ("a", "A", False),
        (1, 1.0, True),
        (1, 1, True),
        (2.5, 2.5, True),
        (True, 1, False),
        (1, True, False),
        (True, True, True),
        (float("nan"), float("nan"), False),
        (None, None, True),
        ("1", 1, False),
        ([], [], False),
        (same, same, True),
    ]:
        assert strict_equals(x, y) is equal, (x, y)
