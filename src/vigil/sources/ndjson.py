"""Read events from NDJSON and JSON files, compressed or not, from folders and from stdin.

Accepted inputs, told apart by content rather than by name (compression by magic bytes, JSON
shape by the first line), so ``cat x.ndjson.gz | vigil query ... -`` works as well as a file:

* NDJSON: one JSON object per line, streamed; a whole file is never held in memory.
* A JSON document: an array of documents, a single document, an Elasticsearch search response
  (``hits.hits[]``), an ``_eql/search`` response (``hits.events[]`` / ``hits.sequences[]``).
* gzip and zstandard compression of any of those.
* Windows event logs: ``.evtx`` files (recognised by their ``ElfFile`` signature), NXLog
  flat JSON lines and Winlogbeat 8.x raw documents, mapped to ECS on the way in
  (:mod:`vigil.sources.evtx`, :mod:`vigil.sources.winlog`). The format is detected per file,
  from its first bytes and first document, or forced with ``input_format``.
* A folder: every file with a known extension under it, recursively, in sorted order.
* ``-``: standard input (binary).

A document carrying ``_source`` (an Elasticsearch hit or export line) contributes its
``_source`` as the event and its ``_index`` / ``_id``. Otherwise the index is the data stream
name ``type-dataset-namespace`` when ``data_stream`` holds all three, else ``""``; the id is a
stable hash of the line's bytes.

The per-line loop is the hot path of every hunt, so it does the minimum: the optional raw-bytes
pre-filter, one ``orjson.loads``, a dict check and one ``Event``; ids are hashed only when read.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import IO, Any

import orjson
import zstandard

from vigil.engine.model import Event
from vigil.errors import DataError, Location

__all__ = ["KNOWN_EXTENSIONS", "Malformed", "ReadReport", "read_events", "stable_id"]

#: File name endings a folder walk picks up (compressed variants end in .gz or .zst as well).
KNOWN_EXTENSIONS = (".ndjson", ".jsonl", ".json", ".evtx")
_COMPRESSED = (".gz", ".zst")

_GZIP_MAGIC = b"\x1f\x8b"
_EVTX_MAGIC = b"ElfFile\x00"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_BUFFER = 1 << 20  # large reads of files: fewer syscalls
_DECOMPRESSED_BUFFER = 1 << 16
_WHITESPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"

LineFilter = Callable[[bytes], bool]

# Beats without a data stream write to `<beat>-<version>` (their default index template).
BEATS = frozenset({"winlogbeat", "filebeat", "auditbeat", "packetbeat", "metricbeat", "heartbeat"})


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Malformed:
    """One input line (or document) that could not be read as an event."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


@dataclass
class ReadReport:
    """What reading the inputs did: counts, plus the first malformed lines in detail.

    ``lines`` counts physical lines of NDJSON input (documents for JSON documents, records for
    EVTX files), blank lines included; ``events`` the events yielded; ``skipped`` the malformed
    lines passed over; ``filtered`` the lines the pre-filter proved irrelevant, which were
    therefore not decoded; ``corrupt`` the damaged parts of EVTX files (a record, a chunk, a
    truncated end) that were skipped, detailed in ``damaged``. ``scanned`` counts the byte ranges
    whose lines were found by searching the whole range for the pre-filter's needles
    (:mod:`vigil.sources.scan`) rather than tested one by one.
    """

    files: int = 0
    lines: int = 0
    events: int = 0
    skipped: int = 0
    filtered: int = 0
    corrupt: int = 0
    scanned: int = 0
    malformed: list[Malformed] = field(default_factory=list)
    damaged: list[Any] = field(default_factory=list)  # vigil.sources.evtx.Damage
    max_kept: int = 100  # detail kept for this many malformed lines; the count covers all
    max_logged: int = 20  # and this many are written to stderr (a broken file would flood it)
    log: Callable[[str], None] | None = None  # where messages go; None means sys.stderr

    def add_malformed(self, item: Malformed) -> None:
        """Record a malformed line: count it, keep its detail and log it (both capped)."""
        self.skipped += 1
        if len(self.malformed) < self.max_kept:
            self.malformed.append(item)
        if self.skipped <= self.max_logged:
            self._emit(str(item))
        elif self.skipped == self.max_logged + 1:
            self._emit("further malformed lines are counted but not shown")

    def add_damage(self, item: Any) -> None:
        """Record a damaged part of an EVTX file (a :class:`vigil.sources.evtx.Damage`)."""
        self.corrupt += 1
        if len(self.damaged) < self.max_kept:
            self.damaged.append(item)
        if self.corrupt <= self.max_logged:
            self._emit(f"warning: {item}")
        elif self.corrupt == self.max_logged + 1:
            self._emit("further damaged EVTX records are counted but not shown")

    def _emit(self, text: str) -> None:
        if self.log is not None:
            self.log(text)
        else:
            # Looked up at call time so redirected/captured stderr (tests, CliRunner) sees it.
            print(text, file=sys.stderr)


