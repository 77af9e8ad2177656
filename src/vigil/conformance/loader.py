"""Load Elasticsearch's EQL QA suite (specs, mappings, data) as its Java harness does.

The files are read from a directory given at run time (they are Elastic License 2.0 and never
live in this repository). The directory's README.md is the specification followed here:

* §2: each index = a mapping file (``#`` lines dropped, the random keyword placeholder read as
  ``keyword``) plus a JSON array of documents (``//`` comment lines allowed), with the *millis*
  or *nanos* transform of the Endgame FILETIME timestamps; fields the mapping lacks are typed by
  Elasticsearch's dynamic mapping, including its date detection;
* §3: the table of suites (files loaded together, index pattern, tiebreaker, id field), defined
  in code below and cross-checked against ``suites.json`` when that file is present;
* §4: the TOML spec keys, with the bare ``null`` of ``join_keys`` arrays read as ``"null"``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from vigil.ecs.schema import FieldSpec, FieldType, Schema, SchemaRegistry
from vigil.errors import ConformanceError, Location

# --------------------------------------------------------------------------- suite table (README §2, §3)

MILLIS = "filetime_to_epoch_millis"
NANOS = "filetime_digits_as_epoch_nanos"


@dataclass(frozen=True)
class IndexDef:
    """One index of README §2: its mapping file, data file candidates and transform."""

    name: str
    mapping: str
    data: tuple[str, ...]  # first existing file wins (endgame-140.data is saved as test_data.json)
    transform: str | None = None


@dataclass(frozen=True)
class SuiteDef:
    """One Java test class of README §3."""

    name: str
    files: tuple[str, ...]
    indices: tuple[str, ...]
    tiebreaker_field: str | None
    id_field: str

    @property
    def index_pattern(self) -> str:
        """The index pattern the harness sends (``sample1,sample2,sample3``)."""
        return ",".join(self.indices)


_ENDGAME_DATA = ("data/endgame-140.data", "test_data.json")

INDICES: dict[str, IndexDef] = {
    d.name: d
    for d in (
        IndexDef("endgame-140", "data/endgame-140.mapping", _ENDGAME_DATA, MILLIS),
        IndexDef("endgame-140-nanos", "data/endgame-140-nanos.mapping", _ENDGAME_DATA, NANOS),
        IndexDef("extra", "data/extra.mapping", ("data/extra.data",)),
        IndexDef("sample1", "data/sample1.mapping", ("data/sample1.data",)),
        IndexDef("sample2", "data/sample2.mapping", ("data/sample2.data",)),
        IndexDef("sample3", "data/sample3.mapping", ("data/sample3.data",)),
        IndexDef("missing-events", "data/missing-events.mapping", ("data/missing-events.data",)),
        IndexDef("sample-multi", "data/sample-multi.mapping", ("data/sample-multi.data",)),
        IndexDef(
            "endgame-shard-failures",
            "data/endgame-shard-failures.mapping",
            ("data/endgame-shard-failures.data",),
            MILLIS,
        ),
    )
}

SUITES: tuple[SuiteDef, ...] = (
    SuiteDef(
        "EqlSpecTestCase",
        ("test_queries.toml", "additional_test_queries.toml", "test_queries_date.toml"),
        ("endgame-140",),
        "serial_event_id",
        "serial_event_id",
    ),
    SuiteDef(
        "EqlDateNanosSpecTestCase",
        ("test_queries_date_nanos.toml", "test_queries.toml"),
        ("endgame-140-nanos",),
        "serial_event_id",
        "serial_event_id",
    ),
    SuiteDef("EqlExtraSpecTestCase", ("test_extra.toml",), ("extra",), "sequence", "sequence"),
    SuiteDef(
        "EqlMissingEventsSpecTestCase",
        ("test_missing_events.toml",),
        ("missing-events",),
        "sequence",
        "sequence",
    ),
    SuiteDef("EqlSampleTestCase", ("test_sample.toml",), ("sample1", "sample2", "sample3"), None, "id"),
    SuiteDef("EqlSampleMultipleEntriesTestCase", ("test_sample_multi.toml",), ("sample-multi",), None, "id"),
    SuiteDef(
        "EqlSpecFailingShardsTestCase",
        ("test_failing_shards.toml",),
        ("endgame-140", "endgame-shard-failures"),
        "serial_event_id",
        "serial_event_id",
    ),
)

SUITES_BY_NAME: dict[str, SuiteDef] = {s.name: s for s in SUITES}

# --------------------------------------------------------------------------- mappings

# What the harness substitutes at random with `keyword` or `wildcard`; both are exact-match strings.
RANDOM_KEYWORD_PLACEHOLDER = "[runtime_random_keyword_type]"

_TYPES: dict[str, FieldType] = {
    **dict.fromkeys(("keyword", "wildcard", "constant_keyword", "match_only_text"), FieldType.KEYWORD),
    "text": FieldType.TEXT,
    **dict.fromkeys(("long", "integer", "short", "byte", "unsigned_long"), FieldType.LONG),
    **dict.fromkeys(("double", "float", "half_float", "scaled_float"), FieldType.DOUBLE),
    "boolean": FieldType.BOOLEAN,
    "ip": FieldType.IP,
    "date": FieldType.DATE,
    "date_nanos": FieldType.DATE_NANOS,
    "version": FieldType.VERSION,
    "object": FieldType.OBJECT,
}

# Dynamic mapping gives every unmapped string a keyword sub-field with this limit.
DYNAMIC_IGNORE_ABOVE = 256


@dataclass(frozen=True)
class Mapping:
    """A parsed mapping file: the schema and the names of its runtime fields."""

    schema: Schema
    runtime_fields: frozenset[str]


def parse_mapping(text: str, *, index: str, file: str | None = None) -> Mapping:
    """Read a ``.mapping`` file's text into a :class:`Schema` named ``index``.

    ``#`` lines are dropped (kept as empty lines so JSON errors point at the right line); the
    random keyword placeholder becomes ``keyword``. A ``text`` field takes the ``ignore_above``
    of its exact-match sub-field; multi-fields are not listed themselves because they read their
    parent's source value.
    """
    lines = ["" if line.lstrip().startswith("#") else line for line in text.splitlines()]
    cleaned = "\n".join(lines).replace(RANDOM_KEYWORD_PLACEHOLDER, "keyword")
    try:
        body = json.loads(cleaned)
    except json.JSONDecodeError as exc:
        raise ConformanceError(f"invalid mapping JSON: {exc.msg}", _loc(exc.lineno, exc.colno, file)) from exc
    if not isinstance(body, dict):
        raise ConformanceError("a mapping must be a JSON object", _loc(1, 1, file))
    if "mappings" in body:  # tolerate the create-index wrapper
        body = body["mappings"]
    # strict: as in Elasticsearch, the mapping (plus dynamic mapping) knows every field of the data
    schema = Schema(name=index, strict=True)
    _read_properties(body.get("properties", {}), "", schema, file)
    runtime: set[str] = set()
    for name, spec in body.get("runtime", {}).items():
        schema.fields[name] = FieldSpec(type=_field_type(spec.get("type"), name, file))
        runtime.add(name)
    return Mapping(schema=schema, runtime_fields=frozenset(runtime))


def _read_properties(props: dict[str, Any], prefix: str, schema: Schema, file: str | None) -> None:
    for name, spec in props.items():
        path = prefix + name
        if not isinstance(spec, dict):
            raise ConformanceError(f"mapping of field {path!r} is not an object", _loc(1, 1, file))
        declared = spec.get("type")
        if declared == "alias":
            schema.aliases[path] = spec["path"]
            continue
        if declared in (None, "object", "nested"):
            schema.fields[path] = FieldSpec(type=FieldType.OBJECT)
            _read_properties(spec.get("properties", {}), path + ".", schema, file)
            continue
        ftype = _field_type(declared, path, file)
        ignore_above = spec.get("ignore_above")
        if ftype is FieldType.TEXT:
            for sub in spec.get("fields", {}).values():
                if _TYPES.get(sub.get("type")) is FieldType.KEYWORD:
                    ignore_above = sub.get("ignore_above")
                    break
        formats: tuple[str, ...] = ()
        if ftype in (FieldType.DATE, FieldType.DATE_NANOS) and "format" in spec:
            formats = tuple(f.strip() for f in str(spec["format"]).split("||"))
        schema.fields[path] = FieldSpec(
            type=ftype, null_value=spec.get("null_value"), date_formats=formats, ignore_above=ignore_above
        )


def _field_type(declared: Any, path: str, file: str | None) -> FieldType:
    ftype = _TYPES.get(declared) if isinstance(declared, str) else None
    if ftype is None:
        message = f"field {path!r} has an unsupported mapping type {declared!r}"
        raise ConformanceError(message, _loc(1, 1, file))
    return ftype


# --------------------------------------------------------------------------- dynamic mapping

# Elasticsearch's default dynamic_date_formats: strict_date_optional_time, then
# "yyyy/MM/dd HH:mm:ss||yyyy/MM/dd". Strings that parse as a long or a double are never tried
# (they would read as epoch_millis or a bare year), so "1" or "10" stay text.
_ISO_DATE = re.compile(
    r"(?P<y>[+-]?\d{4,9})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2})(?::(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,]\d{1,9})?)?)?"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?"
)
_SLASH_DATE = re.compile(
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})(?: (?P<H>\d{2}):(?P<M>\d{2}):(?P<S>\d{2}))?"
)
_SLASH_FORMATS = ("yyyy/MM/dd HH:mm:ss", "yyyy/MM/dd", "epoch_millis")


def detect_date(text: str) -> tuple[str, ...] | None:
    """The date formats ES's dynamic date detection would map ``text`` with, or None.

    ``()`` means the default format (``strict_date_optional_time||epoch_millis``).
    """
    if _is_number(text):
        return None
    for pattern, formats in ((_ISO_DATE, ()), (_SLASH_DATE, _SLASH_FORMATS)):
        m = pattern.fullmatch(text)
        if m and _valid_parts(m):
            return formats
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)  # close enough to Java's Long/Double.parseXxx for the "is numeric" test
    except ValueError:
        return False
    return True


def _valid_parts(m: re.Match[str]) -> bool:
    parts = m.groupdict()
    try:
        date(max(1, min(int(parts["y"]), 9999)), int(parts["m"] or 1), int(parts["d"] or 1))
    except ValueError:
        return False
    limits = {"H": 23, "M": 59, "S": 59}
    return all(parts.get(k) is None or int(parts[k]) <= hi for k, hi in limits.items())


def apply_dynamic_mapping(schema: Schema, documents: list[dict[str, Any]]) -> None:
    """Add the fields Elasticsearch's dynamic mapping would create while indexing ``documents``.

    The first non-null value of a field decides its type, as at index time: integers ``long``,
    floats ``double`` (ES says ``float``; the engine has one floating type), booleans
    ``boolean``, objects ``object`` (recursed), strings ``date`` when date detection accepts
    them and otherwise ``text`` with a keyword sub-field capped at 256. Nulls and empty arrays
    create nothing. Dotted keys are object paths.
    """
    for doc in documents:
        _map_object(schema, doc, "")


def _map_object(schema: Schema, obj: dict[str, Any], prefix: str) -> None:
    for key, value in obj.items():
        parts = key.split(".")
        # A dotted key ("process.pid") introduces its parent objects, as an object path does.
        for i in range(1, len(parts)):
            parent = prefix + ".".join(parts[:i])
            if parent not in schema.fields and parent not in schema.aliases:
                schema.fields[parent] = FieldSpec(type=FieldType.OBJECT)
        _map_value(schema, prefix + key, value)


def _map_value(schema: Schema, path: str, value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _map_value(schema, path, item)
        return
    if value is None:
        return
    known = path in schema.fields or path in schema.aliases
    if isinstance(value, dict):
        if not known:
            schema.fields[path] = FieldSpec(type=FieldType.OBJECT)
        _map_object(schema, value, path + ".")
        return
    if known:
        return
    if isinstance(value, bool):  # before int: bool is an int subclass
        schema.fields[path] = FieldSpec(type=FieldType.BOOLEAN)
    elif isinstance(value, int):
        schema.fields[path] = FieldSpec(type=FieldType.LONG)
    elif isinstance(value, float):
        schema.fields[path] = FieldSpec(type=FieldType.DOUBLE)
    elif isinstance(value, str):
        formats = detect_date(value)
        if formats is not None:
            schema.fields[path] = FieldSpec(type=FieldType.DATE, date_formats=formats)
        else:
            schema.fields[path] = FieldSpec(type=FieldType.TEXT, ignore_above=DYNAMIC_IGNORE_ABOVE)


# --------------------------------------------------------------------------- documents and transforms


def parse_documents(text: str, *, file: str | None = None) -> list[dict[str, Any]]:
    """Read a ``.data`` file: a JSON array of documents, with ``//`` comment lines allowed.

    Comment lines become empty lines so JSON error positions stay right.
    """
    lines = ["" if line.lstrip().startswith("//") else line for line in text.splitlines()]
    try:
        docs = json.loads("\n".join(lines))
    except json.JSONDecodeError as exc:
        raise ConformanceError(f"invalid data JSON: {exc.msg}", _loc(exc.lineno, exc.colno, file)) from exc
    if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
        raise ConformanceError("a data file must be a JSON array of objects", _loc(1, 1, file))
    return docs


# Milliseconds between 1601-01-01 (FILETIME epoch) and 1970-01-01.
_FILETIME_EPOCH_OFFSET_MS = 11_644_473_600_000


def filetime_to_epoch_millis(doc: dict[str, Any]) -> dict[str, Any]:
    """Transform *millis*: add ``@timestamp = floor(timestamp / 10000) - 11644473600000``."""
    out = dict(doc)
    out["@timestamp"] = _filetime(doc) // 10_000 - _FILETIME_EPOCH_OFFSET_MS
    return out


def filetime_digits_as_epoch_nanos(doc: dict[str, Any]) -> dict[str, Any]:
    """Transform *nanos*: reread the FILETIME digits as epoch nanoseconds.

    ``@timestamp`` becomes ``"<12 digits>"`` or ``"<12 digits>.<6 digits>"`` (epoch millis
    with a fraction, parsed by a ``date_nanos`` field); ``timestamp`` becomes ``timestamp //
    1_000_000`` (epoch millis).
    """
    ts = _filetime(doc)
    digits = str(ts)
    if len(digits) != 18:
        # The harness cuts the decimal string at 12 digits; other lengths would mean other data.
        raise ConformanceError(f"timestamp {ts} does not have the 18 digits the nanos transform expects")
    millis, fraction = digits[:12], digits[12:]
    out = dict(doc)
    out["@timestamp"] = millis if fraction == "000000" else f"{millis}.{fraction}"
    out["timestamp"] = ts // 1_000_000
    return out


def _filetime(doc: dict[str, Any]) -> int:
    ts = doc.get("timestamp")
    if not isinstance(ts, int) or isinstance(ts, bool):
        raise ConformanceError(f"document has no integer 'timestamp' to transform: {ts!r}")
    return ts


TRANSFORMS = {MILLIS: filetime_to_epoch_millis, NANOS: filetime_digits_as_epoch_nanos}


@dataclass(frozen=True)
class LoadedIndex:
    """An index ready to query: typed schema, transformed documents, runtime field names."""

    name: str
    schema: Schema
    documents: tuple[dict[str, Any], ...]
    runtime_fields: frozenset[str] = frozenset()


def build_index(
    name: str,
    mapping_text: str,
    documents: list[dict[str, Any]],
    *,
    transform: str | None = None,
    mapping_file: str | None = None,
) -> LoadedIndex:
    """Build an index from a mapping text and raw documents (transform, then dynamic mapping)."""
    mapping = parse_mapping(mapping_text, index=name, file=mapping_file)
    if transform is not None:
        if transform not in TRANSFORMS:
            raise ConformanceError(f"unknown transform {transform!r} for index {name}")
        documents = [TRANSFORMS[transform](d) for d in documents]
    apply_dynamic_mapping(mapping.schema, documents)
    return LoadedIndex(name, mapping.schema, tuple(documents), mapping.runtime_fields)


def load_index(directory: Path, name: str) -> LoadedIndex:
    """Load one index of README §2 from ``directory``."""
    return _load_index_cached(str(Path(directory).resolve()), name)


@functools.lru_cache(maxsize=64)
def _load_index_cached(directory: str, name: str) -> LoadedIndex:
    definition = INDICES.get(name)
    if definition is None:
        raise ConformanceError(f"unknown index {name!r}")
    root = Path(directory)
    mapping_path = root / definition.mapping
    data_path = next((root / p for p in definition.data if (root / p).is_file()), None)
    if data_path is None:
        raise ConformanceError(f"no data file for index {name}: looked for {', '.join(definition.data)}")
    mapping_text = _read_text(mapping_path)
    documents = parse_documents(_read_text(data_path), file=str(data_path))
    return build_index(
        name, mapping_text, documents, transform=definition.transform, mapping_file=str(mapping_path)
    )


# --------------------------------------------------------------------------- TOML specs


@dataclass(frozen=True)
class Spec:
    """One ``[[queries]]`` entry, with where it stands.

    ``expected`` holds one tuple per acceptable answer: a flat ``expected_event_ids`` gives one
    alternative, a list of lists gives several (any one must match).
    """

    file: str
    line: int
    name: str
    query: str
    expected: tuple[tuple[int, ...], ...]
    any_of: bool = False
    join_keys: tuple[str, ...] = ()
    size: int | None = None
    max_samples_per_key: int | None = None
    allow_partial_search_results: bool | None = None
    allow_partial_sequence_results: bool | None = None
    expect_shard_failures: bool | None = None
    erratum: str = ""  # why the query differs from the stored file (see ERRATA), empty when not

    @property
    def expected_ids(self) -> list[int] | list[list[int]]:
        """``expected_event_ids`` as written: a flat list, or a list of alternatives."""
        if self.any_of:
            return [list(alt) for alt in self.expected]
        return list(self.expected[0])


_HEADER = re.compile(r"\[\[\s*queries\s*\]\]\s*(#.*)?")
_JOIN_KEYS = re.compile(r"join_keys\s*=")
_NULL = re.compile(r"null\b")


def preprocess_toml(text: str) -> tuple[str, list[int]]:
    """Make the spec TOML valid and find its ``[[queries]]`` header lines.

    Inside ``join_keys`` arrays a bare ``null`` (invalid TOML) becomes ``"null"``, which is what
    the Java harness compares it with. Strings and comments are skipped so a ``null`` in a
    query is never touched; the line count is unchanged.
    """
    out: list[str] = []
    headers: list[int] = []
    i, n, line = 0, len(text), 1
    at_line_start = True
    join_depth = 0  # bracket depth inside a join_keys array, 0 outside
    while i < n:
        c = text[i]
        if at_line_start and c not in " \t":
            at_line_start = False
            if join_depth == 0:
                eol = text.find("\n", i)
                rest = text[i : n if eol < 0 else eol]
                if _HEADER.fullmatch(rest.rstrip()):
                    headers.append(line)
                m = _JOIN_KEYS.match(text, i)
                if m:
                    out.append(m.group(0))
                    i = m.end()
                    join_depth = -1  # waiting for the opening bracket
                    continue
        if c == "\n":
            out.append(c)
            line += 1
            at_line_start = True
            i += 1
            continue
        if c == "#":
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(text[i:end])
            i = end
            continue
        if c in "'\"":
            end = _string_end(text, i)
            chunk = text[i:end]
            out.append(chunk)
            line += chunk.count("\n")
            i = end
            continue
        if join_depth != 0:
            if c == "[":
                join_depth = 1 if join_depth < 0 else join_depth + 1
            elif c == "]":
                join_depth -= 1
            elif join_depth > 0 and _NULL.match(text, i) and not _is_word_char(text[i - 1]):
                out.append('"null"')
                i += 4
                continue
        out.append(c)
        i += 1
    return "".join(out), headers


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def _string_end(text: str, i: int) -> int:
    """Index just past the TOML string that starts at ``i`` (end of text when unterminated,
    which tomllib then reports)."""
    quote = text[i]
    triple = text.startswith(quote * 3, i)
    delim = quote * 3 if triple else quote
    j = i + len(delim)
    while j < len(text):
        ch = text[j]
        if quote == '"' and ch == "\\":
            j += 2
            continue
        if not triple and ch == "\n":
            return j
        if text.startswith(delim, j):
            j += len(delim)
            # up to two quotes right before a closing triple belong to the content
            extra = 0
            while triple and extra < 2 and j < len(text) and text[j] == quote:
                j += 1
                extra += 1
            return j
        j += 1
    return len(text)


def parse_specs(text: str, *, file: str) -> list[Spec]:
    """Parse one spec file's text into :class:`Spec` entries (query trimmed, as sent to ES)."""
    fixed, headers = preprocess_toml(text)
    try:
        data = tomllib.loads(fixed)
    except tomllib.TOMLDecodeError as exc:
        raise ConformanceError(f"invalid TOML: {exc}", Location(1, 1, file=file)) from exc
    entries = data.get("queries", [])
    if not isinstance(entries, list):
        raise ConformanceError("'queries' must be an array of tables", Location(1, 1, file=file))
    if len(entries) != len(headers):
        raise ConformanceError(
            f"found {len(headers)} [[queries]] headers but TOML gave {len(entries)} entries",
            Location(1, 1, file=file),
        )
    return [_spec(entry, file, line) for entry, line in zip(entries, headers, strict=True)]


