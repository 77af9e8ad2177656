"""``vigil rules``: check and list detection rule files.

* ``vigil rules validate PATH...`` prints every problem (file, line, field, message), then
  ``N rules, M errors, K warnings``; the exit code is 1 when there is an error, else 0.
* ``vigil rules list PATH... [--format table|json]`` lists the rules that load, with their
  schedule and whether vigil can run them; problems go to stderr, and the exit code is 1 when
  there is an error.

The group is registered on the main command by ``vigil.cli`` (``main.add_command(rules)``).
"""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from vigil.rules.loaders import LoadResult, load_rules
from vigil.rules.model import Rule
from vigil.rules.validate import rule_status, unsupported_reason

_SEVERITY_STYLE = {"low": "green", "medium": "yellow", "high": "red", "critical": "bold red"}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _summary(result: LoadResult) -> str:
    return (
        f"{_plural(len(result.rules), 'rule')}, {_plural(len(result.errors), 'error')}, "
        f"{_plural(len(result.warnings), 'warning')}"
    )


@click.group("rules", context_settings={"help_option_names": ["-h", "--help"]})
def rules() -> None:
    """Check and list detection rules (detection-rules TOML, Kibana exports, documentation pages)."""


@rules.command("validate")
@click.argument("paths", nargs=-1, required=True)
def validate(paths: tuple[str, ...]) -> None:
    """Load the rules under PATHS and report every problem."""
    result = load_rules(paths)
    for problem in result.problems:
        click.echo(str(problem))
    unsupported = sum(1 for r in result.rules if unsupported_reason(r) is not None)
    summary = _summary(result)
    if unsupported:
        summary += f" ({unsupported} of the rules are not supported yet)"
    click.echo(summary)
    sys.exit(1 if result.errors else 0)


def _rule_json(rule: Rule) -> dict[str, Any]:
    return {
        "rule_id": rule.rule_id,
        "name": rule.name,
        "type": rule.type,
        "language": rule.language,
        "severity": rule.severity,
        "risk_score": rule.risk_score,
        "interval": rule.interval,
        "from": rule.from_,
        "to": rule.to,
        "max_signals": rule.max_signals,
        "index": list(rule.index),
        "tags": list(rule.tags),
        "version": rule.version,
        "enabled": rule.enabled,
        "source": rule.source,
        "supported": unsupported_reason(rule) is None,
        "status": rule_status(rule),
    }


@rules.command("list")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table is for people; json prints one array of rule summaries",
)
def list_rules(paths: tuple[str, ...], output_format: str) -> None:
    """List the rules under PATHS: id, name, type, severity, risk, schedule, indices, status."""
    result = load_rules(paths)
    for problem in result.problems:
        click.echo(str(problem), err=True)
    if output_format == "json":
        sys.stdout.buffer.write(
            orjson.dumps([_rule_json(r) for r in result.rules], option=orjson.OPT_INDENT_2)
        )
        sys.stdout.buffer.write(b"\n")
        sys.stdout.flush()
    else:
        _print_table(result)
    click.echo(_summary(result), err=True)
    sys.exit(1 if result.errors else 0)


def _print_table(result: LoadResult) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    out = sys.stdout
    # Piped output has no terminal width; a wide page keeps rows on one line each.
    console = Console(file=out, width=None if out.isatty() else 200, highlight=False)
    if not result.rules:
        console.print("no rules")
        return
    table = Table(header_style="bold", expand=False)
    for column in ("rule_id", "name", "type", "severity", "risk", "interval", "from", "indices", "status"):
        table.add_column(column, justify="right" if column == "risk" else "left", overflow="fold")
    for rule in result.rules:
        status = rule_status(rule)
        # Text, not str: rule names and index patterns are not rich markup.
        table.add_row(
            Text(rule.rule_id[:8]),
            Text(rule.name),
            Text(rule.type),
            Text(rule.severity, style=_SEVERITY_STYLE.get(rule.severity, "")),
            Text(str(rule.risk_score)),
            Text(rule.interval),
            Text(rule.from_),
            Text(", ".join(rule.index)),
            Text(status, style="green" if status == "ok" else "yellow"),
        )
    console.print(table)
