"""The service's scheduler: every enabled rule at its ``interval`` over [tick + from, tick + to].

Each rule has its own clock of *ticks*. The first tick of a rule never run before is the moment
the scheduler first sees it enabled; after a run at tick ``t`` the next is ``t + interval``. A run
at tick ``t`` searches the events whose time is in [``from`` resolved at ``t``, ``to`` resolved at
``t``] (Elastic date math), exactly the window ``vigil replay`` gives the same tick, and goes through
the code ``replay`` uses (:func:`vigil.rules.executor.plan_rule`, :func:`vigil.rules.scheduler.run_once`,
:func:`vigil.alerts.build.build_alerts`, :class:`vigil.rules.suppression.Suppressor`), so alerts get
the same ids as ``vigil replay`` gives them.

* **Dedup**: alert ids are Kibana's deterministic hashes of the events and the rule, so an alert
  already in the alert store (raised by an overlapping window, or before a restart) is not raised
  again.
* **max_signals**: at most ``max_signals`` alerts per run, with Kibana's warning when more matched.
* **Run records**: every run is recorded in the alert store (tick, window, start, duration,
  events scanned, hits, alerts, duplicates, warnings, errors, Kibana's execution status).
* **Catch-up**: on start, a rule's clock resumes after its last recorded run; the ticks missed
  while the service was down are run, oldest first, at most ``max_catch_up`` of them per rule
  (default :data:`DEFAULT_MAX_CATCH_UP`, ``settings.extra["max_catch_up_runs"]``): the most
  recent ones. Time no run searched is a *gap*, recorded as a warning of the next run (Kibana's
  wording) and counted in the rule's status.
* **Isolation and timeout**: runs execute in a pool of worker threads; a run that raises is
  recorded as failed, and one that exceeds ``settings.run_timeout_seconds`` is abandoned (the
  scheduler stops waiting for it, records it as failed, stores none of its alerts, and does not
  start that rule again until the abandoned thread has ended). Other rules keep running.

Database access: the workers never touch the alert store (a rule's late-finishing thread cannot
write anything); the scheduler writes from its own thread, through its own SQLite connection to the
alert store's file, because one SQLite connection must not carry two threads' transactions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from vigil.alerts.js import iso_millis
from vigil.alerts.store import AlertStore, RunRecord
from vigil.engine.model import Event
from vigil.rules.datemath import parse_date_math, parse_interval
from vigil.rules.model import Rule
from vigil.rules.scheduler import AlertSink, Collector, RunOutcome, run_once, to_nanos
from vigil.rules.suppression import Suppressor
from vigil.service.state import RuleStatus, ServiceState

log = logging.getLogger(__name__)

DEFAULT_MAX_CATCH_UP = 12
DEFAULT_WORKERS = 4
PACE_EVENTS = 256  # events between two checks of a run's share of the CPU (see Scheduler._paced)
GAP_MARKER = "were not queried between this rule execution and the last execution"


def gap_warning(start: datetime, end: datetime) -> str:
    """Kibana's gap warning for [start, end], which no run searched."""
    ms = int((end - start).total_seconds() * 1000)
    text = (
        f"{ms / 60000:.2f} minutes ({ms}ms) {GAP_MARKER}, so signals may have been missed"
        f" ({iso_millis(start)} to {iso_millis(end)})."
    )
    return text


@dataclass
class _Clock:
    """One rule's schedule: the next tick, how far its successful windows reach, and a run that
    timed out but whose thread is still going."""

    next_tick: datetime | None = None
    covered_until: datetime | None = None
    busy: Future[Any] | None = None
    gaps: list[tuple[datetime, datetime]] = field(default_factory=list)


@dataclass
class _Job:
    """One run to make: a rule at a tick."""

    status: RuleStatus
    rule: Rule
    tick: datetime
    window: tuple[datetime, datetime]
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Result:
    """What a worker hands back: the outcome, when it started, and the stored alerts that
    suppression over a time window wants updated (applied by the scheduler's thread)."""

    outcome: RunOutcome
    started: datetime
    updates: list[dict[str, Any]]


