"""SQLite history and error log, with a fallback that never stops the show.

Jobs never depend on SQLite (YAML is the truth). When the database cannot be
opened or written (locked past the timeout, read-only, corrupt) every write
goes to an in-memory buffer and an append-only JSONL file next to it, and is
written back once the database works again. A corrupt database is moved aside
and a fresh one created.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tui_backup.model.clock import from_iso, utcnow
from tui_backup.model.records import ErrorEvent, RunRecord
from tui_backup.model.status import Severity, Status
from tui_backup.store.atomic import quarantine
from tui_backup.store.locking import file_lock
from tui_backup.store.paths import FILE_MODE
from tui_backup.store.schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT = 2.0


def _ts(when: datetime | None) -> str | None:
    """Fixed-width UTC text, so string order is time order."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.astimezone()
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class ErrorStats:
    total: int
    unresolved: int
    critical: int
    """Unresolved CRITICAL events."""
    last_24h: int
    by_severity: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "unresolved": self.unresolved,
            "critical": self.critical,
            "last_24h": self.last_24h,
            "by_severity": dict(self.by_severity),
        }


class DatabaseUnavailable(Exception):
    """Raised internally when SQLite cannot serve a request."""


class Database:
    """Thread-safe access to ``tui-backup.db``; every public call is best effort."""

    def __init__(
        self, path: Path, fallback: Path, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
    ) -> None:
        self.path = path
        self.fallback = fallback
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._buffer: list[dict[str, Any]] = []
        self.degraded_reason: str | None = None
        self._notices: list[ErrorEvent] = []

    # -- connection ----------------------------------------------------------

    @property
    def degraded(self) -> bool:
        return self.degraded_reason is not None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        new = not self.path.exists()
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            if version < SCHEMA_VERSION:
                self._migrate(conn, version)
            elif version > SCHEMA_VERSION:
                raise DatabaseUnavailable(
                    f"{self.path} has schema version {version}, newer than this tui-backup "
                    f"understands ({SCHEMA_VERSION}); upgrade tui-backup"
                )
        except BaseException:
            conn.close()
            raise
        if new:
            with contextlib.suppress(OSError):
                os.chmod(self.path, FILE_MODE)
        return conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection, version: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            for number in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """The open connection, opening (or replacing a corrupt file) as needed."""
        with self._lock:
            if self._conn is None:
                try:
                    self._conn = self._open()
                except sqlite3.DatabaseError as exc:
                    if _is_corrupt(exc):
                        self._replace_corrupt(exc)
                        self._conn = self._open()
                    else:
                        raise
            try:
                yield self._conn
            except sqlite3.DatabaseError as exc:
                if _is_corrupt(exc):
                    self.close()
                    self._replace_corrupt(exc)
                raise

    def _replace_corrupt(self, exc: Exception) -> None:
        self.close()
        kept: list[str] = []
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                kept.append(quarantine(p).name)
        log.error(
            "database %s is corrupt (%s); kept as %s, starting a new one",
            self.path,
            exc,
            ", ".join(kept),
        )
        self._notices.append(
            ErrorEvent(
                severity=Severity.HIGH,
                component="database",
                error_type="database_corrupt",
                message=f"{self.path.name} was corrupt ({exc}); it was kept as "
                f"{kept[0] if kept else '?'} and a new database was started",
            )
        )

    def _write(self, kind: str, payload: dict[str, Any], fn: Any) -> Any:
        """Run ``fn(conn)`` as a write; on failure keep ``payload`` in the fallback."""
        try:
            with self._connection() as conn:
                result = fn(conn)
        except (sqlite3.Error, DatabaseUnavailable, OSError) as exc:
            self._degrade(exc)
            self._spill({"kind": kind, **payload})
            return None
        was_degraded = self.degraded
        self.degraded_reason = None
        if was_degraded or self._buffer or self.fallback.exists():
            self.flush_fallback()
        self._drain_notices()
        return result

    def _degrade(self, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if self.degraded_reason != reason:
            log.warning("database unavailable, using %s: %s", self.fallback.name, reason)
        self.degraded_reason = reason
        self.close()

    def _spill(self, entry: dict[str, Any]) -> None:
        self._buffer.append(entry)
        try:
            self.fallback.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.fallback, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, default=str) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            log.error("cannot write the fallback log %s either: %s", self.fallback, exc)

    def _drain_notices(self) -> None:
        while self._notices:
            self.record_error(self._notices.pop(0))

    def flush_fallback(self) -> int:
        """Write buffered and JSONL-logged entries back into SQLite; return how many."""
        lock = self.fallback.with_name(self.fallback.name + ".lock")
        count = 0
        try:
            with file_lock(lock, timeout=self.busy_timeout, what="the fallback log"):
                entries: list[dict[str, Any]] = []
                if self.fallback.exists():
                    for line in self.fallback.read_text(encoding="utf-8").splitlines():
                        with contextlib.suppress(json.JSONDecodeError):
                            entries.append(json.loads(line))
                entries.extend(e for e in self._buffer if e not in entries)
                if not entries:
                    return 0
                with self._connection() as conn:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        for entry in entries:
                            self._apply(conn, entry)
                            count += 1
                        conn.execute("COMMIT")
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                self._buffer.clear()
                with contextlib.suppress(FileNotFoundError):
                    self.fallback.unlink()
        except Exception as exc:  # noqa: BLE001 - still degraded; try again later
            log.debug("fallback flush postponed: %s", exc)
            return 0
        if count:
            log.info("wrote %d buffered entries back into %s", count, self.path.name)
        return count

    def _apply(self, conn: sqlite3.Connection, entry: dict[str, Any]) -> None:
        kind = entry.get("kind")
        if kind == "error":
            _insert_error(conn, _event_from_json(entry["event"]))
        elif kind == "run":
            _upsert_run(conn, _run_from_json(entry["run"]))
        elif kind == "resolve":
            _resolve(conn, entry.get("id"), entry.get("uid"), from_iso(entry.get("at")))

    # -- commands ------------------------------------------------------------

    def record_error(self, event: ErrorEvent, *, dedupe: bool = False) -> ErrorEvent:
        """Store an event; returns it with its id (None while degraded).

        With ``dedupe``, an identical unresolved event (job, type, message) is
        reused instead of adding another, for problems re-detected on each read.
        """

        def do(conn: sqlite3.Connection) -> ErrorEvent:
            if dedupe:
                row = conn.execute(
                    "SELECT id FROM error_events WHERE resolved = 0 AND error_type = ? "
                    "AND message = ? AND job_name IS ?",
                    (event.error_type, event.message, event.job_name),
                ).fetchone()
                if row:
                    return replace(event, id=row[0])
            new_id = _insert_error(conn, event)
            return replace(event, id=new_id)

        if dedupe and any(
            e.get("kind") == "error"
            and e["event"]["message"] == event.message
            and e["event"]["job_name"] == event.job_name
            for e in self._buffer
        ):
            return event
        result = self._write("error", {"event": _event_to_json(event)}, do)
        return result if result is not None else event

    def record_run(self, run: RunRecord) -> None:
        """Insert or update a run (called at start and at finish)."""
        self._write("run", {"run": _run_to_json(run)}, lambda conn: _upsert_run(conn, run))

    def resolve(self, event_id: int, at: datetime | None = None) -> bool:
        """Mark an event resolved; False when no such unresolved event exists."""
        when = at or utcnow()
        result = self._write(
            "resolve",
            {"id": event_id, "at": _ts(when)},
            lambda conn: _resolve(conn, event_id, None, when),
        )
        return bool(result)

    # -- queries -------------------------------------------------------------

    def _read(self, fn: Any, fallback: Any) -> Any:
        try:
            with self._connection() as conn:
                return fn(conn)
        except (sqlite3.Error, DatabaseUnavailable, OSError) as exc:
            self._degrade(exc)
            return fallback()

    def errors(
        self,
        *,
        unresolved: bool | None = None,
        job: str | None = None,
        severity: Severity | str | None = None,
        min_severity: Severity | str | None = None,
        component: str | None = None,
        limit: int = 200,
    ) -> list[ErrorEvent]:
        """Events, newest first, filtered; while degraded, those in the fallback."""
        clauses: list[str] = []
        args: list[Any] = []
        if unresolved:
            clauses.append("resolved = 0")
        if job is not None:
            clauses.append("job_name = ?")
            args.append(job)
        if severity is not None:
            clauses.append("severity = ?")
            args.append(str(Severity(str(severity).upper())))
        if min_severity is not None:
            floor = Severity(str(min_severity).upper()).rank
            allowed = [str(s) for s in Severity if s.rank >= floor]
            clauses.append(f"severity IN ({','.join('?' * len(allowed))})")
            args.extend(allowed)
        if component is not None:
            clauses.append("component = ?")
            args.append(component)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT * FROM error_events {where} ORDER BY timestamp DESC, id DESC LIMIT ?"

        def fallback() -> list[ErrorEvent]:
            events = [_event_from_json(e["event"]) for e in self.pending() if e["kind"] == "error"]
            out = [
                e
                for e in events
                if (not unresolved or not e.resolved)
                and (job is None or e.job_name == job)
                and (severity is None or e.severity == Severity(str(severity).upper()))
                and (component is None or e.component == component)
            ]
            return sorted(out, key=lambda e: e.timestamp, reverse=True)[:limit]

        return self._read(
            lambda conn: [_row_to_event(r) for r in _rows(conn, sql, [*args, limit])], fallback
        )

    def error(self, event_id: int) -> ErrorEvent | None:
        rows = self._read(
            lambda conn: _rows(conn, "SELECT * FROM error_events WHERE id = ?", [event_id]),
            list,
        )
        return _row_to_event(rows[0]) if rows else None

    def stats(self, now: datetime | None = None) -> ErrorStats:
        since = _ts((now or utcnow()) - timedelta(hours=24))

        def do(conn: sqlite3.Connection) -> ErrorStats:
            total, unresolved, critical, recent = conn.execute(
                "SELECT COUNT(*), "
                "COALESCE(SUM(resolved = 0), 0), "
                "COALESCE(SUM(resolved = 0 AND severity = 'CRITICAL'), 0), "
                "COALESCE(SUM(timestamp >= ?), 0) FROM error_events",
                (since,),
            ).fetchone()
            by = dict(
                conn.execute(
                    "SELECT severity, COUNT(*) FROM error_events WHERE resolved = 0 "
                    "GROUP BY severity"
                ).fetchall()
            )
            return ErrorStats(total, unresolved, critical, recent, by)

        def fallback() -> ErrorStats:
            events = self.errors()
            open_ = [e for e in events if not e.resolved]
            by: dict[str, int] = {}
            for e in open_:
                by[str(e.severity)] = by.get(str(e.severity), 0) + 1
            return ErrorStats(len(events), len(open_), by.get("CRITICAL", 0), len(events), by)

        return self._read(do, fallback)

    def runs(self, job: str | None = None, limit: int = 50) -> list[RunRecord]:
        """Runs newest first, of one job or all."""
        if job is None:
            sql, args = "SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", [limit]
        else:
            sql = "SELECT * FROM runs WHERE job_name = ? ORDER BY started_at DESC LIMIT ?"
            args = [job, limit]

        def fallback() -> list[RunRecord]:
            runs = [_run_from_json(e["run"]) for e in self.pending() if e["kind"] == "run"]
            latest: dict[str, RunRecord] = {}
            for r in runs:
                latest[r.run_id] = r
            out = [r for r in latest.values() if job is None or r.job_name == job]
            return sorted(out, key=lambda r: r.started_at, reverse=True)[:limit]

        return self._read(lambda conn: [_row_to_run(r) for r in _rows(conn, sql, args)], fallback)

    def run(self, run_id: str) -> RunRecord | None:
        rows = self._read(
            lambda conn: _rows(conn, "SELECT * FROM runs WHERE run_id = ?", [run_id]), list
        )
        return _row_to_run(rows[0]) if rows else None

    def last_run(self, job: str, status: Status | None = None) -> RunRecord | None:
        if status is None:
            runs = self.runs(job, limit=1)
            return runs[0] if runs else None
        rows = self._read(
            lambda conn: _rows(
                conn,
                "SELECT * FROM runs WHERE job_name = ? AND status = ? "
                "ORDER BY started_at DESC LIMIT 1",
                [job, str(status)],
            ),
            list,
        )
        return _row_to_run(rows[0]) if rows else None

    def pending(self) -> list[dict[str, Any]]:
        """Entries waiting in the fallback (this process's buffer and the JSONL file)."""
        entries: list[dict[str, Any]] = []
        with contextlib.suppress(OSError):
            for line in self.fallback.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(json.JSONDecodeError):
                    entries.append(json.loads(line))
        entries.extend(e for e in self._buffer if e not in entries)
        return entries

    def check(self) -> str | None:
        """None when the database answers and accepts writes, else why not."""
        try:
            with self._connection() as conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
        except (sqlite3.Error, DatabaseUnavailable, OSError) as exc:
            self._degrade(exc)
            return self.degraded_reason
        return None


