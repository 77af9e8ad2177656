"""Run a generator in a worker process and hand its items over in order, in batches.

The EVTX reader (:mod:`vigil.sources.evtx`) has a big file's records parsed and turned into raw
documents by a worker process while this process maps the documents it has already received to
ECS: the two halves of the work run on two cores. :func:`batches` gives the items of
``function(*args)`` (a generator function, named by module and name so that the worker can
import it) from the worker, in lists, in the order the generator yields them.

The worker is one process started on first use (``python -c``, importing this module, not the
caller's main module: scripts need no ``if __name__ == "__main__"`` guard) and kept for the life
of this process; it runs one generator at a time. When it is busy (two files read at the same
time), cannot start, or dies on the way, the generator runs here instead (after a death, from
the item after the last one received), so the items are the same either way, as long as the
generator is deterministic. An exception the generator raises in the worker is raised here.

Protocol (pickled messages over two pipes): the worker receives ``("run", job, target, args)``
and answers ``(job, items, finished)`` messages, the last one with ``finished`` true;
``("cancel", job)`` stops a job early (it still ends with a finished message); ``None`` or the end
of its input pipe makes it exit.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing, suppress
from typing import Any

# Two cores are not enough, even when the load average shows one free: on 2-vCPU machines the
# reader with its worker measured +294% (sessions 5-6: +363%) over the bare parser against
# +167% (+261%) in one process; what a virtual core shares with its sibling, the handover eats.
MIN_CORES = 3
FIRST_BATCH = 8  # a small first batch gets the reader going early
BATCH = 64
#: When the worker is used: ``auto`` (when a core is free for it, see :func:`_spare_core`),
#: ``always`` or ``never``; ``VIGIL_EVTX_WORKER`` set to ``1`` or ``0`` means always or never.
POLICY = {"0": "never", "1": "always"}.get(os.environ.get("VIGIL_EVTX_WORKER", ""), "auto")
IN_WORKER = False  # true in the worker process

GeneratorFunction = Callable[..., Iterator[Any]]


class Failure:
    """An exception the generator raised in the worker, carried over to be raised here."""

    def __init__(self, exc: BaseException):
        self.exc = exc


def batches(
    function: GeneratorFunction, args: tuple[Any, ...], remote: bool = True
) -> Generator[Iterable[Any], None, None]:
    """The items of ``function(*args)``, in iterables: lists from the worker when ``remote`` and
    the worker is free, else the generator itself, run here."""
    worker = _free_worker() if remote and POLICY != "never" else None
    if worker is None:
        yield function(*args)
        return
    done = 0
    try:
        with closing(worker.run(function, args)) as received:
            for batch in received:
                done += len(batch)
                yield batch
        return
    except _WorkerLost:
        pass
    items = function(*args)  # the worker went away: go on here
    for _ in zip(range(done), items, strict=False):
        pass
    yield items


def _chunked(items: Iterator[Any]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    size = FIRST_BATCH
    try:
        for item in items:
            batch.append(item)
            if len(batch) >= size:
                yield batch
                batch, size = [], BATCH
    except Exception as exc:
        batch.append(Failure(exc))
    yield batch


class _WorkerLost(Exception):
    """The worker process went away."""


class _Worker:
    def __init__(self) -> None:
        import subprocess  # (here: only a reader of big files needs these)
        from multiprocessing.connection import Connection

        import vigil

        theirs_in, mine_out = os.pipe()
        mine_in, theirs_out = os.pipe()
        package_dir = os.path.dirname(os.path.dirname(os.path.abspath(vigil.__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_dir, env.get("PYTHONPATH")) if p)
        code = f"from vigil.ecs.windows.evtx_worker import main; main({theirs_in}, {theirs_out})"
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-P", "-c", code],
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs_in, theirs_out),
                env=env,
            )
        except BaseException:
            for fd in (mine_in, mine_out):
                os.close(fd)
            raise
        finally:
            os.close(theirs_in)
            os.close(theirs_out)
        self.outbox = Connection(mine_out, readable=False)
        self.inbox = Connection(mine_in, writable=False)
        self.owner = os.getpid()
        self.job = 0
        self.unfinished: int | None = None  # a job given up on, whose batches are still coming
        self.busy = False
        self.alive = True
        self.answered = False  # whether it has ever sent anything

    def run(self, function: GeneratorFunction, args: tuple[Any, ...]) -> Generator[list[Any], None, None]:
        """The item lists of one job (raises _WorkerLost when the worker has gone)."""
        finished = False
        try:
            self._settle()
            self.job += 1
            job = self.job
            self.outbox.send(("run", job, f"{function.__module__}:{function.__qualname__}", args))
            recv = self.inbox.recv
            while not finished:
                got, batch, finished = recv()
                self.answered = True
                if got == job and batch:
                    last = batch[-1]
                    if type(last) is Failure:
                        yield batch[:-1]
                        raise last.exc
                    yield batch
        except (EOFError, OSError) as exc:
            self.alive = False
            raise _WorkerLost from exc
        finally:
            if not finished and self.alive:
                self.unfinished = self.job
                try:
                    self.outbox.send(("cancel", self.job))
                except OSError:
                    self.alive = False
            self.busy = False

    def _settle(self) -> None:
        # Read what is left of a job given up on (its last message says it is finished).
        while self.unfinished is not None:
            got, _batch, finished = self.inbox.recv()
            if got == self.unfinished and finished:
                self.unfinished = None

    def close(self) -> None:
        """Ask the worker to exit, and make sure it has."""
        from subprocess import TimeoutExpired

        self.alive = False
        if self.owner != os.getpid():
            return  # a forked copy of this process: the worker is its parent's
        # Our end of its pipe first: a worker blocked sending a job given up on then stops.
        self.inbox.close()
        with suppress(OSError):
            self.outbox.send(None)
        self.outbox.close()
        try:
            self.process.wait(2)
        except TimeoutExpired:
            self.process.kill()
            self.process.wait()


_worker: _Worker | None = None
_lock = threading.Lock()
_failed = False


def _spare_core() -> bool:
    """Whether a core is free for the worker: at least :data:`MIN_CORES` usable, and the load
    average (less this process and its worker) leaves one.

    On a machine whose cores are all busy the worker costs more than it saves: the work it takes
    over still needs a core, and handing its documents over adds about a third to it.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    if cores < MIN_CORES:
        return False
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return True
    ours = 2.0 if _worker is not None and _worker.alive else 1.0
    return load - ours < cores - 1


