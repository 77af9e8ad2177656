"""The event log's in-memory view of unflushed events, its flush process and its snapshots.

* Events still in the log are read from memory (no segment is read again); a rule run sees the
  same events, ids, sequence numbers and matches before and after the flush, whichever spelling of
  ``event.category`` the documents use (the logged events are bucketed by index and category).
* The flush in a separate process (``flush_process=True``, as ``vigil serve`` runs it) stores the
  same events as the flush in the service's own process, with the documents' JSON text as sent.
* A reader racing appends and flushes sees every event acknowledged before it started exactly
  once, in order.
* The scheduler paces rule runs while events come in.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from vigil.engine import QueryOptions, compile_query
from vigil.engine.model import Event
from vigil.service.eventlog import EventLog
from vigil.service.wal import categories_of


def _doc(i: int, category: Any = "process", **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@timestamp": f"2024-05-14T08:{i % 60:02d}:{i % 59:02d}.{i % 1000:03d}Z",
        "event": {"category": category, "type": ["start"]},
        "process": {"name": f"p{i % 7}.exe", "pid": i},
        "n": i,
    }
    doc.update(extra)
    return doc


# Documents whose category a bucket must not misread: every one of them is a process event for
# the evaluator, or may be.
ODD = [
    {"@timestamp": "2024-05-14T08:00:00Z", "event.category": "process", "process": {"name": "dotted"}},
    {"@timestamp": "2024-05-14T08:00:01Z", "event": [{"category": "process"}], "process": {"name": "list"}},
    {"@timestamp": "2024-05-14T08:00:02Z", "event": {"category": ["network", "process"]}},
    {"@timestamp": "2024-05-14T08:00:03Z", "event": {"category": [["process"]]}},
    {"@timestamp": "2024-05-14T08:00:04Z", "event": {"category": 5}},
    {"@timestamp": "2024-05-14T08:00:05Z", "event": {"category": ["process", None]}},
    {"@timestamp": "2024-05-14T08:00:06Z", "event": {"category": None}},
    {"@timestamp": "2024-05-14T08:00:07Z", "event": None},
    {"@timestamp": "2024-05-14T08:00:08Z"},
    {"@timestamp": "2024-05-14T08:00:09Z", "event": {"category": "Process"}},
    {"@timestamp": "2024-05-14T08:00:10Z", "event": {"category": "network"}},
]


def test_categories_of_documents() -> None:
    assert categories_of({"event": {"category": "process"}}) == ("process",)
    assert categories_of({"event": {"category": ["a", "b"]}}) == ("a", "b")
    assert (
        categories_of({}) == ()
        and categories_of({"event": {}}) == ()
        and categories_of({"event": None}) == ()
    )
    assert categories_of({"event": {"category": []}}) == ()
    for doc in [*ODD[:2], ODD[3], ODD[4], ODD[5]]:
        assert categories_of(doc) is None, doc


QUERIES = [
    "process where true",
    'process where process.name : "*"',
    "network where true",
    "any where n >= 0",
    "sequence by process.name [process where true] [network where true]",
    "sample by n [process where true] [any where true]",
]


@pytest.mark.parametrize("eql", QUERIES)
def test_logged_events_read_as_stored_ones(tmp_path: Path, eql: str) -> None:
    log = EventLog(tmp_path)
    records = [("logs-a", f"id-{i}", _doc(i, "network" if i % 3 else "process")) for i in range(40)]
    records += [("logs-b", f"odd-{k}", doc) for k, doc in enumerate(ODD)]
    records += [("other", f"o-{i}", _doc(i)) for i in range(5)]
    query = compile_query(eql, options=QueryOptions(size=1000))
    wanted = (query, lambda name: name.startswith("logs-"))
    plain = [Event(doc, index, id_, seq) for seq, (index, id_, doc) in enumerate(records)]
    plain = [e for e in plain if e.index.startswith("logs-")]
    expected = query.execute(iter(plain))
    log.append(records[:30])
    log.flush()
    log.append(records[30:])  # partly stored, partly in memory
    before = list(log.candidates([wanted]))
    assert [e.seq for e in before] == sorted({e.seq for e in before})
    got = query.execute(iter(before))
    assert [e.id for e in got.events] == [e.id for e in expected.events]
    assert got.total == expected.total
    log.flush()
    after = list(log.candidates([wanted]))
    again = query.execute(iter(after))
    assert [(e.id, e.seq) for e in again.events] == [(e.id, e.seq) for e in got.events]
    log.close()


def _stored(log: EventLog) -> list[tuple[str, str, int, dict[str, Any]]]:
    return [(e.index, e.id, e.seq, e.source) for e in log.events()]


def test_flush_process_stores_what_the_inline_flush_stores(tmp_path: Path) -> None:
    texts = [
        b'{"@timestamp":"2024-05-14T08:00:00Z","event":{"category":"process"},"a":1,"a":2}',
        b'{ "@timestamp" : "2024-05-14T08:00:01Z" , "big": 18446744073709551616, "u": 18446744073709551615 }',
        b'{"@timestamp":"2024-05-14T08:00:02Z","esc":"\\u00e9\\n\\"","process.pid":"7"}',
    ]
    records: list[Any] = [("logs-a", f"t{k}", orjson.loads(t), t) for k, t in enumerate(texts)]
    records += [("logs-a", f"d{i}", _doc(i)) for i in range(50)]  # no text: serialised once
    results = []
    for inline in (True, False):
        log = EventLog(tmp_path / str(inline), flush_process=not inline)
        log.append(records[:20], checkpoint={"watch": 1})
        log.append(records[20:], checkpoint={"watch": 2})
        in_memory = _stored(log)
        assert log.flush() == len(records)
        assert log.stats()["unflushed_events"] == 0
        assert _stored(log) == in_memory
        assert log.checkpoint("watch") == 2
        log.close()
        reopened = EventLog(tmp_path / str(inline))
        assert _stored(reopened) == in_memory
        assert reopened.checkpoint("watch") == 2
        reopened.close()
        results.append(in_memory)
    assert results[0] == results[1]
    assert [doc for _i, _id, _s, doc in results[0][:3]] == [orjson.loads(t) for t in texts]


def test_flush_process_survives_its_process_dying(tmp_path: Path) -> None:
    log = EventLog(tmp_path, flush_process=True)
    log.append([("logs-a", f"id-{i}", _doc(i)) for i in range(10)])
    assert log.flush() == 10
    assert log._pool is not None
    for pid in list(log._pool._processes):  # the flush process dies between two flushes
        import os
        import signal

        os.kill(pid, signal.SIGKILL)
    log.append([("logs-a", f"id-{i}", _doc(i)) for i in range(10, 20)])
    with pytest.raises(Exception):  # noqa: B017 - the broken pool: the events stay in the log
        log.flush()
    assert log.stats()["unflushed_events"] == 10
    assert log.flush() == 10  # a new flush process
    assert [e.id for e in log.events()] == [f"id-{i}" for i in range(20)]
    log.close()


def test_readers_racing_flushes_see_each_event_once(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    stop = threading.Event()
    acked: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            i = 0
            while not stop.is_set() and i < 3000:
                log.append([("logs-a", f"id-{k}", _doc(k)) for k in range(i, i + 50)])
                acked.append(i + 50)
                i += 50
                if i % 400 == 0:
                    log.flush()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    query = compile_query("process where true", options=QueryOptions(size=10))
    reads = 0
    try:
        while thread.is_alive() or reads < 3:
            known = acked[-1] if acked else 0
            seqs = [e.seq for e in log.candidates([query])]
            assert seqs == sorted(set(seqs))  # in order, each once
            assert len(seqs) >= known and seqs[:known] == list(range(known))
            reads += 1
    finally:
        stop.set()
        thread.join()
    assert not errors
    log.flush()
    assert [e.seq for e in log.events()] == list(range(acked[-1]))
    log.close()


def test_scheduler_paces_runs_while_events_come_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vigil.service import scheduler as scheduler_module
    from vigil.service.settings import Settings
    from vigil.service.state import ServiceState

    class Events:
        busy = True

        def ingesting(self) -> bool:
            return self.busy

    state = ServiceState(settings=Settings(data_dir=tmp_path, rule_share_under_load=0.5), events=Events())
    state.rules = None
    sched = scheduler_module.Scheduler(state, workers=1)
    waits: list[float] = []
    monkeypatch.setattr(sched._stop, "wait", lambda seconds: waits.append(seconds))
    n = scheduler_module.PACE_EVENTS * 4
    assert len(list(sched._paced(iter(range(n))))) == n  # type: ignore[arg-type]
    assert len(waits) == 5 and all(0 <= w <= 1.0 for w in waits)  # every chunk, and at the end
    assert sum(waits) <= state.settings.run_timeout_seconds / 4  # never into a timeout
    waits.clear()
    state.events.busy = False
    assert len(list(sched._paced(iter(range(n))))) == n  # type: ignore[arg-type]
    assert waits == []
    sched.stop()
    never = scheduler_module.Scheduler(
        ServiceState(settings=Settings(data_dir=tmp_path, rule_share_under_load=1.0), events=Events()),
        workers=1,
    )
    assert list(never._paced(iter(range(10)))) == list(range(10))  # type: ignore[arg-type]
    never.stop()


def test_creates_racing_each_other_and_flushes_log_each_id_once(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    winners: list[str] = []
    lock = threading.Lock()

    def creator(k: int) -> None:
        for i in range(0, 300, 10):
            batch = [("logs-a", f"id-{j}", _doc(j)) for j in range(i, i + 10)]
            kept = log.append(batch, unique=[True] * len(batch))
            with lock:
                winners.extend(r[1] for r, ok in zip(batch, kept, strict=True) if ok)
            if k == 0 and i % 50 == 0:
                log.flush()  # ids move from memory to the store meanwhile

    threads = [threading.Thread(target=creator, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(winners) == sorted(f"id-{j}" for j in range(300))  # each created once
    log.flush()
    assert sorted(e.id for e in log.events()) == sorted(winners)
    # Not unique: appended again; another index: its own ids.
    assert log.append([("logs-a", "id-1", _doc(1))]) == [True]
    assert log.append([("logs-b", "id-1", _doc(1)), ("logs-a", "id-2", _doc(2))], unique=[True, True]) == [
        True,
        False,
    ]
    log.close()


def test_timestamps_of_logged_events_are_the_readers(tmp_path: Path) -> None:
    """One by one and a batch at a time (the usual strings read in Arrow), the log's times are
    the store's reader's."""
    from vigil.engine.typed import make_field_reader
    from vigil.service.eventlog import _TimestampReader
    from vigil.store import open_store
    from vigil.store.columns import schema_of

    store = open_store(tmp_path / "s")
    ts = _TimestampReader(store)
    read = make_field_reader(schema_of(store.hot_fields), "@timestamp")
    values: list[Any] = [
        "2024-05-14T08:00:00Z",
        "2024-05-14T08:00:00.123456789Z",
        "2024-05-14T08:00:00.1239Z",
        "2024-05-14T08:00:00,5Z",
        "2024-05-14T24:00:00Z",
        "2024-02-30T00:00:00Z",
        "2024-05-14T08:00:00+02:00",
        "2024-05-14",
        "9999-12-31T23:59:59.999Z",
        "1900-01-01T00:00:00.001Z",
        "nonsense",
        1715673600000,
        ["2024-05-14T08:00:01Z", "2024-05-14T08:00:00Z"],
        None,
    ]
    docs: list[dict[str, Any]] = [{"@timestamp": value} for value in values] + [{}]
    expected = []
    for doc in docs:
        v = read(doc)
        expected.append(
            v if type(v) is int else (min(x for x in v if type(x) is int) if isinstance(v, list) else None)
        )
    assert [ts(doc) for doc in docs] == expected
    assert ts.many(docs * 10) == expected * 10  # a batch large enough for Arrow
    store.close()


def test_health_counts_an_event_once_while_a_flush_commits(tmp_path: Path) -> None:
    # Between the store's commit and the dropping of the flushed segments, the events are in
    # both places: the counters must still count each once.
    log = EventLog(tmp_path)
    log.append([("logs-a", f"id-{i}", _doc(i)) for i in range(10)])
    log.flush()
    log.append([("logs-a", f"id-{i}", _doc(i)) for i in range(10, 25)])
    seen: list[dict[str, Any]] = []
    commit = log._append

    def commit_then_look(*args: Any) -> None:
        commit(*args)
        seen.append(log.stats())

    log._append = commit_then_look  # type: ignore[method-assign]
    assert log.flush() == 15
    assert [(s["stored_events"], s["unflushed_events"]) for s in seen] == [(25, 0)]
    assert (log.stats()["stored_events"], log.stats()["unflushed_events"]) == (25, 0)
    log.close()


@pytest.mark.parametrize(
    ("index", "id_"),
    [
        ("logs-a", "abc"),
        ("logs-a", ""),
        ("logs-é", "ïd-ü"),
        ("logs-a", 'with "quotes"'),
        ("logs-a", "back\\slash"),
        ("logs-a", "new\nline\ttab"),
        ("logs-a", '",'),
        ("logs-a", "\u2028"),
    ],
)
def test_flush_reads_event_records_without_decoding_the_document(index: str, id_: str) -> None:
    """The flush process cuts index, id and document text out of a WAL record; whatever the id
    holds, they are what the record says, and the text is the logged one, byte for byte."""
    from vigil.service.wal import event_line, event_record, wal_line

    for text in (b'{"a":1}', b'{ "a" : [1, {"b": "x\\"y"}] , "c":"],"}', b"{}"):
        payload = b"[%s,%s,%s]" % (orjson.dumps(index), orjson.dumps(id_), text)
        assert event_record(payload) == (index, id_, text)
        # the line ingest writes (checksum chained over its parts) is the plain record's line
        assert event_line(orjson.dumps(index), orjson.dumps(id_), text) == wal_line(payload)
    assert event_record(orjson.dumps({"checkpoint": {"watch": 1}})) is None


def test_flush_skips_a_record_that_is_no_event(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A record whose checksum holds but which is no event record (which no version of vigil
    writes) is skipped with a warning naming it; the events around it are stored."""
    from vigil.service.wal import flush_segments, wal_line
    from vigil.store import open_store

    store_dir = tmp_path / "store"
    open_store(store_dir).close()
    segment = tmp_path / "seg-1.wal"
    good = [b'["logs-a","e%d",{"@timestamp":"2024-05-14T08:00:0%dZ","n":%d}]' % (k, k, k) for k in range(3)]
    lines = [wal_line(good[0]), wal_line(b"[1,2]"), wal_line(b'"text"'), wal_line(good[1]), wal_line(good[2])]
    segment.write_bytes(b"".join(lines))
    with caplog.at_level("WARNING"):
        assert flush_segments(str(store_dir), [(str(segment), segment.stat().st_size)], 0) == 3
    assert sum("is not an event: skipped" in r.getMessage() for r in caplog.records) == 2
    with open_store(store_dir) as store:
        assert [e.id for e in store.events()] == ["e0", "e1", "e2"]