# -- row mapping ---------------------------------------------------------------


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def _rows(conn: sqlite3.Connection, sql: str, args: list[Any]) -> list[sqlite3.Row]:
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.row_factory = None


def _insert_error(conn: sqlite3.Connection, e: ErrorEvent) -> int:
    cur = conn.execute(
        "INSERT OR IGNORE INTO error_events (uid, timestamp, severity, component, error_type, "
        "message, details, job_name, stack_trace, resolved, resolved_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            e.uid,
            _ts(e.timestamp),
            str(e.severity),
            e.component,
            e.error_type,
            e.message,
            e.details or "",
            e.job_name,
            e.stack_trace or "",
            int(e.resolved),
            _ts(e.resolved_at),
        ),
    )
    if cur.rowcount == 0:
        return int(
            conn.execute("SELECT id FROM error_events WHERE uid = ?", (e.uid,)).fetchone()[0]
        )
    return int(cur.lastrowid or 0)


def _resolve(
    conn: sqlite3.Connection, event_id: int | None, uid: str | None, when: datetime | None
) -> bool:
    cur = conn.execute(
        "UPDATE error_events SET resolved = 1, resolved_at = ? WHERE id = ? AND resolved = 0",
        (_ts(when or utcnow()), event_id),
    )
    return cur.rowcount > 0


