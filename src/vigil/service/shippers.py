"""What real shippers need besides ``_bulk``: their start-up calls, and Windows mapping on ingest.

**Start-up calls.** Winlogbeat, Filebeat and other Beats check the cluster's license when they
connect and, unless told not to (``setup.template.enabled: false``, ``setup.ilm.enabled:
false``), install an index template, an ILM policy and ingest pipelines. Against a server
without those endpoints their setup fails and they never send. The service answers them as a
single-node Elasticsearch with a basic license would:

* ``GET /_license``, ``GET /_xpack``: an active basic license;
* ``GET|HEAD|PUT|DELETE /_index_template/{name}``, ``/_component_template/{name}``,
  ``/_ilm/policy/{name}``, ``/_ingest/pipeline/{id}``: bodies are kept (in
  ``DATA_DIR/shipper-setup.json``, so a restarted service still has them and a Beat does not
  install them again), answered back on ``GET``, and acknowledged on ``PUT``. They do not
  change how events are stored: the service keeps documents as sent (mapped to ECS when they
  are Windows events, see below), whatever a template or pipeline says.

Reads are open (as ``GET /`` is); writes need the API token like ``_bulk``.

**Windows events on ingest.** Winlogbeat 8.x sends its Sysmon, Security, PowerShell and System
events *raw* (``winlog.*`` without ECS categorisation) and relies on its ingest pipelines in
Elasticsearch to map them; NXLog sends flat records. Rules are written for the mapped events.
So documents of either shape are mapped to ECS on the way in, by the same code as ``vigil
hunt`` (:mod:`vigil.sources.winlog`), the way those pipelines would: :func:`map_shipped`.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vigil.ecs.windows import DEFAULT_AGENT_VERSION, to_ecs
from vigil.service.state import ServiceState
from vigil.sources.winlog import classify, nxlog_to_raw

SETUP_FILE = "shipper-setup.json"

# kind -> (path prefix, the error Elasticsearch gives for a missing one)
_KINDS: dict[str, tuple[str, str]] = {
    "index_template": ("/_index_template", "index template matching [{name}] not found"),
    "component_template": ("/_component_template", "component template matching [{name}] not found"),
    "ilm_policy": ("/_ilm/policy", "Lifecycle policy not found: {name}"),
    "pipeline": ("/_ingest/pipeline", ""),
}


def map_shipped(doc: dict[str, Any]) -> dict[str, Any] | None:
    """A shipped document as rules expect it, or None when it is kept as it was sent: Winlogbeat
    8.x raw and NXLog Windows records are mapped to ECS (Winlogbeat's shape, with the sender's
    ``agent.version``; in place where the mapping can). Raises ``ValueError`` (or the mapping's
    own errors) for a record it cannot map."""
    if "winlog" not in doc and "EventID" not in doc:
        return None  # the cheap look first: neither a Winlogbeat nor an NXLog record
    kind = classify(doc)
    if kind == "ndjson":
        return None
    if kind == "nxlog":
        return to_ecs(nxlog_to_raw(doc), mode="winlogbeat", agent_version=DEFAULT_AGENT_VERSION)
    agent = doc.get("agent")
    version = agent.get("version") if isinstance(agent, dict) else None
    if not isinstance(version, str) or not version:
        version = DEFAULT_AGENT_VERSION
    return to_ecs(doc, mode="winlogbeat", agent_version=version)


#: What a mapping raises on a record it cannot map (the item fails; the others are logged).
MAPPING_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError)


def mapping_error(exc: BaseException) -> dict[str, Any]:
    """The item error for a Windows record that cannot be mapped (as a failed ingest pipeline
    fails its document)."""
    return {
        "type": "illegal_argument_exception",
        "reason": f"cannot map the Windows event to ECS (as Winlogbeat's ingest pipeline would): "
        f"{type(exc).__name__}: {exc}",
        "status": 400,
    }


class SetupStore:
    """Templates, policies and pipelines shippers install, kept as sent (JSON file, atomic)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            loaded = {}
        except (OSError, ValueError):
            loaded = {}  # a damaged file only means shippers install their setup again
        self.items: dict[str, dict[str, Any]] = {
            kind: dict(loaded.get(kind) or {}) if isinstance(loaded.get(kind), dict) else {}
            for kind in _KINDS
        }

    def get(self, kind: str, name: str) -> Any | None:
        """The body stored under ``name``, or None."""
        return self.items[kind].get(name)

    def put(self, kind: str, name: str, body: Any) -> None:
        """Keep ``body`` under ``name`` (replacing any)."""
        with self._lock:
            self.items[kind][name] = body
            self._save()

    def delete(self, kind: str, name: str) -> bool:
        """Forget ``name``; whether it was there."""
        with self._lock:
            found = self.items[kind].pop(name, None) is not None
            if found:
                self._save()
            return found

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(self.items))
        tmp.replace(self.path)


