"""The alert store: alerts and rule runs in an embedded SQLite database.

Durability: the database runs in WAL mode with ``synchronous=FULL`` and every write is one
transaction, so once :meth:`AlertStore.add_alerts` (or any other write) returns, its alerts survive
a crash of the process or of the machine. Alerts are keyed by ``kibana.alert.uuid``: adding an
alert already stored does nothing, so an alert raised by an earlier run is never raised again.

The default database is ``alerts.db`` in the user's data directory (``platformdirs``), or the
file named by the ``VIGIL_ALERT_DB`` environment variable.

Schema versions are recorded in ``PRAGMA user_version`` and in the ``schema_version`` table;
:data:`MIGRATIONS` upgrades an older database when it is opened.
"""

from __future__ import annotations

import fnmatch
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from vigil.alerts.build import ALERT_GROUP_ID, ALERT_GROUP_INDEX, ALERT_UUID, AlertGroup
from vigil.alerts.js import iso_millis, lodash_get
from vigil.errors import VigilError

SCHEMA_VERSION = 1
WORKFLOW_STATUSES = ("open", "acknowledged", "closed")
ENV_ALERT_DB = "VIGIL_ALERT_DB"


class AlertStoreError(VigilError):
    """The alert database cannot be opened, read or written."""


class UnknownAlertError(AlertStoreError):
    """No stored alert has the id (or id prefix) asked for."""


class AmbiguousAlertError(AlertStoreError):
    """An id prefix matches more than one stored alert."""


def default_path() -> Path:
    """Where the alert database lives unless told otherwise."""
    override = os.environ.get(ENV_ALERT_DB)
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("vigil")) / "alerts.db"


@dataclass(frozen=True)
class StoredAlert:
    """One stored alert: the columns vigil filters on, and the whole document."""

    uuid: str
    rule_id: str
    rule_uuid: str
    rule_name: str
    severity: str | None
    risk_score: float | None
    host_name: str | None
    user_name: str | None
    workflow_status: str
    workflow_user: str | None
    workflow_status_updated_at: str | None
    original_time: str | None
    created: str
    building_block: bool
    group_id: str | None
    group_index: int | None
    reason: str | None
    document: dict[str, Any]

    @property
    def is_shell(self) -> bool:
        """A sequence's shell alert (it has building blocks)."""
        return self.group_id is not None and not self.building_block


@dataclass(frozen=True)
class RunRecord:
    """One rule run: its window, timing, counts, problems and status (Kibana's execution
    statuses: ``succeeded``, ``partial failure`` when it warned, ``failed`` when it erred)."""

    rule_id: str
    rule_name: str
    tick: datetime
    window_start: datetime | None = None
    window_end: datetime | None = None
    started: datetime | None = None
    duration_seconds: float = 0.0
    events_scanned: int = 0
    hits: int = 0
    alerts_created: int = 0
    duplicates: int = 0
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    status: str = ""
    run_id: int | None = field(default=None, compare=False)

    @property
    def effective_status(self) -> str:
        """``status``, or the one the problems imply when none was given."""
        if self.status:
            return self.status
        if self.errors:
            return "failed"
        return "partial failure" if self.warnings else "succeeded"

    @classmethod
    def from_outcome(cls, run: Any) -> RunRecord:
        """A record from any object with the same attribute names (the scheduler's run outcome,
        which names the duration ``seconds``)."""
        if isinstance(run, RunRecord):
            return run
        return cls(
            rule_id=str(run.rule_id),
            rule_name=str(getattr(run, "rule_name", "")),
            tick=run.tick,
            window_start=getattr(run, "window_start", None),
            window_end=getattr(run, "window_end", None),
            started=getattr(run, "started", None),
            duration_seconds=float(getattr(run, "duration_seconds", getattr(run, "seconds", 0.0)) or 0.0),
            events_scanned=int(getattr(run, "events_scanned", 0) or 0),
            hits=int(getattr(run, "hits", 0) or 0),
            alerts_created=int(getattr(run, "alerts_created", 0) or 0),
            duplicates=int(getattr(run, "duplicates", 0) or 0),
            warnings=tuple(getattr(run, "warnings", ()) or ()),
            errors=tuple(getattr(run, "errors", ()) or ()),
            status=str(getattr(run, "status", "") or ""),
        )


