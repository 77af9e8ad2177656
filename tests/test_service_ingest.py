"""The Elasticsearch-compatible ingest API of ``vigil serve``, driven by the official client.

A real uvicorn server runs the application in a thread on a free port; the official
``elasticsearch`` client (its product check included) and raw ``httpx`` requests talk to it.
Expected shapes follow Elasticsearch 8.x's documented ``_bulk`` and error responses.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from vigil.service.app import build_state, create_app
from vigil.service.settings import Settings
from vigil.service.state import ServiceState
from vigil.sources import stable_id

elasticsearch = pytest.importorskip("elasticsearch")
from elasticsearch import ApiError, AuthenticationException, Elasticsearch, helpers  # noqa: E402

TOKEN = "test-token-0123456789"
CAP = 256 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """The service in a thread (uvicorn), with its state at hand."""

    def __init__(self, data_dir: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = Settings(data_dir=data_dir, api_token=TOKEN, port=self.port, max_request_bytes=CAP)
        self.state: ServiceState = build_state(settings)
        config = uvicorn.Config(create_app(self.state), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        while not self.server.started:  # readiness, not a timing assertion
            if not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("service")) as s:
        yield s


def _client(server: Server, **auth: Any) -> Elasticsearch:
    return Elasticsearch(server.url, **(auth or {"api_key": TOKEN}))


def _ids(server: Server, index: str) -> list[str]:
    return [e.id for e in server.state.events.events(index=lambda name: name == index)]


def _raw(body: bytes) -> Any:
    """An NDJSON body the client sends as it is (it types ``operations`` as a list of dicts)."""
    return body.decode()


def _ecs(i: int) -> dict[str, Any]:
    return {
        "@timestamp": f"2024-05-14T08:{i % 60:02d}:00Z",
        "event": {"category": ["process"], "type": ["start"], "kind": "event"},
        "host": {"name": f"ws-{i % 7}"},
        "process": {"name": "cmd.exe", "pid": 1000 + i, "command_line": f"cmd.exe /c echo {i}"},
    }


def test_info_and_product_check(server: Server) -> None:
    info = _client(server).info()  # raises UnsupportedProductError without the product header
    assert info["version"]["number"].startswith("8.")
    assert info["version"]["build_flavor"] == "default"
    assert info["tagline"] == "You Know, for Search"
    for key in ("name", "cluster_name", "cluster_uuid"):
        assert info[key]
    for key in ("lucene_version", "minimum_wire_compatibility_version"):
        assert info["version"][key]
    head = httpx.head(server.url + "/")
    assert head.status_code == 200
    assert head.headers["x-elastic-product"] == "Elasticsearch"
    assert _client(server).cluster.health()["status"] == "green"


def test_helpers_bulk_with_api_key(server: Server) -> None:
    es = _client(server)
    actions = [{"_index": "logs-endpoint.events.process-default", "_source": _ecs(i)} for i in range(2000)]
    ok, errors = helpers.bulk(es, actions, chunk_size=500)
    assert (ok, errors) == (2000, [])
    ids = _ids(server, "logs-endpoint.events.process-default")
    assert len(ids) == 2000
    # Documents without _id get the id `vigil hunt` gives the same bytes: stable across restarts.
    assert ids[0] == stable_id(orjson.dumps(_ecs(0)))


def test_bearer_auth_and_item_shape(server: Server) -> None:
    es = _client(server, bearer_auth=TOKEN)
    response = es.bulk(
        operations=[
            {"index": {"_index": "bearer-a", "_id": "one"}},
            {"a": 1},
            {"create": {"_id": "two"}},
            {"a": 2},
        ],
        index="bearer-a",
        refresh="wait_for",
    )
    assert response["errors"] is False
    assert isinstance(response["took"], int)
    first, second = response["items"]
    assert first == {
        "index": {
            "_index": "bearer-a",
            "_id": "one",
            "_version": 1,
            "result": "created",
            "_shards": {"total": 1, "successful": 1, "failed": 0},
            "_seq_no": first["index"]["_seq_no"],
            "_primary_term": 1,
            "status": 201,
        }
    }
    assert second["create"]["_id"] == "two"
    assert second["create"]["status"] == 201
    assert _ids(server, "bearer-a") == ["one", "two"]
    doc = es.index(index="bearer-b", id="x1", document={"b": 1})
    assert (doc["result"], doc["_id"], doc["_index"]) == ("created", "x1", "bearer-b")
    assert es.create(index="bearer-b", id="x2", document={"b": 2})["result"] == "created"
    auto = es.index(index="bearer-b", document={"b": 3})
    assert auto["_id"] == stable_id(b'{"b":3}')
    assert _ids(server, "bearer-b") == ["x1", "x2", auto["_id"]]


def test_per_item_errors_in_elasticsearch_shape(server: Server) -> None:
    body = (
        b'{"index":{"_index":"items"}}\n{"ok":1}\n'
        b'{"index":{"_index":"items","_id":"bad"}}\n{"broken": \n'
        b'{"create":{"_index":"items","_id":"arr"}}\n[1,2]\n'
        b'{"index":{"_index":"Items"}}\n{"ok":2}\n'
        b'{"delete":{"_index":"items","_id":"d"}}\n'
        b'{"update":{"_index":"items","_id":"u"}}\n{"doc":{"a":1}}\n'
        b'{"index":{"_index":"items","_id":"last"}}\n{"ok":3}\n'
    )
    response = _client(server).bulk(operations=_raw(body))
    assert response["errors"] is True
    items = response["items"]
    assert [next(iter(i)) for i in items] == [
        "index",
        "index",
        "create",
        "index",
        "delete",
        "update",
        "index",
    ]
    statuses = [next(iter(i.values()))["status"] for i in items]
    assert statuses == [201, 400, 400, 400, 400, 400, 201]
    bad = items[1]["index"]
    assert bad["_index"] == "items" and bad["_id"] == "bad"
    assert bad["error"]["type"] == "document_parsing_exception"
    assert bad["error"]["reason"].startswith("[1:")
    assert bad["error"]["caused_by"]["type"] == "x_content_parse_exception"
    assert items[2]["create"]["error"]["type"] == "document_parsing_exception"
    assert items[3]["index"]["error"] == {
        "type": "invalid_index_name_exception",
        "reason": "Invalid index name [Items], must be lowercase",
        "index_uuid": "_na_",
        "index": "Items",
    }
    for op in ("delete", "update"):
        item = next(i[op] for i in items if op in i)
        assert item["error"]["type"] == "illegal_argument_exception"
        assert "result" not in item
    # The good items were indexed, the bad ones not.
    assert _ids(server, "items") == [items[0]["index"]["_id"], "last"]
    with pytest.raises(helpers.BulkIndexError) as caught:
        helpers.bulk(_client(server), [{"_index": "BAD", "_source": {"a": 1}}])
    assert caught.value.errors[0]["index"]["status"] == 400


def test_malformed_action_line_fails_the_request_as_elasticsearch_does(server: Server) -> None:
    before = len(_ids(server, "malformed"))
    for body, fragment in (
        (
            b'{"index":{"_index":"malformed"}}\n{"a":1}\nnot json\n{"a":2}\n',
            "Malformed action/metadata line [3]",
        ),
        (b'{"frobnicate":{"_index":"malformed"}}\n{"a":1}\n', "but found [frobnicate]"),
        (b'{"index":{"_index":"malformed"}}\n', "document line"),
    ):
        with pytest.raises(ApiError) as caught:
            _client(server).bulk(operations=_raw(body))
        assert caught.value.status_code == 400
        error = caught.value.body["error"]
        assert error["type"] == "illegal_argument_exception"
        assert error["root_cause"][0]["type"] == "illegal_argument_exception"
        assert fragment in error["reason"]
        assert caught.value.body["status"] == 400
    with pytest.raises(ApiError) as empty:
        _client(server).bulk(operations=_raw(b"\n"))
    assert empty.value.body["error"]["type"] == "action_request_validation_exception"
    assert len(_ids(server, "malformed")) == before  # nothing of a refused request was indexed


def test_writes_need_the_token(server: Server) -> None:
    for es in (Elasticsearch(server.url), _client(server, api_key="wrong"), _client(server, bearer_auth="x")):
        with pytest.raises(AuthenticationException) as caught:
            es.index(index="secret", document={"a": 1})
        assert caught.value.status_code == 401
        assert caught.value.body["error"]["type"] == "security_exception"
        assert caught.value.body["status"] == 401
        assert "WWW-Authenticate" in caught.value.meta.headers
    assert Elasticsearch(server.url).info()["tagline"]  # reads of / need no token
    assert _ids(server, "secret") == []


def test_request_size_cap(server: Server) -> None:
    line = orjson.dumps({"index": {"_index": "big"}}) + b"\n" + orjson.dumps({"x": "y" * 1000}) + b"\n"
    body = line * (CAP // len(line) + 10)
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/x-ndjson"}
    response = httpx.post(server.url + "/_bulk", content=body, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "content_too_long_exception"
    assert response.headers["x-elastic-product"] == "Elasticsearch"
    # Compressed bodies are capped after decompression too (a gzip bomb is refused).
    bomb = gzip.compress(body)
    assert len(bomb) < CAP
    response = httpx.post(
        server.url + "/_bulk", content=bomb, headers={**headers, "content-encoding": "gzip"}
    )
    assert response.status_code == 413
    with pytest.raises(ApiError) as caught:
        _client(server).bulk(operations=_raw(body))
    assert caught.value.status_code == 413
    # A compressed body within the cap is accepted (the client's http_compress option).
    es = Elasticsearch(server.url, api_key=TOKEN, http_compress=True)
    assert helpers.bulk(es, [{"_index": "gz", "_source": {"a": i}} for i in range(50)]) == (50, [])
    assert len(_ids(server, "gz")) == 50


def test_unknown_routes_and_methods(server: Server) -> None:
    response = httpx.get(server.url + "/no/such/route")
    assert response.status_code == 404
    assert response.json()["status"] == 404
    assert response.headers["x-elastic-product"] == "Elasticsearch"
    response = httpx.get(server.url + "/_bulk")
    assert response.status_code == 405
    assert response.json()["status"] == 405


def test_crafted_requests_never_give_500(server: Server) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    cases: list[tuple[str, str, bytes, dict[str, str]]] = [
        ("POST", "/_bulk", b"\x00\xff\xfe garbage", auth),
        ("POST", "/_bulk", b"[]\n", auth),
        ("POST", "/_bulk", b'{"index":[]}\n{}\n', auth),
        ("POST", "/_bulk", b'{"index":{"_index":5}}\n{}\n', auth),
        ("POST", "/_bulk", b'{"index":{"_index":"a","_id":{"x":1}}}\n{}\n', auth),
        ("POST", "/_bulk", b'{"index":{}}\n{}\n', auth),
        ("POST", "/_bulk", b"\n\n\n", auth),
        ("POST", "/_bulk", b"not gzip", {**auth, "content-encoding": "gzip"}),
        ("POST", "/_bulk", b"{}", {**auth, "content-encoding": "br"}),
        ("POST", "/x/_doc", b"", auth),
        ("POST", "/x/_doc", b"12", auth),
        ("POST", "/x/_doc", b'{"a":1', auth),
        ("PUT", "/_x/_doc/1", b"{}", auth),
        ("POST", "/x/_doc", b"{}", {"authorization": "Basic Zm9vOmJhcg=="}),
        ("POST", "/x/_doc", b"{}", {"authorization": "ApiKey !!!"}),
        ("POST", "/x/_doc", b"{}", {**auth, "content-length": "abc"}),
        ("GET", "/%00/_doc", b"", auth),
        ("DELETE", "/", b"", auth),
    ]
    with httpx.Client(base_url=server.url) as http:
        for method, path, body, headers in cases:
            try:
                response = http.request(method, path, content=body, headers=headers)
            except httpx.HTTPError:
                continue  # refused at the protocol level (e.g. a bad content-length)
            assert response.status_code < 500, (method, path, body, response.text)
            assert "Traceback" not in response.text
            assert isinstance(response.json(), dict)


def test_created_items_are_written_as_the_dict_shape() -> None:
    """The bulk answer's created items are written directly: byte for byte what orjson writes for
    the item's dict (keys in Elasticsearch's order)."""
    from vigil.service import ingest

    for op, index, id_ in [
        ("index", "logs-a", "x"),
        ("create", "logs-b", 'q"uote\\é\u2028'),
        ("index", "i", ""),
    ]:
        item = {
            op: {
                "_index": index,
                "_id": id_,
                "_version": 1,
                "result": "created",
                "_shards": {"total": 1, "successful": 1, "failed": 0},
                "_seq_no": 17,
                "_primary_term": 1,
                "status": 201,
            }
        }
        written = ingest._CREATED % (orjson.dumps(op), orjson.dumps(index), orjson.dumps(id_), 17)
        assert written == orjson.dumps(item)


def test_repeated_action_lines_and_errors_after_them(tmp_path: Path) -> None:
    """Action lines repeated in a request are read once; a malformed one after them still fails
    the request with its line number, and a repeated action without its document line too."""
    from vigil.service.ingest import EsError, _parse_bulk

    action = b'{"index":{"_index":"logs-a"}}'
    doc = b'{"@timestamp":"2024-05-14T08:00:00Z","n":1}'
    plan = _parse_bulk(b"\n".join([action, doc, action, b" " + doc, action, b"[1]", b""]), None)
    assert [p[0] for p in plan] == ["index"] * 3 and [p[5] is None for p in plan] == [True, True, False]
    assert plan[0][4] == doc and plan[1][4] == doc  # the text as sent, without surrounding blanks
    assert plan[0][2] == plan[1][2]  # the same document: the same id
    with pytest.raises(EsError) as bad:
        _parse_bulk(b"\n".join([action, doc, action, doc, b'{"nope":{}}', doc, b""]), None)
    assert "[5]" in bad.value.reason
    with pytest.raises(EsError) as missing:
        _parse_bulk(b"\n".join([action, doc, action, b"", b""]), None)
    assert "action line [3]" in missing.value.reason


def test_create_of_an_existing_id_is_a_version_conflict(server: Server) -> None:
    """``create`` of an ``_id`` the index holds already answers that item with 409
    ``version_conflict_engine_exception`` (``errors: true``), as Elasticsearch does, whether the
    first event is still in the write-ahead log, in the store, or earlier in the same request."""
    from elasticsearch import ConflictError

    es = _client(server)
    index = "logs-create-default"
    first = [{"_op_type": "create", "_index": index, "_id": f"c{i}", "_source": _ecs(i)} for i in range(3)]
    assert helpers.bulk(es, first) == (3, [])
    again = [
        {"_op_type": "create", "_index": index, "_id": "c1", "_source": _ecs(1)},  # logged before
        {"_op_type": "create", "_index": index, "_id": "new", "_source": _ecs(5)},
        {"_op_type": "create", "_index": index, "_id": "new", "_source": _ecs(6)},  # same request
        {"_op_type": "create", "_index": "logs-other-default", "_id": "c1", "_source": _ecs(1)},
        {"_op_type": "index", "_index": index, "_id": "c2", "_source": _ecs(2)},  # index: appended
        {"_op_type": "create", "_index": index, "_source": _ecs(7)},  # no _id: never a conflict
    ]
    response = es.bulk(operations=[x for a in again for x in _bulk_lines(a)])
    assert response["errors"] is True
    statuses = [next(iter(item.values()))["status"] for item in response["items"]]
    assert statuses == [409, 201, 409, 201, 201, 201]
    conflict = response["items"][0]["create"]
    assert conflict["_index"] == index and conflict["_id"] == "c1"
    assert conflict["error"]["type"] == "version_conflict_engine_exception"
    assert (
        conflict["error"]["reason"] == "[c1]: version conflict, document already exists (current version [1])"
    )
    assert conflict["error"]["index"] == index
    ok, errors = helpers.bulk(es, again[:1], raise_on_error=False)
    assert ok == 0 and errors[0]["create"]["status"] == 409  # type: ignore[index]
    # Once flushed into the store, the ids are found there.
    server.state.events.flush()
    assert server.state.events.stats()["unflushed_events"] == 0
    stored = es.bulk(operations=_bulk_lines(again[0]) + _bulk_lines(again[1]))
    assert [next(iter(i.values()))["status"] for i in stored["items"]] == [409, 409]
    assert sorted(_ids(server, index)).count("c1") == 1
    # The single-document API.
    assert es.create(index=index, id="single", document=_ecs(9))["result"] == "created"
    with pytest.raises(ConflictError) as exc:
        es.create(index=index, id="single", document=_ecs(9))
    assert exc.value.meta.status == 409
    assert exc.value.body["error"]["type"] == "version_conflict_engine_exception"
    assert es.index(index=index, id="single", document=_ecs(9))["result"] == "created"  # index: appended
    with pytest.raises(ConflictError):
        es.index(index=index, id="single", document=_ecs(9), op_type="create")
    assert _ids(server, index).count("single") == 2


def _bulk_lines(action: dict[str, Any]) -> list[dict[str, Any]]:
    meta = {"_index": action["_index"]}
    if "_id" in action:
        meta["_id"] = action["_id"]
    return [{action["_op_type"]: meta}, action["_source"]]


def test_writes_are_refused_with_429_while_too_many_events_wait(tmp_path: Path) -> None:
    """Past ``max_unflushed_events`` acknowledged events not yet stored, writes get 429
    ``es_rejected_execution_exception`` (the clients' bulk helpers retry those) until the flush
    catches up; nothing of a refused request is logged."""
    from starlette.testclient import TestClient

    settings = Settings(data_dir=tmp_path, api_token=TOKEN, max_unflushed_events=4)
    state = build_state(settings)
    client = TestClient(create_app(state))  # no lifespan: no background flush
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
    body = b"".join(b'{"index":{"_index":"logs-a"}}\n' + orjson.dumps(_ecs(i)) + b"\n" for i in range(4))
    assert client.post("/_bulk", content=body, headers=headers).json()["errors"] is False
    refused = client.post("/_bulk", content=body, headers=headers)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "es_rejected_execution_exception"
    doc = client.post("/logs-a/_doc", content=orjson.dumps(_ecs(9)), headers=headers)
    assert doc.status_code == 429
    assert state.events.unflushed() == 4
    state.events.flush()
    assert client.post("/_bulk", content=body, headers=headers).json()["errors"] is False
    state.events.close()
