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

Mapping a record costs several times what parsing it does, so the way to ECS is kept short, with
the same result as the long way (``tests/test_evtx_differential.py``): the raw document of a usual
record is written by a builder generated for its repeating System values (:func:`record_to_raw`);
a document handed out is registered in :data:`vigil.ecs.windows.common.FRESH`, so that ``to_ecs``
maps it knowing its shape; and a big file is parsed, and its raw documents built, in a worker
process (:mod:`vigil.ecs.windows.evtx_worker`) while the reader maps the ones it has received.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from itertools import chain
from typing import IO, Any

import orjson

from vigil.ecs.windows import evtx_worker
from vigil.ecs.windows.common import FRESH
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

    The usual record takes a short way: the System values that repeat from record to record
    (provider, event id, version, level, task, opcode, keywords, channel) select a builder
    generated for them (:func:`_builder`), which writes the document in one go; any other
    record goes the long way (:func:`general_record_to_raw`), with the same result.
    """
    system = event.get("System")
    if type(system) is dict:
        try:
            node = system["Provider"]
            attrs = node["#attributes"] if type(node) is dict else None
            # The builders are found by value: only exact ints and strings, which no value of
            # another type equals (1 == True == 1.0 would give a builder to the wrong record).
            key: tuple[Any, ...] | None = None
            if type(attrs) is dict:
                key = (
                    name := attrs.get("Name"), guid := attrs.get("Guid"), event_id := system["EventID"],
                    version := system["Version"], level := system["Level"], task := system["Task"],
                    opcode := system["Opcode"], keywords := system["Keywords"], channel := system["Channel"],
                )  # fmt: skip
                if not (
                    type(event_id) is int and type(version) is int and type(level) is int
                    and type(task) is int and type(opcode) is int and type(name) is str
                    and type(keywords) is str and type(channel) is str and (guid is None or type(guid) is str)
                ):  # fmt: skip
                    key = None
            rid = system["EventRecordID"]
            computer = system["Computer"]
            node = system["TimeCreated"]
            nodes = (system["Security"], system["Correlation"], system["Execution"])
        except KeyError:
            return general_record_to_raw(event, file)
        created = node.get("#attributes", {}).get("SystemTime") if type(node) is dict else None
        if key is not None and rid and computer and created and file:
            try:
                build = _builders.get(key, _NO)
            except TypeError:  # an unhashable value
                build = None
            if build is _NO:
                build = _builder(key)
            if build is not None:
                return build(rid, computer, created, file, *nodes, event)
    return general_record_to_raw(event, file)


_NO: Any = object()
_builders: dict[tuple[Any, ...], Any] = {}
_BUILDER_LIMIT = 1024


def _builder(key: tuple[Any, ...]) -> Callable[..., dict[str, Any]] | None:
    """The builder of the raw documents of records with these repeating System values (see
    :func:`record_to_raw`): a function generated with what :func:`general_record_to_raw` derives
    from them written in as constants, so it builds each object as one literal. None for odd
    values (the long way then)."""
    found = _generate(*key)
    if len(_builders) >= _BUILDER_LIMIT:
        _builders.clear()
    _builders[key] = found
    return found


def _generate(
    name: Any,
    guid: Any,
    event_id: Any,
    version: Any,
    level: Any,
    task: Any,
    opcode: Any,
    keywords: Any,
    channel: Any,
) -> Callable[..., dict[str, Any]]:
    # The same derivations as general_record_to_raw, once; then the literals of its output.
    constants: dict[str, Any] = {}

    def constant(value: Any) -> str:
        label = f"k{len(constants)}"
        constants[label] = value
        return label

    provider = name or ""
    code = "" if event_id is None else str(event_id)
    task_text = task_name(provider, task) if type(task) is int else None
    names, outcome = _keywords(keywords) if type(keywords) is str else ((), None)
    opcode_text = OPCODES.get(opcode) if type(opcode) is int else None
    level_text = LEVELS.get(level) if type(level) is int else None
    event = ['"code": ' + constant(code), '"kind": "event"', '"provider": ' + constant(provider)]
    winlog = ['"api": "wineventlog"', '"channel": ' + constant(canonical_channel(str(channel or "")))]
    winlog.append('"event_id": ' + constant(code))
    if provider:
        winlog.append('"provider_name": ' + constant(provider))
    winlog.append('"record_id": rid')
    if task_text:
        winlog.append('"task": ' + constant(task_text))
        event.append('"action": ' + constant(task_text))
    winlog.append('"computer_name": computer')
    if names:
        winlog.append('"keywords": [' + ", ".join(constant(n) for n in names) + "]")
    if outcome:
        event.append('"outcome": ' + constant(outcome))
    if opcode_text:
        winlog.append('"opcode": ' + constant(opcode_text))
    if guid:
        winlog.append('"provider_guid": ' + constant(guid_text(str(guid))))
    if version:
        winlog.append('"version": ' + constant(version))
    log = '"file": {"path": file}'
    if level_text:
        log = f'"level": {constant(level_text)}, {log}'
    source = f"""