def _spec(entry: dict[str, Any], file: str, line: int) -> Spec:
    where = Location(line, 1, file=file)

    def need(key: str, kind: type | tuple[type, ...]) -> Any:
        if key not in entry:
            raise ConformanceError(f"spec has no {key!r}", where)
        return typed(key, kind)

    def typed(key: str, kind: type | tuple[type, ...]) -> Any:
        value = entry.get(key)
        if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            raise ConformanceError(f"{key!r} has the wrong type: {value!r}", where)
        return value

    name = need("name", str)
    query = need("query", str).strip()
    raw_ids = need("expected_event_ids", list)
    any_of = bool(raw_ids) and all(isinstance(x, list) for x in raw_ids)
    alternatives = raw_ids if any_of else [raw_ids]
    for alt in alternatives:
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in alt):
            raise ConformanceError(
                f"spec {name}: expected_event_ids must be a list of longs or a list of lists", where
            )
    join_keys = typed("join_keys", list) or []
    if not all(isinstance(k, str) for k in join_keys):
        raise ConformanceError(f"spec {name}: join_keys must hold strings (or bare null)", where)
    return Spec(
        file=file,
        line=line,
        name=name,
        query=query,
        expected=tuple(tuple(alt) for alt in alternatives),
        any_of=any_of,
        join_keys=tuple(join_keys),
        size=typed("size", int),
        max_samples_per_key=typed("max_samples_per_key", int),
        allow_partial_search_results=typed("allow_partial_search_results", bool),
        allow_partial_sequence_results=typed("allow_partial_sequence_results", bool),
        expect_shard_failures=typed("expect_shard_failures", bool),
    )


