"""The conformance suite's "scan" path: events chosen as the parallel reader's workers choose them.

A big NDJSON file read by worker processes (:mod:`vigil.sources.parallel`) is not tested line
by line: each byte range is searched whole for the pre-filter's needles (:mod:`vigil.sources.scan`),
and a keyed sequence first collects the keys of its rare step, then decodes only the lines of that
step or holding one of its keys (:mod:`vigil.engine.semijoin`). This path runs the same pieces in
this process over a file of the suite's events, one JSON line each, with every choice forced on
(any share of lines may be searched for, any step may give the keys), and hands the events of
the lines that pass to the evaluator. The answers must be the plain path's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vigil.engine.semijoin import key_needles, plan_prepass, second_pass, step_keys
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
