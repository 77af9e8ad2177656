"""The issue's end-to-end proof of ``vigil serve``.

``vigil serve`` runs as a real child process with the rule the project started from (Direct
Outbound SMB Connection, made to run every second over the last 30 minutes). The official
``elasticsearch`` client sends it the example events, moved to just before now. Then:

1. the JSON API shows exactly the 4 expected sequence alerts (rule, host, process entity id), and
   the run records say which run created them;
2. headless chromium logs in to the console with the token, sees the 4 alerts and closes one
   through the status form;
3. SIGTERM, restart on the same data directory, several more ticks over the same window: the same
   alert ids, none added, the closed one still closed, every acknowledged event still there;
4. a few more events (near misses the rule must not match) are acknowledged, then SIGKILL, restart,
   several more ticks: the same again, and the log recovered the new events exactly once.

Every wait polls with a deadline (readiness, not speed: generous for busy machines); nothing
asserts on elapsed time. Skipped, with the reason, without /usr/bin/chromium, Playwright or the
``elasticsearch`` client.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium"
    " (run scripts/install_chromium.sh as root, or `make`)",
)
playwright_sync = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytest.importorskip("elasticsearch", reason="the elasticsearch client is not installed")
from elasticsearch import Elasticsearch, helpers  # noqa: E402

from browser_util import CHROMIUM_ARGS  # noqa: E402
from vigil.service.eventlog import EventLog  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMB_RULE = ROOT / "examples" / "rules" / "direct_outbound_smb.toml"
SAMPLE = ROOT / "examples" / "data" / "smb-sample.ndjson"
SMB_ID = "61cfddf0-f0a6-5d4f-9939-44c2d561be14"
TOKEN = "e2e-token-5c1b0e7a9d2f4e6b"
USER = "e2e-analyst"
# The sequences of examples/data, one per process: a start, then a connection to port 445 of
# another host. The near misses there (to 127.0.0.1 or ::1, PID 4, no start seen) raise nothing.
EXPECTED = {
    ("ws-fin-0007", "{e82d6da9-4241-49d3-963c-201f00000658}"),
    ("WS-ENG-0012", "OTU1ZmMxOTctNjdhMC00NzcyLTgxZTgtYmI2NGUzZDA4MmM2LTE1NTYtMTcxNTY3NDEwNDgyNTAwMDA="),
    ("ws-it-0003", "{d0592c6f-8bf6-ebea-0a00-05cc00000658}"),
    ("WS-HR-0021", "YzMyN2IwYmMtNWRmMC00MzlkLTgyNzItZmUyMjQxNDg5NTM0LTE1NjQtMTcxNTY3NDExMzc3NzAwMDA="),
}
CLOSED_HOST = "ws-it-0003"
# Deadlines for things to happen, not assertions on speed: generous for slow, busy machines.
STARTUP_SECONDS = 60.0
DETECT_SECONDS = 30.0
STOP_SECONDS = 60.0
ACTION_TIMEOUT_MS = 30_000
# Ticks to see after each restart: catch-up ticks plus fresh ones, all over the same events.
TICKS_AFTER_RESTART = 3

T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], seconds: float = DETECT_SECONDS) -> T:
    """Poll ``probe`` until it returns something other than None; fail with ``what`` (and the
    last exception, if any) at the deadline."""
    deadline = time.monotonic() + seconds
    last_exc: Exception | None = None
    while True:
        try:
            value = probe()
            if value is not None:
                return value
        except (httpx.HTTPError, ValueError) as exc:
            last_exc = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g}s waiting for {what} (last error: {last_exc})")
        time.sleep(0.2)


class Service:
    """``vigil serve`` as a child process on a fixed port and data directory, restartable."""

    def __init__(self, data_dir: Path, rules: Path, port: int, log_dir: Path):
        self.data_dir, self.rules, self.port, self.log_dir = data_dir, rules, port, log_dir
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log_path = log_dir / "serve-0.log"

    def start(self) -> None:
        self.starts += 1
        self.log_path = self.log_dir / f"serve-{self.starts}.log"
        env = {**os.environ, "VIGIL_API_TOKEN": TOKEN}
        env.pop("VIGIL_DATA_DIR", None)
        # The log goes to a file: a pipe nobody reads would block the server once full.
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "vigil.cli",
                    "serve",
                    "--data-dir",
                    str(self.data_dir),
                    "--rules",
                    str(self.rules),
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

        def ready() -> bool | None:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"vigil serve exited ({self.proc.returncode}):\n{self.log()}")
            return True if httpx.get(f"{self.base}/api/health", timeout=5).status_code == 200 else None

        wait_for("vigil serve to listen", ready, STARTUP_SECONDS)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=STOP_SECONDS)
        self.proc = None
        return code

    def kill_if_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_SECONDS)

    def get(self, path: str, **params: Any) -> Any:
        resp = httpx.get(
            f"{self.base}{path}", params=params, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        resp.raise_for_status()
        return resp.json()


def shifted_sample(end: datetime) -> list[dict[str, Any]]:
    """The example events, moved so the last one is at ``end``; relative order and spacing kept."""
    docs = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    times = [datetime.fromisoformat(d["@timestamp"].replace("Z", "+00:00")) for d in docs]
    shift = end - max(times)
    for doc, moment in zip(docs, times, strict=True):
        doc["@timestamp"] = _iso(moment + shift)
    return docs


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def index_of(doc: dict[str, Any]) -> str:
    """The data stream an agent would write to: ``logs-<dataset>-<namespace>``."""
    stream = doc["data_stream"]
    return f"logs-{stream['dataset']}-{stream['namespace']}"


def near_misses(at: datetime) -> list[dict[str, Any]]:
    """Events that look like the rule's sequence but must not match: a process that connects to
    port 445 of the loopback address, and the kernel (PID 4) connecting to another host."""

    def event(offset: float, entity: str, pid: int, kind: str, **fields: Any) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "@timestamp": _iso(at + timedelta(seconds=offset)),
            "data_stream": {"type": "logs", "dataset": f"endpoint.events.{kind}", "namespace": "default"},
            "event": {"category": [kind], "type": ["start"], "kind": "event", "module": "endpoint"},
            "host": {"name": "ws-e2e-0099"},
            "process": {"entity_id": entity, "pid": pid, "name": "probe.exe"},
        }
        doc.update(fields)
        return doc

    return [
        event(0.0, "e2e-loopback", 4242, "process"),
        event(0.5, "e2e-loopback", 4242, "network", destination={"ip": "127.0.0.1", "port": 445}),
        event(1.0, "e2e-kernel", 4, "process"),
        event(1.5, "e2e-kernel", 4, "network", destination={"ip": "10.0.20.15", "port": 445}),
    ]


def send(es: Elasticsearch, docs: list[dict[str, Any]]) -> list[str]:
    """Send with the official client's bulk helper; the ids the service acknowledged."""
    acknowledged = []
    actions = ({"_index": index_of(d), "_source": d} for d in docs)
    for ok, item in helpers.streaming_bulk(es, actions, chunk_size=100, max_retries=0):
        assert ok, item
        assert item["index"]["status"] == 201
        acknowledged.append(item["index"]["_id"])
    return acknowledged


