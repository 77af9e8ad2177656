"""Run Elasticsearch's EQL QA suite against vigil's engine and check the answers.

Every spec of every suite (453 runs) is compiled and executed as the Java harness sends it
(README §3): ``size`` = the spec's size or 50, the suite's tiebreaker, ``@timestamp``,
``event.category``, and ``max_samples_per_key`` when the spec sets it. ES picks ``head`` or
``tail`` at random; here both must give the expected answer, a stronger check. Answers are
compared as README §4 says: the flat id list (-1 for a missing-event placeholder) against the
expected list or any of its alternatives, then the join keys as strings.

Shard failures (README §4.5) are emulated at harness level, since the engine has no shards:
a query that references a runtime field of an index (``broken`` in ``endgame-shard-failures``,
whose script fails on every document) makes that index fail. The query then runs on the healthy
indices only; ``allow_partial_search_results`` (default true) turns the failure into an error
when false, and a sequence query returns no sequences unless ``allow_partial_sequence_results``
(default false) is true. The failed indices are reported as ``shard_failures`` and checked
against ``expect_shard_failures``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from vigil.conformance.loader import (
    SUITES,
    SUITES_BY_NAME,
    LoadedSuite,
    Spec,
    check_suites_json,
    load_suite,
)
from vigil.errors import ConformanceError, VigilError

DEFAULT_SIZE = 50  # the harness's default; ES's own is 10
POSITIONS: tuple[Literal["head", "tail"], ...] = ("head", "tail")
# Execution paths: "plain" hands the decoded events to the engine; "prefilter" first drops the
# events whose raw JSON line the compiled query's byte-level pre-check rejects, as the NDJSON
# reader does, which proves the pre-check never loses a matching event.
# "projection" also decodes each surviving line with the projection decoder built from the
# fields the query reads (vigil.sources.projection), as `vigil query` does, so the engine
# evaluates projected documents and restores full sources only for its results.
# "scan" chooses the events as the parallel reader's workers do: byte ranges searched whole for
# the pre-filter's needles, and the key pre-pass of keyed sequences (vigil.conformance.scan_path).
# "record" runs that key pre-pass in one reading, recording lines by key (vigil.sources.keypass).
# "columnar" keeps the events the many-rules hunt's columnar filter (vigil.engine.columnar) names
# for the query, their raw lines answered a batch at a time per index (each index's mapping).
# "keygate" withholds from a sequence query the events the many-rules hunt's key gate spares it
# (vigil.rules.keygate): rows held by the columnar filter, decided once every line was read.
KNOWN_PATHS = ("plain", "prefilter", "projection", "scan", "record", "columnar", "keygate")
# "store" loads each suite's data once into a temporary columnar event store (vigil.store) and
# runs every query over the candidates its SQL push-down returns: the push-down must never lose
# an event the evaluator needs.
ALL_PATHS = (*KNOWN_PATHS, "store")


@dataclass(frozen=True)
class SpecOutcome:
    """The verdict on one spec run in one suite (both result positions)."""

    suite: str
    file: str
    line: int
    name: str
    index: str
    passed: bool
    skipped_reason: str | None = None
    expected: Any = None  # expected_event_ids as written
    got: Any = None  # the id list of the failing position (of head when passed)
    message: str = ""  # why it failed, ending with the position(s)
    path: str = "plain"
    erratum: str = ""  # the upstream fix applied to the stored query, if any

    @property
    def test_id(self) -> str:
        """``Suite::file::name`` (plus ``::path`` for paths other than ``plain``)."""
        base = f"{self.suite}::{self.file}::{self.name}"
        return base if self.path == "plain" else f"{base}::{self.path}"


@dataclass(frozen=True)
class ConformanceReport:
    """All outcomes of a run, in suite and spec order."""

    outcomes: tuple[SpecOutcome, ...]
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        """Runs that gave the expected answer in both positions."""
        return sum(1 for o in self.outcomes if o.passed)

    @property
    def skipped(self) -> int:
        """Runs not attempted (with a reason)."""
        return sum(1 for o in self.outcomes if o.skipped_reason is not None)

    @property
    def failed(self) -> int:
        """Runs that were attempted and did not pass."""
        return len(self.outcomes) - self.passed - self.skipped


# --------------------------------------------------------------------------- one run


@dataclass(frozen=True)
class _Answer:
    """What one request (one result position) gave."""

    ids: list[int | Any] | None = None
    join_keys: list[str] | None = None
    shard_failures: tuple[str, ...] = ()
    error: str | None = None


def _compile_query(query: str, schemas: Any, options: Any) -> Any:
    """Indirection over the engine so tests can substitute a fake engine."""
    from vigil.engine import compile_query

    return compile_query(query, schemas=schemas, options=options)


@functools.lru_cache(maxsize=1024)
def _parse_query(query: str) -> Any:
    """The parsed AST, or None when the parser is unavailable or rejects the text (the engine
    then reports the real error)."""
    try:
        from vigil.eql.parser import parse
    except ImportError:
        return None
    try:
        return parse(query)
    except Exception:
        return None


_IDENT = re.compile(r"`([^`]+)`|([@A-Za-z_][\w.@]*)")
_STRING = re.compile(r'"""(?:.|\n)*?"""|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'')


def referenced_fields(query: str) -> frozenset[str]:
    """Field paths a query references: from the AST's Field nodes when the parser is there,
    otherwise from identifiers of the text outside string literals (may over-approximate)."""
    ast = _parse_query(query)
    if ast is not None:
        return frozenset(_ast_fields(ast))
    text = _STRING.sub(" ", query)
    return frozenset(m.group(1) or m.group(2) for m in _IDENT.finditer(text))


def _ast_fields(node: Any) -> Iterator[str]:
    from vigil.eql.ast import Field

    if isinstance(node, Field):
        yield node.path
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            yield from _ast_fields(getattr(node, f.name))
    elif isinstance(node, (tuple, list)):
        for item in node:
            yield from _ast_fields(item)


def query_kind(query: str) -> Literal["event", "sequence", "sample"]:
    """Whether a query is an event, sequence or sample query (AST first, then first keyword)."""
    ast = _parse_query(query)
    if ast is not None:
        body = type(getattr(ast, "body", ast)).__name__
        if body == "SequenceQuery":
            return "sequence"
        if body == "SampleQuery":
            return "sample"
        return "event"
    first = query.split(None, 1)[0].lower() if query.strip() else ""
    return "sequence" if first == "sequence" else "sample" if first == "sample" else "event"


def _failing_indices(suite: LoadedSuite, query: str) -> tuple[str, ...]:
    runtime = [ix for ix in suite.indices if ix.runtime_fields]
    if not runtime:
        return ()
    fields = referenced_fields(query)
    return tuple(ix.name for ix in runtime if ix.runtime_fields & fields)


def _events(suite: LoadedSuite, healthy: Sequence[str]) -> list[Any]:
    from vigil.engine import Event

    events: list[Any] = []
    seq = 0
    # seq follows the index pattern's order, then file order, like _shard_doc on one-shard indices
    for ix in suite.indices:
        for n, doc in enumerate(ix.documents):
            if ix.name in healthy:
                events.append(Event(source=doc, index=ix.name, id=f"{ix.name}:{n}", seq=seq))
            seq += 1
    return events


@dataclass
class _SuiteRunner:
    """Per-suite state reused across specs: the events of each healthy-index subset."""

    suite: LoadedSuite
    _events: dict[tuple[str, ...], list[Any]] = dataclasses.field(default_factory=dict)
    _raw: dict[int, bytes] = dataclasses.field(default_factory=dict)  # id(event) -> its JSON line
    _store: Any = None  # (temporary folder, vigil.store.Store) holding every index of the suite
    _candidates: dict[tuple[str, tuple[str, ...]], list[Any]] = dataclasses.field(default_factory=dict)
    _lines: dict[tuple[str, ...], Any] = dataclasses.field(default_factory=dict)  # scan_path.LinesFile

    def events(self, healthy: tuple[str, ...]) -> list[Any]:
        if healthy not in self._events:
            self._events[healthy] = _events(self.suite, healthy)
        return self._events[healthy]

    def projected(self, events: Sequence[Any], fields: Sequence[str]) -> list[Any]:
        """Fresh events holding only the projection of each raw line (and the line itself)."""
        from vigil.engine import Event
        from vigil.sources.projection import ProjectionDecoder

        decode = ProjectionDecoder(fields).decode
        out = []
        for e in events:
            raw = self.raw_line(e)
            out.append(Event(decode(raw), e.index, e.id, e.seq, raw, True))
        return out

    def store_candidates(self, query: str, compiled: Any, healthy: tuple[str, ...]) -> list[Any]:
        """The events the store's push-down returns for a query over the healthy indices (the
        suite's data is loaded once, into a store whose hot columns include every field the
        suite's mappings type). They are read both ways, the query's own statement and the
        many-rule scan (:meth:`vigil.store.Store.tagged_candidates`), which must agree; the
        spec runs over the latter."""
        key = (query, healthy)
        found = self._candidates.get(key)
        if found is None:
            store = self.store()
            wanted = frozenset(healthy)
            alone = [e.id for e in store.candidates([compiled], index=wanted.__contains__)]
            found = [e for e, _tags in store.tagged_candidates([compiled], index=wanted.__contains__)]
            if [e.id for e in found] != alone:
                raise RuntimeError(
                    f"the store's many-rule scan gave {len(found)} candidates where the query's own "
                    f"statement gave {len(alone)}"
                )
            self._candidates[key] = found
        return found

    def store(self) -> Any:
        """The suite's temporary event store (built on first use)."""
        if self._store is None:
            import tempfile

            from vigil.store import hot_fields_for, open_store

            folder = tempfile.TemporaryDirectory(prefix="vigil-conformance-store-")
            fields = hot_fields_for(ix.schema for ix in self.suite.indices)
            store = open_store(folder.name, hot_fields=fields)
            store.append(_events(self.suite, tuple(ix.name for ix in self.suite.indices)))
            self._store = (folder, store)
        return self._store[1]

    def scanned(self, compiled: Any, healthy: tuple[str, ...], path: str) -> list[Any]:
        """The events the parallel reader's range searches and key pre-pass decode (``path``
        "record": the pre-pass in one reading)."""
        from vigil.conformance.scan_path import LinesFile, record_events, scan_events

        lines = self._lines.get(healthy)
        if lines is None:
            lines = self._lines[healthy] = LinesFile(self.events(healthy), self.raw_line)
        return record_events(compiled, lines) if path == "record" else scan_events(compiled, lines)

    def columnar(self, compiled: Any, events: Sequence[Any]) -> list[Any]:
        """The events whose raw line the columnar filter names for the query (or leaves over),
        each index's lines answered with that index's mapping."""
        from vigil.engine.columnar import ColumnarFilter, query_filters

        filters = query_filters(compiled.query, compiled.options.event_category_field)
        keep: set[int] = set()
        by_index: dict[str, list[Any]] = {}
        for e in events:
            by_index.setdefault(e.index, []).append(e)
        for index, group in by_index.items():
            cf = ColumnarFilter([filters], self.suite.registry.for_index(index))
            masks = cf.masks([self.raw_line(e) for e in group])
            keep.update(id(e) for e, m in zip(group, masks, strict=True) if m != 0)
        return [e for e in events if id(e) in keep]

    def keygated(self, compiled: Any, events: Sequence[Any]) -> list[Any]:
        """The events a many-rules hunt offers the query once its key gate is set: each index's
        lines are answered by the columnar filter, which holds the rule's rows (collecting its
        first-step keys from their columns), lines it leaves over are held whole (their first
        steps tested on the event); after all lines, the held rows are decided with the keys
        (a line the filter passes over, or a held row not kept, is withheld)."""
        from types import SimpleNamespace

        from vigil.engine.columnar import ColumnarFilter, query_filters
        from vigil.rules.keygate import RowGates, final_keys, final_spans, gateable

        if not gateable([SimpleNamespace(compiled=compiled)]):
            return list(events)
        filters = query_filters(compiled.query, compiled.options.event_category_field)
        by_index: dict[str, list[Any]] = {}
        for e in events:
            by_index.setdefault(e.index, []).append(e)
        found: set[Any] | None = set()
        spans: set[Any] | None = set()  # (key, time slot) of first steps, for a rule with a maxspan
        held: list[tuple[list[Any], Any, Any]] = []  # (events, their gate, what it held)
        kept: set[int] = set()
        for index, group in by_index.items():
            cf = ColumnarFilter([filters], self.suite.registry.for_index(index))
            gate = RowGates({0: compiled}, cf)
            if not gate.complete:
                return list(events)  # (the hunt does not gate such a rule)
            cf.row_gate = gate
            masks = cf.masks([self.raw_line(e) for e in group])
            for j, (e, mask) in enumerate(zip(group, masks, strict=True)):
                if mask is None:
                    gate.hold_event(e, [0], j)
                elif mask:
                    kept.add(id(e))  # (never: the rule is the filter's only one)
            keys = gate.first[0]
            found = None if found is None or keys is None else found | keys
            slots = gate.spans.get(0)
            spans = None if spans is None or slots is None else spans | slots
            held.append((group, gate, gate.held))
        rule_keys = final_keys({0: found})
        union = rule_keys[0] or frozenset()
        rule_spans = final_spans({0: spans}, rule_keys)
        for group, gate, rows in held:
            kept.update(id(group[j]) for j in gate.chosen(rows, rule_keys, union, rule_spans))
        return [e for e in events if id(e) in kept]

    def raw_line(self, event: Any) -> bytes:
        raw = self._raw.get(id(event))
        if raw is None:
            raw = self._raw[id(event)] = json.dumps(event.source, ensure_ascii=False).encode()
        return raw

    def ask(self, spec: Spec, position: Literal["head", "tail"], path: str = "plain") -> _Answer:
        from vigil.engine import QueryOptions

        suite = self.suite
        failing = _failing_indices(suite, spec.query)
        healthy = tuple(ix.name for ix in suite.indices if ix.name not in failing)
        size = spec.size if spec.size is not None else DEFAULT_SIZE
        extra: dict[str, Any] = {}
        if spec.max_samples_per_key is not None and spec.max_samples_per_key > 0:
            extra["max_samples_per_key"] = spec.max_samples_per_key
        try:
            options = QueryOptions(
                timestamp_field="@timestamp",
                tiebreaker_field=suite.definition.tiebreaker_field,
                event_category_field="event.category",
                size=size,
                result_position=position,
                **extra,
            )
            compiled = _compile_query(spec.query, suite.registry, options)
            events = (
                self.store_candidates(spec.query, compiled, healthy)
                if path == "store"
                else self.events(healthy)
            )
            line_filter = getattr(compiled, "line_filter", None)
            if path in ("prefilter", "projection") and line_filter is not None:
                events = [e for e in events if line_filter(self.raw_line(e))]
            if path == "projection":
                events = self.projected(events, compiled.fields)
            if path in ("scan", "record"):
                events = self.scanned(compiled, healthy, path)
            if path == "columnar":
                events = self.columnar(compiled, events)
            if path == "keygate":
                events = self.keygated(compiled, events)
            result = compiled.execute(events)
        except Exception as exc:
            return _Answer(error=_describe(exc), shard_failures=failing)
        if failing:
            allow_search = spec.allow_partial_search_results is not False
            if not allow_search:
                return _Answer(
                    error=f"search failed on {', '.join(failing)} and allow_partial_search_results is false",
                    shard_failures=failing,
                )
            if query_kind(spec.query) == "sequence" and spec.allow_partial_sequence_results is not True:
                return _Answer(ids=[], join_keys=[], shard_failures=failing)
        try:
            return _read_result(result, suite.definition.id_field, failing)
        except Exception as exc:  # a malformed result is the engine's failure, not the run's
            return _Answer(error=f"unreadable result: {_describe(exc)}", shard_failures=failing)


