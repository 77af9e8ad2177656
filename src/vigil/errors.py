"""The one error tree of vigil.

Every error a user can see derives from :class:`VigilError`. Errors that point into a text (an
EQL query, a rule file, a data file) carry a :class:`Location` and render a caret line under the
offending span, so the message reads like a compiler's, never like an internal token dump.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A place in a text: 1-based line and column, plus the span length in characters."""

    line: int
    column: int
    length: int = 1
    source: str | None = None  # the whole text the location points into, for the caret line
    file: str | None = None

    def caret(self) -> str:
        """The source line followed by a caret line under the span (empty when no source)."""
        if self.source is None:
            return ""
        lines = self.source.splitlines() or [""]
        if not 1 <= self.line <= len(lines):
            return ""
        text = lines[self.line - 1].expandtabs(1)
        start = max(self.column - 1, 0)
        width = max(1, min(self.length, max(len(text) - start, 1)))
        return f"{text}\n{' ' * start}{'^' * width}"

    def prefix(self) -> str:
        """`file:line:column` (or `line L, column C`) for the start of a message."""
        if self.file:
            return f"{self.file}:{self.line}:{self.column}"
        return f"line {self.line}, column {self.column}"


class VigilError(Exception):
    """Base of every error vigil reports to a user."""

    def __init__(self, message: str, location: Location | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def __str__(self) -> str:
        parts = []
        if self.location is not None:
            parts.append(f"{self.location.prefix()}: {self.message}")
            caret = self.location.caret()
            if caret:
                parts.append(caret)
        else:
            parts.append(self.message)
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class EqlError(VigilError):
    """Any problem with an EQL query."""


class EqlSyntaxError(EqlError):
    """The query text does not follow EQL's grammar."""


class EqlSemanticError(EqlError):
    """The query parses but is not valid (wrong types, wrong arity, unknown function...)."""


class EqlUnsupportedError(EqlSemanticError):
    """Valid in Endgame EQL (or the eql library) but rejected by Elasticsearch EQL."""


class DataError(VigilError):
    """Bad input data: a malformed line, an unreadable file, a value of the wrong type."""


class RuleError(VigilError):
    """A detection rule that cannot be loaded or run."""


class ConformanceError(VigilError):
    """The conformance suite's files could not be read as described in its README."""
