"""Event sources: turn files, folders and streams into :class:`vigil.engine.Event` objects."""

from vigil.sources.ndjson import KNOWN_EXTENSIONS, Malformed, ReadReport, read_events, stable_id

__all__ = ["KNOWN_EXTENSIONS", "Malformed", "ReadReport", "read_events", "stable_id"]
