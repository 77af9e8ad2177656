"""The web console (``vigil.service.console``) through Starlette's TestClient: pages render from a
real alert store filled by ``vigil hunt``, filters/sorting/paging, escaping of hostile values,
and writes (status, enable/disable) needing the token and the CSRF token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.testclient import TestClient

from vigil.alerts.build import build_alerts
from vigil.alerts.store import AlertStore
from vigil.cli_hunt import hunt
from vigil.engine.model import Event, QueryResult
from vigil.rules.loaders import load_rules
from vigil.rules.model import Rule
from vigil.service.auth import hash_token
from vigil.service.console import AlertQuery, build_chart, console_routes, csrf_token, mitre_link
from vigil.service.settings import Settings
from vigil.service.state import RuleStatus, ServiceState

ROOT = Path(__file__).resolve().parent.parent
RULE_FILE = ROOT / "examples" / "rules" / "direct_outbound_smb.toml"
DATA = ROOT / "examples" / "data"
TOKEN = "test-token-0123456789"
HOSTILE = "<script>alert(1)</script>"


class FakeRules:
    """The ``rules`` registry contract of :mod:`vigil.service.state`, over fixed rules."""

    def __init__(self, rules: list[Rule]):
        self._statuses = {
            r.rule_id: RuleStatus(
                rule=r,
                enabled=True,
                last_run_at=datetime(2024, 5, 14, 8, 10, tzinfo=UTC),
                last_duration=0.02,
                last_alerts=4,
                total_alerts=4,
                total_runs=1,
            )
            for r in rules
        }

    def statuses(self) -> list[RuleStatus]:
        return list(self._statuses.values())

    def get(self, rule_id: str) -> RuleStatus | None:
        return self._statuses.get(rule_id)

    def set_enabled(self, rule_id: str, enabled: bool) -> RuleStatus:
        status = replace(self._statuses[rule_id], enabled=enabled)  # KeyError when unknown
        self._statuses[rule_id] = status
        return status

    def import_text(self, name: str, text: str) -> list[RuleStatus]:
        raise NotImplementedError


def hunt_into(db: Path) -> None:
    """Fill the alert store at ``db`` the way a user would: ``vigil hunt`` over the examples."""
    result = CliRunner().invoke(
        hunt, ["--rules", str(RULE_FILE), "--alert-db", str(db), "--no-progress", str(DATA)]
    )
    assert result.exit_code == 0, result.output


def smb_rule() -> Rule:
    return load_rules([RULE_FILE]).rules[0]


def build_state(tmp: Path, *, open_reads: bool = True) -> ServiceState:
    """A ServiceState over a real AlertStore holding the 4 SMB sequence alerts of the examples."""
    db = tmp / "alerts.db"
    hunt_into(db)
    return ServiceState(
        settings=Settings(data_dir=tmp, open_reads=open_reads),
        alerts=AlertStore.open(db),
        rules=FakeRules([smb_rule()]),
        token_hash=hash_token(TOKEN),
    )


def add_event_alerts(store: AlertStore, host: str, severity: str, count: int, name: str) -> None:
    """Event alerts of a made-up rule, one event each."""
    rule = Rule(
        rule_id="rule-" + severity,
        name=name,
        type="eql",
        query="any where true",
        severity=severity,
        risk_score=73,
    )
    events = [
        Event(
            {"@timestamp": f"2024-05-14T09:{i:02d}:00Z", "host": {"name": host}, "user": {"name": f"u{i}"}},
            "logs-x",
            f"ev-{severity}-{i}",
        )
        for i in range(count)
    ]
    groups = build_alerts(
        rule,
        QueryResult("events", events=events),
        run_time=datetime.now(UTC),
        rule_uuid="uuid-" + severity,
    )
    store.add_alerts(groups)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[ServiceState]:
    s = build_state(tmp_path)
    yield s
    s.alerts.close()


def client_for(state: ServiceState) -> TestClient:
    return TestClient(Starlette(routes=console_routes(state)))


def login(client: TestClient, token: str = TOKEN, user: str = "ana") -> Any:
    return client.post(
        "/login", data={"token": token, "user": user, "next": "/alerts"}, follow_redirects=False
    )


def alert_ids(html: str) -> list[str]:
    return re.findall(r'class="alert-row" data-id="([0-9a-f]+)"', html)


def test_pages_render(state: ServiceState) -> None:
    client = client_for(state)
    overview = client.get("/")
    assert overview.status_code == 200
    assert '<svg id="alerts-chart"' in overview.text
    assert 'id="count-total">4<' in overview.text
    assert "Content-Security-Policy" in overview.headers

    listing = client.get("/alerts")
    assert listing.status_code == 200
    ids = alert_ids(listing.text)
    assert len(ids) == 4  # the shell alerts; building blocks are not rows
    for host in ("ws-fin-0007", "WS-ENG-0012", "ws-it-0003", "WS-HR-0021"):
        assert host in listing.text

    detail = client.get(f"/alerts/{ids[0]}")
    assert detail.status_code == 200
    assert "Direct Outbound SMB Connection" in detail.text
    assert "https://attack.mitre.org/tactics/TA0008/" in detail.text
    assert "https://attack.mitre.org/techniques/T1021/" in detail.text
    assert "https://attack.mitre.org/techniques/T1021/002/" in detail.text
    steps = re.findall(r'<span class="step">step (\d)</span>', detail.text)
    assert steps == ["1", "2"]
    # The process start comes before the network connection.
    assert detail.text.index(">start<") < detail.text.index(">network<")
    assert 'id="raw-json"' in detail.text and "&#34;kibana.alert.uuid&#34;" in detail.text

    rules = client.get("/rules")
    assert rules.status_code == 200
    assert "Direct Outbound SMB Connection" in rules.text
    assert "61cfddf0-f0a6-5d4f-9939-44c2d561be14" in rules.text

    assert client.get("/static/console.css").status_code == 200
    assert client.get("/alerts/nonexistent").status_code == 404


def test_id_prefix_and_building_block_pages(state: ServiceState) -> None:
    client = client_for(state)
    shell = state.alerts.list_alerts()[0]
    assert client.get(f"/alerts/{shell.uuid[:16]}").status_code == 200
    block = state.alerts.group_alerts(shell.group_id)[0]
    page = client.get(f"/alerts/{block.uuid}")
    assert page.status_code == 200
    assert "building block of" in page.text


def test_filters(state: ServiceState) -> None:
    add_event_alerts(state.alerts, "db-01", "high", 3, "High Rule")
    client = client_for(state)
    assert len(alert_ids(client.get("/alerts").text)) == 7
    assert len(alert_ids(client.get("/alerts?severity=high").text)) == 3
    assert len(alert_ids(client.get("/alerts?severity=medium").text)) == 4
    assert len(alert_ids(client.get("/alerts?host=ws-*").text)) == 4  # globs, case-insensitive
    assert len(alert_ids(client.get("/alerts?host=db-01").text)) == 3
    assert len(alert_ids(client.get("/alerts?rule=outbound smb").text)) == 4
    assert len(alert_ids(client.get("/alerts?user=maria.lopez").text)) == 1
    assert len(alert_ids(client.get("/alerts?q=psexec64").text)) == 1  # the reason names the process
    assert len(alert_ids(client.get("/alerts?status=closed").text)) == 0
    # Unknown values are ignored rather than failing.
    assert len(alert_ids(client.get("/alerts?severity=bogus&sort=bogus&page=x").text)) == 7


def test_sorting(state: ServiceState) -> None:
    add_event_alerts(state.alerts, "db-01", "high", 1, "High Rule")
    add_event_alerts(state.alerts, "app-01", "low", 1, "Low Rule")
    client = client_for(state)

    def hosts(url: str) -> list[str]:
        return re.findall(r'<td class="host">([^<]*)</td>', client.get(url).text)

    by_host = hosts("/alerts?sort=host&order=asc")
    assert by_host == sorted(by_host, key=str.lower)
    assert hosts("/alerts?sort=host&order=desc") == list(reversed(by_host))
    severities = re.findall(
        r'<span class="badge sev-(\w+)">', client.get("/alerts?sort=severity&order=desc").text
    )
    assert severities == ["high", "medium", "medium", "medium", "medium", "low"]
    event_times = re.findall(
        r'<td class="time">([^<]*)</td>', client.get("/alerts?sort=event_time&order=asc").text
    )[::2]
    assert event_times == sorted(event_times)
    # The header of the sorted column flips its order.
    page = client.get("/alerts?sort=host&order=asc").text
    assert 'href="/alerts?sort=host"' in page  # desc is the default, so it is left out


def test_paging(state: ServiceState) -> None:
    add_event_alerts(state.alerts, "db-01", "low", 30, "Many")
    client = client_for(state)
    seen: list[str] = []
    for page in (1, 2):  # default order: one bounded query per page
        html = client.get(f"/alerts?size=25&page={page}").text
        seen += alert_ids(html)
        assert ('id="next-page"' in html) == (page == 1)
    assert len(seen) == 34 and len(set(seen)) == 34
    sorted_pages = [alert_ids(client.get(f"/alerts?size=25&sort=rule&page={p}").text) for p in (1, 2)]
    assert [len(p) for p in sorted_pages] == [25, 9]
    assert set(sorted_pages[0] + sorted_pages[1]) == set(seen)
    assert "34 alerts" in client.get("/alerts?size=25&sort=rule").text


def test_hostile_values_are_escaped(state: ServiceState) -> None:
    add_event_alerts(state.alerts, HOSTILE, "critical", 1, f"Rule {HOSTILE}")
    client = client_for(state)
    for url in ("/", "/alerts", f"/alerts?host={HOSTILE}", f"/alerts?q={HOSTILE}"):
        page = client.get(url)
        assert page.status_code == 200
        assert "<script>" not in page.text
    uuid = alert_ids(client.get("/alerts?severity=critical").text)[0]
    detail = client.get(f"/alerts/{uuid}").text
    assert "<script>" not in detail
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    assert "<script" not in client.get(f"/login?next=/x{HOSTILE}").text


def test_mitre_links_come_from_ids_only() -> None:
    assert mitre_link("TA0008") == "https://attack.mitre.org/tactics/TA0008/"
    assert mitre_link("T1021.002") == "https://attack.mitre.org/techniques/T1021/002/"
    assert mitre_link("javascript:alert(1)") is None


def test_reads_need_login_unless_open(tmp_path: Path) -> None:
    state = build_state(tmp_path, open_reads=False)
    try:
        client = client_for(state)
        for url in ("/", "/alerts", "/rules", "/alerts/abc"):
            response = client.get(url, follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/login?next=")
        assert login(client, "wrong").status_code == 401
        assert client.get("/alerts", follow_redirects=False).status_code == 303
        response = login(client)
        assert response.status_code == 303 and response.headers["location"] == "/alerts"
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert len(alert_ids(client.get("/alerts").text)) == 4
        # The Authorization header works without a cookie, as for the API.
        fresh = client_for(state)
        assert fresh.get("/rules", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    finally:
        state.alerts.close()


def test_login_redirects_only_within_the_site(state: ServiceState) -> None:
    client = client_for(state)
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.post("/login", data={"token": TOKEN, "next": target}, follow_redirects=False)
        assert response.headers["location"] == "/"


def test_status_change_needs_token_and_csrf(state: ServiceState) -> None:
    client = client_for(state)
    alert = state.alerts.list_alerts()[0]
    url = f"/alerts/{alert.uuid}/status"

    assert client.post(url, data={"status": "closed"}).status_code == 401  # not logged in
    assert state.alerts.get_alert(alert.uuid).workflow_status == "open"

    login(client)
    assert client.post(url, data={"status": "closed"}).status_code == 403  # no CSRF token
    assert client.post(url, data={"status": "closed", "csrf": "0" * 64}).status_code == 403
    assert state.alerts.get_alert(alert.uuid).workflow_status == "open"

    page = client.get(f"/alerts/{alert.uuid}").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert csrf is not None and csrf.group(1) == csrf_token(TOKEN, state.token_hash)
    response = client.post(
        url,
        data={"status": "closed", "csrf": csrf.group(1), "by": "ana", "building_blocks": "on"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    stored = state.alerts.get_alert(alert.uuid)
    assert (stored.workflow_status, stored.workflow_user) == ("closed", "ana")
    assert stored.workflow_status_updated_at
    assert all(b.workflow_status == "closed" for b in state.alerts.group_alerts(alert.group_id))
    page = client.get(response.headers["location"]).text
    assert 'id="changed"' in page and "by ana" in page
    assert client.post(url, data={"status": "bogus", "csrf": csrf.group(1)}).status_code == 400
    # Any name goes, recorded as typed at login.
    login(client, user="José; <b>")
    client.post(url, data={"status": "open", "csrf": csrf.group(1)})
    assert state.alerts.get_alert(alert.uuid).workflow_user == "José; <b>"
    # The Authorization header needs no CSRF token: a browser never sends it by itself.
    bare = client_for(state)
    response = bare.post(url, data={"status": "acknowledged"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert state.alerts.get_alert(alert.uuid).workflow_status == "acknowledged"


def test_enable_disable(state: ServiceState) -> None:
    client = client_for(state)
    rule_id = smb_rule().rule_id
    assert client.post("/rules/enabled", data={"rule_id": rule_id, "enabled": "false"}).status_code == 401
    login(client)
    csrf = csrf_token(TOKEN, state.token_hash)
    assert client.post("/rules/enabled", data={"rule_id": rule_id, "enabled": "false"}).status_code == 403
    page = client.post("/rules/enabled", data={"rule_id": rule_id, "enabled": "false", "csrf": csrf})
    assert page.status_code == 200
    assert state.rules.get(rule_id).enabled is False
    assert '<td class="enabled">no</td>' in page.text and ">Enable</button>" in page.text
    client.post("/rules/enabled", data={"rule_id": rule_id, "enabled": "true", "csrf": csrf})
    assert state.rules.get(rule_id).enabled is True
    missing = client.post("/rules/enabled", data={"rule_id": "nope", "enabled": "true", "csrf": csrf})
    assert missing.status_code == 404


def test_no_registry_and_no_store(tmp_path: Path) -> None:
    client = client_for(ServiceState(settings=Settings(data_dir=tmp_path, open_reads=True)))
    assert "No rules are loaded" in client.get("/rules").text
    assert client.get("/alerts").status_code == 200
    assert client.get("/").status_code == 200


def test_chart_buckets() -> None:
    now = datetime(2024, 5, 14, 12, 0, tzinfo=UTC)

    class A:
        def __init__(self, created: str, severity: str):
            self.created, self.severity = created, severity

    alerts = [
        A("2024-05-14T11:10:00.000Z", "high"),
        A("2024-05-14T11:20:00.000Z", "high"),
        A("2024-05-14T11:25:00.000Z", "low"),
        A("2024-05-13T01:00:00.000Z", "critical"),  # outside the last 24 h
    ]
    chart = build_chart(alerts, "24h", now)
    assert chart["count"] == 3 and chart["max"] == 3
    assert sorted(b["severity"] for b in chart["bars"]) == ["high", "low"]
    assert build_chart(alerts, "all", now)["count"] == 4
    assert build_chart([], "all", now)["count"] == 0


def test_query_urls() -> None:
    query = AlertQuery.from_params({"severity": "high", "sort": "rule", "order": "asc", "page": "3"})
    assert query.url(page=4) == "/alerts?severity=high&sort=rule&order=asc&page=4"
    assert query.sort_url("rule") == "/alerts?severity=high&sort=rule"
    assert query.sort_url("host") == "/alerts?severity=high&sort=host"
