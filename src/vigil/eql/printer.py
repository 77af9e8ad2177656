"""Print a syntax tree back as canonical EQL text.

The canonical form: lowercase keywords; strings in double quotes with escapes (``\\"``, ``\\\\``,
``\\n``, ``\\r``, ``\\t``, ``\\b``, ``\\f``, and ``\\u{XX}`` for other unprintable characters); the
canonical camelCase function names; field names in backquotes only where needed
(``process.`my field```); parentheses only where precedence requires them; a single space
around binary operators and after commas.

An event query is one line (``process where x == 1 | head 5``). A sequence or sample puts its
header on the first line (``sequence by host.id with maxspan=5m``), then each step on its own line
indented by two spaces, then ``until [...]`` and each pipe on lines of their own::

    sequence by host.id with maxspan=5m
      [process where process.name == "cmd.exe"] by process.pid
      ![network where true] by process.pid
    until [process where event.type == "end"] by process.pid
    | head 10

For every tree the parser produces, ``parse(to_text(tree)) == tree``. Trees built by hand print
the same way; a construct the grammar cannot express (a negative number literal, a pattern that is
not a literal) is printed in the closest form, which parses to an equivalent tree.
"""

from __future__ import annotations

import re

from vigil.eql import ast, names

__all__ = ["to_text"]

# Precedence levels, loosest first; a child printed below its parent's required level gets parentheses.
_OR, _AND, _NOT, _COMPARE, _ADD, _MUL, _UNARY, _PREDICATE, _PRIMARY = range(1, 10)
_NAME = re.compile(r"[A-Za-z_@][A-Za-z0-9_]*")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}

Node = (
    ast.Expr
    | ast.Query
    | ast.EventQuery
    | ast.SequenceQuery
    | ast.SampleQuery
    | ast.SequenceStep
    | ast.Pipe
    | ast.TimeSpan
)


def to_text(node: Node) -> str:
    """The canonical EQL text of a query, query part or expression."""
    if isinstance(node, ast.Query):
        return _query(node)
    if isinstance(node, (ast.EventQuery, ast.SequenceQuery, ast.SampleQuery)):
        return _body(node)
    if isinstance(node, ast.SequenceStep):
        return _step(node)
    if isinstance(node, ast.Pipe):
        return _pipe(node)
    if isinstance(node, ast.TimeSpan):
        return f"{node.value}{node.unit}"
    return _expr(node, _OR)


def quote_string(value: str) -> str:
    """``value`` as an EQL double-quoted string literal."""
    out = ['"']
    for ch in value:
        escaped = _ESCAPES.get(ch)
        if escaped is not None:
            out.append(escaped)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\u{{{ord(ch):02X}}}")
    out.append('"')
    return "".join(out)


def quote_name(part: str) -> str:
    """One segment of a field name, backquoted when it is not a plain name or is a keyword."""
    if _NAME.fullmatch(part) and part not in names.KEYWORDS:
        return part
    return "`" + part.replace("`", "``") + "`"


def _literal(value: str | int | float | bool | None) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, float):
        # repr is the shortest text that reads back as the same float (1e+19, 0.5, 2.0)
        return repr(value)
    return str(value)


def _field(node: ast.Field) -> str:
    return ("?" if node.optional else "") + ".".join(quote_name(p) for p in node.path.split("."))


def _join(items: tuple[ast.Expr, ...]) -> str:
    return ", ".join(_expr(item, _OR) for item in items)


def _expr(node: ast.Expr, level: int) -> str:
    text, own = _expr_text(node)
    return f"({text})" if own < level else text


def _expr_text(node: ast.Expr) -> tuple[str, int]:
    """The text of ``node`` without outer parentheses, and its precedence level."""
    if isinstance(node, ast.Literal):
        text = _literal(node.value)
        # a negative number reads back as a negation; give it a negation's level
        return text, (_UNARY if text.startswith("-") else _PRIMARY)
    if isinstance(node, ast.Field):
        return _field(node), _PRIMARY
    if isinstance(node, ast.FunctionCall):
        return f"{node.name}{'~' if node.insensitive else ''}({_join(node.args)})", _PRIMARY
    if isinstance(node, ast.Or):
        return " or ".join(_expr(t, _AND) for t in node.terms), _OR
    if isinstance(node, ast.And):
        return " and ".join(_expr(t, _NOT) for t in node.terms), _AND
    if isinstance(node, ast.Not):
        return f"not {_expr(node.expr, _NOT)}", _NOT
    if isinstance(node, ast.Comparison):
        return f"{_expr(node.left, _ADD)} {node.op} {_expr(node.right, _ADD)}", _COMPARE
    if isinstance(node, ast.Arithmetic):
        own = _ADD if node.op in ("+", "-") else _MUL
        return f"{_expr(node.left, own)} {node.op} {_expr(node.right, own + 1)}", own
    if isinstance(node, ast.Negate):
        operand = _expr(node.expr, _UNARY)
        # "--" is two minus signs to EQL, but a space keeps it readable
        return f"- {operand}" if operand.startswith("-") else f"-{operand}", _UNARY
    if isinstance(node, ast.InSet):
        op = ("not " if node.negated else "") + ("in~" if node.insensitive else "in")
        return f"{_expr(node.expr, _PRIMARY)} {op} ({_join(node.values)})", _PREDICATE
    if isinstance(node, ast.Match):
        patterns = node.patterns
        right = _expr(patterns[0], _PRIMARY) if len(patterns) == 1 else f"({_join(patterns)})"
        return f"{_expr(node.expr, _PRIMARY)} {node.op} {right}", _PREDICATE
    raise TypeError(f"not an EQL expression: {node!r}")


def _category(category: str | None) -> str:
    if category is None:
        return "any"
    if _NAME.fullmatch(category) and category not in names.KEYWORDS:
        return category
    return quote_string(category)


def _event(node: ast.EventQuery) -> str:
    return f"{_category(node.category)} where {_expr(node.condition, _OR)}"


def _step(step: ast.SequenceStep) -> str:
    text = f"{'![' if step.missing else '['}{_event(step.query)}]"
    if step.keys:
        text += f" by {_join(step.keys)}"
    if step.runs != 1:
        text += f" with runs={step.runs}"
    return text


def _body(node: ast.QueryBody) -> str:
    if isinstance(node, ast.EventQuery):
        return _event(node)
    header = "sequence" if isinstance(node, ast.SequenceQuery) else "sample"
    if node.keys:
        header += f" by {_join(node.keys)}"
    lines = [header]
    if isinstance(node, ast.SequenceQuery) and node.maxspan is not None:
        lines[0] += f" with maxspan={node.maxspan.value}{node.maxspan.unit}"
    lines.extend(f"  {_step(step)}" for step in node.steps)
    if isinstance(node, ast.SequenceQuery) and node.until is not None:
        lines.append(f"until {_step(node.until)}")
    return "\n".join(lines)


def _pipe(pipe: ast.Pipe) -> str:
    return f"| {pipe.name}" + (f" {_join(pipe.args)}" if pipe.args else "")


def _query(query: ast.Query) -> str:
    text = _body(query.body)
    if not query.pipes:
        return text
    separator = " " if isinstance(query.body, ast.EventQuery) else "\n"
    return text + separator + separator.join(_pipe(p) for p in query.pipes)
