#!/usr/bin/env python3
"""Load test of ``vigil serve`` on loopback: sustained ingest with 100 rules enabled.

``vigil serve`` runs as a child process (temporary data directory, a free port) with the 100
rules of ``benchmarks/gen_rules.py --rules 100 --seed 1``. One or two sender processes send the
first BENCH_SERVICE_EVENTS events of the cached gen_ecs file (``.bench-cache/ecs-1000000-seed1
.ndjson``, made by ``../shared/tools/gen_ecs.py`` as for bench_query.py) with the official
``elasticsearch`` client's ``bulk`` (raw NDJSON bodies, as a shipper sends them), retrying only
a 429 (the service's back-off signal) after half a second,
BENCH_SERVICE_BULK documents per request, until the events are sent or BENCH_SERVICE_SECONDS
have passed.

Timestamps: the events keep their order and relative spacing, squeezed into the minute before
the run starts, so every rule's window (``from`` is 6 minutes or more) sees them while the run
lasts. Intervals: by default two load tests, each with a fresh service: one with the rules at
their own intervals (mostly 5m: each rule runs once, at start, over no events, as a deployment's
rules would during a short burst), then one with every rule run every 10s, so that the scheduler
works over the growing data while the events come in (a harsher load than rules on their own
schedules put on a service). BENCH_SERVICE_INTERVAL (``rule`` or an interval such as ``10s``)
runs one of them.

It prints the sustained rate (acknowledged events / wall-clock time from the first request to
the last answer), the p50/p99/max bulk latency, the errors, then checks that nothing was lost:
acknowledged events == events the service holds (``/api/health``: stored + still in the
write-ahead log), and again after a graceful stop (which flushes the log) from the store's
manifest. It lists the scheduler's runs meanwhile (``/api/runs``), the CPU time the service used
(its flush process included; a figure that depends less on other load than the rate does), the
steady-state rate that CPU time allows (cores / CPU per stored event: how fast events can arrive
for ever if each must also be stored, the write-ahead log absorbing nothing; the CPU the service
spent starting, read from ``/proc`` when the load starts, is left out of it), and the verdict
against the goal: 20,000 events/s sustained on 2 cores with no loss, met when both the
acknowledged rate and the steady state reach it. A verdict, never a failure: this is a benchmark;
a busy machine slows it.

Environment: BENCH_SERVICE_EVENTS (default 300000), BENCH_SERVICE_SECONDS (cap, default 120),
BENCH_SERVICE_BULK (documents per request, default 2000), BENCH_SERVICE_SENDERS (1 or 2, default
2), BENCH_SERVICE_INTERVAL (default: both tests; ``rule`` or an interval: that one).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any, cast

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_query import GENERATOR, ROOT, dataset, env_int

GOAL = 20_000  # events per second, sustained, on 2 cores, with no loss
RULES = 100
TOKEN = "bench-service-token-4f0c2a9e"
STARTUP_SECONDS = 120.0  # a readiness deadline: generous, 100 rules are parsed at start
STOP_SECONDS = 300.0  # a graceful stop flushes the write-ahead log into the store
TS_PREFIX = b'{"@timestamp":"'
TS_END = len(TS_PREFIX) + len("2024-05-01T00:00:00.000Z")

# The bodies to send, built before the timed part and inherited by the forked senders (so they
# are neither pickled nor built twice).
_BODIES: list[tuple[bytes, int]] = []


def process_cpus(pid: int) -> dict[int, float] | None:
    """User+system CPU seconds used so far by process ``pid`` and each of its descendants, by
    process id (Linux ``/proc``; None elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    out: dict[int, float] = {}
    todo = [pid]
    try:
        while todo:
            p = todo.pop()
            if p in out:
                continue
            stat = Path(f"/proc/{p}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            out[p] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
    except (OSError, ValueError):
        return None
    return out


def tree_cpu(pid: int) -> float | None:
    """User+system CPU seconds used so far by process ``pid`` and its descendants: read when the
    load starts, to leave the start-up out of the steady-state figure."""
    cpus = process_cpus(pid)
    return None if cpus is None else sum(cpus.values())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def index_of(doc: dict[str, Any]) -> str:
    """The data stream the shipper of this event writes to (what the rules' patterns expect)."""
    event = doc.get("event") or {}
    module = event.get("module")
    if module == "endpoint":
        categories = event.get("category") or ["process"]
        return f"logs-endpoint.events.{categories[0]}-default"
    if module == "sysmon":
        return "logs-windows.sysmon_operational-default"
    return "logs-system.security-default"


def iso_ms(nanos: int) -> bytes:
    moment = datetime.fromtimestamp(nanos / 1e9, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.").encode() + f"{moment.microsecond // 1000:03d}Z".encode()


def prepare(data: Path, count: int, bulk: int, end: datetime) -> int:
    """Read the first ``count`` events, move their times into the minute before ``end`` (order
    and relative spacing kept), and build ``_bulk`` bodies of ``bulk`` documents into
    :data:`_BODIES` (replacing earlier ones). Returns the number of events prepared."""
    _BODIES.clear()
    lines: list[bytes] = []
    indices: list[bytes] = []
    times: list[int] = []
    with open(data, "rb") as fh:
        for line in fh:
            if len(lines) >= count:
                break
            doc = orjson.loads(line)
            moment = datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00"))
            times.append(int(moment.timestamp() * 1e9))
            indices.append(orjson.dumps({"index": {"_index": index_of(doc)}}))
            lines.append(line.rstrip(b"\n"))
    if not lines:
        return 0
    first, last = min(times), max(times)
    span = max(1, last - first)
    target_end = int(end.timestamp() * 1e9)
    target_span = 60 * 10**9
    body: list[bytes] = []
    in_body = 0
    for line, action, ts in zip(lines, indices, times, strict=True):
        new_ts = iso_ms(target_end - target_span + (ts - first) * target_span // span)
        if line.startswith(TS_PREFIX) and line[TS_END : TS_END + 1] == b'"':
            line = TS_PREFIX + new_ts + line[TS_END:]  # gen_ecs writes @timestamp first: no re-encoding
        else:
            doc = orjson.loads(line)
            doc["@timestamp"] = new_ts.decode()
            line = orjson.dumps(doc)
        body += (action, b"\n", line, b"\n")
        in_body += 1
        if in_body == bulk:
            _BODIES.append((b"".join(body), in_body))
            body, in_body = [], 0
    if in_body:
        _BODIES.append((b"".join(body), in_body))
    return len(lines)


def sender(k: int, senders: int, base: str, go: MpEvent, deadline_in: float, out: Any) -> None:
    """Send bodies k, k+senders, ... until done or the deadline; report what was acknowledged."""
    from elasticsearch import ApiError, Elasticsearch

    es = Elasticsearch(base, api_key=TOKEN, request_timeout=300)
    acknowledged = failed_items = failed_requests = throttled = 0
    latencies: list[float] = []
    starts: list[float] = []  # monotonic start of each request (one clock for every process)
    reasons: Counter[str] = Counter()
    go.wait()
    deadline = time.monotonic() + deadline_in
    for body, n in _BODIES[k::senders]:
        if time.monotonic() > deadline:
            break
        started = time.monotonic()
        starts.append(started)
        try:
            while True:
                try:
                    # Raw NDJSON bytes, as a shipper sends them: the client's serializer passes
                    # bytes through.
                    resp = es.bulk(operations=cast(Any, body))
                    break
                except ApiError as exc:
                    # 429: the service asks to back off (too many events wait for its store);
                    # shippers retry after a pause, and so does this sender, within the deadline.
                    if exc.meta.status != 429 or time.monotonic() > deadline:
                        raise
                    throttled += 1
                    time.sleep(0.5)
        except Exception as exc:  # a failed request: none of its documents counts as acknowledged
            failed_requests += 1
            reasons[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
            latencies.append(time.monotonic() - started)
            continue
        latencies.append(time.monotonic() - started)
        items = resp["items"]
        ok = sum(1 for item in items if 200 <= next(iter(item.values()))["status"] < 300)
        acknowledged += ok
        if ok != n:
            failed_items += n - ok
            for item in items:
                result = next(iter(item.values()))
                if not 200 <= result["status"] < 300:
                    reasons[str(result.get("error", {}).get("type", result["status"]))] += 1
    out.put(
        {
            "acknowledged": acknowledged,
            "failed_items": failed_items,
            "failed_requests": failed_requests,
            "throttled": throttled,
            "latencies": latencies,
            "starts": starts,
            "reasons": dict(reasons),
            "ended": time.monotonic(),
        }
    )


def api(base: str, path: str, **params: Any) -> Any:
    import httpx

    resp = httpx.get(f"{base}{path}", params=params, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    resp.raise_for_status()
    return resp.json()


def wait_ready(proc: subprocess.Popen[bytes], base: str, log_path: Path) -> bool:
    import httpx

    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"bench: vigil serve exited ({proc.returncode}):\n{log_path.read_text(errors='replace')}")
            return False
        try:
            if httpx.get(f"{base}/api/health", timeout=5).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    print(f"bench: vigil serve did not answer within {STARTUP_SECONDS:g}s")
    return False


def write_rules(out: Path, interval: str) -> None:
    """The first 100 generated rules, with their interval replaced (unless ``rule``)."""
    generator = str(Path(__file__).with_name("gen_rules.py"))
    done = subprocess.run(
        [sys.executable, generator, "--rules", str(RULES), "--seed", "1", "--out", str(out)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"bench: gen_rules.py failed:\n{done.stderr.decode(errors='replace')}")
    files = sorted(out.glob("*.toml"))
    for extra in files[RULES:]:
        extra.unlink()
    if interval != "rule":
        for path in files[:RULES]:
            text = path.read_text(encoding="utf-8")
            path.write_text(
                re.sub(r'(?m)^interval = ".*"$', f'interval = "{interval}"', text), encoding="utf-8"
            )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def held(base: str) -> tuple[int, dict[str, Any]]:
    """Events the service holds (stored + in the write-ahead log), and its health."""
    health = api(base, "/api/health")
    events = health["events"]
    return int(events["stored_events"]) + int(events["unflushed_events"]), health


def main() -> int:
    """Run the load test; 0 when it ran (a missed goal is reported, not failed)."""
    data_file = ROOT / ".bench-cache" / "ecs-1000000-seed1.ndjson"
    if not data_file.exists() and not GENERATOR.exists():
        print(f"bench: service load test skipped: no {data_file} and no generator {GENERATOR}")
        return 0
    try:
        import elasticsearch  # noqa: F401
    except ImportError:
        print("bench: service load test skipped: the elasticsearch client is not installed")
        return 0
    events = env_int("BENCH_SERVICE_EVENTS", 300_000)
    seconds = env_int("BENCH_SERVICE_SECONDS", 120)
    bulk = env_int("BENCH_SERVICE_BULK", 2_000)
    senders = min(2, env_int("BENCH_SERVICE_SENDERS", 2))
    chosen = os.environ.get("BENCH_SERVICE_INTERVAL", "")
    intervals = [chosen] if chosen else ["rule", "10s"]
    data, _stats = dataset(max(1_000_000, events))
    status = 0
    for interval in intervals:
        status |= scenario(data, events, seconds, bulk, senders, interval)
    return status


def scenario(data: Path, events: int, seconds: int, bulk: int, senders: int, interval: str) -> int:
    """One load test: a fresh service with the rules at ``interval`` (``rule``: their own)."""
    with tempfile.TemporaryDirectory(prefix="vigil-bench-service-") as tmp:
        tmp_dir = Path(tmp)
        write_rules(tmp_dir / "rules", interval)
        started_prep = time.perf_counter()
        prepared = prepare(data, events, bulk, datetime.now(UTC))
        prep = time.perf_counter() - started_prep
        shown = "their own intervals, mostly 5m" if interval == "rule" else f"interval {interval}"
        print(
            f"bench: vigil serve, {RULES} rules (gen_rules seed 1, {shown}),"
            f" {prepared:,} events of {data.name} in {len(_BODIES)} bulks of {bulk:,},"
            f" {senders} sender(s), cap {seconds} s, {os.cpu_count()} cores (prepared in {prep:.1f} s)",
            flush=True,
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log_path = tmp_dir / "serve.log"
        env = {**os.environ, "VIGIL_API_TOKEN": TOKEN}
        command = [sys.executable, "-m", "vigil.cli", "serve", "--data-dir", str(tmp_dir / "data")]
        command += ["--rules", str(tmp_dir / "rules"), "--port", str(port), "--log-level", "warning"]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                command,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        try:
            if not wait_ready(proc, base, log_path):
                return 1
            rules = api(base, "/api/health")["rules"]
            print(
                f"  rules: {rules['loaded']} loaded, {rules['enabled']} enabled,"
                f" {rules['unsupported']} unsupported",
                flush=True,
            )
            return run(proc, base, log_path, senders, seconds, prepared)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def run(
    proc: subprocess.Popen[bytes], base: str, log_path: Path, senders: int, seconds: int, prepared: int
) -> int:
    """The timed part, the loss check and the report."""
    ctx = mp.get_context("fork")  # the senders inherit the prepared bodies
    go = ctx.Event()
    out = ctx.Queue()
    workers = [
        ctx.Process(target=sender, args=(k, senders, base, go, float(seconds), out)) for k in range(senders)
    ]
    for w in workers:
        w.start()
    startup_cpus = process_cpus(proc.pid)  # start-up (imports, rules, flush process), not the load's
    startup_cpu = None if startup_cpus is None else sum(startup_cpus.values())
    run_start_wall = datetime.now(UTC)
    t0 = time.monotonic()
    go.set()
    results: list[dict[str, Any]] = []
    next_report = t0 + 5
    while len(results) < senders:
        try:
            results.append(out.get(timeout=1.0))
        except Exception:  # queue.Empty: report progress now and then
            if time.monotonic() >= next_report:
                next_report += 5
                try:
                    count, _health = held(base)
                    print(f"  ... {time.monotonic() - t0:5.1f} s: {count:,} events held", flush=True)
                except Exception as exc:
                    print(f"  ... health unavailable: {exc}", flush=True)
            if not any(w.is_alive() for w in workers) and out.empty():
                break
    for w in workers:
        w.join()
    wall = max((r["ended"] for r in results), default=t0) - t0
    acknowledged = sum(r["acknowledged"] for r in results)
    latencies = [x for r in results for x in r["latencies"]]
    failed_items = sum(r["failed_items"] for r in results)
    failed_requests = sum(r["failed_requests"] for r in results)
    reasons: Counter[str] = Counter()
    for r in results:
        reasons.update(r["reasons"])
    rate = acknowledged / wall if wall > 0 else 0.0

    print(f"  acknowledged     : {acknowledged:,} of {prepared:,} events in {wall:.2f} s")
    print(f"  sustained        : {rate:,.0f} events/s")
    print(
        f"  bulk latency     : p50 {percentile(latencies, 0.50) * 1000:,.0f} ms"
        f"   p99 {percentile(latencies, 0.99) * 1000:,.0f} ms"
        f"   max {max(latencies, default=0.0) * 1000:,.0f} ms   ({len(latencies)} requests)"
    )
    slowest = sorted(
        ((lat, start - t0) for r in results for lat, start in zip(r["latencies"], r["starts"], strict=True)),
        reverse=True,
    )[:3]
    print(
        "                     slowest: "
        + ", ".join(f"{lat * 1000:,.0f} ms sent at {at:.1f} s" for lat, at in slowest)
    )
    throttled = sum(r["throttled"] for r in results)
    print(
        f"  errors           : {failed_requests} failed requests, {failed_items} failed items"
        f" ({throttled} answers 429, retried after 0.5 s)"
    )
    for reason, n in reasons.most_common(5):
        print(f"                     {n} x {reason}")

    load_cpus = process_cpus(proc.pid)  # where the load's CPU went, before the graceful stop
    held_now, health = held(base)
    since = run_start_wall - timedelta(seconds=1)
    runs = [
        r
        for r in api(base, "/api/runs", limit=10_000)["runs"]
        if datetime.fromisoformat(r["started"].replace("Z", "+00:00")) >= since
    ]
    statuses = Counter(r["status"] for r in runs)
    durations = [float(r["duration_seconds"]) for r in runs]
    scanned = [int(r["events_scanned"]) for r in runs]
    ev = health["events"]
    print(
        f"  held by service  : {held_now:,} (/api/health: {ev['stored_events']:,} stored,"
        f" {ev['unflushed_events']:,} still in the write-ahead log, {ev['wal_segments']} segments)"
    )
    flush_s = float(ev.get("flush_seconds_since_start") or 0.0)
    if flush_s > 0:
        moved = int(ev["flushed_since_start"])
        print(
            f"  flush            : {moved:,} events moved into the store in {flush_s:.1f} s of"
            f" flushing ({moved / flush_s:,.0f} events/s while flushing)"
        )
    print(
        f"  scheduler        : {len(runs)} runs of {len({r['rule_id'] for r in runs})} rules during the load"
        f" ({', '.join(f'{n} {s}' for s, n in statuses.items()) or 'none'});"
        f" alerts created {sum(int(r['alerts_created']) for r in runs):,};"
        f" run duration p50 {percentile(durations, 0.5):.2f} s, max {max(durations, default=0.0):.2f} s;"
        f" events scanned max {max(scanned, default=0):,}"
    )
    sched = health["scheduler"]
    print(f"                     cycles {sched['cycles']}, last error {sched['last_error']}")
    errors = Counter(e for r in runs for e in r["errors"])
    for error, n in errors.most_common(3):
        print(f"                     {n} x {error[:160]}")

    # Graceful stop: the log is flushed into the store; count the store's rows from its manifest.
    stop_started = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # the senders, reaped above
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        print(f"bench: vigil serve did not stop within {STOP_SECONDS:g}s; killed")
        proc.kill()
        proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # + the service and its flush process
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    load_cpu = cpu - startup_cpu if startup_cpu is not None else cpu
    from vigil.store.manifest import read_manifest

    if startup_cpus is not None and load_cpus is not None:
        own = load_cpus.get(proc.pid, 0.0) - startup_cpus.get(proc.pid, 0.0)
        others = sum(v - startup_cpus.get(p, 0.0) for p, v in load_cpus.items() if p != proc.pid)
        print(
            f"  CPU of the load  : {own:,.1f} s in the service's process, {others:,.1f} s in its children"
            f" (the flush process), until the stop (the final flush is not in these)"
        )

    data_dir = Path(log_path).parent / "data"
    manifest = read_manifest(data_dir / "events" / "store")
    stored = sum(f.rows for f in manifest.files) if manifest else 0
    wal_left = sum(1 for _ in (data_dir / "events" / "wal").glob("*.wal") if _.stat().st_size > 0)
    print(
        f"  after stop       : {stored:,} events in the store"
        f" ({time.monotonic() - stop_started:.1f} s to stop,"
        f" {wal_left} non-empty WAL segments left, exit code {proc.returncode})"
    )
    print(
        f"  service CPU      : {cpu:,.1f} s user+sys over the whole run, flush process and final"
        f" flush included ({cpu / max(1, stored) * 1e6:,.0f} us per stored event); start-up"
        f" {'unknown' if startup_cpu is None else f'{startup_cpu:,.1f} s'} of it"
    )
    if "Traceback" in log_path.read_text(errors="replace"):
        print("  the service logged a traceback:")
        print(log_path.read_text(errors="replace")[-3000:])

    no_loss = held_now == acknowledged and stored == acknowledged and failed_items == 0
    complete = acknowledged == prepared
    verdict = "yes" if no_loss else "NO"
    print(f"  no loss          : {verdict} (acknowledged {acknowledged:,}, held {held_now:,},")
    print(f"                     stored after stop {stored:,}, failed items {failed_items})")
    cores = os.cpu_count() or 1
    # The acknowledged rate holds while the write-ahead log absorbs what the flush has not stored
    # yet; a load that never ends can go only as fast as the cores can also store it.
    steady = cores / (load_cpu / stored) if stored and load_cpu > 0 else 0.0
    print(
        f"  steady state     : {steady:,.0f} events/s acknowledged and stored indefinitely"
        f" ({cores} cores / CPU per stored event, start-up excluded:"
        f" {load_cpu / max(1, stored) * 1e6:,.0f} us per event)"
    )
    met = rate >= GOAL and steady >= GOAL and no_loss and failed_requests == 0
    print(
        f"  goal             : {GOAL:,} events/s sustained on 2 cores with no loss:"
        f" {'met' if met else 'not met'} (acknowledged {rate / GOAL:.2f}x, steady state"
        f" {steady / GOAL:.2f}x of the goal on {cores} cores"
        f"{'' if complete else f'; stopped at the {seconds} s cap'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
