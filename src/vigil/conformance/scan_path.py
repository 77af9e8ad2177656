"""The conformance suite's "scan" path: events chosen as the parallel reader's workers choose them.

A big NDJSON file read by worker processes (:mod:`vigil.sources.parallel`) is not tested line
by line: each byte range is searched whole for the pre-filter's needles (:mod:`vigil.sources.scan`),
and a keyed sequence first collects the keys of its rare step, then decodes only the lines of that
step or holding one of its keys (:mod:`vigil.engine.semijoin`). This path runs the same pieces in
this process over a file of the suite's events, one JSON line each, with every choice forced on
(any share of lines may be searched for, any step may give the keys), and hands the events of
the lines that pass to the evaluator. The answers must be the plain path's.

The "record" path runs a keyed sequence's key pre-pass in one reading instead
(:mod:`vigil.sources.keypass`): lines of the rare step decoded, the others recorded with the keys
read from them, then the recorded lines holding a key of the rare step read by offset. Queries
without that pre-pass go the "scan" way.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vigil.engine.semijoin import key_needles, key_reader, plan_prepass, second_pass, step_keys
from vigil.sources.scan import Counts, Scanner, combine, make_driver, plan_driver, scan_range


class LinesFile:
    """Events written one JSON line each to a temporary file, found again by offset."""

    def __init__(self, events: Sequence[Any], raw_line: Any):
        self._folder = tempfile.TemporaryDirectory(prefix="vigil-conformance-scan-")
        self.path = str(Path(self._folder.name) / "events.ndjson")
        self.by_offset: dict[int, Any] = {}
        self.lines: list[bytes] = []
        offset = 0
        with open(self.path, "wb") as f:
            for event in events:
                line = raw_line(event) + b"\n"
                f.write(line)
                self.by_offset[offset] = event
                self.lines.append(line)
                offset += len(line)
        self.size = offset

    def passing(self, driver: Any, test: Any) -> list[tuple[int, bytes]]:
        """(offset, line) of the lines a range search with ``driver`` finds and ``test`` passes."""
        found = scan_range(self.path, 0, self.size, Scanner(driver), test, Counts())
        return [(offset, line) for _n, offset, line in found]


def scan_events(compiled: Any, lines: LinesFile) -> list[Any]:
    """The events the parallel reader's workers would decode for ``compiled``, in input order."""
    line_filter = getattr(compiled, "line_filter", None)
    reqs = getattr(line_filter, "reqs", None)
    if line_filter is None or reqs is None:
        return list(lines.by_offset.values())
    query_test = line_filter.fast
    driver = plan_driver(reqs, lines.lines, max_share=1.0)
    if driver is None:  # a filter without needles has no requirement: no pre-filter either
        return list(lines.by_offset.values())

    def plain(line: bytes, _found: int) -> bool:
        return bool(query_test(line))

    test: Callable[[bytes, int], bool] = plain

    prepass = plan_prepass(compiled, lines.lines, max_share=1.0)
    step_driver = plan_driver([reqs[prepass.step]], lines.lines, max_share=1.0) if prepass else None
    if prepass is not None and step_driver is not None:
        keys: set[tuple[Any, ...]] = set()
        for offset, _line in lines.passing(step_driver, lambda ln, _f: prepass.step_filter(ln)):
            keys.update(step_keys(compiled, lines.by_offset[offset], prepass.step))
        needles = key_needles(keys, prepass.position)
        if needles is not None:
            _line_filter, test = second_pass(compiled, query_test, prepass, needles, keys)
            driver = combine(step_driver, make_driver([(n, False, None) for n in needles]))
    return [lines.by_offset[offset] for offset, _line in lines.passing(driver, test)]


def record_events(compiled: Any, lines: LinesFile) -> list[Any]:
    """The events the one-reading key pre-pass decodes and keeps for ``compiled`` (see
    :mod:`vigil.sources.keypass`), in input order; :func:`scan_events` for other queries.

    The events of each index go to a file of their own, read with that index (the lines do not
    name it), as a run over one file per index would read them."""
    from vigil.sources.keypass import KeyPass, read_recorded
    from vigil.sources.parallel import _POSITION_BITS, _Chunk

    line_filter = getattr(compiled, "line_filter", None)
    reqs = getattr(line_filter, "reqs", None)
    prepass = plan_prepass(compiled, lines.lines, max_share=1.0) if reqs is not None else None
    if prepass is None or reqs is None:
        return scan_events(compiled, lines)
    reader = key_reader(compiled)
    driver = plan_driver(reqs, lines.lines, max_share=1.0)
    step_driver = plan_driver([reqs[prepass.step]], lines.lines, max_share=1.0)
    both = combine(step_driver, driver) if step_driver is not None and driver is not None else None
    events = list(lines.by_offset.values())
    line_of = {id(e): line.rstrip(b"\n") for e, line in zip(events, lines.lines, strict=True)}
    groups: dict[str, list[Any]] = {}
    for event in events:
        groups.setdefault(event.index, []).append(event)
    files = [LinesFile(group, lambda e: line_of[id(e)]) for group in groups.values()]
    keypasses = [KeyPass(compiled, prepass, both, False, index) for index in groups]
    chunks = [_Chunk(f.path, i, 0, f.size) for i, f in enumerate(files)]
    records = [kp.record(chunk) for kp, chunk in zip(keypasses, chunks, strict=True)]
    keys = set().union(*(r.keys for r in records))
    chosen: set[int] = set()
    for kp, chunk, rec, f in zip(keypasses, chunks, records, files, strict=True):
        (result,) = read_recorded(_Here(kp), [chunk], [rec], keys, reader.probes(keys))
        mask = (1 << _POSITION_BITS) - 1
        chosen.update(id(f.by_offset[packed[1][2] & mask]) for packed in result.parts)
    return [e for e in events if id(e) in chosen]


class _Here:
    """A pool of one worker that is this process, holding ``keypass``."""

    def __init__(self, keypass: Any):
        self.keypass = keypass

    def map(self, _fn: Callable[[Any], Any], jobs: Sequence[Any]) -> list[Any]:
        return [self.keypass.read(*job) for job in jobs]
