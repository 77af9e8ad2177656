"""The ``vigil`` command line: run EQL over event files, print canonical EQL, run conformance.

Exit codes: 0 success; 1 bad data (unreadable input, or a malformed line with ``--strict``);
2 a bad query or bad usage. User errors print their message (with a caret line under the
offending part of a query), never a Python traceback.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, NoReturn

import click
import orjson

from vigil import __version__
from vigil.cli_convert import damage_note, input_options
from vigil.errors import DataError, VigilError

EXIT_DATA = 1
EXIT_QUERY = 2

_FORMATS = ("table", "ndjson", "json")


def _fail(error: VigilError | str, code: int) -> NoReturn:
    click.echo(str(error), err=True)
    sys.exit(code)


def _query_text(eql: str) -> str:
    """The query itself, or the content of the file it names as ``@path``."""
    if not eql.startswith("@"):
        return eql
    path = Path(eql[1:])
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read the query file {path}: {exc}", EXIT_QUERY)


class _LazyGroup(click.Group):
    """A group whose sub-commands living in other modules are imported when one is run or
    listed, not at start-up: `vigil query` does not pay for the rule loaders, the service and
    the store (about 50 ms of imports)."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})  # command name -> "module:attribute"

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            import importlib

            module, attribute = self.lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


# Sub-command groups that live in their own modules.
_LAZY_COMMANDS = {
    "hunt": "vigil.cli_hunt:hunt",
    "replay": "vigil.cli_hunt:replay",
    "rules": "vigil.cli_rules:rules",
    "alerts": "vigil.cli_alerts:alerts",
    "convert": "vigil.cli_convert:convert",
    "store": "vigil.cli_store:store",
    "serve": "vigil.cli_serve:serve",
}


@click.group(cls=_LazyGroup, lazy=_LAZY_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="vigil")
def main() -> None:
    """Run Elastic Security EQL rules over event files, with Elasticsearch's EQL semantics."""


# Set by a command that has written, flushed and closed all it writes (see run).
_DONE: dict[str, bool] = {}


def all_written() -> None:
    """Tell :func:`run` that the command has closed every file and store it wrote to: the
    process may end without tearing down its objects."""
    _DONE["written"] = True


def run() -> None:
    """The ``vigil`` program: :func:`main` as a command line runs it. After a command that said
    it has closed all it wrote (:func:`all_written`: a hunt or replay), the process ends without
    freeing its objects one by one, which took ~0.3 s after a hunt over 1,000 rules (the
    compiled rules and their answers are millions of objects). The output is the same."""
    try:
        main()
    except SystemExit as exc:
        code = exc.code
        if _DONE.get("written") and (code is None or isinstance(code, int)):
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code or 0)
        raise


# --------------------------------------------------------------------------- vigil query


