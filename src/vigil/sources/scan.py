"""Find the lines worth testing in a whole byte range at once, instead of line by line.

The pre-filter of a query (:mod:`vigil.engine.prefilter`) is a test of one raw line. Calling it
on every line of a big file costs a Python call, a line object and a few substring searches per
line, about as much as reading the file. But every filter's requirement has *clauses*, each a set
of needles of which one must occur in a matching line. So when one clause per filter is selective
(``445``, ``psexec``), the lines that can pass are among the lines holding one of those needles,
and those can be found by searching the whole range (memory-mapped, not copied) for the needles
in compiled code, then testing only the lines around the hits with the full pre-filter.

The answer is that of the line-by-line loop (:func:`vigil.sources.parallel._passing`): the same
lines pass, with the same line numbers, and the rejected lines are counted the same way (every
line counts as read; the non-blank ones as passed over). Needles never hold a newline, so a hit
always lies inside the line it proves worth testing.

Ranges are memory-mapped: a file cut shorter while it is being read (``copytruncate`` log
rotation) makes the reading process fail with SIGBUS where a plain read would see the end early.
Files that only grow are read as far as they reached when the run planned its ranges.

Searching: a few plain case-sensitive needles each go through ``ahocorasick_rs`` on their own (a
single needle becomes a vectorised substring search); needles with confirming regexes, larger and
case-insensitive sets go to Hyperscan (the ``hyperscan`` package) where it is installed, else to
Aho-Corasick automata over the bare needles (over a lowercased copy of the range for the
case-insensitive ones). A regex hit is reported at the end of its match, which lies in the line
where a match inside one line ends.
"""

from __future__ import annotations

import bisect
import contextlib
import mmap
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.engine.prefilter import Requirement

# Up to this many Hyperscan entries may be searched one database each (see Scanner).
_MAX_APART = 4
# The bytes of the first buffer timed both ways (a buffer twice as long at least).
_TRIAL_BYTES = 1 << 20
# Up to this many case-sensitive needles are searched one by one (each is then a SIMD substring
# search, several times faster than an automaton over all of them).
_ONE_BY_ONE = 4
# Scanning pays when the needles pick out at most this share of the sampled lines; above it the
# hits' lines cost as much to cut out and test as the plain loop.
MAX_HIT_SHARE = 0.35
# A blank line (only whitespace) is at most this long with its newline, as the plain loop sees it.
_BLANK_MAX = 8
_WHITESPACE = b" \t\r\n"


Entry = tuple[bytes, bool, "bytes | None"]  # (needle, caseless, confirming regex)


@dataclass(frozen=True)
class Driver:
    """What to search for: every line that can pass the pre-filter holds one of ``needles``
    (plain data, so it can be sent to worker processes).

    ``caseless[i]``: needle ``i`` (lowercase) may occur in any ASCII case. ``confirm[i]``: a
    regex (Python ``re`` source, bytes) that also matches inside any such line when needle ``i``
    is what makes it pass, or None; Hyperscan searches for it instead of the bare needle, which
    is far more selective (``port": 445`` rather than any ``445``). ``groups[i]``: the group of
    needle ``i`` (0 to 30, default 0); a line's test learns which groups were found in it."""

    needles: tuple[bytes, ...]
    caseless: tuple[bool, ...]
    confirm: tuple[bytes | None, ...] = ()
    groups: tuple[int, ...] = ()

    def entries(self) -> list[Entry]:
        """(needle, caseless, confirming regex) for each needle."""
        confirm = self.confirm or (None,) * len(self.needles)
        return list(zip(self.needles, self.caseless, confirm, strict=True))

    def bits(self) -> list[int]:
        """Each needle's group as a bit (``1 << group``)."""
        return [1 << g for g in (self.groups or (0,) * len(self.needles))]


def make_driver(entries: Sequence[Entry], group: int = 0) -> Driver:
    """A driver of distinct ``entries``, all in ``group``."""
    items = sorted(dict.fromkeys(entries), key=lambda e: (e[0], e[1], e[2] or b""))
    return Driver(
        tuple(n for n, _c, _r in items),
        tuple(c for _n, c, _r in items),
        tuple(r for _n, _c, r in items),
        (group,) * len(items),
    )


