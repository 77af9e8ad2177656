"""Printing alerts: a table for people, or the alert documents as NDJSON or a JSON array.

* ``table``: one row per alert (time, severity in colour, rule, host, user, reason, short id).
  A sequence is one row, its shell alert (time of its first event, hosts and users of its
  events); building blocks are hidden unless asked for.
* ``ndjson``: every alert document, building blocks included, one per line, in Kibana's order
  (a shell, then its building blocks).
* ``json``: the same documents as one JSON array.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any

import orjson

from vigil.alerts.build import ALERT_GROUP_INDEX, ALERT_UUID, AlertGroup
from vigil.alerts.js import lodash_get
from vigil.alerts.store import StoredAlert

FORMATS = ("table", "ndjson", "json")
SEVERITY_STYLES = {"low": "green", "medium": "yellow", "high": "dark_orange", "critical": "bold red"}
SHORT_ID = 12


@dataclass(frozen=True)
class _Row:
    time: str
    severity: str
    rule: str
    host: str
    user: str
    reason: str
    uuid: str
    building_block: bool


def _names(docs: Iterable[dict[str, Any]], path: str) -> str:
    seen: dict[str, None] = {}
    for doc in docs:
        value = lodash_get(doc, path)
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str | int | float) and not isinstance(v, bool):
                seen.setdefault(str(v))
    return ", ".join(seen)


def _time(text: str | None) -> str:
    # ISO 8601 from the documents, shown to the second without the T and Z.
    if not text:
        return ""
    return text.replace("T", " ").split(".")[0].rstrip("Z")


def _row(doc: dict[str, Any], time: str | None, members: Sequence[dict[str, Any]]) -> _Row:
    # A sequence's shell may not share host or user; its events' values stand in.
    host = _names([doc], "host.name") or _names(members, "host.name")
    user = _names([doc], "user.name") or _names(members, "user.name")
    return _Row(
        time=_time(time),
        severity=str(doc.get("kibana.alert.severity", "")),
        rule=str(doc.get("kibana.alert.rule.name", "")),
        host=host,
        user=user,
        reason=str(doc.get("kibana.alert.reason", "")),
        uuid=str(doc.get(ALERT_UUID, "")),
        building_block=ALERT_GROUP_INDEX in doc,
    )


def _collect(items: Iterable[AlertGroup | StoredAlert]) -> tuple[list[_Row], list[dict[str, Any]]]:
    rows: list[_Row] = []
    docs: list[dict[str, Any]] = []
    pending_shell: list[tuple[int, StoredAlert]] = []
    for item in items:
        if isinstance(item, AlertGroup):
            blocks = list(item.building_blocks)
            rows.append(_row(item.primary, item.original_time, blocks))
            for block in blocks:
                rows.append(_row(block, block.get("kibana.alert.original_time"), []))
            docs.extend(item.alerts)
        else:
            docs.append(item.document)
            row = _row(item.document, item.original_time, [])
            if item.is_shell:
                pending_shell.append((len(rows), item))
            rows.append(row)
    # A stored shell's host and user come from its building blocks when they were listed too.
    for index, shell in pending_shell:
        members = [
            d for d in docs if d.get("kibana.alert.group.id") == shell.group_id and ALERT_GROUP_INDEX in d
        ]
        if members:
            rows[index] = _row(shell.document, shell.original_time, members)
    return rows, docs


def _dumps(value: Any, *, indent: bool = False) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 if indent else 0).decode()
    except TypeError:  # integers beyond 64 bits
        return json.dumps(value, ensure_ascii=False, indent=2 if indent else None)


def _console(stream: IO[str]) -> Any:
    from rich.console import Console

    tty = getattr(stream, "isatty", lambda: False)()
    # Piped output has no terminal width; a wide page keeps rows on one line each.
    return Console(file=stream, width=None if tty else 200, highlight=False, soft_wrap=False)


def severity_text(severity: str) -> Any:
    """The severity as rich text, coloured as Kibana colours severities."""
    from rich.text import Text

    return Text(severity, style=SEVERITY_STYLES.get(severity, ""))


def write_alerts(
    items: Iterable[AlertGroup | StoredAlert],
    fmt: str,
    stream: IO[str],
    *,
    show_building_blocks: bool = False,
    title: str | None = None,
) -> int:
    """Write alert groups (from a run) or stored alerts in ``fmt`` (``table``, ``ndjson`` or
    ``json``) to the text ``stream``. Returns how many rows or documents were written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown alert format {fmt!r}")
    rows, docs = _collect(items)
    if fmt == "ndjson":
        for doc in docs:
            stream.write(_dumps(doc) + "\n")
        return len(docs)
    if fmt == "json":
        stream.write(_dumps(docs, indent=True) + "\n")
        return len(docs)
    shown = [r for r in rows if show_building_blocks or not r.building_block]
    _print_table(shown, stream, title)
    return len(shown)


