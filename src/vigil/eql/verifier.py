"""Checks on a parsed query that Elasticsearch makes after building it, before any data is read.

Structure (the builder's checks): a sequence has at least two steps (a step with ``runs=N``
counts N times), every step has as many ``by`` keys as the first, a join key is a field, missing
events ``![...]`` need a ``maxspan`` and at least one ordinary step, a sample has at least two
filters and join keys, and the only pipes are ``head N`` and ``tail N``. Functions: a known name,
``~`` only where a case-insensitive variant exists, the right argument count.

Comparisons: Elasticsearch translates each filter into a search query, and a comparison can
only become one when one side is a constant: it moves a constant on the left to the right
(``"x" == f`` is ``f == "x"``), then refuses any comparison whose right side is not constant
("Comparisons against fields are not supported"). So ``a == b``, ``length(a) == length(b)``
and ``a in (b, "x")`` are rejected, while ``a + 1 == 3`` and ``"x" == a`` are fine.

An optional field ``?f`` that the data does not know becomes the constant null, so ``?x == ?y`` is
valid; whether ``?f`` is known depends on the data, so that case is left to the engine. Only
comparisons that are themselves conditions (reached through and/or/not) are translated that way;
a comparison used as a value (inside a function or arithmetic) is evaluated by a script instead.
"""

from __future__ import annotations

from collections.abc import Iterator

from vigil.eql import ast, names
from vigil.errors import EqlSemanticError, EqlUnsupportedError, Location

__all__ = ["has_required_field", "verify_expression", "verify_query"]


def has_required_field(expr: ast.Expr) -> bool:
    """Whether ``expr`` reads a non-optional field (so it can never be a constant)."""
    if isinstance(expr, ast.Field):
        return not expr.optional
    if isinstance(expr, ast.Literal):
        return False
    return any(has_required_field(child) for child in ast.children(expr))


def _location(node: object, source: str | None) -> Location | None:
    span = getattr(node, "span", None)
    if span is None:
        return None
    return Location(span.line, span.column, max(span.end - span.start, 1), source)


def _check_condition(expr: ast.Expr, source: str | None) -> None:
    if isinstance(expr, (ast.And, ast.Or)):
        for term in expr.terms:
            _check_condition(term, source)
    elif isinstance(expr, ast.Not):
        _check_condition(expr.expr, source)
    elif isinstance(expr, ast.Comparison):
        if has_required_field(expr.left) and has_required_field(expr.right):
            raise EqlUnsupportedError(
                f"Elasticsearch EQL cannot compare a field to another field ({expr.op})",
                _location(expr, source),
                "compare each side to a constant instead; a field that may be absent can be "
                "written ?field, which is null when the data does not have it",
            )
    elif isinstance(expr, ast.InSet) and has_required_field(expr.expr):
        for value in expr.values:
            if has_required_field(value):
                raise EqlUnsupportedError(
                    "Elasticsearch EQL cannot compare a field to another field "
                    f"({'not ' if expr.negated else ''}in{'~' if expr.insensitive else ''})",
                    _location(value, source),
                    "the values of in (...) must be constants",
                )


def _steps(body: ast.QueryBody) -> Iterator[ast.SequenceStep]:
    if isinstance(body, ast.EventQuery):
        return
    yield from body.steps
    if isinstance(body, ast.SequenceQuery) and body.until is not None:
        yield body.until


def _event_queries(body: ast.QueryBody) -> Iterator[ast.EventQuery]:
    if isinstance(body, ast.EventQuery):
        yield body
    for step in _steps(body):
        yield step.query


def _expressions(query: ast.Query) -> Iterator[ast.Expr]:
    """Every top-level expression of a query, in source order."""
    body = query.body
    if not isinstance(body, ast.EventQuery):
        yield from body.keys
    for step in _steps(body):
        yield step.query.condition
        yield from step.keys
    if isinstance(body, ast.EventQuery):
        yield body.condition
    for pipe in query.pipes:
        yield from pipe.args


def _check_function(call: ast.FunctionCall, source: str | None) -> None:
    where = _location(call, source)
    spec = names.lookup_function(call.name)
    if spec is None:
        endgame = names.endgame_function_hint(call.name)
        if endgame is not None:
            raise EqlUnsupportedError(
                f"Elasticsearch EQL does not support the function {call.name}", where, endgame or None
            )
        close = names.function_suggestion(call.name)
        raise EqlSemanticError(
            f"unknown function {call.name}",
            where,
            f"did you mean {close}?" if close else "the functions are " + ", ".join(sorted(names.FUNCTIONS)),
        )
    if call.insensitive and not spec.insensitive_variant:
        variants = ", ".join(s.name for s in names.FUNCTIONS.values() if s.insensitive_variant)
        raise EqlSemanticError(
            f"function {spec.name} has no case-insensitive variant {spec.name}~",
            where,
            f"only {variants} accept ~",
        )
    count = len(call.args)
    if not spec.accepts(count):
        plural = "" if spec.arity_text().endswith("1") else "s"
        raise EqlSemanticError(
            f"function {spec.name} takes {spec.arity_text()} argument{plural}, but "
            f"{count} {'was' if count == 1 else 'were'} given",
            where,
        )


