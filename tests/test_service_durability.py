"""Durability of the service's event log: acknowledged events survive SIGKILL, exactly once.

* ``vigil serve`` as a child process, fed by the official client's ``streaming_bulk``, killed with
  SIGKILL mid-stream: after a restart every acknowledged event is there exactly once.
* A torn last WAL record (a write cut by a crash) is dropped cleanly.
* A crash between the store commit and the deletion of the flushed segments does not duplicate.
* ``candidates`` sees logged and flushed events alike, in ingestion order, with stable ids.
* Retention drops old store files.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from vigil.engine import QueryOptions, compile_query
from vigil.service.eventlog import EventLog

elasticsearch = pytest.importorskip("elasticsearch")
from elasticsearch import Elasticsearch, helpers  # noqa: E402

TOKEN = "durability-token-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VIGIL_API_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil.cli", "serve", "--data-dir", str(data_dir), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while True:  # readiness poll (not a timing assertion)
        if proc.poll() is not None:
            raise RuntimeError(f"vigil serve exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/").status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("vigil serve did not start")
        time.sleep(0.1)


def _doc(i: int) -> dict[str, Any]:
    return {
        "@timestamp": f"2024-05-14T08:{i % 60:02d}:{i % 59:02d}Z",
        "event": {"category": ["network"], "kind": "event"},
        "destination": {"port": 445, "ip": "10.0.0.1"},
        "n": i,
    }


def _all_ids(data_dir: Path) -> list[str]:
    log = EventLog(data_dir / "events")
    try:
        return [e.id for e in log.events()]
    finally:
        log.close()


def test_sigkill_mid_stream_loses_no_acknowledged_event(tmp_path: Path) -> None:
    port = _free_port()
    proc = _serve(tmp_path, port)
    acknowledged: list[str] = []
    try:
        es = Elasticsearch(f"http://127.0.0.1:{port}", api_key=TOKEN, request_timeout=30)
        actions = (
            {"_index": "logs-net-default", "_id": f"ev-{i}", "_source": _doc(i)} for i in range(200_000)
        )
        with pytest.raises(elasticsearch.ConnectionError):  # the kill ends the stream
            for ok, item in helpers.streaming_bulk(es, actions, chunk_size=250, max_retries=0):
                assert ok
                acknowledged.append(item["index"]["_id"])
                if len(acknowledged) == 3_000:
                    proc.send_signal(signal.SIGKILL)  # in the middle of the stream, unflushed or not
    finally:
        proc.kill()
        proc.wait()
    assert len(acknowledged) >= 3_000
    # Restart the service: it recovers the log; then read what it holds.
    proc = _serve(tmp_path, port)
    try:
        es = Elasticsearch(f"http://127.0.0.1:{port}", api_key=TOKEN)
        after = [{"_index": "logs-net-default", "_id": "after", "_source": _doc(1)}]
        assert helpers.bulk(es, after) == (1, [])
    finally:
        proc.send_signal(signal.SIGTERM)  # graceful: flushes the log
        proc.wait(timeout=60)
    ids = _all_ids(tmp_path)
    counts = Counter(ids)
    assert [i for i, n in counts.items() if n > 1] == []  # nothing twice
    assert set(acknowledged) <= set(ids)  # nothing acknowledged lost
    assert "after" in ids
    assert list((tmp_path / "events" / "wal").glob("*.wal")) != []  # a fresh segment, empty
    assert sum(1 for _ in EventLog(tmp_path / "events").events()) == len(ids)


def _records(n: int, start: int = 0, index: str = "logs-a") -> list[tuple[str, str, dict[str, Any]]]:
    return [(index, f"id-{i}", _doc(i)) for i in range(start, start + n)]


def test_torn_tail_is_dropped(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    log.append(_records(10))
    segment = log._segments[-1].path
    # A crash in the middle of the next write: half a record, no newline, never acknowledged.
    with open(segment, "ab") as f:
        f.write(b'1234abcd ["logs-a","id-torn",{"n":')
    reopened = EventLog(tmp_path)  # the first one is abandoned, as after SIGKILL
    assert [e.id for e in reopened.events()] == [f"id-{i}" for i in range(10)]
    assert segment.stat().st_size == reopened._segments[0].size  # cut back to whole records
    # A bad checksum on a complete last line is torn too.
    with open(segment, "ab") as f:
        f.write(b'00000000 ["logs-a","id-bad",{}]\n')
    again = EventLog(tmp_path)
    again.append(_records(2, start=10))
    assert [e.id for e in again.events()] == [f"id-{i}" for i in range(12)]
    assert again.flush() == 12
    assert [e.id for e in again.events()] == [f"id-{i}" for i in range(12)]
    again.close()


class _Crash(BaseException):
    """Stands for the process dying at a chosen point."""


def test_crash_after_store_commit_does_not_duplicate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = EventLog(tmp_path)
    log.append(_records(100))
    original = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self.suffix == ".wal":
            raise _Crash  # the store committed; the segments are still there
        original(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    with pytest.raises(_Crash):
        log.flush()
    monkeypatch.setattr(Path, "unlink", original)
    assert (tmp_path / "wal" / "flush.json").exists()
    recovered = EventLog(tmp_path)
    ids = [e.id for e in recovered.events()]
    assert ids == [f"id-{i}" for i in range(100)]
    assert recovered.flush() == 0  # the committed segments were deleted at recovery
    assert [e.id for e in recovered.events()] == ids
    recovered.close()


def test_crash_before_store_commit_flushes_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = EventLog(tmp_path)
    log.append(_records(50))
    from vigil.store import writer

    def checkpoint(stage: str) -> None:
        if stage == "moved":
            raise _Crash  # dies inside the append, files in place: nothing committed

    monkeypatch.setattr(writer, "_checkpoint", checkpoint)
    with pytest.raises(_Crash):
        log.flush()
    monkeypatch.undo()
    recovered = EventLog(tmp_path)
    assert recovered.flush() == 50
    assert [e.id for e in recovered.events()] == [f"id-{i}" for i in range(50)]
    recovered.close()


def test_candidates_cover_logged_and_flushed_events_in_order(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    query = compile_query("network where destination.port == 445", options=QueryOptions(size=1000))
    log.append(_records(30))
    log.flush()
    log.append(_records(30, start=30))
    seen = list(log.candidates([query]))
    assert [e.id for e in seen] == [f"id-{i}" for i in range(60)]
    assert [e.seq for e in seen] == sorted(e.seq for e in seen)
    assert len({e.seq for e in seen}) == 60
    # Time bounds apply to logged events as to stored ones (inclusive, epoch nanoseconds).
    start = 1715673600 * 10**9  # 2024-05-14T08:00:00Z
    end = start + 10 * 60 * 10**9  # ... 08:10:00
    bounded = [e.id for e in log.candidates([query], start=start, end=end)]
    expected = [f"id-{i}" for i in range(10)]  # minute i, second i: 08:10:10 is past the end
    assert bounded == expected
    # Index predicates as for the store.
    assert list(log.candidates([(query, lambda name: name == "other")])) == []
    before = [(e.id, e.seq) for e in log.candidates([query])]
    log.flush()
    after = [(e.id, e.seq) for e in log.candidates([query])]
    assert after == before  # same ids and order once flushed: the scheduler's alert ids hold
    assert query.execute(log.candidates([query])).total == 60
    log.close()


def test_retention_drops_old_days(tmp_path: Path) -> None:
    log = EventLog(tmp_path, retention_days=7)
    old = {"@timestamp": "2020-01-01T00:00:00Z", "n": 1}
    recent = {"@timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "n": 2}
    log.append([("logs-a", "old", old), ("logs-a", "recent", recent), ("logs-a", "untimed", {"n": 3})])
    log.flush()
    assert log.apply_retention() == 1
    assert sorted(e.id for e in log.events()) == ["recent", "untimed"]
    assert log.stats()["retention_dropped_files"] == 1
    log.close()
