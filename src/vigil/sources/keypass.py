"""The key pre-pass of a keyed sequence in one reading of the input, keys recorded on the way.

The two-pass way (:mod:`vigil.engine.semijoin`, :func:`vigil.sources.parallel.execute_parallel`)
first collects the keys of the sequence's rare step, then reads the whole input again for the
lines of that step or holding one of its keys. The second reading costs a search of every byte
for a thousand or more keys: more than anything else the run does.

When few lines pass the query's pre-check (a sixth for the SMB rule: its first step is every
process start) and its needles can be searched for, one reading can do both: each worker
searches its range for the rare step's needles and the query's (:func:`vigil.sources.scan.
visit_range`) and, for every line found,

- decodes it if it is a line of the rare step (its pre-check passes): its part is kept and its
  keys for that step collected;
- else *records* the line's position and the keys read from its key fields alone
  (:class:`vigil.engine.semijoin.KeyReader`), without decoding the line or pre-checking it
  (reading the keys costs less than the check, and the few lines chosen are checked later).

Once every range is read the rare step's keys are known; the main process keeps the recorded
lines holding one of them (and the lines whose keys could not be read), the workers read just
those lines again by offset, pre-check and decode them, and the main process drops the
candidates none of whose keys is the rare step's. The events left out are only ones no sequence
can use: an event of another key can only touch sequences of its own key, which never complete.

Recorded keys travel as their hashes (64-bit integers in arrays: 24 bytes a recorded key,
whatever the keys). A hash collision only keeps a line that is then decoded and dropped for its
keys, so the answer never depends on hashes. Hashes of strings differ between Python processes
unless they are forked from one another: the pools that use this (``execute_parallel``,
:mod:`vigil.rules.parallel`) always fork, or run here.

Memory: past :data:`MAX_RECORDED` recorded keys (about 100 MB in the main process) the run goes on
the two-pass way with the keys the reading collected.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from vigil.engine.model import QueryOptions, QueryStats
from vigil.sources.ndjson import ReadReport, _Reader

# Record lines when at most this share of the sampled lines passes the query's pre-check: reading
# a line's key fields (~2.5 µs) must cost less than a second search of the whole input, about
# 2 µs a line.
MAX_RECORD_SHARE = 0.35
# Recorded keys held at once by the main process before it falls back to two readings.
MAX_RECORDED = 4_000_000


@dataclass
class Recorded:
    """What the one reading found in one range."""

    keys: set[tuple[Any, ...]]  # the rare step's keys
    parts: list[Any]  # the packed parts of the rare step's lines (decoded here), in input order
    rare: list[tuple[int, int]]  # (line number in the range, offset) of the rare step's lines
    unsure: list[tuple[int, int]]  # recorded lines whose keys could not be read
    hashes: array = field(default_factory=lambda: array("q"))  # a key's hash, per recorded key
    numbers: array = field(default_factory=lambda: array("q"))  # its line's number in the range
    offsets: array = field(default_factory=lambda: array("q"))  # its line's offset
    recorded: int = 0  # lines recorded (found for the query's needles, not of the rare step)
    lines: int = 0
    filtered: int = 0
    events: int = 0  # events decoded (the rare step's lines)
    malformed: list[tuple[int, int, str]] = field(default_factory=list)  # of the rare step's lines
    stats: QueryStats = field(default_factory=QueryStats)
    scanned: bool = False

    def blank(self) -> int:
        """The blank lines of the range (counted neither as passed over nor as passing)."""
        return self.lines - self.filtered - self.recorded - len(self.rare)


def record_share(query_test: Callable[[bytes], bool], sample: Sequence[bytes]) -> float:
    """The share of ``sample`` lines passing the query's pre-check."""
    if not sample:
        return 1.0
    return sum(1 for line in sample if query_test(line)) / len(sample)


# --------------------------------------------------------------------------- worker side


