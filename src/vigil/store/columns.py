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
from vigil.engine.typed import make_field_reader

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


# The hot ECS fields: what detection rules filter and join on most.
_SCALAR_PATHS = """
@timestamp event.action event.code event.dataset event.module event.provider event.outcome event.kind
host.name host.hostname host.id host.os.type user.name user.domain user.id
process.name process.executable process.command_line process.entity_id process.pid
process.parent.name process.parent.executable process.parent.command_line process.parent.entity_id
process.parent.pid file.path file.name file.extension registry.path registry.value registry.key
destination.ip destination.port source.ip source.port network.direction network.protocol
network.transport dns.question.name winlog.event_id winlog.channel winlog.provider_name agent.type
"""
_LIST_PATHS = "event.category event.type process.args process.parent.args"


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


def ip_key(text: str) -> bytes | None:
    """The 16-byte form of an address (None when it is no address)."""
    key = _IP_KEYS.get(text, b"")
    if key != b"":
        return key
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


def _collect(obj: dict[str, Any], trie: dict[str, tuple[int | None, dict[str, Any]]], out: list[Any]) -> bool:
    """Put the raw value of every hot path found in ``obj`` into ``out`` (by field number);
    False when the document spells a hot path in a way only the full readers follow (a dotted
    key, an array holding objects or arrays)."""
    for k, v in obj.items():
        node = trie.get(k)
        if node is None:
            if "." in k and k.split(".", 1)[0] in trie:
                return False
            continue
        leaf, children = node
        t = type(v)
        if t is list:
            for x in v:
                tx = type(x)
                if tx is dict or tx is list:
                    return False
        if leaf is not None:
            out[leaf] = v
        if children and t is dict and not _collect(v, children, out):
            return False
    return True


class RowBuilder:
    """Turns documents into column values (see the module docstring), row by row."""

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
        # The same readers over one value (for documents read in one walk, see _collect).
        self._coerce: list[Callable[[Any], Any]] = [
            make_field_reader(Schema(fields={} if f.spec is None else {"v": f.spec}), "v")
            for f in self.fields
        ]
        # The value type a reader returns as it is (no coercion, no null_value, no ignore_above).
        self._same: list[type | None] = [_unchanged(f) for f in self.fields]
        self._trie: dict[str, tuple[int | None, dict[str, Any]]] = {}
        for i, f in enumerate(self.fields):
            node = self._trie
            parts = f.path.split(".")
            for depth, part in enumerate(parts):
                leaf, children = node.get(part, (None, {}))
                node[part] = (i if depth == len(parts) - 1 else leaf, children)
                node = children

    def _values(self, doc: dict[str, Any]) -> list[Any]:
        """The readers' values of every hot field of a document.

        Most documents spell fields as nested objects only; one walk along the hot paths then
        finds every value. A document with a dotted key or an array of objects on a hot path
        takes the readers themselves (they handle every spelling)."""
        raw: list[Any] = [MISSING] * len(self.fields)
        if not _collect(doc, self._trie, raw):
            return [read(doc) for read in self._readers]
        out: list[Any] = []
        for r, coerce, same in zip(raw, self._coerce, self._same, strict=True):
            if r is MISSING:
                out.append(None)
            elif type(r) is same:
                out.append(r)  # what the reader would give back unchanged
            else:
                out.append(coerce({"v": r}))
        return out

    def add(self, doc: dict[str, Any]) -> int | None:
        """Append one document's values; returns its ``__ts``."""
        flags = 0
        ts: Any = None
        for i, (v, (want, storage, many), column) in enumerate(
            zip(self._values(doc), self._kinds, self.columns, strict=True)
        ):
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
                    column.append(None)  # beyond int64 (an unsigned_long): kept out of the column
                    flags |= 1 << i
                    continue
                elif i == self._ts:
                    ts = v
                column.append([v] if many and v is not None else v)
                continue
            if t is list:
                if i == self._ts and all(type(x) is int for x in v) and _INT64_MIN <= min(v) <= _INT64_MAX:
                    # several timestamps: the event's time is the first (as the evaluator orders
                    # it); flagged, so predicates on @timestamp keep the row
                    ts = min(v)
                    column.append(ts)
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

    def arrays(self, order: Sequence[int] | None = None) -> dict[str, pa.Array]:
        """The hot and flag columns as Arrow arrays (rows in ``order`` when given)."""
        out: dict[str, pa.Array] = {}
        for f, column in zip(self.fields, self.columns, strict=True):
            values_ = column if order is None else [column[j] for j in order]
            out[f.column] = pa.array(values_, f.arrow_type())
        flags = self.flags if order is None else [self.flags[j] for j in order]
        mask = (1 << FLAG_BITS) - 1
        for k, name in enumerate(flag_columns(len(self.fields))):
            shift = k * FLAG_BITS
            out[name] = pa.array([(x >> shift) & mask for x in flags], pa.int64())
        return out

    def clear(self) -> None:
        """Forget the rows added so far."""
        for column in self.columns:
            column.clear()
        self.flags.clear()