def _free_worker() -> _Worker | None:
    """The worker process (started if need be) if it is free now, marked busy."""
    global _worker, _failed
    if _failed or (POLICY == "auto" and not _spare_core()):
        return None
    from subprocess import SubprocessError

    with _lock:
        worker = _worker
        if worker is not None and (not worker.alive or worker.owner != os.getpid()):
            if worker.owner == os.getpid():
                worker.close()
                if not worker.answered:
                    _failed = True  # it died before saying anything: it cannot work here
                    _worker = None
                    return None
            worker = _worker = None
        if getattr(sys, "frozen", False) or not sys.executable:
            _failed = True  # no Python interpreter to start (a frozen application)
            return None
        if worker is None:
            try:
                worker = _worker = _Worker()
            except (OSError, ValueError, SubprocessError):
                _failed = True  # no worker in this process, then
                return None
            atexit.register(worker.close)
        if worker.busy:
            return None
        worker.busy = True
        return worker


def shutdown() -> None:
    """Stop the worker process, if there is one (a later :func:`batches` starts a new one)."""
    global _worker
    with _lock:
        if _worker is not None:
            _worker.close()
            _worker = None


def main(inbox_fd: int, outbox_fd: int) -> None:
    """The worker process: run the generators it is sent (see the module docstring)."""
    from multiprocessing.connection import Connection

    global IN_WORKER
    IN_WORKER = True
    inbox = Connection(inbox_fd, writable=False)
    outbox = Connection(outbox_fd, readable=False)
    while True:
        try:
            message = inbox.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        if message[0] != "run":
            continue  # a cancel that came after its job had ended
        _, job, target, args = message
        try:
            module, _, name = target.partition(":")
            function = getattr(importlib.import_module(module), name)
            for batch in _chunked(function(*args)):
                outbox.send((job, batch, False))
                if inbox.poll():
                    message = inbox.recv()
                    if message is None:
                        return
                    if message[0] == "cancel":
                        break
        except (BrokenPipeError, EOFError):  # the reader has gone
            return
        except Exception as exc:
            outbox.send((job, [Failure(exc)], False))
        outbox.send((job, [], True))
