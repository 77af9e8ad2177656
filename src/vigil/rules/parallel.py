"""Read the events of a hunt or replay with several worker processes.

Reading, pre-filtering, decoding, dispatching and testing each event against the rules' filters
is the bulk of a hunt over many rules, and it is independent per event. As for a single query
(:mod:`vigil.sources.parallel`), big NDJSON files are cut into byte ranges at line boundaries;
each worker process holds every rule's compiled plan (inherited by ``fork``, nothing is
re-compiled), turns its ranges into the rules' *parts* exactly as :func:`collect` does in one
process, and sends back only those parts, without documents. The main process appends them to
each rule in input order (ranges come back in order; an event's position is its file number and
byte offset), so every rule then runs over exactly the parts a single process would have kept:
the alerts are the same. Documents of the few events that end up in alerts are re-read from
their file by offset.

Inputs that cannot be cut (stdin, compressed files, EVTX, JSON documents, Windows JSON to map)
make the caller fall back to the single-process reader.
"""

from __future__ import annotations

import gc
import mmap
import multiprocessing
import os
import pickle
import shutil
import tempfile
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from vigil.errors import DataError
from vigil.rules.executor import RulePlan
from vigil.rules.keygate import GATE_MAX_KEYS, GATE_MAX_SPANS, RowGates, final_keys, final_spans, gateable
from vigil.rules.scheduler import Collector, CollectStats
from vigil.sources.ndjson import Malformed, ReadReport, _Reader
from vigil.sources.parallel import (
    CHUNK_BYTES,
    MIN_PARALLEL_BYTES,
    SharedPacker,
    SharedUnpacker,
    _batched,
    _Chunk,
    _events_of,
    _every_event,
    _expand,
    _kind,
    _passing,
    _scanned,
    plan_chunks,
)


@dataclass
class _HuntResult:
    # plan number -> [(window time, seq, packed part)]
    parts: dict[int, list[tuple[int, int, Any]]]
    seen: dict[int, int]  # plan number -> events that passed its index, filters and exceptions
    seconds: dict[int, float]  # plan number -> time spent testing events (under --profile)
    lines: int = 0
    events: int = 0
    filtered: int = 0
    unknown_index: int = 0
    scanned: bool = False  # the range was searched whole (a few rules, see plan_scan)
    malformed: list[tuple[int, int, str]] = field(default_factory=list)
    # The key gates (vigil.rules.keygate): the range's first-step keys per gated rule (None:
    # more than a gate holds), and the file holding the rows held for them (None: none).
    first_keys: dict[int, set[Any] | None] = field(default_factory=dict)
    first_spans: dict[int, set[Any] | None] = field(default_factory=dict)  # hashes of (key, time slot)
    held: str | None = None


#: From this many rules on, a parallel hunt answers lines with the columnar filter.
COLUMNAR_MIN_RULES = 20

# Set in the main process right before the pool forks; workers inherit it.
_STATE: dict[str, Any] = {}


def _files(
    paths: Sequence[str], input_format: str, index: str | None, index_of_path: dict[str, str]
) -> list[tuple[str, str | None]] | None:
    """(file, forced index) in the reader's order, or None when some input cannot be cut."""
    out: list[tuple[str, str | None]] = []
    for path in paths:
        # The single-query reader's test of what can be cut, per argument (for its --index).
        files = _expand([path], input_format)
        if files is None:
            return None
        forced = index_of_path.get(path, index)
        out.extend((name, forced) for name in files)
    return out


