"""Alerts from a rule's query result, built and identified exactly as Kibana's EQL rule does.

For an **event query** every event becomes one alert (Kibana's ``wrapHits``): the event's
``_source`` (made ECS-safe, :mod:`vigil.alerts.ecs`) plus the ``kibana.alert.*`` fields. Its id is
deterministic::

    kibana.alert.uuid = sha256(_index + _id + String(_version) + "<space id>:<rule uuid>")

An ``_eql/search`` hit carries no ``_version``, so Kibana hashes the text ``"undefined"`` there, and
so does vigil: the same event and rule give the same id in Kibana and here.

For a **sequence** of N events (missing-event steps left out) Kibana writes N *building block*
alerts, one per event, and one *shell* alert that stands for the sequence
(``buildAlertGroupFromSequence``):

* building block ``i``: ``sha256(B + String(i))`` where ``B`` concatenates, for every event in
  order, the ``id`` and ``index`` of each of its ancestors and then the rule uuid; it has
  ``kibana.alert.building_block_type: "default"``, ``kibana.alert.group.id`` (the shell's id)
  and ``kibana.alert.group.index: i``;
* the shell: ``sha256(A + rule uuid)`` where ``A`` concatenates ``id`` and ``index`` of its
  ancestors: for each building block, the block's ancestors then the block itself
  (``index: ""``, ``type: "signal"``, ``depth: 1``). It carries the fields all building blocks
  share (:func:`vigil.alerts.js.object_array_intersection`), ``kibana.alert.depth: 2`` and
  ``kibana.alert.group.id`` = its own id. As in Kibana, its ``kibana.alert.original_time`` is read
  from the first building block's ``@timestamp``, which is the run time; and as in current
  Kibana, whose intersection writes a path nested unless both sides wrote it dotted, the shared
  part of the blocks' ``kibana.alert.rule.parameters`` also lands nested under ``kibana``.
  Arrays of objects never intersect (lodash compares objects by identity), so such shared
  values come out as ``[]``.

Every alert then gets the fields Kibana's alerting framework adds when it writes alerts
(``kibana.version``, ``kibana.alert.start``, ``kibana.alert.rule.execution.uuid``, ...). Kibana's
bulk order is kept: the shell first, then the building blocks.

``kibana.alert.original_time`` is the event's ``@timestamp`` (Kibana reads ``@timestamp`` there
whatever the rule's ``timestamp_override``), normalised as Elasticsearch returns dates and printed
by JavaScript's ``toISOString``. ``kibana.alert.reason`` is :func:`vigil.alerts.reason.reason_message`.
"""

from __future__ import annotations

import copy
import hashlib
import uuid as uuid_module
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from vigil.alerts.ecs import prepare_copy
from vigil.alerts.js import (
    UNDEFINED,
    flatten_with_prefix,
    is_number,
    iso_from_epoch_millis,
    iso_millis,
    js_number,
    json_copy,
    lodash_get,
    object_array_intersection,
    robust_get,
    robust_unset,
)
from vigil.alerts.reason import reason_message
from vigil.ecs.values import parse_date
from vigil.engine.model import Event, QueryResult, materialize
from vigil.rules.model import Rule, Threat

# The Kibana release whose alert documents vigil writes (``kibana.version``).
KIBANA_VERSION = "9.1.0"
SERVER_APP_ID = "siem"
EQL_RULE_TYPE_ID = "siem.eqlRule"
EQL_RULE_TYPE_NAME = "Event Correlation Rule"
ALERTS_INDEX = ".alerts-security.alerts"
_APP_PATH = "/app/security"
# A fixed namespace, so a run's execution uuid is reproducible (Kibana draws a random one).
_EXECUTION_NAMESPACE = uuid_module.UUID("6f0c1e4b-5a1d-4c55-9d53-7b1f0a2e9c11")

