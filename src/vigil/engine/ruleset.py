"""The pre-filter of a whole rule set: one scan of the raw line names the rules it may concern.

Each query's pre-check (:mod:`vigil.engine.prefilter`) is a list of *requirements*, one per
filter; a requirement is a list of *clauses*, each a set of needles of which one must occur in the
line. Every clause of a requirement is therefore a necessary condition for that filter, and so is
any few of them together: a line can only concern a query if, for some filter of it, the clauses
chosen for that filter are all satisfied.

So for every filter we keep a few of its clauses (the ones that pass the fewest lines together)
and search the line for all their needles at once, in any ASCII case: one Hyperscan scan that
reports each needle once (the ``hyperscan`` package), or where that is not installed one
Aho-Corasick automaton (``ahocorasick_rs``) over the lowercased line. A filter may concern the
line when each of its kept clauses has a needle in it: bit masks over the filters, one per clause
position, answer that at once, and as lines repeat the same few needle sets, each set's answer is
remembered. A line no query may concern is not decoded at all; the others are offered only to the
queries named. Folding case on both sides can only add passes, so case-sensitive clauses stay
necessary conditions; confirming regexes are not used here (they only remove passes).

Which clauses pass fewest lines depends on the data (``"windows"`` is in every Windows event,
``"cmd.exe"`` in few), so the filter calibrates itself: over its first lines it scans for the
needles of *every* clause and notes, per needle, the lines holding it; then, per filter, it keeps
the rarest clause and adds the next rarest while it still narrows the lines they pass together
(``"cmd.exe"`` and ``"-enc"`` may each be common, and rare together), and rebuilds the search.
The choice changes which needles are searched, never the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from vigil.engine.dispatch import mask_of
from vigil.engine.prefilter import Clause, Requirement

CALIBRATION_LINES = 1000
# Up to this many queries, each query's own pre-check is used instead of the automaton.
FEW_QUERIES = 4
# Filters whose chosen clauses pass more lines than this together are not worth searching for.
MAX_PASS_RATE = 0.25
# At most this many clauses of a filter are searched for together; a further clause is added
# only while it keeps at most NARROWING of the calibration lines the chosen ones pass, and
# those are more than MIN_NARROWED.
MAX_CLAUSES = 3
NARROWING = 0.7
MIN_NARROWED = 2
# Answers remembered per set of needles found in a line (the cache is emptied when full).
MAX_CACHED = 50_000


class RuleSetFilter:
    """Which of many queries a raw line may concern (see the module docstring).

    ``requirements[i]`` is the pre-check of query ``i`` (:func:`query_requirements`), None when
    the query has none: such a query concerns every line.
    """

    def __init__(
        self,
        requirements: Sequence[list[Requirement] | None],
        calibration: int = CALIBRATION_LINES,
        line_filters: Sequence[Callable[[bytes], bool] | None] | None = None,
    ):
        import ahocorasick_rs

        self._ac_type = ahocorasick_rs.BytesAhoCorasick
        # A DFA costs more to build and memory, and scans several times faster than the NFAs.
        self._dfa = ahocorasick_rs.Implementation.DFA
        self.always = frozenset(i for i, r in enumerate(requirements) if r is None)
        # each query's own pre-check, for queries no single needle serves (see calibrate)
        self._own = list(line_filters) if line_filters is not None else [None] * len(requirements)
        self._weak: list[tuple[int, Callable[[bytes], bool]]] = []
        self._weak_set: frozenset[int] = frozenset()
        self._weak_mask = 0
        own_tests = [(qi, f) for qi, f in enumerate(self._own) if f is not None]
        few = len(requirements) <= FEW_QUERIES and len(own_tests) + len(self.always) == len(requirements)
        self._few: list[tuple[int, Callable[[bytes], bool]]] | None = own_tests if few else None
        self.size = len(requirements)
        # every filter of every query: (query index, its clauses)
        self.filters: list[tuple[int, list[Clause]]] = [
            (qi, list(req)) for qi, reqs in enumerate(requirements) if reqs is not None for req in reqs
        ]
        self._calibration = calibration
        self._seen = 0
        # The line last scanned and its answer: a reader calls the filter on a line right before
        # it yields that line's event (whose ``raw`` is the same object), so the consumer can
        # narrow the rules it offers the event to without scanning again.
        self.last_line: bytes | None = None
        self.last: frozenset[int] | set[int] = self.always
        self.last_mask = mask_of(self.always)
        needles: dict[bytes, int] = {}
        # every clause as the ids of its needles, to count passes while calibrating
        self._clause_needles: list[list[tuple[int, ...]]] = []
        for _qi, clauses in self.filters:
            ids = []
            for clause in clauses:
                ids.append(tuple(needles.setdefault(n.text.lower(), len(needles)) for n in clause.needles))
            self._clause_needles.append(ids)
        self._all_needles = list(needles)
        self._full = self._ac_type(self._all_needles, implementation=self._dfa) if self._all_needles else None
        # While calibrating: per needle, the calibration lines holding it, as bits (line i is
        # 1 << i): a clause's lines are the OR of its needles', a few clauses' lines together
        # the AND of those, each a handful of integer operations.
        self._lines_of: list[int] = [0] * len(self._all_needles)
        # Before calibration: the clause with the longest shortest needle of each filter.
        first = [[_strongest(c)] for _qi, c in self.filters]
        self._choose(first)

    def _choose(self, choice: Sequence[Sequence[int]], skip: frozenset[int] = frozenset()) -> None:
        """Build the automaton of the chosen clauses of each filter (of queries not in ``skip``,
        which go to every line anyway): a filter may concern a line when every one of its chosen
        clauses has a needle in it."""
        patterns: dict[bytes, int] = {}
        # per needle, per clause position: the filters (as bits) whose clause at that position
        # the needle satisfies
        masks: list[list[int]] = []
        depth = max((len(ks) for ks in choice), default=1)
        # per clause position: the filters with no clause there (always satisfied)
        spare = [0] * depth
        self._filter_query: list[int] = []
        for (qi, clauses), ks in zip(self.filters, choice, strict=True):
            if qi in skip:
                continue
            bit = 1 << len(self._filter_query)
            self._filter_query.append(qi)
            for pos in range(len(ks), depth):
                spare[pos] |= bit
            for pos, k in enumerate(ks):
                for needle in clauses[k].needles:
                    pid = patterns.setdefault(needle.text.lower(), len(patterns))
                    if pid == len(masks):
                        masks.append([0] * depth)
                    masks[pid][pos] |= bit
        self.choice = [list(ks) for ks in choice]
        self._needle_masks = masks
        self._spare = spare
        # needle set -> (queries, their bits, the same with the queries tested by their own
        # pre-checks, their bits)
        self._cache: dict[frozenset[int], tuple[frozenset[int], int, frozenset[int], int]] = {}
        self._always_mask = mask_of(self.always)
        self._found = needle_finder(list(patterns), self._ac_type, self._dfa)

    def _queries_of(self, found: frozenset[int]) -> tuple[frozenset[int], int]:
        """The queries some filter of which has every chosen clause among the ``found`` needles
        (and the queries sent every line), as a set and as bits."""
        masks = self._needle_masks
        passing = -1
        for pos, spare in enumerate(self._spare):
            sat = spare
            for pid in found:
                sat |= masks[pid][pos]
            passing &= sat
        if passing <= 0:
            return self.always, self._always_mask
        owner = self._filter_query
        out = set(self.always)
        while passing:
            low = passing & -passing
            out.add(owner[low.bit_length() - 1])
            passing ^= low
        return frozenset(out), mask_of(out)

    def candidates(self, line: bytes) -> frozenset[int] | set[int]:
        """The indices of the queries this raw line may concern (empty: none). The same, as
        bits (query ``i`` is ``1 << i``), is left in :attr:`last_mask`."""
        self.last_line = line
        if self._few is not None:
            # A handful of queries: their own full pre-checks (all clauses, confirming regexes)
            # are more selective than one clause each, and as cheap as one scan.
            out = {qi for qi, test in self._few if test(line)}
            if self.always:
                out |= self.always
            self.last = out
            self.last_mask = mask_of(out)
            return out
        if self._seen < self._calibration:
            self._observe(line)
        result, mask = self.always, self._always_mask
        found = self._found(line)
        if found:
            # Lines repeat the same few needle sets: the answer of each set is remembered.
            key = frozenset(found)
            cache = self._cache
            hit = cache.get(key)
            if hit is None:
                if len(cache) >= MAX_CACHED:
                    cache.clear()
                result, mask = self._queries_of(key)
                # with the queries tested by their own pre-checks, for lines decoded anyway
                hit = cache[key] = (result, mask, result | self._weak_set, mask | self._weak_mask)
            if hit[0]:
                # The line is decoded for some query anyway: the queries tested by their own
                # pre-checks are simply named too (their event is offered to them if the rule
                # index agrees), sparing those tests on most lines.
                self.last, self.last_mask = hit[2], hit[3]
                return self.last
        elif result:
            self.last, self.last_mask = result | self._weak_set, mask | self._weak_mask
            return self.last
        # No query is named: whether the line is decoded at all rests on those pre-checks.
        weak = [qi for qi, test in self._weak if test(line)] if self._weak else None
        if weak:
            out = set(weak)
            self.last = out
            self.last_mask = mask_of(weak)
            return out
        self.last = self.always
        self.last_mask = self._always_mask
        return self.always

    __call__ = candidates

    @property
    def own_tests(self) -> list[tuple[int, Callable[[bytes], bool]]] | None:
        """(query index, its own pre-check) of every query when a handful of queries are tested
        with their own pre-checks (see :meth:`candidates`), else None."""
        return list(self._few) if self._few is not None else None

    def use_own_tests(self, tests: Sequence[tuple[int, Callable[[bytes], bool]]]) -> None:
        """Test these queries with these pre-checks from now on: each must accept every line its
        query's own pre-check accepts that can change the query's answer (a key pre-pass's second
        pass does, see :func:`vigil.rules.parallel.plan_scan`)."""
        if self._few is None or sorted(qi for qi, _t in tests) != sorted(qi for qi, _t in self._few):
            raise ValueError("use_own_tests replaces the tests of the same queries")
        self._few = list(tests)

    def _observe(self, line: bytes) -> None:
        self._seen += 1
        if self._full is not None:
            bit = 1 << (self._seen - 1)
            lines_of = self._lines_of
            for pid in {m[0] for m in self._full.find_matches_as_indexes(line.lower(), overlapping=True)}:
                lines_of[pid] |= bit
        if self._seen == self._calibration:
            self.calibrate()

    def _clause_lines(self, needle_ids: Sequence[int]) -> int:
        out = 0
        for nid in needle_ids:
            out |= self._lines_of[nid]
        return out

    @property
    def _passes(self) -> list[list[int]]:
        """Per filter, per clause: how many of the lines observed so far hold one of its needles."""
        return [[self._clause_lines(ids).bit_count() for ids in clauses] for clauses in self._clause_needles]

    def calibrate(self) -> None:
        """Choose, for each filter, the clauses to search for: the one that passed the fewest
        lines seen so far, then up to :data:`MAX_CLAUSES` in all, each added while it still
        narrows the lines the chosen ones pass together. A query with a filter whose chosen
        clauses still pass more than :data:`MAX_PASS_RATE` of the lines goes to every line
        (searching for its needles would cost more than it saves)."""
        choice: list[list[int]] = []
        unselective: set[int] = set()
        seen = max(1, self._seen)
        for (qi, clauses), needle_ids in zip(self.filters, self._clause_needles, strict=True):
            lines = [self._clause_lines(ids) for ids in needle_ids]
            passes = [m.bit_count() for m in lines]
            order = sorted(range(len(clauses)), key=lambda k: (passes[k], -_static_weight(clauses[k])))
            chosen = [order[0]]
            passing = lines[order[0]]
            count = passes[order[0]]
            for k in order[1:]:
                if len(chosen) == MAX_CLAUSES or count <= MIN_NARROWED:
                    break
                narrowed = passing & lines[k]
                # A clause found in nearly every line it is tested on only adds needles.
                if narrowed.bit_count() <= NARROWING * count:
                    chosen.append(k)
                    passing, count = narrowed, narrowed.bit_count()
            choice.append(chosen)
            if count / seen > MAX_PASS_RATE:
                unselective.add(qi)
        self._seen = self._calibration
        self._lines_of = []
        # A query's own pre-check (all its clauses, with confirming regexes) may still reject
        # most lines where no needles do: such queries are tested with it, line by line.
        weak = {qi for qi in unselective if self._own[qi] is not None}
        self._weak = [(qi, self._own[qi]) for qi in sorted(weak)]  # type: ignore[misc]
        self._weak_set = frozenset(weak)
        self._weak_mask = mask_of(weak)
        self.always = self.always | (unselective - weak)
        self._choose(choice, skip=self.always | weak)
        self._full = None

    def calibrate_on(self, lines: Sequence[bytes]) -> None:
        """Calibrate now, on ``lines`` (a sample spread over the input) instead of on the first
        lines it is given: a filter copied into worker processes is then calibrated once, on
        lines from the whole input."""
        for line in lines[: max(0, self._calibration - self._seen)]:
            self._observe(line)
        if self._seen < self._calibration:
            self.calibrate()

    @property
    def skips_lines(self) -> bool:
        """Whether some lines can be left undecoded (no query goes to every line)."""
        return not self.always

    def describe(self) -> str:
        """A one-line account of the filter (for ``--profile``)."""
        clauses = sum(len(ks) for ks in self.choice)
        return (
            f"rule-set pre-filter: {self.size} queries, {len(self.always)} sent every line, "
            f"{len(self._weak)} tested with their own pre-checks, {len(self.filters)} filters "
            f"searched by {clauses} clauses of {len(self._needle_masks)} needles"
        )


def needle_finder(patterns: list[bytes], ac_type: Any, dfa: Any) -> Callable[[bytes], list[int]]:
    """A function giving the ids of the ``patterns`` (lowercase) a line holds in any ASCII case,
    each id at least once: one Hyperscan scan reporting each needle once where Hyperscan is
    installed (a third faster than the automaton here), else an Aho-Corasick automaton
    (``ac_type``, built as ``dfa``) over the lowercased line."""
    if not patterns:
        return lambda _line: []
    from vigil.sources.scan import hyperscan_available

    if not hyperscan_available():
        find = ac_type(patterns, implementation=dfa).find_matches_as_indexes

        def automaton(line: bytes) -> list[int]:
            return [m[0] for m in find(line.lower(), overlapping=True)]

        return automaton
    import hyperscan

    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(
        expressions=patterns,
        ids=list(range(len(patterns))),
        elements=len(patterns),
        flags=hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH,
        literal=True,
    )
    scan = db.scan
    out: list[int] = []
    add = out.append

    def found(pattern: int, _start: int, _end: int, _flags: int, _context: Any) -> None:
        add(pattern)

    def hyper(line: bytes) -> list[int]:
        out.clear()
        scan(line, match_event_handler=found)
        return out

    return hyper


def _strongest(clauses: list[Clause]) -> int:
    """The clause with the longest shortest needle (the best guess before calibrating)."""
    return max(range(len(clauses)), key=lambda k: _static_weight(clauses[k]))


def _static_weight(clause: Clause) -> int:
    return min(len(n.text) for n in clause.needles)
