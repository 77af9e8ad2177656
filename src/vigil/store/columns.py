"""The columns of the event store: which ECS fields are kept typed, and how a document fills them.

Every stored event is one row:

* ``__seq``   int64   global ingestion sequence number (input order across every append)
* ``__id``    string  the event's id (the one the plain reader gives it: alert ids match)
* ``__index`` string  the event's index
* ``__ts``    int64   ``@timestamp`` in epoch nanoseconds as the evaluator reads it (a ``date``
  keeps milliseconds), the smallest one when the document holds several; null when absent
* ``__doc``   binary  the ``_source`` document: JSON text, each compressed alone with zstd
  (with the store's dictionary when it has one), so one document is read without the others
* ``__irrN``  int64   bit flags, one per hot field: "this value did not fit the column"
* one typed column per *hot field*, named by its dotted path.

A hot field's column holds exactly what the evaluator's field reader gives for the field (the same
:func:`vigil.engine.typed.make_field_reader`, with the field's mapping): null when the field is
missing or null, the coerced value otherwise (a ``long`` given ``"445"`` holds 445, an ``ip`` its
16-byte form). A value that does not fit (several values in a single-valued column, a number in a
dynamic field kept as text, ...) leaves the column null and sets the field's flag bit: push-down
always keeps flagged rows for predicates on that field, so an irregular value never loses a match.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from vigil.ecs import values
from vigil.ecs.ecs_schema import ecs_schema
from vigil.ecs.fields import MISSING
from vigil.ecs.schema import FieldSpec, FieldType, Schema
from vigil.engine.typed import _fast_utc, make_field_reader

SEQ, ID, INDEX, TS, DOC = "__seq", "__id", "__index", "__ts", "__doc"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
FLAG_BITS = 63  # flag bits per ``__irrN`` column (int64, sign bit unused)
#: Names a hot field may not take (system columns, and the columns DuckDB adds to a scan).
RESERVED = frozenset({"filename", "file_index", "file_row_number"})


class Storage(enum.Enum):
    """How a hot field's values are stored."""

    STRING = "string"
    LONG = "long"
    DOUBLE = "double"
    BOOL = "bool"
    DATE = "date"  # int64 epoch nanoseconds
    IP = "ip"  # 16 bytes: IPv6, IPv4 as IPv4-mapped (sorts and ranges like Elasticsearch's ip)


_STORAGE = {
    FieldType.KEYWORD: Storage.STRING,
    FieldType.TEXT: Storage.STRING,
    FieldType.LONG: Storage.LONG,
    FieldType.DOUBLE: Storage.DOUBLE,
    FieldType.BOOLEAN: Storage.BOOL,
    FieldType.DATE: Storage.DATE,
    FieldType.DATE_NANOS: Storage.DATE,
    FieldType.IP: Storage.IP,
}

_ARROW = {
    Storage.STRING: pa.string(),
    Storage.LONG: pa.int64(),
    Storage.DOUBLE: pa.float64(),
    Storage.BOOL: pa.bool_(),
    Storage.DATE: pa.int64(),
    Storage.IP: pa.binary(16),
}

_PYTHON: dict[Storage, type] = {
    Storage.STRING: str,
    Storage.LONG: int,
    Storage.DOUBLE: float,
    Storage.BOOL: bool,
    Storage.DATE: int,
    Storage.IP: str,
}