class _DeferredUpdates:
    """Stands in for the alert store in a worker's :class:`Suppressor`: collects the updates so
    that only the scheduler's thread writes, and only for runs that finished in time; looks up
    the alert a suppression window folds into (after a restart) through ``recall``."""

    def __init__(self, recall: Callable[[str, str, datetime], Any] | None = None) -> None:
        self.documents: list[dict[str, Any]] = []
        self._recall = recall

    def update_alert(self, document: dict[str, Any]) -> bool:
        self.documents.append(document)
        return True

    def find_suppressed(self, rule_uuid: str, instance_id: str, since: datetime) -> Any:
        return self._recall(rule_uuid, instance_id, since) if self._recall is not None else None


class Scheduler:
    """Runs the enabled rules of ``state.rules`` over ``state.events`` into ``state.alerts``.

    ``start()``/``stop()`` run :meth:`run_due` on a background thread every
    ``settings.tick_seconds``; tests call :meth:`run_due` with a fake clock instead."""

    def __init__(
        self,
        state: ServiceState,
        *,
        clock: Callable[[], datetime] | None = None,
        max_catch_up: int | None = None,
        workers: int | None = None,
    ):
        self.state = state
        self.clock = clock or (lambda: datetime.now(UTC))
        extra = state.settings.extra
        self.max_catch_up = max(1, int(max_catch_up or extra.get("max_catch_up_runs", DEFAULT_MAX_CATCH_UP)))  # type: ignore[call-overload]
        n_workers = max(1, int(workers or extra.get("scheduler_workers", DEFAULT_WORKERS)))  # type: ignore[call-overload]
        self.workers = n_workers
        self._pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="vigil-rule")
        self._clocks: dict[str, _Clock] = {}
        self._suppressors: dict[str, Suppressor] = {}
        # Each worker thread reads the alert store through a connection of its own (the
        # scheduler's thread is the only writer).
        self._readers = threading.local()
        self._run_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._store: Any = None
        self.last_cycle_at: datetime | None = None
        self.last_error: str | None = None
        self.cycles = 0
        self.running_runs = 0

    # -- lifecycle

    def start(self) -> None:
        """Run due rules every ``settings.tick_seconds`` on a background thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="vigil-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the loop. A run still going is abandoned unrecorded, so its tick is run again
        after the next start (catch-up): nothing is lost, and dedup keeps it from duplicating."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._store is not None and self._store is not self.state.alerts:
            self._store.close()
        self._store = None

    @property
    def running(self) -> bool:
        """Whether the background loop is on."""
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_due(self.clock())
            except Exception as exc:  # the loop must outlive any one bad cycle
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("scheduler cycle failed")
            self._stop.wait(self.state.settings.tick_seconds)

    def health(self) -> dict[str, Any]:
        """The scheduler's state for ``/api/health``."""
        return {
            "state": "running" if self.running else "stopped",
            "last_cycle_at": iso_millis(self.last_cycle_at) if self.last_cycle_at else None,
            "cycles": self.cycles,
            "runs_in_progress": self.running_runs,
            "last_error": self.last_error,
            "max_catch_up_runs": self.max_catch_up,
            "run_timeout_seconds": self.state.settings.run_timeout_seconds,
        }

    def next_run(self, rule_id: str) -> datetime | None:
        """The next tick of a rule, when the scheduler has seen it."""
        clock = self._clocks.get(rule_id)
        return clock.next_tick if clock else None

    def gaps(self, rule_id: str) -> list[tuple[datetime, datetime]]:
        """The gaps found for a rule since the service started."""
        clock = self._clocks.get(rule_id)
        return list(clock.gaps) if clock else []

    # -- the alert store of this thread

    def _alerts(self) -> Any:
        """The scheduler's own connection to the alert store's file (see the module note); the
        shared object itself when it is not a file-backed :class:`AlertStore`."""
        if self._store is None:
            shared = self.state.alerts
            if isinstance(shared, AlertStore):
                self._store = AlertStore.open(shared.path)
            else:
                self._store = shared
        return self._store

    # -- running

    def run_due(self, now: datetime | None = None) -> list[RunOutcome]:
        """Run every due tick of every enabled rule (at most ``max_catch_up`` per rule), waiting
        for each run up to ``settings.run_timeout_seconds``. Returns the outcomes in completion
        order (a timed-out run's outcome carries the error)."""
        now = now or self.clock()
        with self._run_lock:
            outcomes: list[RunOutcome] = []
            queues: dict[str, deque[_Job]] = {}
            enabled = {s.rule.rule_id for s in self.state.rules.enabled()}
            for status in self.state.rules.statuses():
                rule_id = status.rule.rule_id
                if rule_id not in enabled:
                    # A rule enabled again later starts afresh from that moment.
                    self._clocks.pop(rule_id, None)
                    continue
                jobs = self._due(status, now)
                if jobs:
                    queues[rule_id] = jobs
            timeout = float(self.state.settings.run_timeout_seconds)
            pending: dict[Future[_Result], tuple[_Job, float]] = {}

            def submit(rule_id: str) -> None:
                queue = queues.get(rule_id)
                if not queue:
                    return
                job = queue.popleft()
                clock = self._clocks[rule_id]
                clock.next_tick = job.tick + parse_interval(job.rule.interval)
                w_start = job.window[0]
                if clock.covered_until is not None and w_start > clock.covered_until:
                    job.warnings.insert(0, gap_warning(clock.covered_until, w_start))
                    clock.gaps.append((clock.covered_until, w_start))
                future = self._pool.submit(self._execute, job)
                pending[future] = (job, time.monotonic() + timeout)

            for rule_id in list(queues):
                submit(rule_id)
            self.running_runs = len(pending)
            while pending:
                if self._stop.is_set():
                    break  # abandoned unrecorded: their ticks run again after a restart
                nearest = min(deadline for _job, deadline in pending.values())
                done, _ = wait(
                    list(pending),
                    timeout=max(0.0, min(nearest - time.monotonic(), 0.5)),
                    return_when=FIRST_COMPLETED,
                )
                for future in done:
                    job, _deadline = pending.pop(future)
                    outcomes.append(self._finish(job, future.result()))
                    submit(job.rule.rule_id)
                moment = time.monotonic()
                for future, (job, deadline) in list(pending.items()):
                    if deadline <= moment and not future.done():
                        del pending[future]
                        self._clocks[job.rule.rule_id].busy = future
                        queues.pop(job.rule.rule_id, None)
                        outcomes.append(self._finish(job, self._timed_out(job, timeout)))
                self.running_runs = len(pending)
            self.running_runs = 0
            self.cycles += 1
            self.last_cycle_at = now
            return outcomes

    def _due(self, status: RuleStatus, now: datetime) -> deque[_Job]:
        """The runs of one rule due at ``now``: its ticks up to now, the latest
        ``max_catch_up`` of them; older ones are skipped (their time becomes a gap)."""
        rule = status.rule
        clock = self._clocks.get(rule.rule_id)
        if clock is None:
            clock = self._clocks[rule.rule_id] = self._restore(status)
        if clock.busy is not None:
            if not clock.busy.done():
                return deque()  # a timed-out run of this rule is still going: never two at once
            clock.busy = None
        if clock.next_tick is None:
            clock.next_tick = now.replace(microsecond=0)  # whole seconds: tidier ticks and ids of runs
        if clock.next_tick > now:
            return deque()
        interval = parse_interval(rule.interval)
        count = (now - clock.next_tick) // interval + 1
        skipped = max(0, count - self.max_catch_up)
        first = clock.next_tick + skipped * interval
        look_back, look_to = parse_date_math(rule.from_), parse_date_math(rule.to)
        jobs: deque[_Job] = deque()
        for k in range(count - skipped):
            tick = first + k * interval
            jobs.append(_Job(status, rule, tick, (look_back.resolve(tick), look_to.resolve(tick))))
        if skipped and jobs:
            jobs[0].warnings.append(
                f"{skipped} scheduled run(s) from {iso_millis(clock.next_tick)} were skipped:"
                f" catch-up runs at most the latest {self.max_catch_up}."
            )
        return jobs

    def _restore(self, status: RuleStatus) -> _Clock:
        """A rule's clock and totals from its recorded runs (after a restart)."""
        rule_id = status.rule.rule_id
        try:
            runs = [r for r in self._alerts().list_runs(rule_id) if r.rule_id == rule_id]
        except Exception as exc:  # an unreadable store: start the rule afresh, say why
            self.last_error = f"cannot read the runs of {rule_id}: {exc}"
            return _Clock()
        if not runs:
            return _Clock()
        last = runs[0]  # newest first
        covered = next((r.window_end for r in runs if not r.errors and r.window_end), None)
        status.last_run_at = last.tick
        status.last_duration = last.duration_seconds
        status.last_alerts = last.alerts_created
        status.last_error = last.errors[0] if last.errors else None
        status.total_runs = len(runs)
        status.total_alerts = sum(r.alerts_created for r in runs)
        status.gaps = sum(1 for r in runs for w in r.warnings if GAP_MARKER in w)
        return _Clock(next_tick=last.tick + parse_interval(status.rule.interval), covered_until=covered)

    def _suppressor(self, rule_id: str) -> Suppressor:
        found = self._suppressors.get(rule_id)
        if found is None:
            found = self._suppressors[rule_id] = Suppressor(None)
        return found

    def _recall(self, rule_uuid: str, instance_id: str, since: datetime) -> Any:
        """:meth:`AlertStore.find_suppressed`, on this worker thread's own read connection."""
        store = getattr(self._readers, "store", None)
        if store is None:
            path = getattr(self.state.alerts, "path", None)
            if path is None:
                return None
            store = self._readers.store = AlertStore.open(path, create=False)
        return store.find_suppressed(rule_uuid, instance_id, since)

    def _execute(self, job: _Job) -> _Result:
        """One run, on a worker thread: read the window's events, run the query, build alerts.
        Touches no database (see the module note)."""
        from vigil.alerts.build import build_alerts
        from vigil.rules.executor import plan_rule

        started = datetime.now(UTC)
        t0 = time.perf_counter()
        cpu0 = time.thread_time()
        rule = job.rule
        updates = _DeferredUpdates(self._recall)
        scanned = 0
        try:
            # The plan keeps the parts of the events it is given: a fresh one per run.
            plan = plan_rule(
                rule, size=rule.max_signals + 1, exception_items=self.state.rules.exception_items
            )
            lo = hi = None
            if not rule.timestamp_override:
                # The log can bound @timestamp; a rule placing events by another field cannot.
                lo, hi = to_nanos(job.window[0]), to_nanos(job.window[1])
            events = self.state.events.candidates([(plan.compiled, plan.sees_index)], start=lo, end=hi)
            scanned = Collector([plan], use_ruleset=False).collect(self._paced(events, cpu0)).events
            suppressor = self._suppressor(rule.rule_id)
            suppressor.store = updates
            outcome = run_once(
                plan,
                tick=job.tick,
                window=job.window,
                limit=rule.max_signals,
                sink=AlertSink(None),  # dedup against the store happens in _finish
                build=build_alerts,
                suppress=suppressor,
            )
        except Exception as exc:  # reading the events failed: a failed run, not a dead scheduler
            outcome = RunOutcome(
                rule.rule_id, rule.name, job.tick, job.window[0], job.window[1], 0, 0, 0, 0, 0.0
            )
            outcome.errors.append(f"{type(exc).__name__}: {exc}")
        outcome.events_scanned = scanned
        outcome.seconds = time.perf_counter() - t0
        return _Result(outcome, started, updates.documents)

    def _paced(self, events: Iterable[Event], since: float | None = None) -> Iterator[Event]:
        """``events``, with pauses while ingest is busy: every :data:`PACE_EVENTS` events and at
        the end, the run sleeps so that its CPU time (from ``since``, a ``time.thread_time()``
        taken when the run began: planning and the store's SQL count too) stays within its part of
        ``rule_share_under_load`` (shared by the workers). Rules and ingest share one interpreter
        lock: without the pauses, runs over large windows would take most of it, and ingest would
        slow down to a crawl. A run pauses for at most a quarter of ``run_timeout_seconds`` in all,
        so pacing never makes it time out."""
        share = float(self.state.settings.rule_share_under_load) / self.workers
        busy = getattr(self.state.events, "ingesting", None)
        if share >= 1 or busy is None:
            yield from events
            return
        pause = (1 - share) / share
        budget = float(self.state.settings.run_timeout_seconds) / 4
        mark = time.thread_time() if since is None else since

        def rest() -> None:
            nonlocal budget, mark
            if budget > 0 and busy():
                wait = min((time.thread_time() - mark) * pause, 1.0, budget)
                budget -= wait
                self._stop.wait(wait)
            mark = time.thread_time()

        for n, ev in enumerate(events, 1):
            yield ev
            if n % PACE_EVENTS == 0:
                rest()
        rest()

    def _timed_out(self, job: _Job, timeout: float) -> _Result:
        outcome = RunOutcome(
            job.rule.rule_id, job.rule.name, job.tick, job.window[0], job.window[1], 0, 0, 0, 0, timeout
        )
        outcome.errors.append(
            f"the run did not finish within {timeout:g}s (run_timeout_seconds) and was abandoned;"
            " no alerts were stored for it"
        )
        return _Result(outcome, datetime.now(UTC) - timedelta(seconds=timeout), [])

    def _finish(self, job: _Job, result: _Result) -> RunOutcome:
        """Store a run's new alerts and its record; update the rule's status and clock."""
        outcome = result.outcome
        outcome.warnings[:0] = job.warnings
        store = self._alerts()
        clock = self._clocks[job.rule.rule_id]
        try:
            if outcome.groups:
                known = store.known_ids([g.primary_id for g in outcome.groups])
                fresh = [g for g in outcome.groups if g.primary_id not in known]
                created, _dups = store.add_alerts(fresh)
                outcome.duplicates += len(outcome.groups) - created
                outcome.groups, outcome.alerts_created = fresh, created
            for document in result.updates:
                store.update_alert(document)
            store.record_run(
                RunRecord(
                    rule_id=outcome.rule_id,
                    rule_name=outcome.rule_name,
                    tick=outcome.tick,
                    window_start=outcome.window_start,
                    window_end=outcome.window_end,
                    started=result.started,
                    duration_seconds=outcome.seconds,
                    events_scanned=outcome.events_scanned,
                    hits=outcome.hits,
                    alerts_created=outcome.alerts_created,
                    duplicates=outcome.duplicates,
                    warnings=tuple(outcome.warnings),
                    errors=tuple(outcome.errors),
                )
            )
        except Exception as exc:  # the store failed: say so; the tick is run again after a restart
            outcome.errors.append(f"cannot store the run: {type(exc).__name__}: {exc}")
            self.last_error = outcome.errors[-1]
            log.error("rule %s: %s", job.rule.rule_id, outcome.errors[-1])
        if not outcome.errors:
            w_end = job.window[1]
            clock.covered_until = w_end if clock.covered_until is None else max(clock.covered_until, w_end)
        status = job.status
        status.last_run_at = job.tick
        status.last_duration = outcome.seconds
        status.last_alerts = outcome.alerts_created
        status.last_error = outcome.errors[0] if outcome.errors else None
        status.total_runs += 1
        status.total_alerts += outcome.alerts_created
        status.gaps += sum(1 for w in outcome.warnings if GAP_MARKER in w)
        return outcome
