"""``vigil store``: load events into a columnar event store, and describe one.

``vigil store add DATA... --store DIR`` reads DATA as every other command does (NDJSON, JSON,
compressed, EVTX, NXLog, Winlogbeat; ``--input-format``, ``--ecs-mode``, ``--index``) and appends
the events to the store in one atomic commit. ``vigil store info --store DIR`` shows its files,
rows, partitions and size. ``vigil query EQL --store DIR`` runs a query over a store (see
:func:`query_store`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click
import orjson

from vigil.cli_convert import damage_note, input_options
from vigil.errors import DataError, VigilError

EXIT_DATA = 1
EXIT_USAGE = 2

_STORE_OPTION = click.option(
    "--store",
    "store_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The store's folder.",
)


def _index_options(values: Sequence[str]) -> tuple[str | None, dict[str, str]]:
    """``--index NAME`` (all inputs) and ``--index NAME=PATH`` (one input)."""
    default: str | None = None
    per_path: dict[str, str] = {}
    for v in values:
        if "=" in v:
            name, path = v.split("=", 1)
            if not name or not path:
                raise click.BadParameter(f"{v!r}: expected NAME or NAME=PATH", param_hint="--index")
            per_path[path] = name
        else:
            default = v
    return default, per_path


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} bytes"  # pragma: no cover


@click.group()
def store() -> None:
    """The columnar event store: events in Parquet files, rules' filters pushed down to DuckDB.

    \b
    Examples:
      vigil store add logs/ --store events.store
      vigil store info --store events.store
      vigil query @examples/queries/direct_outbound_smb.eql --store events.store
    """


@store.command("add")
@click.argument("data", nargs=-1, required=True)
@_STORE_OPTION
@click.option(
    "--index",
    "index_opts",
    multiple=True,
    metavar="NAME|NAME=PATH",
    help="The index of all events (NAME) or of one input (NAME=PATH); wins over _index/data_stream.",
)
@click.option("--strict", is_flag=True, help="Stop at the first malformed line (exit 1; nothing is added).")
@input_options
def add(
    data: tuple[str, ...],
    store_dir: Path,
    index_opts: tuple[str, ...],
    strict: bool,
    input_format: str,
    ecs_mode: str,
) -> None:
    """Append the events of DATA (files, folders, - for stdin) to the store in DIR, creating it
    when needed. All the events become visible at once, or none (an interrupted or failed add
    leaves the store as it was)."""
    from vigil.sources import ReadReport, read_events
    from vigil.store import open_store

    default_index, per_path = _index_options(index_opts)
    report = ReadReport()
    started = time.perf_counter()
    try:
        target = open_store(store_dir)
        added = target.append(
            read_events(
                list(data),
                strict=strict,
                report=report,
                index=default_index,
                index_of_path=per_path,
                input_format=input_format,
                ecs_mode=ecs_mode,
            )
        )
        info = target.info()
    except DataError as exc:
        click.echo(str(exc), err=True)
        click.echo("vigil: nothing was added to the store", err=True)
        sys.exit(EXIT_DATA)
    except VigilError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_USAGE)
    seconds = time.perf_counter() - started
    parts = [
        f"{_plural(report.files, 'file')} read",
        f"{_plural(added.events, 'event')} written to {_plural(added.files, 'Parquet file')}",
        f"{_plural(len(added.partitions), 'partition')}",
        _size(added.bytes),
        f"{_plural(report.skipped, 'malformed line')} skipped",
    ]
    if added.skipped:
        parts.append(f"{_plural(added.skipped, 'event')} not storable")
    line = "vigil: " + ", ".join(parts) + damage_note(report)
    click.echo(line + f" in {seconds:.1f} s", err=True)
    for problem in added.problems:
        click.echo(f"vigil: {problem}", err=True)
    if added.cleaned:
        click.echo(
            f"vigil: removed {_plural(added.cleaned, 'leftover file')} of an interrupted add", err=True
        )
    click.echo(
        f"vigil: the store now holds {_plural(info.rows, 'event')} in {_plural(info.files, 'file')}, "
        f"{_plural(len(info.partitions), 'partition')}, {_size(info.bytes)}",
        err=True,
    )


@store.command("info")
@_STORE_OPTION
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table: for people; json: every number.",
)
def info(store_dir: Path, output_format: str) -> None:
    """Describe the store in DIR: files, rows, partitions, bytes, indices, time range."""
    from vigil.ecs.values import format_date_iso
    from vigil.store import open_store

    try:
        details = open_store(store_dir, create=False).info()
    except VigilError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_DATA)
    if output_format == "json":
        body = {k: list(v) if isinstance(v, tuple) else v for k, v in details.__dict__.items()}
        sys.stdout.buffer.write(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
        return
    span = "none"
    if details.min_ts is not None and details.max_ts is not None:
        span = f"{format_date_iso(details.min_ts, False)} .. {format_date_iso(details.max_ts, False)}"
    rows = [
        ("store", details.path),
        ("events", f"{details.rows:,}"),
        ("files", f"{details.files:,}"),
        ("partitions", f"{len(details.partitions):,}"),
        ("bytes", _size(details.bytes)),
        ("indices", ", ".join(i or "(unknown)" for i in details.indices) or "none"),
        ("@timestamp", span),
        ("commits", f"{details.generation:,}"),
        ("hot fields", f"{len(details.hot_fields)}"),
    ]
    width = max(len(k) for k, _v in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")
    for partition in details.partitions:
        click.echo(f"  {partition}")


def query_store(compiled: Any, store_dir: Path) -> tuple[Any, Callable[[Any, int], None]]:
    """Run a compiled query over the store in ``store_dir`` (``vigil query --store``): the
    push-down's candidates through the exact evaluator. Returns the result and a function that
    prints the closing summary on stderr (given the result and ``--size``). Exits 1 when the
    store cannot be read."""
    from vigil.store import open_store

    counted = [0]

    def counting(events: Iterator[Any]) -> Iterator[Any]:
        for ev in events:
            counted[0] += 1
            yield ev

    try:
        target = open_store(store_dir, create=False)
        details = target.info()
        result = compiled.execute(counting(target.candidates([compiled])))
    except DataError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_DATA)

    def summary(result: Any, size: int) -> None:
        noun = "event" if result.kind == "events" else "sequence"
        click.echo(
            f"vigil: store {store_dir}: {_plural(details.rows, 'event')} "
            f"in {_plural(details.files, 'file')}, "
            f"{counted[0]:,} read as candidates; {_plural(result.total, noun)} matched",
            err=True,
        )
        if size and result.total >= size:
            click.echo(f"vigil: the result reached --size {size}; there may be more hits", err=True)

    return result, summary