# --------------------------------------------------------------------------- events and ids


def stable_id(raw: bytes) -> str:
    """A document id derived from its bytes: 20 characters of base64url of a 15-byte blake2b.

    Line terminators are not part of the document, so they are not hashed: the same line gets
    the same id whether it ends in ``\\n``, ``\\r\\n`` or ends the file.
    """
    digest = hashlib.blake2b(raw.rstrip(b"\r\n"), digest_size=15).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


_ID_SLOT: Any = Event.__dict__.get("id")
_LAZY_IDS = type(_ID_SLOT).__name__ == "member_descriptor"


class _LazyIdEvent(Event):
    """An :class:`Event` whose id is hashed from the raw line on first read.

    Hashing costs about a third of decoding a typical 1.5 KB line, and only hits ever print
    their ids, so the hash is deferred. The base class's ``id`` slot stores the value once
    computed; the raw line is dropped then.
    """

    __slots__ = ()

    def __init__(
        self,
        source: dict[str, Any],
        index: str = "",
        id: str | None = None,
        seq: int = 0,
        raw: bytes | None = None,
        projected: bool = False,
    ) -> None:
        self.source = source
        self.index = index
        self.seq = seq
        self.raw = raw
        self.projected = projected
        self.origin = None
        if id is not None:
            _ID_SLOT.__set__(self, id)

    @property
    def id(self) -> str:
        try:
            value: str = _ID_SLOT.__get__(self, Event)
        except AttributeError:
            value = stable_id(self.raw or b"")
            _ID_SLOT.__set__(self, value)
        return value

    @id.setter
    def id(self, value: str) -> None:
        _ID_SLOT.__set__(self, value)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickling must not read `id` (that would hash a line that may already be dropped):
        # pass the id only when it is known.
        try:
            known: str | None = _ID_SLOT.__get__(self, Event)
        except AttributeError:
            known = None
        args = (self.source, self.index, known, self.seq, self.raw, self.projected)
        return (_LazyIdEvent, args, (None, {"origin": self.origin}))


def _eager_event(
    source: dict[str, Any],
    index: str = "",
    id: str | None = None,
    seq: int = 0,
    raw: bytes | None = None,
    projected: bool = False,
) -> Event:
    # Used only if Event ever loses its slots (no slot to defer into): hash right away.
    return Event(source, index, id if id is not None else stable_id(raw or b""), seq, raw, projected)


_new_event: Callable[[dict[str, Any], str, str | None, int, bytes | None, bool], Event] = (
    _LazyIdEvent if _LAZY_IDS else _eager_event
)


# --------------------------------------------------------------------------- reading


