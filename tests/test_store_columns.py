"""Hot-column extraction: the batch path (``RowBuilder.add_many``, one generated walk per document
and column-by-column conversion) gives exactly what the field readers give.

The reference below is the per-document algorithm the store had before the batch path: every
hot field read with its full field reader (``make_field_reader``, which follows nested, dotted and
mixed spellings and arrays of objects), then each value put into its column. The batch path must
produce the same Arrow columns, flag bits and ``__ts`` for generated ECS events (gen_ecs) and for
hand-made documents that take every fallback: dotted keys, arrays of objects, nested arrays, type
mismatches, values beyond int64, bad addresses and dates, nulls, and fields with ``null_value``,
``ignore_above`` or date formats.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from vigil.ecs.schema import FieldSpec, FieldType
from vigil.store.columns import (
    _INT64_MAX,
    _INT64_MIN,
    HotField,
    RowBuilder,
    Storage,
    default_hot_fields,
    ip_key,
    with_timestamp,
)

ROOT = Path(__file__).resolve().parents[1]
GEN_ECS = ROOT.parent / "shared" / "tools" / "gen_ecs.py"


class Reference(RowBuilder):
    """The per-document reference: full readers, then the original per-value rules."""

    def add(self, doc: dict[str, Any]) -> int | None:
        flags = 0
        ts: Any = None
        for i, (read, (want, storage, many), column) in enumerate(
            zip(self._readers, self._kinds, self.columns, strict=True)
        ):
            try:
                v = read(doc)
            except TypeError:
                # (not in the original: an object where an address belongs made the ip reader
                # raise, and so the whole append fail; now the value does not fit the column)
                column.append(None)
                flags |= 1 << i
                continue
            if v is None:
                column.append(None)
                continue
            t = type(v)
            if t is want:
                if storage is Storage.IP:
                    v = ip_key(v)
                    if v is None:
                        flags |= 1 << i
                elif want is int and not _INT64_MIN <= v <= _INT64_MAX:
                    column.append(None)
                    flags |= 1 << i
                    continue
                elif i == self._ts:
                    ts = v
                column.append([v] if many and v is not None else v)
                continue
            if t is list:
                if i == self._ts and all(type(x) is int for x in v) and _INT64_MIN <= min(v) <= _INT64_MAX:
                    ts = min(v)
                    column.append(ts)
                    flags |= 1 << i
                    continue
                if many and want is int and not all(_INT64_MIN <= x <= _INT64_MAX for x in v):
                    # (not in the original: such a list made the whole append fail in Arrow)
                    column.append(None)
                    flags |= 1 << i
                    continue
                if many and all(type(x) is want for x in v):
                    column.append([ip_key(x) for x in v] if storage is Storage.IP else v)
                    if storage is Storage.IP and None in column[-1]:
                        column[-1] = None
                        flags |= 1 << i
                    continue
            column.append(None)
            flags |= 1 << i
        self.flags.append(flags)
        return ts if type(ts) is int else None


def _flat(array: Any) -> Any:
    """One array of a column (the text path keeps a batch's chunks apart)."""
    return array.combine_chunks() if hasattr(array, "combine_chunks") else array


def _same_columns(fields: tuple[HotField, ...], docs: list[dict[str, Any]]) -> None:
    reference = Reference(fields)
    expected_ts = [reference.add(doc) for doc in docs]
    batch = RowBuilder(fields)
    assert batch.add_many(docs) == expected_ts
    single = RowBuilder(fields)
    assert [single.add(doc) for doc in docs] == expected_ts
    want = reference.arrays()
    _assert_columns(batch.arrays(), want, docs)
    for name, got in single.arrays().items():
        assert _flat(got).equals(_flat(want[name])), name
    _same_from_texts(fields, docs)


def _same_from_texts(
    fields: tuple[HotField, ...], docs: list[dict[str, Any]], chunk: int | None = None
) -> None:
    """The JSON-text path (``RowBuilder.add_texts``) gives the reference's columns for the
    documents that have a JSON text (keys that are not strings have none), as read back from it
    (an infinity is written as null)."""
    texts: list[bytes] = []
    kept: list[dict[str, Any]] = []
    for doc in docs:
        try:
            texts.append(orjson.dumps(doc))
        except TypeError:
            continue
        kept.append(orjson.loads(texts[-1]))
    reference = Reference(fields)
    expected_ts = [reference.add(doc) for doc in kept]
    want = reference.arrays()
    text = RowBuilder(fields)
    got_ts: list[int | None] = []
    step = chunk or len(texts) or 1
    for k in range(0, len(texts), step):
        got_ts += text.add_texts(texts[k : k + step])
    assert got_ts == expected_ts
    _assert_columns(text.arrays(), want, kept)


def _assert_columns(columns: dict[str, Any], want: dict[str, Any], docs: list[dict[str, Any]]) -> None:
    """Every column equals the reference's, value by value (with its type) and as Arrow."""
    for name, got in columns.items():
        for row, (a, b) in enumerate(zip(got.to_pylist(), want[name].to_pylist(), strict=True)):
            assert a == b and type(a) is type(b), (name, row, docs[row])
        assert _flat(got).equals(_flat(want[name])), name


DEFAULT = with_timestamp(default_hot_fields())

EXTRA = with_timestamp(
    (
        *default_hot_fields(),
        HotField("n.d", FieldSpec(FieldType.DOUBLE)),
        HotField("n.b", FieldSpec(FieldType.BOOLEAN)),
        HotField("n.ns", FieldSpec(FieldType.DATE_NANOS)),
        HotField("n.k", FieldSpec(FieldType.KEYWORD, null_value="NULL")),
        HotField("n.short", FieldSpec(FieldType.KEYWORD, ignore_above=5)),
        HotField("n.ms", FieldSpec(FieldType.DATE, date_formats=("epoch_millis",))),
        HotField("n.dyn"),
        HotField("n.ips", FieldSpec(FieldType.IP), many=True),
        HotField("n.longs", FieldSpec(FieldType.LONG), many=True),
        HotField("n.t", FieldSpec(FieldType.TEXT)),
        HotField("deep.a.b.c.d", FieldSpec(FieldType.KEYWORD)),
    )
)

# The extra field types the JSON-text path serves itself (EXTRA's double and null_value fields
# send every row to the Python path).
TEXT_EXTRA = tuple(
    f for f in EXTRA if f.spec is None or (f.spec.type is not FieldType.DOUBLE and f.spec.null_value is None)
)

TRICKY: list[dict[str, Any]] = [
    {},
    {"@timestamp": "2024-05-01T00:00:00Z"},
    {"@timestamp": "2024-05-01T00:00:00.123456789Z", "process": {"pid": 4}},
    {"@timestamp": "2024-05-01T00:00:00,5Z"},
    {"@timestamp": "2024-05-01T00:00:00.1234567891Z"},  # ten digits: the full parser
    {"@timestamp": "2024-05-01T24:00:00Z"},
    {"@timestamp": "2024-02-30T00:00:00Z"},
    {"@timestamp": "2024-05-01T01:02:03+02:00"},
    {"@timestamp": "2024-05-01"},
    {"@timestamp": 1714521600000},
    {"@timestamp": 1714521600000.5},
    {"@timestamp": ["2024-05-01T00:00:03Z", "2024-05-01T00:00:02Z"]},
    {"@timestamp": []},
    {"@timestamp": [None]},
    {"@timestamp": None},
    {"@timestamp": "2500-01-01T00:00:00Z"},
    {"@timestamp": "nonsense"},
    {"@timestamp": True},
    {"@timestamp": {"x": 1}},
    {"process.pid": 7, "process": {"name": "x"}},  # a dotted key at the top
    {"process": {"parent.pid": 3, "name": "y"}},  # dotted below the top
    {"process": {"parent": {"pid": 3}, "parent.name": "z"}},
    {"host.os": {"type": "windows"}},
    {"unrelated.dotted": 1, "process": {"name": "ok"}},  # a dotted key off the hot paths
    {"process": {"x.y": 1, "name": "ok"}},
    {"process": [{"pid": 1}, {"pid": 2}]},  # an array of objects
    {"process": [{"parent": {"pid": 1}}]},
    {"process": {"args": [["a"], "b"]}},  # a nested array
    {"process": {"args": [{"a": 1}]}},
    {"process": {"pid": "42", "name": 5, "args": "single", "command_line": True}},
    {"process": {"pid": 4.0, "parent": {"pid": 4.5}}},
    {"process": {"pid": "4.5", "parent": {"pid": "x"}}},
    {"process": {"pid": True}},
    {"process": {"pid": 2**63, "parent": {"pid": -(2**63) - 1}}},
    {"process": {"pid": 2**63 - 1, "parent": {"pid": -(2**63)}}},
    {"process": {"pid": [1, 2], "name": ["x", "y"], "args": []}},
    {"process": {"pid": [1], "name": ["x"], "args": ["a"], "parent": {"args": [None, "b"]}}},
    {"process": {"pid": [None], "name": [None, None]}},
    {"process": {"pid": {"nested": 1}, "name": {"a": "b"}}},
    {"process": "a string where an object belongs"},
    {"process": None, "event": None, "host": [], "user": {}},
    {"event": {"category": "process", "type": [["start"]]}},
    {"event": {"category": ["process", "network"], "type": ["start", 3]}},
    {"event": {"category": [], "type": [True, False], "code": 4624}},
    {"event": {"code": 4.5, "kind": 1e300, "outcome": -0.0}},
    {"event": {"code": 10**30}},
    {"destination": {"ip": "::ffff:10.0.0.1", "port": 445}},
    {"destination": {"ip": "10.0.0.01", "port": "445"}},
    {"destination": {"ip": "nonsense", "port": "http"}, "source": {"ip": ["1.2.3.4", [None]]}},
    {"destination": {"ip": ["1.2.3.4", "fe80::1"]}, "source": {"ip": ["1.2.3.4"], "port": [1, 2]}},
    {"destination": {"ip": 167772161}, "source": {"ip": ""}},
    {"destination": {"ip": "FE80::0001"}, "source": {"ip": "1.2.3.4%eth0"}},
    {"host": {"name": None}, "user": {}, "file": {"path": ""}, "process.name.x": 1},
    {"winlog": {"event_id": 4688, "channel": ["a", "b"]}, "agent": {"type": None}},
    {"dns": {"question": {"name": ["a.example", "b.example"]}}},
    {"dns": {"question.name": "dotted.example"}},
    {"n": {"d": 1, "b": "true", "ns": "2024-05-01T00:00:00.123456789Z", "k": None, "short": "longer"}},
    {"n": {"d": "1.5", "b": "no", "ns": 5, "k": "v", "short": "ok", "ms": "1714521600000"}},
    {"n": {"d": [1.5, 2], "b": [True, False], "ns": ["x"], "k": [None, "a"], "short": ["abcdefg", "ab"]}},
    {"n": {"ms": 1714521600000, "dyn": 5, "ips": "1.2.3.4", "longs": 5, "t": 12}},
    {"n": {"ms": "2024-05-01T00:00:00Z", "dyn": [1, "a"], "ips": ["1.2.3.4", "x"], "longs": [1, "2"]}},
    {"n": {"dyn": {"a": 1}, "ips": ["::1", "1.2.3.4"], "longs": [1, 2**64], "t": ["a", "b"]}},
    {"n": {"dyn": "text", "ips": [], "longs": [], "d": float("inf")}},
    {"n": {"dyn": True, "d": None, "k": []}},
    {"deep": {"a": {"b": {"c": {"d": "x"}}}}},
    {"deep": {"a": {"b": {"c.d": "x"}}}},
    {"deep": {"a": [{"b": {"c": {"d": "x"}}}]}},
    {"deep.a.b.c.d": "flat"},
    {1: "a key that is not a string", "process": {"name": "x"}},
    {"destination": {"ip": {"an": "object"}}, "source": {"ip": [{"a": 1}]}},
    {"destination": {"ip": ["1.2.3.4", {"a": 1}]}, "n": {"ips": {"x": 1}}},
]


def test_tricky_documents_default_fields() -> None:
    _same_columns(DEFAULT, TRICKY)


def test_tricky_documents_extra_field_types() -> None:
    _same_columns(EXTRA, TRICKY)


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    choices: list[Any] = [
        None,
        "text",
        "process",
        "10.1.2.3",
        "::1",
        "bad ip",
        "2024-05-01T00:00:00.5Z",
        "2024-05-01T00:00:00Z",
        "445",
        "4.5",
        "true",
        "",
        "é",
        0,
        445,
        -1,
        2**63,
        2**64 - 1,
        1.5,
        -0.0,
        True,
        False,
        1714521600000,
    ]
    roll = rng.random()
    if depth < 2 and roll < 0.15:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 2 and roll < 0.2:
        return {"pid": _random_value(rng, depth + 1), "name": _random_value(rng, depth + 1)}
    return rng.choice(choices)


def _random_doc(rng: random.Random, paths: list[str]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for path in rng.sample(paths, rng.randint(0, 8)):
        parts = path.split(".")
        if rng.random() < 0.1 and len(parts) > 1:
            cut = rng.randint(1, len(parts) - 1)  # a dotted key for part of the path
            parts = [".".join(parts[:cut]), *parts[cut:]]
        node = doc
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = _random_value(rng)
    return doc


def test_random_documents_match_the_readers() -> None:
    rng = random.Random(20240501)
    for fields in (DEFAULT, EXTRA):
        paths = [f.path for f in fields]
        docs = [_random_doc(rng, paths) for _ in range(1500)]
        _same_columns(fields, docs)


@pytest.mark.skipif(not GEN_ECS.exists(), reason=f"the event generator is not at {GEN_ECS}")
@pytest.mark.parametrize("seed", [1, 7])
def test_generated_ecs_events_match_the_readers(seed: int, tmp_path: Path) -> None:
    out = tmp_path / "events.ndjson"
    subprocess.run(
        [sys.executable, str(GEN_ECS), "--events", "3000", "--seed", str(seed), "--out", str(out)], check=True
    )
    docs = [orjson.loads(line) for line in out.read_bytes().splitlines() if line.strip()]
    assert len(docs) == 3000
    _same_columns(DEFAULT, docs)
    _same_columns(EXTRA, docs)
    # A batch is a batch: split differently, the columns are the same.
    whole = RowBuilder(DEFAULT)
    whole.add_many(docs)
    parts = RowBuilder(DEFAULT)
    for k in range(0, len(docs), 700):
        parts.add_many(docs[k : k + 700])
    a, b = whole.arrays(), parts.arrays()
    assert all(_flat(a[name]).equals(_flat(b[name])) for name in a)


# --------------------------------------------------------------------------- the JSON-text path


def _regular_doc(rng: random.Random, k: int) -> dict[str, Any]:
    """A document of the usual shapes (what the text path reads without Python)."""
    return {
        "@timestamp": f"2024-05-{1 + k % 28:02d}T{k % 24:02d}:{k % 60:02d}:{k * 7 % 60:02d}.{k % 1000:03d}Z",
        "event": {"category": [rng.choice(["process", "network", "file"])], "type": ["start"], "code": "1"},
        "host": {"name": f"host-{k % 7}", "os": {"type": "windows"}},
        "process": {
            "pid": rng.randint(1, 70000),
            "name": rng.choice(["cmd.exe", "powershell.exe", "svchost.exe"]),
            "args": ["a", str(k)],
            "entity_id": f"e{k % 50}",
        },
        "destination": {"ip": f"10.0.{k % 250}.{k % 200}", "port": 445},
        "winlog": {"event_id": str(4600 + k % 100)},
        # off the hot paths; one in ten a dotted key (left to Python)
        "unrelated": {"x.y": k} if k % 10 == 0 else {"z": [k, {"a": None}]},
    }


def _texts(docs: list[dict[str, Any]]) -> list[bytes]:
    """The JSON texts of the documents that have one."""
    out = []
    for doc in docs:
        try:
            out.append(orjson.dumps(doc))
        except TypeError:
            continue
    return out


def _with_text_path(monkeypatch: pytest.MonkeyPatch, chunk: int, split: int) -> None:
    from vigil.store import textcols

    monkeypatch.setattr(textcols, "CHUNK_ROWS", chunk)
    monkeypatch.setattr(textcols, "MIN_SPLIT_ROWS", split)


@pytest.mark.parametrize("fields", [DEFAULT, TEXT_EXTRA], ids=["default", "extra"])
def test_text_path_isolates_each_odd_document(
    fields: tuple[HotField, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each hand-made document among many regular ones: the reader's failures are split down to
    the odd rows, which Python reads, and the columns are the reference's."""
    _with_text_path(monkeypatch, chunk=256, split=4)
    rng = random.Random(5)
    docs = [_regular_doc(rng, k) for k in range(600)]
    mixed = list(docs)
    for doc in TRICKY:
        mixed.insert(rng.randrange(len(mixed) + 1), doc)
    _same_from_texts(fields, mixed, chunk=300)
    builder = RowBuilder(fields)
    texts = _texts(mixed)
    builder.add_texts(texts)
    stats = builder._text.stats
    assert stats["rows"] == len(texts)
    # the odd rows, the regular ones with a dotted key (one in ten) and a few neighbours go to
    # Python, the rest not
    assert stats["python_rows"] < len(texts) * 0.4, stats


def test_text_path_random_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_text_path(monkeypatch, chunk=64, split=2)
    rng = random.Random(99)
    for fields in (DEFAULT, TEXT_EXTRA):
        paths = [f.path for f in fields]
        docs = [_random_doc(rng, paths) for _ in range(1200)]
        _same_from_texts(fields, docs, chunk=500)


def test_text_path_learns_the_data_types() -> None:
    """A ``long`` sent as a string and a multi-valued field as a lone string are declared so
    after one failed parse: no row goes to Python, and the next batches parse at once."""
    docs = [
        {
            "@timestamp": "2024-05-01T00:00:00Z",
            "winlog": {"event_id": "4624"},
            "event": {"category": "process"},
        },
        {"@timestamp": "2024-05-01T00:00:01Z", "winlog": {"event_id": "0"}, "event": {"category": "network"}},
        {"@timestamp": "2024-05-01T00:00:02Z", "winlog": {"event_id": "-12"}, "process": {"pid": 5}},
        {"@timestamp": "2024-05-01T00:00:02Z", "winlog": {"event_id": "0012"}, "process": {"pid": -0}},
    ]
    texts = [orjson.dumps(d) for d in docs]
    builder = RowBuilder(DEFAULT)
    builder.add_texts(texts)
    stats = dict(builder._text.stats)
    assert stats["python_rows"] == 0 and stats["parses"] == 3, stats
    builder.add_texts(texts)
    assert builder._text.stats["parses"] == stats["parses"] + 1
    _same_from_texts(DEFAULT, docs + docs)
    columns = builder.arrays()
    assert columns["winlog.event_id"].to_pylist() == [4624, 0, -12, 12] * 2
    assert columns["event.category"].to_pylist()[:3] == [["process"], ["network"], None]


def test_text_path_falls_back_for_fields_it_cannot_serve() -> None:
    for fields in (EXTRA, (*DEFAULT, HotField("process", None)), (*DEFAULT, HotField("x..y", None))):
        builder = RowBuilder(fields)
        assert not builder.text_supported()
    assert RowBuilder(DEFAULT).text_supported() and RowBuilder(TEXT_EXTRA).text_supported()
    _same_from_texts(EXTRA, [_regular_doc(random.Random(1), k) for k in range(50)])


@pytest.mark.parametrize(
    ("text", "suspect"),
    [
        (b'{"a.b":1}', True),
        (b'{"a":{"b.c" : 1}}', True),
        (b'{"a":"x.y","b":"c.d"}', False),
        (b'{"a":"b.c\\"","d":1}', False),  # an escaped quote inside a value
        (b'{"x":"a.b\\\\","q":1}', False),  # a value ending in an escaped backslash
        (b'{"q.\\"":1}', True),  # an escaped quote inside a dotted key
        (b'{"a\\n.b":1}', True),
        (b'{"a\\u002eb":1}', True),  # a dot spelled as an escape
        (b'{"a\\u002Eb":1}', True),
        (b'{"a":"1.2.3.4"}', False),
        (b'{"a":1.5,"b":[2.5]}', False),
        (b'{"a.b"\t\r :1}', True),
        (b'{"a.\\\\":{"x":"y.z"}}', True),  # a dotted key ending in an escaped backslash
        (b'{"a":"v.","b":{"c":"."}}', False),
        (b'{"a":["x.y",{"k":"."}],"b.c":[]}', True),
    ],
)
@pytest.mark.parametrize("engine", ["hyperscan", "re"])
def test_text_path_finds_dotted_keys(
    text: bytes, suspect: bool, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vigil.sources import scan as scan_module
    from vigil.store.textcols import TextColumns

    monkeypatch.setattr(scan_module, "_NO_HYPERSCAN", engine != "hyperscan")
    assert orjson.loads(text) is not None  # valid JSON
    cols = TextColumns(RowBuilder(DEFAULT))
    assert cols._suspects([b'{"ok":1}', text, b'{"ok":2}']) == ({1} if suspect else set())


def test_plain_dates_and_longs_in_arrow_match_python() -> None:
    import pyarrow as pa

    from vigil.ecs.values import to_long
    from vigil.engine.typed import _fast_utc
    from vigil.store.textcols import _plain_longs, _utc_nanos

    rng = random.Random(3)
    dates = [
        "2024-05-01T00:00:00Z",
        "2024-05-01T23:59:59.999999999Z",
        "2024-05-01T24:00:00Z",
        "2024-02-29T12:00:00,5Z",
        "2023-02-29T12:00:00Z",
        "0001-01-01T00:00:00Z",
        "1600-03-01T00:00:00.1Z",
        "2262-04-11T23:47:16.854775807Z",
        "2262-04-12T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2024-05-01T00:00:00.1234567890Z",
        "2024-05-01T00:00:00.Z",
        "2024-05-01T00:60:00Z",
        "2024-05-01 00:00:00Z",
        "2024-05-01T00:00:00+00:00",
        "２０２４-05-01T00:00:00Z",
        "",
    ]
    for _ in range(300):
        dates.append(
            f"{rng.randint(1900, 2100):04d}-{rng.randint(0, 13):02d}-{rng.randint(0, 32):02d}T"
            f"{rng.randint(0, 25):02d}:{rng.randint(0, 61):02d}:{rng.randint(0, 61):02d}"
            + rng.choice(["", ".5", ",123", ".123456789", ".1234567"])
            + "Z"
        )
    arr = pa.array(dates, pa.string())
    for nanos in (True, False):
        got = _utc_nanos(arr, nanos).to_pylist()
        for text, value in zip(dates, got, strict=True):
            want = _fast_utc(text)
            if want is not None and not nanos:
                want -= want % 1_000_000
            if value is not None:  # what Arrow reads, Python reads the same
                assert value == want, text
            elif want is not None:  # what Arrow leaves, Python reads (beyond int64 here)
                assert not -(2**63) <= want < 2**63 - 86_400 * 10**9, text
    longs = [
        "0",
        "-0",
        "12",
        "-12",
        "0012",
        "+5",
        "1e3",
        "4.5",
        "999999999999999999",
        "9223372036854775807",
        "",
        " 1",
    ]
    got_longs = _plain_longs(pa.array(longs, pa.string())).to_pylist()
    for text, value in zip(longs, got_longs, strict=True):
        if value is not None:
            assert value == to_long(text), text
    assert got_longs[:4] == [0, None, 12, -12] and got_longs[4] is None


def test_text_path_reads_mixed_sources_in_one_batch() -> None:
    """Sources mixed in one batch: ``event.category`` an array in some documents and a string in
    others (in no particular order). The rows are parted by how the text writes the field
    instead of being split down to Python: none goes to Python, the columns are the reference's."""
    rng = random.Random(11)
    docs = []
    for k in range(3000):
        doc = _regular_doc(rng, k)
        doc["unrelated"] = {"z": k}
        if rng.random() < 0.4:
            doc["event"]["category"] = doc["event"]["category"][0]
        docs.append(doc)
    builder = RowBuilder(DEFAULT)
    builder.add_texts(_texts(docs))
    stats = builder._text.stats
    assert stats["python_rows"] == 0 and stats["parses"] < 20, stats
    _same_from_texts(DEFAULT, docs)


def test_text_path_names_a_text_that_is_not_json(tmp_path: Path) -> None:
    """``append_texts`` is given the JSON of one object per text; a text that is not JSON fails
    the append with its number in the batch, and nothing is written."""
    from vigil.store import open_store
    from vigil.store.errors import StoreError
    from vigil.store.writer import append_texts

    open_store(tmp_path / "s").close()
    rows = [("logs-a", f"e{k}", orjson.dumps(_regular_doc(random.Random(k), k))) for k in range(5)]
    rows.insert(3, ("logs-a", "bad", b'{"@timestamp": "2024-05-01T00:00:00Z", "x": tru}'))
    with pytest.raises(StoreError, match="document 4 of the batch is not JSON"):
        append_texts(tmp_path / "s", rows)
    with open_store(tmp_path / "s") as store:
        assert list(store.events()) == []


def test_dotted_key_search_engines_agree_on_random_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hyperscan and the regexes mark the same rows, over seeded random texts made of the
    pieces that matter (dots, quotes, escapes, colons, blanks), each row alone; in a batch,
    Hyperscan marks exactly the rows it marks alone (the regexes may also mark a row whose
    quote the next row's colon follows, which is not JSON either way)."""
    from vigil.sources import scan as scan_module
    from vigil.store.textcols import TextColumns

    rng = random.Random(7)
    pieces = [
        b".",
        b'"',
        b"\\",
        b"\\\\",
        b'\\"',
        b":",
        b" ",
        b"\t",
        b"a",
        b"{",
        b"}",
        b",",
        b"\\u002e",
        b"1.5",
    ]
    texts = [b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 24))) for _ in range(3000)]
    texts = [t.replace(b"\n", b"") for t in texts]
    cols = TextColumns(RowBuilder(DEFAULT))
    alone = {}
    for engine in ("re", "hyperscan"):
        monkeypatch.setattr(scan_module, "_NO_HYPERSCAN", engine != "hyperscan")
        alone[engine] = {j for j, t in enumerate(texts) if cols._suspects([t])}
    assert alone["hyperscan"] == alone["re"]
    assert cols._suspects(texts) == alone["hyperscan"]
    assert 100 < len(alone["re"]) < 2900  # the texts exercise both answers


def test_repeated_strings_converted_once_give_the_reference_columns() -> None:
    """Strings the per-value code converts (addresses, booleans written as strings) are
    converted once per distinct value and remembered across batches: valid, invalid and mapped
    addresses and good and bad booleans (flagged), repeated, in several batches, give the
    reference's columns and flags."""
    rng = random.Random(11)
    addresses = [
        "10.0.0.1",
        "1.2.3.4",
        "::ffff:1.2.3.4",
        "2001:DB8::1",
        "010.1.1.1",
        "not-an-ip",
        "256.1.1.1",
    ]
    docs = [
        {
            "@timestamp": "2024-05-01T00:00:00Z",
            "source": {"ip": rng.choice(addresses)},
            "destination": {"ip": rng.choice([*addresses, None])},
            "process": {"code_signature": {"trusted": rng.choice(["true", "false", "maybe", ""])}},
        }
        for _ in range(900)
    ]
    _same_from_texts(DEFAULT, docs, chunk=300)


@pytest.mark.parametrize(
    "text",
    [
        "10.0.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "256.1.1.1",
        "010.1.1.1",
        "1.2.3",
        "::ffff:1.2.3.4",
        "2001:DB8::1",
        "::1",
        "no-ip",
        "1.2.3.4 ",
        "1.2.3.4%eth0",
        "",
    ],
)
def test_ip_key_is_the_sort_key_of_the_parsed_address(text: str) -> None:
    from vigil.ecs import values
    from vigil.store import columns

    columns._IP_KEYS.clear()
    addr = values.parse_ip(text)
    assert ip_key(text) == (None if addr is None else values.ip_sort_key(addr))


def test_store_api_imported_on_first_use() -> None:
    """A hunt's workers use the store's JSON-text parser alone: importing it does not import
    DuckDB (the store's API is imported on first use), and every public name still resolves."""
    import subprocess
    import sys

    code = (
        "import sys, vigil.store.textcols; assert 'duckdb' not in sys.modules, 'duckdb imported';"
        "import vigil.store as s; [getattr(s, n) for n in s.__all__];"
        "assert 'duckdb' in sys.modules; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    import vigil.store

    with pytest.raises(AttributeError):
        vigil.store.no_such_name  # noqa: B018
