"""Unit tests of the conformance loader and checker (inline fixtures; no Elastic data needed
except for the tests marked as reading the real suite)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from vigil.conformance import loader as L
from vigil.conformance import runner as R
from vigil.ecs.schema import FieldType
from vigil.engine import Event, QueryResult, SequenceHit
from vigil.errors import ConformanceError

SUITE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "es-eql"
needs_suite = pytest.mark.skipif(not SUITE_DIR.is_dir(), reason=f"conformance suite not found at {SUITE_DIR}")

# --------------------------------------------------------------------------- transforms


def test_millis_transform() -> None:
    doc = {"timestamp": 131509374294365140, "serial_event_id": 1}
    out = L.filetime_to_epoch_millis(doc)
    assert out["@timestamp"] == 131509374294365140 // 10_000 - 11_644_473_600_000 == 1506463829436
    assert out["timestamp"] == 131509374294365140  # the original stays
    assert "@timestamp" not in doc  # the input is not modified


def test_nanos_transform() -> None:
    out = L.filetime_digits_as_epoch_nanos({"timestamp": 131509374294365140})
    assert out["@timestamp"] == "131509374294.365140"
    assert out["timestamp"] == 131509374294
    whole = L.filetime_digits_as_epoch_nanos({"timestamp": 131485996510000000})
    assert whole["@timestamp"] == "131485996510"


def test_transform_needs_integer_timestamp() -> None:
    with pytest.raises(ConformanceError):
        L.filetime_to_epoch_millis({"timestamp": "x"})


# --------------------------------------------------------------------------- data files


def test_data_comment_lines_are_skipped() -> None:
    text = '[\n {"a": 1},\n\n ////test2\n  // another\n {"a": 2}\n]\n'
    assert L.parse_documents(text) == [{"a": 1}, {"a": 2}]


def test_data_error_has_line() -> None:
    with pytest.raises(ConformanceError) as err:
        L.parse_documents('[\n// c\n {"a": }\n]', file="x.data")
    assert err.value.location is not None
    assert err.value.location.line == 3
    assert err.value.location.file == "x.data"


# --------------------------------------------------------------------------- mappings

MAPPING = """# comment line
{
  "runtime": {"broken": {"type": "long", "script": {"source": "emit(1)"}}},
  "properties": {
    "event_type": {"type": "[runtime_random_keyword_type]"},
    "event": {"properties": {"category": {"type": "alias", "path": "event_type"}}},
    "hostname": {"type": "text", "fields": {"[runtime_random_keyword_type]": {
        "type": "[runtime_random_keyword_type]", "ignore_above": 256}}},
    "pid": {"type": "long"},
    "ip": {"type": "ip"},
    "v": {"type": "version"},
    "b": {"type": "boolean"},
    "pretty": {"type": "date", "format": "dd-MM-yyyy||epoch_millis"},
    "ns": {"type": "date_nanos"},
    "opt": {"type": "keyword", "null_value": "NULL"}
  }
}
"""


def test_mapping_to_schema() -> None:
    m = L.parse_mapping(MAPPING, index="ix")
    f = m.schema.fields
    assert m.schema.name == "ix"
    assert m.schema.strict  # the mapping knows every field, as in Elasticsearch
    assert f["event_type"].type is FieldType.KEYWORD
    assert m.schema.aliases == {"event.category": "event_type"}
    assert f["event"].type is FieldType.OBJECT
    assert f["hostname"].type is FieldType.TEXT and f["hostname"].ignore_above == 256
    assert "hostname.keyword" not in f
    assert f["pid"].type is FieldType.LONG
    assert f["ip"].type is FieldType.IP
    assert f["v"].type is FieldType.VERSION
    assert f["b"].type is FieldType.BOOLEAN
    assert f["pretty"].type is FieldType.DATE and f["pretty"].date_formats == ("dd-MM-yyyy", "epoch_millis")
    assert f["ns"].type is FieldType.DATE_NANOS
    assert f["opt"].null_value == "NULL"
    assert m.runtime_fields == frozenset({"broken"}) and f["broken"].type is FieldType.LONG


def test_mapping_unknown_type_rejected() -> None:
    with pytest.raises(ConformanceError, match="geo_point"):
        L.parse_mapping('{"properties": {"g": {"type": "geo_point"}}}', index="ix", file="m")


def test_dynamic_mapping() -> None:
    docs: list[dict[str, Any]] = [
        {
            "n": 1,
            "f": 1.5,
            "t": True,
            "s": "hello",
            "num_text": "10",
            "when": "2022-05-04T12:00:00.000Z",
            "day": "2022/05/04",
            "nothing": None,
            "empty": [],
            "process.pid": 123,
            "obj": {"inner": {"x": "y"}},
            "arr": [None, 7],
            "pid": "445",  # mapped long: a string value does not change the mapping
        },
        {"n": "later strings do not change it", "nothing": None},
    ]
    schema = L.parse_mapping('{"properties": {"pid": {"type": "long"}}}', index="ix").schema
    L.apply_dynamic_mapping(schema, docs)
    f = schema.fields
    assert f["n"].type is FieldType.LONG
    assert f["f"].type is FieldType.DOUBLE
    assert f["t"].type is FieldType.BOOLEAN
    assert f["s"].type is FieldType.TEXT and f["s"].ignore_above == 256
    assert f["num_text"].type is FieldType.TEXT
    assert f["when"].type is FieldType.DATE and f["when"].date_formats == ()
    assert f["day"].type is FieldType.DATE and "yyyy/MM/dd" in f["day"].date_formats
    assert "nothing" not in f and "empty" not in f
    assert f["process"].type is FieldType.OBJECT and f["process.pid"].type is FieldType.LONG
    assert f["obj"].type is FieldType.OBJECT and f["obj.inner"].type is FieldType.OBJECT
    assert f["obj.inner.x"].type is FieldType.TEXT
    assert f["arr"].type is FieldType.LONG
    assert f["pid"].type is FieldType.LONG


@pytest.mark.parametrize(
    ("text", "is_date"),
    [
        ("1", False),
        ("2022", False),
        ("1.5", False),
        ("2022-12", True),
        ("2022-12-17", True),
        ("2022-12-17T10:11:12.123456789+01:00", True),
        ("2022-13-01", False),
        ("17-12-2022", False),
        ("2022/12/17 10:11:12", True),
        ("cmd.exe", False),
    ],
)
def test_date_detection(text: str, is_date: bool) -> None:
    assert (L.detect_date(text) is not None) is is_date


# --------------------------------------------------------------------------- TOML specs

SPECS = """# header comment
#[[queries]]
#name = "commented"

