"""The JSON API under ``/api/``: rules, alerts, runs, health (described by :mod:`.openapi`).

* Auth: every write needs the API token (``Authorization: Bearer <token>`` or ``ApiKey <token>``,
  see :mod:`vigil.service.auth`); reads need it too unless ``settings.open_reads``. ``/api/health``
  answers everyone, with the details only to those who may read; ``/api/openapi.json`` is public.
* Errors are JSON, always: ``{"error": {"status": 400, "type": "bad_request", "message": "..."}}``
  (plus ``location``/``problems`` for a bad rule file); an unexpected failure is a 500 with a
  generic message, its traceback goes to the service log only.
* Request bodies are capped (``settings.extra["api_max_body_bytes"]``, default
  :data:`DEFAULT_MAX_BODY`): a larger one is refused with 413 before it is read whole.

The handlers are ``async`` on purpose: they run on the event loop's one thread, so the shared
alert store's SQLite connection never carries two threads' transactions (the scheduler has its
own connection).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route

from vigil.alerts.js import iso_millis
from vigil.alerts.store import (
    ALERT_SORTS,
    WORKFLOW_STATUSES,
    AmbiguousAlertError,
    RunRecord,
    StoredAlert,
    UnknownAlertError,
)
from vigil.errors import VigilError
from vigil.rules.model import SEVERITIES
from vigil.service.auth import check_token
from vigil.service.state import RuleStatus, ServiceState

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 10 * 1024 * 1024
DEFAULT_PER_PAGE = 50
MAX_PAGE_SIZE = 1000

Handler = Callable[[Request, ServiceState], Awaitable[Response]]


class ApiError(Exception):
    """A request the API refuses: its HTTP status, error type and message."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "bad_request",
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind
        self.extra = extra or {}
        self.headers = headers