def combine(*drivers: Driver) -> Driver:
    """One search for several drivers: the needles of ``drivers[g]`` form group ``g``."""
    needles: list[bytes] = []
    caseless: list[bool] = []
    confirm: list[bytes | None] = []
    groups: list[int] = []
    for g, driver in enumerate(drivers):
        for n, c, r in driver.entries():
            needles.append(n)
            caseless.append(c)
            confirm.append(r)
            groups.append(g)
    return Driver(tuple(needles), tuple(caseless), tuple(confirm), tuple(groups))


def plan_driver(
    reqs: Sequence[Requirement], sample: Sequence[bytes], max_share: float | None = None
) -> Driver | None:
    """What to search for the pre-filter of ``reqs`` (one requirement per filter): for each
    filter, the clause that holds in the fewest sample lines (judged as the search will run:
    with its confirming regexes when Hyperscan is there). None when the search would still pick
    out more than ``max_share`` (default :data:`MAX_HIT_SHARE`) of the sample (then test line by
    line)."""
    if not reqs or not sample:
        return None
    regexes = hyperscan_available()
    caseless = any(c.insensitive for req in reqs for c in req)
    lowered = [line.lower() for line in sample] if caseless else sample
    chosen: list[tuple[bytes, bool, bytes | None]] = []
    for req in reqs:
        best: tuple[int, int, int] | None = None
        for ci, clause in enumerate(req):
            hay = lowered if clause.insensitive else sample
            tests = [
                _entry_test((n.text, False, n.confirm_source if regexes else None)) for n in clause.needles
            ]
            hits = sum(1 for line in hay if any(t(line) for t in tests))
            score = (hits, len(tests), ci)
            if best is None or score < best:
                best = score
        if best is None:
            return None
        clause = req[best[2]]
        for n in sorted(clause.needles, key=lambda n: n.text):
            chosen.append((n.text, clause.insensitive, n.confirm_source if regexes else None))
    driver = make_driver(chosen)
    entry_tests = [(c, _entry_test((n, False, r))) for n, c, r in driver.entries()]
    hits = 0
    for line, low in zip(sample, lowered, strict=True):
        if any(t(low if c else line) for c, t in entry_tests):
            hits += 1
    if hits > (MAX_HIT_SHARE if max_share is None else max_share) * len(sample):
        return None
    return driver


def _entry_test(entry: Entry) -> Callable[[bytes], bool]:
    """Whether a line (lowercased for a caseless entry) holds the entry."""
    needle, _caseless, confirm = entry
    if confirm is None:
        return lambda line: needle in line
    search = re.compile(confirm, re.IGNORECASE).search if _caseless else re.compile(confirm).search
    return lambda line: needle in line and search(line) is not None


