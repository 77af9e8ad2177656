"""Alert suppression: one alert per group of ``group_by`` values, per run or over a time window.

As Kibana's in-memory suppression does for EQL rules:

* the suppression *terms* of an alert are its values of the ``group_by`` fields (arrays sorted,
  missing as null); alerts with equal terms share an *instance id*;
* within one run, the first alert of an instance is kept and the others are folded into it:
  ``kibana.alert.suppression.docs_count`` counts them, ``.start``/``.end`` span their times;
* with a ``duration``, an instance alerted less than ``duration`` ago absorbs the new ones too (the
  stored alert is updated: count, end, ``kibana.alert.last_detected``) instead of raising again;
  the instance's last alert is looked up in the alert store when this process has not raised it
  (after a restart, or in a later ``vigil replay`` over the same store), as Kibana looks it up in
  its alerts index;
* ``missing_fields_strategy: doNotSuppress`` leaves alerts with a missing ``group_by`` value alone.

Sequence alerts are grouped by the values their shell alert carries (the fields all events
share). Kibana hashes the instance id with the ``object-hash`` package; vigil uses SHA-256 over
canonical JSON of the same inputs (terms, rule id, space), so instance ids differ from Kibana's
while grouping the same alerts.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime, timedelta
from typing import Any

import orjson

from vigil.alerts.js import iso_millis
from vigil.ecs.fields import MISSING, make_getter

TERMS = "kibana.alert.suppression.terms"
DOCS_COUNT = "kibana.alert.suppression.docs_count"
START = "kibana.alert.suppression.start"
END = "kibana.alert.suppression.end"
INSTANCE = "kibana.alert.instance.id"
ALERT_UUID = "kibana.alert.uuid"
LAST_DETECTED = "kibana.alert.last_detected"


def _value(doc: dict[str, Any], field: str) -> Any:
    v = make_getter(field)(doc)
    if v is MISSING:
        return None
    if isinstance(v, list):
        try:
            return sorted(v)
        except TypeError:
            return v
    return v


def instance_id(terms: list[dict[str, Any]], rule_uuid: str, space_id: str = "default") -> str:
    """The suppression instance of an alert (see the module note on hashing)."""
    payload = orjson.dumps([terms, rule_uuid, space_id], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


class Suppressor:
    """Applies a rule's ``alert_suppression`` to the alert groups of each run."""

    def __init__(self, store: Any | None = None):
        self.store = store
        # instance id -> (kept group, time it was raised): for suppression over a time window
        self.open: dict[str, tuple[Any, datetime]] = {}
        self.warned: set[str] = set()

    def __call__(self, plan: Any, groups: list[Any], tick: datetime) -> list[Any]:
        """The groups to raise for one run of ``plan`` at ``tick``."""
        sup = plan.rule.alert_suppression
        if sup is None or not groups:
            return groups
        kept: dict[str, Any] = {}
        order: list[Any] = []
        for group in groups:
            doc = group.primary
            terms = [{"field": f, "value": _value(doc, f)} for f in sup.group_by]
            if sup.missing_fields_strategy == "doNotSuppress" and any(t["value"] is None for t in terms):
                order.append(group)
                continue
            inst = instance_id(terms, plan.uuid)
            when = group.original_time
            if inst in kept:
                kept[inst] = _fold(kept[inst], 1, when)
                continue
            kept[inst] = _with_suppression(group, terms, inst, when)
            order.append(inst)
        out: list[Any] = []
        window = timedelta(seconds=sup.duration_seconds) if sup.duration_seconds else None
        for item in order:
            if not isinstance(item, str):
                out.append(item)
                continue
            group = kept[item]
            if window is not None:
                previous = self.open.get(item)
                if previous is None:
                    previous = self._recall(plan, item, group, tick - window)
                if previous is not None and previous[1] >= tick - window:
                    prev_group, raised = previous
                    folded = _fold(prev_group, group.primary[DOCS_COUNT] + 1, group.primary[END], tick)
                    self.open[item] = (folded, raised)
                    if self.store is not None:
                        self.store.update_alert(folded.primary)
                    continue
                self.open[item] = (group, tick)
            out.append(group)
        return out

    def _recall(self, plan: Any, inst: str, group: Any, since: datetime) -> tuple[Any, datetime] | None:
        """The alert an earlier process raised for this instance since ``since``, from the alert
        store (``find_suppressed``), so that a restart or a later ``vigil replay`` keeps folding
        into it rather than raising again within the window."""
        find = getattr(self.store, "find_suppressed", None)
        if find is None:
            return None
        found = find(plan.uuid, inst, since)
        if found is None:
            return None
        document, raised = found
        # Only the stand-in's primary document is used (folded, then stored in place).
        previous = dataclasses.replace(group, alerts=(document,), primary_id=document.get(ALERT_UUID, ""))
        self.open[inst] = (previous, raised)
        return previous, raised


def _with_suppression(group: Any, terms: list[dict[str, Any]], inst: str, when: str | None) -> Any:
    primary = dict(group.primary)
    primary[TERMS] = terms
    primary[INSTANCE] = inst
    primary[DOCS_COUNT] = 0
    primary[START] = when
    primary[END] = when
    return _replace_primary(group, primary)


def _fold(group: Any, count: int, end: str | None, detected: datetime | None = None) -> Any:
    primary = dict(group.primary)
    primary[DOCS_COUNT] = primary.get(DOCS_COUNT, 0) + count
    if end is not None and (primary.get(END) is None or end > primary[END]):
        primary[END] = end
    if detected is not None:
        primary[LAST_DETECTED] = iso_millis(detected)
    return _replace_primary(group, primary)


def _replace_primary(group: Any, primary: dict[str, Any]) -> Any:
    alerts = tuple(primary if doc is group.primary else doc for doc in group.alerts)
    return dataclasses.replace(group, alerts=alerts)
