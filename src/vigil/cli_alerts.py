"""``vigil alerts``: list the stored alerts, show one, change its workflow status.

Exit codes: 0 success; 1 the alert database is missing or unreadable; 2 bad usage (an unknown
alert id, an ambiguous id prefix, a bad time). Errors print a message, never a traceback.
"""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from vigil.errors import VigilError

if TYPE_CHECKING:
    from vigil.alerts.store import AlertStore

EXIT_DATA = 1
EXIT_USAGE = 2

_SEVERITIES = ("low", "medium", "high", "critical")
_STATUSES = ("open", "acknowledged", "closed")


def _fail(error: VigilError | str, code: int) -> NoReturn:
    click.echo(f"vigil: {error}", err=True)
    sys.exit(code)


def _open(alert_db: Path | None, *, must_exist: bool) -> AlertStore | None:
    """The store, or a clear error. A missing default database just means no alerts yet."""
    from vigil.alerts.store import AlertStore, AlertStoreError, default_path

    path = alert_db if alert_db is not None else default_path()
    if not path.exists():
        if must_exist or alert_db is not None:
            _fail(f"no alert database at {path}", EXIT_DATA)
        return None
    try:
        return AlertStore.open(path, create=False)
    except AlertStoreError as exc:
        _fail(exc, EXIT_DATA)


def _when(text: str | None, *, upper: bool) -> datetime | None:
    """A time bound: ISO 8601 or date math (``now-24h``, ``now-7d/d``)."""
    if text is None:
        return None
    from vigil.rules.datemath import parse_date_math

    try:
        return parse_date_math(text).resolve(datetime.now(UTC), round_up=upper)
    except VigilError as exc:
        _fail(f"bad time {text!r}: {exc.message}", EXIT_USAGE)


_alert_db_option = click.option(
    "--alert-db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The alert database (default: alerts.db in the user data directory, or $VIGIL_ALERT_DB).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def alerts() -> None:
    """Look at the alerts vigil stored: list them, show one, set its status."""


@alerts.command("list")
@_alert_db_option
@click.option("--rule", default=None, help="A rule id, or part of a rule name.")
@click.option(
    "--severity", type=click.Choice(_SEVERITIES), multiple=True, help="Only this severity (repeatable)."
)
@click.option(
    "--host", default=None, help="A host name (exact, case-insensitive, or a glob such as 'web-*')."
)
@click.option("--user", default=None, help="A user name (exact, case-insensitive, or a glob).")
@click.option(
    "--status", type=click.Choice(_STATUSES), default=None, help="Only alerts with this workflow status."
)
@click.option("--since", default=None, help="Alerts created at or after T (ISO 8601 or date math: now-24h).")
@click.option("--until", default=None, help="Alerts created at or before T.")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True, help="At most N alerts.")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip the first N alerts.")
@click.option("--building-blocks", is_flag=True, help="Also list the building blocks of sequences.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(("table", "ndjson", "json")),
    default="table",
    show_default=True,
    help="table: for people; ndjson: one alert document a line; json: an array of them.",
)
def list_alerts(
    alert_db: Path | None,
    rule: str | None,
    severity: tuple[str, ...],
    host: str | None,
    user: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    offset: int,
    building_blocks: bool,
    output_format: str,
) -> None:
    """List stored alerts, newest first. A sequence is one alert, its shell alert, as in Kibana's
    alerts table; --building-blocks lists each shell's building blocks after it.

    \b
    Examples:
      vigil alerts list --severity high --severity critical --since now-24h
      vigil alerts list --rule "Outbound SMB" --host 'ws-*' --format ndjson
    """
    from vigil.alerts.output import write_alerts
    from vigil.alerts.store import AlertStoreError

    since_at, until_at = _when(since, upper=False), _when(until, upper=True)
    store = _open(alert_db, must_exist=False)
    if store is None:
        click.echo("No alerts (no alert database yet).")
        return
    try:
        with store:
            found = store.list_alerts(
                rule=rule,
                severity=list(severity) or None,
                host=host,
                user=user,
                status=status,
                since=since_at,
                until=until_at,
                limit=limit,
                offset=offset,
            )
            items = []
            for alert in found:
                items.append(alert)
                if building_blocks and alert.is_shell and alert.group_id:
                    items.extend(store.group_alerts(alert.group_id))
            write_alerts(items, output_format, sys.stdout, show_building_blocks=building_blocks)
    except AlertStoreError as exc:
        _fail(exc, EXIT_DATA)


@alerts.command("show")
@click.argument("alert_id")
@_alert_db_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(("table", "json")),
    default="table",
    show_default=True,
    help="table: for people; json: the alert document and its building blocks.",
)
def show_alert(alert_id: str, alert_db: Path | None, output_format: str) -> None:
    """Show the alert ALERT_ID (its id, or enough of its start to be unique): its facts, rule and
    MITRE ATT&CK mapping, and the building blocks of a sequence."""
    from vigil.alerts.output import write_alert_detail
    from vigil.alerts.store import AlertStoreError, UnknownAlertError

    store = _open(alert_db, must_exist=True)
    assert store is not None
    try:
        with store:
            alert = store.get_alert(alert_id)
            blocks = store.group_alerts(alert.group_id) if alert.is_shell and alert.group_id else []
            write_alert_detail(alert, blocks, output_format, sys.stdout)
    except UnknownAlertError as exc:  # also an ambiguous prefix
        _fail(exc, EXIT_USAGE)
    except AlertStoreError as exc:
        _fail(exc, EXIT_DATA)


@alerts.command("status")
@click.argument("alert_id")
@click.argument("status", type=click.Choice(_STATUSES))
@_alert_db_option
@click.option("--by", "who", default=None, help="Who changes it (default: the current user).")
@click.option("--building-blocks", is_flag=True, help="Also change the building blocks of a sequence.")
def set_status(
    alert_id: str, status: str, alert_db: Path | None, who: str | None, building_blocks: bool
) -> None:
    """Set the workflow status of ALERT_ID to STATUS (open, acknowledged or closed)."""
    from vigil.alerts.store import AlertStoreError, UnknownAlertError

    store = _open(alert_db, must_exist=True)
    assert store is not None
    if who is None:
        try:
            who = getpass.getuser()
        except (OSError, KeyError):
            who = None
    try:
        with store:
            alert = store.set_status(alert_id, status, who, with_building_blocks=building_blocks)
    except UnknownAlertError as exc:
        _fail(exc, EXIT_USAGE)
    except AlertStoreError as exc:
        _fail(exc, EXIT_DATA)
    click.echo(f"{alert.uuid[:12]} is now {alert.workflow_status}")
