"""Run a query over large NDJSON files with several worker processes.

Reading, pre-filtering, decoding and testing each event against the query's filters is the bulk
of a hunt, and it is independent per event. So a big NDJSON file is cut into byte ranges at line
boundaries; worker processes turn their ranges into *parts* (see
:meth:`vigil.engine.runner.CompiledQuery.parts`), and the main process chains the parts in input
order and finishes the query (ordering, sequence state machine, samples, head/tail). The answer is
the single-process answer: parts are exactly what the single-process run computes, and the
events' positions (``seq``) are their byte offsets, so input order is kept across ranges.

With a pre-filter, a worker tests its range's lines in one tight loop (:func:`_passing`) and hands
only the lines that pass to the reader; the filter comes tuned from the main process, which
calibrates it on lines sampled across the input.

Parts travel without their documents: a result event is re-read from its file by offset when the
query returns it (:func:`vigil.engine.model.materialize`). Malformed lines are reported with
their true line numbers once the line counts of the earlier ranges are known.

Only uncompressed regular NDJSON files read as they are are split; compressed input, stdin,
JSON documents and Windows event logs (EVTX files, NXLog and Winlogbeat 8.x raw lines, which are
mapped to ECS on the way in) go through the single-process reader.
"""

from __future__ import annotations

import bisect
import contextlib
import multiprocessing
import os
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

import orjson

from vigil.engine.model import Event, QueryOptions, QueryResult, QueryStats
from vigil.engine.semijoin import MAX_KEYS, key_needles, key_reader, plan_prepass
from vigil.engine.sequence import Candidate
from vigil.sources import keypass
from vigil.sources.ndjson import _BUFFER, _ID_SLOT, _WHITESPACE, Malformed, ReadReport, _new_event, _Reader
from vigil.sources.ndjson import _expand as _expand_input
from vigil.sources.scan import combine, plan_driver

# Below this much input a single process is faster than starting workers.
MIN_PARALLEL_BYTES = 32 * 1024 * 1024
CHUNK_BYTES = 16 * 1024 * 1024
_POSITION_BITS = 44  # seq = file number << 44 | byte offset: input order across files and ranges


@dataclass
class _Chunk:
    path: str
    file_no: int
    start: int
    end: int


@dataclass
class _ChunkResult:
    parts: list[Any]
    lines: int = 0
    events: int = 0
    filtered: int = 0
    malformed: list[tuple[int, int, str]] = field(default_factory=list)  # (line in chunk, column, message)
    stats: QueryStats = field(default_factory=QueryStats)
    scanned: bool = False  # the range was searched whole (vigil.sources.scan)


def _splittable(path: str) -> bool:
    p = Path(path)
    if not p.is_file():
        return False
    with open(p, "rb") as f:
        head = f.read(8)
    # gzip / zstd magic: compressed input is read as a stream by the single-process reader;
    # EVTX files are parsed record by record there.
    return not head.startswith((b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"ElfFile\x00"))


def _expand(paths: Sequence[str], input_format: str = "auto") -> list[str] | None:
    """The files behind ``paths`` in the reader's order, or None when one cannot be split
    (stdin, compressed, EVTX, a JSON document rather than NDJSON, Windows JSON to map)."""
    if input_format not in ("auto", "ndjson"):
        return None
    out: list[str] = []
    for path in paths:
        for name, _opener in _expand_input(path):
            if name == "<stdin>" or not _splittable(name):
                return None
            first = _first_line(name)
            if first.startswith(b"["):
                return None
            if input_format == "auto" and _needs_mapping(first):
                return None
            out.append(name)
    return out


def _first_line(path: str) -> bytes:
    with open(path, "rb") as f:
        for line in f:
            stripped = line.strip()
            if stripped:
                return stripped
    return b""


def _needs_mapping(line: bytes) -> bool:
    """Whether the reader would map this file's documents to ECS (decided on its first one)."""
    from vigil.sources.winlog import classify

    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return classify(doc) != "ndjson"


