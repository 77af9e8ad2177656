"""The OpenAPI 3.1 description of the JSON API (:mod:`vigil.service.api`), served at
``/api/openapi.json``. Written by hand next to the routes; ``tests/test_service_api.py`` checks
that every route is described and that the status codes the tests see are the described ones."""

from __future__ import annotations

import copy
from typing import Any

from vigil import __version__ as _version

_ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


_COMMON_ERRORS = {
    "401": _error("No or wrong API token (reads are open only with `open_reads`)."),
    "500": _error("Unexpected failure; the message is generic, the service log has the details."),
}


def _responses(ok: dict[str, dict[str, Any]], *errors: tuple[str, str]) -> dict[str, Any]:
    out = dict(ok)
    for code, text in errors:
        out[code] = _error(text)
    out.update(_COMMON_ERRORS)
    return out


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


_RULE_ID = _path("rule_id", "The rule's `rule_id`.")
_ALERT_ID = _path("alert_id", "The alert's id (`kibana.alert.uuid`) or a unique prefix of it.")
_TOO_BIG = ("413", "The request body is larger than the API's cap.")
_NO_RULE = ("404", "No rule has this `rule_id`.")
_LIMIT = _query(
    "limit", "At most this many runs (default 100).", {"type": "integer", "minimum": 1, "maximum": 10000}
)
_NULLABLE_STR = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["status", "type", "message"],
                "properties": {
                    "status": {"type": "integer"},
                    "type": {"type": "string", "examples": ["bad_request", "unauthorized", "not_found"]},
                    "message": {"type": "string"},
                    "location": {
                        "type": ["object", "null"],
                        "description": "Where a rule file is wrong (rule import).",
                        "properties": {
                            "file": _NULLABLE_STR,
                            "line": {"type": "integer"},
                            "column": {"type": "integer"},
                        },
                    },
                    "problems": {
                        "type": "array",
                        "description": "Every problem of a refused rule file.",
                        "items": {"type": "object"},
                    },
                },
            }
        },
    },
    "Rule": {
        "type": "object",
        "properties": {
            "rule_id": {"type": "string"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "type": {"type": "string"},
            "language": {"type": "string"},
            "query": {"type": "string"},
            "index": {"type": "array", "items": {"type": "string"}},
            "interval": {"type": "string"},
            "from": {"type": "string"},
            "to": {"type": "string"},
            "max_signals": {"type": "integer"},
            "severity": {"type": "string"},
            "risk_score": {"type": "number"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "version": {"type": "integer"},
            "source": {"type": "string", "description": "The file the rule was loaded from."},
            "enabled": {"type": "boolean"},
            "supported": {"type": "boolean"},
            "unsupported_reason": _NULLABLE_STR,
            "last_run_at": _TIME,
            "last_duration_seconds": {"type": ["number", "null"]},
            "last_alerts": {"type": "integer"},
            "last_error": _NULLABLE_STR,
            "total_runs": {"type": "integer"},
            "total_alerts": {"type": "integer"},
            "gaps": {"type": "integer", "description": "Runs that reported a gap (time no run searched)."},
            "next_run_at": _TIME,
        },
    },
    "Alert": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "@timestamp": {"type": "string", "format": "date-time"},
            "rule_id": {"type": "string"},
            "rule_uuid": {"type": "string"},
            "rule_name": {"type": "string"},
            "severity": _NULLABLE_STR,
            "risk_score": {"type": ["number", "null"]},
            "host_name": _NULLABLE_STR,
            "user_name": _NULLABLE_STR,
            "workflow_status": {"type": "string", "enum": ["open", "acknowledged", "closed"]},
            "workflow_user": _NULLABLE_STR,
            "workflow_status_updated_at": _TIME,
            "original_time": _TIME,
            "building_block": {"type": "boolean"},
            "group_id": _NULLABLE_STR,
            "group_index": {"type": ["integer", "null"]},
            "reason": _NULLABLE_STR,
            "document": {"type": "object", "description": "The whole Kibana alert document (show only)."},
            "building_blocks": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Alert"},
                "description": "A sequence's building-block alerts (show only).",
            },
        },
    },
    "Run": {
        "type": "object",
        "properties": {
            "run_id": {"type": "integer"},
            "rule_id": {"type": "string"},
            "rule_name": {"type": "string"},
            "tick": {"type": "string", "format": "date-time"},
            "window_start": _TIME,
            "window_end": _TIME,
            "started": _TIME,
            "duration_seconds": {"type": "number"},
            "events_scanned": {"type": "integer"},
            "hits": {"type": "integer"},
            "alerts_created": {"type": "integer"},
            "duplicates": {"type": "integer"},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "errors": {"type": "array", "items": {"type": "string"}},
            "status": {"type": "string", "enum": ["succeeded", "partial failure", "failed"]},
        },
    },
    "RunList": {
        "type": "object",
        "properties": {"total": {"type": "integer"}, "runs": {"type": "array", "items": _ref("Run")}},
    },
}