def _hunt_chunk(chunk: _Chunk) -> _HuntResult:
    plans: Sequence[RulePlan] = _STATE["plans"]
    collector: Collector = _STATE["collector"]
    forced: list[str | None] = _STATE["forced"]
    kinds: list[str] = _STATE["kinds"]
    report = ReadReport(log=lambda _text: None, max_kept=1_000_000)
    ruleset = collector.ruleset
    reader = _Reader(strict=False, line_filter=None, report=report)
    reader.forced_index = forced[chunk.file_no]
    events: Iterator[Any]
    scanner = _STATE.get("scanner")
    picks = _STATE.get("picks")
    if ruleset is not None and picks is not None:
        # Keyed sequence rules whose keys were collected in one reading: only the lines that
        # reading chose are read (see plan_scan); the counts are that reading's.
        chosen, lines, blank = picks[(chunk.file_no, chunk.start)]
        passed = [0]
        events = _events_of(reader, chunk, _picked(chunk, chosen, ruleset, passed))
    elif _STATE.get("columnar") is not None:
        # Many rules: the lines are answered a batch at a time from their columns (see
        # vigil.engine.columnar); the collector offers each event to the rules its line named.
        collector.columnar = _STATE["columnar"]
        events = _events_of(reader, chunk, _batched(chunk, _STATE["columnar"], report))
    elif ruleset is not None and scanner is not None:
        # A few rules with selective needles: the range is searched whole for them (see
        # plan_scan); the filter sees each line found right before its event is read.
        def test(line: bytes, _found: int) -> bool:
            return bool(ruleset(line))

        events = _events_of(reader, chunk, _scanned(chunk, scanner, test, report, True))
    elif ruleset is not None:
        # Lines no rule can match are passed over in one tight loop. The rule-set filter also
        # remembers which rules its last line may concern: each line is tested right before its
        # event reaches the collector (the generators run in step), as in the reader.
        events = _events_of(reader, chunk, _passing(chunk, ruleset, report))
    else:
        events = _every_event(reader, chunk)

    gate: RowGates | None = _STATE.get("row_gates")
    if gate is not None:
        gate.restart(chunk.start)
    result, stats = _gathered(plans, kinds, lambda: collector.collect(_let_go(events)))
    if gate is not None:
        result.first_keys = gate.first
        result.first_spans = gate.spans
        if gate.held:
            result.held = os.path.join(_STATE["held_dir"], f"{chunk.file_no}-{chunk.start}.pickle")
            try:
                with open(result.held, "wb") as f:
                    pickle.dump(gate.held, f, protocol=pickle.HIGHEST_PROTOCOL)
            except OSError as exc:
                raise _held_error("write", _STATE["held_dir"], exc) from None
        gate.restart()
    result.lines = report.lines
    result.events = report.events
    result.filtered = report.filtered
    if ruleset is not None and picks is not None:
        result.lines = lines
        result.filtered = lines - blank - passed[0]  # every other non-blank line was passed over
    result.unknown_index = stats.unknown_index
    result.scanned = ruleset is not None and (scanner is not None or picks is not None)
    result.malformed = [(m.line, m.column, m.message) for m in report.malformed]
    return result


_LET_GO: dict[str, Any] = {}


def _let_go(events: Iterator[Any]) -> Iterator[Any]:
    """``events``, each one's document and line dropped once the collector asks for the next
    (it has offered the event to its rules by then). A worker sends its rules' parts back
    without documents (see _pack_event), so a range's documents need not stay in memory until
    its parts are sent (freeing them costs the same either way: measured, no faster)."""
    for ev in events:
        yield ev
        ev.source = _LET_GO
        ev.raw = None


def _gathered(
    plans: Sequence[RulePlan], kinds: list[str], collect: Callable[[], Any]
) -> tuple[_HuntResult, Any]:
    """Run ``collect`` (offering events to the plans) and gather what it gave each plan: its
    parts packed for the main process, how many events it saw and the time it took."""
    for p in plans:
        # This process only gathers parts; the main process feeds them to the rules' answers
        # (and keeps what it was given so far: a process forked after a pass starts afresh).
        p.stream = None
        p.parts = []
    before = [p.events_seen for p in plans]
    clock = [p.offer_seconds for p in plans]
    stats = collect()
    result = _HuntResult(parts={}, seen={}, seconds={})
    packer = SharedPacker()
    for i, plan in enumerate(plans):
        if plan.parts:
            pack = packer.pack
            kind = kinds[i]
            result.parts[i] = [(when, seq, pack(kind, part)) for when, seq, part in plan.parts]
            plan.parts.clear()
        delta = plan.events_seen - before[i]
        if delta:
            result.seen[i] = delta
        if plan.offer_seconds != clock[i]:
            result.seconds[i] = plan.offer_seconds - clock[i]
    return result, stats


