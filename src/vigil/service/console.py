"""The web console of ``vigil serve``: server-rendered pages over the alert store and the rules.

Pages: ``/`` (overview: counts by status and severity, alerts over time by severity as an inline
SVG chart), ``/alerts`` (filterable, sortable, paged table), ``/alerts/{id}`` (one alert: rule,
reason, MITRE ATT&CK, the events of a sequence as a timeline, the raw document, a status form),
``/rules`` (the rules as the scheduler runs them, with enable/disable buttons) and ``/login``.
Assets come from ``/static`` (vendored here; nothing is loaded from elsewhere, and the Content
Security Policy says so).

Authentication: ``/login`` takes the service's API token and keeps it in an HttpOnly,
SameSite=Strict cookie. Reads need it unless ``settings.open_reads``; writes (status changes,
enabling/disabling rules) always need it and a CSRF token derived from it, sent back in a hidden
form field. A request carrying ``Authorization: Bearer <token>`` is accepted too (a browser never
adds that header by itself, so it needs no CSRF token).

What the routes need from ``state`` (:class:`vigil.service.state.ServiceState`): ``settings``
(``open_reads``), ``token_hash``, ``alerts`` (an :class:`vigil.alerts.store.AlertStore`) and
``rules`` (``statuses()``, ``set_enabled(rule_id, enabled)``; may be None).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from jinja2 import Environment, FileSystemLoader
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from vigil.service.auth import check_token
from vigil.service.console_chart import RANGES, SEVERITIES, build_chart, show_time
from vigil.service.state import ServiceState

HERE = Path(__file__).parent
TOKEN_COOKIE = "vigil_console_token"
USER_COOKIE = "vigil_console_user"
STATUSES = ("open", "acknowledged", "closed")
SORT_KEYS = ("time", "event_time", "severity", "rule", "host", "user", "status")
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
# Largest form body read; the forms here are a few hundred bytes.
MAX_FORM_BYTES = 64 * 1024

# Pages only ever load their own assets; inline SVG is markup, so it needs no exception.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
        " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

# ECS fields shown for each event of a timeline (and for a single-event alert), when present.
KEY_FIELDS = (
    "event.category",
    "event.action",
    "event.type",
    "host.name",
    "user.name",
    "process.name",
    "process.pid",
    "process.executable",
    "process.command_line",
    "process.parent.name",
    "source.ip",
    "source.port",
    "destination.ip",
    "destination.port",
    "network.protocol",
    "dns.question.name",
    "url.full",
    "file.path",
    "registry.path",
)

_TACTIC_ID = re.compile(r"^TA\d{4}$")
_TECHNIQUE_ID = re.compile(r"^T\d{4}$")
_SUBTECHNIQUE_ID = re.compile(r"^T(\d{4})\.(\d{3})$")


@functools.cache
def _environment() -> Environment:
    # Built on first use: the filters are defined further down.
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = show_time
    env.filters["seconds"] = show_seconds
    return env


# --------------------------------------------------------------------------- small helpers


def show_seconds(value: Any) -> str:
    """A duration in seconds, short."""
    if value is None:
        return ""
    seconds = float(value)
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def field_value(doc: Mapping[str, Any], path: str) -> Any:
    """A field of an ECS document, whether stored nested (``{"host": {"name": ..}}``) or dotted
    (``{"host.name": ..}``, as alert documents hold ``kibana.*`` and ``event.kind``), or mixed."""
    if path in doc:
        return doc[path]
    parts = path.split(".")
    # Try every split point: a prefix may be a dotted key whose value is nested.
    for cut in range(1, len(parts)):
        head = ".".join(parts[:cut])
        value = doc.get(head)
        if isinstance(value, Mapping):
            found = field_value(value, ".".join(parts[cut:]))
            if found is not None:
                return found
    return None


def show_value(value: Any) -> str:
    """A field value as one line of text."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(show_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def mitre_link(entry_id: str) -> str | None:
    """The attack.mitre.org page of a tactic, technique or sub-technique id. Built from the id
    rather than taken from the rule's ``reference``, so a rule can never plant another URL."""
    if _TACTIC_ID.match(entry_id):
        return f"https://attack.mitre.org/tactics/{entry_id}/"
    if _TECHNIQUE_ID.match(entry_id):
        return f"https://attack.mitre.org/techniques/{entry_id}/"
    sub = _SUBTECHNIQUE_ID.match(entry_id)
    if sub:
        return f"https://attack.mitre.org/techniques/T{sub.group(1)}/{sub.group(2)}/"
    return None