ALERT_UUID = "kibana.alert.uuid"
ALERT_ANCESTORS = "kibana.alert.ancestors"
ALERT_DEPTH = "kibana.alert.depth"
ALERT_GROUP_ID = "kibana.alert.group.id"
ALERT_GROUP_INDEX = "kibana.alert.group.index"
ALERT_BUILDING_BLOCK_TYPE = "kibana.alert.building_block_type"
ALERT_ORIGINAL_TIME = "kibana.alert.original_time"
ALERT_RULE_UUID = "kibana.alert.rule.uuid"
ALERT_URL = "kibana.alert.url"


@dataclass(frozen=True)
class AlertGroup:
    """The alerts of one hit: one alert for an event, or a shell and its building blocks for a
    sequence. ``primary_id`` is the alert that counts (for deduplication and ``max_signals``):
    the event's alert, or the sequence's shell alert. ``original_time`` is the time of the
    (first) event, as ISO 8601 text. Documents are JSON-ready dicts; treat them as read-only."""

    primary_id: str
    alerts: tuple[dict[str, Any], ...]
    original_time: str | None
    rule_id: str = ""
    rule_uuid: str = ""
    kind: Literal["event", "sequence"] = "event"

    @property
    def primary(self) -> dict[str, Any]:
        """The alert that stands for the hit (the shell alert of a sequence)."""
        for doc in self.alerts:
            if doc.get(ALERT_UUID) == self.primary_id:
                return doc
        return self.alerts[0]

    @property
    def building_blocks(self) -> tuple[dict[str, Any], ...]:
        """The building-block alerts of a sequence, in step order (empty for an event alert)."""
        return tuple(doc for doc in self.alerts if ALERT_GROUP_INDEX in doc)

    @property
    def ids(self) -> tuple[str, ...]:
        """The ids of all the group's alerts."""
        return tuple(str(doc[ALERT_UUID]) for doc in self.alerts)


# --------------------------------------------------------------------------- ids


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def alert_id_of_event(
    index: str, event_id: str, rule_uuid: str, *, space_id: str = "default", version: int | str | None = None
) -> str:
    """Kibana's id of the alert a rule raises on one event (``generateId``). ``version`` is the
    hit's ``_version``; ``_eql/search`` returns none, which Kibana hashes as ``"undefined"``."""
    version_text = "undefined" if version is None else str(version)
    return _sha256(index + event_id + version_text + f"{space_id}:{rule_uuid}")


def _ancestor_text(ancestors: Iterable[Mapping[str, Any]]) -> str:
    return "".join(f"{a.get('id', '')}{a.get('index', '')}" for a in ancestors)


def alert_id_of_ancestors(ancestors: Sequence[Mapping[str, Any]], rule_uuid: str) -> str:
    """Kibana's ``generateAlertId``: the id of an alert from its ancestors (the shell alert)."""
    return _sha256(_ancestor_text(ancestors) + rule_uuid)


def building_block_ids(ancestor_lists: Sequence[Sequence[Mapping[str, Any]]], rule_uuid: str) -> list[str]:
    """Kibana's ``generateBuildingBlockIds``: one id per building block, each depending on the
    ancestors of all blocks of the sequence."""
    base = "".join(_ancestor_text(ancestors) + rule_uuid for ancestors in ancestor_lists)
    return [_sha256(base + str(i)) for i in range(len(ancestor_lists))]


def sequence_alert_ids(events: Sequence[Event | None], rule_uuid: str) -> tuple[str, list[str]]:
    """The shell id and building-block ids Kibana gives a sequence, without building it."""
    present = [complete_copy(e) for e in events if e is not None]
    lists = [_ancestors_of(e) for e in present]
    block_ids = building_block_ids(lists, rule_uuid)
    shell_ancestors: list[dict[str, Any]] = []
    for ancestors, block_id in zip(lists, block_ids, strict=True):
        shell_ancestors.extend(ancestors)
        shell_ancestors.append(_block_parent(block_id, rule_uuid, 1))
    return alert_id_of_ancestors(shell_ancestors, rule_uuid), block_ids