@main.command()
@click.argument("eql")
@click.argument("data", nargs=-1, required=False)
@click.option(
    "--store",
    "store_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Query the event store in DIR (see `vigil store`) instead of DATA.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(_FORMATS),
    default="table",
    show_default=True,
    help="table: for people; ndjson: one hit per line; json: the _eql/search response body.",
)
@click.option("--timestamp-field", default="@timestamp", show_default=True, help="Field with event time.")
@click.option("--tiebreaker-field", default=None, help="Field that orders events with equal timestamps.")
@click.option(
    "--category-field", default="event.category", show_default=True, help="Field with the event category."
)
@click.option("--size", default=10, show_default=True, type=click.IntRange(min=0), help="Maximum hits.")
@click.option(
    "--result-position",
    type=click.Choice(["head", "tail"]),
    default="head",
    show_default=True,
    help="Keep the earliest (head) or the latest (tail) hits.",
)
@click.option(
    "--max-samples-per-key",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Samples per join key (sample queries).",
)
@click.option("--strict", is_flag=True, help="Stop at the first malformed line (exit 1) instead of skipping.")
@click.option("--no-prefilter", is_flag=True, help="Decode every line (skip the raw-bytes pre-check).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes reading large NDJSON files in parallel (default: the number of cores, at most 4; "
    "1 reads in this process). Small, compressed or piped input is read in one process.",
)
@click.option("--full-decode", is_flag=True, help="Decode whole documents (skip the field projection).")
@input_options
def query(
    eql: str,
    data: tuple[str, ...],
    output_format: str,
    timestamp_field: str,
    tiebreaker_field: str | None,
    category_field: str,
    size: int,
    result_position: str,
    max_samples_per_key: int,
    strict: bool,
    no_prefilter: bool,
    full_decode: bool,
    workers: int | None,
    input_format: str = "auto",
    ecs_mode: str = "agent",
    store_dir: Path | None = None,
) -> None:
    """Run the EQL query EQL over DATA: NDJSON or JSON files (optionally .gz/.zst), Windows EVTX
    files, NXLog or Winlogbeat JSON, folders, or - for stdin; or over the event store in
    --store DIR. EQL may be @FILE to read the query from a file.

    \b
    Examples:
      vigil query 'process where process.name : "cmd.exe"' logs/
      vigil query @examples/queries/direct_outbound_smb.eql examples/data --format json
      zcat events.ndjson.gz | vigil query 'network where destination.port == 445' - --format ndjson
    """
    from vigil.engine import QueryOptions, compile_query
    from vigil.sources import ReadReport, read_events
    from vigil.sources.parallel import execute_parallel
    from vigil.sources.projection import make_decoder

    if store_dir is not None and data:
        _fail("vigil query: give DATA or --store DIR, not both", EXIT_QUERY)
    if store_dir is None and not data:
        _fail("vigil query: missing DATA (files, folders or - for stdin), or --store DIR", EXIT_QUERY)
    text = _query_text(eql)
    started = time.perf_counter()
    options = QueryOptions(
        timestamp_field=timestamp_field,
        tiebreaker_field=tiebreaker_field,
        event_category_field=category_field,
        size=size,
        result_position=result_position,  # type: ignore[arg-type]
        max_samples_per_key=max_samples_per_key,
    )
    try:
        compiled = compile_query(text, options=options)
    except VigilError as exc:
        _fail(exc, EXIT_QUERY)

    if store_dir is not None:
        from vigil.cli_store import query_store

        with _quiet_gc():
            result, store_summary = query_store(compiled, store_dir)
        _print_result(result, output_format, round((time.perf_counter() - started) * 1000), options)
        store_summary(result, size)
        return

    report = ReadReport()
    # --strict promises that every line is valid JSON, which lines the pre-filter passes over
    # undecoded are not checked for; so strict reads decode everything.
    line_filter = None if strict or no_prefilter else getattr(compiled, "line_filter", None)
    if workers is None:
        workers = min(4, os.cpu_count() or 1)
    try:
        with _quiet_gc():
            result = None
            if not strict:
                # Large plain NDJSON files are split across worker processes; anything else
                # (small, compressed, piped, JSON documents) is read here.
                result = execute_parallel(
                    text,
                    options,
                    data,
                    report,
                    workers=workers,
                    prefilter=not no_prefilter,
                    project=not full_decode,
                    input_format=input_format,
                )
            if result is None:
                result = compiled.execute(
                    read_events(
                        data,
                        strict=strict,
                        line_filter=line_filter,
                        report=report,
                        decode=None if full_decode else make_decoder(compiled.fields),
                        input_format=input_format,
                        ecs_mode=ecs_mode,
                    )
                )
    except DataError as exc:
        click.echo(str(exc), err=True)
        if report.files:
            _summary(report, None, size)  # how far reading got before the failure
        sys.exit(EXIT_DATA)
    except VigilError as exc:
        _fail(exc, EXIT_QUERY)
    took_ms = round((time.perf_counter() - started) * 1000)
    _print_result(result, output_format, took_ms, options)
    _summary(report, result.total, size, kind=result.kind)