def _entry(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        return None
    entry_id = str(raw.get("id", ""))
    return {"id": entry_id, "name": str(raw.get("name", "")), "link": mitre_link(entry_id)}


def threat_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The alert's MITRE ATT&CK mapping (``kibana.alert.rule.threat``) as tactics with their
    techniques and sub-techniques, each with its attack.mitre.org link."""
    raw = field_value(doc, "kibana.alert.rule.threat")
    if raw is None:
        params = field_value(doc, "kibana.alert.rule.parameters")
        raw = params.get("threat") if isinstance(params, Mapping) else None
    out = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Mapping):
            continue
        tactic = _entry(item.get("tactic"))
        techniques = []
        for tech in item.get("technique") or []:
            entry = _entry(tech)
            if entry is None:
                continue
            subs = [s for s in (_entry(x) for x in tech.get("subtechnique") or []) if s]
            techniques.append({**entry, "subtechniques": subs})
        out.append({"framework": str(item.get("framework", "")), "tactic": tactic, "techniques": techniques})
    return out


def key_fields(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The :data:`KEY_FIELDS` the document has, as (field, text)."""
    out = []
    for name in KEY_FIELDS:
        text = show_value(field_value(doc, name))
        if text:
            out.append((name, text))
    return out


def csrf_token(token: str, token_hash: str | None) -> str:
    """The CSRF token that goes with a console session: an HMAC of its API token, keyed by the
    stored token hash. Only someone holding the token can compute it, and it survives restarts
    (so a page open across a restart still submits)."""
    key = (token_hash or "").encode("utf-8")
    return hmac.new(key, b"vigil-console-csrf:" + token.encode("utf-8"), hashlib.sha256).hexdigest()


def _local_path(target: str | None) -> str:
    # Only same-site paths: "//host" and "/\host" would leave the site.
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


@dataclass
class Session:
    """Who is asking: whether they hold the token, how (cookie or header), and their name."""

    authenticated: bool
    via_cookie: bool
    token: str | None
    user: str

    def csrf(self, token_hash: str | None) -> str:
        """The CSRF token forms of this session carry (empty when not logged in by cookie)."""
        return csrf_token(self.token, token_hash) if self.via_cookie and self.token else ""


# --------------------------------------------------------------------------- the console


class Console:
    """The console's request handlers over one :class:`ServiceState`."""

    def __init__(self, state: ServiceState):
        self.state = state

    # -- sessions and rendering

    def session(self, request: Request) -> Session:
        """The session of a request: a valid token in the cookie or the Authorization header."""
        token_hash = self.state.token_hash
        user = unquote(request.cookies.get(USER_COOKIE, ""))[:100]
        header = request.headers.get("authorization")
        if header and check_token(header, token_hash):
            return Session(True, False, None, user)
        cookie = request.cookies.get(TOKEN_COOKIE)
        if cookie and check_token("Bearer " + cookie, token_hash):
            return Session(True, True, cookie, user)
        return Session(False, False, None, user)

    def render(
        self, request: Request, template: str, context: dict[str, Any], status_code: int = 200
    ) -> HTMLResponse:
        """A page from a template, with the security headers."""
        session = context.get("session") or self.session(request)
        values = {"csrf": session.csrf(self.state.token_hash), "path": request.url.path, **context}
        values["session"] = session
        page = _environment().get_template(template).render(values)
        return HTMLResponse(page, status_code=status_code, headers=_SECURITY_HEADERS)

    def guard_read(self, request: Request) -> tuple[Session, Response | None]:
        """The session, and a redirect to the login page when reads need the token."""
        session = self.session(request)
        if session.authenticated or self.state.settings.open_reads:
            return session, None
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return session, RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)

    async def guard_write(self, request: Request) -> tuple[Session, dict[str, str], Response | None]:
        """The session and the posted form, or the error page: writes need the token, and with a
        cookie also the CSRF token of the form."""
        form = await read_form(request)
        session = self.session(request)
        if not session.authenticated:
            return session, form, self.error(request, 401, "Log in with the API token to change anything.")
        if session.via_cookie:
            expected = session.csrf(self.state.token_hash)
            if not hmac.compare_digest(form.get("csrf", ""), expected):
                return session, form, self.error(request, 403, "The form's CSRF token is missing or wrong.")
        return session, form, None

    def error(self, request: Request, status: int, message: str) -> HTMLResponse:
        """An error page."""
        return self.render(request, "error.html", {"status": status, "message": message}, status)

    # -- login

    async def login(self, request: Request) -> Response:
        """GET: the login form; POST: check the token and set the session cookie."""
        if request.method == "GET":
            return self.render(
                request,
                "login.html",
                {"next": _local_path(request.query_params.get("next")), "failed": False},
            )
        form = await read_form(request)
        token = form.get("token", "").strip()
        target = _local_path(form.get("next"))
        if not token or not check_token("Bearer " + token, self.state.token_hash):
            return self.render(request, "login.html", {"next": target, "failed": True}, 401)
        response = RedirectResponse(target, status_code=303)
        # HttpOnly: no script can read the token; SameSite=Strict: no other site's page can make
        # the browser send it. Not Secure: the service is commonly reached over plain http on
        # localhost, where a Secure cookie would be dropped.
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", path="/")
        name = form.get("user", "").strip()[:100]
        if name:
            # Percent-encoded: a cookie value must be ASCII without separators ("José", "a; b").
            response.set_cookie(USER_COOKIE, quote(name), httponly=True, samesite="strict", path="/")
        return response

    async def logout(self, request: Request) -> Response:
        """Forget the session cookie."""
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(TOKEN_COOKIE, path="/")
        return response

    # -- pages

    async def overview(self, request: Request) -> Response:
        """Counts by status and severity, and alerts over time by severity."""
        session, redirect = self.guard_read(request)
        if redirect:
            return redirect
        span = request.query_params.get("range", "24h")
        if span not in RANGES and span != "all":
            span = "24h"
        alerts = await run_in_threadpool(self._all_alerts)
        now = datetime.now(UTC)
        chart = build_chart(alerts, span, now)
        by_status = Counter(a.workflow_status for a in alerts)
        by_severity = Counter((a.severity or "unknown") for a in alerts)
        open_by_severity = Counter((a.severity or "unknown") for a in alerts if a.workflow_status == "open")
        top_rules = Counter(a.rule_name for a in alerts if a.workflow_status != "closed").most_common(10)
        return self.render(
            request,
            "overview.html",
            {
                "session": session,
                "total": len(alerts),
                "by_status": by_status,
                "by_severity": by_severity,
                "open_by_severity": open_by_severity,
                "top_rules": top_rules,
                "chart": chart,
                "span": span,
                "ranges": [*RANGES, "all"],
                "severities": SEVERITIES,
                "statuses": STATUSES,
            },
        )

    def _all_alerts(self) -> list[Any]:
        store = self.state.alerts
        return [] if store is None else list(store.list_alerts())

    async def alerts_list(self, request: Request) -> Response:
        """The alerts table: filters, sorting and paging from the query string."""
        session, redirect = self.guard_read(request)
        if redirect:
            return redirect
        query = AlertQuery.from_params(request.query_params)
        rows, total, has_next = await run_in_threadpool(query.run, self.state.alerts)
        return self.render(
            request,
            "alerts.html",
            {
                "session": session,
                "alerts": rows,
                "query": query,
                "total": total,
                "has_next": has_next,
                "severities": SEVERITIES,
                "statuses": STATUSES,
                "page_sizes": PAGE_SIZES,
                "sort_keys": SORT_KEYS,
            },
        )

    async def alert_detail(self, request: Request) -> Response:
        """One alert: rule, reason, MITRE ATT&CK, timeline, raw document, status form."""
        session, redirect = self.guard_read(request)
        if redirect:
            return redirect
        alert_id = request.path_params["alert_id"]
        found = await run_in_threadpool(self._alert_and_blocks, alert_id)
        if found is None:
            return self.error(request, 404, f"No alert with id {alert_id}.")
        alert, blocks = found
        doc = alert.document
        if blocks:
            timeline = [_timeline_entry(b.document, b.uuid) for b in blocks]
        else:
            timeline = [_timeline_entry(doc, None)]
        raw = json.dumps(doc, indent=2, ensure_ascii=False)
        raw_blocks = [(b.uuid, json.dumps(b.document, indent=2, ensure_ascii=False)) for b in blocks]
        return self.render(
            request,
            "alert.html",
            {
                "session": session,
                "alert": alert,
                "rule_description": show_value(field_value(doc, "kibana.alert.rule.description")),
                "rule_query": show_value(
                    (field_value(doc, "kibana.alert.rule.parameters") or {}).get("query")
                    if isinstance(field_value(doc, "kibana.alert.rule.parameters"), Mapping)
                    else None
                ),
                "threat": threat_of(doc),
                "timeline": timeline,
                "is_sequence": bool(blocks),
                "raw": raw,
                "raw_blocks": raw_blocks,
                "statuses": STATUSES,
                "changed": request.query_params.get("changed"),
            },
        )

    def _alert_and_blocks(self, alert_id: str) -> tuple[Any, list[Any]] | None:
        from vigil.alerts.store import UnknownAlertError

        store = self.state.alerts
        if store is None:
            return None
        try:
            alert = store.get_alert(alert_id)
        except UnknownAlertError:  # also an ambiguous prefix
            return None
        blocks = store.group_alerts(alert.group_id) if alert.is_shell and alert.group_id else []
        return alert, blocks

    async def set_status(self, request: Request) -> Response:
        """POST: change an alert's workflow status, recording who and when."""
        session, form, denied = await self.guard_write(request)
        if denied:
            return denied
        status = form.get("status", "")
        if status not in STATUSES:
            return self.error(request, 400, "The status must be open, acknowledged or closed.")
        who = form.get("by", "").strip()[:100] or session.user or "console"
        with_blocks = form.get("building_blocks") == "on"
        alert_id = request.path_params["alert_id"]
        from vigil.alerts.store import UnknownAlertError

        store = self.state.alerts
        if store is None:
            return self.error(request, 404, "There is no alert store.")
        try:
            alert = await run_in_threadpool(
                lambda: store.set_status(alert_id, status, who, with_building_blocks=with_blocks)
            )
        except UnknownAlertError:
            return self.error(request, 404, f"No alert with id {alert_id}.")
        # Post/redirect/get: reloading the page does not post again.
        return RedirectResponse(f"/alerts/{alert.uuid}?" + urlencode({"changed": status}), status_code=303)

    async def rules_page(self, request: Request) -> Response:
        """The rules as the scheduler runs them."""
        session, redirect = self.guard_read(request)
        if redirect:
            return redirect
        registry = self.state.rules
        statuses = [] if registry is None else await run_in_threadpool(registry.statuses)
        rows = sorted(statuses, key=lambda s: (str(getattr(s.rule, "name", "")).lower(), _rule_id(s)))
        return self.render(
            request,
            "rules.html",
            {
                "session": session,
                "rules": [_rule_row(s) for s in rows],
                "registry": registry is not None,
                "changed": request.query_params.get("changed"),
            },
        )

    async def set_enabled(self, request: Request) -> Response:
        """POST: enable or disable a rule."""
        _session, form, denied = await self.guard_write(request)
        if denied:
            return denied
        registry = self.state.rules
        if registry is None:
            return self.error(request, 404, "There is no rule registry.")
        rule_id = form.get("rule_id", "")
        enabled = form.get("enabled") == "true"
        try:
            await run_in_threadpool(registry.set_enabled, rule_id, enabled)
        except KeyError:
            return self.error(request, 404, f"No rule with id {rule_id}.")
        return RedirectResponse("/rules?" + urlencode({"changed": rule_id}), status_code=303)


