"""What every rule format shares: problems, the load result, and building a :class:`Rule` from a
mapping in Kibana's rule API shape (which detection-rules' ``[rule]`` table also follows).

The format loaders only read their syntax and say where each field sits in the file; the field
checks, the defaults and the query parse live here, so every format reports the same problems in
the same words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from vigil.errors import Location, VigilError
from vigil.rules.model import (
    KNOWN_TYPES,
    AlertSuppression,
    ExceptionListRef,
    Rule,
    Technique,
    Threat,
    ThreatEntry,
)

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class RuleProblem:
    """One thing wrong with a rule file: where (file, line, column when known), which field, what."""

    file: str
    line: int | None
    field: str | None
    message: str
    severity: Severity = "error"
    column: int | None = None
    caret: str = ""  # the offending line with a caret under the problem, when known

    def __str__(self) -> str:
        place = self.file
        if self.line is not None:
            place = f"{place}:{self.line}" if self.column is None else f"{place}:{self.line}:{self.column}"
        text = f"{place}: {self.field}: {self.message}" if self.field else f"{place}: {self.message}"
        if self.severity == "warning":
            text = f"{text} (warning)"
        return f"{text}\n{self.caret}" if self.caret else text


@dataclass(frozen=True)
class LoadResult:
    """Rules loaded from files, the problems found, and the exception list items of exports."""

    rules: tuple[Rule, ...] = ()
    problems: tuple[RuleProblem, ...] = ()
    exception_items: tuple[dict[str, Any], ...] = ()
    files: tuple[str, ...] = ()

    @property
    def errors(self) -> tuple[RuleProblem, ...]:
        """The problems of severity ``error``."""
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[RuleProblem, ...]:
        """The problems of severity ``warning``."""
        return tuple(p for p in self.problems if p.severity == "warning")


# Maps a Kibana field path (``from``, ``threat[0].tactic.id``) to its (line, column) in the file.
Locator = Callable[[str], "tuple[int, int | None] | None"]
# Maps a (line, column) of the query text to the (line, column) of the file.
QueryMapper = Callable[[int, int], "tuple[int, int] | None"]


@dataclass(frozen=True)
class Origin:
    """Where a rule's mapping came from, to locate problems in the file."""

    file: str
    text: str
    locate: Locator
    query_at: QueryMapper | None = None
    line: int | None = None  # fallback line (the NDJSON line, the TOML [rule] table)
    format: str = ""
    lazy_line: Callable[[], int | None] | None = None  # the fallback line, found when needed


@dataclass
class _Builder:
    origin: Origin
    data: Mapping[str, Any]
    problems: list[RuleProblem] = field(default_factory=list)
    locations: dict[str, Location] = field(default_factory=dict)

    def where(self, path: str) -> tuple[int | None, int | None]:
        probe = path
        while probe:
            found = self.origin.locate(probe)
            if found is not None:
                return found
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        lazy = self.origin.lazy_line
        return (lazy() if lazy is not None else self.origin.line), None

    def problem(self, path: str, message: str, severity: Severity = "error", hint: str | None = None) -> None:
        line, column = self.where(path)
        if hint:
            message = f"{message} (hint: {hint})"
        self.problems.append(RuleProblem(self.origin.file, line, path, message, severity, column))

    def note_location(self, name: str) -> None:
        """Remember where field ``name`` was read (see :func:`_locations`)."""
        line, column = self.where(name)
        if line is not None:
            self.locations[name] = Location(line, column or 1, file=self.origin.file, source=self.origin.text)

    # --- typed field readers; each records a problem and returns the default on a bad value

    def string(self, name: str, default: str = "", required: bool = False) -> str:
        value = self.data.get(name)
        if value is None:
            if required:
                self.problem(name, f"missing; every rule needs a {name}")
            return default
        if not isinstance(value, str):
            self.problem(name, f"expected a string, got {_show(value)}")
            return default
        if required and not value.strip():
            self.problem(name, "must not be empty")
        return value

    def optional_string(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem(name, f"expected a string, got {_show(value)}")
            return None
        return value

    def integer(self, name: str, default: int, required: bool = False) -> int:
        value = self.data.get(name)
        if value is None:
            if required:
                self.problem(name, f"missing; every rule needs a {name}")
            return default
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            self.problem(name, f"expected a whole number, got {_show(value)}")
            return default
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(name, f"expected true or false, got {_show(value)}")
            return default
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.data.get(name)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(name, f"expected a list of strings, got {_show(value)}")
            return ()
        return tuple(value)

    def objects(self, name: str) -> list[Mapping[str, Any]]:
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            self.problem(name, f"expected a list of objects, got {_show(value)}")
            return []
        return value


def _show(value: Any) -> str:
    text = repr(value)
    kind = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)  # fmt: skip
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind} ({text})"


