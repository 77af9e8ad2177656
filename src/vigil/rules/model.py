"""The detection rule model: every field that shapes a run or an alert, as Elastic writes them.

Field names follow Kibana's rule API (``rule_id``, ``risk_score``, ``max_signals``, ...). Loaders
(:mod:`vigil.rules.loaders`) fill a :class:`Rule` from detection-rules TOML, a Kibana export or
the documentation page, and record where each value came from so problems can be located.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vigil.errors import Location

# Rule types vigil runs, and the ones it loads, lists and skips (with a reason) for now.
SUPPORTED_TYPES = frozenset({"eql"})
KNOWN_TYPES = frozenset(
    {"eql", "query", "threshold", "new_terms", "esql", "machine_learning", "threat_match", "saved_query"}
)
SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class ThreatEntry:
    """One MITRE ATT&CK tactic, technique or sub-technique: id, name and reference URL."""

    id: str
    name: str
    reference: str = ""


@dataclass(frozen=True)
class Technique:
    """A technique with its sub-techniques."""

    entry: ThreatEntry
    subtechniques: tuple[ThreatEntry, ...] = ()


@dataclass(frozen=True)
class Threat:
    """One element of a rule's ``threat`` list (framework, tactic, techniques)."""

    framework: str
    tactic: ThreatEntry
    techniques: tuple[Technique, ...] = ()


@dataclass(frozen=True)
class AlertSuppression:
    """``alert_suppression``: one alert per group of ``group_by`` values, per rule run or per
    time window (``duration`` in seconds), with missing values suppressed or not."""

    group_by: tuple[str, ...]
    duration_seconds: int | None = None  # None: per rule execution
    missing_fields_strategy: str = "suppress"  # "suppress" or "doNotSuppress"


@dataclass(frozen=True)
class ExceptionListRef:
    """A reference in ``exceptions_list`` to an exception list (its items are loaded apart)."""

    id: str
    list_id: str
    type: str = "detection"
    namespace_type: str = "single"


@dataclass(frozen=True)
class Rule:
    """A detection rule. ``source`` is the file it came from, ``locations`` maps field names to
    the place they were read (for error messages)."""

    rule_id: str
    name: str
    type: str
    query: str = ""
    language: str = ""
    description: str = ""
    index: tuple[str, ...] = ()
    interval: str = "5m"
    from_: str = "now-6m"  # Kibana's default look-back: 5m interval + 1m
    to: str = "now"
    max_signals: int = 100
    severity: str = "low"
    risk_score: int = 21
    tags: tuple[str, ...] = ()
    threat: tuple[Threat, ...] = ()
    version: int = 1
    author: tuple[str, ...] = ()
    license: str = ""
    references: tuple[str, ...] = ()
    false_positives: tuple[str, ...] = ()
    note: str = ""
    setup: str = ""
    building_block_type: str | None = None
    timestamp_override: str | None = None
    timestamp_override_fallback_disabled: bool = False
    event_category_override: str | None = None
    timestamp_field: str | None = None
    tiebreaker_field: str | None = None
    filters: tuple[dict[str, Any], ...] = ()
    alert_suppression: AlertSuppression | None = None
    exceptions_list: tuple[ExceptionListRef, ...] = ()
    enabled: bool = True
    # Bookkeeping (not Kibana fields): where the rule was read from.
    source: str = ""
    locations: Mapping[str, Location] = field(default_factory=dict, compare=False, hash=False, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def supported(self) -> bool:
        """True when vigil can run this rule type."""
        return self.type in SUPPORTED_TYPES and (self.language in ("", "eql"))

    @property
    def unsupported_reason(self) -> str | None:
        """Why vigil skips this rule, or None when it runs it."""
        if self.supported:
            return None
        if self.type not in KNOWN_TYPES:
            return f"unknown rule type {self.type!r}"
        return f"rule type {self.type!r} is not supported yet (vigil runs eql rules)"

    def location(self, field_name: str) -> Location | None:
        """Where ``field_name`` was read, when the loader knows."""
        return self.locations.get(field_name)
