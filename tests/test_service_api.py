"""The JSON API under /api/: auth, rules, alerts, runs, health, errors, and its OpenAPI description.

The app is assembled here from :func:`vigil.service.api.api_routes` and a ServiceState built in the
test (a real alert store filled by the service's scheduler over the example SMB data), so these
tests depend on no other part of the service. Every call goes through :func:`Api.call`, which
checks that the status code answered is one the OpenAPI description lists for the route."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from vigil.alerts.store import AlertStore
from vigil.engine import Event
from vigil.service.api import api_routes
from vigil.service.auth import hash_token
from vigil.service.openapi import openapi_spec
from vigil.service.rules import RuleRegistry
from vigil.service.scheduler import Scheduler
from vigil.service.settings import Settings
from vigil.service.state import ServiceState
from vigil.sources import ReadReport, read_events
from vigil.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "examples" / "rules"
SMB_ID = "61cfddf0-f0a6-5d4f-9939-44c2d561be14"
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2024, 5, 14, 8, 0, tzinfo=UTC)
SPEC = openapi_spec()


class StoreEvents:
    """The ``events`` contract over a real event store."""

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


class Api:
    """A TestClient whose calls name the route template, to check the answer's status code
    against the OpenAPI description."""

    def __init__(self, client: TestClient):
        self.client = client

    def call(self, method: str, template: str, *, expect: int, **kwargs: Any) -> httpx.Response:
        params = kwargs.pop("path", {})
        response = self.client.request(method, template.format(**params), **kwargs)
        described = SPEC["paths"][template][method.lower()]["responses"]
        assert str(response.status_code) in described, (template, method, response.status_code)
        assert response.status_code == expect, response.text
        assert response.headers["content-type"].startswith("application/json")
        return response

    def get(self, template: str, expect: int = 200, **kwargs: Any) -> Any:
        kwargs.setdefault("headers", AUTH)
        return self.call("GET", template, expect=expect, **kwargs).json()

    def post(self, template: str, expect: int = 200, **kwargs: Any) -> Any:
        kwargs.setdefault("headers", AUTH)
        return self.call("POST", template, expect=expect, **kwargs).json()


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> StoreEvents:
    store = open_store(tmp_path_factory.mktemp("events") / "events.store")
    store.append(read_events([str(ROOT / "examples" / "data")], report=ReadReport()))
    return StoreEvents(store)


def build_state(tmp: Path, events: StoreEvents, **settings: Any) -> ServiceState:
    cfg = Settings(data_dir=tmp / "data", rule_paths=(str(RULES / "direct_outbound_smb.toml"),), **settings)
    state = ServiceState(
        cfg,
        events=events,
        alerts=AlertStore.open(tmp / "alerts.db"),
        rules=RuleRegistry(cfg),
        token_hash=hash_token(TOKEN),
        started_at=1_715_673_600.0,
    )
    state.scheduler = Scheduler(state)
    return state


@pytest.fixture
def state(tmp_path: Path, events: StoreEvents) -> Iterator[ServiceState]:
    state = build_state(tmp_path, events)
    for k in range(7):  # the SMB rule every 5 minutes from 08:00 to 08:30
        state.scheduler.run_due(T0 + k * timedelta(minutes=5))
    yield state
    state.scheduler.stop()
    state.alerts.close()


def client_for(state: ServiceState) -> TestClient:
    return TestClient(Starlette(routes=api_routes(state)), raise_server_exceptions=False)


@pytest.fixture
def api(state: ServiceState) -> Api:
    return Api(client_for(state))


# --------------------------------------------------------------------------- the description


def test_every_route_is_described(state: ServiceState) -> None:
    routed = set()
    for route in api_routes(state):
        assert isinstance(route, Route)
        if "{path:path}" in route.path:
            continue  # the JSON 404/405 fallback
        for method in (route.methods or set()) - {"HEAD"}:
            routed.add((route.path, method.lower()))
    described = {(path, method) for path, ops in SPEC["paths"].items() for method in ops}
    assert routed == described
    assert SPEC["openapi"].startswith("3.1")
    for path, ops in SPEC["paths"].items():
        for op in ops.values():
            assert op["summary"] and op["responses"], path
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    assert "{" + param["name"] + "}" in path


def test_openapi_is_served(api: Api) -> None:
    assert api.get("/api/openapi.json", headers={}) == SPEC


# --------------------------------------------------------------------------- auth


def test_reads_and_writes_need_the_token(api: Api) -> None:
    response = api.call("GET", "/api/rules", expect=401)
    assert response.json()["error"]["type"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")
    api.get("/api/rules", 401, headers={"Authorization": "Bearer wrong"})
    api.get("/api/rules", 401, headers={"Authorization": TOKEN})  # no scheme
    api.get("/api/rules", headers={"Authorization": f"ApiKey {TOKEN}"})
    encoded = base64.b64encode(f"some-id:{TOKEN}".encode()).decode()
    api.get("/api/rules", headers={"Authorization": f"ApiKey {encoded}"})
    api.post("/api/rules/{rule_id}/_disable", 401, path={"rule_id": SMB_ID}, headers={})


def test_open_reads_still_protect_writes(tmp_path: Path, events: StoreEvents) -> None:
    state = build_state(tmp_path, events, open_reads=True)
    api = Api(client_for(state))
    assert api.get("/api/rules", headers={})["total"] == 1
    api.post("/api/rules/{rule_id}/_disable", 401, path={"rule_id": SMB_ID}, headers={})
    assert api.get("/api/health", headers={})["scheduler"]["state"] == "stopped"
    state.alerts.close()


def test_health(api: Api) -> None:
    assert api.get("/api/health", headers={}) == {"status": "ok"}  # no token: liveness only
    health = api.get("/api/health")
    assert health["status"] == "ok"
    assert health["events"] == {"events": 251}
    assert health["scheduler"]["state"] == "stopped" and health["scheduler"]["cycles"] == 7
    assert health["last_run_at"] == "2024-05-14T08:30:00.000Z"
    assert health["rules"] == {"loaded": 1, "enabled": 1, "unsupported": 0, "failing": 0}
    assert health["alerts"] == {"total": 4}


# --------------------------------------------------------------------------- rules


def test_rules_list_show_enable_disable(api: Api, state: ServiceState) -> None:
    listed = api.get("/api/rules")
    assert listed["total"] == 1 and listed["problems"] == []
    [rule] = listed["rules"]
    assert rule["rule_id"] == SMB_ID and rule["enabled"] and rule["supported"]
    assert rule["total_runs"] == 7 and rule["total_alerts"] == 4
    assert rule["next_run_at"] == "2024-05-14T08:35:00.000Z"
    assert api.get("/api/rules/{rule_id}", path={"rule_id": SMB_ID})["from"] == "now-9m"
    assert api.get("/api/rules/{rule_id}", 404, path={"rule_id": "nope"})["error"]["type"] == "not_found"
    assert api.post("/api/rules/{rule_id}/_disable", path={"rule_id": SMB_ID})["enabled"] is False
    assert api.get("/api/rules", params={"enabled": "true"})["total"] == 0
    assert state.scheduler.run_due(T0 + timedelta(minutes=35)) == []  # disabled: no run
    # Persisted: a registry built afresh (a restart) keeps the flag.
    again = RuleRegistry(state.settings).get(SMB_ID)
    assert again is not None and again.enabled is False
    assert api.post("/api/rules/{rule_id}/_enable", path={"rule_id": SMB_ID})["enabled"] is True
    api.post("/api/rules/{rule_id}/_enable", 404, path={"rule_id": "nope"})
    api.get("/api/rules", 400, params={"enabled": "maybe"})


def test_import_in_the_three_formats(api: Api) -> None:
    toml = (
        (RULES / "direct_outbound_smb.toml")
        .read_text()
        .replace(SMB_ID, "raw-toml")
        .replace('name = "Direct Outbound SMB Connection"', 'name = "Imported TOML"')
    )
    imported = api.post("/api/rules/_import", 201, params={"name": "mine.toml"}, content=toml)["imported"]
    assert [r["rule_id"] for r in imported] == ["raw-toml"]
    assert imported[0]["source"].endswith("mine.toml")
    ndjson = (RULES / "direct_outbound_smb.ndjson").read_bytes()
    files = {"file": ("export.ndjson", ndjson, "application/x-ndjson")}
    assert api.post("/api/rules/_import", 201, files=files)["imported"][0]["rule_id"] == SMB_ID
    page = (RULES / "direct_outbound_smb.md").read_bytes()
    assert api.post("/api/rules/_import", 201, content=page)["imported"][0]["rule_id"] == SMB_ID
    ids = {r["rule_id"] for r in api.get("/api/rules")["rules"]}
    assert ids == {SMB_ID, "raw-toml"}


def test_a_bad_rule_file_is_a_located_400(api: Api) -> None:
    toml = (
        (RULES / "direct_outbound_smb.toml")
        .read_text()
        .replace('[process where event.type == "start"', "[process where event.type == ")
    )
    error = api.post("/api/rules/_import", 400, params={"name": "bad.toml"}, content=toml)["error"]
    assert error["type"] == "rule_error"
    assert error["location"]["file"] == "bad.toml" and error["location"]["line"] > 1
    assert error["problems"] and error["problems"][0]["severity"] == "error"
    assert api.post("/api/rules/_import", 400, content=b"")["error"]["message"].startswith("no rule file")
    assert "not UTF-8" in api.post("/api/rules/_import", 400, content=b"\xff\xfe\x00")["error"]["message"]
    bad_upload = {"other": ("x.toml", b"", "text/plain")}
    api.post("/api/rules/_import", 400, data={"field": "value"}, files=bad_upload)


def test_bodies_are_capped(tmp_path: Path, events: StoreEvents) -> None:
    state = build_state(tmp_path, events, extra={"api_max_body_bytes": 1000})
    api = Api(client_for(state))
    error = api.post("/api/rules/_import", 413, content=b"x" * 1001)["error"]
    assert error["type"] == "payload_too_large"
    state.alerts.close()


# --------------------------------------------------------------------------- alerts


def test_alert_list_filters_paging_and_sorting(api: Api) -> None:
    everything = api.get("/api/alerts")
    assert everything["total"] == 4 and len(everything["alerts"]) == 4
    first = everything["alerts"][0]
    assert first["rule_id"] == SMB_ID and first["workflow_status"] == "open"
    assert api.get("/api/alerts", params={"building_blocks": "true"})["total"] == 12
    assert api.get("/api/alerts", params={"severity": "medium"})["total"] == 4
    assert api.get("/api/alerts", params={"severity": "high,critical"})["total"] == 0
    assert api.get("/api/alerts", params={"rule_id": SMB_ID})["total"] == 4
    assert api.get("/api/alerts", params={"status": "closed"})["total"] == 0
    host = first["host_name"]
    assert api.get("/api/alerts", params={"host.name": host})["total"] >= 1
    assert api.get("/api/alerts", params={"host.name": host[:3] + "*"})["total"] >= 1
    assert api.get("/api/alerts", params={"host.name": "nobody"})["total"] == 0
    assert api.get("/api/alerts", params={"since": "2024-05-14T08:10:00Z"})["total"] == 4
    assert api.get("/api/alerts", params={"until": "2024-05-14T08:05:00Z"})["total"] == 0

    page = api.get("/api/alerts", params={"page": 2, "per_page": 3})
    assert (page["total"], page["page"], page["from"], len(page["alerts"])) == (4, 2, 3, 1)
    window = api.get("/api/alerts", params={"from": 1, "size": 2})
    assert (window["total"], len(window["alerts"])) == (4, 2)
    assert [a["id"] for a in window["alerts"]] == [a["id"] for a in everything["alerts"][1:3]]

    times = [
        a["original_time"] for a in api.get("/api/alerts", params={"sort": "original_time:asc"})["alerts"]
    ]
    assert times == sorted(times)
    times = [a["original_time"] for a in api.get("/api/alerts", params={"sort": "-original_time"})["alerts"]]
    assert times == sorted(times, reverse=True)

    for params in (
        {"status": "done"},
        {"severity": "urgent"},
        {"page": "two"},
        {"per_page": 0},
        {"size": 100000},
        {"sort": "nope"},
        {"sort": "risk_score:up"},
        {"since": "yesterday-ish"},
        {"building_blocks": "perhaps"},
    ):
        error = api.get("/api/alerts", 400, params=params)["error"]
        assert error["type"] == "bad_request" and error["message"], params


def test_alert_show_and_status(api: Api) -> None:
    alert = api.get("/api/alerts")["alerts"][0]
    shown = api.get("/api/alerts/{alert_id}", path={"alert_id": alert["id"]})
    assert shown["document"]["kibana.alert.uuid"] == alert["id"]
    assert shown["document"]["kibana.alert.rule.rule_id"] == SMB_ID
    assert len(shown["building_blocks"]) == 2
    assert api.get("/api/alerts/{alert_id}", path={"alert_id": alert["id"][:12]})["id"] == alert["id"]
    api.get("/api/alerts/{alert_id}", 404, path={"alert_id": "0" * 64})

    body = {"status": "acknowledged", "by": "analyst1"}
    changed = api.post("/api/alerts/{alert_id}/status", path={"alert_id": alert["id"]}, json=body)
    assert changed["workflow_status"] == "acknowledged" and changed["workflow_user"] == "analyst1"
    assert changed["workflow_status_updated_at"]
    shown = api.get("/api/alerts/{alert_id}", path={"alert_id": alert["id"]})
    assert shown["document"]["kibana.alert.workflow_user"] == "analyst1"
    assert api.get("/api/alerts", params={"status": "acknowledged"})["total"] == 1

    path = {"alert_id": alert["id"]}
    api.post("/api/alerts/{alert_id}/status", 400, path=path, json={"status": "done"})
    api.post("/api/alerts/{alert_id}/status", 400, path=path, json={"status": "closed", "by": 5})
    api.post("/api/alerts/{alert_id}/status", 400, path=path, json=["closed"])
    api.post("/api/alerts/{alert_id}/status", 400, path=path, content=b"{not json")
    api.post("/api/alerts/{alert_id}/status", 404, path={"alert_id": "f" * 64}, json={"status": "closed"})
    api.post("/api/alerts/{alert_id}/status", 401, path=path, json={"status": "closed"}, headers={})


def test_alert_statuses_survive_later_runs(api: Api, state: ServiceState) -> None:
    """An alert closed by an analyst stays closed when overlapping windows find it again."""
    alert = api.get("/api/alerts")["alerts"][0]
    api.post("/api/alerts/{alert_id}/status", path={"alert_id": alert["id"]}, json={"status": "closed"})
    state.scheduler.run_due(T0 + timedelta(minutes=35))
    assert api.get("/api/alerts")["total"] == 4
    assert api.get("/api/alerts", params={"status": "closed"})["alerts"][0]["workflow_user"] == "api"


# --------------------------------------------------------------------------- runs


def test_runs(api: Api) -> None:
    runs = api.get("/api/runs", params={"rule_id": SMB_ID})
    assert runs["total"] == 7
    newest = runs["runs"][0]
    assert newest["tick"] == "2024-05-14T08:30:00.000Z" and newest["status"] == "succeeded"
    assert newest["window_start"] == "2024-05-14T08:21:00.000Z"
    assert sum(r["alerts_created"] for r in runs["runs"]) == 4
    assert sum(r["duplicates"] for r in runs["runs"]) == 4
    assert api.get("/api/rules/{rule_id}/runs", path={"rule_id": SMB_ID}, params={"limit": 2})["total"] == 2
    api.get("/api/rules/{rule_id}/runs", 404, path={"rule_id": "nope"})
    assert api.get("/api/runs", params={"limit": 3})["total"] == 3
    api.get("/api/runs", 400, params={"limit": -1})


# --------------------------------------------------------------------------- errors


def test_unknown_paths_and_methods_are_json(api: Api) -> None:
    response = api.client.get("/api/nothing/here", headers=AUTH)
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"
    response = api.client.delete("/api/rules", headers=AUTH)
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"
    assert response.json()["error"]["type"] == "method_not_allowed"


def test_an_unexpected_failure_is_a_json_500_without_traceback(api: Api, state: ServiceState) -> None:
    def broken(**_kwargs: Any) -> int:
        raise RuntimeError("secret internals")

    state.alerts.count_matching = broken
    response = api.call("GET", "/api/alerts", expect=500, headers=AUTH)
    error = response.json()["error"]
    assert error["type"] == "internal_error"
    assert "secret" not in response.text and "Traceback" not in response.text
    assert json.loads(response.text) == {"error": error}