def check_unique_names(specs: list[Spec], suite: str) -> None:
    """Reject a suite whose files share a spec name (the Java loader does the same)."""
    seen: dict[str, Spec] = {}
    for spec in specs:
        first = seen.setdefault(spec.name, spec)
        if first is not spec:
            raise ConformanceError(
                f"duplicate spec name {spec.name!r} in suite {suite} (first at {first.file}:{first.line})",
                Location(spec.line, 1, file=spec.file),
            )


@dataclass(frozen=True)
class Erratum:
    """An upstream fix to a spec that the stored copy predates: ``old`` becomes ``new`` in the
    query. It applies only while the stored query still contains ``old``, so a refreshed copy of
    the file makes it a no-op."""

    file: str
    name: str
    old: str
    new: str
    reason: str


ERRATA: tuple[Erratum, ...] = (
    Erratum(
        "test_queries.toml",
        "sequencesOnDifferentEventTypes7",
        "maxspan=500ms",
        "maxspan=50ms",
        "elastic/elasticsearch#76953 changed maxspan=500ms to 50ms when test_queries.toml started to "
        "run on endgame-140-nanos too (durations there shrink 100x, so 67..70 span 50.86 ms); "
        "the stored copy predates that change",
    ),
)


def apply_errata(specs: list[Spec], errata: tuple[Erratum, ...] = ERRATA) -> list[Spec]:
    """The specs with every applicable :class:`Erratum` applied (and recorded on the spec)."""
    out = []
    for spec in specs:
        for e in errata:
            if e.file == spec.file and e.name == spec.name and e.old in spec.query:
                spec = dataclasses.replace(
                    spec, query=spec.query.replace(e.old, e.new), erratum=f"{e.old} -> {e.new}: {e.reason}"
                )
        out.append(spec)
    return out