[[queries]]
name = "first"
query = \'\'\'
  sequence by ?x
    [a where ?y == null]
\'\'\'
expected_event_ids  = [1,
                       2]
join_keys = [null, "tag1",
             null]

[[queries]]
name = "second"
query = "a where b == \\"null\\""
expected_event_ids = [[1, 2], [2, 1]]
join_keys = ["null"]  # null in a comment
size = 3
max_samples_per_key = 2
notes = "ignored"

[[queries]]
name = "third"
query = 'x where true'
expected_event_ids = []
allow_partial_search_results = false
allow_partial_sequence_results = true
expect_shard_failures = true
"""


def test_parse_specs() -> None:
    first, second, third = L.parse_specs(SPECS, file="t.toml")
    assert (first.file, first.line, first.name) == ("t.toml", 5, "first")
    assert first.query == "sequence by ?x\n    [a where ?y == null]"
    assert first.expected == ((1, 2),) and not first.any_of and first.expected_ids == [1, 2]
    assert first.join_keys == ("null", "tag1", "null")
    assert second.line == 16
    assert second.query == 'a where b == "null"'
    assert second.any_of and second.expected_ids == [[1, 2], [2, 1]]
    assert (second.size, second.max_samples_per_key) == (3, 2)
    assert third.line == 25 and third.expected == ((),)
    assert third.allow_partial_search_results is False
    assert third.allow_partial_sequence_results is True
    assert third.expect_shard_failures is True
    assert first.allow_partial_search_results is None


def test_bare_null_only_rewritten_in_join_keys() -> None:
    fixed, headers = L.preprocess_toml(SPECS)
    assert fixed.count("\n") == SPECS.count("\n")
    assert headers == [5, 16, 25]
    assert "?y == null]" in fixed and "# null in a comment" in fixed
    assert 'join_keys = ["null", "tag1",\n             "null"]' in fixed


@pytest.mark.parametrize(
    "body",
    [
        'query = "q"\nexpected_event_ids = [1]',  # no name
        'name = "n"\nexpected_event_ids = [1]',  # no query
        'name = "n"\nquery = "q"',  # no expected ids
        'name = "n"\nquery = "q"\nexpected_event_ids = [1, [2]]',
        'name = "n"\nquery = "q"\nexpected_event_ids = [1]\nsize = "3"',
    ],
)
def test_invalid_spec_rejected_with_location(body: str) -> None:
    with pytest.raises(ConformanceError) as err:
        L.parse_specs(f"\n[[queries]]\n{body}\n", file="bad.toml")
    assert err.value.location is not None
    assert (err.value.location.file, err.value.location.line) == ("bad.toml", 2)


def test_unique_names_per_suite() -> None:
    a = L.parse_specs('[[queries]]\nname = "dup"\nquery = "q"\nexpected_event_ids = []\n', file="a.toml")
    b = L.parse_specs('\n[[queries]]\nname = "dup"\nquery = "q"\nexpected_event_ids = []\n', file="b.toml")
    with pytest.raises(ConformanceError, match=r"duplicate spec name 'dup'.*a\.toml:1") as err:
        L.check_unique_names(a + b, "S")
    assert err.value.location is not None and err.value.location.file == "b.toml"


# --------------------------------------------------------------------------- checking, with a fake engine

TINY_MAPPING = '{"properties": {"event_type": {"type": "keyword"}, "serial_event_id": {"type": "long"}}}'


class FakeCompiled:
    """Answers by a lookup on the query text; records the options it was compiled with."""

    def __init__(self, query: str, options: Any, log: list[Any]) -> None:
        self.query, self.options = query, options
        log.append(options)

    def execute(self, events: list[Event]) -> QueryResult:
        by_id = {e.source["serial_event_id"]: e for e in events}
        if self.query == "boom":
            raise ValueError("engine exploded\nsecond line")
        if self.query.startswith("sequence"):
            hit = SequenceHit(join_keys=[None, True, 5, "x"], events=[by_id[1], None, by_id[2]])
            return QueryResult(kind="sequences", sequences=[hit])
        if self.query == "tail-differs" and self.options.result_position == "tail":
            return QueryResult(kind="events", events=[by_id[2]])
        if "broken" in self.query:
            return QueryResult(kind="events", events=[e for e in events if e.index == "healthy"])
        return QueryResult(kind="events", events=[by_id[1], by_id[2]])


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    log: list[Any] = []
    monkeypatch.setattr(R, "_compile_query", lambda q, schemas, options: FakeCompiled(q, options, log))
    return log


def _suite(specs: str, *, failing: bool = False) -> L.LoadedSuite:
    docs = [{"event_type": "process", "serial_event_id": i, "timestamp": 131485996510000000} for i in (1, 2)]
    healthy = L.build_index("healthy", TINY_MAPPING, docs, transform=L.MILLIS)
    indices = [healthy]
    if failing:
        mapping = '{"runtime": {"broken": {"type": "long"}}, "properties": {}}'
        indices.append(L.build_index("bad", mapping, [{"serial_event_id": 99}]))
    definition = L.SuiteDef(
        "Fake", ("t.toml",), tuple(i.name for i in indices), "serial_event_id", "serial_event_id"
    )
    return L.make_suite(definition, L.parse_specs(specs, file="t.toml"), indices)


def _spec_text(name: str, query: str, expected: str, extra: str = "") -> str:
    return (
        f"[[queries]]\nname = \"{name}\"\nquery = '''{query}'''\nexpected_event_ids = {expected}\n{extra}\n"
    )


def test_checker_passes_and_sends_options(fake_engine: list[Any]) -> None:
    suite = _suite(_spec_text("ok", "process where true", "[1, 2]", "size = 0\nmax_samples_per_key = 3"))
    outcome = R.run_spec(suite, suite.specs[0])
    assert outcome.passed and outcome.got == [1, 2]
    assert [o.result_position for o in fake_engine] == ["head", "tail"]
    assert {(o.size, o.max_samples_per_key, o.tiebreaker_field) for o in fake_engine} == {
        (0, 3, "serial_event_id")
    }


def test_checker_default_size_and_samples(fake_engine: list[Any]) -> None:
    suite = _suite(_spec_text("ok", "process where true", "[1, 2]", "max_samples_per_key = 0"))
    R.run_spec(suite, suite.specs[0])
    assert {(o.size, o.max_samples_per_key) for o in fake_engine} == {(50, 1)}


def test_checker_any_of_and_order(fake_engine: list[Any]) -> None:
    text = _spec_text("alt", "process where true", "[[2, 1], [1, 2]]") + _spec_text(
        "order", "process where true", "[2, 1]"
    )
    suite = _suite(text)
    alt, order = (R.run_spec(suite, s) for s in suite.specs)
    assert alt.passed
    assert not order.passed
    assert order.message == "expected [2, 1] got [1, 2] (positions head, tail)"


def test_checker_names_the_failing_position(fake_engine: list[Any]) -> None:
    suite = _suite(_spec_text("pos", "tail-differs", "[1, 2]"))
    outcome = R.run_spec(suite, suite.specs[0])
    assert not outcome.passed and outcome.got == [2]
    assert R.format_outcome(outcome) == "FAIL Fake t.toml:1 pos: expected [1, 2] got [2] (position tail)"


def test_checker_sequences_placeholders_and_keys(fake_engine: list[Any]) -> None:
    ok = _spec_text("seq", "sequence [a] ![b] [c]", "[1, -1, 2]", 'join_keys = [null, "true", "5", "x"]')
    bad = _spec_text("seqkeys", "sequence [a] ![b] [c]", "[1, -1, 2]", 'join_keys = ["x"]')
    suite = _suite(ok + bad)
    first, second = (R.run_spec(suite, s) for s in suite.specs)
    assert first.passed
    assert "expected join keys ['x'] got ['null', 'true', '5', 'x']" in second.message


def test_checker_reports_engine_errors(fake_engine: list[Any]) -> None:
    suite = _suite(_spec_text("err", "boom", "[]"))
    outcome = R.run_spec(suite, suite.specs[0])
    assert not outcome.passed
    assert outcome.message == "error: ValueError: engine exploded (positions head, tail)"


def test_shard_failure_emulation(fake_engine: list[Any]) -> None:
    specs = (
        _spec_text("noFail", "process where true", "[1, 2]", "expect_shard_failures = false")
        + _spec_text("evt", "process where broken == 1", "[1, 2]", "expect_shard_failures = true")
        + _spec_text("evtNoFlag", "process where broken == 1", "[1, 2]")
        + _spec_text(
            "evtStrict",
            "process where broken == 1",
            "[1, 2]",
            "allow_partial_search_results = false\nexpect_shard_failures = true",
        )
        + _spec_text("seq", "sequence [process where broken == 1] [b]", "[]", "expect_shard_failures = true")
        + _spec_text(
            "seqPartial",
            "sequence [process where broken == 1] [b]",
            "[1, -1, 2]",
            "allow_partial_sequence_results = true\nexpect_shard_failures = true",
        )
        + _spec_text("strOnly", 'process where x == "broken"', "[1, 2]", "expect_shard_failures = false")
    )
    suite = _suite(specs, failing=True)
    results = {s.name: R.run_spec(suite, s) for s in suite.specs}
    assert results["noFail"].passed
    assert results["evt"].passed
    assert "expected no shard failures, got failures on bad" in results["evtNoFlag"].message
    assert "allow_partial_search_results is false" in results["evtStrict"].message
    assert results["seq"].passed
    assert results["seqPartial"].passed
    assert results["strOnly"].passed


def test_referenced_fields_and_kind() -> None:
    fields = R.referenced_fields('sequence [process where `broken` == 1 and ?a.b : "broken x"]')
    assert "broken" in fields and "a.b" in fields and "x" not in fields
    assert R.query_kind("  sample by x [a] [b]") == "sample"
    assert R.query_kind("sequence [a where true] [b where true]") == "sequence"
    assert R.query_kind("process where true") == "event"


def test_key_string() -> None:
    assert [R.key_string(k) for k in (None, False, 1234, "10.0.0.1", 1671235200000)] == [
        "null",
        "false",
        "1234",
        "10.0.0.1",
        "1671235200000",
    ]


def test_format_report_summary() -> None:
    ok = R.SpecOutcome("S", "f.toml", 1, "a", "ix", passed=True)
    bad = R.SpecOutcome(
        "S", "f.toml", 5, "b", "ix", passed=False, message="expected [1] got [] (position head)"
    )
    skip = R.SpecOutcome("S", "f.toml", 9, "c", "ix", passed=False, skipped_reason="why")
    lines = R.format_report(R.ConformanceReport((ok, bad, skip)))
    assert lines == [
        "FAIL S f.toml:5 b: expected [1] got [] (position head)",
        "SKIP S f.toml:9 c: why",
        "1 passed, 1 failed, 1 skipped",
    ]
    assert R.format_report(R.ConformanceReport((ok,))) == ["1 passed, 0 failed"]


# --------------------------------------------------------------------------- the real suite's files


@needs_suite
def test_real_suite_shape() -> None:
    L.check_suites_json(SUITE_DIR)
    runs = list(R.iter_runs(SUITE_DIR))
    assert len(runs) == 453
    counts = {s.name: len(L.load_suite(SUITE_DIR, s.name).specs) for s in L.SUITES}
    assert counts == {
        "EqlSpecTestCase": 198,
        "EqlDateNanosSpecTestCase": 136,
        "EqlExtraSpecTestCase": 40,
        "EqlMissingEventsSpecTestCase": 26,
        "EqlSampleTestCase": 25,
        "EqlSampleMultipleEntriesTestCase": 9,
        "EqlSpecFailingShardsTestCase": 19,
    }


@needs_suite
def test_real_data_loading() -> None:
    nanos = L.load_index(SUITE_DIR, "endgame-140-nanos")
    assert nanos.schema.fields["@timestamp"].type is FieldType.DATE_NANOS
    millis = L.load_index(SUITE_DIR, "endgame-140")
    assert all(isinstance(d["@timestamp"], int) for d in millis.documents)
    extra = L.load_index(SUITE_DIR, "extra")
    assert extra.schema.fields["process.pid"].type is FieldType.LONG
    assert extra.schema.fields["optional_field_default_null"].null_value == "NULL"
    assert "optional_field_mapping_only" in extra.schema.fields
    missing = L.load_index(SUITE_DIR, "missing-events")
    assert len(missing.documents) == 48
    shards = L.load_index(SUITE_DIR, "endgame-shard-failures")
    assert shards.runtime_fields == frozenset({"broken"})
    specs = L.load_suite(SUITE_DIR, "EqlExtraSpecTestCase").specs
    by_name = {s.name: s for s in specs}
    assert by_name["sequenceWithOptionalMultivalue_multiPlusOptional"].join_keys == ("tag1", "null")


def test_missing_directory_is_a_conformance_error() -> None:
    with pytest.raises(ConformanceError, match="not found"):
        R.main(Path("/nonexistent/dir"), out=io.StringIO())


def test_prefilter_path_applies_line_filter(fake_engine: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        FakeCompiled, "line_filter", lambda self, raw: b'"serial_event_id": 2' not in raw, raising=False
    )
    suite = _suite(_spec_text("pf", "process where true", "[1, 2]"))
    assert R.run_spec(suite, suite.specs[0], "plain").passed
    lossy = R.run_spec(suite, suite.specs[0], "prefilter")
    assert not lossy.passed and lossy.test_id == "Fake::t.toml::pf::prefilter"
    unknown = R.run_spec(suite, suite.specs[0], "nope")
    assert unknown.skipped_reason == "unknown execution path 'nope'"


def test_errata_apply_only_to_the_stale_text() -> None:
    text = "[[queries]]\nname = 'n'\nquery = 'sequence with maxspan=500ms [a] [b]'\nexpected_event_ids = []\n"
    fix = L.Erratum("t.toml", "n", "maxspan=500ms", "maxspan=50ms", "upstream fix")
    (spec,) = L.apply_errata(L.parse_specs(text, file="t.toml"), (fix,))
    assert spec.query == "sequence with maxspan=50ms [a] [b]"
    assert spec.erratum == "maxspan=500ms -> maxspan=50ms: upstream fix"
    (again,) = L.apply_errata([spec], (fix,))  # a refreshed file no longer has the old text
    assert again == spec
    outcome = R.SpecOutcome("S", "t.toml", 1, "n", "ix", passed=True, erratum=spec.erratum)
    assert R.format_report(R.ConformanceReport((outcome,)))[0].startswith(
        "NOTE S t.toml:1 n: erratum applied"
    )