class Scanner:
    """Where the entries of a :class:`Driver` occur in a buffer (see the module docstring)."""

    def __init__(self, driver: Driver):
        import ahocorasick_rs

        self.driver = driver
        # An entry of several groups (a needle of two combined drivers) is searched once, for
        # all of its groups.
        merged: dict[Entry, int] = {}
        for entry, bit in zip(driver.entries(), driver.bits(), strict=True):
            merged[entry] = merged.get(entry, 0) | bit
        entries = list(merged)
        self._bits = list(merged.values())
        plain = all(not c and r is None for _n, c, r in entries)
        self._singles: list[tuple[Any, int]] = []
        self._automaton: Any = None
        self._automaton_bits: list[int] = []
        self._folded: Any = None
        self._folded_bits: list[int] = []
        self._hyperscan: Any = None
        if plain and len(entries) <= _ONE_BY_ONE:
            self._singles = [
                (ahocorasick_rs.BytesAhoCorasick([n]), bit)
                for (n, _c, _r), bit in zip(entries, self._bits, strict=True)
            ]
            return
        self._hyperscan = _hyperscan_database(entries)
        # A few entries may search faster one database each than all in one (``port": 445``
        # and ``category": "process"`` do, by a quarter); which is decided on the first buffer.
        self._apart: list[tuple[Any, int]] = []
        self._apart_chosen: bool | None = None
        if self._hyperscan is not None:
            if 2 <= len(entries) <= _MAX_APART:
                self._apart = [
                    (_hyperscan_database([entry]), bit)
                    for entry, bit in zip(entries, self._bits, strict=True)
                ]
            return
        dfa = ahocorasick_rs.Implementation.DFA
        sensitive = [(n, b) for (n, c, _r), b in zip(entries, self._bits, strict=True) if not c]
        folded = [(n.lower(), b) for (n, c, _r), b in zip(entries, self._bits, strict=True) if c]
        if sensitive:
            self._automaton = ahocorasick_rs.BytesAhoCorasick([n for n, _b in sensitive], implementation=dfa)
            self._automaton_bits = [b for _n, b in sensitive]
        if folded:
            self._folded = ahocorasick_rs.BytesAhoCorasick([n for n, _b in folded], implementation=dfa)
            self._folded_bits = [b for _n, b in folded]

    @property
    def engine(self) -> str:
        """Which search runs (for tests and ``--profile``)."""
        if self._singles or not self.driver.needles:
            return "substring"
        return "hyperscan" if self._hyperscan is not None else "aho-corasick"

    def hits(self, buf: Any) -> list[tuple[int, int]]:
        """(offset, group bit) of hits in ``buf`` (bytes or a memoryview), sorted by offset: at
        least one inside every line that holds an entry, for each group whose entries it holds
        (a line may hold more occurrences than the ones reported)."""
        out: list[tuple[int, int]] = []
        for single, bit in self._singles:
            out.extend([(m[1], bit) for m in single.find_matches_as_indexes(buf)])
        if self._hyperscan is not None:
            append = out.append
            if self._apart and self._apart_chosen is None and len(buf) >= 2 * _TRIAL_BYTES:
                self._apart_chosen = self._apart_is_faster(buf[:_TRIAL_BYTES])
            if self._apart_chosen:

                def one(_pattern: int, _start: int, end: int, _flags: int, bit: int) -> None:
                    append((end - 1, bit))

                for database, bit in self._apart:
                    database.scan(buf, match_event_handler=one, context=bit)
            else:
                bits = self._bits

                def found(pattern: int, _start: int, end: int, _flags: int, _context: Any) -> None:
                    append((end - 1, bits[pattern]))

                self._hyperscan.scan(buf, match_event_handler=found)
        # Overlapping matches: a needle hidden inside another's match may be the only one of its
        # group on the line.
        if self._automaton is not None:
            bits = self._automaton_bits
            found_ = self._automaton.find_matches_as_indexes(buf, overlapping=True)
            out.extend([(m[1], bits[m[0]]) for m in found_])
        if self._folded is not None:
            bits = self._folded_bits
            found_ = self._folded.find_matches_as_indexes(bytes(buf).lower(), overlapping=True)
            out.extend([(m[1], bits[m[0]]) for m in found_])
        out.sort()
        return out

    def _apart_is_faster(self, trial: Any) -> bool:
        """Whether searching ``trial`` one database per entry takes clearly less time than one
        database of all (best of two timings each). Either way the hits are the same."""

        def ignore(*_args: Any) -> None:
            return None

        def together() -> None:
            self._hyperscan.scan(trial, match_event_handler=ignore)

        def apart() -> None:
            for database, _bit in self._apart:
                database.scan(trial, match_event_handler=ignore)

        return _best_time(apart) < 0.9 * _best_time(together)


def _best_time(run: Callable[[], None], times: int = 2) -> float:
    """The least wall-clock time of ``times`` calls of ``run``."""
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def hyperscan_available() -> bool:
    """Whether Hyperscan can be used here (the ``hyperscan`` package imports)."""
    if _NO_HYPERSCAN:
        return False
    try:
        import hyperscan  # noqa: F401
    except ImportError:
        return False
    return True


_NO_HYPERSCAN = False  # set by tests to run the fallback


def _hyperscan_database(entries: list[tuple[bytes, bool, bytes | None]]) -> Any:
    """One Hyperscan database of every entry: its confirming regex, else the needle as a
    literal (escaped: patterns are compiled as regexes so both kinds mix)."""
    if not hyperscan_available():
        return None
    import hyperscan

    patterns = [_pcre(r) if r is not None else _escape(n) for n, _c, r in entries]
    flags = [hyperscan.HS_FLAG_CASELESS if c else 0 for _n, c, _r in entries]
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=patterns, ids=list(range(len(patterns))), elements=len(patterns), flags=flags)
    return db


def _pcre(source: bytes) -> bytes:
    """A Python regex (as the pre-filter writes them) for Hyperscan: ``\\s`` spelled out as
    Python's set of whitespace bytes, so both engines match the same lines."""
    out = bytearray()
    i = 0
    while i < len(source):
        c = source[i : i + 1]
        if c == b"\\" and i + 1 < len(source):
            pair = source[i : i + 2]
            out += rb"[\t\n\x0b\x0c\r ]" if pair == rb"\s" else pair
            i += 2
            continue
        out += c
        i += 1
    return bytes(out)


