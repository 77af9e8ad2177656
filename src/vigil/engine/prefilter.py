"""A conservative raw-bytes pre-check: skip decoding lines no filter of the query can match.

Decoding JSON is most of the cost of a hunt. Many filters name literals that any matching event
must contain somewhere in its raw line (``event.category == "process"`` needs ``process``;
``destination.port == 445`` needs ``445``). From each filter we derive *clauses*: sets of byte
needles of which at least one must occur. A line passes when some filter of the query has all its
clauses satisfied.

It must never reject a line that could match, so it is deliberately timid:

* a needle is the longest run of plain ASCII characters of a literal (JSON may escape ``\\``,
  ``"``, ``/`` and anything non-ASCII, so those split runs), at least 3 bytes;
* case-insensitive operators test the lowercased line;
* types whose text has several spellings (ip, date, version, floating point, boolean) give none;
* ``not``, ``!=``, ranges, regexes and functions other than the string tests give none;
* needles use only characters that JSON encoders write as themselves (letters, digits and
  punctuation that no mainstream encoder escapes: not ``< > & ' +``, which Go and .NET escape
  as ``\\u`` sequences). An encoder that escapes plain ASCII letters or digits would defeat it.

An exact-value test (``==``, ``in``, ``:`` without wildcards) of a plain literal also gets a
*confirming* regex: the literal must appear as a whole JSON value (``"start"`` followed by ``,``
``]`` or ``}``), not inside a key or a longer string; the needle is only the cheap first look.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vigil.ecs.schema import FieldType, SchemaRegistry
from vigil.engine.model import QueryOptions
from vigil.eql import ast

_SAFE_RUN = re.compile(r"[A-Za-z0-9 !#$%()*,\-.:;=?@\[\]^_`{|}~]+")
_MIN_NEEDLE = 3
_WILD = re.compile(r"[*?]")
_NO_TEXT_TYPES = {
    FieldType.IP,
    FieldType.DATE,
    FieldType.DATE_NANOS,
    FieldType.VERSION,
    FieldType.DOUBLE,
    FieldType.BOOLEAN,
}


@dataclass(frozen=True)
class Needle:
    """A byte string that must occur, and optionally a regex that must then match the line.

    The regex is kept as source and compiled on first use: a rule set of a thousand queries
    derives tens of thousands of them, and the rule-set pre-filter never uses them.
    """

    text: bytes
    confirm_source: bytes | None = None
    confirm_flags: int = 0

    @property
    def confirm(self) -> re.Pattern[bytes] | None:
        """The confirming regex, compiled (once per distinct source)."""
        if self.confirm_source is None:
            return None
        key = (self.confirm_source, self.confirm_flags)
        found = _COMPILED.get(key)
        if found is None:
            found = _COMPILED[key] = re.compile(self.confirm_source, self.confirm_flags)
        return found


_COMPILED: dict[tuple[bytes, int], re.Pattern[bytes]] = {}


@dataclass(frozen=True)
class Clause:
    """At least one needle must occur (in the lowercased line when ``insensitive``)."""

    needles: frozenset[Needle]
    insensitive: bool

    def weight(self) -> int:
        """Shorter worst-case needles are less selective; test selective clauses first."""
        return min(len(n.text) + (8 if n.confirm_source is not None else 0) for n in self.needles)


Requirement = list[Clause]  # all clauses must hold


def _needle(text: str, wildcards: bool) -> bytes | None:
    parts = re.split(r"[*?]", text) if wildcards else [text]
    best = ""
    for part in parts:
        for run in _SAFE_RUN.findall(part):
            if len(run) > len(best):
                best = run
    if len(best) < _MIN_NEEDLE:
        return None
    return best.encode("ascii")


class _Deriver:
    def __init__(self, registry: SchemaRegistry):
        self.registry = registry

    def text_field(self, expr: ast.Expr) -> bool:
        """True when a literal compared with ``expr`` appears as written in the raw line."""
        if not isinstance(expr, ast.Field):
            return False
        for schema in self.registry.all():
            spec = schema.spec(expr.path)
            if spec is not None and (spec.type in _NO_TEXT_TYPES or spec.null_value is not None):
                return False
        return True

    def key_of(self, expr: ast.Expr) -> str | None:
        """The JSON key a field's value stands under (its last path segment, after aliases), when
        every schema agrees on it."""
        if not isinstance(expr, ast.Field):
            return None
        keys = {schema.resolve(expr.path).rsplit(".", 1)[-1] for schema in self.registry.all()}
        return keys.pop() if len(keys) == 1 else None

    def literal_needle(self, value: object, wildcards: bool, exact: bool, key: str | None) -> Needle | None:
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, int):
            text = str(value)
            if len(text) < _MIN_NEEDLE or abs(value) >= 10**15:
                return None
            raw = text.encode()
            # A number field may hold 445, 445.0 or "445".
            return Needle(
                raw, _value_regex(rb'"?' + re.escape(raw) + rb'(?:\.0*)?"?', key) if exact else None
            )
        if isinstance(value, str):
            if exact and not wildcards and _SAFE_RUN.fullmatch(value) and "/" not in value:
                quoted = b'"' + value.encode("ascii") + b'"'
                return Needle(quoted, _value_regex(re.escape(quoted), key))
            text_needle = _needle(value, wildcards)
            return Needle(text_needle) if text_needle is not None else None
        return None

    def clause(
        self,
        values: tuple[ast.Expr, ...],
        insensitive: bool,
        wildcards: bool,
        exact: bool = False,
        key: str | None = None,
    ) -> Clause | None:
        needles = set()
        for v in values:
            if not isinstance(v, ast.Literal):
                return None
            n = self.literal_needle(v.value, wildcards, exact, key)
            if n is None:
                return None
            if insensitive:
                src = n.confirm_source
                n = Needle(n.text.lower(), src.lower() if src else None, re.IGNORECASE if src else 0)
            needles.add(n)
        if not needles:
            return None
        return Clause(frozenset(needles), insensitive)

    def require(self, expr: ast.Expr) -> Requirement:
        if isinstance(expr, ast.And):
            out: Requirement = []
            for t in expr.terms:
                out.extend(self.require(t))
            return out
        if isinstance(expr, ast.Or):
            merged: set[Needle] = set()
            insensitive = False
            for t in expr.terms:
                req = self.require(t)
                if not req:
                    return []
                best = max(req, key=Clause.weight)
                merged |= best.needles
                insensitive = insensitive or best.insensitive
            if insensitive:
                merged = {
                    Needle(
                        n.text.lower(),
                        n.confirm_source.lower() if n.confirm_source else None,
                        re.IGNORECASE if n.confirm_source else 0,
                    )
                    for n in merged
                }
            return [Clause(frozenset(merged), insensitive)]
        if isinstance(expr, ast.Comparison) and expr.op == "==":
            left, right = expr.left, expr.right
            if isinstance(left, ast.Literal):
                left, right = right, left
            if isinstance(right, ast.Literal) and right.value is not None and self.text_field(left):
                c = self.clause((right,), False, False, exact=True, key=self.key_of(left))
                return [c] if c else []
            return []
        if isinstance(expr, ast.InSet) and not expr.negated and self.text_field(expr.expr):
            c = self.clause(expr.values, expr.insensitive, False, exact=True, key=self.key_of(expr.expr))
            return [c] if c else []
        if isinstance(expr, ast.Match) and expr.op in (":", "like", "like~") and self.text_field(expr.expr):
            plain = all(
                isinstance(p, ast.Literal) and isinstance(p.value, str) and not _WILD.search(p.value)
                for p in expr.patterns
            )
            c = self.clause(
                expr.patterns, expr.op != "like", not plain, exact=plain, key=self.key_of(expr.expr)
            )
            return [c] if c else []
        if (
            isinstance(expr, ast.FunctionCall)
            and expr.name in ("startsWith", "endsWith", "stringContains")
            and len(expr.args) == 2
            and self.text_field(expr.args[0])
        ):
            c = self.clause((expr.args[1],), expr.insensitive, False)
            return [c] if c else []
        return []

    def filter_requirement(self, query: ast.EventQuery, category_field: str) -> Requirement:
        req = list(self.require(query.condition))
        if query.category is not None:
            cat = ast.Comparison("==", ast.Field(category_field), ast.Literal(query.category))
            req.extend(self.require(cat))
        return sorted(req, key=Clause.weight, reverse=True)


# Skips one JSON array element (a string, with its escapes, or any other token).
_ELEMENT = rb'(?:[^\]"]|"(?:[^"\\]|\\.)*")*?'


def _value_regex(value: bytes, key: str | None) -> bytes:
    """A JSON value equal to ``value`` (a regex), as the whole value or an array element, under
    ``key`` when known. Keys are matched by their last segment, so nested and dotted spellings of
    a field both pass; so may other fields with the same last segment (harmless: more passes)."""
    tail = rb"\s*[,\]}]"
    if key is None:
        return rb"[:\[,]\s*" + value + tail
    k = re.escape(key.encode())
    return k + rb'"\s*:\s*(?:' + value + rb"|\[" + _ELEMENT + value + rb")" + tail


def build_line_filter(
    query: ast.Query, registry: SchemaRegistry, options: QueryOptions
) -> Callable[[bytes], bool] | None:
    """The pre-check for a query, or None when some filter has no requirement at all."""
    reqs = query_requirements(query, registry, options)
    return None if reqs is None else _make_filter(reqs)


def query_requirements(
    query: ast.Query, registry: SchemaRegistry, options: QueryOptions
) -> list[Requirement] | None:
    """One requirement per filter of the query (a line any filter may match meets at least one
    of them), or None when some filter has none (then every line may matter)."""
    deriver = _Deriver(registry)
    body = query.body
    if isinstance(body, ast.EventQuery):
        filters = [body]
    else:
        filters = [s.query for s in body.steps]
        if isinstance(body, ast.SequenceQuery) and body.until is not None:
            filters.append(body.until.query)
    reqs = [deriver.filter_requirement(f, options.event_category_field) for f in filters]
    if any(not r for r in reqs):
        return None
    return reqs


_CALIBRATION_LINES = 2000


class LineFilter:
    """The generated pre-check, tuned to the data it sees.

    Calling it works at once (tests in a static order). Over its first lines it also measures how
    often each test of each filter passes; then it regenerates itself with every filter's tests
    in the order that rejects soonest per unit of cost (a regex scan costs about 1.6 substring
    tests). Readers fetch :attr:`fast` again after a few thousand lines to use the tuned version.
    Tuning changes only the order of the tests, never the answer.
    """

    def __init__(self, reqs: list[Requirement]):
        self.reqs = reqs
        # Built on first use: compiling the tests (and their regexes) is wasted for queries run
        # under a rule-set pre-filter instead.
        self._fast: Callable[[bytes], bool] | None = None
        self.order: list[list[int]] = []  # the tests' order in :attr:`fast`, per filter

    @property
    def fast(self) -> Callable[[bytes], bool]:
        """The generated test (tuned once calibrated)."""
        if self._fast is None:
            self._build()
        assert self._fast is not None
        return self._fast

    def _build(self) -> None:
        reqs = self.reqs
        self.tests = [[_clause_source(fi, ci, c) for ci, c in enumerate(req)] for fi, req in enumerate(reqs)]
        self.env: dict[str, object] = {}
        for req_tests in self.tests:
            for _src, env, _cost in req_tests:
                self.env.update(env)
        self.lower = any(c.insensitive for r in reqs for c in r)
        order = [sorted(range(len(t)), key=[cost for _s, _e, cost in t].__getitem__) for t in self.tests]
        self.order = order
        self._fast = self._generate(order)
        self._seen = 0
        self._passes = [[0] * len(t) for t in self.tests]
        self._spent = [[0] * len(t) for t in self.tests]  # nanoseconds per test while calibrating
        self._probe = [[self._compile_test(src) for src, _env, _cost in t] for t in self.tests]

    def _compile_test(self, src: str) -> Callable[[bytes, bytes], bool]:
        env = dict(self.env)
        exec(f"def t(line, low):\n    return bool({src})", env)
        fn: Callable[[bytes, bytes], bool] = env["t"]  # type: ignore[assignment]
        return fn

    def _generate(self, order: list[list[int]]) -> Callable[[bytes], bool]:
        body = ["def line_filter(line):"]
        if self.lower:
            body.append("    low = line.lower()")
        for tests, idx in zip(self.tests, order, strict=True):
            body.append("    if " + " and ".join(tests[i][0] for i in idx) + ":\n        return True")
        body.append("    return False")
        env = dict(self.env)
        exec("\n".join(body), env)
        fn: Callable[[bytes], bool] = env["line_filter"]  # type: ignore[assignment]
        return fn

    def __call__(self, line: bytes) -> bool:
        if self._fast is None:
            self._build()
        if self._seen < _CALIBRATION_LINES:
            self._seen += 1
            low = line.lower() if self.lower else line
            clock = time.perf_counter_ns
            for passes, spent, probes in zip(self._passes, self._spent, self._probe, strict=True):
                for i, probe in enumerate(probes):
                    started = clock()
                    hit = probe(line, low)
                    spent[i] += clock() - started
                    if hit:
                        passes[i] += 1
            if self._seen == _CALIBRATION_LINES:
                self._tune()
        return self.fast(line)

    def _tune(self) -> None:
        order = []
        n = max(1, self._seen)
        for tests, passes, spent in zip(self.tests, self._passes, self._spent, strict=True):
            # Cost per unit of rejection: tests that reject often and cheaply go first. The cost
            # is the time each test took on these lines (a needle present in every line makes its
            # confirming regex run every time; a rare one spares it), else the static estimate.
            timed = all(spent)
            costs = [spent[i] if timed else tests[i][2] for i in range(len(tests))]
            scores = [costs[i] / max(1e-3, 1.0 - passes[i] / n) for i in range(len(tests))]
            order.append(sorted(range(len(tests)), key=scores.__getitem__))
        self.order = order
        self._fast = self._generate(order)

    def calibrate(self, lines: Iterable[bytes]) -> list[list[int]]:
        """Tune on ``lines`` (a sample of the input) now, however few they are, and return the
        order of the tests chosen: :meth:`use_order` gives it to a copy of this filter built in
        another process, which then starts tuned instead of calling :attr:`fast` untuned."""
        if self._fast is None:
            self._build()
        for line in lines:
            if self._seen >= _CALIBRATION_LINES:
                break
            self(line)
        if self._seen < _CALIBRATION_LINES:
            self._seen = _CALIBRATION_LINES
            self._tune()
        return self.order

    def use_order(self, order: list[list[int]]) -> None:
        """Test in ``order`` (from :meth:`calibrate` of the same query's filter) from now on."""
        if self._fast is None:
            self._build()
        self.order = order
        self._seen = _CALIBRATION_LINES
        self._fast = self._generate(order)


def _clause_source(fi: int, ci: int, clause: Clause) -> tuple[str, dict[str, object], float]:
    """Python source of one clause test, the names it uses, and its rough cost."""
    hay = "low" if clause.insensitive else "line"
    env: dict[str, object] = {}
    alternatives = []
    cost = 0.0
    for ni, needle in enumerate(sorted(clause.needles, key=lambda n: n.text)):
        name = f"n{fi}_{ci}_{ni}"
        env[name] = needle.text
        cost += 1.0
        if needle.confirm is not None:
            env[name + "_re"] = needle.confirm.search
            alternatives.append(f"({name} in {hay} and {name}_re({hay}) is not None)")
            cost += 0.6
        else:
            alternatives.append(f"{name} in {hay}")
    return "(" + " or ".join(alternatives) + ")", env, cost


def _make_filter(reqs: list[Requirement]) -> Callable[[bytes], bool]:
    return LineFilter(reqs)
