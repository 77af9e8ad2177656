#!/usr/bin/env python3
"""Time one `vigil hunt` with 1,000 EQL rules over 1,000,000 events, and its peak memory.

Over the same cached gen_ecs file as bench_query.py (../shared/tools/gen_ecs.py, seed 1):

  (a) `python -c 'for line in f: orjson.loads(line)'`, the floor of any per-line JSON decoder,
      as the baseline measured in the same run;
  (b) `vigil hunt --rules RULES FILE` with the rule set of benchmarks/gen_rules.py
      (BENCH_RULES rules, seed 1: about 80% single-event rules, 20% sequences), as users run it
      (worker processes on every core); it prints events/s, rules x events/s and the ratio to (a).
      Goal: 50,000 events/s or more. (a) and (b) are timed BENCH_REPEAT times (default 3,
      interleaved; each run printed) and the best of each is reported, as bench_query.py and
      bench_store.py report theirs. Its peak memory is sampled in another run, as sampling
      slows the run it samples.
  (c) when VIGIL_RULES_DIR points at a checkout of elastic/detection-rules, the same hunt with
      its EQL rules (``rules/`` and ``rules_building_block/``);
  (c') the hunt of (b) over the columnar event store of the same events (built once by
      bench_store.py), rule filters pushed down to DuckDB;
  (d) memory: the hunt of (b) over BENCH_MEMORY_EVENTS events (default 10,000,000: the seed-1
      file plus gen_ecs files of seeds 2, 3, ... one day later each, generated once into
      .bench-cache/mem/ - about 1.5 GB and a few minutes per million events), sampling the
      resident memory of the hunt and all its worker processes together (PSS: pages the forked
      workers share with the main process count once); goal: under 1 GB.
      BENCH_MEMORY_EVENTS=0 skips it.

Compare ratios, not absolute times: a busy machine slows every side alike.
Environment: BENCH_EVENTS (default 1000000), BENCH_RULES (default 1000), BENCH_REPEAT (default 3),
BENCH_MEMORY_EVENTS,
BENCH_STAGES (comma-separated stages to run, default all: ``hunt`` for (a) and (b), ``store``
for (c'), ``corpus`` for (c), ``memory`` for (d); e.g. BENCH_STAGES=memory runs (d) alone).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_query import CACHE, GENERATOR, ORJSON_LOOP, ROOT, dataset, env_int

GOAL_RATE = 50_000
GOAL_RSS = 1 << 30
MEMORY_CACHE = CACHE / "mem"


def rule_set(count: int) -> Path:
    """The generated rule set of ``count`` rules (cached)."""
    folder = CACHE / f"rules-{count}-seed1"
    if not folder.is_dir():
        partial = CACHE / f"rules-{count}-seed1.partial"
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "gen_rules.py"),
                "--rules",
                str(count),
                "--seed",
                "1",
                "--out",
                str(partial),
            ],
            check=True,
        )
        partial.replace(folder)
    return folder


def _tree_rss(pid: int) -> int:
    """Resident bytes (PSS) of a process and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        total += _memory_of(p)
        todo.extend(children.get(p, ()))
    return total


def _memory_of(pid: int) -> int:
    """Proportional resident bytes (PSS) of one process: pages shared with forked workers count
    once over the tree, not once per process as plain RSS would; RSS where PSS is unavailable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def run(command: list[str], sample_memory: bool = False) -> tuple[float, str, int]:
    """Wall-clock seconds, stderr and (when asked) peak resident bytes of the process tree."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        peak = [0]
        if sample_memory:

            def sample() -> None:
                while proc.poll() is None:
                    peak[0] = max(peak[0], _tree_rss(proc.pid))
                    time.sleep(0.2)

            thread = threading.Thread(target=sample, daemon=True)
            thread.start()
        code = proc.wait()
        elapsed = time.perf_counter() - started
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if code != 0:
        sys.exit(f"bench: {' '.join(command)} failed with exit code {code}:\n{stderr[-3000:]}")
    return elapsed, stderr, peak[0]


