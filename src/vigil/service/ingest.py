"""The Elasticsearch-compatible ingest API of ``vigil serve``: what shippers need to send events.

Routes (answers in Elasticsearch 8.x's shapes, so the official clients, Beats-style shippers
and ``curl`` recipes work unchanged):

* ``GET /``, ``HEAD /`` - version info (a browser asking for HTML gets the web console instead);
* ``GET /_cluster/health`` - a minimal green health;
* ``POST|PUT /_bulk``, ``/{index}/_bulk`` - NDJSON actions ``index``/``create`` with their
  documents; ``delete``/``update`` are answered per item with a 400 item error (the log is
  append-only); a ``create`` of an ``_id`` the index holds gets a 409
  ``version_conflict_engine_exception`` item; per-item results and ``errors`` as Elasticsearch
  reports them;
* ``POST /{index}/_doc``, ``PUT|POST /{index}/_doc/{id}``, ``PUT|POST /{index}/_create/{id}``
  (409 when the id exists).

Every write needs the API token (``Authorization: Bearer <token>`` or ``ApiKey <token>``),
else 401 ``security_exception``. Bodies over ``settings.max_request_bytes`` (after gzip
decompression too) get 413. Every response carries ``X-Elastic-Product: Elasticsearch`` (the
clients' product check; see :class:`ProductHeaderMiddleware`). The ``refresh`` parameter is
accepted and needs nothing: acknowledged events are visible to the rules at once.

**Documents.** A bulk's documents are not decoded: each is validated and read where ingest
needs it by :class:`~vigil.service.glance.Glancer`; what the glance cannot answer exactly
(errors included) is decoded with ``orjson``, as ``_doc`` bodies are.

**Event ids.** A document with an ``_id`` keeps it. Otherwise its id is
:func:`vigil.sources.stable_id` of the document's bytes as sent (as ``vigil hunt`` gives a line
of a file), so a document shipped twice, e.g. retried after a lost answer, has the same id and
its alerts are not raised twice.
"""

from __future__ import annotations

import functools
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.service.auth import check_token
from vigil.service.eventlog import Record
from vigil.service.glance import Glance, Glancer
from vigil.service.shippers import MAPPING_ERRORS, map_shipped, mapping_error
from vigil.service.state import ServiceState
from vigil.sources import stable_id

__all__ = [
    "ES_VERSION",
    "EsError",
    "ProductHeaderMiddleware",
    "es_error_body",
    "ingest_routes",
    "json_response",
]

#: The Elasticsearch version the API answers as (shippers check the major version).
ES_VERSION = "8.19.0"
LUCENE_VERSION = "9.12.2"
PRODUCT_HEADER = (b"x-elastic-product", b"Elasticsearch")
_SHARDS = {"total": 1, "successful": 1, "failed": 0}
_BAD_INDEX_CHARS = set('\\/*?"<>| ,#:')
#: One created bulk item, as orjson writes ``{op: _created(index, id, with_status=True)}``.
_CREATED = (
    b'{%s:{"_index":%s,"_id":%s,"_version":1,"result":"created",'
    b'"_shards":{"total":1,"successful":1,"failed":0},"_seq_no":%d,"_primary_term":1,"status":201}}'
)