@dataclass(frozen=True)
class HotField:
    """A field kept as a typed column. ``spec`` is the mapping its values are coerced with
    (None: a dynamic field, kept when its values are strings); ``many`` keeps every value of a
    multi-valued field as a list (``event.category``), else several values flag the row."""

    path: str
    spec: FieldSpec | None = None
    many: bool = False

    @property
    def column(self) -> str:
        """The Parquet column name."""
        return TS if self.path == "@timestamp" else self.path

    @property
    def storage(self) -> Storage:
        """How the values are stored."""
        if self.spec is None:
            return Storage.STRING
        return _STORAGE[self.spec.type]

    def arrow_type(self) -> pa.DataType:
        """The Arrow type of the column."""
        base = _ARROW[self.storage]
        return pa.list_(base) if self.many else base

    def to_json(self) -> dict[str, Any]:
        """The field as stored in the manifest."""
        out: dict[str, Any] = {"path": self.path, "many": self.many}
        if self.spec is not None:
            out["type"] = self.spec.type.value
            if self.spec.null_value is not None:
                out["null_value"] = self.spec.null_value
            if self.spec.date_formats:
                out["date_formats"] = list(self.spec.date_formats)
            if self.spec.ignore_above is not None:
                out["ignore_above"] = self.spec.ignore_above
        return out

    @staticmethod
    def from_json(data: dict[str, Any]) -> HotField:
        """The inverse of :meth:`to_json`."""
        spec = None
        if "type" in data:
            spec = FieldSpec(
                FieldType(data["type"]),
                null_value=data.get("null_value"),
                date_formats=tuple(data.get("date_formats") or ()),
                ignore_above=data.get("ignore_above"),
            )
        return HotField(str(data["path"]), spec, bool(data.get("many", False)))


def hot_field_allowed(path: str, spec: FieldSpec | None) -> bool:
    """Whether a field can be a hot column (a storable type, a name that is not reserved)."""
    if not path or path.startswith("__") or path in RESERVED:
        return False
    return spec is None or spec.type in _STORAGE


# The hot ECS fields: what detection rules filter and join on most (the fields that at least ten of
# Elastic's public EQL rules, or of the generated benchmark rules, read).
_SCALAR_PATHS = """
@timestamp event.action event.code event.dataset event.module event.provider event.outcome event.kind
host.name host.hostname host.id host.os.type user.name user.domain user.id
process.name process.executable process.command_line process.entity_id process.pid
process.parent.name process.parent.executable process.parent.command_line process.parent.entity_id
process.parent.pid file.path file.name file.extension registry.path registry.value registry.key
destination.ip destination.port source.ip source.port network.direction network.protocol
network.transport dns.question.name winlog.event_id winlog.channel winlog.provider_name agent.type
data_stream.dataset process.pe.original_file_name process.working_directory
process.code_signature.subject_name process.code_signature.trusted process.code_signature.exists
process.parent.code_signature.trusted process.Ext.token.integrity_level_name dll.name dll.path
dns.question.registered_domain destination.domain winlog.computer_name winlog.logon.type container.id
"""
_LIST_PATHS = "event.category event.type process.args process.parent.args registry.data.strings"


def default_hot_fields() -> tuple[HotField, ...]:
    """The default hot fields, typed as the ECS schema types them."""
    schema = ecs_schema()
    out = [HotField(p, schema.spec(p)) for p in _SCALAR_PATHS.split()]
    out += [HotField(p, schema.spec(p), many=True) for p in _LIST_PATHS.split()]
    return tuple(out)


def hot_fields_for(schemas: Iterable[Schema], base: Sequence[HotField] | None = None) -> tuple[HotField, ...]:
    """``base`` (default: :func:`default_hot_fields`) plus every storable field the schemas map,
    typed by the first schema that maps it: a store for data whose mappings are known."""
    out = list(default_hot_fields() if base is None else base)
    seen = {f.path for f in out}
    for schema in schemas:
        for path, spec in schema.fields.items():
            if path not in seen and hot_field_allowed(path, spec):
                seen.add(path)
                out.append(HotField(path, spec))
    return tuple(out)


def with_timestamp(fields: Sequence[HotField]) -> tuple[HotField, ...]:
    """``fields`` with ``@timestamp`` first (the ``__ts`` column), typed as ECS types it when
    ``fields`` does not name it."""
    out = [f for f in fields if f.path == "@timestamp"] or [
        HotField("@timestamp", ecs_schema().spec("@timestamp"))
    ]
    return (out[0], *(f for f in fields if f.path != "@timestamp"))


def schema_of(fields: Sequence[HotField]) -> Schema:
    """The mapping the hot columns are filled with."""
    return Schema(fields={f.path: f.spec for f in fields if f.spec is not None}, name="store")


def flag_column(i: int) -> tuple[str, int]:
    """The flag column and bit mask of hot field number ``i``."""
    return f"__irr{i // FLAG_BITS}", 1 << (i % FLAG_BITS)


