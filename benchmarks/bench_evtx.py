#!/usr/bin/env python3
"""Time EVTX-to-ECS reading against the bare ``evtx`` parser, in one run.

Over every ``.evtx`` file under ../shared/datasets (read BENCH_EVTX_PASSES times per timing, so
the small files make a measurable amount), best of BENCH_REPEAT timings each:

  (a) the parser alone, in this one process: ``PyEvtxParser(path).records_json()`` (the
      package's default threads) plus ``orjson.loads`` of each record's JSON (what any Python
      consumer of the package pays);
  (b) ``evtx_documents``: the Winlogbeat raw documents (``record_to_raw``);
  (c) vigil's reader as users run it: ``read_events`` over the same files, i.e. (b) plus
      ``to_ecs`` and the ``Event`` objects, which is what ``vigil hunt`` / ``query`` / ``convert``
      consume. By default a file of 256 KiB or more is parsed, and its raw documents built, by a
      worker process while the reader maps them (two processes: see
      :mod:`vigil.ecs.windows.evtx_worker`) *when a core is free for it* (load average), so
      (b) and (c) may use it; the printout says whether they did;
  (d) the same reader kept to one process (``VIGIL_EVTX_WORKER=0``), and
  (e) the same reader always with its worker (``VIGIL_EVTX_WORKER=1``), for comparison.

It prints records per second of each and the overhead of the mapping on top of the parser,
(c) / (a) - 1; the goal is at most 50 %. Compare ratios, not absolute rates: a busy machine slows
all of them, though not alike: (c) needs a second free core to gain from its worker. So it also
prints the CPU time per record of each (the worker's included), which a busy machine disturbs
much less: the work the mapping adds, whatever the cores are doing.

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


def one_process(files: list[str], passes: int) -> int:
    """(d): vigil's reader without its worker process."""
    return with_policy("never", files, passes)


def two_processes(files: list[str], passes: int) -> int:
    """(e): vigil's reader, always with its worker process."""
    return with_policy("always", files, passes)


def with_policy(policy: str, files: list[str], passes: int) -> int:
    from vigil.ecs.windows import evtx_worker

    default = evtx_worker.POLICY
    evtx_worker.POLICY = policy
    try:
        return ecs_events(files, passes)
    finally:
        evtx_worker.POLICY = default


def worker_jobs() -> int:
    """Files the EVTX worker process has been given so far."""
    from vigil.ecs.windows import evtx_worker

    return evtx_worker._worker.job if evtx_worker._worker is not None else 0


def worker_cpu() -> float:
    """CPU seconds the EVTX worker process has used so far (0 when there is none)."""
    from vigil.ecs.windows import evtx_worker

    worker = evtx_worker._worker
    if worker is None:
        return 0.0
    try:
        with open(f"/proc/{worker.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def best(
    fn: Callable[[list[str], int], int], files: list[str], passes: int, repeat: int
) -> tuple[float, float, int]:
    """The best wall-clock time and the least CPU time (this process and the EVTX worker) of
    ``repeat`` runs, and the records each run handled."""
    times, cpus = [], []
    count = 0
    for _ in range(repeat):
        started, cpu, worker = time.perf_counter(), time.process_time(), worker_cpu()
        count = fn(files, passes)
        times.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu + worker_cpu() - worker)
    return min(times), min(cpus), count


def main() -> int:
    """Run the five timings and print rates, CPU times and the mapping overhead."""
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
    two_processes([max(files, key=os.path.getsize)], 1)  # and the worker process (started once)
    runs: dict[str, tuple[float, float, int]] = {}
    used: dict[str, int] = {}
    for label, fn in (
        ("(a) evtx parser + orjson.loads", parser_only),
        ("(b) raw documents", raw_documents),
        ("(c) ECS events (read_events)", ecs_events),
        ("(d) read_events, one process", one_process),
        ("(e) read_events, with worker", two_processes),
    ):
        jobs = worker_jobs()
        runs[label] = best(fn, files, passes, repeat)
        used[label] = worker_jobs() - jobs
    counts = {count for _t, _c, count in runs.values()}
    if len(counts) != 1:
        print(f"bench: record counts differ: {[count for _t, _c, count in runs.values()]}")
        return 1
    for label, (wall, cpu, count) in runs.items():
        note = f"  (worker: {used[label]} files)" if used[label] else ""
        rate = f"{count / wall:>9,.0f} records/s"
        print(f"{label:31s}: {wall:6.3f} s {rate}   CPU {cpu / count * 1e6:5.1f} us/record{note}")
    (t_parser, c_parser, _), (t_raw, _, _), (t_ecs, c_ecs, _), (t_one, c_one, _), (t_two, c_two, _) = (
        runs.values()
    )
    overhead = t_ecs / t_parser - 1
    verdict = "met" if overhead <= GOAL else "MISSED"
    print(f"{'mapping overhead on the parser':31s}: {overhead:6.0%}  (goal <= {GOAL:.0%}: {verdict})")
    print(f"{'  (d) one process, (e) worker':31s}: {t_one / t_parser - 1:6.0%}, {t_two / t_parser - 1:.0%}")
    print(f"{'  of which the raw documents':31s}: {t_raw / t_parser - 1:6.0%}")
    print(
        f"{'  in CPU time (c), (d), (e)':31s}: {c_ecs / c_parser - 1:6.0%}, {c_one / c_parser - 1:.0%}, "
        f"{c_two / c_parser - 1:.0%}  (the worker's CPU time included)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
