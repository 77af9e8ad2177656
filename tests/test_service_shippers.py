"""What real shippers need from ``vigil serve`` besides ``_bulk``: Beats' start-up calls (license,
templates, ILM policies, pipelines), Basic credentials, and Windows events mapped on ingest."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from vigil.service.app import build_state
from vigil.service.auth import check_token, hash_token, token_of
from vigil.service.settings import Settings
from vigil.service.shippers import SETUP_FILE, SetupStore, map_shipped, shipper_routes

TOKEN = "shipper-token-0123456789"


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _app(data_dir: Path) -> TestClient:
    state = build_state(Settings(data_dir=data_dir, api_token=TOKEN))
    return TestClient(Starlette(routes=shipper_routes(state)))


def sysmon_raw(eid: int, data: dict[str, Any], when: str = "2024-05-01T10:00:01.123Z") -> dict[str, Any]:
    """A Winlogbeat 8.x raw Sysmon document, as Winlogbeat sends it (its pipelines not run)."""
    return {
        "@timestamp": when,
        "agent": {"type": "winlogbeat", "version": "8.13.2", "name": "ws01"},
        "event": {"code": str(eid), "kind": "event", "provider": "Microsoft-Windows-Sysmon"},
        "host": {"name": "ws01"},
        "winlog": {
            "api": "wineventlog",
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "computer_name": "ws01.corp.example.com",
            "event_id": str(eid),
            "provider_name": "Microsoft-Windows-Sysmon",
            "record_id": 81234 + eid,
            "event_data": copy.deepcopy(data),
        },
    }


GUID = "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"
PROCESS_CREATE = {
    "UtcTime": "2024-05-01 10:00:01.123",
    "ProcessGuid": GUID,
    "ProcessId": "4242",
    "Image": "C:\\Users\\bob\\evil.exe",
    "CommandLine": "evil.exe \\\\10.0.0.5\\c$",
    "User": "CORP\\bob",
    "ParentProcessGuid": "{5770385f-0000-0000-0000-000000000001}",
    "ParentProcessId": "1000",
    "ParentImage": "C:\\Windows\\explorer.exe",
}
NETWORK_CONNECT = {
    "UtcTime": "2024-05-01 10:00:02.500",
    "ProcessGuid": GUID,
    "ProcessId": "4242",
    "Image": "C:\\Users\\bob\\evil.exe",
    "User": "CORP\\bob",
    "Protocol": "tcp",
    "Initiated": "true",
    "SourceIp": "10.0.0.2",
    "SourcePort": "50123",
    "DestinationIp": "10.0.0.5",
    "DestinationPort": "445",
}


# --------------------------------------------------------------------------- mapping on ingest


def test_winlogbeat_raw_sysmon_is_mapped_to_ecs() -> None:
    start = map_shipped(sysmon_raw(1, PROCESS_CREATE))
    assert start is not None
    assert start["event"]["category"] == ["process"]
    assert start["event"]["type"] == ["start"]
    assert start["process"]["pid"] == 4242
    assert start["process"]["entity_id"] == GUID
    assert start["agent"]["version"] == "8.13.2"  # the sender's version is kept
    net = map_shipped(sysmon_raw(3, NETWORK_CONNECT, "2024-05-01T10:00:02.500Z"))
    assert net is not None
    assert net["event"]["category"] == ["network"]
    assert net["destination"]["port"] == 445
    assert net["destination"]["ip"] == "10.0.0.5"
    assert net["network"]["direction"] == "egress"


def test_nxlog_records_are_mapped_and_ecs_documents_kept_as_they_are() -> None:
    nx = {
        "EventID": 1,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "SourceName": "Microsoft-Windows-Sysmon",
        "Hostname": "ws01.corp.example.com",
        "EventTime": "2024-05-01 10:00:01",
        "RecordNumber": 7,
        **PROCESS_CREATE,
    }
    mapped = map_shipped(nx)
    assert mapped is not None
    assert mapped["event"]["category"] == ["process"]
    assert mapped["process"]["pid"] == 4242
    ecs_doc = {"@timestamp": "2024-05-01T10:00:00Z", "event": {"category": ["process"]}, "winlog": {"x": 1}}
    assert map_shipped(ecs_doc) is None


# --------------------------------------------------------------------------- start-up calls


def test_license_and_xpack_answer_an_active_basic_license(tmp_path: Path) -> None:
    client = _app(tmp_path)
    lic = client.get("/_license").json()["license"]
    assert (lic["type"], lic["status"]) == ("basic", "active")
    xpack = client.get("/_xpack").json()
    assert xpack["license"]["mode"] == "basic"
    assert xpack["license"]["uid"] == lic["uid"]


@pytest.mark.parametrize(
    ("path", "missing_type"),
    [
        ("/_index_template/winlogbeat-8.13.2", "resource_not_found_exception"),
        ("/_component_template/winlogbeat-8.13.2-settings", "resource_not_found_exception"),
        ("/_ilm/policy/winlogbeat", "resource_not_found_exception"),
        ("/_ingest/pipeline/winlogbeat-8.13.2-routing", None),
    ],
)
def test_setup_objects_are_installed_kept_and_shown(
    tmp_path: Path, path: str, missing_type: str | None
) -> None:
    client = _app(tmp_path)
    assert client.head(path).status_code == 404
    missing = client.get(path)
    assert missing.status_code == 404
    if missing_type is None:
        assert missing.json() == {}  # Elasticsearch's answer for an unknown pipeline
    else:
        assert missing.json()["error"]["type"] == missing_type
    body = {"description": "from a shipper", "settings": {"number_of_shards": 1}}
    assert client.put(path, json=body).status_code == 401  # writes need the token
    put = client.put(path, json=body, headers=_basic("winlogbeat", TOKEN))
    assert (put.status_code, put.json()) == (200, {"acknowledged": True})
    assert client.head(path).status_code == 200
    shown = client.get(path).json()
    assert body in _values(shown)
    # A restarted service still has it: the Beat does not install it again.
    again = _app(tmp_path)
    assert again.head(path).status_code == 200
    assert (tmp_path / SETUP_FILE).exists()
    assert again.delete(path, headers={"Authorization": f"ApiKey {TOKEN}"}).json() == {"acknowledged": True}
    assert again.head(path).status_code == 404


def _values(tree: Any) -> list[Any]:
    out = [tree]
    if isinstance(tree, dict):
        for v in tree.values():
            out.extend(_values(v))
    elif isinstance(tree, list):
        for v in tree:
            out.extend(_values(v))
    return out


def test_a_body_that_is_not_json_gets_a_parse_error(tmp_path: Path) -> None:
    client = _app(tmp_path)
    answer = client.put(
        "/_ilm/policy/p",
        content=b'{"policy": ',
        headers={**_basic("u", TOKEN), "content-type": "application/json"},
    )
    assert answer.status_code == 400
    assert "failed to parse" in answer.json()["error"]["reason"]


def test_a_damaged_setup_file_only_means_installing_again(tmp_path: Path) -> None:
    (tmp_path / SETUP_FILE).write_text("{not json", encoding="utf-8")
    store = SetupStore(tmp_path / SETUP_FILE)
    assert store.get("ilm_policy", "winlogbeat") is None
    store.put("ilm_policy", "winlogbeat", {"policy": {}})
    assert SetupStore(tmp_path / SETUP_FILE).get("ilm_policy", "winlogbeat") == {"policy": {}}


# --------------------------------------------------------------------------- credentials


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Basic " + base64.b64encode(b"winlogbeat:" + TOKEN.encode()).decode(), TOKEN),
        ("Basic " + base64.b64encode(b"nocolon").decode(), None),
        ("Basic !!!", None),
        (f"Bearer {TOKEN}", TOKEN),
        (f"ApiKey {TOKEN}", TOKEN),
    ],
)
def test_basic_credentials_carry_the_token_as_password(header: str, token: str | None) -> None:
    assert token_of(header) == token
    assert check_token(header, hash_token(TOKEN)) is (token == TOKEN)


# --------------------------------------------------------------------------- a Beat, end to end


def test_a_winlogbeat_8_shipping_raw_sysmon_raises_the_smb_alert(tmp_path: Path) -> None:
    """What Winlogbeat 8 does against the service: license check, template and ILM set-up with
    Basic credentials, then ``create`` bulks of raw Sysmon events (its pipelines not run); the
    events are stored mapped to ECS and the rule the project started from fires on them."""
    import socket
    import threading
    import time
    from datetime import UTC, datetime, timedelta

    import uvicorn
    from starlette.middleware import Middleware

    es = pytest.importorskip("elasticsearch")
    from vigil.service.ingest import ProductHeaderMiddleware, ingest_routes
    from vigil.service.scheduler import Scheduler

    rule = Path(__file__).resolve().parents[1] / "examples" / "rules" / "direct_outbound_smb.toml"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(data_dir=tmp_path / "data", api_token=TOKEN, port=port, rule_paths=(str(rule),))
    state = build_state(settings)
    app = Starlette(
        routes=[*ingest_routes(state), *shipper_routes(state)],
        middleware=[Middleware(ProductHeaderMiddleware)],
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:  # readiness, not a timing assertion
        assert thread.is_alive()
        time.sleep(0.02)
    try:
        client = es.Elasticsearch(f"http://127.0.0.1:{port}", basic_auth=("winlogbeat", TOKEN))
        assert client.license.get()["license"]["status"] == "active"
        template = "winlogbeat-8.13.2"
        assert not client.indices.exists_index_template(name=template)
        client.indices.put_index_template(name=template, index_patterns=[f"{template}*"], data_stream={})
        assert client.indices.exists_index_template(name=template)
        client.ilm.put_lifecycle(name="winlogbeat", policy={"phases": {"hot": {"actions": {}}}})
        assert "winlogbeat" in client.ilm.get_lifecycle(name="winlogbeat")

        now = datetime.now(UTC).replace(microsecond=0)
        start = sysmon_raw(
            1, PROCESS_CREATE, (now - timedelta(seconds=90)).isoformat().replace("+00:00", "Z")
        )
        start["winlog"]["event_data"]["UtcTime"] = (now - timedelta(seconds=90)).strftime(
            "%Y-%m-%d %H:%M:%S.000"
        )
        connect = sysmon_raw(
            3, NETWORK_CONNECT, (now - timedelta(seconds=60)).isoformat().replace("+00:00", "Z")
        )
        connect["winlog"]["event_data"]["UtcTime"] = (now - timedelta(seconds=60)).strftime(
            "%Y-%m-%d %H:%M:%S.000"
        )
        answer = client.bulk(
            operations=[{"create": {}}, start, {"create": {}}, connect], index=template, refresh=False
        )
        assert not answer["errors"], answer
        stored = list(state.events.events(index=lambda name: name == template))
        assert [e.source["event"]["category"] for e in stored] == [["process"], ["network"]]

        outcomes = Scheduler(state).run_due(now)
        assert [o.alerts_created for o in outcomes] == [1]
        alerts = state.alerts.list_alerts()
        assert [a.rule_name for a in alerts] == ["Direct Outbound SMB Connection"]
    finally:
        server.should_exit = True
        thread.join()
        state.alerts.close()
        state.events.close()
