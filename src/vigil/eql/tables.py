"""The EQL parser's LALR(1) tables, built by lark once and shipped as data.

lark's LALR analysis of ``grammar.lark`` takes about a tenth of a second, and importing lark
about as long again: paid by every ``vigil`` command before it reads a byte. So the analysis runs
when the grammar changes (``python -m vigil.eql.tables``), and its result is kept in
``parse_tables.json`` next to the grammar, together with the grammar's SHA-256. At run time the
parser loads that file (a millisecond), unless the grammar no longer matches it: then it asks
lark, as before (a test keeps the shipped file current).

Per state, the file maps a terminal or rule name to an action, in the encoding the parser's loop
uses:

* an int: shift (or, for a rule name, the goto state);
* a string: reduce a one-child ``?rule`` that passes its child through (only the state changes);
* a list ``[size, origin, builder, include]``: reduce ``size`` symbols to rule ``origin`` and
  make its value with ``builder`` (a method name of the parser's builder, or ``"tree:NAME"`` for a
  rule that has none: a node whose children an enclosing rule splices in), from the children
  ``include`` lists (``[position, splice]`` pairs, as lark's child filter keeps them; null: all).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
GRAMMAR = HERE / "grammar.lark"
TABLES = HERE / "parse_tables.json"
STARTS = ["statement", "expression"]


def grammar_digest(text: str | None = None) -> str:
    """The SHA-256 of the grammar's text (the shipped tables are valid for this digest only)."""
    if text is None:
        text = GRAMMAR.read_text(encoding="utf-8")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_shipped() -> dict[str, Any] | None:
    """The shipped tables, or None when they are missing or were built from another grammar."""
    try:
        data = json.loads(TABLES.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("grammar_sha256") != grammar_digest():
        return None
    return data


def build() -> dict[str, Any]:
    """Run lark's LALR analysis of the grammar and encode its tables (see the module docstring)."""
    from lark import Lark
    from lark.lexer import Lexer
    from lark.parse_tree_builder import ChildFilterLALR_NoPlaceholders, ExpandSingleChild
    from lark.parsers.lalr_analysis import Shift

    class _NoLexer(Lexer):
        """lark wants a lexer; vigil feeds tokens itself."""

        __future_interface__ = 2

        def __init__(self, lexer_conf: Any) -> None:
            pass

        def lex(self, lexer_state: Any, parser_state: Any) -> Iterator[Any]:  # pragma: no cover
            raise NotImplementedError

    text = GRAMMAR.read_text(encoding="utf-8")
    builder_names = _builder_methods()
    lark = Lark(
        text,
        parser="lalr",
        lexer=_NoLexer,
        start=STARTS,
        transformer=_Transformer(builder_names),
        maybe_placeholders=False,
    )
    inner = lark.parser.parser.parser
    callbacks = inner.callbacks
    states = inner.parse_table.states
    actions: list[dict[str, Any]] = []
    for state in range(len(states)):
        row: dict[str, Any] = {}
        for symbol, (action, arg) in sorted(states[state].items(), key=lambda kv: str(kv[0])):
            if action is Shift:
                row[str(symbol)] = arg
                continue
            callback = callbacks[arg]
            if len(arg.expansion) == 1 and isinstance(callback, ExpandSingleChild):
                row[str(symbol)] = str(arg.origin.name)
                continue
            include: list[list[int]] | None = None
            if isinstance(callback, ChildFilterLALR_NoPlaceholders):
                include = [[i, int(bool(splice))] for i, splice in callback.to_include]
                callback = callback.node_builder
            if isinstance(callback, ExpandSingleChild):
                raise ValueError(f"rule {arg.origin.name}: a ?rule of several children is not encoded")
            row[str(symbol)] = [len(arg.expansion), str(arg.origin.name), _builder_of(callback), include]
        actions.append(row)
    start = {str(k): v for k, v in inner.parse_table.start_states.items()}
    end = {str(k): v for k, v in inner.parse_table.end_states.items()}
    return _renumbered(grammar_digest(text), start, end, actions)


def _renumbered(
    digest: str, start: dict[str, int], end: dict[str, int], actions: list[dict[str, Any]]
) -> dict[str, Any]:
    """The tables with states numbered in a canonical order (breadth first from the start
    states, symbols in name order): lark numbers them differently from one run to the next (its
    sets follow string hashing), and the shipped file must be comparable with a fresh build."""
    order: dict[int, int] = {}
    queue = [start[name] for name in sorted(start)]
    while queue:
        state = queue.pop(0)
        if state in order:
            continue
        order[state] = len(order)
        row = actions[state]
        queue += [row[s] for s in sorted(row) if type(row[s]) is int and row[s] not in order]
    for state in range(len(actions)):  # states no shift reaches (none in an LALR automaton)
        order.setdefault(state, len(order))
    new: list[dict[str, Any]] = [{} for _ in actions]
    for old, row in enumerate(actions):
        new[order[old]] = {s: (order[e] if type(e) is int else e) for s, e in row.items()}
    return {
        "grammar_sha256": digest,
        "start": {k: order[v] for k, v in sorted(start.items())},
        "end": {k: order[v] for k, v in sorted(end.items())},
        "actions": new,
    }


def _builder_methods() -> frozenset[str]:
    from vigil.eql.parser import _Builder

    return frozenset(n for n in dir(_Builder) if not n.startswith("_"))


class _Transformer:
    """What lark binds rule callbacks to at build time: the builder's method names, nothing else
    (rules without a method become lark trees, recorded as ``tree:NAME``)."""

    def __init__(self, names: frozenset[str]):
        for name in names:
            setattr(self, name, _Named(name))


class _Named:
    def __init__(self, name: str):
        self.name = name

    def __call__(self, children: list[Any]) -> Any:  # pragma: no cover - never called
        raise AssertionError(self.name)


def _builder_of(callback: Any) -> str:
    if isinstance(callback, _Named):
        return callback.name
    target = getattr(callback, "func", None)
    args = getattr(callback, "args", ())
    if target is not None and args:
        return f"tree:{args[0]}"
    raise ValueError(f"cannot encode the rule callback {callback!r}")


def write(path: Path = TABLES) -> None:
    """Build the tables and write them (compact JSON, one state per line for readable diffs)."""
    data = build()
    lines = ["{", f'"grammar_sha256": {json.dumps(data["grammar_sha256"])},']
    lines.append(f'"start": {json.dumps(data["start"], sort_keys=True)},')
    lines.append(f'"end": {json.dumps(data["end"], sort_keys=True)},')
    lines.append('"actions": [')
    rows = [json.dumps(row, separators=(",", ":")) for row in data["actions"]]
    lines.append(",\n".join(rows))
    lines.append("]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover - a maintainer's command
    write()
    print(f"wrote {TABLES} for grammar {grammar_digest()[:12]}", file=sys.stderr)
