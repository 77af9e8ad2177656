"""Hot columns from JSON text: Arrow's JSON reader instead of decoding every document in Python.

A store append holds each document as its JSON text (the line it was sent or read as). Decoding
that text in Python and walking the dictionaries to fill the hot columns costs most of an append;
Arrow's JSON reader (C++) parses the text straight into typed columns several times faster. It
is only used where it gives exactly what :class:`vigil.store.columns.RowBuilder` gives:

* The reader is given an explicit schema: the hot fields as nested structs, each leaf declared
  with the JSON type its values have (a ``long`` as a number, a multi-valued field as an array
  of strings, ...); other keys are ignored. The reader is strict: a value of another JSON type,
  an array where an object belongs, a float for an integer, an integer beyond int64, a key given
  twice, all fail the parse. Nothing is coerced silently.
* When a parse fails because a leaf holds another JSON type than declared (``winlog.event_id``
  sent as ``"4624"``, ``event.category`` as a lone string), the leaf is declared with that type
  and the parse is tried again; the declaration is kept for the next batches, as the data keeps
  its shapes. Other failures split the rows in halves, down to small groups that are left to
  Python, so a few odd documents cost a few extra parses, not the batch.
* Rows where a key holds a dot (``"process.name": ...``, a spelling only the full field readers
  follow) or an escaped character that could be one are found by a search over the raw text
  first and left to Python: the reader would ignore such keys.
* Leaves whose raw values are the column's values (a string field of strings, a ``long`` of
  integers, a multi-valued string field of non-empty arrays of strings) are the columns as read.
  Every other leaf (dates, addresses, booleans, values declared as another type, empty arrays,
  arrays with nulls) is turned into Python values and put through the same per-value code as
  the Python path (:meth:`RowBuilder._column_values` and :meth:`RowBuilder._cells`): the raw
  values are the ones ``orjson`` would give, and a null is read as a missing value, which is
  the same for fields without ``null_value``.
* Field sets the reader cannot serve exactly (a ``double`` field, whose integers it would read
  as floats; a field with ``null_value``; a hot field that is also the parent of another) use
  the Python path, as do rows the above leaves to it: they are decoded with ``orjson`` and put
  through :meth:`RowBuilder.add_many`.

``tests/test_store_columns.py`` compares this path with the field readers over generated events,
hand-made documents that take every fallback, and random documents whose types vary by row.
"""

from __future__ import annotations

import bisect
import io
import re
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from vigil.ecs.schema import FieldType
from vigil.engine.typed import _fast_utc
from vigil.store.errors import StoreError

# A dot inside a key: a dot, then the rest of a JSON string (read escape by escape, so a key
# always matches from its dot), then a colon, which no string value is followed by. Possessive
# quantifiers: one pass from each dot. An escape that could spell a dot (``\u002e``) is looked for
# apart (an alternative in the pattern would make the search several times slower).
_DOTTED = re.compile(rb'\.[^"\\\n]*+(?:\\.[^"\\\n]*+)*+"\s*:')
_ESCAPED_DOT = re.compile(rb"\\u002[eE]")
#: The same two searches for Hyperscan, which reports where a match ends: a match never spans
#: rows (a row holds no newline, and whitespace other than newlines is matched explicitly: in
#: Hyperscan's syntax ``\v`` is every vertical space, newline included).
_HS_PATTERNS = [rb'\.(?:[^"\\\n]|\\.)*"[ \t\r\f\x0b]*:', rb"\\u002[eE]"]
_hs_databases: dict[bytes | None, Any] = {}  # one per ``also`` literal (see _dotted_hits)
_CHANGED = re.compile(r"Column\((/[^)]*)\) changed from (\w+) to (\w+)")
CHUNK_ROWS = 16_384  # rows per parse: large enough for Arrow to be fast, small enough to retry
MIN_SPLIT_ROWS = 256  # a failing group this small is left to Python
MAX_RETYPES = 8  # type changes tried per parse before splitting
MEMO_VALUES = 100_000  # converted strings remembered per field (addresses repeat across batches)
PAUSE_CHUNKS = 8  # after a batch mostly left to Python, the next batches skip the reader


