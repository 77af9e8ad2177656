"""The service's rules: loaded from the configured rule paths and from imported files, with their
enabled flags (the ``rules`` contract of :mod:`vigil.service.state`).

Persistence, under ``settings.data_dir``:

* ``rules/``: every file imported through the API, as it was sent (one file per import name; an
  import under a name already used replaces that file). Imported files are loaded *before* the
  configured ``rule_paths``, so importing a rule whose ``rule_id`` is also in a configured file
  overrides that copy (the loaders keep the first rule of a ``rule_id`` and warn about the
  others).
* ``rule-state.json``: the enabled flags set through the API (``{"enabled": {rule_id: bool}}``).
  A rule without a flag there is enabled as its file says (``enabled`` of a Kibana export,
  true otherwise).

A rule vigil cannot run (another rule type, an unsupported filter, a query that does not compile)
is listed with its reason and can never be enabled; problems of the rule files are kept in
:attr:`RuleRegistry.problems`.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vigil.errors import Location, RuleError, VigilError
from vigil.rules.loaders import RuleProblem, detect_format, load_rules
from vigil.rules.loaders.kibana import load_ndjson
from vigil.rules.loaders.markdown import load_markdown
from vigil.rules.loaders.toml import load_toml
from vigil.rules.model import Rule
from vigil.rules.validate import unsupported_reason
from vigil.service.settings import Settings
from vigil.service.state import RuleStatus

IMPORT_DIR = "rules"
STATE_FILE = "rule-state.json"
_SUFFIX = {"toml": ".toml", "ndjson": ".ndjson", "markdown": ".md"}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class RuleImportError(RuleError):
    """An imported rule file with errors; :attr:`problems` lists every one (the first is also
    the error's location)."""

    def __init__(self, message: str, problems: Sequence[RuleProblem], location: Location | None = None):
        super().__init__(message, location)
        self.problems = tuple(problems)


class RuleRegistry:
    """The loaded rules and their enabled flags. Thread-safe: the scheduler reads it from its
    thread while the API changes flags from the event loop."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.import_dir = Path(settings.data_dir) / IMPORT_DIR
        self.state_path = Path(settings.data_dir) / STATE_FILE
        self._lock = threading.RLock()
        self._statuses: dict[str, RuleStatus] = {}
        self._reasons: dict[str, str] = {}
        self._flags: dict[str, bool] = self._read_flags()
        self.problems: tuple[RuleProblem, ...] = ()
        self.exception_items: tuple[dict[str, Any], ...] = ()
        self.reload()

    # -- loading

    def reload(self) -> None:
        """(Re)load every rule file; run statistics of rules still present are kept."""
        paths: list[str | Path] = []
        if self.import_dir.is_dir():
            paths.append(self.import_dir)
        paths.extend(self.settings.rule_paths)
        result = load_rules(paths) if paths else None
        with self._lock:
            old = self._statuses
            self._statuses = {}
            self._reasons = {}
            if result is None:
                self.problems, self.exception_items = (), ()
                return
            self.problems, self.exception_items = result.problems, result.exception_items
            for rule in result.rules:
                reason = self._reason(rule)
                if reason is not None:
                    self._reasons[rule.rule_id] = reason
                enabled = reason is None and self._flags.get(rule.rule_id, rule.enabled)
                status = old.get(rule.rule_id)
                if status is None:
                    status = RuleStatus(rule=rule, enabled=enabled)
                else:
                    status.rule, status.enabled = rule, enabled
                self._statuses[rule.rule_id] = status

    def _reason(self, rule: Rule) -> str | None:
        """Why the service cannot run ``rule`` (its type, or a query that does not compile)."""
        reason = unsupported_reason(rule)
        if reason is not None:
            return reason
        from vigil.rules.datemath import parse_date_math, parse_interval
        from vigil.rules.executor import plan_rule

        try:
            # Checked once here so that the scheduler never meets a rule it cannot schedule.
            parse_interval(rule.interval)
            parse_date_math(rule.from_)
            parse_date_math(rule.to)
            plan_rule(rule, size=1, exception_items=self.exception_items)
        except VigilError as exc:
            return exc.message
        return None

    # -- the contract of vigil.service.state

    def statuses(self) -> list[RuleStatus]:
        """Every loaded rule, supported or not, in load order."""
        with self._lock:
            return list(self._statuses.values())

    def get(self, rule_id: str) -> RuleStatus | None:
        """The rule with this ``rule_id``, or None."""
        with self._lock:
            return self._statuses.get(rule_id)

    def unsupported_reason(self, rule_id: str) -> str | None:
        """Why the rule cannot run, or None when it can (or is unknown)."""
        with self._lock:
            return self._reasons.get(rule_id)

    def enabled(self) -> list[RuleStatus]:
        """The rules the scheduler runs."""
        with self._lock:
            return [s for s in self._statuses.values() if s.enabled]

    def set_enabled(self, rule_id: str, enabled: bool) -> RuleStatus:
        """Enable or disable a rule (persisted). KeyError when unknown; RuleError when enabling
        a rule vigil cannot run."""
        with self._lock:
            status = self._statuses.get(rule_id)
            if status is None:
                raise KeyError(rule_id)
            reason = self._reasons.get(rule_id)
            if enabled and reason is not None:
                raise RuleError(f"rule {status.rule.name!r} cannot be enabled: {reason}")
            status.enabled = enabled
            self._flags[rule_id] = enabled
            self._write_flags()
            return status

    def import_text(self, name: str, text: str) -> list[RuleStatus]:
        """Import a rule file (TOML, Kibana NDJSON export or documentation page, told from the
        content). A file with errors is refused as a whole (:class:`RuleImportError`, located);
        otherwise it is stored under ``data_dir/rules`` and its rules are loaded and returned."""
        base = _SAFE_NAME.sub("_", Path(name or "imported").name).strip("._") or "imported"
        fmt = detect_format(text, Path(base).suffix.lower())
        if Path(base).suffix.lower() != _SUFFIX[fmt]:
            base = f"{Path(base).stem or 'imported'}{_SUFFIX[fmt]}"
        if fmt == "markdown":
            rules, problems, _relevant = load_markdown(base, text)
        elif fmt == "ndjson":
            rules, _items, problems, _relevant = load_ndjson(base, text)
        else:
            rules, problems, _relevant = load_toml(base, text)
        errors = [p for p in problems if p.severity == "error"]
        if not errors and not rules:
            errors = [RuleProblem(base, None, None, f"no rule found in this {fmt} file")]
        if errors:
            first = errors[0]
            where = Location(first.line, first.column or 1, file=base) if first.line is not None else None
            message = first.message if first.field is None else f"{first.field}: {first.message}"
            if len(errors) > 1:
                message += f" (and {len(errors) - 1} more problem(s))"
            raise RuleImportError(message, errors, where)
        with self._lock:
            self.import_dir.mkdir(parents=True, exist_ok=True)
            _atomic_write(self.import_dir / base, text)
            self.reload()
            return [self._statuses[r.rule_id] for r in rules if r.rule_id in self._statuses]

    # -- persistence

    def _read_flags(self) -> dict[str, bool]:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            # No file yet (first start), or an unreadable one: every rule as its file says.
            return {}
        flags = data.get("enabled", {}) if isinstance(data, dict) else {}
        return {str(k): bool(v) for k, v in flags.items()} if isinstance(flags, dict) else {}

    def _write_flags(self) -> None:
        Path(self.settings.data_dir).mkdir(parents=True, exist_ok=True)
        _atomic_write(self.state_path, json.dumps({"enabled": self._flags}, indent=1, sort_keys=True))


def _atomic_write(path: Path, text: str) -> None:
    """Write through a temporary file and a rename, fsynced, so a crash leaves the old or the new
    file, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
