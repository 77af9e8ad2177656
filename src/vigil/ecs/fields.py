"""Reading a field out of an event document, as Elasticsearch sees it.

A document may spell the same field as nested objects (``{"process": {"pid": 4}}``), as a dotted
key (``{"process.pid": 4}``) or as a mix (``{"process": {"parent.pid": 1}}``); arrays of objects
spread a path over every element. Elasticsearch flattens all of these into one multi-valued
field, so does :func:`make_getter`.

A getter returns :data:`MISSING` when the document has no such key, ``None`` for an explicit JSON
null, a scalar for one value, or a ``list`` of scalars for several values (arrays flattened, at any
depth). Typing the values is the caller's job (see :mod:`vigil.engine.compile`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

Getter = Callable[[Any], Any]


def _flatten_into(value: Any, out: list[Any]) -> None:
    if type(value) is list:
        for item in value:
            _flatten_into(item, out)
    else:
        out.append(value)


def _collect(
    obj: Any, parts: tuple[str, ...], i: int, joined: dict[tuple[int, int], str], out: list[Any]
) -> None:
    """Collect every value reachable by ``parts[i:]`` from ``obj`` into ``out``."""
    if type(obj) is list:
        for item in obj:
            _collect(item, parts, i, joined, out)
        return
    if i == len(parts):
        _flatten_into(obj, out)
        return
    if type(obj) is not dict:
        return
    for j in range(i + 1, len(parts) + 1):
        key = joined[(i, j)]
        if key in obj:
            _collect(obj[key], parts, j, joined, out)


def make_getter(path: str) -> Getter:
    """A fast function reading ``path`` (dotted) from a document; see the module docstring."""
    parts = tuple(path.split("."))
    joined = {(i, j): ".".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)}
    n = len(parts)

    def slow(doc: Any) -> Any:
        out: list[Any] = []
        found = _found_any(doc, parts, 0, joined)
        if not found:
            return MISSING
        _collect(doc, parts, 0, joined, out)
        if not out:
            return None
        if len(out) == 1:
            return out[0]
        return out

    if n == 1:
        key = parts[0]

        def get1(doc: Any) -> Any:
            v = doc.get(key, MISSING)
            if type(v) is list:
                return _normalise_list(v)
            return v

        return get1

    def get(doc: Any) -> Any:
        cur = doc
        for p in parts:
            if type(cur) is not dict:
                return slow(doc)
            cur = cur.get(p, MISSING)
            if cur is MISSING:
                return slow(doc)
        if type(cur) is list:
            return _normalise_list(cur)
        if type(cur) is dict:
            return slow(doc)
        return cur

    return get


def _found_any(obj: Any, parts: tuple[str, ...], i: int, joined: dict[tuple[int, int], str]) -> bool:
    """True when the path exists in the document at all (even with a null or empty value)."""
    if type(obj) is list:
        return any(_found_any(item, parts, i, joined) for item in obj)
    if i == len(parts):
        return True
    if type(obj) is not dict:
        return False
    for j in range(i + 1, len(parts) + 1):
        key = joined[(i, j)]
        if key in obj and _found_any(obj[key], parts, j, joined):
            return True
    return False


def _normalise_list(values: list[Any]) -> Any:
    """A JSON array as a getter result: flattened; one element as a scalar; empty as null."""
    if len(values) == 1:
        v = values[0]
        if type(v) is not list:
            return v
    elif not values:
        return None
    else:
        for v in values:
            if type(v) is list:
                break
        else:
            return values
    flat: list[Any] = []
    _flatten_into(values, flat)
    if len(flat) == 1:
        return flat[0]
    return flat


def has_field(doc: Any, path: str) -> bool:
    """True when the document holds the field (explicit nulls included)."""
    return make_getter(path)(doc) is not MISSING


def iter_leaf_paths(doc: Any, prefix: str = "") -> list[str]:
    """Every dotted leaf path of a document (dotted keys kept as written), for dynamic typing."""
    out: list[str] = []
    if type(doc) is dict:
        for key, value in doc.items():
            path = f"{prefix}.{key}" if prefix else key
            if type(value) is dict:
                out.extend(iter_leaf_paths(value, path))
            elif type(value) is list and any(type(v) is dict for v in value):
                for v in value:
                    if type(v) is dict:
                        out.extend(iter_leaf_paths(v, path))
            else:
                out.append(path)
    return out