class _Unparsable(Exception):
    """A parse failure no type change fixes; ``leaf``: the hot field whose values change JSON
    type from row to row, when that is the reason."""

    def __init__(self, message: str, leaf: int | None = None):
        super().__init__(message)
        self.leaf = leaf


def _dotted_hits(buf: bytes, also: bytes | None = None) -> list[int]:
    """Offsets in ``buf`` of dotted keys and escaped dots (see _DOTTED), and of ``also`` (a
    literal) when given: with Hyperscan where it is installed (one pass, several times faster
    than ``re`` over text full of dotted values), else with the regexes."""
    from vigil.sources.scan import hyperscan_available

    if not hyperscan_available():
        hits = [m.start() for m in _DOTTED.finditer(buf)]
        if b"\\u002" in buf:
            hits += [m.start() for m in _ESCAPED_DOT.finditer(buf)]
        if also:
            at = buf.find(also)
            while at >= 0:
                hits.append(at)
                at = buf.find(also, at + 1)
        return hits
    import hyperscan

    db = _hs_databases.get(also)
    if db is None:
        patterns = [*_HS_PATTERNS, re.escape(also)] if also else list(_HS_PATTERNS)
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        db.compile(
            expressions=patterns,
            ids=list(range(len(patterns))),
            elements=len(patterns),
            flags=[0] * len(patterns),
        )
        _hs_databases[also] = db
    ends: list[int] = []

    def on_match(_id: int, _start: int, end: int, _flags: int, _context: Any) -> None:
        ends.append(end - 1)

    db.scan(buf, match_event_handler=on_match)
    return ends