def shell_alerts(service: Service) -> list[dict[str, Any]]:
    body = service.get("/api/alerts", per_page=1000)
    assert body["total"] == len(body["alerts"])
    return list(body["alerts"])


def alert_keys(service: Service, alerts: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(rule id, host, process entity id) of each alert, the last from its whole document."""
    keys = set()
    for alert in alerts:
        document = service.get(f"/api/alerts/{alert['id']}")["document"]
        keys.add((alert["rule_id"], alert["host_name"], document["process"]["entity_id"]))
    return keys


def runs_since(service: Service, moment: datetime) -> list[dict[str, Any]]:
    """The rule's recorded runs that started at or after ``moment``."""
    runs = service.get("/api/runs", rule_id=SMB_ID, limit=1000)["runs"]
    return [r for r in runs if datetime.fromisoformat(r["started"].replace("Z", "+00:00")) >= moment]


def stored_event_count(service: Service) -> int:
    """Events the service holds: in the columnar store plus still in the write-ahead log."""
    events = service.get("/api/health")["events"]
    return int(events["stored_events"]) + int(events["unflushed_events"])


def check_after_restart(
    service: Service,
    restarted_at: datetime,
    before: dict[str, str],
    closed_id: str,
    acknowledged: int,
) -> None:
    """Several ticks after a restart: same alerts, no new ones, the closed one still closed,
    every acknowledged event still held."""

    def enough_runs() -> list[dict[str, Any]] | None:
        runs = runs_since(service, restarted_at)
        return runs if len(runs) >= TICKS_AFTER_RESTART else None

    runs = wait_for(f"{TICKS_AFTER_RESTART} runs after the restart", enough_runs)
    for run in runs:
        # Each run searched the same window again, found the 4 sequences, and stored none anew.
        assert run["errors"] == [], run
        assert (run["hits"], run["alerts_created"], run["duplicates"]) == (4, 0, 4), run
    after = {a["id"]: a["workflow_status"] for a in shell_alerts(service)}
    assert after == before
    assert after[closed_id] == "closed"
    closed = service.get(f"/api/alerts/{closed_id}")
    assert (closed["workflow_status"], closed["workflow_user"]) == ("closed", USER)
    assert service.get("/api/health")["alerts"]["total"] == len(before)
    assert stored_event_count(service) == acknowledged


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    rules = tmp_path / "rules"
    rules.mkdir()
    text = SMB_RULE.read_text(encoding="utf-8")
    # Every second, over the last 30 minutes: the example spans 13 minutes, moved to end now.
    text = text.replace('interval = "5m"', 'interval = "1s"').replace('from = "now-9m"', 'from = "now-30m"')
    assert 'interval = "1s"' in text and 'from = "now-30m"' in text
    (rules / "direct_outbound_smb.toml").write_text(text, encoding="utf-8")
    svc = Service(tmp_path / "data", rules, free_port(), tmp_path)
    try:
        yield svc
    finally:
        svc.kill_if_running()


@pytest.fixture
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_serve_end_to_end(service: Service, browser: Any) -> None:
    service.start()
    es = Elasticsearch(service.base, api_key=TOKEN, request_timeout=30)
    assert es.info()["version"]["number"].startswith("8.")

    # Ingest: the example events, ending a few seconds ago, into their data streams.
    docs = shifted_sample(datetime.now(UTC) - timedelta(seconds=5))
    acknowledged = send(es, docs)
    assert len(acknowledged) == len(docs) == 251

    # The API: exactly the 4 sequences' shell alerts, from the SMB rule.
    def four_alerts() -> list[dict[str, Any]] | None:
        found = shell_alerts(service)
        return found if len(found) >= len(EXPECTED) else None

    alerts = wait_for("the 4 SMB alerts", four_alerts)
    assert alert_keys(service, alerts) == {(SMB_ID, host, entity) for host, entity in EXPECTED}
    assert {a["workflow_status"] for a in alerts} == {"open"}
    assert {a["rule_name"] for a in alerts} == {"Direct Outbound SMB Connection"}
    # The run records: one run created all 4 (the bulk came in one request), every run succeeded,
    # and the runs after it found the same 4 and stored none again.
    runs = service.get("/api/runs", rule_id=SMB_ID, limit=1000)["runs"]
    assert runs and all(r["status"] == "succeeded" and r["errors"] == [] for r in runs)
    assert sum(r["alerts_created"] for r in runs) == 4
    assert [r["alerts_created"] for r in runs if r["alerts_created"]] == [4]
    assert all(r["hits"] in (0, 4) for r in runs)
    assert all(r["window_end"] == r["tick"] for r in runs)
    rule = service.get(f"/api/rules/{SMB_ID}")
    assert (rule["enabled"], rule["interval"], rule["total_alerts"]) == (True, "1s", 4)
    assert stored_event_count(service) == len(acknowledged)

    # The console: log in with the token, see the 4 alerts, close one through the form.
    page = browser.new_page()
    page.set_default_timeout(ACTION_TIMEOUT_MS)
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "response",
        lambda resp: problems.append(f"{resp.status} for {resp.url}") if resp.status >= 400 else None,
    )
    page.goto(f"{service.base}/alerts")
    assert "/login" in page.url
    page.fill("input[name=token]", TOKEN)
    page.fill("input[name=user]", USER)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{service.base}/alerts")
    rows = page.locator("tr.alert-row")
    assert rows.count() == 4
    assert set(page.locator("tr.alert-row td.host").all_inner_texts()) == {h for h, _ in EXPECTED}
    assert {rows.nth(i).get_attribute("data-id") for i in range(4)} == {a["id"] for a in alerts}
    row = page.locator("tr.alert-row", has_text=CLOSED_HOST)
    closed_id = row.get_attribute("data-id")
    assert closed_id
    row.locator("a.alert-link").click()
    page.wait_for_url(f"{service.base}/alerts/{closed_id}")
    page.select_option("#status-select", "closed")
    page.click("#status-submit")
    page.wait_for_url(f"{service.base}/alerts/{closed_id}?changed=closed")
    assert "closed" in page.locator("#alert-status").inner_text()
    closed = service.get(f"/api/alerts/{closed_id}")
    assert (closed["workflow_status"], closed["workflow_user"]) == ("closed", USER)
    before = {a["id"]: a["workflow_status"] for a in shell_alerts(service)}
    assert sorted(before.values()) == ["closed", "open", "open", "open"]

    # Phase 1: SIGTERM (graceful: flushes the log), restart on the same data directory.
    code = service.stop(signal.SIGTERM)
    assert code in (0, -signal.SIGTERM), service.log()  # uvicorn re-raises the signal it handled
    assert "Traceback" not in service.log()
    restarted_at = datetime.now(UTC)
    service.start()
    check_after_restart(service, restarted_at, before, closed_id, len(acknowledged))
    # The console, same cookie, sees it too.
    page.goto(f"{service.base}/alerts?status=closed")
    assert page.locator("tr.alert-row").get_attribute("data-id") == closed_id

    # Phase 2: more events (near misses: no alert), acknowledged, then SIGKILL before any
    # graceful flush could be relied on; the restart recovers them from the write-ahead log.
    es = Elasticsearch(service.base, api_key=TOKEN, request_timeout=30)
    acknowledged += send(es, near_misses(datetime.now(UTC) - timedelta(seconds=3)))
    service.stop(signal.SIGKILL)
    restarted_at = datetime.now(UTC)
    service.start()
    check_after_restart(service, restarted_at, before, closed_id, len(acknowledged))

    code = service.stop(signal.SIGTERM)
    assert code in (0, -signal.SIGTERM), service.log()
    # Read the event log the service left: every acknowledged id exactly once, nothing else.
    log = EventLog(service.data_dir / "events")
    try:
        ids = Counter(e.id for e in log.events())
    finally:
        log.close()
    assert [i for i, n in ids.items() if n > 1] == []
    assert set(ids) == set(acknowledged)
    assert len(set(acknowledged)) == len(acknowledged) == 255
    assert problems == []