def flag_columns(n: int) -> list[str]:
    """The flag columns of a store with ``n`` hot fields."""
    return [f"__irr{k}" for k in range((n + FLAG_BITS - 1) // FLAG_BITS)] or ["__irr0"]


_IP_KEYS: dict[str, bytes | None] = {}
_IPV4_MAPPED = b"\x00" * 10 + b"\xff\xff"


def ip_key(text: str) -> bytes | None:
    """The 16-byte form of an address (None when it is no address)."""
    key = _IP_KEYS.get(text, b"")
    if key != b"":
        return key
    plain = values.plain_ipv4(text)
    if plain is not None:
        # ip_sort_key's answer for a plain dotted address, without the ipaddress objects (most
        # addresses of a batch are such, and many are seen once)
        key = _IPV4_MAPPED + plain
    else:
        addr = values.parse_ip(text)
        key = None if addr is None else values.ip_sort_key(addr)
    if len(_IP_KEYS) > 200_000:
        _IP_KEYS.clear()
    _IP_KEYS[text] = key
    return key


def _unchanged(f: HotField) -> type | None:
    """The JSON value type the field's reader returns unchanged, if any."""
    spec = f.spec
    if spec is None:
        return str  # dynamic: strings are kept as they are (other values flag the row)
    if spec.null_value is not None or spec.ignore_above is not None:
        return None
    return {FieldType.KEYWORD: str, FieldType.TEXT: str, FieldType.LONG: int, FieldType.DOUBLE: float}.get(
        spec.type
    )


def _fast_date(f: HotField) -> bool | None:
    """For a ``date``/``date_nanos`` field read with the default formats and no ``null_value``:
    whether it keeps nanoseconds (its strings in the common UTC form are then read without the
    reader); None for any other field."""
    spec = f.spec
    if spec is None or spec.type not in (FieldType.DATE, FieldType.DATE_NANOS):
        return None
    if spec.date_formats or spec.null_value is not None or spec.ignore_above is not None:
        return None
    return spec.type is FieldType.DATE_NANOS


Trie = dict[str, tuple[int | None, "Trie"]]


def _dotted(obj: dict[str, Any], names: frozenset[str]) -> bool:
    """Whether ``obj`` has a dotted key starting with one of ``names`` (a hot path spelled in a
    way only the full readers follow)."""
    return any("." in k and k.split(".", 1)[0] in names for k in obj)


def _nested(items: list[Any]) -> bool:
    """Whether an array holds objects or arrays (only the full readers spread a path over them)."""
    for x in items:
        t = type(x)
        if t is dict or t is list:
            return True
    return False


def _compile_walk(trie: Trie) -> Callable[[dict[str, Any], list[Any]], bool]:
    """A function ``walk(doc, out) -> bool`` that puts the raw value of every hot path found in
    ``doc`` into ``out`` (by field number) and returns False when the document spells a hot path
    in a way only the full readers follow: a dotted key whose first part is a hot object or field
    at that level, or an array holding objects or arrays on a hot path.

    It is straight-line code generated for the trie, so a document costs one ``dict.get`` per
    hot key it could hold, not a walk over all of its keys."""
    names: dict[str, Any] = {"M": MISSING, "_dotted": _dotted, "_nested": _nested}
    lines = ["def walk(d0, out):"]

    def emit(node: Trie, depth: int, indent: str) -> None:
        var = f"d{depth}"
        keys = f"K{len(names)}"
        names[keys] = frozenset(node)
        lines.append(f"{indent}if '.' in ''.join({var}) and _dotted({var}, {keys}):")
        lines.append(f"{indent}    return False")
        for key, (leaf, children) in node.items():
            v = f"d{depth + 1}"
            lines.append(f"{indent}{v} = {var}.get({key!r}, M)")
            lines.append(f"{indent}if {v} is not M:")
            inner = indent + "    "
            lines.append(f"{inner}t = type({v})")
            lines.append(f"{inner}if t is list and _nested({v}):")
            lines.append(f"{inner}    return False")
            if leaf is not None:
                lines.append(f"{inner}out[{leaf}] = {v}")
            if children:
                lines.append(f"{inner}if t is dict:")
                emit(children, depth + 1, inner + "    ")

    emit(trie, 0, "    ")
    lines.append("    return True")
    exec(compile("\n".join(lines), "<vigil.store.columns walk>", "exec"), names)
    walk: Callable[[dict[str, Any], list[Any]], bool] = names["walk"]
    return walk


_BAD: Any = object()  # a value the fast column paths leave to the exact per-value code
_UNFIT: Any = object()  # a value the field's reader fails on: null in the column, flagged


def _read_safely(read: Callable[[Any], Any], doc: Any) -> Any:
    """``read(doc)``, or :data:`_UNFIT` when the reader fails on the value (an object where an
    address belongs makes the ip reader raise): one odd value must not fail a whole append."""
    try:
        return read(doc)
    except (TypeError, ValueError, ArithmeticError, RecursionError):
        return _UNFIT


def _positions(items: list[Any], marker: Any) -> list[int]:
    """Where ``marker`` is in ``items`` (found by ``list.index``: a scan in C, as the marker is
    rare)."""
    out: list[int] = []
    find = items.index
    j = -1
    try:
        while True:
            j = find(marker, j + 1)
            out.append(j)
    except ValueError:
        return out


class RowBuilder:
    """Turns documents into column values (see the module docstring).

    :meth:`add_many` converts a batch column by column; :meth:`add` one document. Both give
    exactly what the field readers give (``tests/test_store_columns.py`` checks it against them
    over generated and hand-made documents)."""

    def __init__(self, fields: Sequence[HotField]):
        self.fields = tuple(fields)
        schema = schema_of(self.fields)
        self.columns: list[list[Any]] = [[] for _ in self.fields]
        self.flags: list[int] = []
        self._readers: list[Callable[[Any], Any]] = [make_field_reader(schema, f.path) for f in self.fields]
        self._kinds = [(_PYTHON[f.storage], f.storage, f.many) for f in self.fields]
        self._ts = next((i for i, f in enumerate(self.fields) if f.path == "@timestamp"), -1)
        if self._ts < 0:
            raise ValueError("the hot fields must include @timestamp")
        # The same readers over one value (for documents read in one walk, see _compile_walk).
        self._coerce: list[Callable[[Any], Any]] = [
            make_field_reader(Schema(fields={} if f.spec is None else {"v": f.spec}), "v")
            for f in self.fields
        ]
        # The value type a reader returns as it is (no coercion, no null_value, no ignore_above).
        self._same: list[type | None] = [_unchanged(f) for f in self.fields]
        self._dates: list[bool | None] = [_fast_date(f) for f in self.fields]
        trie: Trie = {}
        for i, f in enumerate(self.fields):
            node = trie
            parts = f.path.split(".")
            for depth, part in enumerate(parts):
                leaf, children = node.get(part, (None, {}))
                node[part] = (i if depth == len(parts) - 1 else leaf, children)
                node = children
        self._trie = trie
        self._walk = _compile_walk(trie)
        self._arrays: dict[str, pa.Array | pa.ChunkedArray] | None = None  # arrays() of all rows
        # Rows already in Arrow form, before the rows in ``columns`` (see add_chunk).
        self._chunks: list[dict[str, pa.Array | pa.ChunkedArray]] = []
        self._text: Any = None  # the JSON-text path (TextColumns), made on first use

    # ------------------------------------------------------------------ reading values

    def _raw(self, doc: dict[str, Any]) -> list[Any] | None:
        """The raw value (or MISSING) of every hot path, found in one walk; None when the
        document needs the full readers (see :func:`_compile_walk`)."""
        raw: list[Any] = [MISSING] * len(self.fields)
        try:
            ok = self._walk(doc, raw)
        except (TypeError, AttributeError):  # not a JSON object (keys that are not strings)
            return None
        return raw if ok else None

    def _coerced(self, i: int, r: Any) -> Any:
        """What field ``i``'s reader gives for the raw value ``r`` found on its path."""
        if r is MISSING:
            return None
        if type(r) is self._same[i]:
            return r
        return _read_safely(self._coerce[i], {"v": r})

    def _values(self, doc: dict[str, Any]) -> list[Any]:
        """The readers' values of every hot field of a document."""
        raw = self._raw(doc)
        if raw is None:
            return [_read_safely(read, doc) for read in self._readers]
        return [self._coerced(i, r) for i, r in enumerate(raw)]

    def _column_values(self, i: int, raws: Sequence[Any]) -> list[Any]:
        """:meth:`_coerced` over a column of raw values, with fast paths for the usual shapes."""
        same = self._same[i]
        coerce = self._coerce[i]
        M = MISSING
        if same is not None:
            out = [None if r is M else (r if type(r) is same else _BAD) for r in raws]
        elif self._dates[i] is not None:
            fast = [_fast_utc(r) if type(r) is str else None for r in raws]
            if self._dates[i]:  # date_nanos
                out = [
                    None if r is M else (_BAD if f is None else f) for r, f in zip(raws, fast, strict=True)
                ]
            else:  # date: milliseconds, floored
                out = [
                    None if r is M else (_BAD if f is None else f - f % 1_000_000)
                    for r, f in zip(raws, fast, strict=True)
                ]
        else:
            out = [None if r is M else _BAD for r in raws]
        for j in _positions(out, _BAD):
            r = raws[j]
            if same is not None and type(r) is list and r and all(type(x) is same for x in r):
                # the reader's list of one type: unchanged values, one of them as a scalar
                out[j] = r[0] if len(r) == 1 else list(r)
            else:
                out[j] = _read_safely(coerce, {"v": r})
        return out

    # ------------------------------------------------------------------ values into columns

    def _cell(self, i: int, v: Any) -> tuple[Any, bool, Any]:
        """Field ``i``'s column value for the reader's value ``v``: (value, flagged, time)."""
        want, storage, many = self._kinds[i]
        if v is None:
            return None, False, None
        if v is _UNFIT:
            return None, True, None
        t = type(v)
        if t is want:
            if storage is Storage.IP:
                key = ip_key(v)
                if key is None:
                    return None, True, None
                return ([key] if many else key), False, None
            if want is int and not _INT64_MIN <= v <= _INT64_MAX:
                return None, True, None  # beyond int64 (an unsigned_long): kept out of the column
            return ([v] if many else v), False, (v if i == self._ts else None)
        if t is list:
            if i == self._ts and all(type(x) is int for x in v) and _INT64_MIN <= min(v) <= _INT64_MAX:
                # several timestamps: the event's time is the first (as the evaluator orders it);
                # flagged, so predicates on @timestamp keep the row
                ts = min(v)
                return ts, True, ts
            if many and all(type(x) is want for x in v):
                if storage is Storage.IP:
                    keys = [ip_key(x) for x in v]
                    if None in keys:
                        return None, True, None
                    return keys, False, None
                if want is int and not all(_INT64_MIN <= x <= _INT64_MAX for x in v):
                    return None, True, None  # a value beyond int64 does not fit the column
                return v, False, None
        return None, True, None

    def add(self, doc: dict[str, Any]) -> int | None:
        """Append one document's values; returns its ``__ts``."""
        flags = 0
        ts: Any = None
        for i, (v, column) in enumerate(zip(self._values(doc), self.columns, strict=True)):
            value, flagged, t = self._cell(i, v)
            column.append(value)
            if flagged:
                flags |= 1 << i
            if t is not None:
                ts = t
        self.flags.append(flags)
        self._arrays = None
        return ts if type(ts) is int else None

    def add_many(self, docs: Sequence[dict[str, Any]]) -> list[int | None]:
        """Append the values of many documents, column by column; returns their ``__ts``."""
        n = len(docs)
        if not n:
            return []
        width = len(self.fields)
        rows: list[list[Any]] = []
        slow: list[int] = []  # documents that need the full readers
        blank = [MISSING] * width
        for j, doc in enumerate(docs):
            raw = self._raw(doc)
            if raw is None:
                slow.append(j)
                raw = blank
            rows.append(raw)
        flags = [0] * n
        times: list[int | None] = [None] * n
        exact = [[_read_safely(read, docs[j]) for read in self._readers] for j in slow]
        for i, raws in enumerate(zip(*rows, strict=True)):
            values_ = self._column_values(i, raws)
            for j, vals in zip(slow, exact, strict=True):
                values_[j] = vals[i]
            self.columns[i].extend(self._cells(i, values_, flags, times))
        self.flags.extend(flags)
        self._arrays = None
        return [t if type(t) is int else None for t in times]

    def _cells(self, i: int, values_: list[Any], flags: list[int], times: list[int | None]) -> list[Any]:
        """Field ``i``'s column values for the readers' values of a batch of rows; sets the rows'
        flag bits in ``flags`` and, for ``@timestamp``, their times in ``times``."""
        want, storage, many = self._kinds[i]
        if storage is Storage.IP:
            cells = [_BAD if v is not None else None for v in values_]
        elif want is int:
            cells = [
                v if v is None or (type(v) is int and _INT64_MIN <= v <= _INT64_MAX) else _BAD
                for v in values_
            ]
        else:
            cells = [v if v is None or type(v) is want else _BAD for v in values_]
        if many:
            cells = [c if c is None or c is _BAD else [c] for c in cells]
        bit = 1 << i
        if i == self._ts:
            times[:] = [v if type(v) is int and _INT64_MIN <= v <= _INT64_MAX else None for v in values_]
        for j in _positions(cells, _BAD):
            value, flagged, t = self._cell(i, values_[j])
            cells[j] = value
            if flagged:
                flags[j] |= bit
            if t is not None:
                times[j] = t
        return cells

    def text_supported(self) -> bool:
        """Whether :meth:`add_texts` reads these hot fields from the text itself (else it decodes
        every document and calls :meth:`add_many`)."""
        return bool(self._text_columns().supported)

    def _text_columns(self) -> Any:
        if self._text is None:
            from vigil.store.textcols import TextColumns

            self._text = TextColumns(self)
        return self._text

    def add_texts(self, texts: Sequence[bytes]) -> list[int | None]:
        """:meth:`add_many` of documents given as JSON text (each the text of one JSON object,
        on one line), without decoding them in Python where Arrow's JSON reader can: see
        :mod:`vigil.store.textcols`. Returns their ``__ts``."""
        return self._text_columns().add(texts)

    def add_chunk(self, chunk: dict[str, pa.Array | pa.ChunkedArray], flags: list[int]) -> None:
        """Append rows already turned into Arrow hot columns (one array per hot column, all of
        the same length, in the columns' types) with their flag bits."""
        self._seal()
        self._chunks.append(chunk)
        self.flags.extend(flags)
        self._arrays = None

    def _seal(self) -> None:
        """Turn the rows added as Python values into an Arrow chunk."""
        if self.columns and self.columns[0]:
            self._chunks.append(
                {
                    f.column: pa.array(column, f.arrow_type())
                    for f, column in zip(self.fields, self.columns, strict=True)
                }
            )
            for column in self.columns:
                column.clear()

    def arrays(self, order: Sequence[int] | None = None) -> dict[str, pa.Array | pa.ChunkedArray]:
        """The hot and flag columns as Arrow arrays, or chunked arrays when rows were added in
        several chunks (rows in ``order`` when given). The arrays of all rows are built once, and
        each ``order`` taken from them (in Arrow)."""
        full = self._arrays
        if full is None:
            self._seal()
            full = {}
            for f in self.fields:
                # Chunks are kept apart (a ChunkedArray), not copied into one array: the rows of
                # each file are taken from them anyway.
                parts = [
                    piece
                    for chunk in self._chunks
                    for piece in (
                        chunk[f.column].chunks
                        if isinstance(chunk[f.column], pa.ChunkedArray)
                        else [chunk[f.column]]
                    )
                ]
                full[f.column] = parts[0] if len(parts) == 1 else pa.chunked_array(parts, f.arrow_type())
            mask = (1 << FLAG_BITS) - 1
            for k, name in enumerate(flag_columns(len(self.fields))):
                shift = k * FLAG_BITS
                full[name] = pa.array([(x >> shift) & mask for x in self.flags], pa.int64())
            self._arrays = full
        if order is None:
            return dict(full)
        rows = pa.array(order, pa.int64())
        return {name: array.take(rows) for name, array in full.items()}

    def clear(self) -> None:
        """Forget the rows added so far."""
        for column in self.columns:
            column.clear()
        self._chunks.clear()
        self.flags.clear()
        self._arrays = None