class EsError(Exception):
    """A request-level error, answered as Elasticsearch answers it:
    ``{"error": {"root_cause": [...], "type", "reason"}, "status"}``."""

    def __init__(
        self,
        status: int,
        type_: str,
        reason: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(reason)
        self.status = status
        self.type = type_
        self.reason = reason
        self.headers = headers or {}
        self.extra = extra or {}

    def response(self) -> Response:
        """The JSON answer."""
        return json_response(
            es_error_body(self.status, self.type, self.reason, self.extra), self.status, self.headers
        )


def es_error_body(
    status: int, type_: str, reason: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Elasticsearch's error body."""
    cause = {"type": type_, "reason": reason, **(extra or {})}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response (orjson)."""
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


class ProductHeaderMiddleware:
    """Adds ``X-Elastic-Product: Elasticsearch`` to every response: the official clients refuse
    a server without it (their product check)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != PRODUCT_HEADER[0]]
                message = {**message, "headers": [*headers, PRODUCT_HEADER]}
            await send(message)

        await self.app(scope, receive, send_with_header)


# --------------------------------------------------------------------------- helpers


def _cluster_uuid(data_dir: Path) -> str:
    """A cluster UUID kept in the data directory (stable across restarts, as a cluster's is)."""
    path = data_dir / "cluster-uuid"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        value = uuid.uuid4().hex[:22]
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(value + "\n", encoding="ascii")
        tmp.replace(path)
        return value


def _require_token(request: Request, state: ServiceState) -> None:
    header = request.headers.get("authorization")
    if check_token(header, state.token_hash):
        return
    uri = request.url.path
    if header:
        reason = f"unable to authenticate with provided credentials for REST request [{uri}]"
    else:
        reason = f"missing authentication credentials for REST request [{uri}]"
    challenge = 'Bearer realm="vigil", ApiKey'
    raise EsError(
        401,
        "security_exception",
        reason,
        headers={"WWW-Authenticate": challenge},
        extra={"header": {"WWW-Authenticate": ['Bearer realm="vigil"', "ApiKey"]}},
    )


def _too_large(limit: int) -> EsError:
    return EsError(
        413,
        "content_too_long_exception",
        f"request body is larger than the limit of [{limit}] bytes (settings.max_request_bytes)",
    )


async def _body(request: Request, limit: int) -> bytes:
    """The request body (gunzipped), refused with 413 past ``limit`` bytes without reading on."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            raise EsError(400, "parse_exception", f"request body is not valid gzip: {exc}") from None
        if len(body) > limit or inflater.unconsumed_tail:
            raise _too_large(limit)
    elif encoding not in ("", "identity"):
        raise EsError(400, "illegal_argument_exception", f"unsupported Content-Encoding [{encoding}]")
    return body


def _index_problem(name: str) -> str | None:
    """Why Elasticsearch would refuse ``name`` as an index name (None when it is fine)."""
    if not name:
        return "must not be empty"
    if name != name.lower():
        return "must be lowercase"
    if name in (".", ".."):
        return 'must not be "." or ".."'
    if name[0] in "_-+":
        return "must not start with '_', '-', or '+'"
    bad = sorted(set(name) & _BAD_INDEX_CHARS)
    if bad:
        return f"must not contain the following characters {bad}"
    if len(name.encode("utf-8")) > 255:
        return "index name is too long, (" + str(len(name.encode("utf-8"))) + " > 255)"
    return None


def _index_error(name: str, problem: str) -> dict[str, Any]:
    return {
        "type": "invalid_index_name_exception",
        "reason": f"Invalid index name [{name}], {problem}",
        "index_uuid": "_na_",
        "index": name,
    }


def _conflict(index: str, id_: str) -> dict[str, Any]:
    """Elasticsearch's error for a create of an id the index holds already."""
    return {
        "type": "version_conflict_engine_exception",
        "reason": f"[{id_}]: version conflict, document already exists (current version [1])",
        "index_uuid": "_na_",
        "shard": "0",
        "index": index,
    }


def _parse_error(raw: bytes, exc: Exception | None, what: str) -> dict[str, Any]:
    """A ``document_parsing_exception`` as Elasticsearch 8.x reports a document it cannot parse
    (``mapper_parsing_exception`` before 8.8)."""
    line, column = 1, 1
    if isinstance(exc, orjson.JSONDecodeError):
        line, column = exc.lineno, exc.colno
        detail = exc.msg
    else:
        detail = what
    return {
        "type": "document_parsing_exception",
        "reason": f"[{line}:{column}] failed to parse: {detail}",
        "caused_by": {"type": "x_content_parse_exception", "reason": f"[{line}:{column}] {detail}"},
    }


class _Ingest:
    """The ingest routes' shared state: the service state and a sequence-number counter."""

    def __init__(self, state: ServiceState):
        self.state = state
        self.cluster_uuid = _cluster_uuid(Path(state.settings.data_dir))
        self.seq_no = 0
        self.console_home: Callable[[Request], Awaitable[Response]] | None = None

    @property
    def limit(self) -> int:
        return int(self.state.settings.max_request_bytes)

    def next_seq_no(self) -> int:
        value = self.seq_no
        self.seq_no += 1
        return value

    async def log(self, records: list[Record], unique: list[bool] | None = None) -> list[bool]:
        """Log records durably (fsync in a worker thread, so the event loop keeps serving);
        ``unique`` marks creates of named ids. Returns, per record, whether it was logged (a
        create of an id that exists is not)."""
        if not records:
            return []
        events = self.state.events
        if events is None:
            raise EsError(503, "unavailable_shards_exception", "the event log is not open")
        limit = int(self.state.settings.max_unflushed_events)
        if events.unflushed() >= limit:
            raise EsError(
                429,
                "es_rejected_execution_exception",
                f"rejected execution: {events.unflushed()} events are waiting to be stored"
                f" (max_unflushed_events {limit}); retry later",
            )
        try:
            logged: list[bool] = await anyio.to_thread.run_sync(
                functools.partial(events.append, records, unique=unique)
            )
            return logged
        except OSError as exc:
            raise EsError(
                503, "es_rejected_execution_exception", f"the event log cannot be written: {exc}"
            ) from exc

    # ------------------------------------------------------------------ routes

    async def root(self, request: Request) -> Response:
        """``GET /``: Elasticsearch's version info (or the console's home page for a browser)."""
        accept = request.headers.get("accept", "")
        if (
            request.method == "GET"
            and self.console_home is not None
            and "text/html" in accept
            and "elasticsearch" not in accept
        ):
            return await self.console_home(request)
        body = {
            "name": "vigil",
            "cluster_name": "vigil",
            "cluster_uuid": self.cluster_uuid,
            "version": {
                "number": ES_VERSION,
                "build_flavor": "default",
                "build_type": "tar",
                "build_hash": "0000000000000000000000000000000000000000",
                "build_date": "2025-01-01T00:00:00.000000000Z",
                "build_snapshot": False,
                "lucene_version": LUCENE_VERSION,
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0",
            },
            "tagline": "You Know, for Search",
        }
        if request.method == "HEAD":
            return Response(b"", 200, media_type="application/json")
        return json_response(body)

    async def health(self, request: Request) -> Response:
        """``GET /_cluster/health``: always green (one node, nothing to allocate)."""
        return json_response(
            {
                "cluster_name": "vigil",
                "status": "green",
                "timed_out": False,
                "number_of_nodes": 1,
                "number_of_data_nodes": 1,
                "active_primary_shards": 0,
                "active_shards": 0,
                "relocating_shards": 0,
                "initializing_shards": 0,
                "unassigned_shards": 0,
                "delayed_unassigned_shards": 0,
                "number_of_pending_tasks": 0,
                "number_of_in_flight_fetch": 0,
                "task_max_waiting_in_queue_millis": 0,
                "active_shards_percent_as_number": 100.0,
            }
        )

    async def bulk(self, request: Request) -> Response:
        """``/_bulk`` and ``/{index}/_bulk``."""
        started = time.perf_counter()
        _require_token(request, self.state)
        body = await _body(request, self.limit)
        default_index = request.path_params.get("index")
        plan = _parse_bulk(body, default_index)
        records: list[Record] = []
        unique: list[bool] = []  # a create of a named id: refused if the id exists (409)
        where: list[int] = []
        for k, (op, index, id_, doc, text, error, given) in enumerate(plan):
            if error is None and doc is not None and id_ is not None and text is not None:
                records.append((index, id_, doc, text))  # type: ignore[arg-type]
                unique.append(op == "create" and given)
                where.append(k)
        logged = await self.log(records, unique)
        conflicts = {where[j] for j, ok in enumerate(logged) if not ok}
        # The answer is written directly (the items of a large bulk are most of its cost): each
        # created item is what orjson writes for the dict of _created(..., with_status=True).
        dumps = orjson.dumps
        items: list[bytes] = []
        quoted: dict[str, bytes] = {}
        errors = False
        for k, (op, index, id_, _doc, _text, error, _given) in enumerate(plan):
            if k in conflicts:
                error = {**_conflict(index, id_ or ""), "status": 409}
            if error is not None:
                errors = True
                status = error.pop("status", 400)
                items.append(dumps({op: {"_index": index, "_id": id_, "status": status, "error": error}}))
                continue
            name = quoted.get(index)
            if name is None:
                name = quoted[index] = dumps(index)
            items.append(_CREATED % (dumps(op), name, dumps(id_ or ""), self.next_seq_no()))
        took = round((time.perf_counter() - started) * 1000)
        answer = b'{"errors":%s,"took":%d,"items":[%s]}' % (
            b"true" if errors else b"false",
            took,
            b",".join(items),
        )
        return Response(answer, 200, media_type="application/json")

    def _created(self, index: str, id_: str, *, with_status: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "_index": index,
            "_id": id_,
            "_version": 1,
            "result": "created",
            "_shards": dict(_SHARDS),
            "_seq_no": self.next_seq_no(),
            "_primary_term": 1,
        }
        if with_status:
            out["status"] = 201
        return out

    async def doc(self, request: Request, create: bool = False) -> Response:
        """``/{index}/_doc``, ``/{index}/_doc/{id}`` (``op_type=create``: as ``_create``)."""
        _require_token(request, self.state)
        index = request.path_params["index"]
        problem = _index_problem(index)
        if problem is not None:
            err = _index_error(index, problem)
            raise EsError(400, err.pop("type"), err.pop("reason"), extra=err)
        body = await _body(request, self.limit)
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            err = _parse_error(body, exc, "")
            raise EsError(400, err.pop("type"), err.pop("reason"), extra=err) from None
        if not isinstance(doc, dict):
            err = _parse_error(body, None, "the document is not a JSON object")
            raise EsError(400, err.pop("type"), err.pop("reason"), extra=err)
        given = request.path_params.get("id")
        text = body.strip()
        id_ = given if given else stable_id(text)
        if "winlog" in doc or "EventID" in doc:
            try:
                mapped = map_shipped(doc)
            except MAPPING_ERRORS as exc:
                err = mapping_error(exc)
                raise EsError(err.pop("status"), err.pop("type"), err.pop("reason")) from None
            if mapped is not None:
                doc, text = mapped, orjson.dumps(mapped)
        create = bool(given) and (create or request.query_params.get("op_type") == "create")
        # The body as it was sent is logged and stored, unless it spans lines (a WAL record is one).
        record: Record = (index, id_, doc, text) if b"\n" not in text else (index, id_, doc)
        if not (await self.log([record], [create]))[0]:
            err = _conflict(index, id_)
            raise EsError(409, err.pop("type"), err.pop("reason"), extra=err)
        return json_response(self._created(index, id_, with_status=False), 201)

    async def create(self, request: Request) -> Response:
        """``/{index}/_create/{id}``: a document whose id must not exist yet (else 409)."""
        return await self.doc(request, create=True)


#: (op, index, id, document or its glance, its JSON text, item error, whether the action named
#: the id)
_Planned = tuple[
    str, str, str | None, dict[str, Any] | Glance | None, bytes | None, dict[str, Any] | None, bool
]


def _parse_bulk(body: bytes, default_index: str | None) -> list[_Planned]:
    """The bulk body as :data:`_Planned` tuples, one per action.

    As in Elasticsearch, a malformed action line fails the whole request (400
    ``illegal_argument_exception``, nothing indexed), while a document that cannot be parsed
    fails only its item (400 ``document_parsing_exception``)."""
    lines = body.split(b"\n")
    out: list[_Planned] = []
    # Shippers repeat the same action line ({"index":{"_index":...}}): each distinct one is read
    # once per request, and each index name checked once.
    known: dict[bytes, tuple[str, str, str | None]] = {}
    problems: dict[str, str | None] = {}
    glance = Glancer()  # most documents are only glanced at (glance.py); the rest decoded
    n = 0
    while n < len(lines):
        raw = lines[n]
        n += 1
        line_no = n
        seen = known.get(raw)
        if seen is not None and seen[0] in ("index", "create") and n < len(lines) and lines[n].strip():
            op, index, id_ = seen
            source = lines[n]
            n += 1
        else:
            if not raw.strip():
                continue
            parsed = _action(raw, line_no, default_index)
            op, index, id_ = parsed
            known[raw] = parsed
            source = None
            if op != "delete":
                # The next line is the document (update's too), blank lines included, as in ES.
                if n >= len(lines) or not lines[n].strip():
                    raise EsError(
                        400,
                        "illegal_argument_exception",
                        f"The bulk request must be terminated by a newline [\\n]; action line [{line_no}] "
                        "has no document line",
                    )
                source = lines[n]
                n += 1
            if op in ("delete", "update"):
                out.append(
                    (
                        op,
                        index,
                        id_,
                        None,
                        None,
                        {
                            "type": "illegal_argument_exception",
                            "reason": f"[{op}] is not supported: vigil's event log is append-only",
                        },
                        id_ is not None,
                    )
                )
                continue
        assert source is not None
        text = source.strip()
        given = id_ is not None
        if id_ is None:
            id_ = stable_id(text)
        problem = problems.get(index, "")
        if problem == "":
            problem = problems[index] = _index_problem(index)
        if problem is not None:
            out.append((op, index, id_, None, None, _index_error(index, problem), given))
            continue
        glanced = glance(source)
        if glanced is not None:
            out.append((op, index, id_, glanced, text, None, given))
            continue
        try:
            doc = orjson.loads(source)
        except orjson.JSONDecodeError as exc:
            out.append((op, index, id_, None, None, _parse_error(source, exc, ""), given))
            continue
        if type(doc) is not dict:
            out.append(
                (
                    op,
                    index,
                    id_,
                    None,
                    None,
                    _parse_error(source, None, "the document is not a JSON object"),
                    given,
                )
            )
            continue
        if "winlog" in doc or "EventID" in doc:
            try:
                mapped = map_shipped(doc)
            except MAPPING_ERRORS as exc:
                out.append((op, index, id_, None, None, mapping_error(exc), given))
                continue
            if mapped is not None:
                # Winlogbeat 8.x / NXLog raw Windows records: stored mapped to ECS, as
                # Winlogbeat's ingest pipelines would store them (the id stays the sent text's).
                doc, text = mapped, orjson.dumps(mapped)
        out.append((op, index, id_, doc, text, None, given))
    if not out:
        raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
    return out


def _action(raw: bytes, line_no: int, default_index: str | None) -> tuple[str, str, str | None]:
    """(op, index, id) of a bulk action line; raises :class:`EsError` for a malformed one."""
    try:
        action = orjson.loads(raw)
    except orjson.JSONDecodeError:
        action = None
    if not isinstance(action, dict) or len(action) != 1:
        raise EsError(
            400,
            "illegal_argument_exception",
            f"Malformed action/metadata line [{line_no}], expected START_OBJECT with exactly one "
            "action ([create], [delete], [index] or [update])",
        )
    op, meta = next(iter(action.items()))
    if op not in ("index", "create", "delete", "update"):
        raise EsError(
            400,
            "illegal_argument_exception",
            f"Malformed action/metadata line [{line_no}], expected field [create], [delete], "
            f"[index] or [update] but found [{op}]",
        )
    if not isinstance(meta, dict):
        raise EsError(
            400,
            "illegal_argument_exception",
            f"Malformed action/metadata line [{line_no}], expected START_OBJECT but found "
            f"[{type(meta).__name__}]",
        )
    for key in ("_index", "_id"):
        if key in meta and not isinstance(meta[key], str | int | float | None):
            raise EsError(
                400,
                "illegal_argument_exception",
                f"Malformed action/metadata line [{line_no}], expected a simple value for field "
                f"[{key}] but found [{'START_OBJECT' if isinstance(meta[key], dict) else 'START_ARRAY'}]",
            )
    index = meta.get("_index", default_index)
    if isinstance(index, int | float) and not isinstance(index, bool):
        index = str(index)
    if not isinstance(index, str) or not index:
        raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
    raw_id = meta.get("_id")
    return op, index, None if raw_id is None or raw_id == "" else str(raw_id)


def ingest_routes(state: ServiceState, console_home: Any = None) -> list[BaseRoute]:
    """The ingest routes over ``state`` (``state.events`` must be an :class:`EventLog`);
    ``console_home``: the console's ``GET /`` endpoint, given to browsers asking for ``/``."""
    ingest = _Ingest(state)
    ingest.console_home = console_home
    write = ["POST", "PUT"]
    return [
        Route("/", ingest.root, methods=["GET", "HEAD"]),
        Route("/_cluster/health", ingest.health, methods=["GET"]),
        Route("/_bulk", ingest.bulk, methods=write),
        Route("/{index}/_bulk", ingest.bulk, methods=write),
        Route("/{index}/_doc", ingest.doc, methods=["POST"]),
        Route("/{index}/_doc/{id}", ingest.doc, methods=write),
        Route("/{index}/_create/{id}", ingest.create, methods=write),
    ]