def error_response(
    status: int,
    message: str,
    kind: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The one error shape of the API."""
    body = {"status": status, "type": kind, "message": message, **(extra or {})}
    return JSONResponse({"error": body}, status_code=status, headers=headers)


# --------------------------------------------------------------------------- plumbing


def _may_read(request: Request, state: ServiceState) -> bool:
    return bool(state.settings.open_reads) or check_token(
        request.headers.get("authorization"), state.token_hash
    )


def _authorize(request: Request, state: ServiceState, write: bool) -> None:
    needed = write or not state.settings.open_reads
    if needed and not check_token(request.headers.get("authorization"), state.token_hash):
        raise ApiError(
            401,
            "an API token is needed: send 'Authorization: Bearer <token>' (or 'ApiKey <token>')",
            "unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="vigil"'},
        )


def _endpoint(state: ServiceState, handler: Handler, *, write: bool = False, public: bool = False) -> Any:
    """A Starlette endpoint: auth, then the handler; every failure becomes a JSON error."""

    async def endpoint(request: Request) -> Response:
        try:
            if not public:
                _authorize(request, state, write)
            return await handler(request, state)
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.kind, exc.extra, exc.headers)
        except (UnknownAlertError, KeyError) as exc:
            return error_response(404, _message(exc), "not_found")
        except AmbiguousAlertError as exc:
            return error_response(400, _message(exc), "ambiguous_id")
        except VigilError as exc:
            return error_response(400, _message(exc), "bad_request")
        except Exception:  # never a traceback to the client; the log has it
            log.exception("%s %s failed", request.method, request.url.path)
            return error_response(500, "internal error; the service log has the details", "internal_error")

    return endpoint


def _message(exc: BaseException) -> str:
    if isinstance(exc, VigilError):
        return exc.message + (f" ({exc.hint})" if exc.hint else "")
    if isinstance(exc, KeyError):
        return f"unknown: {exc.args[0]}" if exc.args else "not found"
    return str(exc)


def _max_body(state: ServiceState) -> int:
    value = state.settings.extra.get("api_max_body_bytes", DEFAULT_MAX_BODY)
    return int(value) if isinstance(value, int | float | str) else DEFAULT_MAX_BODY


async def _read_body(request: Request, state: ServiceState) -> bytes:
    """The body, refused with 413 past the cap (by its Content-Length, or while reading)."""
    cap = _max_body(state)
    too_big = ApiError(413, f"the request body is larger than {cap} bytes", "payload_too_large")
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > cap:
                raise too_big
        except ValueError:
            raise ApiError(400, "bad Content-Length header") from None
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > cap:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def _json_object(request: Request, state: ServiceState) -> dict[str, Any]:
    body = await _read_body(request, state)
    try:
        data = json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


def _int_param(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"query parameter {name!r} must be a whole number, not {text!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"query parameter {name!r} must be between {low} and {high}")
    return value


def _time_param(request: Request, name: str, *, upper: bool) -> datetime | None:
    text = request.query_params.get(name)
    if not text:
        return None
    from vigil.rules.datemath import parse_date_math

    try:
        return parse_date_math(text).resolve(datetime.now(UTC), round_up=upper)
    except VigilError as exc:
        raise ApiError(400, f"query parameter {name!r}: bad time {text!r}: {exc.message}") from None


def _bool_param(request: Request, name: str) -> bool:
    text = (request.query_params.get(name) or "").lower()
    if text in ("", "false", "0", "no"):
        return False
    if text in ("true", "1", "yes"):
        return True
    raise ApiError(400, f"query parameter {name!r} must be true or false")


def _iso(moment: datetime | None) -> str | None:
    return iso_millis(moment) if moment is not None else None


# --------------------------------------------------------------------------- JSON shapes


def rule_json(status: RuleStatus, state: ServiceState) -> dict[str, Any]:
    """A rule as the API shows it: its main fields, whether it runs, and its run statistics."""
    rule = status.rule
    reason = getattr(state.rules, "unsupported_reason", lambda _i: None)(rule.rule_id)
    scheduler = state.scheduler
    next_run = scheduler.next_run(rule.rule_id) if scheduler is not None and status.enabled else None
    return {
        "rule_id": rule.rule_id,
        "name": rule.name,
        "description": rule.description,
        "type": rule.type,
        "language": rule.language,
        "query": rule.query,
        "index": list(rule.index),
        "interval": rule.interval,
        "from": rule.from_,
        "to": rule.to,
        "max_signals": rule.max_signals,
        "severity": rule.severity,
        "risk_score": rule.risk_score,
        "tags": list(rule.tags),
        "version": rule.version,
        "source": rule.source,
        "enabled": status.enabled,
        "supported": reason is None,
        "unsupported_reason": reason,
        "last_run_at": _iso(status.last_run_at),
        "last_duration_seconds": status.last_duration,
        "last_alerts": status.last_alerts,
        "last_error": status.last_error,
        "total_runs": status.total_runs,
        "total_alerts": status.total_alerts,
        "gaps": status.gaps,
        "next_run_at": _iso(next_run),
    }


def alert_json(alert: StoredAlert, *, document: bool = False) -> dict[str, Any]:
    """An alert's columns (and its whole Kibana document when asked)."""
    out: dict[str, Any] = {
        "id": alert.uuid,
        "@timestamp": alert.created,
        "rule_id": alert.rule_id,
        "rule_uuid": alert.rule_uuid,
        "rule_name": alert.rule_name,
        "severity": alert.severity,
        "risk_score": alert.risk_score,
        "host_name": alert.host_name,
        "user_name": alert.user_name,
        "workflow_status": alert.workflow_status,
        "workflow_user": alert.workflow_user,
        "workflow_status_updated_at": alert.workflow_status_updated_at,
        "original_time": alert.original_time,
        "building_block": alert.building_block,
        "group_id": alert.group_id,
        "group_index": alert.group_index,
        "reason": alert.reason,
    }
    if document:
        out["document"] = alert.document
    return out


def run_json(run: RunRecord) -> dict[str, Any]:
    """A recorded rule run."""
    return {
        "run_id": run.run_id,
        "rule_id": run.rule_id,
        "rule_name": run.rule_name,
        "tick": _iso(run.tick),
        "window_start": _iso(run.window_start),
        "window_end": _iso(run.window_end),
        "started": _iso(run.started),
        "duration_seconds": run.duration_seconds,
        "events_scanned": run.events_scanned,
        "hits": run.hits,
        "alerts_created": run.alerts_created,
        "duplicates": run.duplicates,
        "warnings": list(run.warnings),
        "errors": list(run.errors),
        "status": run.effective_status,
    }


# --------------------------------------------------------------------------- handlers


async def health(request: Request, state: ServiceState) -> Response:
    """Liveness for everyone; the details for those who may read."""
    if not _may_read(request, state):
        return JSONResponse({"status": "ok"})
    statuses = state.rules.statuses() if state.rules is not None else []
    runs = [s.last_run_at for s in statuses if s.last_run_at is not None]
    body: dict[str, Any] = {
        "status": "ok",
        "started_at": _iso(datetime.fromtimestamp(state.started_at, UTC)) if state.started_at else None,
        "uptime_seconds": round(time.time() - state.started_at, 3) if state.started_at else None,
        "scheduler": state.scheduler.health() if state.scheduler is not None else {"state": "absent"},
        "last_run_at": _iso(max(runs)) if runs else None,
        "rules": {
            "loaded": len(statuses),
            "enabled": sum(1 for s in statuses if s.enabled),
            "unsupported": sum(
                1
                for s in statuses
                if getattr(state.rules, "unsupported_reason", lambda _i: None)(s.rule.rule_id)
            ),
            "failing": sum(1 for s in statuses if s.enabled and s.last_error),
        },
        "alerts": {"total": state.alerts.count_alerts()} if state.alerts is not None else None,
        "events": None,
    }
    stats = getattr(state.events, "stats", None)
    if callable(stats):
        try:
            body["events"] = stats()
        except Exception as exc:  # health must answer even when the log cannot
            body["events"] = {"error": f"{type(exc).__name__}: {exc}"}
            body["status"] = "degraded"
    return JSONResponse(body)


async def openapi_document(request: Request, state: ServiceState) -> Response:
    """The OpenAPI description of this API."""
    from vigil.service.openapi import openapi_spec

    return JSONResponse(openapi_spec())


async def list_rules(request: Request, state: ServiceState) -> Response:
    """Every loaded rule with its status; ``?enabled=true|false`` filters."""
    statuses = state.rules.statuses()
    wanted = request.query_params.get("enabled")
    if wanted is not None:
        flag = _bool_param(request, "enabled")
        statuses = [s for s in statuses if s.enabled == flag]
    problems = [
        {"file": p.file, "line": p.line, "field": p.field, "message": p.message, "severity": p.severity}
        for p in getattr(state.rules, "problems", ())
    ]
    return JSONResponse(
        {"total": len(statuses), "rules": [rule_json(s, state) for s in statuses], "problems": problems}
    )


def _rule(state: ServiceState, request: Request) -> RuleStatus:
    rule_id = request.path_params["rule_id"]
    status = state.rules.get(rule_id)
    if status is None:
        raise ApiError(404, f"no rule with rule_id {rule_id!r}", "not_found")
    result: RuleStatus = status
    return result


async def show_rule(request: Request, state: ServiceState) -> Response:
    """One rule."""
    return JSONResponse(rule_json(_rule(state, request), state))


async def enable_rule(request: Request, state: ServiceState) -> Response:
    """Enable a rule (persisted); 409 for a rule vigil cannot run."""
    return await _set_enabled(request, state, True)


async def disable_rule(request: Request, state: ServiceState) -> Response:
    """Disable a rule (persisted)."""
    return await _set_enabled(request, state, False)


async def _set_enabled(request: Request, state: ServiceState, enabled: bool) -> Response:
    status = _rule(state, request)
    await _read_body(request, state)  # an empty body is expected; a huge one is still refused
    if enabled and getattr(state.rules, "unsupported_reason", lambda _i: None)(status.rule.rule_id):
        reason = state.rules.unsupported_reason(status.rule.rule_id)
        raise ApiError(409, f"rule {status.rule.name!r} cannot be enabled: {reason}", "conflict")
    return JSONResponse(rule_json(state.rules.set_enabled(status.rule.rule_id, enabled), state))


def _upload(body: bytes, content_type: str) -> tuple[str | None, bytes]:
    """(file name, content) of the first file of a multipart/form-data body."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ApiError(400, "a multipart/form-data body without parts")
    parts = list(message.iter_parts())
    chosen = next((p for p in parts if p.get_filename()), None) or next(
        (p for p in parts if p.get_param("name", header="content-disposition") == "file"), None
    )
    if chosen is None:
        raise ApiError(400, "the multipart body has no file (send it as the form field 'file')")
    payload = chosen.get_payload(decode=True)
    return chosen.get_filename(), payload if isinstance(payload, bytes) else b""


async def import_rules(request: Request, state: ServiceState) -> Response:
    """Import a rule file (TOML, Kibana NDJSON export, documentation page): a multipart upload
    (field ``file``) or the raw file as the body, its name in ``?name=``."""
    body = await _read_body(request, state)
    content_type = request.headers.get("content-type", "")
    name = request.query_params.get("name")
    if content_type.lower().startswith("multipart/"):
        filename, body = _upload(body, content_type)
        name = name or filename
    if not body.strip():
        raise ApiError(400, "no rule file in the request (send it as the body or as the form field 'file')")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the rule file is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    from vigil.service.rules import RuleImportError

    try:
        imported = state.rules.import_text(name or "imported", text)
    except RuleImportError as exc:
        location = None
        if exc.location is not None:
            location = {"file": exc.location.file, "line": exc.location.line, "column": exc.location.column}
        problems = [
            {
                "file": p.file,
                "line": p.line,
                "column": p.column,
                "field": p.field,
                "message": p.message,
                "severity": p.severity,
            }
            for p in exc.problems
        ]
        raise ApiError(
            400, exc.message, "rule_error", extra={"location": location, "problems": problems}
        ) from None
    return JSONResponse({"imported": [rule_json(s, state) for s in imported]}, status_code=201)


def _runs(state: ServiceState, rule_id: str | None, limit: int) -> list[dict[str, Any]]:
    runs = state.alerts.list_runs(rule_id) if rule_id else state.alerts.list_runs(limit=limit)
    if rule_id:
        # The store also matches rule names in part; the API filters by rule_id exactly.
        runs = [r for r in runs if r.rule_id == rule_id]
    return [run_json(r) for r in runs[:limit]]


async def list_runs(request: Request, state: ServiceState) -> Response:
    """Recorded runs, newest first; ``?rule_id=`` for one rule, ``?limit=`` (default 100)."""
    limit = _int_param(request, "limit", 100, 1, 10_000) or 100
    runs = _runs(state, request.query_params.get("rule_id") or None, limit)
    return JSONResponse({"total": len(runs), "runs": runs})


async def rule_runs(request: Request, state: ServiceState) -> Response:
    """The recorded runs of one rule, newest first."""
    status = _rule(state, request)
    limit = _int_param(request, "limit", 100, 1, 10_000) or 100
    runs = _runs(state, status.rule.rule_id, limit)
    return JSONResponse({"total": len(runs), "runs": runs})


def _list_values(request: Request, name: str) -> list[str]:
    return [v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()]


async def list_alerts(request: Request, state: ServiceState) -> Response:
    """Alerts with filters, paging and sorting (see the OpenAPI description)."""
    q = request.query_params
    status = q.get("status") or None
    if status is not None and status not in WORKFLOW_STATUSES:
        raise ApiError(400, f"unknown status {status!r}: one of {', '.join(WORKFLOW_STATUSES)}")
    severities = _list_values(request, "severity")
    for severity in severities:
        if severity not in SEVERITIES:
            raise ApiError(400, f"unknown severity {severity!r}: one of {', '.join(SEVERITIES)}")
    if "from" in q or "size" in q:
        offset = _int_param(request, "from", 0, 0, 10**9) or 0
        limit = _int_param(request, "size", DEFAULT_PER_PAGE, 0, MAX_PAGE_SIZE)
        assert limit is not None
        page, per_page = (offset // limit + 1 if limit else 1), limit
    else:
        page = _int_param(request, "page", 1, 1, 10**7) or 1
        per_page = _int_param(request, "per_page", DEFAULT_PER_PAGE, 1, MAX_PAGE_SIZE) or DEFAULT_PER_PAGE
        offset, limit = (page - 1) * per_page, per_page
    sort, descending = None, True
    if q.get("sort"):
        text = q["sort"]
        if text.startswith("-"):
            sort, descending = text[1:], True
        else:
            sort, _, order = text.partition(":")
            if order not in ("", "asc", "desc"):
                raise ApiError(400, f"sort order must be asc or desc, not {order!r}")
            descending = order != "asc"
        if sort not in ALERT_SORTS:
            raise ApiError(400, f"cannot sort by {sort!r}: one of {', '.join(ALERT_SORTS)}")
    filters: dict[str, Any] = {
        "rule": q.get("rule_id") or q.get("rule") or None,
        "severity": severities or None,
        "host": q.get("host.name") or q.get("host") or None,
        "user": q.get("user.name") or q.get("user") or None,
        "status": status,
        "since": _time_param(request, "since", upper=False),
        "until": _time_param(request, "until", upper=True),
        "include_building_blocks": _bool_param(request, "building_blocks"),
    }
    store = state.alerts
    total = store.count_matching(**filters)
    found = store.list_alerts(**filters, limit=limit, offset=offset, sort=sort, descending=descending)
    return JSONResponse(
        {
            "total": total,
            "page": page,
            "per_page": per_page,
            "from": offset,
            "size": limit,
            "alerts": [alert_json(a) for a in found],
        }
    )


async def show_alert(request: Request, state: ServiceState) -> Response:
    """One alert (its id or a unique prefix): the whole document, and a sequence's building
    blocks."""
    alert = state.alerts.get_alert(request.path_params["alert_id"])
    out = alert_json(alert, document=True)
    blocks = state.alerts.group_alerts(alert.group_id) if alert.is_shell and alert.group_id else []
    out["building_blocks"] = [alert_json(b, document=True) for b in blocks]
    return JSONResponse(out)


async def set_alert_status(request: Request, state: ServiceState) -> Response:
    """Set an alert's workflow status: ``{"status": "acknowledged", "by": "name"}`` (``by``
    defaults to ``api``; ``"building_blocks": true`` also changes a sequence's blocks)."""
    data = await _json_object(request, state)
    status = data.get("status")
    if status not in WORKFLOW_STATUSES:
        raise ApiError(400, f"'status' must be one of {', '.join(WORKFLOW_STATUSES)}, not {status!r}")
    who = data.get("by", "api")
    if not isinstance(who, str) or not who.strip() or len(who) > 256:
        raise ApiError(400, "'by' must be a non-empty string of at most 256 characters")
    blocks = data.get("building_blocks", False)
    if not isinstance(blocks, bool):
        raise ApiError(400, "'building_blocks' must be true or false")
    alert = state.alerts.set_status(
        request.path_params["alert_id"], status, who.strip(), with_building_blocks=blocks
    )
    return JSONResponse(alert_json(alert))


# --------------------------------------------------------------------------- routes

# (path, method, handler, write, public): the routes, in the order Starlette tries them.
ROUTES: tuple[tuple[str, str, Handler, bool, bool], ...] = (
    ("/api/health", "GET", health, False, True),
    ("/api/openapi.json", "GET", openapi_document, False, True),
    ("/api/rules", "GET", list_rules, False, False),
    ("/api/rules/_import", "POST", import_rules, True, False),
    ("/api/rules/{rule_id}", "GET", show_rule, False, False),
    ("/api/rules/{rule_id}/_enable", "POST", enable_rule, True, False),
    ("/api/rules/{rule_id}/_disable", "POST", disable_rule, True, False),
    ("/api/rules/{rule_id}/runs", "GET", rule_runs, False, False),
    ("/api/alerts", "GET", list_alerts, False, False),
    ("/api/alerts/{alert_id}", "GET", show_alert, False, False),
    ("/api/alerts/{alert_id}/status", "POST", set_alert_status, True, False),
    ("/api/runs", "GET", list_runs, False, False),
)


def api_routes(state: ServiceState) -> list[BaseRoute]:
    """The routes of the API, bound to ``state``; the last one answers every other ``/api/``
    path with a JSON 404 (or 405 when the path exists with another method)."""
    routes: list[BaseRoute] = [
        Route(
            path,
            _endpoint(state, handler, write=write, public=public),
            methods=[method],
            name=handler.__name__,
        )
        for path, method, handler, write, public in ROUTES
    ]
    known = list(routes)

    async def fallback(request: Request) -> Response:
        allowed = sorted(
            {
                m
                for r in known
                if isinstance(r, Route) and r.matches(request.scope)[0] == Match.PARTIAL
                for m in r.methods or ()
            }
        )
        if allowed:
            return error_response(
                405,
                f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}",
                "method_not_allowed",
                headers={"Allow": ", ".join(allowed)},
            )
        return error_response(404, f"no API route {request.url.path}", "not_found")

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    routes.append(Route("/api/{path:path}", fallback, methods=methods, include_in_schema=False))
    return routes