class KeyPass:
    """What a worker needs for both readings of one query (also used as it is by the
    conformance suite's "record" path, :mod:`vigil.conformance.scan_path`).

    ``driver``: the rare step's needles (group 0) combined with the query's (group 1), or None
    to test every line; ``project``: decode only the fields the query reads; ``index``: the
    index of every event read (else each event's own, as the reader finds it)."""

    def __init__(
        self, compiled: Any, prepass: Any, driver: Any | None, project: bool, index: str | None = None
    ):
        from vigil.engine.semijoin import key_reader
        from vigil.sources.parallel import _kind, _scanner
        from vigil.sources.projection import make_decoder

        reader = key_reader(compiled)
        line_filter = compiled.line_filter
        self.compiled = compiled
        self.step = prepass.step
        self.step_test = prepass.step_filter
        self.query_test = getattr(line_filter, "fast", line_filter)
        self.read_keys = reader.read
        self.scanner = _scanner(driver)
        self.decode = make_decoder(compiled.fields) if project else None
        self.kind = _kind(compiled)
        self.index = index

    def reader(self, report: ReadReport) -> _Reader:
        """A reader of lines into events, without a filter of its own."""
        reader = _Reader(strict=False, line_filter=None, report=report, decode=self.decode)
        reader.forced_index = self.index
        return reader

    def record(self, chunk: Any) -> Recorded:
        """One range: the rare step's lines decoded (their parts and the step's keys), the
        other lines holding the query's needles recorded."""
        from vigil.sources.parallel import _events_of, _pack, _passing
        from vigil.sources.scan import visit_range

        compiled, step, step_test, query_test = self.compiled, self.step, self.step_test, self.query_test
        read_keys, scanner, kind = self.read_keys, self.scanner, self.kind
        report = ReadReport(log=lambda _text: None, max_kept=1_000_000)
        reader = self.reader(report)
        out = Recorded(keys=set(), parts=[], rare=[], unsure=[], scanned=scanner is not None)
        hashes, numbers, offsets = out.hashes.append, out.numbers.append, out.offsets.append
        unsure, parts, keys = out.unsure.append, out.parts.append, out.keys.update

        # A line found for the query's needles is recorded without the query's pre-check:
        # reading its keys costs less than the check, and the few lines chosen are checked later.
        def visit(line: Any, found: int, number: int, off: int) -> bool:
            if found & 1:
                raw = bytes(line)
                if step_test(raw):
                    # Decoded once, here: its part is kept (dropped later if none of its keys
                    # is the rare step's), and its keys for the rare step are collected.
                    out.rare.append((number, off))
                    events = _events_of(reader, chunk, iter(((number, off, raw),)))
                    for part in compiled.parts(events, out.stats):
                        keys(part.step_keys.get(step, ()))
                        parts(_pack(kind, part))
                    return True
            if not found & 2:
                return False
            out.recorded += 1
            held = read_keys(line)
            if held is None:
                unsure((number, off))
            else:
                for key in held:
                    hashes(hash(key))
                    numbers(number)
                    offsets(off)
            return True

        counts = ReadReport(log=lambda _text: None, max_kept=0)
        if scanner is not None:
            visit_range(chunk.path, chunk.start, chunk.end, scanner, visit, counts)  # type: ignore[arg-type]
        else:
            rare = [False]

            def plain(line: bytes) -> bool:
                rare[0] = step_test(line)
                return rare[0] or query_test(line)

            for number, off, line in _passing(chunk, plain, counts):
                visit(line, 1 if rare[0] else 2, number, off)
        out.lines = counts.lines
        out.filtered = counts.filtered
        out.events = report.events
        out.malformed = [(m.line, m.column, m.message) for m in report.malformed]
        return out

    def read(self, chunk: Any, picks: Sequence[tuple[int, int]]) -> Any:
        """The parts of the chosen lines of one range (line number in the range, offset), read
        by offset and pre-checked, as :func:`vigil.sources.parallel._run_chunk` would give them
        but for the key test (:func:`read_recorded` makes it); its line counts are left to the
        reading that chose the lines, but for the chosen lines the pre-check passed over
        (``filtered``)."""
        from vigil.sources.parallel import _ChunkResult, _events_of, _pack

        compiled, query_test, kind = self.compiled, self.query_test, self.kind
        report = ReadReport(log=lambda _text: None, max_kept=1_000_000)
        reader = self.reader(report)
        result = _ChunkResult(parts=[])
        with open(chunk.path, "rb") as f:

            def lines() -> Iterator[tuple[int, int, bytes]]:
                for number, off in picks:
                    f.seek(off)
                    line = f.readline()
                    # The two-pass way's line filter (the rare step's lines were read before).
                    if query_test(line):
                        yield number, off, line
                    else:
                        result.filtered += 1

            for part in compiled.parts(_events_of(reader, chunk, lines()), result.stats):
                result.parts.append(_pack(kind, part))
        result.events = report.events
        result.malformed = [(m.line, m.column, m.message) for m in report.malformed]
        return result


