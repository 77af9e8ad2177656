"""The file/folder watcher: new files and appended complete lines, exactly once across restarts."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from vigil.service.eventlog import EventLog
from vigil.service.watcher import Watcher
from vigil.sources import stable_id

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
EVTX_SAMPLE = DATASETS / "evtx-attack-samples" / "Lateral Movement" / "LM_Remote_Service02_7045.evtx"


def _line(i: int) -> bytes:
    doc: dict[str, Any] = {
        "@timestamp": f"2024-05-14T08:00:{i % 60:02d}Z",
        "event": {"category": ["process"]},
        "data_stream": {"type": "logs", "dataset": "app", "namespace": "default"},
        "n": i,
    }
    return orjson.dumps(doc) + b"\n"


def _ids(log: EventLog) -> list[str]:
    return [e.id for e in log.events()]


def test_appended_lines_exactly_once_across_restarts(tmp_path: Path) -> None:
    watched = tmp_path / "logs"
    watched.mkdir()
    data = tmp_path / "data"
    path = watched / "app.ndjson"
    path.write_bytes(_line(0) + _line(1) + _line(2) + _line(3)[:20])  # the last line is incomplete
    log = EventLog(data)
    watcher = Watcher([str(watched)], log)
    assert watcher.poll() == 3
    assert watcher.poll() == 0  # the incomplete line waits for its newline
    with open(path, "ab") as f:
        f.write(_line(3)[20:] + _line(4))
    assert watcher.poll() == 2
    events = list(log.events())
    assert [e.source["n"] for e in events] == [0, 1, 2, 3, 4]
    assert [e.id for e in events] == [stable_id(_line(i)) for i in range(5)]  # as `vigil hunt` gives
    assert {e.index for e in events} == {"logs-app-default"}

    # Restart without a clean stop (the log object abandoned, as after SIGKILL): nothing re-read.
    log2 = EventLog(data)
    assert Watcher([str(watched)], log2).poll() == 0
    with open(path, "ab") as f:
        f.write(_line(5))
    (watched / "new.jsonl").write_bytes(_line(6))
    assert Watcher([str(watched)], log2).poll() == 2
    log2.flush()  # positions survive the deletion of the segments that carried them
    log2.close()

    log3 = EventLog(data)
    assert Watcher([str(watched)], log3).poll() == 0
    assert sorted(e.source["n"] for e in log3.events()) == list(range(7))
    log3.close()


def test_rotation_and_truncation(tmp_path: Path) -> None:
    watched = tmp_path / "logs"
    watched.mkdir()
    log = EventLog(tmp_path / "data")
    path = watched / "app.ndjson"
    path.write_bytes(_line(0) + _line(1))
    watcher = Watcher([str(watched)], log)
    assert watcher.poll() == 2
    # Rotation by rename within the watched folder: same inode, position kept, nothing re-read.
    path.rename(watched / "app-1.ndjson")
    path.write_bytes(_line(2))
    assert watcher.poll() == 1
    # Truncation: the file is read from its start again.
    with open(path, "r+b") as f:
        f.truncate(0)
    assert watcher.poll() == 0
    path.write_bytes(_line(3))
    assert watcher.poll() == 1
    # Replaced in place with other content of the same or greater length: read afresh.
    os.truncate(path, 0)
    path.write_bytes(_line(4) + _line(5))
    assert watcher.poll() == 2
    assert sorted(e.source["n"] for e in log.events()) == [0, 1, 2, 3, 4, 5]
    log.close()


def test_malformed_lines_are_skipped(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "data")
    path = tmp_path / "one.ndjson"
    path.write_bytes(_line(0) + b"{not json\n" + _line(1))
    watcher = Watcher([str(path)], log)  # a single file may be watched too
    assert watcher.poll() == 2
    assert watcher.report.skipped == 1
    assert watcher.poll() == 0
    log.close()


@pytest.mark.skipif(not EVTX_SAMPLE.exists(), reason="EVTX sample data set not present")
def test_evtx_once_it_stops_growing(tmp_path: Path) -> None:
    watched = tmp_path / "evtx"
    watched.mkdir()
    shutil.copy(EVTX_SAMPLE, watched / "system.evtx")
    log = EventLog(tmp_path / "data")
    watcher = Watcher([str(watched)], log)
    assert watcher.poll() == 0  # first sight: it may still be growing
    first = watcher.poll()
    assert first > 0
    events = list(log.events())
    assert all(e.source.get("event", {}).get("code") for e in events)  # mapped to ECS
    assert watcher.poll() == 0
    log2 = EventLog(tmp_path / "data")
    again = Watcher([str(watched)], log2)
    again.poll()
    assert again.poll() == 0  # not read twice across a restart
    assert len(_ids(log2)) == first
    log2.close()