# --------------------------------------------------------------------------- schema

_SCHEMA_V1 = """
CREATE TABLE alerts (
    uuid TEXT PRIMARY KEY,
    rule_id TEXT NOT NULL,
    rule_uuid TEXT NOT NULL,
    rule_name TEXT NOT NULL,
    severity TEXT,
    risk_score REAL,
    host_name TEXT,
    user_name TEXT,
    host_names TEXT NOT NULL DEFAULT '[]',
    user_names TEXT NOT NULL DEFAULT '[]',
    workflow_status TEXT NOT NULL DEFAULT 'open',
    workflow_user TEXT,
    workflow_status_updated_at TEXT,
    original_time TEXT,
    created TEXT NOT NULL,
    building_block INTEGER NOT NULL DEFAULT 0,
    group_id TEXT,
    group_index INTEGER,
    reason TEXT,
    document TEXT NOT NULL
);
CREATE INDEX alerts_rule ON alerts (rule_id);
CREATE INDEX alerts_created ON alerts (created);
CREATE INDEX alerts_group ON alerts (group_id);
CREATE INDEX alerts_status ON alerts (workflow_status);
CREATE TABLE runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id TEXT NOT NULL,
    rule_name TEXT NOT NULL,
    tick TEXT NOT NULL,
    window_start TEXT,
    window_end TEXT,
    started TEXT,
    duration_seconds REAL NOT NULL DEFAULT 0,
    events_scanned INTEGER NOT NULL DEFAULT 0,
    hits INTEGER NOT NULL DEFAULT 0,
    alerts_created INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    warnings TEXT NOT NULL DEFAULT '[]',
    errors TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL
);
CREATE INDEX runs_rule ON runs (rule_id);
"""


def _split(script: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in script.split(";") if s.strip())


# MIGRATIONS[n]: the statements that take schema n - 1 to schema n (0 is a new, empty file). They
# run one by one inside the migration's transaction (executescript would commit it).
MIGRATIONS: dict[int, tuple[str, ...]] = {1: _split(_SCHEMA_V1)}


def _migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise AlertStoreError(
            f"the alert database has schema version {version};"
            f" this vigil reads up to version {SCHEMA_VERSION}",
            hint="use a newer vigil, or another --alert-db",
        )
    if version == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have migrated while this one waited for the lock.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied TEXT)"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target]:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, ?)", (target, _now()))
            conn.execute(f"PRAGMA user_version = {target}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # integers beyond 64 bits, which orjson refuses
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _now() -> str:
    return iso_millis(datetime.now(UTC))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso_millis(moment)


def _parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _values(doc: dict[str, Any], path: str) -> list[str]:
    value = lodash_get(doc, path)
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items if isinstance(v, str | int | float) and not isinstance(v, bool)]


def _match_any(names_json: str | None, pattern: str | None) -> bool:
    # A host/user filter: exact (case-insensitive) or a glob with * and ?, on any of the values.
    if pattern is None:
        return True
    names = orjson.loads(names_json or "[]")
    wanted = pattern.lower()
    if any(c in pattern for c in "*?["):
        return any(fnmatch.fnmatchcase(str(n).lower(), wanted) for n in names)
    return any(str(n).lower() == wanted for n in names)