def read_events(
    paths: Sequence[str],
    *,
    strict: bool = False,
    line_filter: LineFilter | None = None,
    decode: Callable[[bytes], Any] | None = None,
    report: ReadReport,
    index: str | None = None,
    index_of_path: Mapping[str, str] | None = None,
    input_format: str = "auto",
    ecs_mode: str = "agent",
) -> Iterator[Event]:
    """Yield the events of every input in order, numbering them with ``seq`` across inputs.

    ``paths`` holds files, folders and ``-`` (stdin). ``line_filter``, when given, sees each raw
    NDJSON line first; False means no filter of the query can match it, so it is not decoded.
    ``index`` names the index of every event (``--index NAME``) and ``index_of_path`` that of the
    events of one input argument (``--index NAME=PATH``); otherwise an event's index is the
    document's ``_index``, else its data stream, else the default index of the Beat that wrote it
    (``winlogbeat-<agent.version>``), else ``""`` (unknown).
    ``decode``, when given, replaces the full decode of NDJSON lines (a projection decoder from
    :mod:`vigil.sources.projection`); its events are marked ``projected`` and keep their raw line.
    A malformed line is recorded in ``report`` (and logged to stderr) and skipped; with
    ``strict`` the first one raises :class:`DataError` instead. A missing or unopenable input
    raises :class:`DataError`. An input that breaks off while being read (damaged or truncated
    compression, an I/O error) keeps the events read before the damage; the rest of that input
    is reported like a malformed line (and raises under ``strict``), and reading goes on with
    the next input.

    ``input_format`` is ``auto`` (detected per file: EVTX by its signature, NXLog and Winlogbeat
    8.x raw JSON by the first document, anything else read as it is), or one of ``ndjson``,
    ``evtx``, ``winlogbeat``, ``nxlog`` for every file. Windows events are mapped to ECS with
    ``ecs_mode`` (``agent``: Elastic Agent data streams; ``winlogbeat``: ``winlogbeat-<version>``
    indices); the pre-filter and ``decode`` apply to plain NDJSON only. Damaged EVTX records and
    chunks are skipped, logged and counted in ``report.corrupt`` (under ``strict`` the first
    raises :class:`DataError`).
    """
    if input_format not in _FORMATS:
        raise DataError(f"unknown input format {input_format!r} (expected one of {', '.join(_FORMATS)})")
    reader = _Reader(
        strict=strict,
        line_filter=line_filter,
        report=report,
        decode=decode,
        input_format=input_format,
        ecs_mode=ecs_mode,
    )
    for path in paths:
        # An index named on the command line wins over what the documents say (`--index`).
        reader.forced_index = (index_of_path or {}).get(path, index)
        for name, opener in _expand(path):
            report.files += 1
            lines_before = report.lines
            try:
                if name != "<stdin>" and input_format in ("auto", "evtx") and _evtx_file(name):
                    # The parser reads the file by path: opening it with a big read buffer (to
                    # look for compression) would read a megabyte for nothing.
                    yield from reader.read_evtx(name, name)
                    continue
                with opener() as raw:
                    stream = _decompressed(raw)
                    if input_format == "evtx" or (
                        input_format == "auto" and stream.peek(8)[:8] == _EVTX_MAGIC
                    ):
                        # The parser reads a plain file by path (fast, in Rust); anything else
                        # (stdin, decompressed data) is spooled to a temporary file first.
                        plain = stream is raw and name != "<stdin>"
                        yield from reader.read_evtx(name if plain else stream, name)
                    else:
                        yield from reader.read(stream, name)
            except (OSError, EOFError, zstandard.ZstdError) as exc:
                # The generator's finally blocks have run: report.lines counts the good lines.
                line = report.lines - lines_before + 1
                reason = str(exc) or type(exc).__name__
                reader.malformed(name, line, 1, f"input breaks off here, rest of the file not read: {reason}")


def _evtx_file(name: str) -> bool:
    """Whether a file starts with the EVTX signature (False when it cannot be read: the reader
    then reports why as for any other input)."""
    try:
        with open(name, "rb", buffering=0) as f:
            return f.read(8) == _EVTX_MAGIC
    except OSError:
        return False


