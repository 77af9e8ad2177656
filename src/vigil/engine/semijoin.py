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

from vigil.engine.prefilter import LineFilter, _Deriver, _needle, query_requirements
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


def plan_prepass(compiled: Any, sample: Sequence[bytes]) -> KeyPrepass | None:
    """The pre-pass for a compiled sequence query, chosen on ``sample`` lines; None when the
    query is not a keyed sequence, no key position is safe, or no required step is rare."""
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
    if best is None or best[0] > MAX_STEP_SHARE * len(sample):
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


def needle_test(needles: Sequence[bytes]) -> Callable[[bytes], bool]:
    """Whether a line contains any of ``needles`` (one Aho-Corasick scan)."""
    if not needles:
        return lambda _line: False
    import ahocorasick_rs

    find = ahocorasick_rs.BytesAhoCorasick(list(needles)).find_matches_as_indexes

    def contains(line: bytes) -> bool:
        return bool(find(line))

    return contains