def _held_error(doing: str, folder: str, exc: OSError) -> DataError:
    """The error of a hunt whose key gate cannot keep its held rows in ``folder``."""
    return DataError(
        f"cannot {doing} the rows the key gate holds during the pass in {folder}: {exc.strerror or exc}",
        hint="free some space there, point TMPDIR at a larger folder, or run with --no-key-gate "
        "(~0.6 GB over 10,000,000 events)",
    )


class _Chosen:
    """What :class:`vigil.rules.scheduler.Collector` reads of a columnar filter, for the rows
    kept after the pass: the rules of the line handed on next, with their true filters."""

    last_line: bytes | None = None
    last_exact = True
    last_mask = 0
    last_known: dict[int, tuple[int, ...] | None] | None = None


def _held_chunk(chunk: _Chunk) -> _HuntResult:
    """After the pass: the rows one range held for the gated rules (see
    :mod:`vigil.rules.keygate`), decided with every rule's first-step keys; the rows kept are
    read again by offset, decoded and offered to those rules, in input order. ``events``: the
    rows decoded here that the pass did not decode (it counted them as passed over)."""
    plans: Sequence[RulePlan] = _STATE["plans"]
    collector: Collector = _STATE["collector"]
    gate: RowGates = _STATE["row_gates"]
    path = _STATE["held"][(chunk.file_no, chunk.start)]
    try:
        with open(path, "rb") as f:
            held = pickle.load(f)
        os.unlink(path)
    except OSError as exc:
        raise _held_error("read", os.path.dirname(path), exc) from None
    rows = sorted(gate.chosen(held, _STATE["gate_keys"], _STATE["gate_union"], _STATE["gate_spans"]).items())
    numbers = {off: held.quiet_number(off) for off, _chosen in rows}
    del held
    fresh_at = {off for off, number in numbers.items() if number}
    chosen_line = _Chosen()

    def lines() -> Iterator[tuple[int, int, bytes]]:
        with open(chunk.path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            find = data.find
            for off, chosen in rows:
                end = find(b"\n", off)
                line = data[off : end + 1 if end >= 0 else len(data)]
                chosen_line.last_line = line
                chosen_line.last_mask = sum(1 << i for i in chosen)
                chosen_line.last_known = chosen
                # (a line the pass decoded is numbered 0: it was reported then, if malformed)
                yield numbers[off], off, line

    report = ReadReport(log=lambda _text: None, max_kept=1_000_000)
    reader = _Reader(strict=False, line_filter=None, report=report)
    reader.forced_index = _STATE["forced"][chunk.file_no]
    unknown = [0]

    def events() -> Iterator[Any]:
        for ev in _let_go(_events_of(reader, chunk, lines())):
            if not ev.index and ev.origin is not None and ev.origin[1] in fresh_at:
                unknown[0] += 1  # (the pass counted the events it decoded)
            yield ev

    collector.columnar, collector.holding = chosen_line, None
    result, _stats = _gathered(plans, _STATE["kinds"], lambda: collector.collect(events()))
    result.malformed = [(m.line, m.column, m.message) for m in report.malformed if m.line]
    result.events = len(fresh_at) - len(result.malformed)
    result.filtered = len(fresh_at)
    result.unknown_index = unknown[0]
    return result


def _picked(
    chunk: _Chunk, chosen: Sequence[tuple[int, int]], test: Callable[[bytes], bool], passed: list[int]
) -> Iterator[tuple[int, int, bytes]]:
    """(line number in the chunk, offset, line) of the ``chosen`` lines that pass ``test``, read
    by offset, each tested right before its event is read; ``passed[0]`` counts them."""
    with open(chunk.path, "rb") as f:
        for number, off in chosen:
            f.seek(off)
            line = f.readline()
            if test(line):
                passed[0] += 1
                yield number, off, line


def collect_parallel(
    plans: Sequence[RulePlan],
    paths: Sequence[str],
    report: ReadReport,
    *,
    workers: int,
    index: str | None = None,
    index_of_path: dict[str, str] | None = None,
    input_format: str = "auto",
    use_ruleset: bool = True,
    profile: bool = False,
    min_bytes: int = MIN_PARALLEL_BYTES,
    chunk_bytes: int = CHUNK_BYTES,
    on_event: Callable[[int], None] | None = None,
    scan: bool = True,
    columnar: bool = True,
    key_gate: bool = True,
) -> CollectStats | None:
    """Give every rule its parts of ``paths`` using ``workers`` processes; None (nothing done)
    when the input is not made of plain NDJSON files big enough to be worth cutting.
    ``scan=False`` keeps a few rules from the range searches and key pre-pass of
    :func:`plan_scan` (for tests). With :data:`COLUMNAR_MIN_RULES` rules or more, the lines are
    answered in batches by :class:`vigil.engine.columnar.ColumnarFilter` instead of line by line
    by the rule-set pre-filter (``columnar=False``: never); then the sequence rules are gated by
    the keys of their first steps: their rows are held during the pass, and decided and offered
    to them after it (:mod:`vigil.rules.keygate`; ``key_gate=False``: never)."""
    if workers < 2:
        return None
    files = _files(paths, input_format, index, index_of_path or {})
    if not files or sum(os.path.getsize(f) for f, _i in files) < min_bytes:
        return None
    chunks = _tapered(plan_chunks([f for f, _i in files], chunk_bytes), workers)
    many = columnar and use_ruleset and len(plans) >= COLUMNAR_MIN_RULES
    _STATE.clear()
    _STATE.update(
        plans=plans,
        # The columnar filter answers the lines of many rules: the rule-set pre-filter (a few
        # tenths of a second to build for a thousand rules) would never be asked.
        collector=Collector(plans, use_ruleset=use_ruleset and not many, profile=profile),
        forced=[i for _f, i in files],
        kinds=[_kind(p.compiled) for p in plans],
    )
    kinds = _STATE["kinds"]
    stats = CollectStats()
    report.files += len(files)
    line_base: dict[int, int] = {}
    ctx = multiprocessing.get_context("fork")
    if not many:
        _STATE["collector"].dispatch  # noqa: B018 - built here, shared by the workers forked below
    if scan:
        plan_scan(plans, _STATE["collector"], [f for f, _i in files], chunks, workers, ctx)
    if many:
        from vigil.ecs.ecs_schema import ecs_schema
        from vigil.engine.columnar import ColumnarFilter, rule_filters

        columnar_filter = ColumnarFilter(rule_filters(plans), ecs_schema())
        if key_gate:
            gates = _row_gates(plans, columnar_filter)
            if gates is not None:
                # Held rows are written to files, not kept in memory, until every range is read.
                columnar_filter.row_gate = _STATE["collector"].holding = _STATE["row_gates"] = gates
                try:
                    _STATE["held_dir"] = tempfile.mkdtemp(prefix="vigil-held-")
                except OSError as exc:
                    raise _held_error("write", tempfile.gettempdir(), exc) from None
                stats.gated_rules = len(gates.complete)
        columnar_filter.prepare()  # (shared by the workers forked below)
        _STATE["columnar"] = columnar_filter
    gates = _STATE.get("row_gates")
    found: dict[int, set[Any] | None] = {i: set() for i in gates.complete} if gates is not None else {}
    # the timed rules' slot hashes, as 8-byte integers (see keygate.final_spans)
    spans: dict[int, array[int] | None] = {i: array("q") for i in gates.timed} if gates is not None else {}
    held: dict[tuple[int, int], str] = {}
    first_lines: dict[tuple[int, int], int] = {}

    def take(chunk: _Chunk, res: _HuntResult, first_line: int) -> None:
        """Fold one range's result into the report and feed its parts to the rules."""
        for line, column, message in res.malformed:
            report.add_malformed(Malformed(chunk.path, first_line + line, column, message))
        report.events += res.events
        stats.events += res.events
        # an event several rules keep is one event again (see SharedPacker)
        unpack = SharedUnpacker().unpack
        for i, packed in res.parts.items():
            kind = kinds[i]
            plan = plans[i]
            if plan.stream is not None:
                feed = plan.stream.feed
                for _when, _seq, p in packed:
                    feed(unpack(kind, p))
                plan.streamed += len(packed)
            else:
                plan.parts.extend((when, seq, unpack(kind, p)) for when, seq, p in packed)
        for i, n in res.seen.items():
            plans[i].events_seen += n
        for i, t in res.seconds.items():
            plans[i].offer_seconds += t
        if on_event is not None:
            on_event(stats.events)

    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            for chunk, res in zip(chunks, pool.map(_hunt_chunk, chunks), strict=True):
                first_line = line_base.get(chunk.file_no, 0)
                first_lines[(chunk.file_no, chunk.start)] = first_line
                line_base[chunk.file_no] = first_line + res.lines
                report.lines += res.lines
                report.filtered += res.filtered
                report.scanned += res.scanned
                stats.unknown_index += res.unknown_index
                take(chunk, res, first_line)
                _merge(found, res.first_keys, GATE_MAX_KEYS)
                _merge(spans, res.first_spans, 2 * GATE_MAX_SPANS)  # (a slot may come from two ranges)
                if res.held is not None:
                    held[(chunk.file_no, chunk.start)] = res.held
        if gates is not None:
            # The gated rules' rows, decided now that their first-step keys are known, offered
            # range by range in input order.
            t0 = time.perf_counter()
            gate_keys = final_keys(found)
            _STATE["gate_keys"] = gate_keys
            _STATE["gate_union"] = frozenset().union(*(k for k in gate_keys.values() if k is not None))
            _STATE["gate_spans"] = final_spans(spans, gate_keys)
            found.clear()
            spans.clear()
            _STATE["held"] = held
            todo = [c for c in chunks if (c.file_no, c.start) in held]
            if todo:
                # What the pass gave the rules (their answers so far) is long-lived too: kept
                # out of the collector's walks in the workers forked now (see cli_hunt._settle_gc).
                gc.freeze()
                with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                    for chunk, res in zip(todo, pool.map(_held_chunk, todo), strict=True):
                        report.filtered -= res.filtered
                        stats.unknown_index += res.unknown_index
                        take(chunk, res, first_lines[(chunk.file_no, chunk.start)])
            stats.gate_seconds = time.perf_counter() - t0
    finally:
        held_dir = _STATE.get("held_dir")
        _STATE.clear()
        if held_dir is not None:
            shutil.rmtree(held_dir, ignore_errors=True)
    return stats


def _merge(into: dict[int, Any], more: dict[int, Any], limit: int) -> None:
    """Add a range's first-step keys (or time slots) per gated rule to those of the ranges before
    (a set, or an array); a rule's become None when the range could not tell them or they pass
    ``limit``."""
    for i, got in more.items():
        have = into[i]
        if have is None:
            continue
        if got is None:
            into[i] = None
            continue
        if isinstance(have, set):
            have |= got
        else:
            have.extend(got)
        if len(have) > limit:
            into[i] = None


#: The last ranges of a hunt are cut in this many pieces (see _tapered).
TAPER_PIECES = 4


def _tapered(chunks: list[_Chunk], workers: int) -> list[_Chunk]:
    """``chunks`` with the last ``2 * workers`` cut in :data:`TAPER_PIECES` each: the workers
    take ranges as they finish the previous ones, and ranges this small at the end leave one
    worker idle for less time while the other finishes (a 16 MB range is ~0.3 s of a hunt over
    1,000 rules)."""
    tail = min(len(chunks), 2 * workers)
    out = chunks[: len(chunks) - tail]
    for c in chunks[len(chunks) - tail :]:
        step = (c.end - c.start) // TAPER_PIECES
        if step < 1 << 20:
            out.append(c)
            continue
        starts = [c.start + k * step for k in range(TAPER_PIECES)]
        ends = [*starts[1:], c.end]
        out.extend(_Chunk(c.path, c.file_no, a, b) for a, b in zip(starts, ends, strict=True))
    return out


def _row_gates(plans: Sequence[RulePlan], columnar: Any) -> RowGates | None:
    """The key gates of the sequence rules (see :mod:`vigil.rules.keygate`) on ``columnar``'s
    rows, or None when no rule can be gated."""
    gated = gateable(plans)
    if not gated:
        return None
    gates = RowGates({i: plans[i].compiled for i, _r in gated}, columnar)
    return gates if gates.complete else None


# --------------------------------------------------------------------------- a few rules


def plan_scan(
    plans: Sequence[RulePlan],
    collector: Collector,
    files: Sequence[str],
    chunks: Sequence[_Chunk],
    workers: int,
    ctx: Any,
) -> None:
    """Make a hunt over a few rules read big files as ``vigil query`` reads them.

    When the rule-set pre-filter tests each rule's own pre-check (a handful of rules), a sequence
    rule with a rare required step gets the key pre-pass of :mod:`vigil.engine.semijoin`: one
    parallel pass collects the join keys of that step's events, and the rule's pre-check becomes
    the second pass's test (its rare step, or a line holding one of those keys as its event's
    key). Then, when every rule's pre-check has selective needles, the workers search their
    ranges whole for them (:mod:`vigil.sources.scan`). When every rule is such a sequence and few
    lines pass their pre-checks, the keys are collected in one reading that records lines by key
    instead (:func:`_one_reading`), and the hunt's pass reads only the lines it chose. All of
    these only pass over lines whose events cannot change a rule's answer; the alerts are those
    of the line-by-line hunt."""
    from vigil.engine.semijoin import key_needles, plan_prepass, second_pass
    from vigil.sources.parallel import MAX_SCAN_KEYS, _sample_lines
    from vigil.sources.scan import MAX_HIT_SHARE, Scanner, make_driver, plan_driver

    ruleset = collector.ruleset
    few = ruleset.own_tests if ruleset is not None else None
    if ruleset is None or few is None or ruleset.always:
        return
    sample = _sample_lines(files)
    if not sample:
        return
    tests: dict[int, Callable[[bytes], bool]] = dict(few)
    # per rule, what a line it may concern holds (None: nothing selective)
    needs: dict[int, list[tuple[bytes, bool, bytes | None]] | None] = {}
    prepasses = []
    for qi, test in few:
        calibrate = getattr(test, "calibrate", None)
        if calibrate is not None:
            calibrate(sample)
        reqs = getattr(test, "reqs", None)
        driver = plan_driver(reqs, sample) if reqs else None
        needs[qi] = driver.entries() if driver is not None else None
        prepass = plan_prepass(plans[qi].compiled, sample)
        step_driver = plan_driver([reqs[prepass.step]], sample) if prepass is not None and reqs else None
        if prepass is not None and step_driver is not None:
            prepasses.append((qi, prepass, step_driver))
    if (
        prepasses
        and len(prepasses) == len(few)
        and _one_reading(plans, prepasses, tests, sample, chunks, workers, ctx)
    ):
        return
    if prepasses:
        for (qi, prepass, step_driver), keys in zip(
            prepasses, _hunt_keys(plans, prepasses, chunks, workers, ctx), strict=True
        ):
            needles = key_needles(keys, prepass.position) if keys is not None else None
            if needles is None:
                continue
            own = getattr(tests[qi], "fast", tests[qi])
            tests[qi], _masked = second_pass(plans[qi].compiled, own, prepass, needles, keys)
            keyed = [*step_driver.entries(), *((n, False, None) for n in needles)]
            needs[qi] = keyed if len(needles) <= MAX_SCAN_KEYS else None
    ruleset.use_own_tests([(qi, tests[qi]) for qi, _test in few])
    if any(entries is None for entries in needs.values()):
        return  # some rule needs its lines tested one by one
    scanner = Scanner(make_driver([e for entries in needs.values() for e in entries or ()]))
    if sum(1 for line in sample if scanner.hits(line)) <= MAX_HIT_SHARE * len(sample):
        _STATE["scanner"] = scanner


def _hunt_keys(
    plans: Sequence[RulePlan],
    prepasses: list[tuple[int, Any, Any]],
    chunks: Sequence[_Chunk],
    workers: int,
    ctx: Any,
) -> list[set[tuple[Any, ...]] | None]:
    """The join keys of each pre-pass rule's rare step, over every range (one pass for all);
    None for a rule whose keys are more than :data:`vigil.engine.semijoin.MAX_KEYS`."""
    from vigil.sources.scan import Scanner, make_driver

    _STATE["prepasses"] = prepasses
    _STATE["key_scanner"] = Scanner(make_driver([e for _qi, _p, d in prepasses for e in d.entries()]))
    from vigil.engine.semijoin import MAX_KEYS

    keysets: list[set[tuple[Any, ...]] | None] = [set() for _ in prepasses]
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        for found in pool.map(_keys_chunk, chunks):
            for i, more in enumerate(found):
                keys = keysets[i]
                if keys is not None:
                    keys |= more
                    if len(keys) > MAX_KEYS:
                        keysets[i] = None  # too many to search for: no pre-pass for this rule
    return keysets


def _keys_chunk(chunk: _Chunk) -> list[set[tuple[Any, ...]]]:
    from vigil.engine.semijoin import step_keys

    plans: Sequence[RulePlan] = _STATE["plans"]
    prepasses = _STATE["prepasses"]
    report = ReadReport(log=lambda _text: None, max_kept=0)
    reader = _Reader(strict=False, line_filter=None, report=report)
    reader.forced_index = _STATE["forced"][chunk.file_no]
    step_tests = [p.step_filter for _qi, p, _d in prepasses]

    def test(line: bytes, _found: int) -> bool:
        return any(t(line) for t in step_tests)

    out: list[set[tuple[Any, ...]]] = [set() for _ in prepasses]
    for ev in _events_of(reader, chunk, _scanned(chunk, _STATE["key_scanner"], test, report, False)):
        for keys, (qi, prepass, _d) in zip(out, prepasses, strict=True):
            keys.update(step_keys(plans[qi].compiled, ev, prepass.step))
    return out


def _one_reading(
    plans: Sequence[RulePlan],
    prepasses: list[tuple[int, Any, Any]],
    tests: dict[int, Callable[[bytes], bool]],
    sample: Sequence[bytes],
    chunks: Sequence[_Chunk],
    workers: int,
    ctx: Any,
) -> bool:
    """When every rule is a keyed sequence with a rare step and few lines pass its pre-check,
    collect the rules' keys in one reading that also records the lines holding their needles
    with the keys read from them (:mod:`vigil.sources.keypass`); the hunt's pass then reads just
    the rare steps' lines and the recorded lines holding a key of their rule (``_STATE["picks"]``).
    False (nothing done) when it does not apply or the keys or records grow too many."""
    from vigil.engine.semijoin import MAX_KEYS, key_reader
    from vigil.sources import keypass
    from vigil.sources.scan import combine, plan_driver

    passes = []
    for qi, prepass, step_driver in prepasses:
        query_test = getattr(tests[qi], "fast", tests[qi])
        if keypass.record_share(query_test, sample) > keypass.MAX_RECORD_SHARE:
            return False
        reqs = getattr(tests[qi], "reqs", None)
        driver = plan_driver(reqs, sample) if reqs else None
        if driver is None:
            return False  # the ranges could not be searched: every line would be tested here
        both = combine(step_driver, driver)
        passes.append(keypass.KeyPass(plans[qi].compiled, prepass, both, project=True))
    _STATE["keypasses"] = passes
    keys: list[set[tuple[Any, ...]]] = [set() for _ in passes]
    records: list[list[Any]] = []
    held = 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        for found in pool.map(_record_chunk, chunks):
            for k, rec in zip(keys, found, strict=True):
                k |= rec.keys
            held += sum(len(rec.hashes) + len(rec.unsure) + len(rec.rare) for rec in found)
            if any(len(k) > MAX_KEYS for k in keys) or held > keypass.MAX_RECORDED:
                return False
            records.append(found)
    probes = [
        {hash(p) for p in key_reader(plans[qi].compiled).probes(k)}
        for (qi, _p, _d), k in zip(prepasses, keys, strict=True)
    ]
    picks: dict[tuple[int, int], tuple[list[tuple[int, int]], int, int]] = {}
    for chunk, found in zip(chunks, records, strict=True):
        chosen: set[tuple[int, int]] = set()
        for rec, hashes in zip(found, probes, strict=True):
            chosen.update(rec.rare)
            chosen.update(keypass.chosen_lines(rec, hashes))
        picks[(chunk.file_no, chunk.start)] = (sorted(chosen), found[0].lines, found[0].blank())
    _STATE["picks"] = picks
    return True


def _record_chunk(chunk: _Chunk) -> list[Any]:
    """:meth:`vigil.sources.keypass.KeyPass.record` of every rule over one range (without the
    parts: the hunt's pass reads the lines again)."""
    out = []
    for kp in _STATE["keypasses"]:
        kp.index = _STATE["forced"][chunk.file_no]
        rec = kp.record(chunk)
        rec.parts = []
        out.append(rec)
    return out