def _upsert_run(conn: sqlite3.Connection, r: RunRecord) -> None:
    conn.execute(
        "INSERT INTO runs (run_id, job_name, started_at, finished_at, status, files, bytes, "
        "warnings, snapshot_id, error, host, pid, trigger) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id) DO UPDATE SET finished_at = excluded.finished_at, "
        "status = excluded.status, files = excluded.files, bytes = excluded.bytes, "
        "warnings = excluded.warnings, snapshot_id = excluded.snapshot_id, "
        "error = excluded.error",
        (
            r.run_id,
            r.job_name,
            _ts(r.started_at),
            _ts(r.finished_at),
            str(r.status),
            r.files,
            r.bytes,
            r.warnings,
            r.snapshot_id,
            r.error,
            r.host,
            r.pid,
            r.trigger,
        ),
    )


def _row_to_event(row: sqlite3.Row) -> ErrorEvent:
    return ErrorEvent(
        id=row["id"],
        uid=row["uid"],
        timestamp=from_iso(row["timestamp"]) or utcnow(),
        severity=Severity(row["severity"]),
        component=row["component"],
        error_type=row["error_type"],
        message=row["message"],
        details=row["details"],
        job_name=row["job_name"],
        stack_trace=row["stack_trace"],
        resolved=bool(row["resolved"]),
        resolved_at=from_iso(row["resolved_at"]),
    )