# --------------------------------------------------------------------------- ancestry


def _field(source: dict[str, Any], alert_field: str, legacy_field: str) -> Any:
    if source.get(ALERT_UUID) is not None:
        return lodash_get(source, alert_field)
    return lodash_get(source, legacy_field)


def _is_alert(source: dict[str, Any]) -> bool:
    return source.get("signal") is not None or source.get(ALERT_UUID) is not None


def _parent_of(event: Event) -> dict[str, Any]:
    """Kibana's ``buildParent``: the ancestor entry for an event (or for an alert used as one)."""
    source = event.source
    if not _is_alert(source):
        return {"id": event.id, "type": "event", "index": event.index, "depth": 0}
    depth = _field(source, ALERT_DEPTH, "signal.depth")
    parent: dict[str, Any] = {
        "id": event.id,
        "type": "signal",
        "index": event.index,
        "depth": depth if depth is not None and depth is not UNDEFINED else 1,
    }
    rule = _field(source, ALERT_RULE_UUID, "signal.rule.id")
    if rule is not UNDEFINED:
        parent["rule"] = rule
    return parent


def _ancestors_of(event: Event) -> list[dict[str, Any]]:
    """Kibana's ``buildAncestors``: the event's own ancestors (when it is an alert), then itself."""
    existing = _field(event.source, ALERT_ANCESTORS, "signal.ancestors") if _is_alert(event.source) else None
    earlier = [dict(a) for a in existing if isinstance(a, dict)] if isinstance(existing, list) else []
    return [*earlier, _parent_of(event)]


def _block_parent(block_id: str, rule_uuid: str, depth: int) -> dict[str, Any]:
    return {"id": block_id, "type": "signal", "index": "", "depth": depth, "rule": rule_uuid}


# --------------------------------------------------------------------------- rule fields


def _threat_json(threats: Sequence[Threat]) -> list[dict[str, Any]]:
    out = []
    for threat in threats:
        entry: dict[str, Any] = {
            "framework": threat.framework,
            "tactic": {
                "id": threat.tactic.id,
                "name": threat.tactic.name,
                "reference": threat.tactic.reference,
            },
        }
        if threat.techniques:
            techniques = []
            for tech in threat.techniques:
                t: dict[str, Any] = {
                    "id": tech.entry.id,
                    "name": tech.entry.name,
                    "reference": tech.entry.reference,
                }
                if tech.subtechniques:
                    t["subtechnique"] = [
                        {"id": s.id, "name": s.name, "reference": s.reference} for s in tech.subtechniques
                    ]
                techniques.append(t)
            entry["technique"] = techniques
        out.append(entry)
    return out


def _alert_suppression_json(rule: Rule) -> dict[str, Any] | None:
    raw = rule.extra.get("alert_suppression")
    if isinstance(raw, dict):
        return raw
    suppression = rule.alert_suppression
    if suppression is None:
        return None
    out: dict[str, Any] = {"group_by": list(suppression.group_by)}
    if suppression.duration_seconds is not None:
        out["duration"] = {"value": suppression.duration_seconds, "unit": "s"}
    out["missing_fields_strategy"] = suppression.missing_fields_strategy
    return out


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    # Kibana leaves undefined values out of the JSON it writes.
    if value is not None and value is not UNDEFINED:
        target[key] = value


