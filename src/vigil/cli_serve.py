"""``vigil serve``: the continuous detection service (ingest, schedule, alert, web console).

Settings come from, lowest precedence first: defaults, a TOML config file (``--config FILE``,
the options' names with ``_`` or ``-``: ``port = 9400``, ``rules = ["rules/"]``,
``watch = ["/var/log/app"]``, ``retention_days = 30``, ``api_token = "..."``), the environment
(``VIGIL_API_TOKEN``, ``VIGIL_DATA_DIR``), then the command line.
"""

from __future__ import annotations

import logging
import os
import sys
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import click

from vigil.service.settings import DEFAULT_HOST, DEFAULT_PORT, Settings

__all__ = ["load_settings", "serve"]

# Config-file names (as the command-line options spell them) -> Settings fields.
_ALIASES = {"rules": "rule_paths", "watch": "watch_paths", "config": None}
_TUPLES = ("rule_paths", "watch_paths")


def default_data_dir() -> Path:
    """The user's data directory for vigil (``platformdirs``), or ``VIGIL_DATA_DIR``."""
    override = os.environ.get("VIGIL_DATA_DIR")
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("vigil"))


def load_settings(config: Path | None, options: dict[str, Any]) -> Settings:
    """Settings from the config file, the environment and the given options (None = not given).

    Raises :class:`click.UsageError` for an unreadable file or an unknown or mistyped name."""
    known = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    if config is not None:
        try:
            data = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise click.UsageError(f"cannot read the config file {config}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise click.UsageError(f"{config}: not valid TOML: {exc}") from exc
        section = data.get("serve", data)  # a [serve] table, or top-level names
        for raw_name, value in section.items():
            name = raw_name.replace("-", "_")
            name = _ALIASES.get(name, name) or ""
            if name not in known or name == "extra":
                raise click.UsageError(f"{config}: unknown setting {raw_name!r}")
            values[name] = value
    token = os.environ.get("VIGIL_API_TOKEN")
    if token:
        values["api_token"] = token
    for name, value in options.items():
        if value is not None and value != ():
            values[name] = value
    values.setdefault("data_dir", default_data_dir())
    for name in _TUPLES:
        if name in values:
            value = values[name]
            values[name] = (value,) if isinstance(value, str) else tuple(str(v) for v in value)
    values["data_dir"] = Path(str(values["data_dir"])).expanduser()
    try:
        settings = Settings(**values)
    except TypeError as exc:
        raise click.UsageError(f"bad settings: {exc}") from exc
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    if not isinstance(settings.port, int) or not 0 <= settings.port <= 65535:
        raise click.UsageError(f"port must be a number from 0 to 65535, not {settings.port!r}")
    if settings.retention_days is not None and (
        not isinstance(settings.retention_days, int | float) or settings.retention_days <= 0
    ):
        raise click.UsageError(f"retention_days must be a positive number, not {settings.retention_days!r}")
    if not isinstance(settings.max_request_bytes, int) or settings.max_request_bytes < 1024:
        raise click.UsageError("max_request_bytes must be a number of at least 1024")


@click.command()
@click.option(
    "--rules",
    "rule_paths",
    multiple=True,
    metavar="PATH",
    help="Rule files or folders (detection-rules TOML, Kibana export NDJSON, rule pages). Repeatable.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the service keeps events, alerts and its token (default: the user's data dir / vigil).",
)
@click.option("--host", default=None, help=f"Address to listen on (default {DEFAULT_HOST}).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help=f"Port (default {DEFAULT_PORT}).")
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="TOML file with the same settings (command-line options win).",
)
@click.option(
    "--watch",
    "watch_paths",
    multiple=True,
    metavar="PATH",
    help="File or folder to watch for NDJSON and EVTX files. Repeatable.",
)
@click.option(
    "--retention-days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Drop stored events older than this many days (whole days of the store).",
)
@click.option(
    "--open-reads/--no-open-reads", default=None, help="Allow reads (API, console) without the token."
)
@click.option("--log-level", default="info", show_default=True, help="uvicorn's log level.")
def serve(
    rule_paths: tuple[str, ...],
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    config: Path | None,
    watch_paths: tuple[str, ...],
    retention_days: float | None,
    open_reads: bool | None,
    log_level: str,
) -> None:
    """Run the detection service: an Elasticsearch-compatible ingest API, the rules on their
    schedules, the alert API and the web console, on http://127.0.0.1:9400 by default.

    \b
    Examples:
      vigil serve --rules rules/
      vigil serve --config vigil.toml --watch /var/log/sysmon/
    """
    import uvicorn

    from vigil.service.app import build_state, create_app

    settings = load_settings(
        config,
        {
            "rule_paths": rule_paths,
            "data_dir": data_dir,
            "host": host,
            "port": port,
            "watch_paths": watch_paths,
            "retention_days": retention_days,
            "open_reads": open_reads,
        },
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        state = build_state(settings)
    except Exception as exc:
        click.echo(f"vigil serve: cannot start: {exc}", err=True)
        sys.exit(1)
    new_token = state.extra.pop("new_token", None)
    if new_token:
        click.echo(
            f"vigil serve: API token (shown once; only its hash is kept in {settings.data_dir}):\n"
            f"  {new_token}",
            err=True,
        )
    click.echo(
        f"vigil serve: data in {settings.data_dir}; listening on http://{settings.host}:{settings.port}",
        err=True,
    )
    app = create_app(state)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level, lifespan="on")