def plan_chunks(files: Sequence[str], chunk_bytes: int = CHUNK_BYTES) -> list[_Chunk]:
    """Byte ranges of about ``chunk_bytes`` covering every file (aligned to lines by workers)."""
    chunks = []
    for file_no, path in enumerate(files):
        size = os.path.getsize(path)
        start = 0
        while start < size or (start == 0 and size == 0):
            end = min(size, start + chunk_bytes)
            chunks.append(_Chunk(path, file_no, start, end))
            if end >= size:
                break
            start = end
    return chunks


# --------------------------------------------------------------------------- worker side

_WORKER: dict[str, Any] = {}


def _init_worker(
    query: str,
    options: QueryOptions,
    prefilter: bool,
    project: bool,
    prepass: Any | None = None,
    needles: Sequence[bytes] = (),
    keyset: set[tuple[Any, ...]] | None = None,
    order: list[list[int]] | None = None,
    driver: Any | None = None,
) -> None:
    from vigil.engine import compile_query
    from vigil.sources.projection import make_decoder

    compiled = compile_query(query, options=options)
    _WORKER["compiled"] = compiled
    _WORKER["scanner"] = _scanner(driver) if prefilter else None
    _WORKER["masked"] = None
    line_filter = compiled.line_filter if prefilter else None
    if order and hasattr(line_filter, "use_order"):
        # Tuned on the main process's sample: the second pass below calls the generated test
        # directly and would otherwise run it in its untuned order for the whole input.
        line_filter.use_order(order)  # type: ignore[union-attr]
    if line_filter is not None and prepass is not None:
        from vigil.engine.semijoin import second_pass

        # Second pass of a keyed sequence: lines of the rare step, or lines holding a key of it.
        line_filter, _WORKER["masked"] = second_pass(
            compiled, getattr(line_filter, "fast", line_filter), prepass, needles, keyset
        )

    _WORKER["filter"] = line_filter
    _WORKER["keyset"] = keyset if prepass is not None else None
    _WORKER["decode"] = make_decoder(compiled.fields) if project else None


def _has_key(part: Candidate, keyset: set[tuple[Any, ...]]) -> bool:
    for tuples in part.step_keys.values():
        for key in tuples:
            if key in keyset:
                return True
    return any(key in keyset for key in part.until_keys or ())


def _scanner(driver: Any | None) -> Any | None:
    if driver is None:
        return None
    from vigil.sources.scan import Scanner

    return Scanner(driver)


def _init_keys(query: str, options: QueryOptions, prepass: Any, driver: Any | None = None) -> None:
    from vigil.engine import compile_query
    from vigil.sources.projection import make_decoder

    compiled = compile_query(query, options=options)
    _WORKER["compiled"] = compiled
    _WORKER["prepass"] = prepass
    _WORKER["scanner"] = _scanner(driver)
    _WORKER["masked"] = None
    _WORKER["decode"] = make_decoder(compiled.fields)


def _keys_chunk(chunk: _Chunk) -> set[tuple[Any, ...]]:
    """First pass of a keyed sequence: the keys of the rare step's events in one range."""
    from vigil.engine.semijoin import step_keys

    compiled = _WORKER["compiled"]
    prepass = _WORKER["prepass"]
    report = ReadReport(log=lambda _text: None, max_kept=0)
    reader = _Reader(strict=False, line_filter=None, report=report, decode=_WORKER["decode"])
    keys: set[tuple[Any, ...]] = set()
    # Only the keys matter here, not line numbers or counts.
    for ev in _events_of(reader, chunk, _filtered(chunk, prepass.step_filter, report, numbered=False)):
        keys.update(step_keys(compiled, ev, prepass.step))
    return keys