def _print_result(result: Any, output_format: str, took_ms: int, options: Any) -> None:
    """Print the answer of ``vigil query`` in the chosen format."""
    from vigil.engine.response import iter_ndjson_hits, to_eql_response

    with _output() as out:
        if output_format == "json":
            body = to_eql_response(result, took_ms)
            out.write(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
        elif output_format == "ndjson":
            for hit in iter_ndjson_hits(result):
                out.write(orjson.dumps(hit) + b"\n")
        else:
            _print_table(
                result, timestamp_field=options.timestamp_field, category_field=options.event_category_field
            )


@contextmanager
def _quiet_gc() -> Iterator[None]:
    """Collect cyclic garbage less often while a query runs.

    Decoded events are large trees of dicts and lists without cycles; the ones a sequence holds
    stay alive, so with the default thresholds the collector re-walks them over and over
    (measured: a 3x slowdown when events are kept). Reference counting still frees them.
    """
    import gc

    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


@contextmanager
def _output() -> Iterator[IO[bytes]]:
    """Binary stdout; a reader that stops early (``| head``) ends the output quietly."""
    out: IO[bytes] = sys.stdout.buffer
    try:
        yield out
        out.flush()
    except BrokenPipeError:
        # Point stdout at nothing so the interpreter's final flush does not raise again.
        import os

        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        sys.exit(0)


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _summary(report: Any, total: int | None, size: int, kind: str = "events") -> None:
    """The closing lines on stderr: what was read, what was skipped, what matched."""
    read = report.events + report.filtered
    parts = [f"{_plural(report.files, 'file')}, {_plural(read, 'event')} read"]
    if report.filtered:
        parts.append(f"{report.filtered:,} passed over by the pre-filter")
    parts.append(f"{_plural(report.skipped, 'malformed line')} skipped")
    line = "vigil: " + ", ".join(parts) + damage_note(report)
    if total is not None:
        noun = "event" if kind == "events" else "sequence"
        line += f"; {_plural(total, noun)} matched"
    click.echo(line, err=True)
    if total is not None and size and total >= size:
        click.echo(f"vigil: the result reached --size {size}; there may be more hits", err=True)


# --------------------------------------------------------------------------- table output


def _field(source: dict[str, Any], path: str) -> Any:
    """A field of a document by dotted path, nested (``{"a": {"b": 1}}``) or flattened
    (``{"a.b": 1}``) or a mix, as Elasticsearch reads ``_source``; None when absent."""
    if path in source:
        return source[path]
    head, dot, rest = path.partition(".")
    while dot:
        child = source.get(head)
        if isinstance(child, dict):
            found = _field(child, rest)
            if found is not None:
                return found
        part, dot, rest = rest.partition(".")
        head = f"{head}.{part}"
    return None


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)


def _endpoint(source: dict[str, Any], side: str) -> str:
    ip = _show(_field(source, f"{side}.ip") or _field(source, f"{side}.address"))
    port = _show(_field(source, f"{side}.port"))
    if ":" in ip and port:
        ip = f"[{ip}]"  # IPv6: brackets keep the port readable
    return f"{ip}:{port}" if port else ip


def _summary_of(source: dict[str, Any], category: str) -> str:
    """A one-line description of an event, chosen by its category."""
    cats = category.split(", ")
    if "network" in cats:
        if _field(source, "dns.question.name"):
            return f"dns {_show(_field(source, 'dns.question.name'))}"
        text = f"{_endpoint(source, 'source')} -> {_endpoint(source, 'destination')}"
        transport = _show(_field(source, "network.transport"))
        return f"{transport} {text}".strip() if text != " -> " else _show(_field(source, "event.action"))
    if "process" in cats:
        found = _field(source, "process.command_line") or _field(source, "process.executable")
        if found:
            return _show(found)
    for path in ("file.path", "registry.path", "dns.question.name", "url.full"):
        found = _field(source, path)
        if found:
            return _show(found)
    if "authentication" in cats:
        return f"{_show(_field(source, 'user.name'))} {_show(_field(source, 'event.outcome'))}".strip()
    return _show(_field(source, "event.action") or _field(source, "message"))


_COLUMNS = ("@timestamp", "index", "id", "category", "host.name", "process.name", "summary")