class AlertWriter:
    """Writes the alert groups of runs as they come (:meth:`add`), then :meth:`close`: the same
    text :func:`write_alerts` gives for all the groups at once, without holding their documents.
    ``ndjson`` and ``json`` documents are written as they come (a JSON array is opened on the
    first group and closed by :meth:`close`); a ``table`` needs every row for its column widths,
    so it keeps one small row per shown alert (never the documents) and prints on :meth:`close`."""

    def __init__(
        self, fmt: str, stream: IO[str], *, show_building_blocks: bool = False, title: str | None = None
    ):
        if fmt not in FORMATS:
            raise ValueError(f"unknown alert format {fmt!r}")
        self.fmt = fmt
        self.stream = stream
        self.show_building_blocks = show_building_blocks
        self.title = title
        self.rows: list[_Row] = []
        self.count = 0  # documents written, or rows kept

    def add(self, groups: Iterable[AlertGroup], texts: Sequence[Sequence[str]] | None = None) -> None:
        """Write (or keep the rows of) some more groups (``texts``: their documents as compact
        JSON already, for NDJSON; see :func:`vigil.alerts.store.alert_texts`)."""
        if self.fmt == "table":
            rows, _docs = _collect(groups)
            shown = [r for r in rows if self.show_building_blocks or not r.building_block]
            self.rows.extend(shown)
            self.count += len(shown)
            return
        write = self.stream.write
        if self.fmt == "ndjson" and texts is not None:
            for group_texts in texts:
                for text in group_texts:
                    write(text + "\n")
                self.count += len(group_texts)
            return
        for group in groups:
            for doc in group.alerts:
                if self.fmt == "ndjson":
                    write(_dumps(doc) + "\n")
                else:
                    # An element of an indented array: orjson's OPT_INDENT_2 text of the whole
                    # array, one element at a time (JSON text holds no raw newline in a string).
                    write("[\n  " if self.count == 0 else ",\n  ")
                    write(_dumps(doc, indent=True).replace("\n", "\n  "))
                self.count += 1

    def close(self) -> int:
        """Finish the output (close the array, print the table); how many rows or documents."""
        if self.fmt == "json":
            self.stream.write("[]\n" if self.count == 0 else "\n]\n")
        elif self.fmt == "table":
            _print_table(self.rows, self.stream, self.title)
            self.rows = []
        return self.count


def _print_table(rows: Sequence[_Row], stream: IO[str], title: str | None) -> None:
    from rich.table import Table
    from rich.text import Text

    console = _console(stream)
    if not rows:
        console.print("No alerts.")
        return
    primaries = sum(1 for r in rows if not r.building_block)
    heading = title if title is not None else f"{primaries} alert{'s' if primaries != 1 else ''}"
    table = Table(title=Text(heading, style="bold"), title_justify="left", expand=False)
    for name in ("time", "severity", "rule", "host", "user", "reason", "id"):
        table.add_column(name, overflow="fold" if name == "reason" else "ellipsis", no_wrap=name != "reason")
    for r in rows:
        rule = f"  └ {r.rule}" if r.building_block else r.rule
        table.add_row(r.time, severity_text(r.severity), rule, r.host, r.user, r.reason, r.uuid[:SHORT_ID])
    console.print(table)


