"""The columnar event store: events in Parquet files, rule filters pushed down to DuckDB.

A store is a folder of Parquet files partitioned by index and by day of ``@timestamp`` (hive-style
``data/index=<index>/day=<YYYY-MM-DD>/``). Each row is one event: its id, index, global ingestion
sequence number, ``@timestamp`` in nanoseconds, hot ECS fields as typed columns and the original
document (see :mod:`vigil.store.columns`). Appends are atomic (:mod:`vigil.store.writer`,
:mod:`vigil.store.manifest`); reads push each query's filters down as SQL and hand the candidate
events to the exact evaluator (:mod:`vigil.store.reader`, :mod:`vigil.store.pushdown`), which
gives the answer the plain path gives: push-down only ever keeps a superset of what it needs.

Public API::

    from vigil.store import open_store

    store = open_store("events.store")                 # created when missing
    report = store.append(read_events(paths, report=read_report))   # -> AppendReport
    compiled = compile_query(eql, options=QueryOptions(size=100))
    result = compiled.execute(store.candidates([compiled]))         # same answer as the files
    for_rules = store.candidates([(q1, index_filter_1), q2], start=ns, end=ns)
    store.info()                                        # -> StoreInfo: files, rows, partitions, bytes

``candidates(queries, *, start=None, end=None, index=None)`` yields, in input order, every event
any of the compiled queries may need (each query may carry its own index predicate, ANDed with
``index``); ``start``/``end`` bound ``@timestamp`` (epoch nanoseconds, inclusive, as the
evaluator reads it: milliseconds for a ``date``), dropping events without one. The events carry
the id, index and full document the plain reader gives them, and ``seq`` is the store's ingestion
sequence number (input order across appends), so the evaluator's tie-breaking is the same.
``events(...)`` yields every stored event (optionally by time and index).

Errors are :class:`StoreError` (a :class:`vigil.errors.DataError`): :class:`StoreLockedError`
when another writer holds the store, :class:`StoreFormatError` for files this vigil cannot read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil.store.api import (
        AppendReport,
        HotField,
        Store,
        StoreError,
        StoreFormatError,
        StoreInfo,
        StoreLockedError,
        default_hot_fields,
        hot_fields_for,
        open_store,
    )

__all__ = [
    "AppendReport",
    "HotField",
    "Store",
    "StoreError",
    "StoreFormatError",
    "StoreInfo",
    "StoreLockedError",
    "default_hot_fields",
    "hot_fields_for",
    "open_store",
]


def __getattr__(name: str) -> Any:
    # The API (DuckDB and the store's readers and writers) is imported on first use: a hunt's
    # columnar filter uses the store's JSON-text parser (vigil.store.textcols) alone, and each
    # of its workers would otherwise import DuckDB for nothing (~70 ms).
    if name in __all__:
        from vigil.store import api

        return getattr(api, name)
    raise AttributeError(f"module 'vigil.store' has no attribute {name!r}")
