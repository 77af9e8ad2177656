"""Field types: what Elasticsearch's mapping would say about a field.

EQL's answers depend on field types (an ``ip`` compares as an address, a ``date`` as an instant,
a ``version`` by semantic version, a ``long`` field holding ``"445"`` is the number 445). A
:class:`Schema` gives those types for one index; a :class:`SchemaRegistry` picks the schema of an
event's index. Fields a schema does not know are typed from their JSON value, as Elasticsearch's
dynamic mapping does.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class FieldType(enum.Enum):
    """The Elasticsearch field types EQL semantics distinguish."""

    KEYWORD = "keyword"  # also wildcard, constant_keyword, match_only_text
    TEXT = "text"  # analysed text; EQL uses its exact-match sub-field
    LONG = "long"  # every integer type
    DOUBLE = "double"  # every floating-point type
    BOOLEAN = "boolean"
    IP = "ip"
    DATE = "date"
    DATE_NANOS = "date_nanos"
    VERSION = "version"
    OBJECT = "object"
    UNKNOWN = "unknown"  # not mapped: typed from the value at run time


@dataclass(frozen=True)
class FieldSpec:
    """One mapped field."""

    type: FieldType
    null_value: Any = None  # searched instead of an explicit JSON null (mapping's null_value)
    date_formats: tuple[str, ...] = ()  # Elasticsearch/Java date formats; empty = default
    ignore_above: int | None = None  # strings longer than this are not searchable


@dataclass
class Schema:
    """The mapping of one index: dotted field name to :class:`FieldSpec`, plus aliases."""

    fields: dict[str, FieldSpec] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # alias path -> target path
    name: str = ""
    # strict: a field this schema does not list is an error (as in Elasticsearch, where the mapping
    # knows every field of the data). Off for open-ended ECS data, where absent means null.
    strict: bool = False

    def resolve(self, path: str) -> str:
        """The concrete field a path reads (follows a field alias)."""
        return self.aliases.get(path, path)

    def spec(self, path: str) -> FieldSpec | None:
        """The mapped spec of a field (after alias resolution), or None when unmapped."""
        return self.fields.get(self.resolve(path))

    def knows(self, path: str) -> bool:
        """True when the mapping declares the field (or an alias of it)."""
        return path in self.aliases or path in self.fields


class SchemaRegistry:
    """Schemas per index name, with a default for indices it does not list."""

    def __init__(self, default: Schema | None = None, per_index: Mapping[str, Schema] | None = None):
        self.default = default if default is not None else Schema()
        self.per_index: dict[str, Schema] = dict(per_index or {})

    def for_index(self, index: str) -> Schema:
        """The schema that applies to events of ``index``."""
        return self.per_index.get(index, self.default)

    def all(self) -> list[Schema]:
        """Every schema of the registry (the default last)."""
        return [*self.per_index.values(), self.default]
