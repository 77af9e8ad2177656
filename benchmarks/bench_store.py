#!/usr/bin/env python3
"""Time the "Direct Outbound SMB Connection" rule over the columnar event store.

The data is the benchmark file of ``bench_query.py`` (``../shared/tools/gen_ecs.py --events
BENCH_EVENTS --seed 1``, cached under ``.bench-cache/``). It is loaded once into a store under
``.bench-cache/store-<events>-seed1/`` (the one-time ingestion rate is printed; a later run reuses
the store). Then, in this process, best of BENCH_REPEAT runs of:

  (a) the rule over the store: push-down in DuckDB, the candidates' documents read back, and the
      exact evaluator (``compiled.execute(store.candidates([compiled]))``);
  (b) ``orjson.loads`` of every line of the NDJSON file (the floor of any per-line JSON reader).

It prints events per second of each (events in the store / wall-clock time), the ratio, and
checks the store's answer against the plain path's (``vigil query``'s reading of the file): the
same sequences, event ids included. The goal is 1,000,000 events/s or more over the store.

Environment: BENCH_EVENTS (default 1000000), BENCH_REPEAT (default 3).
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_query import CACHE, GENERATOR, RULE, SIZE, dataset, env_int

GOAL = 1_000_000  # events per second


def build_store(data: Path, events: int) -> Path:
    """The cached store of the benchmark file (built once, into a temporary name first)."""
    from vigil.sources import ReadReport, read_events
    from vigil.store import StoreError, open_store

    final = CACHE / f"store-{events}-seed1"
    if final.is_dir():
        try:
            info = open_store(final, create=False).info()
            if info.rows == events:
                print(f"bench: reusing the store {final.relative_to(CACHE.parent)} ({info.files} files)")
                return final
        except StoreError:
            pass
        shutil.rmtree(final)
    building = CACHE / f"store-{events}-seed1.building"
    shutil.rmtree(building, ignore_errors=True)
    print(f"bench: loading {events:,} events into {final.relative_to(CACHE.parent)} (once) ...", flush=True)
    started = time.perf_counter()
    report = ReadReport()
    added = open_store(building).append(read_events([str(data)], report=report))
    seconds = time.perf_counter() - started
    building.rename(final)
    size_mb = added.bytes / 1e6
    print(
        f"{'ingestion (one time)':31s}: {seconds:7.2f} s  {added.events / seconds:>11,.0f} events/s"
        f"   ({added.files} files, {len(added.partitions)} partitions, {size_mb:,.0f} MB)",
        flush=True,
    )
    return final


def orjson_pass(data: Path) -> float:
    """Seconds to ``orjson.loads`` every line of the file."""
    import orjson

    loads = orjson.loads
    started = time.perf_counter()
    with open(data, "rb") as fh:
        for line in fh:
            loads(line)
    return time.perf_counter() - started


def store_pass(store_dir: Path, query: str) -> tuple[float, object]:
    """Seconds for the rule over the store (opening it included), and the answer."""
    from vigil.engine import QueryOptions, compile_query
    from vigil.store import open_store

    started = time.perf_counter()
    store = open_store(store_dir, create=False)
    compiled = compile_query(query, options=QueryOptions(size=SIZE))
    result = compiled.execute(store.candidates([compiled]))
    seconds = time.perf_counter() - started
    store.close()
    return seconds, result


def plain_answer(data: Path, query: str) -> object:
    """The plain path's answer, as ``vigil query`` computes it."""
    from vigil.engine import QueryOptions, compile_query
    from vigil.sources import ReadReport, read_events
    from vigil.sources.parallel import execute_parallel

    options = QueryOptions(size=SIZE)
    report = ReadReport()
    result = execute_parallel(query, options, [str(data)], report, workers=min(4, os.cpu_count() or 1))
    if result is None:
        compiled = compile_query(query, options=options)
        result = compiled.execute(read_events([str(data)], report=ReadReport()))
    return result


def _ids(result: object) -> list[list[str | None]]:
    return [[e.id if e is not None else None for e in hit.events] for hit in result.sequences]  # type: ignore[attr-defined]


def main() -> int:
    """Run the benchmark; 0 when it ran and the answers agree (a missed goal is reported)."""
    if not GENERATOR.exists():
        print(f"bench: skipped: the generator {GENERATOR} is not there (../shared is absent)")
        return 0
    events = env_int("BENCH_EVENTS", 1_000_000)
    repeat = env_int("BENCH_REPEAT", 3)
    data, stats = dataset(events)
    store_dir = build_store(data, events)
    query = RULE.read_text(encoding="utf-8")
    print(f"bench: {events:,} events, best of {repeat}", flush=True)
    store_times: list[float] = []
    orjson_times: list[float] = []
    answer: object = None
    gc.collect()
    for run in range(1, repeat + 1):
        seconds, answer = store_pass(store_dir, query)
        store_times.append(seconds)
        base = orjson_pass(data)
        orjson_times.append(base)
        print(f"  run {run}: store {seconds:6.2f} s   orjson {base:6.2f} s", flush=True)
    best_store, best_orjson = min(store_times), min(orjson_times)
    rate = events / best_store
    print(f"{'SMB rule over the store':31s}: {best_store:7.2f} s  {rate:>11,.0f} events/s")
    print(f"{'orjson.loads per line':31s}: {best_orjson:7.2f} s  {events / best_orjson:>11,.0f} events/s")
    ratio = best_store / best_orjson
    faster = best_orjson / best_store
    print(f"{'ratio store / orjson':31s}: {ratio:7.3f}   ({faster:,.1f}x faster than decoding)")
    verdict = "met" if rate >= GOAL else "not met"
    print(f"{'goal':31s}: {GOAL:,} events/s or more: {verdict}")

    plain = plain_answer(data, query)
    same = _ids(plain) == _ids(answer)
    got = len(answer.sequences)  # type: ignore[attr-defined]
    expected = stats.get("expected_sequence_matches")
    print(
        f"{'sequences':31s}: store {got:,}, plain {len(plain.sequences):,}"  # type: ignore[attr-defined]
        f" (generator expects {expected:,}; --size {SIZE:,}): {'same answer' if same else 'MISMATCH'}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