def _read_result(result: Any, id_field: str, failing: tuple[str, ...]) -> _Answer:
    if result.kind == "events":
        return _Answer(ids=[_id(e, id_field) for e in result.events], join_keys=[], shard_failures=failing)
    ids: list[Any] = []
    keys: list[str] = []
    for hit in result.sequences:
        ids.extend(-1 if e is None else _id(e, id_field) for e in hit.events)
        keys.extend(key_string(k) for k in hit.join_keys)
    return _Answer(ids=ids, join_keys=keys, shard_failures=failing)


def _id(event: Any, id_field: str) -> Any:
    value = event.source.get(id_field)
    # the harness reads the id as a long; a string id would still compare by its number
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def key_string(value: Any) -> str:
    """A join key as the harness compares it: null -> "null", booleans lower case, numbers and
    strings as ES prints them."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _describe(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, VigilError) else str(exc)
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _problem(spec: Spec, answer: _Answer) -> str | None:
    """Why an answer is wrong (None when right)."""
    expect_failures = bool(spec.expect_shard_failures)
    if answer.error is not None:
        return f"error: {answer.error}"
    if expect_failures and not answer.shard_failures:
        return "expected shard failures, got none"
    if not expect_failures and answer.shard_failures:
        return f"expected no shard failures, got failures on {', '.join(answer.shard_failures)}"
    ids = answer.ids or []
    if not any(list(alt) == ids for alt in spec.expected):
        shown = spec.expected_ids
        return f"expected {'one of ' if spec.any_of else ''}{shown} got {ids}"
    if spec.join_keys and list(spec.join_keys) != (answer.join_keys or []):
        return f"expected join keys {list(spec.join_keys)} got {answer.join_keys}"
    return None


def check_spec(runner: _SuiteRunner, spec: Spec, path: str = "plain") -> SpecOutcome:
    """Run one spec in both result positions and judge it (never raises for engine errors)."""
    suite = runner.suite
    base = SpecOutcome(
        suite=suite.name,
        file=spec.file,
        line=spec.line,
        name=spec.name,
        index=suite.definition.index_pattern,
        passed=False,
        expected=spec.expected_ids,
        path=path,
        erratum=spec.erratum,
    )
    if path not in ALL_PATHS:
        return dataclasses.replace(base, skipped_reason=f"unknown execution path {path!r}")
    answers = {pos: runner.ask(spec, pos, path) for pos in POSITIONS}
    problems = {pos: _problem(spec, ans) for pos, ans in answers.items()}
    bad = [pos for pos in POSITIONS if problems[pos] is not None]
    if not bad:
        return dataclasses.replace(base, passed=True, got=answers["head"].ids)
    first = bad[0]
    if len(bad) == 2 and problems["head"] == problems["tail"]:
        where = "positions head, tail"
    else:
        where = f"position {first}"
    return dataclasses.replace(base, got=answers[first].ids, message=f"{problems[first]} ({where})")


# --------------------------------------------------------------------------- whole runs


def iter_runs(directory: Path, suites: Sequence[str] | None = None) -> Iterator[tuple[LoadedSuite, Spec]]:
    """Every (suite, spec) run of the selected suites, in order (453 for the whole suite)."""
    for suite in _select(directory, suites):
        for spec in suite.specs:
            yield suite, spec


_RUNNERS: dict[int, _SuiteRunner] = {}


def run_spec(suite: LoadedSuite, spec: Spec, path: str = "plain") -> SpecOutcome:
    """Run one spec of a loaded suite (events are built once per suite and reused)."""
    runner = _RUNNERS.get(id(suite))
    if runner is None or runner.suite is not suite:
        runner = _RUNNERS[id(suite)] = _SuiteRunner(suite)
    return check_spec(runner, spec, path)


def run_conformance(
    directory: Path, *, suites: Sequence[str] | None = None, paths: Sequence[str] = ("plain",)
) -> ConformanceReport:
    """Run every spec of the selected suites (default: all) along each execution path.

    Raises :class:`ConformanceError` when the suite's files cannot be read; engine errors on a
    spec are failures of that spec.
    """
    start = time.perf_counter()
    outcomes = [run_spec(suite, spec, path) for suite, spec in iter_runs(directory, suites) for path in paths]
    return ConformanceReport(tuple(outcomes), time.perf_counter() - start)


def _select(directory: Path, names: Sequence[str] | None) -> list[LoadedSuite]:
    directory = Path(directory)
    if not directory.is_dir():
        raise ConformanceError(f"conformance directory not found: {directory}")
    check_suites_json(directory)
    wanted = [s.name for s in SUITES] if names is None else list(names)
    unknown = [n for n in wanted if n not in SUITES_BY_NAME]
    if unknown:
        raise ConformanceError(f"unknown suite(s) {', '.join(unknown)}; known: {', '.join(SUITES_BY_NAME)}")
    return [load_suite(directory, n) for n in wanted]


def format_outcome(outcome: SpecOutcome) -> str:
    """One report line for a failing or skipped run ('' for a passing one)."""
    where = f"{outcome.suite} {outcome.file}:{outcome.line} {outcome.name}"
    if outcome.path != "plain":
        where += f" [{outcome.path}]"
    if outcome.skipped_reason is not None:
        return f"SKIP {where}: {outcome.skipped_reason}"
    if not outcome.passed:
        return f"FAIL {where}: {outcome.message}"
    return ""


def format_report(report: ConformanceReport) -> list[str]:
    """Report lines: each failure, each skip with its reason, a NOTE per run whose query had an
    erratum applied, then ``N passed, M failed`` (``, K skipped`` when some were skipped)."""
    lines = [line for line in (format_outcome(o) for o in report.outcomes) if line]
    lines += [
        f"NOTE {o.suite} {o.file}:{o.line} {o.name}: erratum applied ({o.erratum})"
        for o in report.outcomes
        if o.erratum
    ]
    summary = f"{report.passed} passed, {report.failed} failed"
    if report.skipped:
        summary += f", {report.skipped} skipped"
    lines.append(summary)
    return lines


def main(
    directory: Path,
    out: TextIO | None = None,
    *,
    suites: Sequence[str] | None = None,
    paths: Sequence[str] = ("plain",),
) -> int:
    """Run the whole suite from ``directory`` and print the report; 0 when nothing failed.

    ``paths`` picks the execution paths (see ALL_PATHS); each runs every spec.
    A :class:`ConformanceError` (unreadable suite files) propagates for the CLI to render.
    """
    report = run_conformance(Path(directory), suites=suites, paths=paths)
    # sys.stdout is looked up now, not at import: callers (click's test runner) may swap it.
    stream = out if out is not None else sys.stdout
    for line in format_report(report):
        print(line, file=stream)
    return 0 if report.failed == 0 else 1


__all__: list[str] = [
    "ALL_PATHS",
    "KNOWN_PATHS",
    "ConformanceReport",
    "SpecOutcome",
    "check_spec",
    "format_outcome",
    "format_report",
    "iter_runs",
    "key_string",
    "main",
    "query_kind",
    "referenced_fields",
    "run_conformance",
    "run_spec",
]