_ALERT_FILTERS = [
    _query("status", "Workflow status.", {"type": "string", "enum": ["open", "acknowledged", "closed"]}),
    _query(
        "severity",
        "Severities, comma-separated or repeated.",
        {"type": "string", "examples": ["high,critical"]},
    ),
    _query("rule_id", "A rule id (or part of a rule name).", {"type": "string"}),
    _query(
        "host.name", "A host name: exact (case-insensitive) or a glob such as `ws-*`.", {"type": "string"}
    ),
    _query("user.name", "A user name: exact (case-insensitive) or a glob.", {"type": "string"}),
    _query("since", "Alerts created at or after: ISO 8601 or date math (`now-24h`).", {"type": "string"}),
    _query("until", "Alerts created at or before: ISO 8601 or date math.", {"type": "string"}),
    _query("building_blocks", "Also list sequences' building blocks.", {"type": "boolean"}),
    _query("page", "Page number, from 1 (with `per_page`).", {"type": "integer", "minimum": 1}),
    _query("per_page", "Alerts per page (default 50, at most 1000).", {"type": "integer", "minimum": 1}),
    _query("from", "Alerts to skip (Elasticsearch style, with `size`).", {"type": "integer", "minimum": 0}),
    _query("size", "At most this many alerts (0 to 1000).", {"type": "integer", "minimum": 0}),
    _query(
        "sort",
        "`field`, `field:asc`, `field:desc` or `-field`; fields: @timestamp, original_time, risk_score,"
        " severity, rule_name, workflow_status. Default: newest first.",
        {"type": "string"},
    ),
]

