"""The names Elasticsearch EQL knows: functions, keywords, pipes, and what Endgame EQL had on top.

Facts taken from Elasticsearch 8.x (``EqlFunctionRegistry``, ``EqlBase.g4``, the EQL reference):

* Function names are resolved case-insensitively (``cidrmatch``, ``STARTSWITH`` and ``startsWith``
  are the same function); vigil's syntax tree always holds the canonical camelCase name.
* A ``~`` directly after the name (``startsWith~(...)``) asks for the case-insensitive variant,
  which only ``between``, ``endsWith``, ``indexOf``, ``startsWith`` and ``stringContains`` have.
* Keywords are reserved and lowercase only: ``AND`` is an identifier, not the operator.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class FunctionSpec:
    """One Elasticsearch EQL function: canonical name, argument counts, ``~`` variant."""

    name: str
    min_args: int
    max_args: int | None  # None: any number from min_args up
    insensitive_variant: bool = False

    def arity_text(self) -> str:
        """The accepted argument counts in words (``2``, ``2 or 3``, ``at least 2``)."""
        if self.max_args is None:
            return f"at least {self.min_args}"
        if self.max_args == self.min_args:
            return str(self.min_args)
        if self.max_args == self.min_args + 1:
            return f"{self.min_args} or {self.max_args}"
        return f"{self.min_args} to {self.max_args}"

    def accepts(self, count: int) -> bool:
        """Whether ``count`` arguments are allowed."""
        return count >= self.min_args and (self.max_args is None or count <= self.max_args)


_SPECS = (
    FunctionSpec("add", 2, 2),
    FunctionSpec("between", 3, 4, insensitive_variant=True),
    FunctionSpec("cidrMatch", 2, None),
    FunctionSpec("concat", 0, None),  # no minimum in Elasticsearch: concat() is ""
    FunctionSpec("divide", 2, 2),
    FunctionSpec("endsWith", 2, 2, insensitive_variant=True),
    FunctionSpec("indexOf", 2, 3, insensitive_variant=True),
    FunctionSpec("length", 1, 1),
    FunctionSpec("modulo", 2, 2),
    FunctionSpec("multiply", 2, 2),
    FunctionSpec("number", 1, 2),
    FunctionSpec("startsWith", 2, 2, insensitive_variant=True),
    FunctionSpec("string", 1, 1),
    FunctionSpec("stringContains", 2, 2, insensitive_variant=True),
    FunctionSpec("substring", 2, 3),
    FunctionSpec("subtract", 2, 2),
)

#: canonical name -> spec
FUNCTIONS: dict[str, FunctionSpec] = {spec.name: spec for spec in _SPECS}

# Elasticsearch lowercases the name before looking it up.
_BY_LOWER: dict[str, FunctionSpec] = {spec.name.lower(): spec for spec in _SPECS}

#: Endgame EQL functions Elasticsearch does not have -> a hint for the user (may be empty)
ENDGAME_FUNCTIONS: dict[str, str] = {
    "arraycontains": "Elasticsearch EQL has no array functions; a multi-valued field matches "
    'a condition when any of its values does, e.g. `field == "value"` or `field : "value"`',
    "arraycount": "Elasticsearch EQL has no array functions",
    "arraysearch": "Elasticsearch EQL has no array functions; a multi-valued field matches "
    "a condition when any of its values does",
    "match": 'use `field regex "pattern"` (or `regex~` for case-insensitive matching)',
    "matchlite": 'use `field regex "pattern"` (or `regex~` for case-insensitive matching)',
    "safe": "Elasticsearch EQL functions already return null instead of failing",
    "wildcard": 'use `field : "pattern"` (case-insensitive) or `field like "pattern"`',
}

#: keywords of the grammar; they cannot be field names unless backquoted
KEYWORDS: frozenset[str] = frozenset(
    {
        "and",
        "any",
        "by",
        "false",
        "in",
        "join",
        "like",
        "maxspan",
        "not",
        "null",
        "of",
        "or",
        "regex",
        "sample",
        "sequence",
        "true",
        "until",
        "where",
        "with",
    }
)

#: pipes Elasticsearch runs
SUPPORTED_PIPES: frozenset[str] = frozenset({"head", "tail"})

#: Endgame pipes Elasticsearch parses the name of but refuses to run
ENDGAME_PIPES: frozenset[str] = frozenset({"count", "filter", "sort", "unique", "unique_count", "window"})

#: ``maxspan`` units and their size in milliseconds
TIME_UNITS: dict[str, int] = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}

#: the largest ``with runs=N`` Elasticsearch accepts
MAX_RUNS = 100


def lookup_function(name: str) -> FunctionSpec | None:
    """The Elasticsearch function called ``name`` (any letter case), or None."""
    return _BY_LOWER.get(name.lower())


def endgame_function_hint(name: str) -> str | None:
    """The hint for an Endgame-only function called ``name``, or None when it is not one."""
    return ENDGAME_FUNCTIONS.get(name.lower())


def did_you_mean(name: str, candidates: list[str] | tuple[str, ...] | frozenset[str]) -> str | None:
    """The candidate closest to ``name`` (compared case-insensitively), if any is close enough."""
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def function_suggestion(name: str) -> str | None:
    """The Elasticsearch function whose name is closest to ``name``, if any."""
    return did_you_mean(name, tuple(FUNCTIONS))