def load_spec_file(directory: Path, name: str) -> list[Spec]:
    """Parse one spec file of the suite directory (errata applied); ``file`` of each spec is its
    bare name."""
    return list(_load_spec_file_cached(str(Path(directory).resolve()), name))


@functools.lru_cache(maxsize=64)
def _load_spec_file_cached(directory: str, name: str) -> tuple[Spec, ...]:
    return tuple(apply_errata(parse_specs(_read_text(Path(directory) / name), file=name)))


# --------------------------------------------------------------------------- suites


@dataclass(frozen=True)
class LoadedSuite:
    """A suite ready to run: its definition, specs, indices and the schema registry."""

    definition: SuiteDef
    specs: tuple[Spec, ...]
    indices: tuple[LoadedIndex, ...]
    registry: SchemaRegistry

    @property
    def name(self) -> str:
        """The Java class name of the suite."""
        return self.definition.name


def make_suite(definition: SuiteDef, specs: list[Spec], indices: list[LoadedIndex]) -> LoadedSuite:
    """Assemble a suite from loaded parts (checks unique names, builds the registry)."""
    check_unique_names(specs, definition.name)
    registry = SchemaRegistry(default=Schema(), per_index={ix.name: ix.schema for ix in indices})
    return LoadedSuite(definition, tuple(specs), tuple(indices), registry)