_PATHS: dict[str, Any] = {
    "/api/health": {
        "get": {
            "summary": "Health: scheduler state, last run, rules, alerts, event log statistics",
            "description": 'Answers everyone with `{"status": "ok"}`; the details need read access.',
            "security": [{}, {"bearer": []}, {"apiKey": []}],
            "responses": {
                "200": _ok(
                    "The service answers.",
                    {
                        "type": "object",
                        "required": ["status"],
                        "properties": {
                            "status": {"type": "string", "enum": ["ok", "degraded"]},
                            "started_at": _TIME,
                            "uptime_seconds": {"type": ["number", "null"]},
                            "scheduler": {"type": "object"},
                            "last_run_at": _TIME,
                            "rules": {"type": "object"},
                            "alerts": {"type": ["object", "null"]},
                            "events": {"type": ["object", "null"]},
                        },
                    },
                ),
                "500": _COMMON_ERRORS["500"],
            },
        }
    },
    "/api/openapi.json": {
        "get": {
            "summary": "This description",
            "security": [{}],
            "responses": {
                "200": _ok("OpenAPI 3.1 document.", {"type": "object"}),
                "500": _COMMON_ERRORS["500"],
            },
        }
    },
    "/api/rules": {
        "get": {
            "summary": "List the loaded rules (supported or not), their status and the files' problems",
            "parameters": [
                _query("enabled", "Only enabled (true) or disabled (false) rules.", {"type": "boolean"})
            ],
            "responses": _responses(
                {
                    "200": _ok(
                        "The rules.",
                        {
                            "type": "object",
                            "properties": {
                                "total": {"type": "integer"},
                                "rules": {"type": "array", "items": _ref("Rule")},
                                "problems": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                    )
                },
                ("400", "A bad query parameter."),
            ),
        }
    },
    "/api/rules/_import": {
        "post": {
            "summary": "Import a rule file (detection-rules TOML, Kibana NDJSON export, rule doc page)",
            "description": "The file as the raw body (its name in `?name=`) or as the form field `file` of a"
            " multipart/form-data upload. A file with errors is refused whole (400, with `location` and"
            " `problems`). The file is kept in the data directory and loaded again after a restart; a"
            " new import under the same name replaces it.",
            "parameters": [_query("name", "The file name to keep it under.", {"type": "string"})],
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string"}},
                    "text/plain": {"schema": {"type": "string"}},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                        }
                    },
                },
            },
            "responses": _responses(
                {
                    "201": _ok(
                        "The rules of the file, loaded.",
                        {
                            "type": "object",
                            "properties": {"imported": {"type": "array", "items": _ref("Rule")}},
                        },
                    )
                },
                (
                    "400",
                    "Not a rule file, not UTF-8, or a rule file with errors (with `location`, `problems`).",
                ),
                _TOO_BIG,
            ),
        }
    },
    "/api/rules/{rule_id}": {
        "get": {
            "summary": "Show a rule",
            "parameters": [_RULE_ID],
            "responses": _responses({"200": _ok("The rule.", _ref("Rule"))}, _NO_RULE),
        }
    },
    "/api/rules/{rule_id}/_enable": {
        "post": {
            "summary": "Enable a rule (persisted across restarts)",
            "parameters": [_RULE_ID],
            "responses": _responses(
                {"200": _ok("The rule.", _ref("Rule"))},
                _NO_RULE,
                ("409", "vigil cannot run this rule (its type or query); it stays disabled."),
                _TOO_BIG,
            ),
        }
    },
    "/api/rules/{rule_id}/_disable": {
        "post": {
            "summary": "Disable a rule (persisted across restarts)",
            "parameters": [_RULE_ID],
            "responses": _responses({"200": _ok("The rule.", _ref("Rule"))}, _NO_RULE, _TOO_BIG),
        }
    },
    "/api/rules/{rule_id}/runs": {
        "get": {
            "summary": "The recorded runs of a rule, newest first",
            "parameters": [_RULE_ID, _LIMIT],
            "responses": _responses(
                {"200": _ok("The runs.", _ref("RunList"))}, _NO_RULE, ("400", "A bad query parameter.")
            ),
        }
    },
    "/api/alerts": {
        "get": {
            "summary": "List alerts with filters, paging and sorting",
            "description": "A sequence counts as one alert (its shell) unless `building_blocks=true`."
            " `total` is the number of alerts matching the filters.",
            "parameters": _ALERT_FILTERS,
            "responses": _responses(
                {
                    "200": _ok(
                        "A page of alerts.",
                        {
                            "type": "object",
                            "properties": {
                                "total": {"type": "integer"},
                                "page": {"type": "integer"},
                                "per_page": {"type": "integer"},
                                "from": {"type": "integer"},
                                "size": {"type": "integer"},
                                "alerts": {"type": "array", "items": _ref("Alert")},
                            },
                        },
                    )
                },
                ("400", "A bad filter, page or sort."),
            ),
        }
    },
    "/api/alerts/{alert_id}": {
        "get": {
            "summary": "Show an alert: its whole document and a sequence's building blocks",
            "parameters": [_ALERT_ID],
            "responses": _responses(
                {"200": _ok("The alert.", _ref("Alert"))},
                ("400", "The id prefix matches more than one alert."),
                ("404", "No alert has this id."),
            ),
        }
    },
    "/api/alerts/{alert_id}/status": {
        "post": {
            "summary": "Set an alert's workflow status, recording who and when",
            "parameters": [_ALERT_ID],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["status"],
                            "properties": {
                                "status": {"type": "string", "enum": ["open", "acknowledged", "closed"]},
                                "by": {"type": "string", "description": "Who changes it (default `api`)."},
                                "building_blocks": {
                                    "type": "boolean",
                                    "description": "Also change a sequence's building blocks.",
                                },
                            },
                        },
                        "example": {"status": "acknowledged", "by": "analyst1"},
                    }
                },
            },
            "responses": _responses(
                {"200": _ok("The alert, changed.", _ref("Alert"))},
                ("400", "Not a JSON object, a bad status or `by`, or an ambiguous id prefix."),
                ("404", "No alert has this id."),
                _TOO_BIG,
            ),
        }
    },
    "/api/runs": {
        "get": {
            "summary": "Recorded rule runs, newest first",
            "parameters": [_query("rule_id", "Only this rule's runs.", {"type": "string"}), _LIMIT],
            "responses": _responses(
                {"200": _ok("The runs.", _ref("RunList"))}, ("400", "A bad query parameter.")
            ),
        }
    },
}


def openapi_spec() -> dict[str, Any]:
    """The OpenAPI 3.1 document (a fresh copy: callers may change it)."""
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "vigil service API",
                "version": _version,
                "description": "Rules, alerts, runs and health of `vigil serve`. Writes need the API token;"
                " reads too unless the service opens them (`open_reads`). Errors are JSON objects"
                ' `{"error": {"status", "type", "message"}}`; unknown `/api/` paths answer 404,'
                " a known path with another method 405.",
            },
            "servers": [{"url": "/"}],
            "security": [{"bearer": []}, {"apiKey": []}],
            "paths": _PATHS,
            "components": {
                "schemas": _SCHEMAS,
                "securitySchemes": {
                    "bearer": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "`Authorization: Bearer <token>`",
                    },
                    "apiKey": {
                        "type": "apiKey",
                        "in": "header",
                        "name": "Authorization",
                        "description": "`Authorization: ApiKey <token>` (or base64 of `id:token`, as the"
                        " Elasticsearch clients send it)",
                    },
                },
            },
        }
    )
