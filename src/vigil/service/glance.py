"""What ingest must know of a shipped document, read without decoding it into Python objects.

Ingest needs four things of each document of a bulk: that it is a JSON object, its
``@timestamp``, its ``event.category`` (see :func:`~vigil.service.wal.categories_of`) and whether
it is a raw Windows record to be mapped to ECS. Decoding every document with ``orjson`` only to
read these, and freeing the Python objects again, was a third of the service's own CPU per event.
:class:`Glancer` validates the whole text with simdjson (pysimdjson's DOM parser: the same strict
RFC 8259 grammar and UTF-8 checks) and reads the few values through lazy proxies.

The glance is a fast path, never a second semantics: whenever it cannot answer *exactly* as
``orjson.loads`` followed by the exact code would, it answers None and the caller takes that path
(which also words the errors). That covers every text simdjson refuses (orjson may still accept
it, e.g. an integer past 64 bits), a document that is not an object, duplicate keys at the levels
it reads (orjson keeps the last, simdjson's lookup finds the first), a ``@timestamp`` that is not a
string, an ``event`` that is not an object, a dotted ``event.category`` key and whatever may need
the Windows mapping (``winlog`` without a category, ``EventID``, ``_source``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import simdjson

__all__ = ["Glance", "Glancer"]

_OBJECT = simdjson.Object
_ARRAY = simdjson.Array
#: Top-level keys whose presence sends a document to the exact path (see the module docstring).
_EXACT_ONLY = frozenset({"_source", "EventID", "event.category"})


class Glance(NamedTuple):
    """What ingest reads of a document it did not decode."""

    #: the ``@timestamp`` string, or None when the document has none
    timestamp: str | None
    #: the document's plain ``event.category`` strings (as :func:`categories_of` gives them)
    categories: tuple[str, ...] | None


#: Glance(...) runs Python code of the NamedTuple machinery; this is the bare C constructor.
_new_glance = tuple.__new__
_STR = frozenset({str})


class Glancer:
    """Glances at documents one at a time (one per thread: a simdjson parser holds one
    document, and its proxies must be gone before it parses the next)."""

    def __init__(self) -> None:
        self._parser = simdjson.Parser()

    def __call__(self, text: bytes) -> Glance | None:
        """The glance of one document's JSON text, or None when the exact path must decide."""
        try:
            root = self._parser.parse(text)
        except RuntimeError:
            # A proxy of the previous document still alive (an exception kept its frame): a new
            # parser, and this document on it.
            self._parser = simdjson.Parser()
            try:
                root = self._parser.parse(text)
            except Exception:
                return None
        except Exception:
            return None  # simdjson refuses it: orjson decides, and words the error
        if type(root) is not _OBJECT:
            return None
        return _read(root)


def _read(root: Any) -> Glance | None:
    keys = list(root.keys())
    names = set(keys)
    if len(names) != len(keys) or not _EXACT_ONLY.isdisjoint(names):
        return None
    timestamp = None
    if "@timestamp" in names:
        timestamp = root["@timestamp"]
        if type(timestamp) is not str:
            return None
    categories: tuple[str, ...] | None = ()
    has_category = False
    if "event" in names:
        event = root["event"]
        if type(event) is not _OBJECT:
            return None
        event_keys = list(event.keys())
        if len(event_keys) != len(set(event_keys)):
            return None
        if "category" in event_keys:
            has_category = True
            value = event["category"]
            if value is None:
                categories = ()
            elif type(value) is str:
                categories = (value,)
            elif type(value) is _ARRAY:
                items: list[Any] = value.as_list()
                categories = tuple(items) if set(map(type, items)) <= _STR else None
            else:
                categories = None
    if "winlog" in names and not has_category and "data_stream" not in names:
        return None  # maybe a Winlogbeat 8.x raw record, to be mapped
    return _new_glance(Glance, (timestamp, categories))
