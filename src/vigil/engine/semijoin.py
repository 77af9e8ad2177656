"""A key pre-pass for sequences: decode only events whose join key can complete a sequence.

A sequence ``by`` some keys completes only with one event per required step, all with the same
key. So when one required step is rare (``[network where destination.port == 445]``), a first
pass over the input can collect the keys of that step's events, and the second pass need only
decode the lines that are events of that step or that *contain one of those keys* as text: an
event of any other key can only ever touch sequences of its own key, which can never complete,
and nothing else (Elasticsearch keeps sequence state per key; ``until`` and missing-event steps
are keyed too). The answer is unchanged; only lines that could not matter are skipped.

The text test must never miss: a key component is used only when every step's field at that
position appears in raw JSON as its value is written (strings and integers of keyword-like and
integer fields, see :meth:`vigil.engine.prefilter._Deriver.text_field`), and the needle is the
longest run of characters no JSON encoder escapes (at least 3); when some key has none, the
pre-pass is not used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.ecs.schema import FieldType
from vigil.engine.prefilter import LineFilter, _Deriver, _needle, query_requirements
from vigil.engine.verify import iter_nodes
from vigil.eql import ast

# The rarest required step must pass at most this share of the sampled lines: a second pass over
# the input costs about as much as pre-checking it once.
MAX_STEP_SHARE = 0.05
MAX_KEYS = 500_000


@dataclass(frozen=True)
class KeyPrepass:
    """How to run the pre-pass of one sequence query."""

    step: int  # the required step whose events give the keys
    position: int  # the key component searched for in the raw lines
    step_filter: Callable[[bytes], bool]  # the raw-line pre-check of that step alone


def plan_prepass(
    compiled: Any, sample: Sequence[bytes], max_share: float = MAX_STEP_SHARE
) -> KeyPrepass | None:
    """The pre-pass for a compiled sequence query, chosen on ``sample`` lines; None when the
    query is not a keyed sequence, no key position is safe, or no required step passes at most
    ``max_share`` of the sample."""
    body = compiled.query.body
    if not isinstance(body, ast.SequenceQuery) or not sample:
        return None
    position = _text_position(body, compiled.schemas)
    if position is None:
        return None
    reqs = query_requirements(compiled.query, compiled.schemas, compiled.options)
    if reqs is None:
        return None
    best: tuple[int, int, LineFilter] | None = None
    for i, step in enumerate(body.steps):
        if step.missing or not reqs[i]:
            continue
        test = LineFilter([reqs[i]])
        passes = sum(1 for line in sample if test(line))
        if best is None or passes < best[0]:
            best = (passes, i, test)
    if best is None or best[0] > max_share * len(sample):
        return None
    return KeyPrepass(best[1], position, best[2].fast)


def _text_position(body: ast.SequenceQuery, registry: Any) -> int | None:
    """The first key position whose field is, in every step, a field written as its value."""
    deriver = _Deriver(registry)
    steps = [*body.steps, *([body.until] if body.until is not None else [])]
    width = len(body.keys) + min((len(s.keys) for s in steps), default=0)
    for p in range(width):
        exprs = [(*body.keys, *s.keys)[p] for s in steps]
        if all(isinstance(e, ast.Field) and not e.optional and deriver.text_field(e) for e in exprs):
            return p
    return None


def step_keys(compiled: Any, ev: Any, step: int) -> list[tuple[Any, ...]]:
    """The join-key tuples of an event if it matches the step's filter (else none)."""
    plan = compiled.plan(ev.index)
    if step not in plan.matching_steps(ev.source):
        return []
    return plan.steps[step].key_tuples(ev.source)


def key_needles(keys: Iterable[tuple[Any, ...]], position: int) -> list[bytes] | None:
    """The byte strings one of which every line of a possibly-completing event contains; None
    when some key has no safe needle (then every line must be considered)."""
    out: set[bytes] = set()
    for key in keys:
        value = key[position] if position < len(key) else None
        if type(value) is int:
            text = str(value).encode()
            out.add(text)
            continue
        if type(value) is not str:
            return None
        needle = _needle(value, False)
        if needle is None:
            return None
        out.add(needle)
        if len(out) > MAX_KEYS:
            return None
    return sorted(out)


