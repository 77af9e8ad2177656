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

1. **First pass** (:func:`first_step_filter`, :func:`collect_keys`): a rule-set pre-filter
   (:class:`vigil.engine.ruleset.RuleSetFilter`) made of the first steps alone, calibrated once
   on a sample of the input, names from the raw line the rules whose first step may match; only
   those lines are decoded, the step is tested exactly and the first component of each of its
   key tuples is kept.
2. **Gate** (:class:`KeyGate`): in the hunt's pass, a rule the columnar filter names on a line
   whose filters it knows exactly, and whose first step is not true there, is offered the event
   only when the first key component of one of its true filters is among the kept ones. The
   columnar filter decides this already on the batch's columns (:class:`RowGates`, the key
   fields parsed with the tested ones), so a line whose every rule is spared is never decoded;
   a filter whose key it cannot read there is decided on the decoded event.

Only the first component is tested (a tuple whose first component no first-step event has is no
first-step key either): one memoised field read per event and rule. Rules with a missing-event
step (whose events change answers of keys that have no other event), with fewer than two steps,
with a first step no needle can pre-check (or whose needles pass more than a quarter of the
sample), or whose first step has more than :data:`GATE_MAX_KEYS` keys (or the most keys, when all
gates together would hold more than :data:`GATE_MAX_TOTAL`), are not gated. The answer is
unchanged; a gated rule's ``tested`` count under ``--profile`` leaves out the events it was
spared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from vigil.engine.prefilter import query_requirements
from vigil.eql import ast

#: First key components one rule's gate may hold; a rule whose first step has more is not gated
#: (the gate would spare it few events, and the keys would take memory).
GATE_MAX_KEYS = 200_000
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


def first_step_filter(
    gated: Sequence[tuple[int, list[Any]]], sample: Sequence[bytes] = ()
) -> tuple[list[tuple[int, list[Any]]], Any]:
    """The rule-set pre-filter of the gated rules' first steps (its query ``j`` is the returned
    ``gated[j]``), calibrated on ``sample`` (lines spread over the input) when one is given:
    then the rules whose first step it would send every line (its needles pass more than a
    quarter of the sample) are left out, and the filter is made again without them. Such a
    step would have the first pass decode most of the input for a gate that spares little."""
    from vigil.engine.ruleset import RuleSetFilter

    line_filter = RuleSetFilter([reqs for _i, reqs in gated])
    if not sample:
        return list(gated), line_filter
    line_filter.calibrate_on(sample)
    if not line_filter.always:
        return list(gated), line_filter
    kept = [g for j, g in enumerate(gated) if j not in line_filter.always]
    if not kept:
        return [], None
    line_filter = RuleSetFilter([reqs for _i, reqs in kept])
    line_filter.calibrate_on(sample)  # (a rule it would now send every line is gated all the same)
    return kept, line_filter


def collect_keys(
    plans: Sequence[Any], gated: Sequence[int], ev: Any, which: Iterable[int], out: list[set[Any] | None]
) -> None:
    """Add to ``out[j]`` the first key component of each key tuple of event ``ev`` for each rule
    ``gated[j]`` (``j`` in ``which``) whose first step is true on it (tested exactly, with the plan
    of the event's index). A set that grows past :data:`GATE_MAX_KEYS` becomes None."""
    doc = ev.source
    for j in which:
        keys = out[j]
        if keys is None:
            continue
        step = plans[gated[j]].compiled.plan(ev.index).steps[0]
        if not step.matches(doc):
            continue
        try:
            for key in step.key_tuples(doc):
                keys.add(key[0] if key else ())
        except TypeError:  # a key value that is no hashable scalar: that rule is not gated
            out[j] = None
            continue
        if len(keys) > GATE_MAX_KEYS:
            out[j] = None


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