def _threat_entry(b: _Builder, raw: Any, path: str) -> ThreatEntry | None:
    if not isinstance(raw, Mapping):
        b.problem(path, f"expected an object with id, name and reference, got {_show(raw)}")
        return None
    values = {}
    for key in ("id", "name", "reference"):
        v = raw.get(key, "")
        if not isinstance(v, str) or (key != "reference" and not v):
            b.problem(f"{path}.{key}", f"expected a non-empty string, got {_show(v)}")
            return None
        values[key] = v
    return ThreatEntry(values["id"], values["name"], values["reference"])


def _threats(b: _Builder) -> tuple[Threat, ...]:
    out = []
    for i, raw in enumerate(b.objects("threat")):
        path = f"threat[{i}]"
        framework = raw.get("framework", "MITRE ATT&CK")
        if not isinstance(framework, str):
            b.problem(f"{path}.framework", f"expected a string, got {_show(framework)}")
            continue
        tactic = _threat_entry(b, raw.get("tactic"), f"{path}.tactic")
        if tactic is None:
            continue
        techniques = []
        raw_techniques = raw.get("technique") or []
        if not isinstance(raw_techniques, list):
            b.problem(f"{path}.technique", f"expected a list of techniques, got {_show(raw_techniques)}")
            raw_techniques = []
        for j, tech in enumerate(raw_techniques):
            tpath = f"{path}.technique[{j}]"
            entry = _threat_entry(b, tech, tpath)
            if entry is None:
                continue
            subs = []
            raw_subs = tech.get("subtechnique") or []
            if not isinstance(raw_subs, list):
                b.problem(f"{tpath}.subtechnique", f"expected a list, got {_show(raw_subs)}")
                raw_subs = []
            for k, sub in enumerate(raw_subs):
                sub_entry = _threat_entry(b, sub, f"{tpath}.subtechnique[{k}]")
                if sub_entry is not None:
                    subs.append(sub_entry)
            techniques.append(Technique(entry, tuple(subs)))
        out.append(Threat(framework, tactic, tuple(techniques)))
    return tuple(out)


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}


def _suppression(b: _Builder) -> AlertSuppression | None:
    raw = b.data.get("alert_suppression")
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        b.problem("alert_suppression", f"expected an object with group_by, got {_show(raw)}")
        return None
    group_by = raw.get("group_by")
    if not isinstance(group_by, list) or not group_by or not all(isinstance(g, str) for g in group_by):
        b.problem(
            "alert_suppression.group_by", f"expected a non-empty list of field names, got {_show(group_by)}"
        )
        return None
    if len(group_by) > 3:
        b.problem("alert_suppression.group_by", "Kibana allows at most 3 fields to group by", "warning")
    seconds = None
    duration = raw.get("duration")
    if duration is not None:
        value = duration.get("value") if isinstance(duration, Mapping) else None
        unit = duration.get("unit") if isinstance(duration, Mapping) else None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1 or unit not in _DURATION_UNITS:
            b.problem(
                "alert_suppression.duration",
                f"expected {{value: a positive whole number, unit: s, m or h}}, got {_show(duration)}",
            )
            return None
        seconds = value * _DURATION_UNITS[unit]
    strategy = raw.get("missing_fields_strategy", "suppress")
    if strategy not in ("suppress", "doNotSuppress"):
        b.problem(
            "alert_suppression.missing_fields_strategy",
            f"expected suppress or doNotSuppress, got {_show(strategy)}",
        )
        strategy = "suppress"
    return AlertSuppression(tuple(group_by), seconds, strategy)


def _exception_refs(b: _Builder) -> tuple[ExceptionListRef, ...]:
    refs = []
    for i, raw in enumerate(b.objects("exceptions_list")):
        list_id, ref_id = raw.get("list_id"), raw.get("id")
        if not isinstance(list_id, str) or not list_id:
            b.problem(f"exceptions_list[{i}].list_id", f"expected the list's id, got {_show(list_id)}")
            continue
        refs.append(
            ExceptionListRef(
                str(ref_id if isinstance(ref_id, str) else list_id),
                list_id,
                str(raw.get("type", "detection")),
                str(raw.get("namespace_type", "single")),
            )
        )
    return tuple(refs)


# Kibana fields the Rule model holds; everything else of the mapping goes to Rule.extra.
_MODEL_FIELDS = frozenset({
    "rule_id", "name", "type", "query", "language", "description", "index", "interval", "from", "to",
    "max_signals", "severity", "risk_score", "tags", "threat", "version", "author", "license",
    "references", "false_positives", "note", "setup", "building_block_type", "timestamp_override",
    "timestamp_override_fallback_disabled", "event_category_override", "timestamp_field",
    "tiebreaker_field", "filters", "alert_suppression", "exceptions_list", "enabled",
})  # fmt: skip

_DEFAULT_LANGUAGE = {"eql": "eql", "query": "kuery", "saved_query": "kuery", "threshold": "kuery",
                     "new_terms": "kuery", "threat_match": "kuery", "esql": "esql"}  # fmt: skip


_LOCATED = ("rule_id", "name", "type", "query", "index", "interval", "from", "to", "severity",
            "risk_score", "max_signals", "threat", "filters", "version")  # fmt: skip


