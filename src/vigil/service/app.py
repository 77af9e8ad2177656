"""The Starlette application of ``vigil serve``, and the service state it runs over.

:func:`build_state` opens everything the service keeps in its data directory (the event log and
store, the alert store, the API token, the rules and the scheduler when those modules are
present); :func:`create_app` mounts the routes (JSON API, ingest API, web console) and starts and
stops the background parts with the application's lifespan: the log's flusher, the watcher and
the scheduler start with it and stop, flushing the log, on shutdown (SIGTERM/SIGINT via uvicorn).

Errors never leak a traceback: an :class:`vigil.service.ingest.EsError` is answered in
Elasticsearch's shape, unknown routes with a 404 JSON body, anything unexpected with a 500 JSON
body (the traceback goes to the log only).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vigil.service.auth import load_or_create_token
from vigil.service.eventlog import EventLog
from vigil.service.ingest import EsError, ProductHeaderMiddleware, ingest_routes, json_response
from vigil.service.settings import Settings
from vigil.service.shippers import shipper_routes
from vigil.service.state import ServiceState
from vigil.service.watcher import Watcher

log = logging.getLogger("vigil.service")

__all__ = ["build_state", "create_app"]

EVENTS_DIR = "events"
ALERTS_DB = "alerts.db"


def _optional(module: str) -> Any:
    """A module of another part of the service, or None when it is not there (yet)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise  # the module exists but something it imports is missing: a real error
        return None


def build_state(settings: Settings) -> ServiceState:
    """Open the service's data directory: event log (recovered after any crash), alert store,
    API token (generated on first start: ``state.extra["new_token"]`` holds it, to show once),
    rules, scheduler and watcher."""
    data_dir = Path(settings.data_dir).expanduser()
    data_dir.mkdir(parents=True, exist_ok=True)
    token_hash, new_token = load_or_create_token(data_dir, settings.api_token)
    state = ServiceState(settings=settings, token_hash=token_hash, started_at=time.time())
    state.extra["new_token"] = new_token
    state.events = EventLog(
        data_dir / EVENTS_DIR,
        retention_days=settings.retention_days,
        # the flush (documents into Parquet files) runs in a process of its own: off the GIL
        # that ingest and the rules share
        flush_process=bool(settings.extra.get("flush_process", True)),
    )

    from vigil.alerts.store import AlertStore

    state.alerts = AlertStore.open(data_dir / ALERTS_DB)
    rules_module = _optional("vigil.service.rules")
    if rules_module is not None:
        state.rules = rules_module.RuleRegistry(settings)
    scheduler_module = _optional("vigil.service.scheduler")
    if scheduler_module is not None and state.rules is not None:
        state.scheduler = scheduler_module.Scheduler(state)
    if settings.watch_paths:
        state.extra["watcher"] = Watcher(settings.watch_paths, state.events)
    return state


#: The collector's thresholds while the service runs (see :func:`_tune_gc`).
GC_THRESHOLDS = (200_000, 20, 100)


def _tune_gc() -> None:
    """Make the cyclic garbage collector cheap under ingest load.

    Ingest allocates many objects that live on (the documents of the events not yet in the
    store), and with the default thresholds the collector runs every 700 allocations and keeps
    walking them: at high rates it costs more than parsing. Everything loaded at start-up (rules,
    modules) is moved out of its reach (``gc.freeze``), and young collections are made rarer.
    JSON documents hold no reference cycles, so nothing is kept longer than a few rounds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _restore_gc(thresholds: tuple[int, int, int]) -> None:
    """Undo :func:`_tune_gc` (the application may run inside another program, tests included)."""
    gc.set_threshold(*thresholds)
    gc.unfreeze()


def _error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, EsError):
        return exc.response()
    if isinstance(exc, HTTPException):
        path, method = request.url.path, request.method
        if exc.status_code == 405:
            reason = f"Incorrect HTTP method for uri [{path}] and method [{method}]"
            return json_response({"error": reason, "status": 405}, 405, dict(exc.headers or {}))
        if exc.status_code == 404:
            reason = f"no handler found for uri [{path}] and method [{method}]"
            return json_response({"error": reason, "status": 404}, 404)
        return json_response({"error": str(exc.detail), "status": exc.status_code}, exc.status_code)
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_response({"error": "internal server error (logged by the service)", "status": 500}, 500)


def create_app(state: ServiceState) -> Starlette:
    """The application: the JSON API (``vigil.service.api``) if present, the ingest API, and the
    web console (``vigil.service.console``) if present."""
    routes: list[BaseRoute] = []
    api = _optional("vigil.service.api")
    if api is not None:
        routes.extend(api.api_routes(state))
    console = _optional("vigil.service.console")
    console_list: list[BaseRoute] = list(console.console_routes(state)) if console is not None else []
    # Elasticsearch clients and the console's home page share "/": the ingest route answers it and
    # hands browsers (Accept: text/html) to the console's page.
    home = next((r for r in console_list if isinstance(r, Route) and r.path == "/"), None)
    routes.extend(ingest_routes(state, console_home=home.endpoint if home is not None else None))
    routes.extend(shipper_routes(state))  # Beats' start-up calls (license, templates, ILM, pipelines)
    routes.extend(r for r in console_list if r is not home)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        thresholds = gc.get_threshold()
        _tune_gc()
        state.events.start()
        watcher = state.extra.get("watcher")
        if watcher is not None:
            watcher.start()
        if state.scheduler is not None:
            state.scheduler.start()
        try:
            yield
        finally:
            try:
                if state.scheduler is not None:
                    state.scheduler.stop()
                if watcher is not None:
                    watcher.stop()
                state.events.close()
            finally:
                _restore_gc(thresholds)

    async def on_error(request: Request, exc: Exception) -> Response:
        return _error(request, exc)

    return Starlette(
        routes=routes,
        middleware=[Middleware(ProductHeaderMiddleware)],
        exception_handlers={EsError: on_error, HTTPException: on_error, Exception: on_error},
        lifespan=lifespan,
    )