# --------------------------------------------------------------------------- one alert


def _threat_lines(doc: dict[str, Any]) -> list[str]:
    lines = []
    threats = doc.get("kibana.alert.rule.threat") or lodash_get(doc, "kibana.alert.rule.parameters.threat")
    for threat in threats if isinstance(threats, list) else []:
        if not isinstance(threat, dict):
            continue
        tactic = threat.get("tactic") or {}
        lines.append(
            f"{threat.get('framework', '')}: {tactic.get('id', '')} {tactic.get('name', '')}".strip()
        )
        for tech in threat.get("technique") or []:
            lines.append(f"  {tech.get('id', '')} {tech.get('name', '')}")
            for sub in tech.get("subtechnique") or []:
                lines.append(f"    {sub.get('id', '')} {sub.get('name', '')}")
    return lines


def write_alert_detail(
    alert: StoredAlert, building_blocks: Sequence[StoredAlert], fmt: str, stream: IO[str]
) -> None:
    """Write one stored alert: with ``json``, ``{"alert": document, "building_blocks": [...]}``;
    with ``table``, its facts, rule and MITRE ATT&CK mapping, then its building blocks."""
    if fmt == "json":
        body = {"alert": alert.document, "building_blocks": [b.document for b in building_blocks]}
        stream.write(_dumps(body, indent=True) + "\n")
        return
    from rich.table import Table
    from rich.text import Text

    doc = alert.document
    console = _console(stream)
    facts = Table(show_header=False, box=None, pad_edge=False)
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    params = doc.get("kibana.alert.rule.parameters") or {}
    entries: list[tuple[str, Any]] = [
        ("id", alert.uuid),
        (
            "kind",
            "sequence (shell alert)"
            if alert.is_shell
            else "building block"
            if alert.building_block
            else "event",
        ),
        (
            "status",
            alert.workflow_status
            + (
                f" (by {alert.workflow_user} at {alert.workflow_status_updated_at})"
                if alert.workflow_user
                else ""
            ),
        ),
        ("severity", severity_text(alert.severity or "")),
        ("risk score", "" if alert.risk_score is None else f"{alert.risk_score:g}"),
        ("event time", alert.original_time or ""),
        ("alert time", alert.created),
        ("host", _names([doc], "host.name") or _names([b.document for b in building_blocks], "host.name")),
        ("user", _names([doc], "user.name") or _names([b.document for b in building_blocks], "user.name")),
        ("reason", alert.reason or ""),
        ("rule", f"{alert.rule_name} ({alert.rule_id})"),
        ("rule uuid", alert.rule_uuid),
        ("query", params.get("query", "") if isinstance(params, dict) else ""),
    ]
    threat = _threat_lines(doc)
    if threat:
        entries.append(("MITRE ATT&CK", "\n".join(threat)))
    ancestors = doc.get("kibana.alert.ancestors") or []
    events = [a for a in ancestors if isinstance(a, dict) and a.get("type") == "event"]
    if events:
        entries.append(
            ("source events", "\n".join(f"{a.get('index', '')} / {a.get('id', '')}" for a in events))
        )
    if alert.group_id:
        entries.append(("group", alert.group_id))
    for label, value in entries:
        facts.add_row(label, value if isinstance(value, Text) else Text(str(value)))
    console.print(facts)
    if building_blocks:
        table = Table(
            title=Text(f"{len(building_blocks)} building blocks", style="bold"), title_justify="left"
        )
        for name in ("#", "time", "host", "user", "reason", "id"):
            table.add_column(
                name, overflow="fold" if name == "reason" else "ellipsis", no_wrap=name != "reason"
            )
        for block in building_blocks:
            bdoc = block.document
            table.add_row(
                str(block.group_index if block.group_index is not None else ""),
                _time(block.original_time),
                _names([bdoc], "host.name"),
                _names([bdoc], "user.name"),
                block.reason or "",
                block.uuid[:SHORT_ID],
            )
        console.print(table)