def _locations(b: _Builder, data: Mapping[str, Any]) -> dict[str, Location]:
    """Where the rule's main fields were read (computed when first asked: it may need a scan of
    the file that most rules never need)."""
    for name in _LOCATED:
        if name in data:
            b.note_location(name)
    if "from" in b.locations:
        b.locations["from_"] = b.locations["from"]
    return b.locations


class LazyLocations(Mapping[str, Location]):
    """A rule's field locations, computed on first use; pickled as a plain dict."""

    def __init__(self, compute: Callable[[], dict[str, Location]]):
        self._compute: Callable[[], dict[str, Location]] | None = compute
        self._data: dict[str, Location] | None = None

    def _get(self) -> dict[str, Location]:
        if self._data is None:
            assert self._compute is not None
            self._data, self._compute = self._compute(), None
        return self._data

    def __getitem__(self, key: str) -> Location:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self._get()),))

    def __repr__(self) -> str:
        return repr(self._get())


def build_rule(
    data: Mapping[str, Any], origin: Origin, *, extra: Mapping[str, Any] | None = None
) -> tuple[Rule | None, list[RuleProblem]]:
    """Build a rule from a Kibana-shaped mapping; check it; parse its EQL query.

    Returns the rule (None when any problem is an error) and the problems, located in the file.
    """
    from vigil.rules.validate import check_rule

    b = _Builder(origin, data)
    rule_type = b.string("type", required=True)
    if rule_type and rule_type not in KNOWN_TYPES:
        b.problem(
            "type", f"unknown rule type {rule_type!r}; expected one of {', '.join(sorted(KNOWN_TYPES))}"
        )
    language = b.string("language", _DEFAULT_LANGUAGE.get(rule_type, ""))
    # Kibana lets a custom query rule have an empty query (it matches every event).
    query = b.string("query", required=rule_type in ("eql", "esql", "threshold", "new_terms"))
    filters = b.objects("filters")
    rule_extra: dict[str, Any] = {k: v for k, v in data.items() if k not in _MODEL_FIELDS}
    rule_extra.update(extra or {})
    rule_extra["format"] = origin.format
    rule = Rule(
        rule_id=b.string("rule_id", required=True),
        name=b.string("name", required=True),
        type=rule_type,
        query=query,
        language=language,
        description=b.string("description", required=True),
        index=b.strings("index"),
        interval=b.string("interval", "5m"),
        from_=b.string("from", "now-6m"),
        to=b.string("to", "now"),
        max_signals=b.integer("max_signals", 100),
        severity=b.string("severity", "low", required=True),
        risk_score=b.integer("risk_score", 21, required=True),
        tags=b.strings("tags"),
        threat=_threats(b),
        version=b.integer("version", 1),
        author=b.strings("author"),
        license=b.string("license"),
        references=b.strings("references"),
        false_positives=b.strings("false_positives"),
        note=b.string("note"),
        setup=b.string("setup"),
        building_block_type=b.optional_string("building_block_type"),
        timestamp_override=b.optional_string("timestamp_override"),
        timestamp_override_fallback_disabled=b.boolean("timestamp_override_fallback_disabled", False),
        event_category_override=b.optional_string("event_category_override"),
        timestamp_field=b.optional_string("timestamp_field"),
        tiebreaker_field=b.optional_string("tiebreaker_field"),
        filters=tuple(dict(f) for f in filters),
        alert_suppression=_suppression(b),
        exceptions_list=_exception_refs(b),
        enabled=b.boolean("enabled", True),
        source=origin.file,
        locations=LazyLocations(lambda: _locations(b, data)),
        extra=rule_extra,
    )
    for issue in check_rule(rule, data):
        b.problem(issue.field, issue.message, issue.severity, issue.hint)
        if issue.unsupported:
            rule_extra["unsupported"] = issue.message
    if rule.type == "eql" and rule.query and (rule.language in ("", "eql")):
        _check_query(b, rule.query)
    if any(p.severity == "error" for p in b.problems):
        return None, b.problems
    return rule, b.problems


def _check_query(b: _Builder, query: str) -> None:
    """Parse and verify an EQL query; put a syntax or semantic error at its place in the file."""
    from vigil.ecs.ecs_schema import ecs_schema
    from vigil.ecs.schema import SchemaRegistry
    from vigil.engine.verify import verify_query
    from vigil.eql.parser import parse

    try:
        verify_query(parse(query), SchemaRegistry(default=ecs_schema()))
    except VigilError as exc:
        line, column = b.where("query")
        loc = exc.location
        if loc is not None and b.origin.query_at is not None:
            mapped = b.origin.query_at(loc.line, loc.column)
            if mapped is not None:
                line, column = mapped
        message = (
            exc.message if loc is None else f"{exc.message} (query line {loc.line}, column {loc.column})"
        )
        if exc.hint:
            message = f"{message} (hint: {exc.hint})"
        caret = loc.caret() if loc is not None else ""
        b.problems.append(RuleProblem(b.origin.file, line, "query", message, "error", column, caret))
    except RecursionError:
        b.problem("query", "the query is nested too deeply to parse")