class JsonColumns:
    """Arrow's JSON reader over chosen fields, as the module docstring describes it: declared
    types learned from the data, failures split down to rows left to Python, and rows with dotted
    keys found first. :meth:`parse` gives the parsed groups of a batch of texts (each column
    holding the raw JSON values ``orjson`` would give, a null being a missing value) and the rows
    left to Python; :class:`TextColumns` turns them into a store's hot columns, and
    :mod:`vigil.engine.columnar` tests rules on them."""

    def __init__(self, fields: Sequence[Any], leave_over: bytes | None = None):
        self.fields = fields  # objects with ``path``, ``spec`` and ``many``, as HotField has
        # A literal whose rows are left to Python as well (the columnar filter's ``"_source"``:
        # a search hit holds its event under that key), found by the same search.
        self.leave_over = leave_over
        self.paths = [f.path.split(".") for f in self.fields]
        # The declared Arrow type of each leaf (learned from the data, see _retype).
        self.declared: list[pa.DataType] = [self._natural(i) for i in range(len(self.fields))]
        self.stats = {"rows": 0, "python_rows": 0, "parses": 0}

    def _natural(self, i: int) -> pa.DataType:
        """The JSON type a leaf's values usually have."""
        f = self.fields[i]
        spec = f.spec
        if spec is None or spec.type in (FieldType.KEYWORD, FieldType.TEXT, FieldType.IP):
            base: pa.DataType = pa.string()
        elif spec.type is FieldType.LONG:
            base = pa.int64()
        elif spec.type is FieldType.BOOLEAN:
            base = pa.bool_()
        else:  # dates and other types: usually strings
            base = pa.string()
        return pa.list_(base) if f.many else base

    def _schema(self) -> pa.Schema:
        tree: dict[str, Any] = {}
        for parts, declared in zip(self.paths, self.declared, strict=True):
            node = tree
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = declared

        def struct(node: dict[str, Any]) -> list[pa.Field]:
            return [pa.field(k, pa.struct(struct(v)) if isinstance(v, dict) else v) for k, v in node.items()]

        return pa.schema(struct(tree))

    # ------------------------------------------------------------------ parsing

    def _parse(self, buf: bytes) -> pa.Table:
        """One parse of ``buf`` (lines of JSON objects), changing declared types as the errors
        ask; raises :class:`_Unparsable` when that does not help."""
        changed: dict[int, int] = {}
        for _ in range(MAX_RETYPES):
            self.stats["parses"] += 1
            try:
                return pj.read_json(
                    io.BytesIO(buf),
                    read_options=pj.ReadOptions(use_threads=False, block_size=max(1 << 20, len(buf) + 1)),
                    parse_options=pj.ParseOptions(
                        explicit_schema=self._schema(), unexpected_field_behavior="ignore"
                    ),
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
                i = self._retype(str(exc), changed)
                if i is None:
                    raise _Unparsable(str(exc), self._flipping(str(exc), changed)) from None
                changed[i] = changed.get(i, 0) + 1
        raise _Unparsable("too many type changes")

    def _flipping(self, message: str, changed: dict[int, int]) -> int | None:
        """The leaf an error names when it was changed twice already in this parse (its values
        are arrays in some rows and scalars in others)."""
        m = _CHANGED.search(message)
        if m is None:
            return None
        parts = [p for p in m.group(1).split("/") if p and p != "[]"]
        try:
            i = self.paths.index(parts)
        except ValueError:
            return None
        return i if changed.get(i, 0) >= 2 else None

    def _retype(self, message: str, changed: dict[int, int]) -> int | None:
        """Declare the leaf an error names with the JSON type the data has; its number, or None
        when the error is of another kind or the leaf was changed twice already in this parse
        (a scalar that turns out an array of another type takes two)."""
        m = _CHANGED.search(message)
        if m is None:
            return None
        parts = [p for p in m.group(1).split("/") if p]
        element = parts[-1:] == ["[]"]
        if element:
            parts = parts[:-1]
        found = _CHANGED_KIND.get(m.group(3))
        try:
            i = self.paths.index(parts)
        except ValueError:
            return None  # an object node: arrays of objects and the like are Python's
        if found is None or changed.get(i, 0) >= 2:
            return None
        if m.group(3) == "array" and not element:
            new: pa.DataType = pa.list_(_natural_scalar(self.declared[i]))
        elif element:
            new = pa.list_(found)
        else:
            new = found
        if new == self.declared[i]:
            return None
        self.declared[i] = new
        return i

    def _read_rows(
        self,
        texts: Sequence[bytes],
        rows: list[int],
        out: list[tuple[list[int], pa.Table]],
        slow: list[int],
        buf: bytes | None = None,
    ) -> None:
        """Parse ``rows`` (``buf``: their lines, when already joined), splitting them on failure;
        appends parsed groups to ``out`` and the rows left to Python to ``slow``."""
        try:
            table = self._parse(b"\n".join([texts[j] for j in rows]) if buf is None else buf)
        except _Unparsable as exc:
            if exc.leaf is not None and len(rows) > 1:
                # A field written as an array in some rows and as a scalar in others (sources
                # mixed in one batch): the rows whose text holds it as an array, apart from the
                # others. A row put on the wrong side only fails its parse again.
                marker = b'"' + self.paths[exc.leaf][-1].encode() + b'":['
                arrays = [j for j in rows if marker in texts[j]]
                if 0 < len(arrays) < len(rows):
                    others = [j for j in rows if marker not in texts[j]]
                    self._read_rows(texts, arrays, out, slow)
                    self._read_rows(texts, others, out, slow)
                    return
            if len(rows) <= MIN_SPLIT_ROWS:
                slow.extend(rows)
                return
            half = len(rows) // 2
            self._read_rows(texts, rows[:half], out, slow)
            self._read_rows(texts, rows[half:], out, slow)
            return
        if table.num_rows != len(rows):
            slow.extend(rows)  # (a blank or split line: cannot happen for one-line objects)
            return
        out.append((rows, table))

    # ------------------------------------------------------------------ the batch

    def parse(
        self, texts: Sequence[bytes], single_lines: bool = False
    ) -> tuple[list[tuple[list[int], pa.Table]], list[int]]:
        """The parsed groups of ``texts`` (rows, their table) and the rows left to Python
        (sorted): rows holding a dotted key, and rows no parse could read exactly.
        ``single_lines``: the caller knows no text holds a ``\n`` (lines it split)."""
        n = len(texts)
        groups: list[tuple[list[int], pa.Table]] = []
        left: list[int] = []
        for k in range(0, n, CHUNK_ROWS):
            chunk = texts[k : k + CHUNK_ROWS]
            buf = b"\n".join(chunk)
            odd = self._suspects(chunk, buf, single_lines)
            rows = list(range(k, k + len(chunk)))
            if odd:
                left += [k + j for j in sorted(odd)]
                rows = [j for j in rows if j - k not in odd]
                self._read_rows(texts, rows, groups, left)
            else:
                self._read_rows(texts, rows, groups, left, buf)
        self.stats["rows"] += n
        self.stats["python_rows"] += len(left)
        return groups, sorted(left)

    def _suspects(
        self, texts: Sequence[bytes], buf: bytes | None = None, single_lines: bool = False
    ) -> set[int]:
        """Rows with a dotted key (or an escape that could be a dot), or :attr:`leave_over`, or
        more than one line (a row that is no JSON object fails the parse, and so goes to Python
        too). ``buf``: the texts joined by newlines, when the caller has them so."""
        out: set[int] = set()
        if buf is None:
            buf = b"\n".join(texts)
        # (counting the line ends of the whole buffer costs a third of the search below)
        if b"\r" in buf or (not single_lines and buf.count(b"\n") != len(texts) - 1):
            out.update(j for j, t in enumerate(texts) if b"\n" in t or b"\r" in t)
        hits = _dotted_hits(buf, self.leave_over)
        if hits:
            starts = list(accumulate((len(t) + 1 for t in texts), initial=0))
            out.update(bisect.bisect_right(starts, at) - 1 for at in hits)
        return out


class TextColumns(JsonColumns):
    """The JSON-text path of a :class:`vigil.store.columns.RowBuilder` (see the module
    docstring). ``add`` appends the rows of a batch of texts to the builder."""

    def __init__(self, builder: Any):
        super().__init__(builder.fields)
        self.builder = builder
        self.supported = self._supported()
        # per field: string -> (cell, flag bits) of the per-value code (see _column)
        self._memo: dict[int, dict[str, tuple[Any, int]]] = {}
        self.pause = 0
        self._python_builder: Any = None

    # ------------------------------------------------------------------ what the reader can do

    def _supported(self) -> bool:
        leaves = {f.path for f in self.fields}
        for f in self.fields:
            parts = f.path.split(".")
            if any(".".join(parts[:k]) in leaves for k in range(1, len(parts))):
                return False  # a hot field that is the parent of another
            spec = f.spec
            if spec is not None and (spec.null_value is not None or spec.type is FieldType.DOUBLE):
                return False
            if any(not p for p in parts):
                return False
        # A null must read as a missing value: true of every reader without null_value.
        return all(self.builder._coerced(i, None) is None for i in range(len(self.fields)))

    def _direct(self, i: int, dtype: pa.DataType) -> bool:
        """Whether leaf ``i``'s values, read as ``dtype``, are its column's values."""
        want, _storage, many = self.builder._kinds[i]
        if self.builder._same[i] is not want or i == self.builder._ts:
            return False
        if many:
            if not pa.types.is_list(dtype):
                return False
            dtype = dtype.value_type
        return (want is str and dtype == pa.string()) or (want is int and dtype == pa.int64())

    def add(self, texts: Sequence[bytes]) -> list[int | None]:
        """Append the rows of ``texts`` to the builder; returns their ``__ts``."""
        n = len(texts)
        if not n:
            return []
        if not self.supported or self.pause > 0:
            self.pause = max(0, self.pause - 1)
            self.stats["rows"] += n
            self.stats["python_rows"] += n
            return self.builder.add_many(_decoded(texts, range(n)))
        groups, left = self.parse(texts)
        if len(left) * 2 > n:
            self.pause = PAUSE_CHUNKS
        return self._assemble(texts, groups, left)

    def _assemble(
        self, texts: Sequence[bytes], groups: list[tuple[list[int], pa.Table]], left: list[int]
    ) -> list[int | None]:
        """Turn the parsed groups and the rows left to Python into one chunk of the builder, in
        the rows' order."""
        b = self.builder
        n = len(texts)
        order: list[int] = []
        flags: list[int] = []
        times: list[int | None] = []
        parts: dict[str, list[pa.Array]] = {f.column: [] for f in self.fields}
        for rows, table in groups:
            flat = table
            while any(pa.types.is_struct(c.type) for c in flat.schema):
                flat = flat.flatten()
            g_flags = [0] * len(rows)
            g_times: list[int | None] = [None] * len(rows)
            for i, f in enumerate(self.fields):
                arr = flat.column(f.path).combine_chunks()
                parts[f.column].append(self._column(i, arr, g_flags, g_times))
            order += rows
            flags += g_flags
            times += g_times
        if left:
            # Decoded and put through the Python path.
            pb = self._python_builder
            if pb is None:
                pb = self._python_builder = type(b)(self.fields)
            pb.clear()
            times += pb.add_many(_decoded(texts, left))
            arrays = pb.arrays()
            for f in self.fields:
                left_array = arrays[f.column]
                if isinstance(left_array, pa.ChunkedArray):
                    parts[f.column].extend(left_array.chunks)
                else:
                    parts[f.column].append(left_array)
            order += left
            flags += pb.flags
            pb.clear()
        columns: dict[str, pa.Array | pa.ChunkedArray] = {
            name: a[0] if len(a) == 1 else pa.chunked_array(a) for name, a in parts.items()
        }
        if order != list(range(n)):
            where = [0] * n
            for k, j in enumerate(order):
                where[j] = k
            take = pa.array(where, pa.int64())
            columns = {name: a.take(take) for name, a in columns.items()}
            flags = [flags[k] for k in where]
            times = [times[k] for k in where]
        b.add_chunk(columns, flags)
        return [t if type(t) is int else None for t in times]

    def _column(self, i: int, arr: pa.Array, flags: list[int], times: list[int | None]) -> pa.Array:
        """Leaf ``i``'s column for the parsed rows of a group (see the module docstring)."""
        b = self.builder
        f = self.fields[i]
        want_type = f.arrow_type()
        n = len(arr)
        if arr.null_count == n:
            return pa.nulls(n, want_type)  # missing or null everywhere: no value, no flag
        if self._direct(i, arr.type):
            if not f.many:
                return arr.cast(want_type)
            if pc.min(pc.list_value_length(arr)).as_py() != 0 and pc.list_flatten(arr).null_count == 0:
                return arr.cast(want_type)
        # Common strings converted in Arrow (plain UTC dates, plain decimal integers), the rest
        # by the per-value code of the Python path, over the rows that hold a value.
        fast = None
        if not f.many and arr.type == pa.string():
            if b._dates[i] is not None:
                fast = _utc_nanos(arr, bool(b._dates[i]))
            elif b._same[i] is int:
                fast = _plain_longs(arr)
        if fast is None and not f.many and arr.type == pa.string() and i != b._ts:
            # Strings the per-value code must convert (addresses, mostly) repeat: each distinct
            # one is converted once (the conversion is a function of the value alone).
            encoded = arr.dictionary_encode()
            distinct = encoded.dictionary.to_pylist()
            if 2 * len(distinct) <= n:
                memo = self._memo.setdefault(i, {})
                if len(memo) > MEMO_VALUES:
                    memo.clear()
                new = [v for v in distinct if v not in memo]
                if new:
                    n_flags = [0] * len(new)
                    n_cells = b._cells(i, b._column_values(i, new), n_flags, [None] * len(new))
                    memo.update(zip(new, zip(n_cells, n_flags, strict=True), strict=True))
                d_cells = [memo[v][0] for v in distinct]
                d_flags = [memo[v][1] for v in distinct]
                if any(d_flags):
                    for j, k in enumerate(encoded.indices.to_pylist()):
                        if k is not None and d_flags[k]:
                            flags[j] |= d_flags[k]
                return pa.array(d_cells, want_type).take(encoded.indices)
        need = arr.is_valid() if fast is None else pc.and_(arr.is_valid(), pc.invert(fast.is_valid()))
        where = pc.indices_nonzero(need).to_pylist()
        if fast is not None and not where:
            if i == b._ts:
                times[:] = fast.to_pylist()
            return fast.cast(want_type)
        raws = arr.take(pa.array(where, pa.int64())).to_pylist()
        sub_flags = [0] * len(raws)
        sub_times: list[int | None] = [None] * len(raws)
        cells = b._cells(i, b._column_values(i, raws), sub_flags, sub_times)
        full: list[Any] = [None] * n if fast is None else fast.to_pylist()
        if i == b._ts and fast is not None:
            times[:] = full
        for k, j in enumerate(where):
            full[j] = cells[k]
            if sub_flags[k]:
                flags[j] |= sub_flags[k]
            if i == b._ts:
                times[j] = sub_times[k]
        return pa.array(full, want_type)


_PLAIN_UTC = r"^(?P<d>\d{4}-\d{2}-\d{2})T(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?Z$"
_PLAIN_LONG = r"^(0|-?[1-9][0-9]{0,17})$"  # at most 18 digits: always within int64
_DAY_NANOS: dict[str, int | None] = {}
_NANOS_PER_DAY = 86_400 * 1_000_000_000
_SAFE_DAY = 2**63 - 1 - _NANOS_PER_DAY  # a day whose every instant fits int64


def _day_nanos(day: str) -> int | None:
    """The day's first nanosecond as the Python path reads it (None: left to that path)."""
    if day not in _DAY_NANOS:
        parsed = _fast_utc(day + "T00:00:00Z")
        if len(_DAY_NANOS) > 100_000:
            _DAY_NANOS.clear()
        _DAY_NANOS[day] = parsed if parsed is not None and -_SAFE_DAY <= parsed <= _SAFE_DAY else None
    return _DAY_NANOS[day]


def _utc_nanos(arr: pa.Array, nanos: bool) -> pa.Array:
    """Epoch nanoseconds (floored to milliseconds unless ``nanos``) of the strings of the plain
    form ``YYYY-MM-DDTHH:MM:SS[.fraction]Z`` that ``_fast_utc`` reads the same; null elsewhere.
    The same arithmetic as ``vigil.engine.typed._fast_utc``, in Arrow."""
    parts = pc.extract_regex(arr, _PLAIN_UTC)
    days = parts.field("d").dictionary_encode()
    day_values = pa.array([_day_nanos(d) for d in days.dictionary.to_pylist()], pa.int64())
    day = day_values.take(days.indices)
    h = pc.cast(pc.if_else(parts.is_valid(), parts.field("h"), "99"), pa.int64())
    m = pc.cast(pc.if_else(parts.is_valid(), parts.field("m"), "99"), pa.int64())
    sec = pc.cast(pc.if_else(parts.is_valid(), parts.field("s"), "99"), pa.int64())
    digits = pc.utf8_rpad(parts.field("f"), 9, "0")
    if not nanos:
        digits = pc.utf8_rpad(pc.utf8_slice_codeunits(digits, 0, 3), 9, "0")
    frac = pc.cast(pc.if_else(parts.is_valid(), digits, "0"), pa.int64())
    ok = pc.and_(
        parts.is_valid(),
        pc.and_(pc.less_equal(h, 23), pc.and_(pc.less_equal(m, 59), pc.less_equal(sec, 59))),
    )
    seconds = pc.add(pc.add(pc.multiply(h, 3600), pc.multiply(m, 60)), sec)
    total = pc.add(day, pc.add(pc.multiply(seconds, 1_000_000_000), frac))
    return pc.if_else(ok, total, pa.scalar(None, pa.int64()))


def _plain_longs(arr: pa.Array) -> pa.Array:
    """The integers of the strings that are plain decimal integers of at most 18 digits (what a
    ``long`` field's reader makes of them); null elsewhere."""
    plain = pc.match_substring_regex(arr, _PLAIN_LONG)
    return pc.cast(pc.if_else(plain, arr, pa.scalar(None, pa.string())), pa.int64())


def _decoded(texts: Sequence[bytes], rows: Sequence[int]) -> list[Any]:
    """The documents of ``rows``, decoded; a text that is not JSON breaks the caller's promise
    (each text is the JSON of one object) and fails the append with the row's number."""
    out = []
    for j in rows:
        try:
            out.append(orjson.loads(texts[j]))
        except orjson.JSONDecodeError as exc:
            raise StoreError(f"document {j + 1} of the batch is not JSON: {exc}") from None
    return out


_CHANGED_KIND: dict[str, pa.DataType | None] = {
    "string": pa.string(),
    "number": pa.int64(),
    "boolean": pa.bool_(),
    "array": pa.string(),  # (an array where a scalar was declared: see _retype)
    "object": None,
    "null": None,
}


def _natural_scalar(declared: pa.DataType) -> pa.DataType:
    return declared.value_type if pa.types.is_list(declared) else declared