def init_worker(
    query: str,
    options: QueryOptions,
    prepass: Any,
    driver: Any | None,
    order: list[list[int]] | None,
    project: bool,
) -> None:
    """Set a worker of the pool up with a :class:`KeyPass` for :func:`record_chunk` and
    :func:`read_chunk` (``order``: the pre-check's tuning from the main process)."""
    from vigil.engine import compile_query
    from vigil.sources.parallel import _WORKER

    compiled = compile_query(query, options=options)
    use_order = getattr(compiled.line_filter, "use_order", None)
    if order and use_order is not None:
        use_order(order)
    _WORKER["keypass"] = KeyPass(compiled, prepass, driver, project)


def record_chunk(chunk: Any) -> Recorded:
    """:meth:`KeyPass.record` in a worker."""
    from vigil.sources.parallel import _WORKER

    return _WORKER["keypass"].record(chunk)


def read_chunk(job: tuple[Any, list[tuple[int, int]]]) -> Any:
    """:meth:`KeyPass.read` in a worker."""
    from vigil.sources.parallel import _WORKER

    return _WORKER["keypass"].read(*job)


# --------------------------------------------------------------------------- main side


def chosen_lines(rec: Recorded, probes: set[int]) -> list[tuple[int, int]]:
    """The recorded lines of a range to decode: those holding a key whose hash is in
    ``probes``, and those whose keys could not be read; in input order."""
    chosen = set(rec.unsure)
    for h, number, off in zip(rec.hashes, rec.numbers, rec.offsets, strict=True):
        if h in probes:
            chosen.add((number, off))
    return sorted(chosen)


def record_pass(
    pool: Any, chunks: Sequence[Any], max_keys: int
) -> tuple[set[tuple[Any, ...]], list[Recorded] | None]:
    """Read every range once (:func:`record_chunk` in ``pool``): the rare step's keys, and what
    each range recorded; None for the records when the keys outgrow ``max_keys`` (the keys
    are then incomplete) or the records :data:`MAX_RECORDED`."""
    keys: set[tuple[Any, ...]] = set()
    records: list[Recorded] | None = []
    held = 0
    for rec in pool.map(record_chunk, chunks):
        keys |= rec.keys
        if len(keys) > max_keys:
            return keys, None
        if records is not None:
            held += len(rec.hashes) + len(rec.unsure) + len(rec.parts)
            if held > MAX_RECORDED:
                records = None
            else:
                records.append(rec)
    return keys, records


def read_recorded(
    pool: Any,
    chunks: Sequence[Any],
    records: Sequence[Recorded],
    keyset: set[tuple[Any, ...]],
    probes: set[Any],
) -> Iterator[Any]:
    """The results of the ranges, in order, as :func:`vigil.sources.parallel._run_chunk` gives
    them: the chosen lines of each (``probes``: the rare step's keys ``keyset`` as the key
    reader gives them) decoded in ``pool`` (:func:`read_chunk`), with the counts of the
    reading."""
    hashes = {hash(p) for p in probes}
    jobs = [(chunk, chosen_lines(rec, hashes)) for chunk, rec in zip(chunks, records, strict=True)]
    for (_chunk, picks), rec, res in zip(jobs, records, pool.map(read_chunk, jobs), strict=True):
        res.lines = rec.lines
        # Recorded lines left out were passed over for their keys: counted as the pre-check's.
        res.filtered += rec.filtered + rec.recorded - len(picks)
        res.events += rec.events
        res.malformed = sorted(res.malformed + rec.malformed)
        for name in ("events_read", "events_considered", "events_matched"):
            setattr(res.stats, name, getattr(res.stats, name) + getattr(rec.stats, name))
        # A candidate none of whose keys the rare step has can never be part of a sequence.
        rare = [p for p in rec.parts if _keyed(p, keyset)]
        read = [p for p in res.parts if _keyed(p, keyset)]
        res.parts = list(heapq.merge(rare, read, key=_position)) if rare else read
        res.scanned = rec.scanned
        yield res


def _keyed(packed: tuple[Any, ...], keyset: set[tuple[Any, ...]]) -> bool:
    """Whether a packed sequence candidate has a key of ``keyset`` for some step or ``until``."""
    _ordinal, _event, step_keys, until_keys = packed
    return any(key in keyset for keys in step_keys.values() for key in keys) or any(
        key in keyset for key in until_keys or ()
    )


def _position(packed: tuple[Any, ...]) -> int:
    return int(packed[1][2])  # the packed event's seq: its place in the input
