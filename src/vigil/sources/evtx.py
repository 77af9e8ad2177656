"""Read Windows ``.evtx`` files, record by record, as Winlogbeat 8.x raw documents.

The parsing is done by the Rust ``evtx`` package (MIT OR Apache-2.0): it walks the file chunk by
chunk and hands over one JSON text per record, so a file of any size streams. Each record becomes
the document Winlogbeat would send for it before any ingest pipeline (``@timestamp`` from
``TimeCreated``, ``winlog.*``, ``event.code/provider/kind/action/outcome``, ``host.name``,
``log.level``, ``log.file.path``); :func:`vigil.ecs.windows.to_ecs` maps it to ECS afterwards.
What the file does not hold cannot be rendered: message texts and task/opcode names of other
publishers (see :mod:`vigil.sources.winlog` for the names that are known).

Damage is expected in incident response (files copied off a live host, carved, cut short): a
chunk or record the parser rejects is reported with the file, chunk and record and skipped, and
the rest of the file is still read. A file that ends inside a chunk is read up to the cut (the
partial chunk is padded in a temporary copy, since the parser only takes whole chunks) and
reported as truncated.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, Any

import orjson

from vigil.errors import DataError
from vigil.sources.winlog import (
    AUDIT_FAILURE,
    AUDIT_SUCCESS,
    LEVELS,
    OPCODES,
    canonical_channel,
    data_text,
    evtx_value_guid,
    guid_text,
    keyword_names,
    task_name,
)

__all__ = ["EVTX_MAGIC", "Damage", "evtx_documents", "record_to_raw"]

EVTX_MAGIC = b"ElfFile\x00"
_CHUNK_MAGIC = b"ElfChnk\x00"
_HEADER_BLOCK = 4096
_CHUNK = 65536
_MAX_RUN_OF_ERRORS = 64  # errors in a row without a record: the parser is stuck, stop the file


@dataclass(frozen=True)
class Damage:
    """A part of an EVTX file that could not be read: where, and what the parser said."""

    file: str
    message: str
    chunk: int | None = None
    record: int | None = None
    after_record: int | None = None

    def where(self) -> str:
        """``chunk 2 (offset 0x21000), record 201``: the place, as precisely as known."""
        parts = []
        if self.chunk is not None:
            parts.append(f"chunk {self.chunk} (offset {_HEADER_BLOCK + self.chunk * _CHUNK:#x})")
        if self.record is not None:
            parts.append(f"record {self.record}")
        elif self.after_record is not None:
            parts.append(f"after record {self.after_record}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{self.file}: {where}: {self.message}" if where else f"{self.file}: {self.message}"


# --------------------------------------------------------------------------- record -> raw doc

# Values that repeat across records (keyword masks, provider GUIDs, channel and task names) are
# worked out once each: the mapping of a record costs about as much as parsing it, so it is
# kept to dictionary look-ups. The caches are bounded, for files full of odd values.
_CACHE_LIMIT = 4096
_keywords_cache: dict[str, tuple[tuple[str, ...], str | None]] = {}
_text_cache: dict[tuple[str, Any], Any] = {}


def _keywords(raw: str) -> tuple[tuple[str, ...], str | None]:
    """(names, outcome) of a ``Keywords`` hex mask."""
    found = _keywords_cache.get(raw)
    if found is None:
        try:
            mask = int(raw, 0)
        except ValueError:
            mask = 0
        outcome = "failure" if mask & AUDIT_FAILURE else "success" if mask & AUDIT_SUCCESS else None
        found = (tuple(keyword_names(mask)), outcome)
        if len(_keywords_cache) < _CACHE_LIMIT:
            _keywords_cache[raw] = found
    return found


def _remember(key: tuple[str, Any], value: Any) -> Any:
    if len(_text_cache) < _CACHE_LIMIT:
        _text_cache[key] = value
    return value


def record_to_raw(event: dict[str, Any], file: str | None = None) -> dict[str, Any]:
    """The Winlogbeat 8.x raw document of one record (``Event`` of the parser's JSON).

    Follows Winlogbeat's ``winevent.Event.Fields`` and ``Record.ToEvent``: zero and empty values
    are left out, event data values are strings (unnamed ``Data`` elements become ``paramN``),
    the first ``UserData`` element's children become ``user_data`` with its name as
    ``xml_name``, and the audit keyword bits give ``event.outcome``.
    """
    system = event.get("System") or {}
    node = system.get("Provider")
    provider_attrs = node.get("#attributes") or {} if type(node) is dict else {}
    provider = provider_attrs.get("Name") or ""
    event_id = system.get("EventID")
    if type(event_id) is dict:
        event_id = event_id.get("#text")  # {"#attributes": {"Qualifiers": ...}, "#text": 7045}
    code = "" if event_id is None else str(event_id)
    cache = _text_cache
    value = system.get("Channel") or ""
    channel = cache.get(("channel", value)) or _remember(("channel", value), canonical_channel(str(value)))
    computer = system.get("Computer") or ""

    winlog: dict[str, Any] = {"api": "wineventlog", "channel": channel, "event_id": code}
    ecs_event: dict[str, Any] = {"code": code, "kind": "event", "provider": provider}
    if provider:
        winlog["provider_name"] = provider
    value = system.get("EventRecordID")
    if value:
        winlog["record_id"] = value
    value = system.get("Task")
    if type(value) is int:
        key = (provider, value)
        task = cache.get(key, cache)
        if task is cache:
            task = _remember(key, task_name(provider, value))
        if task:
            winlog["task"] = ecs_event["action"] = task
    if computer:
        winlog["computer_name"] = computer
    value = system.get("Keywords")
    if type(value) is str:
        names, outcome = _keywords(value)
        if names:
            winlog["keywords"] = list(names)
        if outcome:
            ecs_event["outcome"] = outcome
    value = system.get("Opcode")
    if type(value) is int:
        opcode = OPCODES.get(value)
        if opcode:
            winlog["opcode"] = opcode
    value = provider_attrs.get("Guid")
    if value:
        guid = cache.get(("guid", value)) or _remember(("guid", value), guid_text(str(value)))
        winlog["provider_guid"] = guid
    value = system.get("Version")
    if value:
        winlog["version"] = value
    node = system.get("Security")
    if node:
        sid = _attrs(node).get("UserID")
        if sid:
            winlog["user"] = {"identifier": sid}
    node = event.get("EventData")
    if node:
        pairs = _event_data(node)
        if pairs:
            winlog["event_data"] = pairs
    node = event.get("UserData")
    if node:
        pairs = _user_data(node)
        if pairs:
            winlog["user_data"] = pairs
    node = system.get("Correlation")
    if node:
        attrs = _attrs(node)
        for attr, name in (("ActivityID", "activity_id"), ("RelatedActivityID", "related_activity_id")):
            value = attrs.get(attr)
            if value:
                winlog[name] = guid_text(str(value))
    node = system.get("Execution")
    if node:
        attrs = _attrs(node)
        pid, tid = attrs.get("ProcessID"), attrs.get("ThreadID")
        if pid and tid:
            winlog["process"] = {"pid": pid, "thread": {"id": tid}}
        elif pid:
            winlog["process"] = {"pid": pid}
        elif tid:
            winlog["process"] = {"thread": {"id": tid}}

    doc: dict[str, Any] = {}
    node = system.get("TimeCreated")
    created = node.get("#attributes", {}).get("SystemTime") if type(node) is dict else None
    if created:
        doc["@timestamp"] = created
    doc["event"] = ecs_event
    if computer:
        doc["host"] = {"name": computer}
    value = system.get("Level")
    level = LEVELS.get(value) if type(value) is int else None
    if level:
        doc["log"] = {"level": level, "file": {"path": file}} if file else {"level": level}
    elif file:
        doc["log"] = {"file": {"path": file}}
    doc["winlog"] = winlog
    return doc


def _attrs(node: Any) -> dict[str, Any]:
    if type(node) is dict:
        attrs = node.get("#attributes")
        if type(attrs) is dict:
            return attrs
    return {}


_SPECIAL_KEYS = ("Data", "#text", "#attributes")


def _event_data(data: Any) -> dict[str, str]:
    """``EventData`` as Winlogbeat's ``event_data``: name -> string, empty values left out, an
    unnamed ``Data`` element as ``param<position>`` and the first of two equal names kept."""
    if type(data) is not dict:
        text = data_text(data)
        return {"param1": text} if text else {}
    out: dict[str, str] = {}
    for key, value in data.items():
        kind = type(value)
        if kind is str:
            if value:
                n = len(value)
                if n == 36 or n == 38:
                    value = evtx_value_guid(value)
                elif "\r" in value:
                    value = value.replace("\r\n", "\n")
                out[key] = value
        elif kind is int:
            out[key] = str(value)
        elif value is not None:
            text = data_text(value)
            if text:
                out[key] = text
    for special in _SPECIAL_KEYS:
        if special in data:
            return _event_data_in_order(data)
    return out


def _event_data_in_order(data: dict[str, Any]) -> dict[str, str]:
    """The rare shapes: unnamed ``Data`` elements (numbered by their position among all the
    elements, as Winlogbeat numbers them) and attributes."""
    out: dict[str, str] = {}
    position = 0
    for key, value in data.items():
        if key == "#attributes":
            continue
        if key == "Data" or key == "#text":
            values = value.get("#text") if type(value) is dict else value
            for item in values if type(values) is list else (values,):
                position += 1
                text = data_text(item)
                if text:
                    out.setdefault(f"param{position}", text)
            continue
        position += 1
        text = data_text(value)
        if text and key not in out:
            out[key] = evtx_value_guid(text) if len(text) in (36, 38) else text
    return out


def _user_data(data: Any) -> dict[str, str]:
    """``UserData``: the children of its first element, plus that element's name (``xml_name``)."""
    if type(data) is not dict:
        return {}
    for name, element in data.items():
        if name == "#attributes":
            continue
        pairs = _event_data(element) if type(element) is dict else {}
        if pairs:
            pairs["xml_name"] = name
        return pairs
    return {}


# --------------------------------------------------------------------------- files


_RECORD_ERROR = re.compile(r"Failed to parse record number (\d+)")
_CHUNK_ERROR = re.compile(r"Failed to parse chunk number (\d+)")
_NOISE = "An error occurred while trying to deserialize evtx stream.: "


def evtx_documents(
    source: str | IO[bytes],
    name: str,
    on_damage: Callable[[Damage], None],
) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """Yield ``(key, raw document)`` for every readable record of one EVTX file.

    ``source`` is a path, or a binary stream (stdin, a decompressed file) that is first copied
    to a temporary file, never into memory. ``key`` identifies the record (computer, channel,
    record id) for a stable event id. Damaged chunks and records go to ``on_damage`` and are
    skipped; a missing ``evtx`` package raises :class:`DataError`.
    """
    try:
        from evtx import PyEvtxParser
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise DataError(f"{name}: reading EVTX needs the 'evtx' package (pip install evtx)") from exc

    with ExitStack() as stack:
        path = source if isinstance(source, str) else _spool(source, stack)
        chunks = _ChunkTable(path)
        truncated = chunks.truncation()
        if truncated is not None:
            on_damage(Damage(name, truncated[1], chunk=truncated[0]))
            path = _padded_copy(path, stack)
        try:
            records = PyEvtxParser(path).records_json()
        except (RuntimeError, OSError) as exc:
            on_damage(Damage(name, f"file header not readable, file skipped: {_clean(exc)}"))
            return
        loads = orjson.loads
        last_record: int | None = None
        errors_in_a_row = 0
        while True:
            try:
                record: Any = next(records)
            except StopIteration:
                break
            except RuntimeError as exc:
                on_damage(_damage(name, str(exc), last_record, chunks))
                errors_in_a_row += 1
                if errors_in_a_row > _MAX_RUN_OF_ERRORS + chunks.count:
                    on_damage(Damage(name, "too many errors in a row; the rest of the file is not read"))
                    break
                continue
            errors_in_a_row = 0
            if type(record) is not dict:
                continue
            last_record = record.get("event_record_id")
            try:
                event = loads(record["data"])["Event"]
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                on_damage(Damage(name, f"record skipped: {exc}", chunks.of(last_record), last_record))
                continue
            doc = record_to_raw(event, name)
            winlog = doc["winlog"]
            number = winlog.get("record_id", last_record)
            key = f"{winlog.get('computer_name', '')}|{winlog['channel']}|{number}"
            yield key.encode("utf-8", "surrogatepass"), doc


def _damage(name: str, message: str, last_record: int | None, chunks: _ChunkTable) -> Damage:
    text = _clean(message)
    found = _RECORD_ERROR.search(text)
    if found:
        record = int(found.group(1))
        detail = text[found.end() :].lstrip(": ")
        return Damage(name, f"damaged record skipped: {detail}", chunks.of(record), record)
    found = _CHUNK_ERROR.search(text)
    if found:
        detail = text[found.end() :].lstrip(": ")
        return Damage(name, f"damaged chunk skipped: {detail}", int(found.group(1)))
    after = last_record
    chunk = chunks.of(after + 1) if after is not None else None
    return Damage(name, f"damaged data skipped: {text}", chunk, after_record=after)


def _clean(exc: object) -> str:
    return str(exc).replace(_NOISE, "").strip()


class _ChunkTable:
    """The chunk headers of a file, read only when needed (to name the chunk of a record)."""

    def __init__(self, path: str):
        self.path = path
        self.size = os.path.getsize(path)
        self.count = max(0, (self.size - _HEADER_BLOCK) // _CHUNK)
        self._ranges: list[tuple[int, int]] | None = None

    def truncation(self) -> tuple[int, str] | None:
        """(chunk, message) when the file ends inside a chunk or before chunks its header lists."""
        with open(self.path, "rb") as f:
            header = f.read(_HEADER_BLOCK)
        if not header.startswith(EVTX_MAGIC):
            raise DataError(f"{self.path}: not an EVTX file (no 'ElfFile' signature)")
        partial = max(0, self.size - _HEADER_BLOCK) % _CHUNK
        listed = struct.unpack_from("<H", header, 42)[0] if len(header) >= 44 else 0
        if partial:
            more = listed - self.count - 1
            tail = f", and {more} more chunk(s) the header lists are missing" if more > 0 else ""
            return self.count, (
                f"file truncated: the chunk holds {partial:,} of {_CHUNK:,} bytes{tail}; "
                "records from the cut on are lost"
            )
        if listed > self.count:
            return self.count, (
                f"file truncated: it ends after {self.count} chunk(s) of the {listed} its header lists"
            )
        return None

    def of(self, record: int | None) -> int | None:
        """The number of the chunk holding record number ``record`` (None when unknown)."""
        if record is None:
            return None
        if self._ranges is None:
            self._ranges = []
            with open(self.path, "rb") as f:
                for i in range(self.count + 1):
                    f.seek(_HEADER_BLOCK + i * _CHUNK)
                    head = f.read(40)
                    if len(head) < 40 or not head.startswith(_CHUNK_MAGIC):
                        self._ranges.append((-1, -1))
                        continue
                    first, last = struct.unpack_from("<QQ", head, 24)
                    self._ranges.append((first, last))
        for i, (first, last) in enumerate(self._ranges):
            if first <= record <= last:
                return i
        return None


def _spool(stream: IO[bytes], stack: ExitStack) -> str:
    """Copy a stream to a temporary file (the parser needs a seekable file); its path."""
    handle = stack.enter_context(tempfile.NamedTemporaryFile(prefix="vigil-", suffix=".evtx"))  # noqa: SIM115
    shutil.copyfileobj(stream, handle, 1 << 20)
    handle.flush()
    return handle.name


def _padded_copy(path: str, stack: ExitStack) -> str:
    """A temporary copy of a truncated file, its last chunk padded with zeros to full size: the
    parser then reads the records before the cut and stops at the zeros."""
    handle = stack.enter_context(tempfile.NamedTemporaryFile(prefix="vigil-", suffix=".evtx"))  # noqa: SIM115
    with open(path, "rb") as original:
        shutil.copyfileobj(original, handle, 1 << 20)
    size = os.path.getsize(path)
    partial = max(0, size - _HEADER_BLOCK) % _CHUNK
    if partial:
        handle.write(b"\0" * (_CHUNK - partial))
    handle.flush()
    return handle.name