def load_suite(directory: Path, name: str) -> LoadedSuite:
    """Load a suite of README §3 (cached per directory and suite)."""
    return _load_suite_cached(str(Path(directory).resolve()), name)


@functools.lru_cache(maxsize=32)
def _load_suite_cached(directory: str, name: str) -> LoadedSuite:
    definition = SUITES_BY_NAME.get(name)
    if definition is None:
        raise ConformanceError(f"unknown suite {name!r}; known: {', '.join(SUITES_BY_NAME)}")
    root = Path(directory)
    specs = [spec for f in definition.files for spec in load_spec_file(root, f)]
    indices = [load_index(root, ix) for ix in definition.indices]
    return make_suite(definition, specs, indices)


def check_suites_json(directory: Path) -> None:
    """Cross-check the code's suite table against ``suites.json`` (when the file exists)."""
    path = Path(directory) / "suites.json"
    if not path.is_file():
        return
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise ConformanceError(f"invalid JSON: {exc.msg}", _loc(exc.lineno, exc.colno, str(path))) from exc
    problems: list[str] = []
    indices = data.get("indices", {})
    if set(indices) != set(INDICES):
        problems.append(f"indices differ: {sorted(indices)} vs {sorted(INDICES)}")
    for name, entry in indices.items():
        known = INDICES.get(name)
        if known is None:
            continue
        if entry.get("mapping") != known.mapping:
            problems.append(f"{name}: mapping {entry.get('mapping')} vs {known.mapping}")
        if entry.get("data") not in known.data:
            problems.append(f"{name}: data {entry.get('data')} not in {known.data}")
        if entry.get("transform") != known.transform:
            problems.append(f"{name}: transform {entry.get('transform')} vs {known.transform}")
    suites = {s.get("name"): s for s in data.get("suites", [])}
    if set(suites) != set(SUITES_BY_NAME):
        problems.append(f"suites differ: {sorted(suites)} vs {sorted(SUITES_BY_NAME)}")
    for name, entry in suites.items():
        known_suite = SUITES_BY_NAME.get(name)
        if known_suite is None:
            continue
        actual = (
            tuple(entry.get("files", ())),
            entry.get("index"),
            entry.get("tiebreaker_field"),
            entry.get("id_field"),
        )
        expected = (
            known_suite.files,
            known_suite.index_pattern,
            known_suite.tiebreaker_field,
            known_suite.id_field,
        )
        if actual != expected:
            problems.append(f"{name}: {actual} vs {expected}")
    if problems:
        raise ConformanceError("suites.json disagrees with the harness table: " + "; ".join(problems))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConformanceError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _loc(line: int, column: int, file: str | None) -> Location:
    return Location(line, column, file=file)
