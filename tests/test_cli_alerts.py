"""``vigil alerts list|show|status`` over a store filled with built alerts."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from vigil.alerts.build import AlertGroup, build_alerts
from vigil.alerts.output import write_alerts
from vigil.alerts.store import AlertStore
from vigil.cli_alerts import alerts
from vigil.engine.model import Event, QueryResult, SequenceHit
from vigil.rules.model import Rule, Technique, Threat, ThreatEntry

RUN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def rule(name: str, rule_id: str, severity: str) -> Rule:
    threat = Threat(
        "MITRE ATT&CK",
        ThreatEntry("TA0008", "Lateral Movement", "https://attack.mitre.org/tactics/TA0008/"),
        (Technique(ThreatEntry("T1021", "Remote Services", "https://attack.mitre.org/techniques/T1021/")),),
    )
    return Rule(
        rule_id=rule_id,
        name=name,
        type="eql",
        query="sequence [any where true] [any where true]",
        severity=severity,
        risk_score=47,
        threat=(threat,),
    )


def ev(eid: str, host: str, user: str, minute: int, pname: str = "cmd.exe") -> Event:
    return Event(
        {
            "@timestamp": f"2024-05-01T11:{minute:02d}:00Z",
            "host": {"name": host},
            "user": {"name": user},
            "process": {"name": pname},
            "event": {"category": ["process"]},
        },
        "idx",
        eid,
    )


def groups() -> list[AlertGroup]:
    single = build_alerts(
        rule("Shell Spawn", "r-shell", "medium"),
        QueryResult("events", events=[ev("e1", "ws-01", "alice", 1)]),
        run_time=RUN,
        rule_uuid="u-shell",
    )
    seq = build_alerts(
        rule("Lateral Move", "r-lat", "critical"),
        QueryResult(
            "sequences",
            sequences=[
                SequenceHit(
                    ["ws-02"],
                    [ev("s1", "ws-02", "bob", 2, "net.exe"), ev("s2", "ws-02", "bob", 3, "psexec.exe")],
                )
            ],
        ),
        run_time=RUN,
        rule_uuid="u-lat",
    )
    return single + seq


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "alerts.db"
    with AlertStore.open(path) as store:
        store.add_alerts(groups())
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(alerts, list(args), catch_exceptions=False)


def test_list_table(db: Path) -> None:
    result = run("list", "--alert-db", str(db))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "2 alerts" in out
    assert "Lateral Move" in out and "Shell Spawn" in out
    assert "net.exe" not in out  # building blocks are hidden; the sequence is one row
    assert "ws-02" in out and "bob" in out
    assert out.index("Lateral Move") < out.index("Shell Spawn")  # newest event first


def test_list_building_blocks_in_table(db: Path) -> None:
    out = run("list", "--alert-db", str(db), "--building-blocks").output
    assert "└ Lateral Move" in out and "net.exe" in out and "psexec.exe" in out


def test_list_ndjson(db: Path) -> None:
    result = run("list", "--alert-db", str(db), "--format", "ndjson")
    docs = [json.loads(line) for line in result.output.splitlines()]
    assert [d["kibana.alert.rule.name"] for d in docs] == ["Lateral Move", "Shell Spawn"]
    result = run("list", "--alert-db", str(db), "--format", "ndjson", "--building-blocks")
    docs = [json.loads(line) for line in result.output.splitlines()]
    assert len(docs) == 4  # the event alert, the shell and its two building blocks
    kinds = [("block" if "kibana.alert.group.index" in d else "alert") for d in docs]
    assert kinds == ["alert", "block", "block", "alert"]
    assert docs[1]["kibana.alert.group.id"] == docs[0]["kibana.alert.uuid"]


def test_list_json_and_filters(db: Path) -> None:
    docs = json.loads(run("list", "--alert-db", str(db), "--format", "json", "--severity", "medium").output)
    assert [d["kibana.alert.rule.name"] for d in docs] == ["Shell Spawn"]
    out = run("list", "--alert-db", str(db), "--host", "WS-0*", "--rule", "lateral").output
    assert "Lateral Move" in out and "Shell Spawn" not in out
    assert "No alerts." in run("list", "--alert-db", str(db), "--status", "closed").output
    assert "No alerts." in run("list", "--alert-db", str(db), "--since", "now").output
    assert "2 alerts" in run("list", "--alert-db", str(db), "--since", "2024-05-01", "--until", "now").output


def test_show(db: Path) -> None:
    with AlertStore.open(db) as store:
        shell = store.list_alerts(rule="r-lat")[0]
    result = run("show", shell.uuid[:10], "--alert-db", str(db))
    assert result.exit_code == 0, result.output
    out = result.output
    assert shell.uuid in out and "sequence" in out and "critical" in out
    assert "TA0008 Lateral Movement" in out and "T1021 Remote Services" in out
    assert "2 building blocks" in out and "net.exe" in out and "psexec.exe" in out
    body = json.loads(run("show", shell.uuid, "--alert-db", str(db), "--format", "json").output)
    assert body["alert"]["kibana.alert.uuid"] == shell.uuid
    assert [b["kibana.alert.group.index"] for b in body["building_blocks"]] == [0, 1]


def test_status(db: Path) -> None:
    with AlertStore.open(db) as store:
        alert = store.list_alerts(rule="r-shell")[0]
    result = run("status", alert.uuid[:8], "acknowledged", "--alert-db", str(db), "--by", "carol")
    assert result.exit_code == 0 and "is now acknowledged" in result.output
    with AlertStore.open(db) as store:
        assert store.get_alert(alert.uuid).workflow_user == "carol"
    assert "Shell Spawn" in run("list", "--alert-db", str(db), "--status", "acknowledged").output


def test_errors(db: Path, tmp_path: Path) -> None:
    unknown = run("show", "ffffffffffff", "--alert-db", str(db))
    assert (
        unknown.exit_code == 2 and "no alert with id" in unknown.output and "Traceback" not in unknown.output
    )
    with AlertStore.open(db) as store:
        ids = [a.uuid for a in store.list_alerts(include_building_blocks=True)]
    # a prefix of one character matches several alerts, for some character
    shared = next((c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1), None)
    if shared is not None:
        ambiguous = run("show", shared, "--alert-db", str(db))
        assert ambiguous.exit_code == 2 and "matches" in ambiguous.output
    missing = run("list", "--alert-db", str(tmp_path / "nope.db"))
    assert missing.exit_code == 1 and "no alert database" in missing.output
    bad = tmp_path / "bad.db"
    bad.write_text("not sqlite" * 500)
    broken = run("list", "--alert-db", str(bad))
    assert broken.exit_code == 1 and "alert database" in broken.output and "Traceback" not in broken.output
    bad_time = run("list", "--alert-db", str(db), "--since", "yesterday-ish")
    assert bad_time.exit_code == 2 and "bad time" in bad_time.output


def test_default_database_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIGIL_ALERT_DB", str(tmp_path / "none.db"))
    result = run("list")
    assert result.exit_code == 0 and "No alerts" in result.output


def test_write_alerts_from_groups() -> None:
    built = groups()
    out = io.StringIO()
    assert write_alerts(built, "ndjson", out) == 4
    assert [json.loads(line)["kibana.alert.uuid"] for line in out.getvalue().splitlines()] == [
        doc["kibana.alert.uuid"] for g in built for doc in g.alerts
    ]
    out = io.StringIO()
    assert write_alerts(built, "table", out) == 2
    assert (
        "Lateral Move" in out.getvalue() and "11:02:00" in out.getvalue()
    )  # a sequence shows its first event
    out = io.StringIO()
    write_alerts(built, "json", out)
    assert len(json.loads(out.getvalue())) == 4
