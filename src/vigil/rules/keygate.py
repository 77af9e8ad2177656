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
   only when the first key component of one of its true filters is among the kept ones.

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

from collections.abc import Iterable, Sequence
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
            v = read(doc)
            if v is None:
                if optional and None in keys:
                    return False
                continue  # a missing key: the filter gives the rule no key (or only a null one)
            try:
                if type(v) is list:
                    if any(x in keys for x in v if x is not None):
                        return False
                elif v in keys:
                    return False
            except TypeError:
                return False  # (the rule decides what such a key means)
        return True
