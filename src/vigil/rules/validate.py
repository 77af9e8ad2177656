"""Semantic checks of a rule, beyond the types of its fields.

The loaders run :func:`check_rule` on every rule they build, so ``vigil rules validate`` and a run
report the same problems. Errors make a rule unusable (Kibana would refuse it, or vigil cannot
read it); warnings point at something that works differently than the author may expect.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from vigil.errors import RuleError
from vigil.rules.datemath import parse_date_math, parse_interval
from vigil.rules.filters import UnsupportedFilterError, compile_filters
from vigil.rules.model import SEVERITIES, Rule

# Kibana caps max_signals at xpack.alerting.rules.run.alerts.max, 1000 by default.
MAX_ALERTS_PER_RUN = 1000

_TACTIC_ID = re.compile(r"^TA\d{4}$")
_TECHNIQUE_ID = re.compile(r"^T\d{4}$")
_SUBTECHNIQUE_ID = re.compile(r"^T\d{4}\.\d{3}$")


@dataclass(frozen=True)
class Issue:
    """One finding of :func:`check_rule`; ``unsupported`` marks a rule vigil loads but cannot run."""

    field: str
    message: str
    severity: Literal["error", "warning"] = "error"
    hint: str | None = None
    unsupported: bool = False


def check_rule(rule: Rule, data: Mapping[str, Any]) -> list[Issue]:
    """Check the values of a built rule. ``data`` is the mapping it was built from (to tell a
    missing field, already reported, from a given one)."""
    issues: list[Issue] = []
    if "severity" in data and rule.severity not in SEVERITIES:
        issues.append(Issue("severity", f"expected one of {', '.join(SEVERITIES)}, got {rule.severity!r}"))
    if "risk_score" in data and not 0 <= rule.risk_score <= 100:
        issues.append(Issue("risk_score", f"expected a whole number from 0 to 100, got {rule.risk_score}"))
    if rule.max_signals < 1:
        issues.append(Issue("max_signals", f"expected a positive whole number, got {rule.max_signals}"))
    elif rule.max_signals > MAX_ALERTS_PER_RUN:
        issues.append(
            Issue(
                "max_signals",
                f"{rule.max_signals} is above Kibana's limit of {MAX_ALERTS_PER_RUN} alerts per run; "
                f"Kibana (and vigil) stop at {MAX_ALERTS_PER_RUN}",
                "warning",
            )
        )
    if rule.version < 1:
        issues.append(Issue("version", f"expected a whole number of at least 1, got {rule.version}"))
    issues.extend(_check_schedule(rule))
    if rule.type == "eql":
        if rule.language not in ("", "eql"):
            issues.append(Issue("language", f"an eql rule has language eql, got {rule.language!r}"))
        # A present index of the wrong type is already reported by the loader.
        if not rule.index and (data.get("index") is None or data.get("index") == []):
            if data.get("data_view_id"):
                issues.append(
                    Issue(
                        "index",
                        f"the rule searches the data view {data['data_view_id']!r}; vigil cannot read data "
                        "views, so it cannot run this rule",
                        "warning",
                        hint="give the rule index patterns instead",
                        unsupported=True,
                    )
                )
            else:
                issues.append(
                    Issue(
                        "index",
                        "an eql rule needs index patterns (vigil has no default index setting like Kibana's)",
                        hint='for example index = ["logs-endpoint.events.*"]',
                    )
                )
    issues.extend(_check_threat(rule))
    if rule.filters:
        try:
            compile_filters(rule.filters)
        except UnsupportedFilterError as exc:
            issues.append(
                Issue(
                    "filters",
                    f"{exc.message}; vigil cannot run this rule",
                    "warning",
                    exc.hint,
                    unsupported=True,
                )
            )
        except RuleError as exc:
            issues.append(Issue("filters", exc.message, hint=exc.hint))
    return issues


def _check_schedule(rule: Rule) -> list[Issue]:
    issues = []
    try:
        parse_interval(rule.interval)
    except RuleError as exc:
        issues.append(Issue("interval", exc.message, hint=exc.hint))
    bounds = {}
    for name, text in (("from", rule.from_), ("to", rule.to)):
        try:
            bounds[name] = parse_date_math(text)
        except RuleError as exc:
            issues.append(Issue(name, exc.message, hint=exc.hint))
    if len(bounds) == 2:
        now = datetime.now(UTC)
        if bounds["from"].resolve(now) >= bounds["to"].resolve(now):
            issues.append(Issue("from", f"{rule.from_!r} is not before to ({rule.to!r}): no event can match"))
    return issues


def _check_threat(rule: Rule) -> list[Issue]:
    issues = []
    for i, threat in enumerate(rule.threat):
        if not threat.framework.startswith("MITRE ATT&CK"):
            continue
        if not _TACTIC_ID.match(threat.tactic.id):
            issues.append(
                Issue(
                    f"threat[{i}].tactic.id",
                    f"{threat.tactic.id!r} does not look like a tactic id (TA####)",
                    "warning",
                )
            )
        for j, technique in enumerate(threat.techniques):
            if not _TECHNIQUE_ID.match(technique.entry.id):
                issues.append(
                    Issue(
                        f"threat[{i}].technique[{j}].id",
                        f"{technique.entry.id!r} does not look like a technique id (T####)",
                        "warning",
                    )
                )
            for k, sub in enumerate(technique.subtechniques):
                if not _SUBTECHNIQUE_ID.match(sub.id) or not sub.id.startswith(technique.entry.id + "."):
                    issues.append(
                        Issue(
                            f"threat[{i}].technique[{j}].subtechnique[{k}].id",
                            f"{sub.id!r} does not look like a sub-technique of {technique.entry.id} "
                            f"({technique.entry.id}.###)",
                            "warning",
                        )
                    )
    return issues


def unsupported_reason(rule: Rule) -> str | None:
    """Why vigil loads ``rule`` but cannot run it (its type, a filter, a data view), or None."""
    return rule.unsupported_reason or rule.extra.get("unsupported")


def rule_status(rule: Rule) -> str:
    """``ok``, or ``not supported yet: <reason>`` (for listings)."""
    reason = unsupported_reason(rule)
    return "ok" if reason is None else f"not supported yet: {reason}"
