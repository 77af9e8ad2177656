"""The web console end to end: a real uvicorn server on a free port, Debian's chromium driven by
Playwright. Alerts come from ``vigil hunt`` over the examples (the 4 "Direct Outbound SMB
Connection" sequences); the test logs in, lists them, opens one, reads its timeline, closes it
through the form, reloads, and looks at the rules page and the overview chart.

Skipped when /usr/bin/chromium is absent (``make`` installs it with scripts/install_chromium.sh).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium"
    " (run scripts/install_chromium.sh as root, or `make`)",
)
playwright_sync = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

import uvicorn  # noqa: E402
from starlette.applications import Starlette  # noqa: E402

from browser_util import CHROMIUM_ARGS  # noqa: E402
from test_console import TOKEN, build_state  # noqa: E402
from vigil.service.console import console_routes  # noqa: E402
from vigil.service.state import ServiceState  # noqa: E402

SMB_HOSTS = {"ws-fin-0007", "WS-ENG-0012", "ws-it-0003", "WS-HR-0021"}
# A readiness deadline, not an assertion on speed: generous for slow CI machines.
STARTUP_SECONDS = 30.0
ACTION_TIMEOUT_MS = 30_000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """uvicorn serving ``app`` in a thread, until :meth:`stop`."""

    def __init__(self, app: Any):
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> str:
        self.thread.start()
        ready = threading.Event()

        # uvicorn sets ``started`` once it listens; poll it without sleeping on the test's thread.
        def watch() -> None:
            while not self.server.started and self.thread.is_alive():
                ready.wait(0.02)
            ready.set()

        threading.Thread(target=watch, daemon=True).start()
        ready.wait(STARTUP_SECONDS)
        if not self.server.started:
            raise RuntimeError("uvicorn did not start")
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(STARTUP_SECONDS)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, ServiceState]]:
    # Reads need the token here, so the test also goes through the login page.
    state = build_state(tmp_path, open_reads=False)
    server = Server(Starlette(routes=console_routes(state)))
    try:
        yield server.start(), state
    finally:
        server.stop()
        state.alerts.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_console_in_chromium(served: tuple[str, ServiceState], browser: Any) -> None:
    base, state = served
    page = browser.new_page()
    page.set_default_timeout(ACTION_TIMEOUT_MS)
    problems: list[str] = []
    # Console errors include Content-Security-Policy violations; nothing may come from elsewhere.
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "response",
        lambda resp: problems.append(f"{resp.status} for {resp.url}") if resp.status >= 400 else None,
    )
    page.on(
        "request",
        lambda req: None if req.url.startswith(base) else problems.append(f"request to {req.url}"),
    )

    # Reads need the token: the alerts list sends to the login page, which comes back.
    page.goto(f"{base}/alerts")
    assert "/login" in page.url
    page.fill("input[name=token]", TOKEN)
    page.fill("input[name=user]", "e2e-analyst")
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/alerts")

    # The 4 SMB alerts: the sequences' shell alerts, one row each.
    rows = page.locator("tr.alert-row")
    assert rows.count() == 4
    assert set(page.locator("tr.alert-row td.host").all_inner_texts()) == SMB_HOSTS
    assert set(page.locator("tr.alert-row td.status").all_inner_texts()) == {"open"}

    # Open the one on ws-it-0003 (PsExec).
    row = page.locator("tr.alert-row", has_text="ws-it-0003")
    alert_id = row.get_attribute("data-id")
    assert alert_id
    row.locator("a.alert-link").click()
    page.wait_for_url(f"{base}/alerts/{alert_id}")
    assert "Direct Outbound SMB Connection" in page.locator("h1").inner_text()
    assert "PsExec64.exe" in page.locator("#alert-reason").inner_text()
    assert page.locator("#mitre a[href='https://attack.mitre.org/techniques/T1021/002/']").count() == 1

    # The timeline: the process start, then its connection to port 445.
    events = page.locator("#timeline li.timeline-event")
    assert events.count() == 2
    assert events.locator(".step").all_inner_texts() == ["step 1", "step 2"]
    times = events.locator(".event-time").all_inner_texts()
    assert times == sorted(times) and times[0] != times[1]
    assert "process" in events.nth(0).inner_text()
    second = events.nth(1).inner_text()
    assert "network" in second and "445" in second

    # The raw document is shown as text.
    assert alert_id in page.locator("#raw-json").inner_text()

    # Close it through the form; the page comes back with the new status, and so does a reload.
    page.select_option("#status-select", "closed")
    page.click("#status-submit")
    page.wait_for_url(f"{base}/alerts/{alert_id}?changed=closed")
    assert "closed" in page.locator("#alert-status").inner_text()
    page.reload()
    status_text = page.locator("#alert-status").inner_text()
    assert "closed" in status_text and "e2e-analyst" in status_text
    stored = state.alerts.get_alert(alert_id)
    assert (stored.workflow_status, stored.workflow_user) == ("closed", "e2e-analyst")

    # The list filters on status.
    page.goto(f"{base}/alerts?status=closed")
    assert page.locator("tr.alert-row").count() == 1
    page.goto(f"{base}/alerts")
    page.select_option("#filters select[name=status]", "open")
    page.click("#filters button[type=submit]")
    page.wait_for_url(f"{base}/alerts?status=open**")
    assert page.locator("tr.alert-row").count() == 3

    # Sorting by host through the column header.
    page.click("a.sort[data-sort=host]")
    page.wait_for_url("**sort=host**")
    hosts = page.locator("tr.alert-row td.host").all_inner_texts()
    assert hosts == sorted(hosts, key=str.lower, reverse=True)

    # The rules page shows the rule and its last run.
    page.goto(f"{base}/rules")
    rule_row = page.locator("tr.rule-row")
    assert rule_row.count() == 1
    assert "Direct Outbound SMB Connection" in rule_row.inner_text()
    assert rule_row.locator("td.enabled").inner_text() == "yes"

    # The overview: counts and the chart, with bars for the 4 alerts (made just now).
    page.goto(f"{base}/")
    assert page.locator("#count-total").inner_text() == "4"
    assert page.locator("#count-closed").inner_text() == "1"
    chart = page.locator("svg#alerts-chart")
    assert chart.is_visible()
    assert chart.locator("rect.bar").count() >= 1
    assert chart.bounding_box()["width"] > 100

    assert problems == []