def _expand(path: str) -> Iterator[tuple[str, Callable[[], AbstractContextManager[IO[bytes]]]]]:
    """The files an input argument stands for, each with a function that opens it."""
    if path == "-":
        yield "<stdin>", _open_stdin
        return
    p = Path(path)
    if p.is_dir():
        found = sorted(f for f in p.rglob("*") if f.is_file() and _known(f.name))
        for f in found:
            yield str(f), _opener(f)
        return
    if not p.exists():
        raise DataError(f"{path}: no such file or folder")
    yield str(p), _opener(p)


_FORMATS = ("auto", "ndjson", "evtx", "winlogbeat", "nxlog")


def _known(name: str) -> bool:
    lower = name.lower()
    for suffix in _COMPRESSED:
        if lower.endswith(suffix):
            lower = lower[: -len(suffix)]
            break
    return lower.endswith(KNOWN_EXTENSIONS)


def _opener(path: Path) -> Callable[[], AbstractContextManager[IO[bytes]]]:
    def open_() -> AbstractContextManager[IO[bytes]]:
        try:
            return open(path, "rb", buffering=_BUFFER)
        except OSError as exc:
            raise DataError(f"{path}: cannot open: {exc.strerror or exc}") from exc

    return open_


def _open_stdin() -> AbstractContextManager[IO[bytes]]:
    # Not closed afterwards: stdin belongs to the process, not to this reader.
    return nullcontext(sys.stdin.buffer)


def _decompressed(stream: Any) -> Any:
    """A buffered, peekable byte stream of the content, decompressed when it is gzip or zstd."""
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream, _BUFFER)
    head = buffered.peek(4)[:4]
    # Decompressed reads are smaller: a read that hits damaged data loses what it had decoded,
    # so a smaller read keeps more of the good part of a damaged file.
    if head.startswith(_GZIP_MAGIC):
        return io.BufferedReader(gzip.GzipFile(fileobj=buffered, mode="rb"), _DECOMPRESSED_BUFFER)
    if head.startswith(_ZSTD_MAGIC):
        reader = zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)
        return io.BufferedReader(reader, _DECOMPRESSED_BUFFER)
    return buffered