def _escape(needle: bytes) -> bytes:
    """A literal as a Hyperscan (PCRE) pattern: every byte that is not a letter or digit as a
    ``\\xHH`` escape."""
    return b"".join(bytes([b]) if chr(b).isalnum() and b < 128 else b"\\x%02x" % b for b in needle)


@dataclass
class Counts:
    """What a scan of one range saw, counted as the line-by-line loop counts."""

    lines: int = 0
    filtered: int = 0


LineTest = Callable[[bytes, int], bool]  # (line, bits of the groups found in it) -> passes


def scan_range(
    path: str,
    start: int,
    end: int,
    scanner: Scanner,
    test: LineTest,
    counts: Counts | None,
) -> Iterator[tuple[int, int, bytes]]:
    """(line number in the range, file offset, line) of the lines starting in ``[start, end)``
    of ``path`` that pass ``test``, finding the lines to test with ``scanner``. The range's lines
    are those :func:`vigil.sources.parallel._passing` reads, and ``counts`` gets the same totals.
    With ``counts`` None, lines are not counted and every line number is 0 (a caller that only
    wants the passing lines skips the search for every newline)."""
    with _mapped(path, start, end) as mapped:
        if mapped is None:
            return
        mm, first, stop = mapped
        view = memoryview(mm)[first:stop]
        try:
            hits = scanner.hits(view)
            if counts is None:
                yield from _unnumbered(mm, first, stop, hits, test)
            else:
                yield from _numbered(view, first, stop - first, hits, test, counts)
        finally:
            view.release()


LineVisit = Callable[[memoryview, int, int, int], bool]  # (line, bits found, number, offset) -> passes


def visit_range(path: str, start: int, end: int, scanner: Scanner, visit: LineVisit, counts: Counts) -> None:
    """Call ``visit(line, bits, number, offset)`` for each line of the range (as
    :func:`scan_range` reads it) that holds a hit of ``scanner``, in order: ``line`` is a view of
    the mapped file, valid only during the call; ``bits`` the groups found in it. ``visit``
    says whether the line passes; ``counts`` gets the totals :func:`scan_range` would give.
    For callers that look at every such line: cheaper than :func:`scan_range`, as no line is
    copied unless ``visit`` copies it."""
    with _mapped(path, start, end) as mapped:
        if mapped is None:
            return
        mm, first, stop = mapped
        view = memoryview(mm)[first:stop]
        line: memoryview | None = None
        try:
            length = stop - first
            newlines = [m[1] for m in _NEWLINE().find_matches_as_indexes(view)]
            last = len(newlines)
            passing: set[int] = set()
            for line_start, line_end, mask, number in _hit_lines(scanner.hits(view), newlines, length):
                line = view[line_start:line_end]
                if visit(line, mask, number, first + line_start):
                    passing.add(line_start)
                line.release()
            lines = last + (1 if not newlines or newlines[-1] != length - 1 else 0)
            counts.lines += lines
            counts.filtered += lines - len(passing) - _blank_lines(view, newlines, length, passing)
        finally:
            if line is not None:
                line.release()
            view.release()