def _check_functions(exprs: Iterator[ast.Expr], source: str | None) -> None:
    for expr in exprs:
        for node in ast.walk(expr):
            if isinstance(node, ast.FunctionCall):
                _check_function(node, source)


def _check_pipe(pipe: ast.Pipe, source: str | None) -> None:
    where = _location(pipe, source)
    if pipe.name in names.SUPPORTED_PIPES:
        arg = pipe.args[0] if len(pipe.args) == 1 else None
        if not (isinstance(arg, ast.Literal) and type(arg.value) is int):
            raise EqlSemanticError(
                f"the {pipe.name} pipe takes one whole number (0 or more)",
                where,
                f"write for example | {pipe.name} 10",
            )
    elif pipe.name in names.ENDGAME_PIPES:
        raise EqlUnsupportedError(
            f"Elasticsearch EQL does not support the {pipe.name} pipe",
            where,
            "only the head and tail pipes exist in Elasticsearch EQL",
        )
    else:
        close = names.did_you_mean(pipe.name, names.SUPPORTED_PIPES)
        raise EqlSemanticError(
            f"unknown pipe {pipe.name}",
            where,
            f"did you mean {close}?" if close else "the pipes are head and tail",
        )


def _check_keys(keys: tuple[ast.Expr, ...], source: str | None) -> None:
    for key in keys:
        if not isinstance(key, ast.Field):
            raise EqlUnsupportedError(
                "Elasticsearch EQL joins on fields only, not on expressions",
                _location(key, source),
                "use a field (or ?field) as a join key",
            )


def _check_key_counts(steps: tuple[ast.SequenceStep, ...], source: str | None) -> None:
    expected = len(steps[0].keys) if steps else 0
    for step in steps[1:]:
        if len(step.keys) != expected:
            raise EqlSemanticError(
                f"inconsistent number of join keys: expected {expected} but found {len(step.keys)}",
                _location(step.keys[0] if step.keys else step, source),
                "every step needs the same number of `by` keys",
            )


def _check_sequence(seq: ast.SequenceQuery, source: str | None) -> None:
    where = _location(seq, source)
    count = sum(step.runs for step in seq.steps)
    if count < 2:
        raise EqlSemanticError(
            f"a sequence needs at least 2 steps, found {count}",
            where,
            "a step repeated with `with runs=N` counts N times",
        )
    if seq.until is not None and (seq.until.missing or seq.until.runs != 1):
        what = "be a missing event ![...]" if seq.until.missing else "have runs"
        raise EqlSemanticError(f"the until step cannot {what}", _location(seq.until, source))
    if any(step.missing for step in seq.steps):
        if all(step.missing for step in seq.steps):
            raise EqlSemanticError(
                "a sequence needs at least one step that is not a missing event ![...]", where
            )
        if seq.maxspan is None:
            raise EqlSemanticError(
                "a sequence with missing events ![...] needs a maxspan",
                where,
                "write: sequence with maxspan=5m [...] ![...]",
            )
    _check_key_counts((*seq.steps, *((seq.until,) if seq.until else ())), source)


def _check_sample(sample: ast.SampleQuery, source: str | None) -> None:
    where = _location(sample, source)
    if len(sample.steps) < 2:
        raise EqlSemanticError(f"a sample needs at least 2 filters, found {len(sample.steps)}", where)
    for step in sample.steps:
        if step.missing:
            raise EqlSemanticError(
                "a sample cannot have missing-event filters ![...]",
                _location(step, source),
                "missing events exist only in sequences",
            )
        if step.runs != 1:
            raise EqlSemanticError("a sample filter cannot have runs", _location(step, source))
    _check_key_counts(sample.steps, source)
    if not sample.keys and not sample.steps[0].keys:
        raise EqlSemanticError("a sample needs join keys", where, "write: sample by host.name [...] [...]")


def verify_expression(expr: ast.Expr, source: str | None = None) -> None:
    """Check the function calls in a lone expression (names, ``~`` variants, argument counts)."""
    _check_functions(iter((expr,)), source)


def verify_query(query: ast.Query) -> None:
    """Raise the error Elasticsearch raises for a query it parses but refuses.

    In Elasticsearch's order: the query's structure (steps, keys, pipes), then functions, then
    comparisons between fields.
    """
    source, body = query.source, query.body
    if isinstance(body, ast.SequenceQuery):
        _check_keys(body.keys, source)
        for step in _steps(body):
            _check_keys(step.keys, source)
        _check_sequence(body, source)
    elif isinstance(body, ast.SampleQuery):
        _check_keys(body.keys, source)
        for step in body.steps:
            _check_keys(step.keys, source)
        _check_sample(body, source)
    for pipe in query.pipes:
        _check_pipe(pipe, source)
    _check_functions(_expressions(query), source)
    for event_query in _event_queries(body):
        _check_condition(event_query.condition, source)
