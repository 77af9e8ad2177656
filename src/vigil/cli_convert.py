"""``vigil convert``: write the ECS events vigil reads from any input, one JSON object per line.

It also holds the input options every data-reading command shares (``--input-format``,
``--ecs-mode``), so ``query``, ``hunt``, ``replay`` and ``convert`` read data alike.

Converting once and hunting over the NDJSON it writes gives the same alerts as hunting over the
original files: the written events carry their ``data_stream`` (``--ecs-mode agent``) or their
``agent.type``/``agent.version`` (``--ecs-mode winlogbeat``), from which the index is derived
again on reading.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import click
import orjson

from vigil.errors import DataError, VigilError

EXIT_DATA = 1
EXIT_USAGE = 2

F = TypeVar("F", bound=Callable[..., Any])

_INPUT_FORMATS = ("auto", "ndjson", "evtx", "winlogbeat", "nxlog")
_ECS_MODES = ("agent", "winlogbeat")


def input_options(fn: F) -> F:
    """Add ``--input-format`` and ``--ecs-mode`` to a command (parameters ``input_format``,
    ``ecs_mode``)."""
    fn = click.option(
        "--ecs-mode",
        type=click.Choice(_ECS_MODES),
        default="agent",
        show_default=True,
        help="Where mapped Windows events land: agent = Elastic Agent data streams "
        "(logs-windows.sysmon_operational-default, logs-system.security-default, ...); "
        "winlogbeat = winlogbeat-<version> indices.",
    )(fn)
    fn = click.option(
        "--input-format",
        type=click.Choice(_INPUT_FORMATS),
        default="auto",
        show_default=True,
        help="auto detects per file: EVTX by signature, NXLog and Winlogbeat 8.x raw JSON by the "
        "first document (mapped to ECS), anything else read as it is. The others force one format "
        "for every file.",
    )(fn)
    return fn


def damage_note(report: Any) -> str:
    """``, 2 damaged EVTX parts skipped`` for a summary line, or "" when there were none."""
    corrupt = getattr(report, "corrupt", 0)
    if not corrupt:
        return ""
    return f", {corrupt:,} damaged EVTX part{'' if corrupt == 1 else 's'} skipped"


@contextmanager
def _destination(output: Path | None) -> Iterator[IO[bytes]]:
    """The output file, or binary stdout; a reader that stops early (``| head``) ends quietly."""
    if output is not None:
        try:
            handle = open(output, "wb")  # noqa: SIM115 - closed below; opening errors need their own message
        except OSError as exc:
            raise DataError(f"{output}: cannot write: {exc.strerror or exc}") from exc
        with handle:
            yield handle
        return
    out: IO[bytes] = sys.stdout.buffer
    try:
        yield out
        out.flush()
    except BrokenPipeError:
        import os

        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        sys.exit(0)


@click.command()
@click.argument("data", nargs=-1, required=True)
@click.option(
    "--to",
    "target",
    type=click.Choice(["ndjson"]),
    default="ndjson",
    show_default=True,
    help="Output format: one ECS event (JSON object) per line.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to FILE instead of stdout.",
)
@input_options
@click.option("--strict", is_flag=True, help="Stop at the first malformed line or damaged record (exit 1).")
def convert(
    data: tuple[str, ...],
    target: str,
    output: Path | None,
    input_format: str,
    ecs_mode: str,
    strict: bool,
) -> None:
    """Write the ECS events of DATA (files, folders, - for stdin; EVTX, NXLog, Winlogbeat,
    NDJSON or JSON, optionally .gz/.zst) as NDJSON, one event per line.

    \b
    Examples:
      vigil convert Security.evtx Sysmon.evtx --output host1.ndjson
      vigil convert mordor/ --input-format nxlog --ecs-mode winlogbeat > events.ndjson
    """
    from vigil.sources import ReadReport, read_events

    report = ReadReport()
    dumps = orjson.dumps
    written = 0
    try:
        with _destination(output) as out:
            write = out.write
            for event in read_events(
                list(data),
                strict=strict,
                report=report,
                input_format=input_format,
                ecs_mode=ecs_mode,
            ):
                write(dumps(event.source) + b"\n")
                written += 1
    except DataError as exc:
        click.echo(str(exc), err=True)
        _summary(report, written, target)
        sys.exit(EXIT_DATA)
    except VigilError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_USAGE)
    _summary(report, written, target)


def _summary(report: Any, written: int, target: str) -> None:
    files = f"{report.files:,} file{'' if report.files == 1 else 's'}"
    click.echo(
        f"vigil convert: {files}, {report.events:,} events read, "
        f"{report.skipped:,} malformed line(s) skipped{damage_note(report)}; "
        f"{written:,} events written as {target}",
        err=True,
    )
