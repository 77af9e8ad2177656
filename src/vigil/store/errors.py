"""Errors of the columnar event store, in vigil's :class:`~vigil.errors.VigilError` tree.

A store problem is a data problem (the command line exits 1 for it), so they derive from
:class:`~vigil.errors.DataError`.
"""

from __future__ import annotations

from vigil.errors import DataError


class StoreError(DataError):
    """The event store cannot be opened, read or written."""


class StoreLockedError(StoreError):
    """Another writer holds the store's lock and did not release it in time."""


class StoreFormatError(StoreError):
    """The store's files are not what this version of vigil writes (or they are damaged)."""