# --------------------------------------------------------------------------- forms


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (all the console's forms send), read here
    rather than with ``request.form()`` because that needs python-multipart. A field posted
    twice keeps its last value; a body over :data:`MAX_FORM_BYTES` reads as empty."""
    if request.method != "POST":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    return dict(parse_qsl(text, keep_blank_values=True))


# --------------------------------------------------------------------------- the alerts table

_SEVERITY_RANK = {name: rank for rank, name in enumerate(reversed(SEVERITIES), start=1)}


def _sort_value(alert: Any, key: str) -> Any:
    if key == "severity":
        return _SEVERITY_RANK.get(alert.severity or "", 0)
    if key == "time":
        return (alert.created or "", alert.original_time or "")
    if key == "event_time":
        return alert.original_time or alert.created or ""
    if key == "rule":
        return (alert.rule_name or "").lower()
    if key == "host":
        return (alert.host_name or "").lower()
    if key == "user":
        return (alert.user_name or "").lower()
    return alert.workflow_status


@dataclass
class AlertQuery:
    """The alerts table's filters, sort and page, from (and back to) query parameters."""

    status: str = ""
    severity: str = ""
    rule: str = ""
    host: str = ""
    user: str = ""
    q: str = ""
    sort: str = "time"
    order: str = "desc"
    page: int = 1
    size: int = DEFAULT_PAGE_SIZE

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> AlertQuery:
        """Read the query string; unknown values fall back to the defaults."""

        def number(name: str, default: int) -> int:
            try:
                return max(1, int(params.get(name, default)))
            except ValueError:
                return default

        status = params.get("status", "")
        severity = params.get("severity", "")
        sort = params.get("sort", "time")
        size = number("size", DEFAULT_PAGE_SIZE)
        return cls(
            status=status if status in STATUSES else "",
            severity=severity if severity in SEVERITIES else "",
            rule=params.get("rule", "").strip()[:200],
            host=params.get("host", "").strip()[:200],
            user=params.get("user", "").strip()[:200],
            q=params.get("q", "").strip()[:200],
            sort=sort if sort in SORT_KEYS else "time",
            order="asc" if params.get("order") == "asc" else "desc",
            page=number("page", 1),
            size=size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE,
        )

    def params(self, **changes: Any) -> dict[str, str]:
        """The query parameters that differ from the defaults, with ``changes`` applied."""
        values = {**self.__dict__, **changes}
        defaults = AlertQuery().__dict__
        return {k: str(v) for k, v in values.items() if v != defaults[k] and v != ""}

    def url(self, **changes: Any) -> str:
        """``/alerts`` with this query, changed."""
        params = self.params(**changes)
        return "/alerts" + ("?" + urlencode(params) if params else "")

    def sort_url(self, key: str) -> str:
        """The link of a column header: sort by it, or flip the order if already sorted by it."""
        if self.sort == key:
            return self.url(order="asc" if self.order == "desc" else "desc", page=1)
        return self.url(sort=key, order="desc", page=1)

    @property
    def filtered(self) -> bool:
        """Whether any filter is set."""
        return any((self.status, self.severity, self.rule, self.host, self.user, self.q))

    def run(self, store: Any) -> tuple[list[Any], int | None, bool]:
        """(the page's alerts, the total when it was counted, whether a next page exists).

        The store orders by alert time, newest first, and pages in SQL: that order without a text
        filter is one bounded query. Any other order, or a text search, needs every matching
        alert in hand, so those are sorted and searched here (and the total is known)."""
        if store is None:
            return [], 0, False
        filters = {
            "status": self.status or None,
            "severity": self.severity or None,
            "rule": self.rule or None,
            "host": self.host or None,
            "user": self.user or None,
        }
        start = (self.page - 1) * self.size
        if self.sort == "time" and self.order == "desc" and not self.q:
            found = store.list_alerts(**filters, limit=self.size + 1, offset=start)
            return found[: self.size], None, len(found) > self.size
        found = store.list_alerts(**filters)
        if self.q:
            needle = self.q.lower()
            found = [a for a in found if needle in _haystack(a)]
        # Stable sorts: ties keep the store's newest-first order.
        found.sort(key=lambda a: _sort_value(a, self.sort), reverse=self.order == "desc")
        return found[start : start + self.size], len(found), start + self.size < len(found)


def _haystack(alert: Any) -> str:
    parts = (alert.uuid, alert.rule_name, alert.rule_id, alert.reason, alert.host_name, alert.user_name)
    return "\n".join(p for p in parts if p).lower()


# --------------------------------------------------------------------------- alert detail, rules


def _timeline_entry(doc: Mapping[str, Any], uuid: str | None) -> dict[str, Any]:
    ancestors = field_value(doc, "kibana.alert.ancestors") or []
    source = [a for a in ancestors if isinstance(a, Mapping) and a.get("type") == "event"]
    index = field_value(doc, "kibana.alert.group.index")
    return {
        "uuid": uuid,
        "step": index + 1 if isinstance(index, int) else None,
        "time": field_value(doc, "kibana.alert.original_time") or field_value(doc, "@timestamp"),
        "fields": key_fields(doc),
        "source": [f"{a.get('index', '')} / {a.get('id', '')}" for a in source][-1:],
    }


def _rule_id(status: Any) -> str:
    return str(getattr(status.rule, "rule_id", ""))


def _rule_row(status: Any) -> dict[str, Any]:
    rule = status.rule
    return {
        "rule_id": _rule_id(status),
        "name": str(getattr(rule, "name", "")),
        "type": str(getattr(rule, "type", "")),
        "severity": str(getattr(rule, "severity", "")),
        "interval": str(getattr(rule, "interval", "")),
        "enabled": bool(status.enabled),
        "last_run_at": status.last_run_at,
        "last_duration": status.last_duration,
        "last_alerts": status.last_alerts,
        "total_alerts": status.total_alerts,
        "total_runs": status.total_runs,
        "gaps": status.gaps,
        "last_error": status.last_error,
    }


# --------------------------------------------------------------------------- routes


Handler = Callable[[Request], Awaitable[Response]]


def console_routes(state: ServiceState) -> list[BaseRoute]:
    """The console's routes over ``state`` (see the module docstring for what it needs)."""
    console = Console(state)
    pages: Iterable[tuple[str, Handler, list[str]]] = (
        ("/", console.overview, ["GET"]),
        ("/login", console.login, ["GET", "POST"]),
        ("/logout", console.logout, ["POST"]),
        ("/alerts", console.alerts_list, ["GET"]),
        ("/alerts/{alert_id}", console.alert_detail, ["GET"]),
        ("/alerts/{alert_id}/status", console.set_status, ["POST"]),
        ("/rules", console.rules_page, ["GET"]),
        ("/rules/enabled", console.set_enabled, ["POST"]),
    )
    routes: list[BaseRoute] = [Route(path, endpoint, methods=methods) for path, endpoint, methods in pages]
    routes.append(Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"))
    return routes