def _license(uid: str) -> dict[str, Any]:
    return {
        "status": "active",
        "uid": uid,
        "type": "basic",
        "issue_date": "2025-01-01T00:00:00.000Z",
        "issue_date_in_millis": 1735689600000,
        "max_nodes": 1000,
        "max_resource_units": None,
        "issued_to": "vigil",
        "issuer": "elasticsearch",
        "start_date_in_millis": -1,
    }


class _Setup:
    def __init__(self, state: ServiceState):
        from vigil.service.ingest import _cluster_uuid

        self.state = state
        data_dir = Path(state.settings.data_dir)
        self.uid = _cluster_uuid(data_dir)
        self.store = SetupStore(data_dir / SETUP_FILE)

    async def license(self, _request: Request) -> Response:
        from vigil.service.ingest import json_response

        return json_response({"license": _license(self.uid)})

    async def xpack(self, _request: Request) -> Response:
        from vigil.service.ingest import json_response

        lic = _license(self.uid)
        return json_response(
            {
                "build": {"hash": "0000000000000000000000000000000000000000", "date": "2025-01-01T00:00:00Z"},
                "license": {"uid": lic["uid"], "type": "basic", "mode": "basic", "status": "active"},
                "features": {"ilm": {"available": True, "enabled": True}},
                "tagline": "You know, for X",
            }
        )

    def handler(self, kind: str) -> Any:
        async def handle(request: Request) -> Response:
            from vigil.service.ingest import EsError

            try:
                return await answer(request)
            except EsError as exc:
                return exc.response()

        async def answer(request: Request) -> Response:
            from vigil.service.ingest import EsError, _body, _parse_error, _require_token, json_response

            name = request.path_params["name"]
            if request.method in ("PUT", "POST", "DELETE"):
                _require_token(request, self.state)
            if request.method in ("PUT", "POST"):
                body = await _body(request, int(self.state.settings.max_request_bytes))
                try:
                    parsed = orjson.loads(body) if body.strip() else {}
                except orjson.JSONDecodeError as exc:
                    err = _parse_error(body, exc, "")
                    raise EsError(400, err.pop("type"), err.pop("reason"), extra=err) from None
                self.store.put(kind, name, parsed)
                return json_response({"acknowledged": True})
            if request.method == "DELETE":
                if self.store.delete(kind, name):
                    return json_response({"acknowledged": True})
                return self._missing(kind, name)
            found = self.store.get(kind, name)
            if found is None:
                return Response(b"", 404) if request.method == "HEAD" else self._missing(kind, name)
            if request.method == "HEAD":
                return Response(b"", 200, media_type="application/json")
            return json_response(self._shown(kind, name, found))

        return handle

    @staticmethod
    def _missing(kind: str, name: str) -> Response:
        from vigil.service.ingest import es_error_body, json_response

        if kind == "pipeline":
            return json_response({}, 404)  # Elasticsearch answers a missing pipeline so
        reason = _KINDS[kind][1].format(name=name)
        return json_response(es_error_body(404, "resource_not_found_exception", reason), 404)

    @staticmethod
    def _shown(kind: str, name: str, body: Any) -> Any:
        if kind == "index_template":
            return {"index_templates": [{"name": name, "index_template": body}]}
        if kind == "component_template":
            return {"component_templates": [{"name": name, "component_template": body}]}
        if kind == "ilm_policy":
            return {name: {"version": 1, "modified_date": "2025-01-01T00:00:00.000Z", "policy": body}}
        return {name: body}


def shipper_routes(state: ServiceState) -> list[BaseRoute]:
    """The start-up endpoints shippers call (see the module docstring)."""
    setup = _Setup(state)
    routes: list[BaseRoute] = [
        Route("/_license", setup.license, methods=["GET"]),
        Route("/_xpack", setup.xpack, methods=["GET"]),
    ]
    for kind, (prefix, _missing) in _KINDS.items():
        routes.append(
            Route(prefix + "/{name}", setup.handler(kind), methods=["GET", "HEAD", "PUT", "POST", "DELETE"])
        )
    return routes