def rule_parameters(rule: Rule) -> dict[str, Any]:
    """``kibana.alert.rule.parameters``: the rule's parameters in Kibana's API (snake_case) form,
    common parameters first, then the EQL ones, without ``output_index``. Parameters vigil's rule
    model does not hold are read from ``rule.extra`` under their Kibana names when a loader kept
    them (``immutable``, ``rule_source``, ``related_integrations``, ``meta``, ...)."""
    extra = rule.extra
    p: dict[str, Any] = {}
    _put(p, "description", rule.description)
    _put(p, "risk_score", rule.risk_score)
    _put(p, "severity", rule.severity)
    _put(p, "building_block_type", rule.building_block_type)
    _put(p, "namespace", extra.get("namespace"))
    _put(p, "note", rule.note or None)
    _put(p, "license", rule.license or None)
    _put(p, "timeline_id", extra.get("timeline_id"))
    _put(p, "timeline_title", extra.get("timeline_title"))
    _put(p, "meta", extra.get("meta"))
    _put(p, "rule_name_override", extra.get("rule_name_override"))
    _put(p, "timestamp_override", rule.timestamp_override)
    _put(
        p, "timestamp_override_fallback_disabled", True if rule.timestamp_override_fallback_disabled else None
    )
    _put(p, "investigation_fields", extra.get("investigation_fields"))
    p["author"] = list(rule.author)
    p["false_positives"] = list(rule.false_positives)
    p["from"] = rule.from_
    p["rule_id"] = rule.rule_id
    p["max_signals"] = rule.max_signals
    p["risk_score_mapping"] = list(extra.get("risk_score_mapping") or [])
    p["severity_mapping"] = list(extra.get("severity_mapping") or [])
    p["threat"] = _threat_json(rule.threat)
    p["to"] = rule.to
    p["references"] = list(rule.references)
    p["version"] = rule.version
    p["exceptions_list"] = [
        {"id": e.id, "list_id": e.list_id, "type": e.type, "namespace_type": e.namespace_type}
        for e in rule.exceptions_list
    ]
    p["immutable"] = bool(extra.get("immutable", False))
    p["rule_source"] = extra.get("rule_source") or {"type": "internal"}
    p["related_integrations"] = list(extra.get("related_integrations") or [])
    p["required_fields"] = list(extra.get("required_fields") or [])
    p["setup"] = rule.setup or ""
    p["type"] = rule.type
    p["language"] = rule.language or "eql"
    p["index"] = list(rule.index)
    _put(p, "data_view_id", extra.get("data_view_id"))
    p["query"] = rule.query
    _put(p, "filters", [dict(f) for f in rule.filters] if rule.filters else None)
    _put(p, "timestamp_field", rule.timestamp_field)
    _put(p, "event_category_override", rule.event_category_override)
    _put(p, "tiebreaker_field", rule.tiebreaker_field)
    _put(p, "alert_suppression", _alert_suppression_json(rule))
    _put(p, "response_actions", extra.get("response_actions"))
    return p


# --------------------------------------------------------------------------- overrides


_SEVERITY_ORDER = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def _safe_integer(value: Any) -> bool:
    return is_number(value) and float(value).is_integer() and abs(value) <= 2**53 - 1


def _severity_override(source: dict[str, Any], severity: str, mapping: Any) -> str:
    """Kibana's ``buildSeverityFromMapping``: the highest mapped severity whose value the event has."""
    if not isinstance(mapping, list) or not mapping:
        return severity
    match = None
    for item in sorted(
        (m for m in mapping if isinstance(m, dict)),
        key=lambda m: _SEVERITY_ORDER.get(str(m.get("severity")), 0),
    ):
        field = str(item.get("field", ""))
        value = lodash_get(source, field)
        values = value if isinstance(value, list) else [value]
        if field == "event.severity":
            event_values = {v for v in values if _safe_integer(v)}
            number = js_number(item.get("value"))
            wanted: Any = float(int(number)) if number == number and abs(number) != float("inf") else None
            hit = wanted is not None and any(float(v) == wanted for v in event_values)
        else:
            texts = {
                str(int(v)) if is_number(v) else v for v in values if _safe_integer(v) or isinstance(v, str)
            }
            hit = item.get("value") in texts
        if hit:
            match = item
    if match is not None and match.get("severity") in _SEVERITY_ORDER:
        return str(match["severity"])
    return severity


