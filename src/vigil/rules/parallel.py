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

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from vigil.rules.executor import RulePlan
from vigil.rules.scheduler import Collector, CollectStats
from vigil.sources.ndjson import Malformed, ReadReport, _Reader
from vigil.sources.parallel import (
    CHUNK_BYTES,
    MIN_PARALLEL_BYTES,
    _Chunk,
    _events_of,
    _expand,
    _kind,
    _lines_of,
    _pack,
    _passing,
    _positioned,
    _unpack,
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
    malformed: list[tuple[int, int, str]] = field(default_factory=list)


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
    if ruleset is not None:
        # Lines no rule can match are passed over in one tight loop. The rule-set filter also
        # remembers which rules its last line may concern: each line is tested right before its
        # event reaches the collector (the generators run in step), as in the reader.
        events = _events_of(reader, chunk, _passing(chunk, ruleset, report))
    else:
        last = [0]

        def lines() -> Iterator[bytes]:
            for off, line in _lines_of(chunk):
                last[0] = off
                yield line

        events = _positioned(reader._lines(lines(), chunk.path, 1), last, chunk)

    for p in plans:
        # This process only gathers parts; the main process feeds them to the rules' answers.
        p.stream = None
    before = [p.events_seen for p in plans]
    clock = [p.offer_seconds for p in plans]
    stats = collector.collect(events)
    result = _HuntResult(parts={}, seen={}, seconds={})
    for i, plan in enumerate(plans):
        if plan.parts:
            kind = kinds[i]
            result.parts[i] = [(when, seq, _pack(kind, part)) for when, seq, part in plan.parts]
            plan.parts.clear()
        delta = plan.events_seen - before[i]
        if delta:
            result.seen[i] = delta
        if plan.offer_seconds != clock[i]:
            result.seconds[i] = plan.offer_seconds - clock[i]
    result.lines = report.lines
    result.events = report.events
    result.filtered = report.filtered
    result.unknown_index = stats.unknown_index
    result.malformed = [(m.line, m.column, m.message) for m in report.malformed]
    return result


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
) -> CollectStats | None:
    """Give every rule its parts of ``paths`` using ``workers`` processes; None (nothing done)
    when the input is not made of plain NDJSON files big enough to be worth cutting."""
    if workers < 2:
        return None
    files = _files(paths, input_format, index, index_of_path or {})
    if not files or sum(os.path.getsize(f) for f, _i in files) < min_bytes:
        return None
    chunks = plan_chunks([f for f, _i in files], chunk_bytes)
    _STATE.clear()
    _STATE.update(
        plans=plans,
        collector=Collector(plans, use_ruleset=use_ruleset, profile=profile),
        forced=[i for _f, i in files],
        kinds=[_kind(p.compiled) for p in plans],
    )
    kinds = _STATE["kinds"]
    stats = CollectStats()
    report.files += len(files)
    line_base: dict[int, int] = {}
    ctx = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            for chunk, res in zip(chunks, pool.map(_hunt_chunk, chunks), strict=True):
                first_line = line_base.get(chunk.file_no, 0)
                for line, column, message in res.malformed:
                    report.add_malformed(Malformed(chunk.path, first_line + line, column, message))
                line_base[chunk.file_no] = first_line + res.lines
                report.lines += res.lines
                report.events += res.events
                report.filtered += res.filtered
                stats.events += res.events
                stats.unknown_index += res.unknown_index
                for i, packed in res.parts.items():
                    kind = kinds[i]
                    plan = plans[i]
                    if plan.stream is not None:
                        feed = plan.stream.feed
                        for _when, _seq, p in packed:
                            feed(_unpack(kind, p))
                        plan.streamed += len(packed)
                    else:
                        plan.parts.extend((when, seq, _unpack(kind, p)) for when, seq, p in packed)
                for i, n in res.seen.items():
                    plans[i].events_seen += n
                for i, t in res.seconds.items():
                    plans[i].offer_seconds += t
                if on_event is not None:
                    on_event(stats.events)
    finally:
        _STATE.clear()
    return stats