def make({", ".join(constants)}):
    def build(rid, computer, created, file, security, correlation, execution, event):
        winlog = {{{", ".join(winlog)}}}
        if security:
            sid = _attrs(security).get("UserID")
            if sid:
                winlog["user"] = {{"identifier": sid}}
        if event.get("EventData") or event.get("UserData"):
            _add_data(winlog, event)
        if correlation:
            _correlation(winlog, correlation)
        if execution:
            attrs = execution.get("#attributes") if type(execution) is dict else None
            if type(attrs) is dict:
                pid, tid = attrs.get("ProcessID"), attrs.get("ThreadID")
                if pid and tid:
                    winlog["process"] = {{"pid": pid, "thread": {{"id": tid}}}}
                elif pid:
                    winlog["process"] = {{"pid": pid}}
                elif tid:
                    winlog["process"] = {{"thread": {{"id": tid}}}}
        return {{
            "@timestamp": created,
            "event": {{{", ".join(event)}}},
            "host": {{"name": computer}},
            "log": {{{log}}},
            "winlog": winlog,
        }}
    return build
"""
    scope: dict[str, Any] = {"_attrs": _attrs, "_add_data": _add_data}
    scope["_correlation"] = _correlation
    exec(compile(source, "<vigil.sources.evtx record builder>", "exec"), scope)
    built: Callable[..., dict[str, Any]] = scope["make"](**constants)
    return built


def _correlation(winlog: dict[str, Any], node: Any) -> None:
    attrs = _attrs(node)
    for attr, name in (("ActivityID", "activity_id"), ("RelatedActivityID", "related_activity_id")):
        value = attrs.get(attr)
        if value:
            winlog[name] = guid_text(str(value))


def general_record_to_raw(event: dict[str, Any], file: str | None = None) -> dict[str, Any]:
    """:func:`record_to_raw` the long way, for any shape of record (and the reference of the
    short way: ``tests/test_evtx_differential.py`` holds the two to the same output)."""
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
    _add_data(winlog, event)
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


def _add_data(winlog: dict[str, Any], event: dict[str, Any]) -> None:
    """``winlog.event_data`` and ``winlog.user_data`` of a record's ``EventData``/``UserData``
    (left out when empty, as Winlogbeat leaves them out)."""
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

    A file of :data:`WORKER_MIN_BYTES` or more is parsed, and its documents built, by a worker
    process (:mod:`vigil.ecs.windows.evtx_worker`) while this one maps the documents it has
    received: the documents, the damage reports and their order are the same either way.
    Each document handed out is registered in :data:`vigil.ecs.windows.common.FRESH` until the
    next one is asked for, so that :func:`vigil.ecs.windows.to_ecs` maps it the short way.
    """
    try:
        import evtx  # noqa: F401
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise DataError(f"{name}: reading EVTX needs the 'evtx' package (pip install evtx)") from exc

    with ExitStack() as stack:
        path = source if isinstance(source, str) else _spool(source, stack)
        chunks = _ChunkTable(path)
        truncated = chunks.truncation()
        parse_path = path
        if truncated is not None:
            on_damage(Damage(name, truncated[1], chunk=truncated[0]))
            parse_path = _padded_copy(path, stack)
        args = (parse_path, path, name, _MAX_RUN_OF_ERRORS + chunks.count)
        remote = USE_WORKER and chunks.size >= WORKER_MIN_BYTES
        batches = stack.enter_context(closing(evtx_worker.batches(_file_items, args, remote)))
        fresh = FRESH
        stack.callback(_forget, fresh)  # (a reader that stops early leaves none registered)
        for item in chain.from_iterable(batches):
            if type(item) is tuple:
                fresh.doc = item[1]
                yield item
                fresh.doc = None
            else:
                on_damage(item)


def _forget(fresh: Any) -> None:
    fresh.doc = None


#: Files at least this big are parsed in the worker process (when it can run); for smaller ones
#: starting or asking the worker would cost more than it saves.
WORKER_MIN_BYTES = 256 * 1024
#: Whether big files may be parsed in a worker process (when is up to
#: :data:`vigil.ecs.windows.evtx_worker.POLICY`, which ``VIGIL_EVTX_WORKER`` sets).
USE_WORKER = True


def _file_items(
    path: str, chunk_path: str, name: str, error_limit: int
) -> Iterator[tuple[bytes, dict[str, Any]] | Damage]:
    """The ``(key, raw document)`` of each record of the file at ``path``, and a :class:`Damage`
    for each part that cannot be read, in file order (``chunk_path`` is the file that names the
    chunks: the original of a padded copy). Runs here or in the worker process."""
    from evtx import PyEvtxParser

    chunks = _ChunkTable(chunk_path)
    try:
        # In the worker, one parser thread: this process's own work takes the other core.
        records = PyEvtxParser(path, 1 if evtx_worker.IN_WORKER else 0).records_json()
    except (RuntimeError, OSError) as exc:
        yield Damage(name, f"file header not readable, file skipped: {_clean(exc)}")
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
            yield _damage(name, str(exc), last_record, chunks)
            errors_in_a_row += 1
            if errors_in_a_row > error_limit:
                yield Damage(name, "too many errors in a row; the rest of the file is not read")
                break
            continue
        errors_in_a_row = 0
        if type(record) is not dict:
            continue
        last_record = record.get("event_record_id")
        try:
            event = loads(record["data"])["Event"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            yield Damage(name, f"record skipped: {exc}", chunks.of(last_record), last_record)
            continue
        doc = record_to_raw(event, name)
        winlog = doc["winlog"]
        number = winlog.get("record_id", last_record)
        key = f"{winlog.get('computer_name', '')}|{winlog['channel']}|{number}"
        try:
            encoded = key.encode()
        except UnicodeEncodeError:  # a lone surrogate (the plain encoding is faster to try first)
            encoded = key.encode("utf-8", "surrogatepass")
        yield encoded, doc


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