def _sample_lines(files: Sequence[str], limit: int = 2000, spots: int = 40) -> list[bytes]:
    """About ``limit`` lines of the input to tune the pre-filter and choose the pre-pass on, taken
    in runs from ``spots`` places spread over the files (the head of a file is often unlike the
    rest: a capture's first minutes, a boot)."""
    sizes = [os.path.getsize(f) for f in files]
    total = sum(sizes)
    if total == 0:
        return []
    per_spot = max(1, limit // spots)
    out: list[bytes] = []
    for path, size in zip(files, sizes, strict=True):
        if not size:
            continue
        places = max(1, round(spots * size / total))
        with open(path, "rb") as f:
            for k in range(places):
                f.seek(size * k // places)
                if k:
                    f.readline()  # the rest of a line begun before this place
                for _ in range(per_spot):
                    line = f.readline()
                    if not line:
                        break
                    out.append(line)
    return out


def _open_range(chunk: _Chunk) -> Any:
    """The chunk's file, opened at the first line that starts inside the chunk."""
    f = open(chunk.path, "rb", buffering=_BUFFER)  # noqa: SIM115 - the caller closes it
    if chunk.start > 0:
        f.seek(chunk.start - 1)
        f.readline()  # the line running over the boundary belongs to the previous chunk
    return f


def _lines_of(chunk: _Chunk) -> Iterator[tuple[int, bytes]]:
    """(offset, line) for every line that starts inside the chunk."""
    with _open_range(chunk) as f:
        pos = f.tell()
        end = chunk.end
        for line in f:
            if pos >= end:
                break
            yield pos, line
            pos += len(line)


def _passing(
    chunk: _Chunk, line_filter: Callable[[bytes], bool], report: ReadReport
) -> Iterator[tuple[int, int, bytes]]:
    """(line number in the chunk, offset, line) of the lines of a chunk that pass ``line_filter``.

    The pre-filter rejects most lines, so they are tested in one tight loop over the file rather
    than through the reader's layers; the lines it rejects are counted here exactly as the reader
    counts them (every line; the non-blank ones as passed over)."""
    lines = filtered = 0
    try:
        for pos, line in _lines_of(chunk):
            lines += 1
            if line_filter(line):
                yield lines, pos, line
            elif len(line) > 8 or line.strip(_WHITESPACE):
                filtered += 1
    finally:
        report.filtered += filtered
        report.lines += lines


def _line_batches(chunk: _Chunk, size: int) -> Iterator[tuple[int, list[int], list[bytes]]]:
    """The lines that start inside the chunk, ``size`` at a time: (line number in the chunk of
    the first, each line's offset, the lines). Read by ``readlines`` (a loop in C) rather than
    line by line."""
    with _open_range(chunk) as f:
        pos = f.tell()
        end = chunk.end
        number = 1
        pending: list[bytes] = []
        done = pos >= end
        while not done:
            more = f.readlines(_READ_HINT)
            if not more:
                done = True
            else:
                pending += more
            while pending and (done or len(pending) >= size):
                lines = pending[:size]
                del pending[:size]
                offsets = list(accumulate(map(len, lines), initial=pos))
                pos = offsets.pop()
                if offsets[-1] >= end:
                    # Lines from here on start in the next chunk.
                    cut = bisect.bisect_left(offsets, end)
                    del offsets[cut:], lines[cut:]
                    done = True
                    pending.clear()
                if lines:
                    yield number, offsets, lines
                    number += len(lines)
                if pos >= end:
                    done = True
                    pending.clear()


#: Bytes a ``readlines`` call reads at least (see _line_batches).
_READ_HINT = 1 << 22


def _batched(chunk: _Chunk, columnar: Any, report: ReadReport) -> Iterator[tuple[int, int, bytes]]:
    """:func:`_passing` for a :class:`vigil.engine.columnar.ColumnarFilter`: the lines of a chunk
    are answered a batch at a time, and each line some rule may concern is handed on right after
    the filter's ``last_line``/``last_mask``/``last_exact`` are set to it (the reader yields its
    event next). Lines no rule concerns are counted as passed over."""
    from vigil.engine.columnar import BATCH_LINES

    lines = filtered = 0
    try:
        for first, offsets, batch in _line_batches(chunk, BATCH_LINES):
            lines += len(batch)
            filtered += yield from _answered(first, offsets, batch, columnar)
    finally:
        report.filtered += filtered
        report.lines += lines


def _answered(
    first: int, offsets: list[int], batch: list[bytes], columnar: Any
) -> Generator[tuple[int, int, bytes], None, int]:
    """The lines of one batch (see :func:`_batched`; ``first``: the line number of the first,
    ``offsets``: each line's); returns how many were passed over. Every step is one pass over
    the batch in C or a comprehension: most lines concern no rule and are only counted."""
    texts = [line.rstrip(b"\r\n") for line in batch]
    where: list[int] | None = None  # the rows of non-blank lines (None: every row)
    if not all(map(_strip_blank, texts)):
        where = [k for k, text in enumerate(texts) if text.strip(_WHITESPACE)]
        texts = [texts[k] for k in where]
    gate = columnar.row_gate
    if gate is not None:
        # The key gates of sequence rules hold rows by their lines' offsets (see
        # vigil.rules.keygate), and need to know the rows this pass does not decode.
        columnar.offsets = offsets if where is None else [offsets[k] for k in where]
    masks = columnar.masks(texts, single_lines=True)  # (split at their line ends)
    known = columnar.known
    if where is None:
        answers: list[int | bool | None] = masks
        steps_of: list[Any] = known
    else:
        answers = [False] * len(batch)  # False: a blank line
        steps_of = [None] * len(batch)
        for k, mask, steps in zip(where, masks, known, strict=True):
            answers[k] = mask
            steps_of[k] = steps
    # (a blank line is False, which equals 0 but is no int row set)
    quiet = [k for k, mask in enumerate(answers) if mask == 0 and mask is not False]
    if gate is not None and quiet:
        held = gate.held
        held.quiet_offsets.extend([offsets[k] for k in quiet])
        held.quiet_numbers.extend([first + k for k in quiet])
    full = columnar.full
    for k in [k for k, mask in enumerate(answers) if mask is None or mask is False or mask]:
        mask = answers[k]
        line = batch[k]
        if mask is not False:
            steps = steps_of[k]
            columnar.last_line = line
            columnar.last_exact = mask is not None
            columnar.last_mask = full if mask is None else mask
            columnar.last_known = steps
        yield first + k, offsets[k], line  # (a blank line: the reader counts it)
    return len(quiet)


def _strip_blank(text: bytes) -> bytes:
    return text.strip(_WHITESPACE)


def _filtered(
    chunk: _Chunk, line_filter: Callable[[bytes], bool], report: ReadReport, numbered: bool = True
) -> Iterator[tuple[int, int, bytes]]:
    """:func:`_passing`, or the same lines found by searching the whole range for the needles
    of the worker's scanner when it has one (:mod:`vigil.sources.scan`). ``numbered=False``:
    the caller needs neither line numbers nor counts (a scan then skips finding every line)."""
    scanner = _WORKER.get("scanner")
    if scanner is None:
        return _passing(chunk, line_filter, report)
    test = _WORKER.get("masked") or (lambda line, _found: line_filter(line))
    return _scanned(chunk, scanner, test, report, numbered)


def _scanned(
    chunk: _Chunk, scanner: Any, test: Callable[[bytes, int], bool], report: ReadReport, numbered: bool
) -> Iterator[tuple[int, int, bytes]]:
    from vigil.sources.scan import Counts, scan_range

    counts = Counts() if numbered else None
    try:
        yield from scan_range(chunk.path, chunk.start, chunk.end, scanner, test, counts)
    finally:
        if counts is not None:
            report.filtered += counts.filtered
            report.lines += counts.lines


def _events_of(reader: _Reader, chunk: _Chunk, passing: Iterator[tuple[int, int, bytes]]) -> Iterator[Event]:
    """The events of the passing lines, decoded by ``reader`` (without a filter of its own) and
    numbered by position. The reader counts each line it is given; :func:`_passing` has counted
    them already."""
    base = chunk.file_no << _POSITION_BITS
    read = reader._lines
    report = reader.report
    for number, off, line in passing:
        for ev in read((line,), chunk.path, number):
            ev.seq = base | off
            ev.origin = (chunk.path, off)
            yield ev
        report.lines -= 1


def _run_chunk(chunk: _Chunk) -> _ChunkResult:
    compiled = _WORKER["compiled"]
    report = ReadReport(log=lambda _text: None, max_kept=1_000_000)
    line_filter = _WORKER["filter"]
    reader = _Reader(strict=False, line_filter=None, report=report, decode=_WORKER["decode"])
    if line_filter is not None:
        events = _events_of(
            reader, chunk, _filtered(chunk, getattr(line_filter, "fast", line_filter), report)
        )
    else:
        events = _every_event(reader, chunk)
    result = _ChunkResult(parts=[])
    kind = _kind(compiled)
    append = result.parts.append
    keyset = _WORKER.get("keyset")
    if keyset is not None:
        # Second pass of a keyed sequence: a candidate none of whose keys the rare step has
        # can never be part of a sequence; it is dropped here rather than sent and matched.
        for part in compiled.parts(events, result.stats):
            if _has_key(part, keyset):
                append(_pack(kind, part))
    else:
        for part in compiled.parts(events, result.stats):
            append(_pack(kind, part))
    result.lines = report.lines
    result.events = report.events
    result.filtered = report.filtered
    result.scanned = line_filter is not None and _WORKER.get("scanner") is not None
    result.malformed = [(m.line, m.column, m.message) for m in report.malformed]
    return result


def _every_event(reader: _Reader, chunk: _Chunk) -> Iterator[Event]:
    """The events of every line of a chunk (no pre-filter), numbered by position."""
    last = [0]

    def lines() -> Iterator[bytes]:
        for off, line in _lines_of(chunk):
            last[0] = off
            yield line

    return _positioned(reader._lines(lines(), chunk.path, 1), last, chunk)


def _positioned(events: Iterator[Event], last: list[int], chunk: _Chunk) -> Iterator[Event]:
    """Events numbered by position: the reader yields each event right after reading its line,
    so the offset of the last line read is the event's."""
    base = chunk.file_no << _POSITION_BITS
    for ev in events:
        off = last[0]
        ev.seq = base | off
        ev.origin = (chunk.path, off)
        yield ev


def _kind(compiled: Any) -> str:
    from vigil.eql import ast

    body = compiled.query.body
    if isinstance(body, ast.EventQuery):
        return "events"
    return "sequence" if isinstance(body, ast.SequenceQuery) else "sample"


def _pack_event(ev: Event) -> tuple[Any, ...]:
    """An event without its document (re-read from the file if the answer needs it), as plain
    data: tuples pickle far faster than objects."""
    try:
        known: str | None = _ID_SLOT.__get__(ev, Event)
    except AttributeError:
        known = None
    return (ev.index, known, ev.seq, ev.origin)


def _unpack_event(packed: tuple[Any, ...]) -> Event:
    index, known, seq, origin = packed
    ev = _new_event({}, index, known, seq, None, True)
    ev.origin = origin
    return ev


def _pack(
    kind: str,
    part: Any,
    event: Callable[[Event], tuple[Any, ...]] = _pack_event,
    shared: Callable[[Candidate], tuple[Any, Any]] | None = None,
) -> tuple[Any, ...]:
    """A part as plain data; ``event`` packs its event, ``shared`` gives a sequence
    candidate's (ordinal, until keys) as objects shared with other rules' parts."""
    if kind == "events":
        ordinal, ev = part
        return (ordinal, event(ev))
    if kind == "sequence":
        ordinal, until = (part.ordinal, part.until_keys) if shared is None else shared(part)
        return (ordinal, event(part.event), part.step_keys, until)
    ev, step_keys = part
    return (event(ev), step_keys)


class SharedPacker:
    """Packs the parts many rules keep from one range so that what they share is sent once.

    An event offered to many rules (a process end ending a dozen rules' sequences) gives each
    the same event and usually equal ordinals and ``until`` keys: here those become one object
    each, which pickling then writes once and references after (and :class:`SharedUnpacker`
    turns back into one event)."""

    def __init__(self) -> None:
        self._events: dict[int, tuple[Event, tuple[Any, ...]]] = {}
        self._values: dict[Any, Any] = {}

    def event(self, ev: Event) -> tuple[Any, ...]:
        """The packed event (one per event object)."""
        known = self._events.get(id(ev))
        if known is None:
            known = self._events[id(ev)] = (ev, _pack_event(ev))  # holds ev: its id stays its own
        return known[1]

    def _same(self, value: Any, key: Any) -> Any:
        try:
            return self._values.setdefault(key, value)
        except TypeError:  # an unhashable key value: sent as it is
            return value

    def _shared(self, part: Candidate) -> tuple[Any, Any]:
        until = part.until_keys
        if until is not None:
            until = self._same(until, ("until", *until))
        return self._same(part.ordinal, part.ordinal), until

    def pack(self, kind: str, part: Any) -> tuple[Any, ...]:
        """:func:`_pack` with shared events, ordinals and key lists."""
        return _pack(kind, part, self.event, self._shared)


class SharedUnpacker:
    """Unpacks what :class:`SharedPacker` packed: one event per packed event, while the packed
    data lives (the caller holds it)."""

    def __init__(self) -> None:
        self._events: dict[int, Event] = {}

    def _event(self, packed: tuple[Any, ...]) -> Event:
        ev = self._events.get(id(packed))
        if ev is None:
            ev = self._events[id(packed)] = _unpack_event(packed)
        return ev

    def unpack(self, kind: str, packed: tuple[Any, ...]) -> Any:
        """:func:`_unpack` with shared events."""
        return _unpack(kind, packed, self._event)


def _unpack(
    kind: str, packed: tuple[Any, ...], event: Callable[[tuple[Any, ...]], Event] = _unpack_event
) -> Any:
    """A part again from :func:`_pack`'s data; ``event`` unpacks its event."""
    if kind == "events":
        return (packed[0], event(packed[1]))
    if kind == "sequence":
        return Candidate(packed[0], event(packed[1]), packed[2], packed[3])
    return (event(packed[0]), packed[1])


# --------------------------------------------------------------------------- main side


class _InProcess:
    """A pool of one worker that is this process: ``--workers 1`` runs the workers' code (range
    searches, the key pre-pass) here, one range after another."""

    def __init__(self, initializer: Callable[..., None], initargs: tuple[Any, ...]):
        initializer(*initargs)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        return map(fn, items)

    def __enter__(self) -> _InProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        _WORKER.clear()


def _pool(workers: int, ctx: Any, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> Any:
    if workers < 2:
        return _InProcess(initializer, initargs)
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=initializer, initargs=initargs
    )


# A key set of the pre-pass is searched in whole ranges up to this many needles (Hyperscan
# compiles 10,000 in ~0.4 s, 100,000 in ~5 s, in every worker).
MAX_SCAN_KEYS = 20_000


def _second_pass_driver(step: Any | None, needles: Sequence[bytes], sample: Sequence[bytes]) -> Any | None:
    """The needles of the second pass of a keyed sequence: those of its rare step, or a key.
    None (test every line) when the keys are too many or in too many of the sample lines (a
    sequence ``by host.id`` over few hosts)."""
    from vigil.sources.scan import MAX_HIT_SHARE, combine, make_driver

    if step is None or len(needles) > MAX_SCAN_KEYS:
        return None
    keys = make_driver([(n, False, None) for n in needles])
    if needles and sample:
        import ahocorasick_rs

        find = ahocorasick_rs.BytesAhoCorasick(list(needles)).find_matches_as_indexes
        if sum(1 for line in sample if find(line)) > MAX_HIT_SHARE * len(sample):
            return None
    return combine(step, keys)  # bit 1: the rare step's needles; bit 2: a key's


def execute_parallel(
    query: str,
    options: QueryOptions,
    paths: Sequence[str],
    report: ReadReport,
    *,
    workers: int,
    prefilter: bool = True,
    project: bool = True,
    min_bytes: int = MIN_PARALLEL_BYTES,
    chunk_bytes: int = CHUNK_BYTES,
    input_format: str = "auto",
    key_prepass: bool = True,
    scan: bool = True,
    one_pass: bool | None = None,
) -> QueryResult | None:
    """Run ``query`` over ``paths`` with ``workers`` processes (1: the same code, range by range,
    in this process); None when the input is not made of plain NDJSON files big enough to be
    worth splitting (then read it line by line in one process).
    ``scan=False`` tests every line instead of searching ranges for needles. A keyed sequence's
    key pre-pass reads the input once, recording lines (:mod:`vigil.sources.keypass`), when few
    enough lines pass the pre-check, else twice; ``one_pass`` True or False forces either (for
    tests)."""
    if workers < 1:
        return None
    files = _expand(paths, input_format)
    if not files or sum(os.path.getsize(f) for f in files) < min_bytes:
        return None
    from vigil.engine import compile_query

    compiled = compile_query(query, options=options)
    kind = _kind(compiled)
    chunks = plan_chunks(files, chunk_bytes)
    stats = QueryStats()
    report.files += len(files)
    line_base: dict[int, int] = {}
    ctx = multiprocessing.get_context("fork")
    prepass, needles = None, None
    keys: set[tuple[Any, ...]] = set()
    sample = _sample_lines(files) if prefilter and compiled.line_filter is not None else []
    calibrate = getattr(compiled.line_filter, "calibrate", None)
    order = calibrate(sample) if calibrate is not None and sample else None
    reqs = getattr(compiled.line_filter, "reqs", None) if scan else None
    driver = plan_driver(reqs, sample) if reqs else None
    results: Iterator[_ChunkResult] | None = None
    with contextlib.ExitStack() as pools:
        if prefilter and key_prepass and compiled.line_filter is not None:
            prepass = plan_prepass(compiled, sample)
        if prepass is not None:
            step_driver = plan_driver([reqs[prepass.step]], sample) if reqs else None
            reader = key_reader(compiled) if one_pass is not False else None
            query_test: Any = getattr(compiled.line_filter, "fast", compiled.line_filter)
            both = combine(step_driver, driver) if step_driver and driver else None
            # One reading pays when its ranges can be searched (else every line is tested in
            # Python) and few lines pass the pre-check (each is read for its keys).
            if reader is not None and (
                one_pass
                or (both is not None and keypass.record_share(query_test, sample) <= keypass.MAX_RECORD_SHARE)
            ):
                # One reading: the rare step's lines decoded, the others recorded by key.
                setup = (query, options, prepass, both, order, project)
                pool = pools.enter_context(_pool(workers, ctx, keypass.init_worker, setup))
                keys, records = keypass.record_pass(pool, chunks, MAX_KEYS)
                if records is not None:
                    results = keypass.read_recorded(pool, chunks, records, keys, reader.probes(keys))
                else:
                    pools.close()  # too much recorded: the second reading below
            else:
                with _pool(workers, ctx, _init_keys, (query, options, prepass, step_driver)) as pool:
                    for found in pool.map(_keys_chunk, chunks):
                        keys |= found
                        if len(keys) > MAX_KEYS:
                            break
            if results is None:
                needles = key_needles(keys, prepass.position) if len(keys) <= MAX_KEYS else None
                if needles is None:
                    prepass = None
                else:
                    driver = _second_pass_driver(step_driver, needles, sample)
        if results is None:
            args = (
                query,
                options,
                prefilter,
                project,
                prepass,
                needles or (),
                keys if prepass else None,
                order,
                driver,
            )
            pool = pools.enter_context(_pool(workers, ctx, _init_worker, args))
            results = pool.map(_run_chunk, chunks)

        def parts() -> Iterator[Any]:
            for chunk, res in zip(chunks, results, strict=True):
                first_line = line_base.get(chunk.file_no, 0)
                for line, column, message in res.malformed:
                    report.add_malformed(Malformed(chunk.path, first_line + line, column, message))
                line_base[chunk.file_no] = first_line + res.lines
                report.lines += res.lines
                report.events += res.events
                report.filtered += res.filtered
                report.scanned += res.scanned
                stats.events_read += res.stats.events_read
                stats.events_considered += res.stats.events_considered
                stats.events_matched += res.stats.events_matched
                for packed in res.parts:
                    yield _unpack(kind, packed)

        return compiled.finish(parts(), stats)