def second_pass(
    compiled: Any,
    query_test: Callable[[bytes], bool],
    prepass: KeyPrepass,
    needles: Sequence[bytes],
    keyset: set[tuple[Any, ...]] | None,
) -> tuple[Callable[[bytes], bool], Callable[[bytes, int], bool]]:
    """The line tests of the second pass: a line is decoded when it is an event of the rare step,
    or holds one of its keys (as text, then as the event's own key for some step, when the query
    allows reading keys from the line alone) and passes the query's pre-check ``query_test``.

    Returns the test of one line, and the same test for a line a range search found
    (:mod:`vigil.sources.scan`) with the bits of what it found there: 1 for a needle of the rare
    step (a line without one cannot be an event of it), 2 for a key (a line without one holds no
    key as text). Both accept exactly the same lines."""
    step_test = prepass.step_filter
    text_test: list[Callable[[bytes], bool]] = []

    def has_key(line: bytes) -> bool:
        # Built on first use: a range search answers it from what it found (``masked``), and
        # compiling many keys costs seconds.
        if not text_test:
            text_test.append(needle_test(needles))
        return text_test[0](line)

    holds_key = key_test(compiled, keyset) if keyset is not None else None
    holds = holds_key or (lambda _line: True)

    def line_filter(line: bytes) -> bool:
        # holds_key before the text test: it rejects most lines holding a key as text (a child
        # naming it as its parent's), and the text test is then rarely needed.
        return step_test(line) or (holds(line) and has_key(line) and query_test(line))

    def masked(line: bytes, found: int) -> bool:
        if found & 1 and step_test(line):
            return True
        return bool(found & 2) and holds(line) and query_test(line)

    return line_filter, masked


def needle_test(needles: Sequence[bytes]) -> Callable[[bytes], bool]:
    """Whether a line contains any of ``needles`` (one Hyperscan scan that stops at the first
    hit where Hyperscan is installed, else one Aho-Corasick scan)."""
    if not needles:
        return lambda _line: False
    from vigil.sources.scan import hyperscan_available

    if hyperscan_available():
        return _hyperscan_test(needles)
    import ahocorasick_rs

    find = ahocorasick_rs.BytesAhoCorasick(list(needles)).find_matches_as_indexes

    def contains(line: bytes) -> bool:
        return bool(find(line))

    return contains


def _hyperscan_test(needles: Sequence[bytes]) -> Callable[[bytes], bool]:
    import hyperscan

    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(
        expressions=list(needles),
        ids=list(range(len(needles))),
        elements=len(needles),
        flags=hyperscan.HS_FLAG_SINGLEMATCH,
        literal=True,
    )
    scan = db.scan
    stop = hyperscan.ScanTerminated

    def first(_id: int, _start: int, _end: int, _flags: int, _context: Any) -> bool:
        return True  # stop scanning: one hit answers

    def contains(line: bytes) -> bool:
        try:
            scan(line, match_event_handler=first)
        except stop:
            return True
        return False

    return contains


def key_test(compiled: Any, keyset: set[tuple[Any, ...]]) -> Callable[[bytes], bool]:
    """Whether the event of a raw line has, for some step (or ``until``), a join key of
    ``keyset``: the line is decoded into just its key fields and the steps' own key readers
    read them. True when unsure (a line that does not decode, an envelope, an odd value), so
    only lines whose events would be dropped for their keys anyway are rejected."""
    reader = key_reader(compiled)
    return _holds(reader.read, reader.probes(keyset))


def _holds(read: Callable[[bytes], list[Any] | None], probes: set[Any]) -> Callable[[bytes], bool]:
    """Whether ``read`` finds one of ``probes`` in a line; True when it cannot tell."""

    def holds(line: bytes) -> bool:
        found = read(line)
        if found is None:
            return True
        return any(key in probes for key in found)

    return holds


@dataclass(frozen=True)
class KeyReader:
    """Reads the join keys of the event of a raw line, decoding only its key fields.

    ``read(line)`` gives the keys the event has for some step (or ``until``), or None when
    unsure (a line that does not decode, an envelope, a value only the full reader can judge).
    With ``single`` the keys are the values of the one key field every step shares, else whole
    key tuples; :meth:`probes` turns a set of key tuples into what ``read`` gives."""

    read: Callable[[bytes], list[Any] | None]
    single: bool

    def probes(self, keyset: set[tuple[Any, ...]]) -> set[Any]:
        """The key set in the shape ``read`` gives keys."""
        if self.single:
            return {k[0] for k in keyset if len(k) == 1}
        return set(keyset)


def key_reader(compiled: Any) -> KeyReader:
    """The :class:`KeyReader` of a keyed sequence query. With several schemas (indices whose
    mappings differ) a line's index is not known before it is decoded, so the keys read under
    every schema are given: a superset of the event's own."""
    schemas = list(compiled.schemas.all())
    readers = [_schema_key_reader(compiled, schema, False) for schema in schemas]
    if len(readers) == 1:
        return readers[0]
    if not all(r.single for r in readers):
        readers = [_schema_key_reader(compiled, schema, True) for schema in schemas]
    reads = [r.read for r in readers]

    def read_all(line: bytes) -> list[Any] | None:
        out: list[Any] = []
        for read in reads:
            found = read(line)
            if found is None:
                return None
            out.extend(found)
        return out

    return KeyReader(read_all, readers[0].single)


