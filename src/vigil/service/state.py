"""The running service's shared state, and the contracts between its parts.

``ServiceState`` is built once at start-up (:func:`vigil.service.app.build_state`) and handed to
every route. Each part owns its object:

* ``events`` (:mod:`vigil.service.ingest`): the durable event log. Contract used by the scheduler:
  ``events.candidates(queries, *, start=None, end=None) -> Iterator[Event]`` - the events any of
  the compiled queries (or ``(compiled, index_predicate)`` pairs) may need whose ``@timestamp`` is
  in [start, end] (epoch nanoseconds, inclusive), acknowledged ones included whether or not they
  have reached the columnar store yet, in ingestion order, with the same semantics as
  :meth:`vigil.store.Store.candidates`; ``events.stats() -> dict`` for health.
* ``alerts``: the alert store (:class:`vigil.alerts.store.AlertStore`).
* ``rules`` and ``scheduler`` (:mod:`vigil.service.scheduler`): the loaded rules with their
  enabled flags and the loop that runs them. Contract used by the API and the console:
  ``rules.statuses() -> list[RuleStatus]``, ``rules.get(rule_id) -> RuleStatus | None``,
  ``rules.set_enabled(rule_id, enabled) -> RuleStatus`` (KeyError when unknown),
  ``rules.import_text(name, text) -> list[RuleStatus]`` (a rule file in any of the three formats;
  raises :class:`vigil.errors.RuleError` with the location when it is bad).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vigil.service.settings import Settings


@dataclass
class ServiceState:
    """Everything the routes share."""

    settings: Settings
    events: Any = None
    alerts: Any = None
    rules: Any = None
    scheduler: Any = None
    token_hash: str | None = None
    started_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RuleStatus:
    """One loaded rule as the service runs it (what ``rules.statuses()`` returns; the contract
    between the scheduler, the API and the console)."""

    rule: Any  # vigil.rules.model.Rule
    enabled: bool
    last_run_at: Any = None  # datetime of the last run's tick, or None
    last_duration: float | None = None  # seconds
    last_alerts: int = 0
    last_error: str | None = None
    total_alerts: int = 0
    total_runs: int = 0
    gaps: int = 0