def _risk_score_override(source: dict[str, Any], risk_score: int | float, mapping: Any) -> int | float:
    """Kibana's ``buildRiskScoreFromMapping``: the largest valid score (0-100) of the mapped field."""
    if not isinstance(mapping, list) or not mapping or not isinstance(mapping[0], dict):
        return risk_score
    value = lodash_get(source, str(mapping[0].get("field", "")))
    scores = []
    for v in value if isinstance(value, list) else [value]:
        number = float(v) if is_number(v) else js_number(v) if isinstance(v, str) else float("nan")
        if number == number and 0 <= number <= 100:
            scores.append(number)
    if not scores:
        return risk_score
    best = max(scores)
    return int(best) if best.is_integer() else best


def _name_override(source: dict[str, Any], name: str, field: Any) -> str:
    """Kibana's ``buildRuleNameFromMapping``: the event's value of the field, when it is a string."""
    if isinstance(field, str):
        value = lodash_get(source, field)
        if isinstance(value, str):
            return value
    return name


# --------------------------------------------------------------------------- building


def original_time(source: Mapping[str, Any], field: str = "@timestamp") -> str | None:
    """The time Kibana copies to ``kibana.alert.original_time``: ``field`` (``@timestamp``) as
    Elasticsearch parses a date, printed by ``toISOString`` (milliseconds, UTC)."""
    value = source.get(field) if field in source else lodash_get(dict(source), field)
    if isinstance(value, list):
        value = value[0] if value else None
    nanos = parse_date(value)
    if nanos is None:
        return None
    return iso_from_epoch_millis(nanos // 1_000_000)


class _Builder:
    """The per-run state: the rule's fields, computed once, and the run's time and identity."""

    def __init__(
        self,
        rule: Rule,
        *,
        run_time: datetime,
        rule_uuid: str,
        space_id: str,
        timestamp_field: str,
        indices: Sequence[str] | None,
        kibana_version: str,
        execution_uuid: str | None,
        public_base_url: str | None,
    ):
        self.rule = rule
        self.rule_uuid = rule_uuid
        self.space_id = space_id
        self.timestamp_field = timestamp_field
        self.now = iso_millis(run_time)
        self.kibana_version = kibana_version
        self.execution_uuid = execution_uuid or str(
            uuid_module.uuid5(_EXECUTION_NAMESPACE, f"{rule_uuid}@{self.now}")
        )
        self.base_url = public_base_url.rstrip("/") if public_base_url else None
        self.indices = list(indices) if indices is not None else list(rule.index)
        self.params = rule_parameters(rule)
        extra = rule.extra
        self.created_at = str(extra.get("created_at") or self.now)
        self.updated_at = str(extra.get("updated_at") or self.created_at)

    # -- the fields of buildAlertFields, in Kibana's order

    def alert_fields(
        self,
        parents: list[dict[str, Any]],
        ancestors: list[dict[str, Any]],
        reason: str,
        alert_uuid: str,
        first_doc_time: str | None,
        *,
        name: str,
        severity: str,
        risk_score: int | float,
    ) -> dict[str, Any]:
        rule, extra = self.rule, self.rule.extra
        depth = max((int(p.get("depth") or 0) for p in parents), default=0) + 1
        f: dict[str, Any] = {
            "@timestamp": self.now,
            "kibana.space_ids": [self.space_id],
            "event.kind": "signal",
        }
        _put(f, ALERT_ORIGINAL_TIME, first_doc_time)
        f["kibana.alert.rule.consumer"] = SERVER_APP_ID
        f[ALERT_ANCESTORS] = ancestors
        f["kibana.alert.status"] = "active"
        f["kibana.alert.workflow_status"] = "open"
        f[ALERT_DEPTH] = depth
        f["kibana.alert.reason"] = reason
        _put(f, ALERT_BUILDING_BLOCK_TYPE, rule.building_block_type)
        f["kibana.alert.severity"] = severity
        f["kibana.alert.risk_score"] = risk_score
        # Each alert gets its own copy, as lodash's merge clones what it copies into an alert.
        params = json_copy(self.params)
        f["kibana.alert.rule.parameters"] = params
        f["kibana.alert.rule.actions"] = []
        f["kibana.alert.rule.author"] = list(rule.author)
        f["kibana.alert.rule.created_at"] = self.created_at
        f["kibana.alert.rule.created_by"] = str(extra.get("created_by") or "")
        f["kibana.alert.rule.description"] = rule.description
        f["kibana.alert.rule.enabled"] = rule.enabled
        f["kibana.alert.rule.exceptions_list"] = json_copy(params["exceptions_list"])
        f["kibana.alert.rule.false_positives"] = list(rule.false_positives)
        f["kibana.alert.rule.from"] = rule.from_
        f["kibana.alert.rule.immutable"] = params["immutable"]
        f["kibana.alert.rule.interval"] = rule.interval
        f["kibana.alert.rule.indices"] = list(self.indices)
        _put(f, "kibana.alert.rule.license", params.get("license"))
        f["kibana.alert.rule.max_signals"] = rule.max_signals
        f["kibana.alert.rule.name"] = name
        _put(f, "kibana.alert.rule.namespace", params.get("namespace"))
        _put(f, "kibana.alert.rule.note", params.get("note"))
        f["kibana.alert.rule.references"] = list(rule.references)
        f["kibana.alert.rule.risk_score_mapping"] = json_copy(params["risk_score_mapping"])
        f["kibana.alert.rule.rule_id"] = rule.rule_id
        _put(f, "kibana.alert.rule.rule_name_override", params.get("rule_name_override"))
        f["kibana.alert.rule.severity_mapping"] = json_copy(params["severity_mapping"])
        f["kibana.alert.rule.tags"] = list(rule.tags)
        f["kibana.alert.rule.threat"] = _threat_json(rule.threat)
        _put(f, "kibana.alert.rule.timeline_id", params.get("timeline_id"))
        _put(f, "kibana.alert.rule.timeline_title", params.get("timeline_title"))
        _put(f, "kibana.alert.rule.timestamp_override", rule.timestamp_override)
        f["kibana.alert.rule.to"] = rule.to
        f["kibana.alert.rule.type"] = rule.type
        f["kibana.alert.rule.updated_at"] = self.updated_at
        f["kibana.alert.rule.updated_by"] = str(extra.get("updated_by") or "")
        f[ALERT_RULE_UUID] = self.rule_uuid
        f["kibana.alert.rule.version"] = rule.version
        _put(f, ALERT_URL, self.url(alert_uuid))
        f[ALERT_UUID] = alert_uuid
        f["kibana.alert.workflow_tags"] = []
        f["kibana.alert.workflow_assignee_ids"] = []
        meta = params.get("meta")
        if isinstance(meta, dict):
            f.update(flatten_with_prefix("kibana.alert.rule.meta", json_copy(meta)))
        f["kibana.alert.rule.risk_score"] = rule.risk_score
        f["kibana.alert.rule.severity"] = rule.severity
        _put(f, "kibana.alert.rule.building_block_type", rule.building_block_type)
        f["kibana.alert.intended_timestamp"] = self.now
        f["kibana.alert.rule.execution.type"] = "scheduled"
        return f

    def url(self, alert_uuid: str) -> str | None:
        """``kibana.alert.url`` (only with a Kibana base URL to point at, as in Kibana)."""
        if self.base_url is None:
            return None
        space = self.space_id
        path = f"{_APP_PATH}/alerts/redirect/{alert_uuid}?index={ALERTS_INDEX}-{space}&timestamp={self.now}"
        return (
            f"{self.base_url}/s/{space}{path}" if space and space != "default" else f"{self.base_url}{path}"
        )

    def augment(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The fields Kibana's alerting framework puts in front of every alert it writes."""
        out: dict[str, Any] = {
            "kibana.alert.rule.execution.timestamp": self.now,
            "kibana.alert.start": self.now,
            "kibana.alert.last_detected": self.now,
            "kibana.version": self.kibana_version,
            "kibana.alert.rule.parameters": doc.get("kibana.alert.rule.parameters"),
            "kibana.alert.rule.category": EQL_RULE_TYPE_NAME,
            "kibana.alert.rule.consumer": SERVER_APP_ID,
            "kibana.alert.rule.execution.uuid": self.execution_uuid,
            "kibana.alert.rule.name": self.rule.name,
            "kibana.alert.rule.producer": SERVER_APP_ID,
            "kibana.alert.rule.revision": int(self.rule.extra.get("revision", 0) or 0),
            "kibana.alert.rule.rule_type_id": EQL_RULE_TYPE_ID,
            ALERT_RULE_UUID: self.rule_uuid,
            "kibana.space_ids": [self.space_id],
            "kibana.alert.rule.tags": list(self.rule.tags),
            "@timestamp": self.now,
        }
        out.update(doc)
        return out

    # -- one event (transformHitToAlert)

    def event_alert(self, event: Event, alert_uuid: str, *, apply_overrides: bool) -> dict[str, Any]:
        rule = self.rule
        source = event.source
        name, severity = rule.name, rule.severity
        risk: int | float = rule.risk_score
        if apply_overrides:
            name = _name_override(source, name, rule.extra.get("rule_name_override"))
            severity = _severity_override(source, severity, rule.extra.get("severity_mapping"))
            risk = _risk_score_override(source, risk, rule.extra.get("risk_score_mapping"))
        reason = reason_message(name, severity, source)
        parent = _parent_of(event)
        fields = self.alert_fields(
            [parent],
            _ancestors_of(event),
            reason,
            alert_uuid,
            original_time(source),
            name=name,
            severity=severity,
            risk_score=risk,
        )
        doc, _removed = prepare_copy(source)
        # The alert's own event.kind ("signal") replaces the event's, however the event spells it.
        if robust_get(doc, "event.kind") not in (None, UNDEFINED):
            robust_unset(doc, "event.kind")
        doc.update(fields)
        return doc

    # -- a sequence (buildAlertGroupFromSequence)

    def sequence_alerts(self, events: list[Event]) -> list[dict[str, Any]]:
        rule = self.rule
        blocks = [self.event_alert(e, "placeholder-alert-uuid", apply_overrides=False) for e in events]
        ids = building_block_ids([b[ALERT_ANCESTORS] for b in blocks], self.rule_uuid)
        for block, block_id in zip(blocks, ids, strict=True):
            block[ALERT_UUID] = block_id
            if self.base_url is not None:
                block[ALERT_URL] = self.url(block_id)
        merged = object_array_intersection(blocks)
        reason = reason_message(rule.name, rule.severity, merged if merged is not None else {})
        parents = [
            _block_parent(bid, self.rule_uuid, int(b.get(ALERT_DEPTH, 1)))
            for b, bid in zip(blocks, ids, strict=True)
        ]
        ancestors: list[dict[str, Any]] = []
        for block, parent in zip(blocks, parents, strict=True):
            ancestors.extend(json_copy(block[ALERT_ANCESTORS]))
            ancestors.append(dict(parent))
        shell_id = alert_id_of_ancestors(ancestors, self.rule_uuid)
        fields = self.alert_fields(
            parents,
            ancestors,
            reason,
            shell_id,
            original_time(blocks[0]),
            name=rule.name,
            severity=rule.severity,
            risk_score=rule.risk_score,
        )
        shell: dict[str, Any] = json_copy(merged) if merged is not None else {}
        shell.update(fields)
        shell[ALERT_UUID] = shell_id
        shell[ALERT_GROUP_ID] = shell_id
        for i, block in enumerate(blocks):
            block[ALERT_BUILDING_BLOCK_TYPE] = "default"
            block[ALERT_GROUP_ID] = shell_id
            block[ALERT_GROUP_INDEX] = i
        return [shell, *blocks]

    def event_time(self, event: Event) -> str | None:
        return original_time(event.source) or original_time(event.source, self.timestamp_field)


def complete_copy(event: Event) -> Event:
    """The event with its whole document: the event itself when it has it, else a completed copy
    (:func:`vigil.engine.model.materialize`) that the caller drops when done, so an answer's
    events stay projections and a large answer's documents are never all in memory at once. The
    copy's id (hashed from the line read back) is given to the event too, which may not keep
    that line."""
    if not event.projected:
        return event
    full = materialize(copy.copy(event))
    if event.raw is None:
        event.id = full.id
    return full


def _self_loop(ancestors: Iterable[Mapping[str, Any]], rule_uuid: str) -> bool:
    # Kibana never raises a rule's alert on that same rule's alerts.
    return any(a.get("rule") == rule_uuid for a in ancestors)


def build_alerts(
    rule: Rule,
    result: QueryResult,
    *,
    run_time: datetime,
    rule_uuid: str,
    space_id: str = "default",
    timestamp_field: str = "@timestamp",
    indices: Sequence[str] | None = None,
    kibana_version: str = KIBANA_VERSION,
    execution_uuid: str | None = None,
    public_base_url: str | None = None,
) -> list[AlertGroup]:
    """The alerts a run of ``rule`` at ``run_time`` raises for ``result``, one group per hit, in
    hit order, as Kibana writes them to ``.alerts-security.alerts-<space_id>``.

    ``rule_uuid`` is the rule's saved-object id (``kibana.alert.rule.uuid``), which alert ids hash.
    ``timestamp_field`` is only the fallback for :attr:`AlertGroup.original_time` when an event
    has no ``@timestamp``. ``indices`` are the index patterns searched (default: the rule's
    ``index``). ``execution_uuid`` defaults to a uuid derived from the rule and run time.
    ``public_base_url`` (Kibana's ``server.publicBaseUrl``) adds ``kibana.alert.url``.
    The result's events may be projections: each is read back whole into a copy
    (:func:`complete_copy`) that lives only while its alert is built, so a caller building a large
    answer a slice at a time holds one slice of documents.
    """
    builder = _Builder(
        rule,
        run_time=run_time,
        rule_uuid=rule_uuid,
        space_id=space_id,
        timestamp_field=timestamp_field,
        indices=indices,
        kibana_version=kibana_version,
        execution_uuid=execution_uuid,
        public_base_url=public_base_url,
    )
    groups: list[AlertGroup] = []
    if result.kind == "events":
        for projected in result.events:
            event = complete_copy(projected)
            if _self_loop(_ancestors_of(event), rule_uuid):
                continue
            alert_uuid = alert_id_of_event(event.index, event.id, rule_uuid, space_id=space_id)
            doc = builder.augment(builder.event_alert(event, alert_uuid, apply_overrides=True))
            groups.append(
                AlertGroup(
                    alert_uuid,
                    (doc,),
                    doc.get(ALERT_ORIGINAL_TIME) or builder.event_time(event),
                    rule.rule_id,
                    rule_uuid,
                    "event",
                )
            )
        return groups
    for hit in result.sequences:
        events = [complete_copy(e) for e in hit.events if e is not None]
        if not events or _self_loop((a for e in events for a in _ancestors_of(e)), rule_uuid):
            continue
        docs = [builder.augment(doc) for doc in builder.sequence_alerts(events)]
        first = docs[1] if len(docs) > 1 else docs[0]
        groups.append(
            AlertGroup(
                str(docs[0][ALERT_UUID]),
                tuple(docs),
                first.get(ALERT_ORIGINAL_TIME) or builder.event_time(events[0]),
                rule.rule_id,
                rule_uuid,
                "sequence",
            )
        )
    return groups