def _schema_key_reader(compiled: Any, schema: Any, tuples: bool) -> KeyReader:
    """The key reader of events read under ``schema``; ``tuples``: whole key tuples even when
    one field gives every key."""
    from vigil.sources.projection import ProjectionDecoder

    body = compiled.query.body
    steps = [*body.steps, *([body.until] if body.until is not None else [])]
    paths = {
        schema.resolve(n.path)
        for expr in (*body.keys, *(k for s in steps for k in s.keys))
        for n in iter_nodes(expr)
        if isinstance(n, ast.Field)
    }
    decode = ProjectionDecoder(paths).decode
    plan = compiled.plan_of_schema(schema)
    readers = [*plan.steps, *([plan.until] if plan.until is not None else [])]
    if all(not s.keys for s in steps) and len(body.keys) == 1 and not tuples:
        # One key field shared by every step (``sequence by process.entity_id``): read it once.
        read_key = readers[0].keys[0][0]
        key = body.keys[0]
        spec = schema.spec(key.path) if isinstance(key, ast.Field) else None
        if (
            isinstance(key, ast.Field)
            and (spec is None or spec.type in _AS_WRITTEN)
            and not (spec is not None and spec.null_value is not None)
        ):
            return KeyReader(_string_key_reader(schema.resolve(key.path)), True)

        def read_one(line: bytes) -> list[Any] | None:
            try:
                doc = decode(line)
                if type(doc) is not dict or "_source" in doc:
                    return None
                v = read_key(doc)
            except Exception:
                return None
            values = v if type(v) is list else [v]
            if not all(type(x) in _HASHABLE for x in values):
                return None
            return [x for x in values if x is not None]

        return KeyReader(read_one, True)

    def read_tuples(line: bytes) -> list[Any] | None:
        try:
            doc = decode(line)
            if type(doc) is not dict or "_source" in doc:
                return None
            found = [key for step in readers for key in step.key_tuples(doc)]
            hash(tuple(found))
        except Exception:
            return None
        return found

    return KeyReader(read_tuples, False)


# Key values a set can hold as they are (anything else: unsure, the full reader decides).
_HASHABLE = frozenset({str, int, float, bool, type(None)})


# Field types whose reader gives a JSON string as it is (or drops it): a string value of the key
# field is the key.
_AS_WRITTEN = frozenset({FieldType.KEYWORD, FieldType.TEXT, FieldType.UNKNOWN})


def _string_key_test(path: str, keys: set[Any]) -> Callable[[bytes], bool]:
    """Whether a line's value of ``path`` (a string field) may be one of ``keys`` (see
    :func:`_string_key_reader`); True when unsure."""
    return _holds(_string_key_reader(path), keys)


def _string_key_reader(path: str) -> Callable[[bytes], list[Any] | None]:
    """The string values of ``path`` in a line (a string field): the line is decoded into a
    struct of that field's spellings alone. None when unsure: the line does not decode as a
    plain object, is a search hit envelope (``_source``), spells the field two ways, or holds a
    value other than strings (the full reader decides then)."""
    import operator

    import msgspec

    from vigil.sources.projection import _spellings

    spellings = list(_spellings(path))
    trie: dict[str, Any] = {}
    for parts in spellings:
        node = trie
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = None  # a leaf: any JSON value
    names: dict[tuple[str, ...], str] = {}
    count = [0]

    def struct(node: dict[str, Any], prefix: tuple[str, ...], dotted: str, root: bool) -> Any:
        fields: list[tuple[str, Any, Any]] = []
        rename: dict[str, str] = {}
        for i, (part, child) in enumerate(sorted(node.items())):
            attr = f"f{i}"
            rename[attr] = part
            where = f"{dotted}.{attr}" if dotted else attr
            if child is None:
                names[(*prefix, part)] = where
                fields.append((attr, Any, msgspec.UNSET))
            else:
                inner = struct(child, (*prefix, part), where, False)
                fields.append((attr, inner | None | msgspec.UnsetType, msgspec.UNSET))
        if root and "_source" not in node:
            rename["envelope"] = "_source"
            fields.append(("envelope", msgspec.Raw | msgspec.UnsetType, msgspec.UNSET))
        count[0] += 1
        return msgspec.defstruct(f"KeyField{count[0]}", fields, rename=rename, gc=False)

    decode = msgspec.json.Decoder(struct(trie, (), "", True)).decode
    getters = [operator.attrgetter(names[parts]) for parts in spellings]
    unset = msgspec.UNSET
    errors = (msgspec.ValidationError, msgspec.DecodeError)

    def read(line: bytes) -> list[Any] | None:
        try:
            root = decode(line)
        except errors:
            return None
        if getattr(root, "envelope", unset) is not unset:
            return None
        value: Any = unset
        for get in getters:
            try:
                found = get(root)
            except AttributeError:  # an object on the way is missing or null
                continue
            if found is unset:
                continue
            if value is not unset:
                return None  # two spellings: the full reader decides
            value = found
        if value is unset or value is None:
            return []
        if type(value) is str:
            return [value]
        if type(value) is list and all(type(x) is str or x is None for x in value):
            return [x for x in value if x is not None]
        return None

    return read