@contextlib.contextmanager
def _mapped(path: str, start: int, end: int) -> Iterator[tuple[mmap.mmap, int, int] | None]:
    """The file mapped, with the span of the lines starting in ``[start, end)`` (None when
    there are none), its pages populated."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if size == 0:
            yield None
            return
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        # The range's first line: a line running over ``start`` belongs to the range before.
        if start > 0:
            nl = mm.find(b"\n", start - 1)
            first = size if nl < 0 else nl + 1
        else:
            first = 0
        if first >= min(end, size):
            yield None
            return
        # Its last line is the last one starting before ``end``: it runs to its newline or the end.
        nl = mm.find(b"\n", end - 1) if end < size else -1
        stop = size if nl < 0 else nl + 1
        _populate(mm, first, stop)
        yield mm, first, stop
    finally:
        # BufferError: a caller still holds a view (only while unwinding an error)
        with contextlib.suppress(BufferError):
            mm.close()


def _populate(mm: mmap.mmap, start: int, stop: int) -> None:
    """Map the range's pages in one call (Linux 5.14+): cheaper than faulting them one by one
    during the search. Older kernels refuse it; the search then faults them in."""
    if _MADV_POPULATE_READ is None:
        return
    begin = start - start % mmap.PAGESIZE
    with contextlib.suppress(OSError, ValueError, AttributeError):
        mm.madvise(_MADV_POPULATE_READ, begin, stop - begin)


# Linux's MADV_POPULATE_READ (Python 3.11's mmap module does not name it); other systems number
# their advice differently, so it is only ever given on Linux.
_MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22) if sys.platform.startswith("linux") else None


def _unnumbered(
    mm: mmap.mmap, first: int, stop: int, hits: list[tuple[int, int]], test: LineTest
) -> Iterator[tuple[int, int, bytes]]:
    """The passing lines around ``hits``, not numbered (number 0). Each line is tested right
    before it is yielded: a test may remember its last line for the consumer (the rule-set
    pre-filter does)."""
    i, n = 0, len(hits)
    while i < n:
        at = first + hits[i][0]
        line_start = mm.rfind(b"\n", first, at) + 1 or first
        nl = mm.find(b"\n", at, stop)
        line_end = stop if nl < 0 else nl + 1
        limit = line_end - first
        mask = 0
        while i < n and hits[i][0] < limit:
            mask |= hits[i][1]
            i += 1
        line = mm[line_start:line_end]
        if test(line, mask):
            yield 0, line_start, line


def _numbered(
    view: memoryview, first: int, length: int, hits: list[tuple[int, int]], test: LineTest, counts: Counts
) -> Iterator[tuple[int, int, bytes]]:
    """The passing lines around ``hits`` with their numbers, each tested right before it is
    yielded; once all are, counts every line of the range."""
    newlines = [m[1] for m in _NEWLINE().find_matches_as_indexes(view)]
    lines = len(newlines) + (1 if not newlines or newlines[-1] != length - 1 else 0)
    passing: set[int] = set()  # starts of the lines that passed
    for line_start, line_end, mask, number in _hit_lines(hits, newlines, length):
        line = bytes(view[line_start:line_end])
        if test(line, mask):
            passing.add(line_start)
            yield number, first + line_start, line
    blank_rejected = _blank_lines(view, newlines, length, passing)
    counts.lines += lines
    counts.filtered += lines - len(passing) - blank_rejected


def _hit_lines(
    hits: list[tuple[int, int]], newlines: list[int], length: int
) -> Iterator[tuple[int, int, int, int]]:
    """For each line holding ``hits`` (sorted (offset, group bit)), in order: its start and end
    (past its newline) in a range of ``length`` bytes with ``newlines``, the groups found in
    it, and its number (from 1)."""
    last = len(newlines)
    find = bisect.bisect_left
    line_end = -1
    line_start = number = mask = 0
    for offset, bit in hits:
        if offset < line_end:
            mask |= bit
            continue
        if line_end >= 0:
            yield line_start, line_end, mask, number
        # A hit lies inside its line, so the first newline at or after it ends that line.
        k = find(newlines, offset)
        line_start = newlines[k - 1] + 1 if k else 0
        line_end = newlines[k] + 1 if k < last else length
        number = k + 1
        mask = bit
    if line_end >= 0:
        yield line_start, line_end, mask, number


def _blank_lines(view: memoryview, newlines: list[int], length: int, passing: set[int]) -> int:
    """Lines of only whitespace (at most :data:`_BLANK_MAX` bytes with the newline) that did not
    pass: the plain loop does not count them as passed over."""
    count = 0
    previous = -1
    for nl in newlines:
        if nl - previous <= _BLANK_MAX:
            s = previous + 1
            if s not in passing and not bytes(view[s : nl + 1]).strip(_WHITESPACE):
                count += 1
        previous = nl
    tail = previous + 1
    if (
        tail < length
        and length - tail <= _BLANK_MAX
        and tail not in passing
        and not bytes(view[tail:length]).strip(_WHITESPACE)
    ):
        count += 1
    return count


_NEWLINE_AC: list[Any] = []


def _NEWLINE() -> Any:
    if not _NEWLINE_AC:
        import ahocorasick_rs

        _NEWLINE_AC.append(ahocorasick_rs.BytesAhoCorasick([b"\n"]))
    return _NEWLINE_AC[0]