def hunt_command(rules: list[Path], data: list[Path], db: Path) -> list[str]:
    """`vigil hunt` as a user runs it, alerts counted but not printed."""
    vigil = Path(sys.executable).with_name("vigil")
    cmd = [str(vigil), "hunt", "--format", "ndjson", "--alert-db", str(db), "--no-progress"]
    for r in rules:
        cmd += ["--rules", str(r)]
    return cmd + [str(d) for d in data]


def _alerts(stderr: str) -> int:
    total = 0
    for line in stderr.splitlines():
        if "run(s)," in line and "alert(s)" in line:
            total += int(line.split(" alert(s)")[0].rsplit(", ", 1)[1].replace(",", ""))
    return total


def memory_files(events: int) -> list[Path]:
    """The seed-1 file plus one million-event file per further seed, a day apart (cached)."""
    first, _ = dataset(1_000_000)
    files = [first]
    MEMORY_CACHE.mkdir(parents=True, exist_ok=True)
    for seed in range(2, (events + 999_999) // 1_000_000 + 1):
        path = MEMORY_CACHE / f"ecs-1000000-seed{seed}.ndjson"
        if not path.exists():
            print(f"bench: generating {path.relative_to(ROOT)} (once) ...", flush=True)
            partial = path.with_suffix(".tmp")
            subprocess.run(
                [
                    sys.executable,
                    str(GENERATOR),
                    "--events",
                    "1000000",
                    "--seed",
                    str(seed),
                    "--start",
                    f"2024-05-{seed:02d}T00:00:00Z",
                    "--span",
                    "24h",
                    "--out",
                    str(partial),
                ],
                check=True,
            )
            partial.replace(path)
        files.append(path)
    return files


STAGES = ("hunt", "store", "corpus", "memory")


def stages() -> set[str]:
    """The stages BENCH_STAGES names (default: all)."""
    raw = os.environ.get("BENCH_STAGES", "")
    chosen = {s.strip() for s in raw.split(",") if s.strip()} if raw.strip() else set(STAGES)
    unknown = chosen - set(STAGES)
    if unknown:
        names = ", ".join(sorted(unknown))
        sys.exit(f"bench: BENCH_STAGES: unknown stage(s) {names} (of {', '.join(STAGES)})")
    return chosen


def main() -> int:
    """Run the benchmark; 0 when it ran (a missed goal is reported, not failed)."""
    if not GENERATOR.exists():
        print(f"bench: skipped: the generator {GENERATOR} is not there (../shared is absent)")
        return 0
    events = env_int("BENCH_EVENTS", 1_000_000)
    count = env_int("BENCH_RULES", 1000)
    memory_events = env_int("BENCH_MEMORY_EVENTS", 10_000_000, minimum=0)
    chosen = stages()
    data, _stats = dataset(events)
    rules = rule_set(count)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "alerts.db"
        if "hunt" in chosen:
            _hunt_stage(rules, data, db, events, count)
        if "store" in chosen:
            _store_stage(rules, data, db, events, count)
        if "corpus" in chosen:
            _corpus_stage(data, db, events)
        if memory_events and "memory" in chosen:
            _memory_stage(rules, db, memory_events)
    return 0


def _hunt_stage(rules: Path, data: Path, db: Path, events: int, count: int) -> None:
    """(a) the orjson baseline and (b) the hunt with the generated rules, best of BENCH_REPEAT
    runs each, interleaved (as the other stages time theirs: a busy machine only ever slows a
    run); every run is printed."""
    repeat = env_int("BENCH_REPEAT", 3)
    print(f"bench corpus: {events:,} events, {count} generated rules", flush=True)
    bases: list[float] = []
    hunts: list[float] = []
    stderr = ""
    for k in range(repeat):
        bases.append(run([sys.executable, "-c", ORJSON_LOOP, str(data)])[0])
        # Timed alone: sampling the memory (each sample reads every process's page tables,
        # ~25 ms) took about a core-second of a 2-core run, so the peak is taken from another run.
        took, err, _ = run(hunt_command([rules], [data], db))
        db.unlink(missing_ok=True)
        if not hunts or took < min(hunts):
            stderr = err
        hunts.append(took)
        print(f"  run {k + 1}: orjson {bases[-1]:6.2f} s   vigil hunt {took:6.2f} s", flush=True)
    base, seconds = min(bases), min(hunts)
    print(
        f"{'orjson.loads per line':34s}: {base:7.2f} s  {events / base:>10,.0f} events/s (best of {repeat})",
        flush=True,
    )
    _sampled, _err, peak = run(hunt_command([rules], [data], db), sample_memory=True)
    db.unlink(missing_ok=True)
    rate = events / seconds
    verdict = "met" if rate >= GOAL_RATE else "not met"
    print(
        f"{'vigil hunt, ' + str(count) + ' rules':34s}: {seconds:7.2f} s  {rate:>10,.0f} events/s  "
        f"(best of {repeat}; slowest {max(hunts):.2f} s)  "
        f"{rate * count:>14,.0f} rules x events/s  {_alerts(stderr):,} alerts  "
        f"peak memory {peak / 2**20:,.0f} MiB (another run, {_sampled:.2f} s while sampled)"
    )
    print(
        f"{'  ratio to orjson.loads per line':34s}: {seconds / base:7.2f}   "
        f"(goal {GOAL_RATE:,} events/s: {verdict})",
        flush=True,
    )


def _store_stage(rules: Path, data: Path, db: Path, events: int, count: int) -> None:
    """(c') the hunt over the columnar event store of the same events."""
    from bench_store import build_store

    store_dir = build_store(data, events)
    seconds, stderr, _ = run([*hunt_command([rules], [], db), "--store", str(store_dir)])
    db.unlink(missing_ok=True)
    rate = events / seconds
    print(
        f"{'vigil hunt --store, ' + str(count) + ' rules':34s}: {seconds:7.2f} s  "
        f"{rate:>10,.0f} events/s  {rate * count:>14,.0f} rules x events/s  {_alerts(stderr):,} alerts",
        flush=True,
    )


def _corpus_stage(data: Path, db: Path, events: int) -> None:
    """(c) the hunt with detection-rules' EQL rules (VIGIL_RULES_DIR)."""
    corpus = os.environ.get("VIGIL_RULES_DIR")
    if not corpus:
        print("bench: VIGIL_RULES_DIR not set: the detection-rules corpus hunt is skipped")
        return
    folders = [Path(corpus) / "rules", Path(corpus) / "rules_building_block"]
    folders = [f for f in folders if f.is_dir()]
    seconds, stderr, _ = run(hunt_command(folders, [data], db))
    db.unlink(missing_ok=True)
    n = sum(1 for line in stderr.splitlines() if line.startswith("  ") and " run(s), " in line)
    rate = events / seconds
    print(
        f"{'vigil hunt, detection-rules EQL':34s}: {seconds:7.2f} s  {rate:>10,.0f} events/s  "
        f"{rate * n:>14,.0f} rules x events/s  ({n} rules, {_alerts(stderr):,} alerts)",
        flush=True,
    )


def _memory_stage(rules: Path, db: Path, memory_events: int) -> None:
    """(d) the peak memory of the hunt over BENCH_MEMORY_EVENTS events."""
    files = memory_files(memory_events)
    total = 1_000_000 * len(files)
    seconds, stderr, peak = run(hunt_command([rules], files, db), sample_memory=True)
    db.unlink(missing_ok=True)
    verdict = "met" if peak < GOAL_RSS else "not met"
    print(
        f"{'memory: hunt over ' + format(total, ',') + ' events':34s}: {seconds:7.1f} s  "
        f"{total / seconds:>10,.0f} events/s  peak memory (PSS) {peak / 2**20:,.0f} MiB "
        f"(all processes; goal < 1,024 MiB: {verdict}), {_alerts(stderr):,} alerts",
        flush=True,
    )
    warnings = [line for line in stderr.splitlines() if "warning:" in line]
    if warnings:
        print(f"  {len(warnings)} warning(s), first: {warnings[0].strip()}")


if __name__ == "__main__":
    sys.exit(main())
