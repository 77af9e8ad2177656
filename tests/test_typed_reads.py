"""Field reads shared across the rules an event is offered to: per thread, and never crashing on
a value of the wrong shape."""

from __future__ import annotations

import threading

from engine_util import run
from vigil.ecs.ecs_schema import ecs_schema
from vigil.engine.typed import begin_event, end_event, make_field_reader


def test_the_shared_reads_of_one_thread_are_not_another_threads() -> None:
    read = make_field_reader(ecs_schema(), "process.name")
    mine = {"process": {"name": "mine.exe"}}
    theirs = {"process": {"name": "theirs.exe"}}
    begin_event(mine)
    try:
        assert read(mine) == "mine.exe"
        seen: list[object] = []

        def other_thread() -> None:
            # Another thread offering its own event at the same moment (the service's workers).
            begin_event(theirs)
            seen.append(read(theirs))
            seen.append(read(mine))  # not this thread's event: read from the document
            end_event()

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert seen == ["theirs.exe", "mine.exe"]
        # This thread's memo still holds its own event and value.
        assert read(mine) == "mine.exe"
        mine["process"]["name"] = "changed.exe"  # the memo answers, as designed, for this event
        assert read(mine) == "mine.exe"
    finally:
        end_event()
    assert read(mine) == "changed.exe"


def test_an_object_where_an_address_belongs_is_no_address() -> None:
    def event(n: int, ip: object) -> dict[str, object]:
        second = f"2024-01-01T00:00:0{n}Z"
        return {"id": n, "@timestamp": second, "event": {"category": "network"}, "destination": {"ip": ip}}

    events = [event(1, {"a": 1}), event(2, 10), event(3, "10.0.0.1")]
    assert run('network where cidrmatch(destination.ip, "10.0.0.0/8")', events) == [3]
    assert run("network where destination.ip == null", events) == [1, 2]


def test_readers_are_shared_by_resolved_path_and_mapping() -> None:
    from vigil.ecs.schema import FieldSpec, FieldType, Schema

    a = Schema(fields={"port": FieldSpec(FieldType.LONG)})
    b = Schema(fields={"port": FieldSpec(FieldType.LONG)})
    text = Schema(fields={"port": FieldSpec(FieldType.KEYWORD)})
    alias = Schema(
        fields={"destination.port": FieldSpec(FieldType.LONG)}, aliases={"port": "destination.port"}
    )
    assert make_field_reader(a, "port") is make_field_reader(b, "port")
    assert make_field_reader(a, "port") is not make_field_reader(text, "port")
    assert make_field_reader(alias, "port") is make_field_reader(alias, "destination.port")
    doc = {"port": "445", "destination": {"port": 445}}
    assert make_field_reader(a, "port")(doc) == 445
    assert make_field_reader(text, "port")(doc) == "445"
    assert make_field_reader(alias, "port")(doc) == 445
    # A schema changed after a reader was made gets a reader of its new mapping.
    a.fields["port"] = FieldSpec(FieldType.KEYWORD)
    assert make_field_reader(a, "port")(doc) == "445"
    # One event's memo keeps the two mappings' values apart.
    begin_event(doc)
    try:
        assert make_field_reader(b, "port")(doc) == 445
        assert make_field_reader(text, "port")(doc) == "445"
    finally:
        end_event()
    # A mapping that cannot be a key (an odd null_value) still gets a working reader.
    odd = Schema(fields={"tags": FieldSpec(FieldType.KEYWORD, null_value=["n/a"])})
    assert make_field_reader(odd, "tags")({"tags": "x"}) == "x"