def _row(event: Any, timestamp_field: str, category_field: str) -> list[str]:
    source = event.source
    category = _show(_field(source, category_field))
    return [
        _show(_field(source, timestamp_field)),
        event.index,
        event.id,
        category,
        _show(_field(source, "host.name")),
        _show(_field(source, "process.name")),
        _shorten(_summary_of(source, category), 90),
    ]


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _print_table(result: Any, *, timestamp_field: str, category_field: str) -> None:
    """Print hits for people: one table of events, or one block per sequence."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    def cells(values: list[str]) -> list[Text]:
        # Text, not str: event data is not rich markup ("[fd00::1]" must print as it is).
        return [Text(value) for value in values]

    out = sys.stdout
    # Piped output has no terminal width; a wide page keeps rows on one line each.
    console = Console(file=out, width=None if out.isatty() else 200, highlight=False)

    def table(title: str | None, step_column: bool) -> Table:
        grid = Table(title=Text(title, style="bold") if title else None, title_justify="left", expand=False)
        if step_column:
            grid.add_column("#", justify="right")
        for name in _COLUMNS:
            grid.add_column(timestamp_field if name == "@timestamp" else name, overflow="fold")
        return grid

    if result.kind == "events":
        if not result.events:
            console.print("no matching events")
            return
        grid = table(None, step_column=False)
        for event in result.events:
            grid.add_row(*cells(_row(event, timestamp_field, category_field)))
        console.print(grid)
        return
    if not result.sequences:
        console.print("no matching sequences")
        return
    for number, sequence in enumerate(result.sequences, 1):
        keys = ", ".join(_show(k) if k is not None else "null" for k in sequence.join_keys)
        title = f"sequence {number}" + (f"  join keys: {keys}" if sequence.join_keys else "")
        grid = table(title, step_column=True)
        for step, event in enumerate(sequence.events, 1):
            if event is None:
                grid.add_row(*cells([str(step), "(missing event)", *[""] * (len(_COLUMNS) - 1)]))
            else:
                grid.add_row(*cells([str(step), *_row(event, timestamp_field, category_field)]))
        console.print(grid)


# --------------------------------------------------------------------------- vigil parse


@main.command()
@click.argument("eql")
def parse(eql: str) -> None:
    """Print the canonical form of the EQL query EQL (or @FILE), or what is wrong with it."""
    from vigil.eql.parser import parse as parse_eql
    from vigil.eql.printer import to_text

    text = _query_text(eql)
    try:
        click.echo(to_text(parse_eql(text)))
    except VigilError as exc:
        _fail(exc, EXIT_QUERY)


# --------------------------------------------------------------------------- vigil conformance


@main.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--path",
    "paths",
    multiple=True,
    type=click.Choice(
        ["plain", "prefilter", "projection", "scan", "record", "columnar", "keygate", "store", "all"]
    ),
    default=("plain",),
    show_default=True,
    help="Execution path(s) to run every spec through: the plain evaluator, behind the raw-bytes "
    "pre-filter, behind pre-filter and projection decoding (as `vigil query` runs), with the "
    "lines found as the parallel reader finds them (scan: whole ranges searched for needles, "
    "key pre-pass of sequences; record: that pre-pass in one reading, lines recorded by key), "
    "behind the many-rules hunt's columnar filter (columnar), behind its key gate of sequence "
    "rules (keygate), "
    "or over a temporary event store with SQL push-down (store); "
    "all: every path. Repeatable.",
)
def conformance(directory: Path, paths: tuple[str, ...]) -> None:
    """Run the conformance suite in DIRECTORY and print its report.

    \b
    Example:
      vigil conformance ../shared/conformance/es-eql --path all
    """
    from vigil.conformance.runner import ALL_PATHS
    from vigil.conformance.runner import main as run_conformance

    chosen = ALL_PATHS if "all" in paths else tuple(dict.fromkeys(paths))
    try:
        code = run_conformance(directory, paths=chosen)
    except VigilError as exc:
        _fail(exc, EXIT_DATA)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
