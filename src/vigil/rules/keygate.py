"""The key gate of a many-rules hunt: events no sequence of a rule can use are not offered to it.

A sequence completes only with one event per step, all of the same join key, starting with an
event of its first step (Elasticsearch keeps sequence state per key; ``until`` is keyed too). So
once the keys of every first-step event of the input are known, an event that matches only later
steps (or ``until``) of a rule, under a key no first-step event has, can only touch sequences
that never start: the rule need not see it. This is the reasoning of the key pre-pass of
:mod:`vigil.engine.semijoin` (used by a hunt over a few rules), applied to many rules at once.

In a hunt over many rules, a dozen sequence rules ending at ``until [process where event.type ==
"end"]`` are each offered every process end, and broad later steps (``[network where
destination.port == 445]``) most network events: most of the events sequence rules are offered
(91% of 1.95 million over the benchmark's 1,000,000 events) are such events.

The decision is made in one reading of the input (:class:`RowGates`, set on the columnar filter
of the hunt's pass, :class:`vigil.engine.columnar.ColumnarFilter`):

1. **During the pass**, a gated rule is offered nothing. The columnar filter hands each row the
   rule's filters are true on to :meth:`RowGates.defer` instead: the row is *held* for the rule,
   with its true filters and the first key of each of them, read from the batch's columns (the
   key fields are parsed with the tested ones, :meth:`ColumnarFilter.read_also`; the rule's own
   key reader reads each distinct value once, on a document holding it alone). A row whose first
   step may be true gives its key to the rule's first-step keys, from the same column: a
   superset of the exact keys (a row on which some leaf raised counts as a first-step row), which
   only ever keeps more. A row the filter cannot answer on its columns (a dotted key, a failed
   parse) is decoded for the other rules anyway: :meth:`RowGates.hold_event` holds it whole for
   the gated rules and tests their first steps on the event exactly. A row held for every rule
   that named it is passed over undecoded.
2. **After the pass** (:func:`final_keys`, :meth:`RowGates.kept`), each held row is kept for a
   rule when its first step may be true there, or when the first key of one of its true filters
   is among the rule's first-step keys; the rows kept are decoded again and offered to the rule
   with their true filters, range by range in input order, so every rule sees its events in the
   order a hunt without the gate gives them.

A rule with a ``maxspan`` is gated by time as well. A sequence's events all lie within the maxspan
after its first event, and an ``until`` event only ends sequences that started before it (one that
started more than the maxspan earlier can no longer complete). So a later step's or ``until``
event at time ``t`` can only matter when a first-step event of its key lies in ``[t - maxspan,
t]``. During the pass, the first-step rows give (key, time slot) pairs, a slot being the maxspan
(plus 2 ms) wide, and the held rows their raw timestamps; after it, a row whose key passes is kept
only when its key has a first-step row in the row's slot or the slot before (a superset of the
window). Times are read by the rule's own timestamp reader, on a document holding the value alone;
a time the reader raises on leaves the rule ungated by time, a row without one is kept. The pairs
are kept as hashes (a collision only keeps a row more), merged after the pass into one sorted
array of 8-byte integers per rule (:func:`final_spans`), at most :data:`GATE_MAX_SPANS` a rule and
:data:`GATE_MAX_SPANS_TOTAL` in all (past those, the rules with the most are gated by keys
alone). Over the benchmark's 1,000,000 events the rows decoded after the pass fell from 121,455
to 54,151.

Only the first key component is tested (a tuple whose first component no first-step event has is
no first-step key either). Rules with a missing-event step (whose events change answers of keys
that have no other event), with fewer than two steps, with a first step no needle can pre-check,
whose filters the columnar filter cannot all answer exactly or whose keys it cannot read from the
columns, are not gated; nor are rules whose first steps have more than :data:`GATE_MAX_KEYS` keys
(or the most keys, when all gates together would hold more than :data:`GATE_MAX_TOTAL`): their held
rows are all kept. The answer is unchanged; a gated rule's ``tested`` count under ``--profile``
leaves out the events it was spared.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from vigil.engine.prefilter import query_requirements
from vigil.eql import ast

#: First key components one rule's gate may hold; a rule whose first step has more is not gated
#: (the gate would spare it few events, and the keys would take memory).
GATE_MAX_KEYS = 200_000
#: Time slots (see RowGates.spans) one rule's gate may hold; past this, its rows are kept whatever
#: their time (the slots would take memory: ~70 bytes each).
GATE_MAX_SPANS = 250_000
#: Time slots all gates may hold together: past this, the rules with the most are not gated by time.
GATE_MAX_SPANS_TOTAL = 1_000_000
#: Added to a rule's ``maxspan`` for the width of its time slots: only ever keeps more (the engine
#: compares nanoseconds; Elasticsearch rounds to the millisecond).
_SLACK_NANOS = 2_000_000
#: Keys all gates may hold together (each key value is held once, whichever rules share it): past
#: this, the rules with the most keys are not gated. About 150 bytes a key.
GATE_MAX_TOTAL = 2_000_000


def gateable(plans: Sequence[Any]) -> list[tuple[int, list[Any]]]:
    """(plan position, the requirement of its first step) of each plan a key gate can serve (see
    the module docstring)."""
    out = []
    for i, p in enumerate(plans):
        compiled = p.compiled
        body = compiled.query.body
        if not isinstance(body, ast.SequenceQuery) or len(body.steps) < 2:
            continue
        if any(s.missing for s in body.steps):
            continue
        reqs = query_requirements(ast.Query(body.steps[0].query), compiled.schemas, compiled.options)
        if reqs is not None:
            out.append((i, reqs))
    return out


def add_first_keys(
    compiled: Any, ev: Any, keys: set[Any], spans: set[Any] | None = None, width: int = 0
) -> bool:
    """Add to ``keys`` the first key component of each key tuple of event ``ev`` when the query's
    first step is true on it (tested exactly, with the plan of the event's index), and to
    ``spans`` (when given) the hash of each such component with the event's time slot (its
    timestamp over ``width``); False when a key value is no hashable scalar (the rule cannot be gated)."""
    doc = ev.source
    plan = compiled.plan(ev.index)
    step = plan.steps[0]
    if not step.matches(doc):
        return True
    slot = None
    if spans is not None:
        ordinal = plan.ordinal(doc, 0)
        if ordinal is None:
            return True  # no timestamp: the event is in no sequence
        slot = ordinal[0] // width
    try:
        for key in step.key_tuples(doc):
            first = key[0] if key else ()
            keys.add(first)
            if spans is not None:
                spans.add(hash((first, slot)))
    except TypeError:
        return False
    return True


def final_keys(
    found: dict[int, set[Any] | None], total: int = GATE_MAX_TOTAL
) -> dict[int, frozenset[Any] | None]:
    """Each gated rule's first-step keys over the whole input, or None for a rule left ungated
    (too many keys, see :data:`GATE_MAX_KEYS` and :func:`within_total`)."""
    rules = list(found)
    sets = [
        found[i] if found[i] is not None and len(found[i] or ()) <= GATE_MAX_KEYS else None for i in rules
    ]
    kept = within_total(sets, total)
    return {i: frozenset(k) if k is not None else None for i, k in zip(rules, kept, strict=True)}


def within_total(found: list[set[Any] | None], total: int = GATE_MAX_TOTAL) -> list[set[Any] | None]:
    """``found`` with the largest key sets dropped (None) until the distinct keys of the others
    number at most ``total``; each key value is made one object shared by every set holding it."""
    holders: dict[Any, list[Any]] = {}  # key -> [the shared object, how many sets hold it]
    for keys in found:
        if keys is not None:
            shared = set()
            for k in keys:
                entry = holders.get(k)
                if entry is None:
                    entry = holders[k] = [k, 0]
                entry[1] += 1
                shared.add(entry[0])
            keys.clear()
            keys |= shared
    distinct = len(holders)
    out = list(found)
    for j in sorted((j for j, k in enumerate(out) if k is not None), key=lambda j: -len(out[j] or ())):
        if distinct <= total:
            break
        for k in out[j] or ():
            entry = holders[k]
            entry[1] -= 1
            if entry[1] == 0:
                distinct -= 1
        out[j] = None
    return out


def _keeps(value: Any, keys: frozenset[Any], optional: bool) -> bool:
    """Whether a filter whose first key reads ``value`` may give the rule a first-step key: a
    value (or a value of a list) among ``keys``, a missing one when the key is optional and null
    is a key, or a value a set cannot judge (the rule decides what such a key means). A missing
    key otherwise gives the rule no key."""
    if value is None:
        return optional and None in keys
    try:
        if type(value) is list:
            return any(x in keys for x in value if x is not None)
        return value in keys
    except TypeError:
        return True


class RowGates:
    """The key gates of the sequence rules, held by the columnar filter of a hunt's pass
    (:attr:`vigil.engine.columnar.ColumnarFilter.row_gate`; see the module docstring).

    ``compiled``: the query of each rule to gate, by rule number. :attr:`complete` are the rules
    gated: those whose every filter the columnar filter answers exactly and whose filters' first
    keys are fields the parse can read (the others are left alone). During the pass,
    :meth:`begin` and :meth:`defer` hold a batch's rows, :meth:`hold_event` a decoded event's;
    :attr:`first` gathers each rule's first-step keys and :attr:`held` the range's held rows.
    After it, :meth:`chosen` decides them with the rules' keys from :func:`final_keys`.
    """

    def __init__(self, compiled: dict[int, Any], columnar: Any):
        from vigil.engine import columnar as columns  # (pyarrow: only where batches are read)

        self._column_at = columns.column_at
        self._document = columns.document_with
        self._frozen = columns.frozen
        self._compiled = compiled
        schema = columnar.schema
        numbers: dict[tuple[str, str], int] = {}  # (field, key type) -> its reader's number
        self._readers: list[tuple[Callable[[Any], Any], str]] = []  # (reader, column path)
        wanted: dict[int, list[tuple[Any, Any, str] | None]] = {}
        keyless: dict[int, bool] = {}
        for i, query in compiled.items():
            body = query.query.body
            keyless[i] = not body.keys and not body.steps[0].keys
            plan = query.plan_of_schema(schema)
            nodes = [*body.steps, body.until] if body.until is not None else list(body.steps)
            plans = [*plan.steps, plan.until] if plan.until is not None else list(plan.steps)
            per_filter: list[tuple[Any, Any, str] | None] = []
            for node, step in zip(nodes, plans, strict=True):
                exprs = [*body.keys, *node.keys]
                if step is None or not step.keys or not exprs or not isinstance(exprs[0], ast.Field):
                    per_filter.append(None)
                else:
                    per_filter.append((step.keys[0], exprs[0], schema.resolve(exprs[0].path)))
            wanted[i] = per_filter
        # A rule with a maxspan is gated by time as well: its timestamp field is read too.
        stamps: dict[int, tuple[Any, str, int]] = {}  # rule -> (timestamp reader, field, width)
        for i, query in compiled.items():
            maxspan = query.query.body.maxspan
            if maxspan is not None:
                plan = query.plan_of_schema(schema)
                path = schema.resolve(query.options.timestamp_field)
                stamps[i] = (plan.timestamp, path, maxspan.millis * 1_000_000 + _SLACK_NANOS)
        readable = columnar.read_also(
            sorted(
                {f[2] for per in wanted.values() for f in per if f is not None}
                | {path for _r, path, _w in stamps.values()}
            )
        )
        #: rule -> (whether it has no keys, per filter: (reader number, optional) or None when the
        #: filter's key cannot be read from the columns)
        self.rules: dict[int, tuple[bool, list[tuple[int, bool] | None]]] = {}
        self.complete: set[int] = set()
        for i, per in wanted.items():
            decided: list[tuple[int, bool] | None] = []
            for f in per:
                if f is None or f[2] not in readable:
                    decided.append(None)
                    continue
                (read, kind, optional), _expr, path = f
                # One reader per field and key type, whichever rules read it: the same field of
                # the same schema reads the same key (its values are read once a batch).
                number = numbers.get((path, repr(kind)))
                if number is None:
                    number = numbers[(path, repr(kind))] = len(self._readers)
                    self._readers.append((read, path))
                decided.append((number, optional))
            if columnar.exact[i] and (keyless[i] or all(d is not None for d in decided)):
                self.rules[i] = (keyless[i], decided)
                self.complete.add(i)
        #: gated rules with a maxspan whose timestamps the columns give: (reader number, the
        #: width of a time slot in nanoseconds)
        self.timed: dict[int, tuple[int, int]] = {}
        for i, (read_time, path, width) in stamps.items():
            if i in self.complete and path in readable:
                number = numbers.get((path, "timestamp"))
                if number is None:
                    number = numbers[(path, "timestamp")] = len(self._readers)
                    self._readers.append((read_time, path))
                self.timed[i] = (number, width)
        #: the gated rules as bits (rule ``i``: ``1 << i``)
        self.bits = sum(1 << i for i in self.complete)
        self.first: dict[int, set[Any] | None] = {}
        #: per timed rule, the hashes of (first key, time slot) of its first-step rows (a
        #: collision only keeps a row more; the processes of a hunt share one string hash seed,
        #: forked from one process) (None: too many, or a
        #: time the columns cannot tell: its rows are kept whatever their time)
        self.spans: dict[int, set[Any] | None] = {}
        self.held = Held()
        self.restart()
        self._memo: dict[Any, dict[Any, Any]] = {}  # per reader (and column type): raw value -> key
        self._table: Any = None
        self._offsets: Sequence[int] = ()
        self._rows: dict[str, list[Any]] = {}
        self._kinds: dict[str, str] = {}
        self._keys: dict[int, list[Any]] = {}
        self._times: dict[Any, Any] = {}  # (timestamp reader, raw value) -> time (see _time)

    def restart(self, base: int = 0) -> None:
        """Forget the keys and rows held so far: a new range, whose lines start at offset
        ``base`` or after."""
        self.first = {i: set() for i in self.complete}
        self.spans = {i: set() for i in self.timed}
        self.held = Held(base)

    # ------------------------------------------------------------------ during the pass

    def begin(self, table: Any, offsets: Sequence[int]) -> None:
        """The rows to come are those of ``table`` (a parse of the columnar filter), read from
        the lines at ``offsets`` (one a row)."""
        self._table = table
        self._offsets = offsets
        self._rows = {}
        self._kinds = {}
        self._keys = {}

    def defer(self, rule: int, rows: Iterable[int], true: tuple[int, ...] | None) -> None:
        """Hold ``rows`` of the table for ``rule``, whose filters ``true`` hold on each of them
        (None: some leaf raised there, the event decides)."""
        keyless, decided = self.rules[rule]
        offsets = self._offsets
        held = self.held
        base = held.base
        timed = self.timed.get(rule)
        if timed is not None and (true is None or 0 not in true):
            # The row's raw timestamp, read after the pass for the rows whose key is kept.
            rows = list(rows)
            column = self._raw_values(self._readers[timed[0]][1])
            times = held.times
            for j in rows:
                raw = column[j]
                if raw is not None:
                    times[offsets[j]] = raw
        tid = held.true_id(true)
        if tid is None:  # (more kinds of true filters than a code holds: kept apart)
            held.listed.extend((offsets[j], rule, true, None) for j in rows)
            return
        head = rule << _RULE_SHIFT | tid
        if true is None or 0 in true:
            # The first step may be true: the row's key is one of the rule's first-step keys,
            # and the row is kept whatever the keys.
            rows = list(rows)
            held.always.extend((offsets[j] - base) << _OFFSET_SHIFT | head for j in rows)
            if rows:
                self._add_first(rule, decided, rows, keyless)
            return
        valued = held.valued
        if keyless:
            valued.setdefault((), []).extend((offsets[j] - base) << _OFFSET_SHIFT | head for j in rows)
            return
        numbers = {decided[p][0] for p in true}  # type: ignore[index]
        listed = held.listed
        if len(numbers) == 1:
            column = self._column_keys(numbers.pop())
            get = valued.get
            for j in rows:
                v = column[j]
                if type(v) is str:
                    code = (offsets[j] - base) << _OFFSET_SHIFT | head
                    codes = get(v)
                    if codes is None:
                        valued[v] = [code]
                    else:
                        codes.append(code)
                elif v is _UNDECIDED:
                    listed.append((offsets[j], rule, true, None))  # a key the column cannot tell
                elif v is None or type(v) is list:
                    # a missing key (null may be one), a list of keys: decided on its own
                    listed.append((offsets[j], rule, true, (v,) * len(true)))
                else:
                    try:
                        valued.setdefault(v, []).append((offsets[j] - base) << _OFFSET_SHIFT | head)
                    except TypeError:  # (an object: the rule decides, see _keeps)
                        listed.append((offsets[j], rule, true, (v,) * len(true)))
            return
        for j in rows:  # filters keyed by different fields: each row decided on its own
            values = self._per_filter(rule, true, j)
            listed.append((offsets[j], rule, true, None if _UNDECIDED in values else values))

    def _per_filter(self, rule: int, true: tuple[int, ...], row: int) -> tuple[Any, ...]:
        """The first key of each filter ``true`` of ``rule`` on ``row``."""
        decided = self.rules[rule][1]
        return tuple(self._key(decided[p][0], row) for p in true)  # type: ignore[index]

    def _add_first(
        self, rule: int, decided: list[tuple[int, bool] | None], rows: list[int], keyless: bool
    ) -> None:
        """Add the first keys of ``rows`` (where the rule's first step may be true) to its
        first-step keys."""
        keys = self.first[rule]
        if keys is None:
            return
        if keyless:
            keys.add(())
            if self.spans.get(rule) is not None:
                self._add_spans(rule, rows, [()] * len(rows))
            return
        column = self._column_keys(decided[0][0])  # type: ignore[index]
        values = [column[j] for j in rows]
        if _UNDECIDED in values:
            self.first[rule] = None  # a key the column cannot tell: the rule keeps every row
            return
        try:
            for v in values:
                if type(v) is list:
                    keys.update(v)
                else:
                    keys.add(v)
        except TypeError:
            self.first[rule] = None
            return
        if len(keys) > GATE_MAX_KEYS:
            self.first[rule] = None
            return
        if self.spans.get(rule) is not None:
            self._add_spans(rule, rows, values)

    def _add_spans(self, rule: int, rows: list[int], values: list[Any]) -> None:
        """Add the hashes of (first key, time slot) of ``rows`` (first-step rows of a timed rule,
        whose first keys are ``values``) to the rule's time slots."""
        spans = self.spans[rule]
        assert spans is not None
        number, width = self.timed[rule]
        column = self._raw_values(self._readers[number][1])
        for j, v in zip(rows, values, strict=True):
            t = self._time(number, column[j])
            if t is None:
                continue  # no timestamp: the event is in no sequence
            if t is _UNDECIDED:
                self.spans[rule] = None  # a time the columns cannot tell
                return
            slot = t // width
            if type(v) is list:
                spans.update(hash((x, slot)) for x in v)
            else:
                spans.add(hash((v, slot)))
        if len(spans) > GATE_MAX_SPANS:
            self.spans[rule] = None

    def hold_event(self, ev: Any, rules: Iterable[int], offset: int) -> None:
        """Hold a decoded event, read from the line at ``offset``, for ``rules`` (the line could
        not be answered on the columns): their first steps are tested on it exactly, and it is
        kept for each of them."""
        listed = self.held.listed
        for i in rules:
            keys = self.first[i]
            spans = self.spans.get(i)
            width = self.timed[i][1] if spans is not None else 0
            if keys is not None and (
                not add_first_keys(self._compiled[i], ev, keys, spans, width) or len(keys) > GATE_MAX_KEYS
            ):
                self.first[i] = None
            if spans is not None and len(spans) > GATE_MAX_SPANS:
                self.spans[i] = None
            listed.append((offset, i, None, None))

    def _raw_values(self, path: str) -> list[Any]:
        """The raw values of the table's column ``path``, one a row (None where missing)."""
        rows = self._rows.get(path)
        if rows is None:
            column = self._column_at(self._table, path)
            if column is None:
                rows, kind = [None] * self._table.num_rows, "null"
            else:
                rows, kind = column.to_pylist(), str(column.type)
            self._rows[path], self._kinds[path] = rows, kind
        return rows

    def _time(self, number: int, raw: Any) -> Any:
        """The time (nanoseconds) timestamp reader ``number`` reads from a raw value, as a
        sequence orders the event (the earliest of several): None when it reads none (the
        event is in no sequence), :data:`_UNDECIDED` when it raises or reads no time."""
        if raw is None:
            return None
        memo = self._times
        key = (number, raw) if type(raw) is str else None
        if key is not None:
            got = memo.get(key, _UNSEEN)
            if got is not _UNSEEN:
                return got
        read, path = self._readers[number]
        try:
            value = read(self._document(path.split("."), raw))
        except Exception:
            value = _UNDECIDED
        got = None if value is None else _instant(value)
        if got is None and value is not None:
            got = _UNDECIDED
        if key is not None:
            if len(memo) > MEMO_TIMES:
                memo.clear()
            memo[key] = got
        return got

    def _key(self, number: int, row: int) -> Any:
        """What key reader ``number`` reads on row ``row`` (:data:`_UNDECIDED` if it raised)."""
        return self._column_keys(number)[row]

    def _column_keys(self, number: int) -> list[Any]:
        """What key reader ``number`` reads on each row of the table (:data:`_UNDECIDED` where
        it raised): each distinct value read once, on a document holding it alone."""
        got = self._keys.get(number)
        if got is not None:
            return got
        read, path = self._readers[number]
        rows = self._raw_values(path)
        kind = self._kinds[path]
        parts = path.split(".")
        if kind in _SCALAR_KINDS:
            # A column of one scalar type (or nulls): its values key the memo themselves (no
            # other type shares the memo, where True would be 1), each distinct one read once.
            memo = self._memo.get((number, kind))
            if memo is None or len(memo) > MEMO_KEYS:
                memo = self._memo[(number, kind)] = {}
            for raw in set(rows).difference(memo):
                try:
                    memo[raw] = read(self._document(parts, raw))
                except Exception:
                    memo[raw] = _UNDECIDED  # (the rule decides on the event itself)
            got = list(map(memo.__getitem__, rows))
            self._keys[number] = got
            return got
        memo = self._memo.get(number)
        if memo is None or len(memo) > MEMO_KEYS:
            memo = self._memo[number] = {}
        got = []
        frozen = self._frozen
        for raw in rows:
            memo_key = raw if type(raw) is str else frozen(raw)
            v = memo.get(memo_key, _UNSEEN)
            if v is _UNSEEN:
                try:
                    v = read(self._document(parts, raw))
                except Exception:
                    v = _UNDECIDED  # (the rule decides on the event itself)
                memo[memo_key] = v
            got.append(v)
        self._keys[number] = got
        return got

    # ------------------------------------------------------------------ after the pass

    def kept(
        self,
        rule: int,
        true: tuple[int, ...] | None,
        values: tuple[Any, ...] | None,
        keys: frozenset[Any] | None,
        slots: Sequence[int] | None = None,
        time: Any = None,
    ) -> bool:
        """Whether a row held for ``rule``, on which its filters ``true`` hold with the first
        keys ``values`` (None: kept whatever the keys), stays with the rule, given its first-step
        keys over the whole input (None: the rule is not gated after all) and, for a timed rule,
        the hashes of its first-step (key, time slot) pairs ``slots`` and the row's raw timestamp (None: kept
        whatever the time)."""
        if keys is None or values is None or true is None:
            return True
        keyless, decided = self.rules[rule]
        if keyless:
            return bool(keys) and self._in_time(rule, (), slots, time)
        return any(
            _keeps(v, keys, decided[p][1]) and self._in_time(rule, v, slots, time)  # type: ignore[index]
            for p, v in zip(true, values, strict=True)
        )

    def _in_time(self, rule: int, value: Any, slots: Sequence[int] | None, raw: Any) -> bool:
        """Whether a first-step row of ``rule`` with key ``value`` may lie within the rule's
        maxspan before a row whose raw timestamp is ``raw``: one in the row's time slot or the
        slot before (the slots are at least maxspan wide). True when the rule has no slots or
        the row no time."""
        if slots is None or raw is None:
            return True
        number, width = self.timed[rule]
        time = self._time(number, raw)
        if time is None or time is _UNDECIDED:
            return True
        slot = time // width
        try:
            if type(value) is list:
                return any(
                    _among(slots, hash((x, slot))) or _among(slots, hash((x, slot - 1))) for x in value
                )
            return _among(slots, hash((value, slot))) or _among(slots, hash((value, slot - 1)))
        except TypeError:
            return True

    def chosen(
        self,
        held: Held,
        keys: dict[int, frozenset[Any] | None],
        union: frozenset[Any],
        spans: Mapping[int, Sequence[int] | None] | None = None,
    ) -> dict[int, dict[int, tuple[int, ...] | None]]:
        """The rows of ``held`` kept after the pass (see :meth:`kept`; ``union``: every gated
        rule's keys; ``spans``: the hashes of the timed rules' first-step (key, time slot) pairs, see
        :func:`final_spans`): line offset -> the rules kept there, with their true filters
        (None: to be found on the event)."""
        out: dict[int, dict[int, tuple[int, ...] | None]] = {}
        base = held.base
        trues = held.trues
        spans = spans or {}
        times = held.times
        for code in held.always:
            rule = code >> _RULE_SHIFT & _RULE_MASK
            out.setdefault(base + (code >> _OFFSET_SHIFT), {})[rule] = trues[code & _TRUE_MASK]
        ungated = {i for i, k in keys.items() if k is None}
        for v, codes in held.valued.items():
            # Most values are no rule's first-step key: one look-up spares all their rows.
            if v not in union and not ungated:
                continue
            for code in codes:
                rule = code >> _RULE_SHIFT & _RULE_MASK
                k = keys[rule]
                if k is None:
                    out.setdefault(base + (code >> _OFFSET_SHIFT), {})[rule] = trues[code & _TRUE_MASK]
                elif v in k:
                    off = base + (code >> _OFFSET_SHIFT)
                    slots = spans.get(rule)
                    if slots is None or self._in_time(rule, v, slots, times.get(off)):
                        out.setdefault(off, {})[rule] = trues[code & _TRUE_MASK]
        for off, rule, true, values in held.listed:
            if self.kept(rule, true, values, keys[rule], spans.get(rule), times.get(off)):
                out.setdefault(off, {})[rule] = true
        return out


class Held:
    """The rows of one range held for the gated rules during the pass (see :class:`RowGates`).
    A row held for a rule is a code: its line's offset from :attr:`base`, the rule, and the
    number of its true filters in :attr:`trues`. ``always``: the codes kept whatever the keys;
    ``valued``: the codes of rows whose true filters' first keys are all one value, by that
    value; ``listed``: the other rows, ``(offset, rule, true filters, their first keys)`` (keys
    None: kept whatever the keys); ``quiet_offsets`` and ``quiet_numbers``: the rows the pass
    did not decode, in input order (their offsets, their line numbers)."""

    def __init__(self, base: int = 0):
        self.base = base
        self.trues: list[tuple[int, ...] | None] = []
        self._true_ids: dict[tuple[int, ...] | None, int] = {}
        self.always: list[int] = []
        self.valued: dict[Any, list[int]] = {}
        self.listed: list[tuple[int, int, tuple[int, ...] | None, tuple[Any, ...] | None]] = []
        self.quiet_offsets = array("q")
        self.quiet_numbers = array("q")
        self.times: dict[int, Any] = {}  # line offset -> raw timestamp, for timed rules

    def quiet_number(self, offset: int) -> int:
        """The line number of the row at ``offset`` when the pass did not decode it, else 0."""
        offsets = self.quiet_offsets
        k = bisect.bisect_left(offsets, offset)
        return self.quiet_numbers[k] if k < len(offsets) and offsets[k] == offset else 0

    def true_id(self, true: tuple[int, ...] | None) -> int | None:
        """The number of a set of true filters in :attr:`trues` (None: more than a code holds)."""
        got = self._true_ids.get(true)
        if got is None:
            if len(self.trues) > _TRUE_MASK:
                return None
            got = self._true_ids[true] = len(self.trues)
            self.trues.append(true)
        return got

    def __bool__(self) -> bool:
        return bool(self.always or self.valued or self.listed)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_true_ids"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._true_ids = {t: n for n, t in enumerate(self.trues)}


# A held row's code (see Held): offset << _OFFSET_SHIFT | rule << _RULE_SHIFT | true filters.
_RULE_SHIFT = 20
_OFFSET_SHIFT = 40
_TRUE_MASK = (1 << _RULE_SHIFT) - 1
_RULE_MASK = (1 << (_OFFSET_SHIFT - _RULE_SHIFT)) - 1


def _instant(value: Any) -> int | None:
    """The time an event's timestamp reader read (``value``) places it at, as its sequence
    ordinal does (the earliest of several); None when it is missing or cannot be told."""
    if type(value) is int:
        return value
    if type(value) is list and value and all(type(x) is int for x in value):
        return min(value)
    return None


def final_spans(
    found: Mapping[int, Iterable[int] | None],
    keys: dict[int, frozenset[Any] | None],
    total: int = GATE_MAX_SPANS_TOTAL,
) -> dict[int, array[int] | None]:
    """Each timed rule's first-step slots over the whole input, as a sorted array of distinct
    hashes (8 bytes each, and no objects for the processes forked after the pass to copy by
    touching them), or None when its rows are kept whatever their time: too many slots (past
    :data:`GATE_MAX_SPANS`, or the rules with the most when all hold more than ``total``), a time
    the columns could not tell, or the rule is not gated by its keys either."""
    import numpy as np

    out: dict[int, array[int] | None] = {}
    for i, slots in found.items():
        if slots is None or keys.get(i) is None:
            out[i] = None
            continue
        raw = slots if isinstance(slots, array) else array("q", slots)
        distinct = np.unique(np.frombuffer(raw, dtype=np.int64)) if raw else np.empty(0, dtype=np.int64)
        out[i] = array("q", distinct.tobytes()) if len(distinct) <= GATE_MAX_SPANS else None
    held = sum(len(s) for s in out.values() if s is not None)
    for i in sorted((i for i, s in out.items() if s is not None), key=lambda i: -len(out[i] or ())):
        if held <= total:
            break
        held -= len(out[i] or ())
        out[i] = None
    return out


def _among(slots: Sequence[int], value: int) -> bool:
    """Whether ``value`` is in ``slots`` (sorted)."""
    at = bisect.bisect_left(slots, value)
    return at < len(slots) and slots[at] == value


#: Times read by :class:`RowGates` remembered (cleared when exceeded): timestamps seldom repeat,
#: but a row held for several timed rules is looked at once for each.
MEMO_TIMES = 4096
#: Keys read by :class:`RowGates` remembered per value (cleared when exceeded).
MEMO_KEYS = 50_000
_UNDECIDED: Any = object()
_UNSEEN: Any = object()
#: Arrow types of a key column whose values (and nulls) are keys of a dict as they are.
_SCALAR_KINDS = frozenset({"string", "large_string", "int64", "bool", "null"})