class AlertStore:
    """Alerts and rule runs in one SQLite file. Open with :meth:`open`; close when done (or use
    it as a context manager)."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self._conn = conn
        self.path = path

    # -- opening

    @classmethod
    def open(cls, path: str | Path | None = None, *, create: bool = True) -> AlertStore:
        """Open (and create, migrate) the database at ``path`` (default: :func:`default_path`).
        With ``create=False`` a missing file is an error instead of a new database."""
        target = Path(path) if path is not None else default_path()
        if not create and not target.exists():
            raise AlertStoreError(f"no alert database at {target}")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(target, isolation_level=None, timeout=30.0, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise AlertStoreError(f"cannot open the alert database {target}: {exc}") from exc
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise AlertStoreError(f"the alert database {target} cannot use write-ahead logging ({mode})")
            # FULL: a transaction is on disk (WAL fsynced) before COMMIT returns.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            _migrate(conn)
            conn.create_function("vigil_match", 2, _match_any, deterministic=True)
        except sqlite3.Error as exc:
            conn.close()
            raise AlertStoreError(f"cannot read the alert database {target}: {exc}") from exc
        except AlertStoreError:
            conn.close()
            raise
        return cls(conn, target)

    def close(self) -> None:
        """Close the database (everything written is already durable)."""
        self._conn.close()

    def __enter__(self) -> AlertStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing

    def _write(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(self._conn)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise AlertStoreError(f"cannot write to the alert database {self.path}: {exc}") from exc
        return result

    def add_alerts(
        self, groups: Iterable[AlertGroup], texts: Sequence[Sequence[str]] | None = None
    ) -> tuple[int, int]:
        """Store the groups' alerts in one transaction; returns (created, duplicates), counted in
        groups (the primary alert), as Kibana counts alerts without their building blocks. An
        alert whose id is already stored is left as it is (with its workflow status).
        ``texts``: each group's documents as compact JSON already (see :func:`alert_texts`)."""
        rows: list[tuple[Any, ...]] = []
        primaries: list[str] = []
        for g, group in enumerate(groups):
            primaries.append(group.primary_id)
            for d, doc in enumerate(group.alerts):
                rows.append(_alert_row(group, doc, texts[g][d] if texts is not None else None))
        primary_set = set(primaries)

        def work(conn: sqlite3.Connection) -> tuple[int, int]:
            created = 0
            for row in rows:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO alerts (uuid, rule_id, rule_uuid, rule_name, severity, risk_score,"
                    " host_name, user_name, host_names, user_names, workflow_status, original_time, created,"
                    " building_block, group_id, group_index, reason, document)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                if cursor.rowcount and row[0] in primary_set:
                    created += 1
            return created, len(primaries) - created

        result: tuple[int, int] = self._write(work)
        return result

    def record_run(self, run: RunRecord | Any) -> int:
        """Store one rule run (a :class:`RunRecord`, or the scheduler's outcome); returns its id."""
        return self.record_runs([run])[0]

    def record_runs(self, runs: Iterable[RunRecord | Any]) -> list[int]:
        """Store rule runs in one transaction (a hunt of a thousand rules records a thousand runs:
        one commit each would cost more than loading the rules); returns their ids."""
        rows = [_run_row(RunRecord.from_outcome(run)) for run in runs]

        def work(conn: sqlite3.Connection) -> list[int]:
            ids = []
            for row in rows:
                cursor = conn.execute(
                    "INSERT INTO runs (rule_id, rule_name, tick, window_start, window_end, started,"
                    " duration_seconds, events_scanned, hits, alerts_created, duplicates, warnings, errors,"
                    " status)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                ids.append(int(cursor.lastrowid or 0))
            return ids

        if not rows:
            return []
        run_ids: list[int] = self._write(work)
        return run_ids

    def update_alert(self, document: dict[str, Any]) -> bool:
        """Replace the stored document of an alert already stored (same ``kibana.alert.uuid``),
        as Kibana updates a suppressed alert in place; its workflow status and who set it stay
        as stored. Returns False when no such alert is stored."""
        uuid = str(document[ALERT_UUID])

        def work(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT workflow_status, workflow_user, workflow_status_updated_at FROM alerts"
                " WHERE uuid = ?",
                (uuid,),
            ).fetchone()
            if row is None:
                return False
            doc = dict(document)
            doc["kibana.alert.workflow_status"] = row[0]
            for key, value in (
                ("kibana.alert.workflow_user", row[1]),
                ("kibana.alert.workflow_status_updated_at", row[2]),
            ):
                if value is not None:
                    doc[key] = value
            risk = doc.get("kibana.alert.risk_score")
            conn.execute(
                "UPDATE alerts SET severity = ?, risk_score = ?, reason = ?, document = ? WHERE uuid = ?",
                (
                    doc.get("kibana.alert.severity"),
                    risk if isinstance(risk, int | float) and not isinstance(risk, bool) else None,
                    doc.get("kibana.alert.reason"),
                    _dumps(doc),
                    uuid,
                ),
            )
            return True

        updated: bool = self._write(work)
        return updated

    def set_status(
        self,
        alert_uuid: str,
        status: str,
        who: str | None,
        when: datetime | None = None,
        *,
        with_building_blocks: bool = False,
    ) -> StoredAlert:
        """Set an alert's workflow status (``open``, ``acknowledged``, ``closed``), recording who
        and when in the columns and in the document (``kibana.alert.workflow_status``,
        ``kibana.alert.workflow_user``, ``kibana.alert.workflow_status_updated_at``). Kibana changes
        only the alerts it is given; ``with_building_blocks`` also changes a shell's blocks."""
        if status not in WORKFLOW_STATUSES:
            raise AlertStoreError(
                f"unknown workflow status {status!r}", hint="one of " + ", ".join(WORKFLOW_STATUSES)
            )
        alert = self.get_alert(alert_uuid)
        stamp = iso_millis(when or datetime.now(UTC))
        targets = [alert]
        if with_building_blocks and alert.is_shell and alert.group_id:
            targets += self.group_alerts(alert.group_id)

        def work(conn: sqlite3.Connection) -> None:
            for target in targets:
                row = conn.execute("SELECT document FROM alerts WHERE uuid = ?", (target.uuid,)).fetchone()
                doc = orjson.loads(row[0])
                doc["kibana.alert.workflow_status"] = status
                if who is not None:
                    doc["kibana.alert.workflow_user"] = who
                doc["kibana.alert.workflow_status_updated_at"] = stamp
                conn.execute(
                    "UPDATE alerts SET workflow_status = ?, workflow_user = ?,"
                    " workflow_status_updated_at = ?, document = ? WHERE uuid = ?",
                    (status, who, stamp, _dumps(doc), target.uuid),
                )

        self._write(work)
        return self.get_alert(alert.uuid)

    # -- reading

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise AlertStoreError(f"cannot read the alert database {self.path}: {exc}") from exc

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        """The ids among ``ids`` that are stored already."""
        wanted = list(dict.fromkeys(ids))
        known: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            known.update(r[0] for r in self._read(f"SELECT uuid FROM alerts WHERE uuid IN ({marks})", chunk))
        return known

    def list_alerts(
        self,
        *,
        rule: str | None = None,
        severity: str | Sequence[str] | None = None,
        host: str | None = None,
        user: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        include_building_blocks: bool = False,
        limit: int | None = None,
        offset: int = 0,
        sort: str | None = None,
        descending: bool = True,
    ) -> list[StoredAlert]:
        """Stored alerts, newest first (by ``@timestamp``, then event time). ``rule`` matches a
        rule id exactly or a rule name case-insensitively in part; ``host``/``user`` match any of
        the alert's names, exactly or as a glob (``web-*``); ``since``/``until`` bound the
        alert's ``@timestamp`` (inclusive); building blocks are left out unless asked for.
        ``sort`` (a key of :data:`ALERT_SORTS`) orders by another column first, ascending unless
        ``descending``; ties stay newest first."""
        where, params = _alert_filters(
            rule, severity, host, user, status, since, until, include_building_blocks
        )
        sql = f"SELECT {_COLUMNS} FROM alerts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        first = ""
        if sort is not None:
            if sort not in ALERT_SORTS:
                raise AlertStoreError(
                    f"cannot sort alerts by {sort!r}", hint="one of " + ", ".join(ALERT_SORTS)
                )
            first = f"{ALERT_SORTS[sort]} {'DESC' if descending else 'ASC'}, "
        sql += f" ORDER BY {first}created DESC, original_time DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        elif offset:
            sql += " LIMIT -1 OFFSET ?"
            params.append(offset)
        return [_stored(row) for row in self._read(sql, params)]

    def count_matching(
        self,
        *,
        rule: str | None = None,
        severity: str | Sequence[str] | None = None,
        host: str | None = None,
        user: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        include_building_blocks: bool = False,
    ) -> int:
        """How many alerts :meth:`list_alerts` would give with these filters and no limit (the
        total behind a page)."""
        where, params = _alert_filters(
            rule, severity, host, user, status, since, until, include_building_blocks
        )
        sql = "SELECT count(*) FROM alerts" + (" WHERE " + " AND ".join(where) if where else "")
        return int(self._read(sql, params)[0][0])

    def get_alert(self, uuid_or_prefix: str) -> StoredAlert:
        """The alert with this id, or the only one whose id starts with it."""
        key = uuid_or_prefix.strip().lower()
        if not key:
            raise UnknownAlertError("an alert id is needed")
        rows = self._read(f"SELECT {_COLUMNS} FROM alerts WHERE uuid = ?", (key,))
        if rows:
            return _stored(rows[0])
        escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._read(
            f"SELECT {_COLUMNS} FROM alerts WHERE uuid LIKE ? ESCAPE '\\' LIMIT 11", (escaped + "%",)
        )
        if not rows:
            raise UnknownAlertError(f"no alert with id {uuid_or_prefix!r} in {self.path}")
        if len(rows) > 1:
            shown = ", ".join(r[0][:16] for r in rows[:10])
            count = str(len(rows)) if len(rows) <= 10 else "more than 10"
            raise AmbiguousAlertError(
                f"alert id prefix {uuid_or_prefix!r} matches {count} alerts: {shown}",
                hint="give more characters of the id",
            )
        return _stored(rows[0])

    def group_alerts(self, group_id: str) -> list[StoredAlert]:
        """The building blocks of the sequence whose shell alert has ``group_id``, in step order."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM alerts WHERE group_id = ? AND building_block = 1 ORDER BY group_index",
            (group_id,),
        )
        return [_stored(row) for row in rows]

    def find_suppressed(
        self, rule_uuid: str, instance_id: str, since: datetime
    ) -> tuple[dict[str, Any], datetime] | None:
        """The latest alert of a rule's suppression instance (``kibana.alert.instance.id``) raised
        at or after ``since``, with the time it was raised, or None: what a rule's suppression
        window folds new alerts into after a restart (:class:`vigil.rules.suppression.Suppressor`)."""
        from vigil.alerts.js import iso_millis

        rows = self._read(
            "SELECT document, created FROM alerts WHERE rule_uuid = ? AND building_block = 0"
            " AND created >= ? AND json_extract(document, '$.\"kibana.alert.instance.id\"') = ?"
            " ORDER BY created DESC LIMIT 1",
            (rule_uuid, iso_millis(since), instance_id),
        )
        if not rows:
            return None
        raised = _parse_iso(rows[0][1])
        if raised is None:
            return None
        document: dict[str, Any] = orjson.loads(rows[0][0])
        return document, raised

    def count_alerts(self, *, include_building_blocks: bool = False) -> int:
        """How many alerts are stored (without building blocks unless asked)."""
        sql = "SELECT count(*) FROM alerts" + ("" if include_building_blocks else " WHERE building_block = 0")
        return int(self._read(sql)[0][0])

    def list_runs(self, rule: str | None = None, *, limit: int | None = None) -> list[RunRecord]:
        """Recorded rule runs, newest first; ``rule`` as in :meth:`list_alerts`."""
        sql = (
            "SELECT run_id, rule_id, rule_name, tick, window_start, window_end, started, duration_seconds,"
            " events_scanned, hits, alerts_created, duplicates, warnings, errors, status FROM runs"
        )
        params: list[Any] = []
        if rule:
            sql += " WHERE rule_id = ? OR instr(lower(rule_name), lower(?)) > 0"
            params += [rule, rule]
        sql += " ORDER BY tick DESC, run_id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        out = []
        for r in self._read(sql, params):
            out.append(
                RunRecord(
                    rule_id=r[1],
                    rule_name=r[2],
                    tick=_parse_iso(r[3]) or datetime.fromtimestamp(0, UTC),
                    window_start=_parse_iso(r[4]),
                    window_end=_parse_iso(r[5]),
                    started=_parse_iso(r[6]),
                    duration_seconds=r[7],
                    events_scanned=r[8],
                    hits=r[9],
                    alerts_created=r[10],
                    duplicates=r[11],
                    warnings=tuple(orjson.loads(r[12])),
                    errors=tuple(orjson.loads(r[13])),
                    status=r[14],
                    run_id=r[0],
                )
            )
        return out


# Columns :meth:`AlertStore.list_alerts` can sort by (the API's ``sort``): name -> SQL expression.
ALERT_SORTS: dict[str, str] = {
    "@timestamp": "created",
    "original_time": "original_time",
    "risk_score": "risk_score",
    "severity": "CASE severity WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3"
    " WHEN 'critical' THEN 4 ELSE 0 END",
    "rule_name": "rule_name",
    "workflow_status": "workflow_status",
}


def _alert_filters(
    rule: str | None,
    severity: str | Sequence[str] | None,
    host: str | None,
    user: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    include_building_blocks: bool,
) -> tuple[list[str], list[Any]]:
    """The WHERE clauses and parameters of the alert filters (shared by listing and counting)."""
    where: list[str] = []
    params: list[Any] = []
    if rule:
        where.append("(rule_id = ? OR instr(lower(rule_name), lower(?)) > 0)")
        params += [rule, rule]
    if severity:
        wanted = [severity] if isinstance(severity, str) else list(severity)
        where.append(f"severity IN ({','.join('?' * len(wanted))})")
        params += wanted
    if host:
        where.append("vigil_match(host_names, ?)")
        params.append(host)
    if user:
        where.append("vigil_match(user_names, ?)")
        params.append(user)
    if status:
        where.append("workflow_status = ?")
        params.append(status)
    if since is not None:
        where.append("created >= ?")
        params.append(iso_millis(since))
    if until is not None:
        where.append("created <= ?")
        params.append(iso_millis(until))
    if not include_building_blocks:
        where.append("building_block = 0")
    return where, params


_COLUMNS = (
    "uuid, rule_id, rule_uuid, rule_name, severity, risk_score, host_name, user_name, workflow_status,"
    " workflow_user, workflow_status_updated_at, original_time, created, building_block, group_id,"
    " group_index, reason, document"
)


def _stored(row: tuple[Any, ...]) -> StoredAlert:
    return StoredAlert(
        uuid=row[0],
        rule_id=row[1],
        rule_uuid=row[2],
        rule_name=row[3],
        severity=row[4],
        risk_score=row[5],
        host_name=row[6],
        user_name=row[7],
        workflow_status=row[8],
        workflow_user=row[9],
        workflow_status_updated_at=row[10],
        original_time=row[11],
        created=row[12],
        building_block=bool(row[13]),
        group_id=row[14],
        group_index=row[15],
        reason=row[16],
        document=orjson.loads(row[17]),
    )


def alert_texts(groups: Sequence[AlertGroup]) -> list[list[str]]:
    """Each group's documents as the compact JSON text the store keeps (and NDJSON output
    writes): made once when both need them."""
    return [[_dumps(doc) for doc in group.alerts] for group in groups]


def _alert_row(group: AlertGroup, doc: dict[str, Any], text: str | None = None) -> tuple[Any, ...]:
    hosts = _values(doc, "host.name")
    users = _values(doc, "user.name")
    building_block = ALERT_GROUP_INDEX in doc
    uuid = str(doc[ALERT_UUID])
    # The event time a person reads: the alert's own, or for a shell its first event's.
    original = doc.get("kibana.alert.original_time") if building_block or group.kind == "event" else None
    risk = doc.get("kibana.alert.risk_score")
    return (
        uuid,
        str(doc.get("kibana.alert.rule.rule_id", group.rule_id)),
        str(doc.get("kibana.alert.rule.uuid", group.rule_uuid)),
        str(doc.get("kibana.alert.rule.name", "")),
        doc.get("kibana.alert.severity"),
        risk if isinstance(risk, int | float) and not isinstance(risk, bool) else None,
        ", ".join(hosts) or None,
        ", ".join(users) or None,
        orjson.dumps(hosts).decode(),
        orjson.dumps(users).decode(),
        str(doc.get("kibana.alert.workflow_status", "open")),
        original or group.original_time,
        str(doc.get("@timestamp", "")),
        int(building_block),
        doc.get(ALERT_GROUP_ID),
        doc.get(ALERT_GROUP_INDEX),
        doc.get("kibana.alert.reason"),
        _dumps(doc) if text is None else text,
    )


def _run_row(record: RunRecord) -> tuple[Any, ...]:
    """The ``runs`` table row of a run."""
    return (
        record.rule_id,
        record.rule_name,
        _iso(record.tick),
        _iso(record.window_start),
        _iso(record.window_end),
        _iso(record.started),
        record.duration_seconds,
        record.events_scanned,
        record.hits,
        record.alerts_created,
        record.duplicates,
        orjson.dumps(list(record.warnings)).decode(),
        orjson.dumps(list(record.errors)).decode(),
        record.effective_status,
    )