class KeyGate:
    """The gate of one rule: the first key components of its first-step events."""

    __slots__ = ("compiled", "keyless", "keys", "until")

    def __init__(self, compiled: Any, keys: frozenset[Any]):
        self.compiled = compiled
        self.keys = keys
        body = compiled.query.body
        self.keyless = not body.keys and not body.steps[0].keys
        self.until = len(body.steps)  # the position of ``until`` among the filters

    def spares(self, ev: Any, true: tuple[int, ...]) -> bool:
        """Whether the rule may skip event ``ev``, on which exactly the filters ``true`` hold
        (positions as :func:`vigil.engine.columnar.query_filters` orders them)."""
        if not true or 0 in true:
            return False
        keys = self.keys
        if self.keyless:
            return not keys  # no first-step event at all: no sequence ever starts
        plan = self.compiled.plan(ev.index)
        doc = ev.source
        for p in true:
            step = plan.until if p == self.until else plan.steps[p]
            if step is None or not step.keys:
                return False
            read, _type, optional = step.keys[0]
            if _keeps(read(doc), keys, optional):
                return False
        return True


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
    """The key gates applied by the columnar filter (:attr:`vigil.engine.columnar.ColumnarFilter.
    row_gate`) to the rows of each batch, before any line is decoded.

    :meth:`KeyGate.spares` decides on a decoded event; most events a gate spares (two thirds of
    the ones decoded over the benchmark's 1,000,000 events) were decoded for nothing else. Here the
    same decision is made from the batch's columns: the field of each filter's first key is read
    by the parse too (:meth:`ColumnarFilter.read_also`), and its key is the rule's own key reader
    applied to a document holding that value alone (remembered per value), which gives the
    event's key, as the columnar filter's leaves give the event's answers (rows with dotted keys
    are left over, and rows whose filters are not known are not gated). A row whose every rule is
    spared is passed over undecoded.

    ``gates``: the rules' :class:`KeyGate` by rule number; the filter reads its rows with the plan
    of its own schema. A filter whose first key is not a plain field the parse can read cannot be
    decided here (the row keeps the rule); :attr:`complete` are the rules decided here on every
    filter, which need no gate on their decoded events (:class:`vigil.rules.scheduler.Collector`).
    """

    def __init__(self, gates: dict[int, KeyGate], columnar: Any):
        from vigil.engine import columnar as columns  # (pyarrow: only where batches are read)

        self._column_at = columns.column_at
        self._document = columns.document_with
        self._frozen = columns.frozen
        schema = columnar.schema
        numbers: dict[int, int] = {}  # id(reader) -> its number
        self._readers: list[tuple[Callable[[Any], Any], str]] = []  # (reader, column path)
        wanted: dict[int, list[tuple[Any, Any, str] | None]] = {}
        for i, gate in gates.items():
            body = gate.compiled.query.body
            plan = gate.compiled.plan_of_schema(schema)
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
        readable = columnar.read_also(sorted({f[2] for per in wanted.values() for f in per if f is not None}))
        #: rule -> (its first-step keys, whether it has no keys, per filter: (reader number,
        #: optional) or None when the filter cannot be decided here)
        self.rules: dict[int, tuple[frozenset[Any], bool, list[tuple[int, bool] | None]]] = {}
        self.complete: set[int] = set()
        for i, per in wanted.items():
            decided: list[tuple[int, bool] | None] = []
            for f in per:
                if f is None or f[2] not in readable:
                    decided.append(None)
                    continue
                (read, _type, optional), _expr, path = f
                number = numbers.get(id(read))
                if number is None:
                    number = numbers[id(read)] = len(self._readers)
                    self._readers.append((read, path))
                decided.append((number, optional))
            gate = gates[i]
            if gate.keyless or any(d is not None for d in decided):
                self.rules[i] = (gate.keys, gate.keyless, decided)
                if gate.keyless or all(d is not None for d in decided):
                    self.complete.add(i)
        self._memo: dict[tuple[int, Any], Any] = {}
        self._table: Any = None
        self._rows: dict[str, list[Any]] = {}

    def begin(self, table: Any) -> None:
        """The rows to come are those of ``table`` (a parse of the columnar filter)."""
        self._table = table
        self._rows = {}
        if len(self._memo) > MEMO_KEYS:
            self._memo.clear()

    def spares(self, rule: int, true: tuple[int, ...], row: int) -> bool:
        """:meth:`KeyGate.spares` for rule ``rule`` on row ``row`` of the table, on which exactly
        the filters ``true`` hold."""
        if not true or 0 in true:
            return False
        keys, keyless, decided = self.rules[rule]
        if keyless:
            return not keys
        for p in true:
            found = decided[p]
            if found is None:
                return False
            number, optional = found
            v = self._key(number, row)
            if v is _UNDECIDED or _keeps(v, keys, optional):
                return False
        return True

    def _key(self, number: int, row: int) -> Any:
        """What key reader ``number`` reads on row ``row`` (:data:`_UNDECIDED` if it raised)."""
        read, path = self._readers[number]
        rows = self._rows.get(path)
        if rows is None:
            column = self._column_at(self._table, path)
            rows = self._rows[path] = [None] * self._table.num_rows if column is None else column.to_pylist()
        raw = rows[row]
        memo_key = (number, raw if type(raw) is str else self._frozen(raw))
        got = self._memo.get(memo_key, _UNDECIDED)
        if got is _UNDECIDED and memo_key not in self._memo:
            try:
                got = read(self._document(path.split("."), raw))
            except Exception:
                got = _UNDECIDED  # (the rule decides on the event itself)
            self._memo[memo_key] = got
        return got


#: Keys read by :class:`RowGates` remembered per value (cleared when exceeded).
MEMO_KEYS = 50_000
_UNDECIDED: Any = object()
