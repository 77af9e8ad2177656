"""Compile EQL expressions into Python closures over event documents.

Each expression becomes one function ``fn(doc) -> value`` built once per query and schema. Literals
are pre-processed at compile time (coerced to the compared field's type, lowercased for
case-insensitive operators, patterns and regexes compiled, CIDRs parsed), so the per-event work is
a few dict look-ups and comparisons, never a walk over the syntax tree.

Values follow Elasticsearch's EQL semantics:

* three-valued logic: a predicate yields ``True``, ``False`` or ``None`` (null); only ``True``
  matches; ``not None`` is ``None``;
* a multi-valued field (a ``list``) satisfies a predicate when any of its values does;
* ``x == null`` / ``x != null`` are null tests;
* comparisons and string functions without ``~`` are case-sensitive, ``:`` and ``~`` forms are
  not; only ``:`` and ``like`` know wildcards.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import itertools
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from vigil.ecs.schema import FieldType, Schema
from vigil.engine.typed import coerce_literal, field_type, make_field_reader
from vigil.eql import ast
from vigil.eql.functions import FUNCTIONS, pushdown_matcher
from vigil.eql.patterns import lucene_regex_matcher, wildcard_matcher
from vigil.errors import EqlSemanticError, Location

Fn = Callable[[Any], Any]

_BOOLEAN_FUNCTIONS = {
    "between": False,
    "cidrMatch": True,
    "endsWith": True,
    "startsWith": True,
    "stringContains": True,
}

_ORDER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _const(value: Any) -> Fn:
    return lambda doc: value


def truth(v: Any) -> bool | None:
    """A value in a boolean position: True, False or None (null / not a boolean)."""
    if v is True or v is False:
        return v
    if type(v) is list:
        if True in v:
            return True
        if any(x is False for x in v):
            return False
    return None


def span_location(span: ast.Span | None, source: str | None) -> Location | None:
    """The error location of a node."""
    if span is None:
        return None
    return Location(span.line, span.column, max(1, span.end - span.start), source)


class ExprCompiler:
    """Compiles expressions for events of one schema (one index)."""

    def __init__(self, schema: Schema, source: str | None = None):
        self.schema = schema
        self.source = source

    # ------------------------------------------------------------------ entry points

    def predicate(self, expr: ast.Expr) -> Fn:
        """A function returning True / False / None for a document."""
        fn = self.value(expr)
        if _is_boolean(expr):
            return fn
        return lambda doc: truth(fn(doc))

    def value(self, expr: ast.Expr) -> Fn:
        """A function returning the value of ``expr`` for a document."""
        method = getattr(self, "_c_" + type(expr).__name__)
        fn: Fn = method(expr)
        return fn

    def static_type(self, expr: ast.Expr) -> FieldType:
        """The type of an expression when it is a plain field, else UNKNOWN."""
        if isinstance(expr, ast.Field):
            return field_type(self.schema, expr.path)
        return FieldType.UNKNOWN

    def error(self, message: str, node: Any) -> EqlSemanticError:
        """A semantic error located at ``node``."""
        return EqlSemanticError(message, span_location(getattr(node, "span", None), self.source))

    # ------------------------------------------------------------------ leaves

    def _c_Literal(self, node: ast.Literal) -> Fn:
        return _const(node.value)

    def _c_Field(self, node: ast.Field) -> Fn:
        if node.optional and not self.schema.knows(node.path) and self.schema.strict:
            return _const(None)
        return make_field_reader(self.schema, node.path)

    # ------------------------------------------------------------------ logic

    def _c_And(self, node: ast.And) -> Fn:
        fns = [self.predicate(t) for t in node.terms]
        if len(fns) == 2:
            fa, fb = fns

            def and2(doc: Any) -> Any:
                a = fa(doc)
                if a is False:
                    return False
                b = fb(doc)
                if b is False:
                    return False
                if a is True and b is True:
                    return True
                return None

            return and2

        def and_n(doc: Any) -> Any:
            unknown = False
            for f in fns:
                r = f(doc)
                if r is False:
                    return False
                if r is not True:
                    unknown = True
            return None if unknown else True

        return and_n

    def _c_Or(self, node: ast.Or) -> Fn:
        fns = [self.predicate(t) for t in node.terms]

        def or_n(doc: Any) -> Any:
            unknown = False
            for f in fns:
                r = f(doc)
                if r is True:
                    return True
                if r is not False:
                    unknown = True
            return None if unknown else False

        return or_n

    def _c_Not(self, node: ast.Not) -> Fn:
        f = self.predicate(node.expr)

        def not_(doc: Any) -> Any:
            r = f(doc)
            if r is True:
                return False
            if r is False:
                return True
            return None

        return not_

    # ------------------------------------------------------------------ comparisons

    def _c_Comparison(self, node: ast.Comparison) -> Fn:
        left, right, op = node.left, node.right, node.op
        if op in ("==", "!=") and (_is_null(left) or _is_null(right)):
            other = right if _is_null(left) else left
            f = self.value(other)
            if op == "==":
                return lambda doc: f(doc) is None
            return lambda doc: f(doc) is not None
        # Put a literal on the right so it can be coerced to the field's type once.
        if isinstance(left, ast.Literal) and not isinstance(right, ast.Literal):
            left, right = right, left
            op = _FLIP[op]
        if isinstance(right, ast.Literal):
            ftype = self.static_type(left)
            spec = self.schema.spec(left.path) if isinstance(left, ast.Field) else None
            lit = coerce_literal(right.value, ftype, spec)
            fl = self.value(left)
            if op in ("==", "!="):
                eq = _eq_literal(fl, lit)
                return eq if op == "==" else _negate(eq)
            return _order_literal(fl, lit, _ORDER_OPS[op])
        fl, fr = self.value(left), self.value(right)
        if op in ("==", "!="):
            eq = _eq_values(fl, fr)
            return eq if op == "==" else _negate(eq)
        return _order_values(fl, fr, _ORDER_OPS[op])

    def _c_InSet(self, node: ast.InSet) -> Fn:
        fx = self.value(node.expr)
        ftype = self.static_type(node.expr)
        spec = self.schema.spec(node.expr.path) if isinstance(node.expr, ast.Field) else None
        if all(isinstance(v, ast.Literal) for v in node.values):
            lits = [coerce_literal(v.value, ftype, spec) for v in node.values]  # type: ignore[union-attr]
            has_null = any(v is None for v in lits)
            members = [v for v in lits if v is not None]
            if node.insensitive:
                members = [v.lower() if type(v) is str else v for v in members]
            try:
                lookup: Any = frozenset(members)
            except TypeError:
                lookup = members
            insensitive = node.insensitive

            def in_lits(doc: Any) -> Any:
                v = fx(doc)
                if v is None:
                    return None
                vs = v if type(v) is list else (v,)
                for x in vs:
                    if insensitive and type(x) is str:
                        x = x.lower()
                    if type(x) is bool:
                        if any(m is x for m in members):
                            return True
                        continue
                    try:
                        if x in lookup:
                            return True
                    except TypeError:
                        continue
                return None if has_null else False

            return _negate(in_lits) if node.negated else in_lits
        fvs = [self.value(v) for v in node.values]
        insensitive = node.insensitive

        def in_exprs(doc: Any) -> Any:
            v = fx(doc)
            if v is None:
                return None
            unknown = False
            for fv in fvs:
                r = _eq(v, fv(doc), insensitive)
                if r is True:
                    return True
                if r is None:
                    unknown = True
            return None if unknown else False

        return _negate(in_exprs) if node.negated else in_exprs

    def _c_Match(self, node: ast.Match) -> Fn:
        fx = self.value(node.expr)
        texts: list[str] = []
        others: list[Any] = []
        for p in node.patterns:
            if not isinstance(p, ast.Literal):
                raise self.error(f"the patterns of {node.op!r} must be constants", p)
            if isinstance(p.value, str):
                texts.append(p.value)
            else:
                others.append(p.value)
        op = node.op
        try:
            if op in ("regex", "regex~"):
                matcher = lucene_regex_matcher(texts, op == "regex~")
            else:
                matcher = wildcard_matcher(texts, op in (":", "like~"))
        except EqlSemanticError as exc:
            if exc.location is None:
                exc.location = span_location(node.span, self.source)
            raise
        ftype = self.static_type(node.expr)
        spec = self.schema.spec(node.expr.path) if isinstance(node.expr, ast.Field) else None
        other_vals = [coerce_literal(o, ftype, spec) for o in others if o is not None]

        def match(doc: Any) -> Any:
            v = fx(doc)
            if v is None:
                return None
            vs = v if type(v) is list else (v,)
            for x in vs:
                if type(x) is str:
                    if texts and matcher(x):
                        return True
                elif (other_vals and any(_eq(x, o, False) is True for o in other_vals)) or (
                    texts and type(x) in (int, float) and type(x) is not bool and matcher(str(x))
                ):
                    return True
            return False

        return match

    # ------------------------------------------------------------------ arithmetic and functions

    def _c_Arithmetic(self, node: ast.Arithmetic) -> Fn:
        fa, fb = self.value(node.left), self.value(node.right)
        impl = FUNCTIONS[_ARITH[node.op]].impl
        return _lift2(fa, fb, lambda a, b: impl((a, b), False))

    def _c_Negate(self, node: ast.Negate) -> Fn:
        f = self.value(node.expr)

        def neg(doc: Any) -> Any:
            v = f(doc)
            if type(v) is list:
                return [-x for x in v if type(x) in (int, float)]
            if type(v) in (int, float) and type(v) is not bool:
                return -v
            return None

        return neg

    def _c_FunctionCall(self, node: ast.FunctionCall) -> Fn:
        spec = FUNCTIONS.get(node.name)
        if spec is None:
            raise self.error(f"unknown function {node.name}", node)
        if node.name == "cidrMatch":
            special = self._cidr_match(node)
            if special is not None:
                return special
        pushed = self._pushdown(node)
        if pushed is not None:
            return pushed
        arg_fns = [self.value(a) for a in node.args]
        impl, insensitive = spec.impl, node.insensitive

        def call(doc: Any) -> Any:
            args = [f(doc) for f in arg_fns]
            if any(type(a) is list for a in args):
                results = []
                for combo in itertools.product(*[a if type(a) is list else (a,) for a in args]):
                    r = impl(combo, insensitive)
                    if r is not None:
                        results.append(r)
                if not results:
                    return None
                return results if len(results) > 1 else results[0]
            return impl(args, insensitive)

        return call

    def _pushdown(self, node: ast.FunctionCall) -> Fn | None:
        """``startsWith``/``endsWith``/``stringContains`` of a field and a constant: Elasticsearch
        runs these as prefix / wildcard index queries, so a constant's ``*`` and ``?`` act as
        wildcards and a document without the field is false (not null)."""
        if node.name not in ("startsWith", "endsWith", "stringContains") or len(node.args) != 2:
            return None
        field, const = node.args
        if (
            not isinstance(field, ast.Field)
            or not isinstance(const, ast.Literal)
            or type(const.value) is not str
        ):
            return None
        matcher = pushdown_matcher(node.name, const.value, node.insensitive)
        if matcher is None:
            return None
        fx = self.value(field)

        def pushed(doc: Any) -> Any:
            v = fx(doc)
            if v is None:
                return False
            if type(v) is list:
                return any(type(x) is str and matcher(x) for x in v)
            return type(v) is str and matcher(v)

        return pushed

    def _cidr_match(self, node: ast.FunctionCall) -> Fn | None:
        """cidrMatch with constant CIDRs: parse them once; single addresses become a set. On a
        field Elasticsearch runs it as a terms query, so a missing field is false, not null."""
        if len(node.args) < 2 or not all(
            isinstance(a, ast.Literal) and type(a.value) is str for a in node.args[1:]
        ):
            return None
        exact: set[str] = set()
        nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for a in node.args[1:]:
            text = str(a.value)  # type: ignore[union-attr]
            try:
                net = ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise self.error(f"invalid CIDR block {text!r} in cidrMatch", a) from None
            if net.num_addresses == 1:
                exact.add(str(net.network_address))
            else:
                nets.append(net)
        fx = self.value(node.args[0])
        # The blocks as sorted, merged ranges of address numbers per IP version: one bisection
        # per test instead of a containment test per block.
        ranges = {v: _merged(n for n in nets if n.version == v) for v in (4, 6)}

        def test(v: Any) -> bool | None:
            if type(v) is not str:
                return None
            if v in exact:
                return True
            if not nets:
                # The value may be written in a non-canonical form (leading zeros, mapped v4).
                if ":" in v or v.count(".") == 3:
                    parsed = parsed_address(v)
                    return None if parsed is None else parsed[1] in exact
                return None
            parsed = parsed_address(v)
            if parsed is None:
                return None
            _ip, text, version, number = parsed
            if text in exact:
                return True
            starts, ends = ranges[version]
            i = bisect.bisect_right(starts, number) - 1
            return i >= 0 and number <= ends[i]

        missing = False if isinstance(node.args[0], ast.Field) else None

        def cidr(doc: Any) -> Any:
            v = fx(doc)
            if v is None:
                return missing
            if type(v) is list:
                rs = [test(x) for x in v]
                if True in rs:
                    return True
                return False if False in rs else None
            return test(v)

        return cidr


def _unmap(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_ARITH = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "modulo"}


@functools.lru_cache(maxsize=65_536)
def parsed_address(text: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, str, int, int] | None:
    """An address string parsed (IPv4-mapped IPv6 as IPv4): the address, its canonical text,
    version and number; None when it is no address. Remembered: every cidrMatch of every rule
    parses the same addresses."""
    try:
        ip = _unmap(ipaddress.ip_address(text))
    except ValueError:
        return None
    return ip, str(ip), ip.version, int(ip)


def _merged(nets: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> tuple[list[int], list[int]]:
    """The address ranges of ``nets`` merged: sorted starts and their ends (inclusive)."""
    spans = sorted((int(n.network_address), int(n.broadcast_address)) for n in nets)
    starts: list[int] = []
    ends: list[int] = []
    for lo, hi in spans:
        if ends and lo <= ends[-1] + 1:
            ends[-1] = max(ends[-1], hi)
        else:
            starts.append(lo)
            ends.append(hi)
    return starts, ends


def _is_null(e: ast.Expr) -> bool:
    return isinstance(e, ast.Literal) and e.value is None


def _is_boolean(e: ast.Expr) -> bool:
    if isinstance(e, (ast.Comparison, ast.Match, ast.InSet, ast.And, ast.Or, ast.Not)):
        return True
    if isinstance(e, ast.Literal):
        return e.value is True or e.value is False
    if isinstance(e, ast.FunctionCall):
        return _BOOLEAN_FUNCTIONS.get(e.name, False)
    return False


def _negate(f: Fn) -> Fn:
    def neg(doc: Any) -> Any:
        r = f(doc)
        if r is True:
            return False
        if r is False:
            return True
        return None

    return neg


def _same_kind(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    if ta is tb:
        return True
    if ta is bool or tb is bool:
        return False
    num = (int, float)
    return ta in num and tb in num


def _eq(a: Any, b: Any, insensitive: bool) -> bool | None:
    """Equality of two evaluated values with null and multi-value semantics."""
    if a is None or b is None:
        return None
    avs = a if type(a) is list else (a,)
    bvs = b if type(b) is list else (b,)
    for x in avs:
        for y in bvs:
            if not _same_kind(x, y):
                continue
            if insensitive and type(x) is str:
                if x.lower() == y.lower():
                    return True
            elif x == y:
                return True
    return False


def _eq_literal(fl: Fn, lit: Any) -> Fn:
    if lit is True or lit is False:

        def eq_bool(doc: Any) -> Any:
            v = fl(doc)
            if v is None:
                return None
            if type(v) is list:
                return any(x is lit for x in v)
            return v is lit

        return eq_bool
    lit_type = type(lit)
    numeric = lit_type in (int, float)

    def eq_lit(doc: Any) -> Any:
        v = fl(doc)
        if v is None:
            return None
        if type(v) is list:
            return any(x == lit and type(x) is not bool for x in v)
        if v == lit:
            return type(v) is not bool or not numeric
        return False

    return eq_lit


def _order_literal(fl: Fn, lit: Any, op: Callable[[Any, Any], bool]) -> Fn:
    def order(doc: Any) -> Any:
        v = fl(doc)
        if v is None:
            return None
        vs = v if type(v) is list else (v,)
        seen = False
        for x in vs:
            if not _same_kind(x, lit) and not hasattr(x, "key"):
                continue
            try:
                if op(x, lit):
                    return True
                seen = True
            except TypeError:
                continue
        return False if seen else None

    return order


def _eq_values(fl: Fn, fr: Fn) -> Fn:
    return lambda doc: _eq(fl(doc), fr(doc), False)


def _order_values(fl: Fn, fr: Fn, op: Callable[[Any, Any], bool]) -> Fn:
    def order(doc: Any) -> Any:
        a, b = fl(doc), fr(doc)
        if a is None or b is None:
            return None
        seen = False
        for x in a if type(a) is list else (a,):
            for y in b if type(b) is list else (b,):
                if not _same_kind(x, y):
                    continue
                try:
                    if op(x, y):
                        return True
                    seen = True
                except TypeError:
                    continue
        return False if seen else None

    return order


def _lift2(fa: Fn, fb: Fn, f: Callable[[Any, Any], Any]) -> Fn:
    def lifted(doc: Any) -> Any:
        a, b = fa(doc), fb(doc)
        if type(a) is list or type(b) is list:
            out = []
            for x in a if type(a) is list else (a,):
                for y in b if type(b) is list else (b,):
                    r = f(x, y)
                    if r is not None:
                        out.append(r)
            if not out:
                return None
            return out if len(out) > 1 else out[0]
        return f(a, b)

    return lifted


def compile_keys(compiler: ExprCompiler, keys: Sequence[ast.Expr]) -> list[tuple[Fn, FieldType, bool]]:
    """Join keys: (reader, type, optional) per key."""
    out = []
    for k in keys:
        # A literal null key is an optional field no mapping knows: every event joins under null.
        optional = (isinstance(k, ast.Field) and k.optional) or (
            isinstance(k, ast.Literal) and k.value is None
        )
        out.append((compiler.value(k), compiler.static_type(k), optional))
    return out