def _row_to_run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        job_name=row["job_name"],
        started_at=from_iso(row["started_at"]) or utcnow(),
        finished_at=from_iso(row["finished_at"]),
        status=Status(row["status"]),
        files=row["files"],
        bytes=row["bytes"],
        warnings=row["warnings"],
        snapshot_id=row["snapshot_id"],
        error=row["error"],
        host=row["host"],
        pid=row["pid"],
        trigger=row["trigger"],
    )


def _event_to_json(e: ErrorEvent) -> dict[str, Any]:
    data = e.to_json()
    data["timestamp"] = _ts(e.timestamp)
    return data


def _event_from_json(d: dict[str, Any]) -> ErrorEvent:
    return ErrorEvent(
        uid=d["uid"],
        timestamp=from_iso(d.get("timestamp")) or utcnow(),
        severity=Severity(d["severity"]),
        component=d["component"],
        error_type=d["error_type"],
        message=d["message"],
        details=d.get("details") or "",
        job_name=d.get("job_name"),
        stack_trace=d.get("stack_trace") or "",
        resolved=bool(d.get("resolved")),
        resolved_at=from_iso(d.get("resolved_at")),
    )


def _run_to_json(r: RunRecord) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "job_name": r.job_name,
        "started_at": _ts(r.started_at),
        "finished_at": _ts(r.finished_at),
        "status": str(r.status),
        "files": r.files,
        "bytes": r.bytes,
        "warnings": r.warnings,
        "snapshot_id": r.snapshot_id,
        "error": r.error,
        "host": r.host,
        "pid": r.pid,
        "trigger": r.trigger,
    }


def _run_from_json(d: dict[str, Any]) -> RunRecord:
    return RunRecord(
        run_id=d["run_id"],
        job_name=d["job_name"],
        started_at=from_iso(d["started_at"]) or utcnow(),
        finished_at=from_iso(d.get("finished_at")),
        status=Status(d["status"]),
        files=d.get("files", 0),
        bytes=d.get("bytes", 0),
        warnings=d.get("warnings", 0),
        snapshot_id=d.get("snapshot_id"),
        error=d.get("error"),
        host=d.get("host", ""),
        pid=d.get("pid", 0),
        trigger=d.get("trigger", "manual"),
    )