class _Reader:
    """Reading state shared across inputs: the event counter, the report, the options."""

    def __init__(
        self,
        *,
        strict: bool,
        line_filter: LineFilter | None,
        report: ReadReport,
        decode: Callable[[bytes], Any] | None = None,
        input_format: str = "auto",
        ecs_mode: str = "agent",
    ) -> None:
        self.decode = decode
        self.forced_index: str | None = None
        self.strict = strict
        self.line_filter = line_filter
        self.report = report
        self.seq = 0
        self._index_names: dict[tuple[Any, Any, Any], str] = {}
        self.input_format = input_format
        self.ecs_mode = ecs_mode
        self._mapper: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    # ---- Windows formats

    def mapper(self) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """The Windows-to-ECS mapping of this read (built once: it imports the mappers)."""
        if self._mapper is None:
            from vigil.sources.winlog import windows_mapper

            self._mapper = windows_mapper(self.input_format, self.ecs_mode)  # type: ignore[arg-type]
        return self._mapper

    def mapper_for(self, first: Any) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
        """How the documents of a JSON file are mapped, decided from its first document (per
        file, so plain NDJSON keeps its fast path): None reads them as they are."""
        fmt = self.input_format
        if fmt == "ndjson":
            return None
        if fmt == "auto":
            from vigil.sources.winlog import classify

            if classify(first) == "ndjson":
                return None
        return self.mapper()

    def read_evtx(self, source: Any, name: str) -> Iterator[Event]:
        """Yield the events of one EVTX file (a path, or a stream to spool), mapped to ECS."""
        from vigil.ecs.windows import to_ecs
        from vigil.sources.evtx import EVTX_MAGIC, evtx_documents

        if isinstance(source, str):
            with open(source, "rb") as f:
                head = f.read(8)
        else:
            head = source.peek(8)[:8]
        if head != EVTX_MAGIC:
            self.malformed(name, 1, 1, "not an EVTX file (no 'ElfFile' signature); file skipped")
            return
        report = self.report
        mode: Any = self.ecs_mode
        forced = self.forced_index
        make = _new_event
        index_of, default_index = self._index_of, self._default_index
        # Counters live in locals during the loop (attribute writes cost per record) and reach
        # the report and the reader however the loop ends.
        lines = report.lines
        events = 0
        seq = self.seq
        try:
            for key, raw_doc in evtx_documents(source, name, self.damaged):
                lines += 1
                try:
                    doc = to_ecs(raw_doc, mode=mode)
                except _MAPPING_ERRORS as exc:
                    record = raw_doc.get("winlog", {}).get("record_id")
                    report.lines = lines
                    self.malformed(name, lines, 1, f"record {record}: cannot map to ECS: {_why(exc)}")
                    continue
                if forced is not None:
                    index = forced
                else:
                    index = index_of(doc.get("data_stream")) or default_index(doc)
                event = make(doc, index, None, seq, key, False)
                seq += 1
                events += 1
                yield event
        finally:
            report.lines = lines
            report.events += events
            self.seq = seq

    def damaged(self, damage: Any) -> None:
        """Report a damaged part of an EVTX file, or raise it in strict mode."""
        if self.strict:
            raise DataError(str(damage))
        self.report.add_damage(damage)

    # ---- errors

    def malformed(self, name: str, line: int, column: int, message: str) -> None:
        """Report a malformed line, or raise it in strict mode."""
        if self.strict:
            raise DataError(message, Location(line, column, file=name))
        self.report.add_malformed(Malformed(name, line, column, message))

    def decode_error(self, name: str, line: int, exc: orjson.JSONDecodeError) -> None:
        """Report an orjson failure at the place it names (line relative to ``line``)."""
        self.malformed(name, line + exc.lineno - 1, exc.colno, f"malformed JSON: {exc.msg}")

    def line_error(self, name: str, line: int, raw: bytes, exc: orjson.JSONDecodeError) -> None:
        """Report an orjson failure on one NDJSON line."""
        column = exc.colno
        if exc.lineno > 1:
            # orjson ran past the line's own newline ("unexpected end of data"): the line ends
            # too early, so point just after its last character.
            column = len(raw.rstrip(b"\r\n").decode("utf-8", "replace")) + 1
        self.malformed(name, line, column, f"malformed JSON: {exc.msg}")

    # ---- shape detection

    def read(self, stream: Any, name: str) -> Iterator[Event]:
        """Yield the events of one (decompressed) input, whatever its JSON shape."""
        lineno = 0
        first = b""
        for first in stream:  # skip leading blank lines to find the first content line
            lineno += 1
            if first.strip(_WHITESPACE):
                break
        else:
            self.report.lines += lineno
            return
        if first.startswith(_BOM):
            first = first[len(_BOM) :]  # written by some Windows tools; not part of the JSON
        stripped = first.strip(_WHITESPACE)
        if stripped.startswith(b"["):
            yield from self._document(first + stream.read(), name, lineno, lineno - 1, may_be_lines=False)
            return
        try:
            doc = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            if not stripped.endswith(b"}"):
                # An object spread over lines (pretty-printed): read it as one document. Unless
                # the line is a lone "{" (how pretty printers open), it may instead be a damaged
                # NDJSON line, and the lines after it are then worth reading one by one.
                data = first + stream.read()
                yield from self._document(data, name, lineno, lineno - 1, may_be_lines=stripped != b"{")
                return
            doc = None  # a bad NDJSON line: the line loop reports it
        self.report.lines += lineno - 1  # the blank lines before the first document
        if doc is not None and not (isinstance(doc, dict) and _is_search_response(doc)):
            mapper = self.mapper_for(doc)
        else:
            mapper = None if self.input_format in ("auto", "ndjson") else self.mapper()
        if mapper is not None:
            yield from self._mapped_lines(chain([first], stream), name, lineno, mapper)
            return
        if isinstance(doc, dict) and _is_search_response(doc):
            # Search responses saved one per line (curl >> file): each line is a document.
            for number, line in enumerate(chain([first], stream), lineno):
                if line.strip(_WHITESPACE):
                    yield from self._document(line, name, number, 0, may_be_lines=False)
                else:
                    self.report.lines += 1
            return
        yield from self._lines(chain([first], stream), name, lineno)

    def _document(
        self, data: bytes, name: str, first_line: int, blank_lines: int, *, may_be_lines: bool
    ) -> Iterator[Event]:
        """Events of a whole JSON document (array, single object or search response).

        ``may_be_lines``: the content might be NDJSON after all (it started with an object that
        did not end on its line), so a document that fails to parse is retried line by line.
        """
        report = self.report
        report.lines += blank_lines
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            # Not one document after all: an NDJSON file whose first line is damaged reads
            # best line by line, so the valid lines around the damage are still used.
            if may_be_lines:
                lines = iter(data.splitlines(keepends=True))
                if self.input_format in ("auto", "ndjson"):
                    yield from self._lines(lines, name, first_line)
                else:
                    yield from self._mapped_lines(lines, name, first_line, self.mapper())
                return
            report.lines += 1
            self.decode_error(name, first_line, exc)
            return
        items = _hits(doc)
        mapper = None
        if self.input_format != "ndjson":
            first = next((item for item in items if isinstance(item, dict)), None)
            if first is not None:
                mapper = self.mapper_for(first)
        for number, item in enumerate(items, 1):
            report.lines += 1
            where = f"element {number} of the document" if isinstance(doc, list) else "the document"
            if not isinstance(item, dict):
                self.malformed(name, first_line, 1, f"{where} is {_kind(item)}, expected a JSON object")
                continue
            raw = orjson.dumps(item)  # before mapping: the id follows the input, not the mapping
            if mapper is not None:
                try:
                    item = mapper(item)
                except _MAPPING_ERRORS as exc:
                    self.malformed(name, first_line, 1, f"{where}: cannot map to ECS: {_why(exc)}")
                    continue
            yield self._event(item, raw)

    def _event(self, doc: dict[str, Any], raw: bytes, projected: bool = False) -> Event:
        """The event of one decoded document (outside the hot loop)."""
        source = doc.get("_source")
        if isinstance(source, dict):
            index = str(doc.get("_index") or "")
            id_ = doc.get("_id")
            has_id = id_ is not None and id_ != ""
            if self.forced_index is not None:
                index = self.forced_index
            event = _new_event(source, index, str(id_) if has_id else None, self.seq, raw, projected)
        else:
            if self.forced_index is not None:
                index = self.forced_index
            else:
                index = self._index_of(doc.get("data_stream")) or self._default_index(doc)
            event = _new_event(doc, index, None, self.seq, raw, projected)
        self.seq += 1
        self.report.events += 1
        return event

    def _default_index(self, doc: dict[str, Any]) -> str:
        """The index a Beat writes to by default (``winlogbeat-<version>``), from ``agent``."""
        agent = doc.get("agent")
        if type(agent) is not dict:
            return ""
        kind, version = agent.get("type"), agent.get("version")
        if kind in BEATS and isinstance(version, str) and version:
            return f"{kind}-{version}"
        return ""

    def _index_of(self, data_stream: Any) -> str:
        if not isinstance(data_stream, dict):
            return ""
        key = (data_stream.get("type"), data_stream.get("dataset"), data_stream.get("namespace"))
        name = self._index_names.get(key)
        if name is None:
            # One shared string per data stream: events of a stream all point at it.
            parts = [k for k in key if isinstance(k, str) and k]
            name = "-".join(parts) if len(parts) == 3 else ""
            self._index_names[key] = name
        return name

    def _mapped_lines(
        self,
        lines: Iterable[bytes],
        name: str,
        first_line: int,
        mapper: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> Iterator[Event]:
        """Events of NDJSON lines that need mapping to ECS (NXLog, Winlogbeat 8.x raw).

        Each line is decoded in full (the mapping reads fields no query names) and not
        pre-filtered (a query's literals are ECS values the raw line does not hold yet).
        """
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        lineno = first_line - 1
        try:
            for lineno, line in enumerate(lines, first_line):
                try:
                    doc = loads(line)
                except decode_error as exc:
                    if line.strip(_WHITESPACE):
                        self.line_error(name, lineno, line, exc)
                    continue
                if type(doc) is not dict:
                    self.malformed(name, lineno, 1, f"{_kind(doc)} found, expected a JSON object")
                    continue
                try:
                    doc = mapper(doc)
                except _MAPPING_ERRORS as exc:
                    self.malformed(name, lineno, 1, f"cannot map to ECS: {_why(exc)}")
                    continue
                yield self._event(doc, line)
        finally:
            self.report.lines += lineno - first_line + 1

    # ---- the hot loop

    def _lines(self, lines: Iterable[bytes], name: str, first_line: int) -> Iterator[Event]:
        """Events of NDJSON lines; ``first_line`` is the line number of the first one."""
        loads = self.decode or orjson.loads
        projected = self.decode is not None
        forced = self.forced_index
        decode_error = orjson.JSONDecodeError
        line_filter = self.line_filter
        make = _new_event
        index_cache = self._index_names
        report = self.report
        seq = self.seq
        events = filtered = 0
        lineno = first_line - 1
        try:
            for lineno, line in enumerate(lines, first_line):
                if lineno == 5000 and line_filter is not None:
                    # A tuning filter (see vigil.engine.prefilter.LineFilter) has tuned itself by
                    # now: call its fast version directly from here on.
                    line_filter = getattr(line_filter, "fast", line_filter)
                if line_filter is not None and not line_filter(line):
                    # Count real lines only; a long line cannot be blank, so skip the copy.
                    if len(line) > 8 or line.strip(_WHITESPACE):
                        filtered += 1
                    continue
                try:
                    doc = loads(line)
                except decode_error as exc:
                    if line.strip(_WHITESPACE):
                        self.line_error(name, lineno, line, exc)
                    continue
                if type(doc) is not dict:
                    self.malformed(name, lineno, 1, f"{_kind(doc)} found, expected a JSON object")
                    continue
                if "_source" in doc:
                    self.seq = seq
                    report.events += events
                    events = 0
                    event = self._event(doc, line, projected)
                    seq = self.seq
                    yield event
                    continue
                ds = doc.get("data_stream")
                if forced is not None:
                    index = forced
                elif ds is None:
                    index = self._default_index(doc)
                elif type(ds) is dict:
                    index = index_cache.get((ds.get("type"), ds.get("dataset"), ds.get("namespace"))) or (
                        self._index_of(ds)
                    )
                else:
                    index = ""
                event = make(doc, index, None, seq, line, projected)
                seq += 1
                events += 1
                yield event
        finally:
            # Counters live in locals during the loop (attribute writes cost per line);
            # they reach the report however the loop ends, consumer stop included.
            self.seq = seq
            report.events += events
            report.filtered += filtered
            report.lines += lineno - first_line + 1


# What a mapper raises on a document it cannot map: the record is reported and skipped.
_MAPPING_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError)


def _why(exc: BaseException) -> str:
    from vigil.sources.winlog import NotWindowsEvent

    if isinstance(exc, NotWindowsEvent):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _hits(doc: Any) -> list[Any]:
    """The documents inside a parsed JSON document."""
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and _is_search_response(doc):
        hits = doc["hits"]
        if isinstance(hits.get("hits"), list):
            return list(hits["hits"])
        if isinstance(hits.get("events"), list):
            return list(hits["events"])
        found: list[Any] = []
        for sequence in hits.get("sequences") or ():
            if isinstance(sequence, dict):
                found.extend(e for e in sequence.get("events") or () if not _is_missing(e))
        return found
    return [doc]


def _is_search_response(doc: dict[str, Any]) -> bool:
    hits = doc.get("hits")
    return isinstance(hits, dict) and any(
        isinstance(hits.get(k), list) for k in ("hits", "events", "sequences")
    )


def _is_missing(event: Any) -> bool:
    return isinstance(event, dict) and event.get("missing") is True


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "a value"
