#!/usr/bin/env python3
"""Time EVTX-to-ECS reading against the bare ``evtx`` parser, in one run, in one process.

Over every ``.evtx`` file under ../shared/datasets (read BENCH_EVTX_PASSES times per timing, so
the small files make a measurable amount), best of BENCH_REPEAT timings each:

  (a) the parser alone: ``PyEvtxParser(path).records_json()`` plus ``orjson.loads`` of each
      record's JSON (what any Python consumer of the package pays);
  (b) the same plus the Winlogbeat raw document (``record_to_raw``);
  (c) vigil's reader: ``read_events`` over the same files, i.e. (b) plus ``to_ecs`` and the
      ``Event`` objects, which is what ``vigil hunt`` / ``query`` / ``convert`` consume.

It prints records per second of each and the overhead of the mapping on top of the parser,
(c) / (a) - 1; the goal is at most 50 %. Compare ratios, not absolute rates: a busy machine slows
all three alike.

Environment: BENCH_REPEAT (default 5), BENCH_EVTX_PASSES (default 5).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
GOAL = 0.50


def env_int(name: str, default: int) -> int:
    """A positive integer from the environment, with a clear message when it is not one."""
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        sys.exit(f"bench: {name}={raw!r} is not an integer")
    if value < 1:
        sys.exit(f"bench: {name} must be at least 1, got {value}")
    return value


def parser_only(files: list[str], passes: int) -> int:
    """(a): the bare parser and a JSON decode per record."""
    import orjson
    from evtx import PyEvtxParser

    loads = orjson.loads
    count = 0
    for _ in range(passes):
        for path in files:
            for record in PyEvtxParser(path).records_json():
                loads(record["data"])
                count += 1
    return count


def raw_documents(files: list[str], passes: int) -> int:
    """(b): the parser plus the Winlogbeat raw document of each record."""
    from vigil.sources.evtx import evtx_documents

    count = 0
    for _ in range(passes):
        for path in files:
            for _key, _doc in evtx_documents(path, path, print):
                count += 1
    return count


def ecs_events(files: list[str], passes: int) -> int:
    """(c): vigil's reader, ECS events out."""
    from vigil.sources import ReadReport, read_events

    count = 0
    for _ in range(passes):
        report = ReadReport()
        for _event in read_events(files, report=report):
            count += 1
        if report.skipped or report.corrupt:
            sys.exit(
                f"bench: {report.skipped} malformed and {report.corrupt} damaged records: not a clean run"
            )
    return count


def best(
    fn: Callable[[list[str], int], int], files: list[str], passes: int, repeat: int
) -> tuple[float, int]:
    """The best wall-clock time of ``repeat`` runs, and the records each run handled."""
    times = []
    count = 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = fn(files, passes)
        times.append(time.perf_counter() - started)
    return min(times), count


def main() -> int:
    """Run the three timings and print rates and the mapping overhead."""
    if not DATASETS.is_dir():
        print(f"bench: skipped: {DATASETS} is not there (../shared is absent)")
        return 0
    try:
        import evtx  # noqa: F401
    except ImportError:
        print("bench: skipped: the evtx package is not installed (pip install evtx)")
        return 0
    files = sorted(str(p) for p in DATASETS.rglob("*.evtx"))
    if not files:
        print(f"bench: skipped: no .evtx file under {DATASETS}")
        return 0
    repeat = env_int("BENCH_REPEAT", 5)
    passes = env_int("BENCH_EVTX_PASSES", 5)
    size_mb = sum(os.path.getsize(f) for f in files) / 1e6
    print(f"bench evtx: {len(files)} files, {size_mb:.1f} MB, x{passes} passes, best of {repeat}", flush=True)

    ecs_events(files[:1], 1)  # warm-up: imports, the channel mappers
    t_parser, n_parser = best(parser_only, files, passes, repeat)
    t_raw, n_raw = best(raw_documents, files, passes, repeat)
    t_ecs, n_ecs = best(ecs_events, files, passes, repeat)
    if not n_parser == n_raw == n_ecs:
        print(f"bench: record counts differ: parser {n_parser}, raw {n_raw}, ECS {n_ecs}")
        return 1
    print(f"{'evtx parser + orjson.loads':30s}: {t_parser:6.3f} s  {n_parser / t_parser:>9,.0f} records/s")
    print(f"{'+ Winlogbeat raw document':30s}: {t_raw:6.3f} s  {n_raw / t_raw:>9,.0f} records/s")
    print(f"{'+ to_ecs (read_events)':30s}: {t_ecs:6.3f} s  {n_ecs / t_ecs:>9,.0f} events/s")
    overhead = t_ecs / t_parser - 1
    verdict = "met" if overhead <= GOAL else "MISSED"
    print(f"{'mapping overhead on the parser':30s}: {overhead:6.0%}  (goal <= {GOAL:.0%}: {verdict})")
    print(f"{'  of which the raw document':30s}: {t_raw / t_parser - 1:6.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
