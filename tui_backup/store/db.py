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
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tui_backup.model.clock import from_iso, utcnow
from tui_backup.model.records import ErrorEvent, RunRecord
from tui_backup.model.status import Severity, Status
from tui_backup.store.atomic import quarantine
from tui_backup.store.errors import LockTimeout
from tui_backup.store.locking import file_lock
from tui_backup.store.paths import FILE_MODE, tighten
from tui_backup.store.schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT = 2.0
DEFAULT_RETRY_INTERVAL = 5.0
"""While degraded, writes go straight to the fallback and the database is tried
again at most this often, so a locked database does not cost every event a
full busy timeout."""


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


OWN_IDS_KEPT = 4096
"""How many of its own event ids an instance remembers (far more than arrive between
two reads of the error feed)."""


@dataclass(frozen=True, slots=True)
class ErrorMarks:
    """Cheap numbers that change whenever the error log does (the feed's reconcile)."""

    max_id: int
    unresolved: int
    total: int


class DatabaseUnavailable(Exception):
    """Raised internally when SQLite cannot serve a request."""


class Database:
    """Thread-safe access to ``tui-backup.db``; every public call is best effort."""

    def __init__(
        self,
        path: Path,
        fallback: Path,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        *,
        retry_interval: float = DEFAULT_RETRY_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.fallback = fallback
        self.busy_timeout = busy_timeout
        self.retry_interval = retry_interval
        self._monotonic = monotonic
        self._retry_at = 0.0
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._conn_ino: int | None = None
        self._buffer: list[dict[str, Any]] = []
        self.degraded_reason: str | None = None
        self._notices: list[ErrorEvent] = []
        self._own_ids: deque[int] = deque(maxlen=OWN_IDS_KEPT)
        """Ids of the events this instance inserted (newest last), for :meth:`recorded_here`."""

    @property
    def rejected_log(self) -> Path:
        """Fallback entries SQLite refused (kept for a person, never dropped)."""
        return self.fallback.with_name(self.fallback.stem + ".rejected.jsonl")

    @property
    def _fallback_lock(self) -> Path:
        return self.fallback.with_name(self.fallback.name + ".lock")

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
        # Create the file ourselves, 0600: SQLite gives its -wal and -shm files
        # the main file's mode, and they hold the same data.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        tighten(self.path)  # one made by an older version, or by hand
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
        self._conn_ino = _inode(self.path)
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
            if self._conn is not None and _inode(self.path) != self._conn_ino:
                # Another process moved a corrupt database aside (or someone deleted
                # it): writing on through the old handle would write into that file.
                log.info("%s was replaced; reopening it", self.path)
                self.close()
            if self._conn is None:
                try:
                    self._conn = self._open()
                except sqlite3.DatabaseError as exc:
                    if not _is_corrupt(exc):
                        raise
                    self._replace_corrupt(exc)
                    self._conn = self._open()
                self._insert_notices(self._conn)
            try:
                yield self._conn
            except sqlite3.DatabaseError as exc:
                if _is_corrupt(exc):
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

    def _insert_notices(self, conn: sqlite3.Connection) -> None:
        """Record what happened to the previous database file in the new one."""
        while self._notices:
            try:
                _insert_error(conn, self._notices[0])
            except sqlite3.Error:
                log.debug("could not record the database notice yet", exc_info=True)
                return
            self._notices.pop(0)

    def _write(self, kind: str, payload: dict[str, Any], fn: Any) -> Any:
        """Run ``fn(conn)`` as a write; on failure keep ``payload`` in the fallback."""
        if self.degraded:
            if self._monotonic() < self._retry_at:
                self._spill({"kind": kind, **payload})
                return None
            # A connection a query opened meanwhile may be read-only (SQLite falls
            # back to that when it cannot open for writing): start afresh.
            self.close()
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
        return result

    def _degrade(self, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if self.degraded_reason != reason:
            log.warning("database unavailable, using %s: %s", self.fallback.name, reason)
        self.degraded_reason = reason
        self._retry_at = self._monotonic() + self.retry_interval
        self.close()

    def _spill(self, entry: dict[str, Any]) -> None:
        """Keep ``entry`` in memory and append it to the JSONL fallback.

        The append holds the fallback's lock so that a flush in another process
        (read, write back, delete) can never delete a line it did not read. If
        the lock cannot be had, append anyway: the in-memory copy still covers
        this process.
        """
        with self._lock:
            self._buffer.append(entry)
        line = json.dumps(entry, default=str) + "\n"
        try:
            try:
                with file_lock(self._fallback_lock, self.busy_timeout + 1, what="the fallback log"):
                    self._append(line)
            except LockTimeout:
                self._append(line)
        except OSError as exc:
            log.error("cannot write the fallback log %s either: %s", self.fallback, exc)

    def _append(self, line: str) -> None:
        self.fallback.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(
            self.fallback, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, FILE_MODE
        )
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def flush_fallback(self) -> int:
        """Write buffered and JSONL-logged entries back into SQLite; return how many.

        Every entry is idempotent (events by uid, runs by run id), so a crash
        mid-way or another process flushing the same lines does no harm.
        """
        count = 0
        try:
            with file_lock(self._fallback_lock, timeout=self.busy_timeout, what="the fallback log"):
                entries = _read_jsonl(self.fallback)
                with self._lock:
                    buffered = list(self._buffer)
                entries.extend(e for e in buffered if e not in entries)
                if not entries:
                    return 0
                rejected: list[dict[str, Any]] = []
                with self._connection() as conn:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        for entry in entries:
                            try:
                                self._apply(conn, entry)
                                count += 1
                            except (sqlite3.IntegrityError, KeyError, ValueError, TypeError):
                                log.exception("fallback entry refused by the database: %r", entry)
                                rejected.append(entry)
                        conn.execute("COMMIT")
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                for entry in rejected:
                    with contextlib.suppress(OSError):
                        _append_line(self.rejected_log, json.dumps(entry, default=str) + "\n")
                with self._lock:
                    self._buffer = [e for e in self._buffer if e not in buffered]
                with contextlib.suppress(FileNotFoundError):
                    self.fallback.unlink()
        except (sqlite3.Error, DatabaseUnavailable, OSError, LockTimeout) as exc:
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
            # Noted under the same lock as the insert: a feed reading the new row
            # afterwards always finds it here (see recorded_here).
            self._own_ids.append(new_id)
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
        """Events, newest first, filtered: the database's plus any still waiting
        in the fallback, so nothing recorded is invisible while SQLite is down."""
        sev = Severity(str(severity).upper()) if severity is not None else None
        floor = Severity(str(min_severity).upper()).rank if min_severity is not None else None
        clauses: list[str] = []
        args: list[Any] = []
        if unresolved:
            clauses.append("resolved = 0")
        if job is not None:
            clauses.append("job_name = ?")
            args.append(job)
        if sev is not None:
            clauses.append("severity = ?")
            args.append(str(sev))
        if floor is not None:
            allowed = [str(s) for s in Severity if s.rank >= floor]
            clauses.append(f"severity IN ({','.join('?' * len(allowed))})")
            args.extend(allowed)
        if component is not None:
            clauses.append("component = ?")
            args.append(component)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT * FROM error_events {where} ORDER BY timestamp DESC, id DESC LIMIT ?"

        def wanted(e: ErrorEvent) -> bool:
            return (
                (not unresolved or not e.resolved)
                and (job is None or e.job_name == job)
                and (sev is None or e.severity == sev)
                and (floor is None or e.severity.rank >= floor)
                and (component is None or e.component == component)
            )

        stored: list[ErrorEvent] = self._read(
            lambda conn: [_row_to_event(r) for r in _rows(conn, sql, [*args, limit])], list
        )
        waiting = [e for e in self._pending_events() if wanted(e)]
        if not waiting:
            return stored
        merged = stored + waiting
        merged.sort(key=lambda e: (e.timestamp, e.id or 0), reverse=True)
        return merged[:limit]

    # -- incremental reads (core/error_feed.py) -----------------------------
    #
    # Each answers None when the database cannot be read, so a caller can tell
    # "nothing new" from "could not look" (and keep its marks for next time).

    def recorded_here(self, event_id: int) -> bool:
        """True when this instance inserted ``event_id`` (its process already announced it)."""
        with self._lock:
            return event_id in self._own_ids

    def error_marks(self) -> ErrorMarks | None:
        """Largest id, unresolved and total counts: indexed, cheap to ask often."""

        def do(conn: sqlite3.Connection) -> ErrorMarks:
            max_id, total = conn.execute(
                "SELECT COALESCE(MAX(id), 0), COUNT(*) FROM error_events"
            ).fetchone()
            (unresolved,) = conn.execute(
                "SELECT COUNT(*) FROM error_events WHERE resolved = 0"
            ).fetchone()
            return ErrorMarks(int(max_id), int(unresolved), int(total))

        marks: ErrorMarks | None = self._read(do, lambda: None)
        return marks

    def events_after(self, after_id: int, limit: int = 500) -> list[ErrorEvent] | None:
        """Events with an id above ``after_id``, oldest first (ids grow in commit order:
        SQLite has one writer at a time and each insert commits with its id)."""
        rows: list[sqlite3.Row] | None = self._read(
            lambda conn: _rows(
                conn,
                "SELECT * FROM error_events WHERE id > ? ORDER BY id LIMIT ?",
                [after_id, limit],
            ),
            lambda: None,
        )
        return None if rows is None else [_row_to_event(r) for r in rows]

    def resolved_since(self, since: datetime | None, limit: int = 500) -> list[ErrorEvent] | None:
        """Resolved events whose ``resolved_at`` is at or after ``since`` (all when None),
        oldest resolution first."""
        if since is None:
            sql, args = (
                "SELECT * FROM error_events WHERE resolved = 1 ORDER BY resolved_at LIMIT ?",
                [limit],
            )
        else:
            sql = (
                "SELECT * FROM error_events WHERE resolved = 1 AND resolved_at >= ? "
                "ORDER BY resolved_at LIMIT ?"
            )
            args = [_ts(since), limit]
        rows: list[sqlite3.Row] | None = self._read(
            lambda conn: _rows(conn, sql, args), lambda: None
        )
        return None if rows is None else [_row_to_event(r) for r in rows]

    def last_resolution(self) -> datetime | bool | None:
        """The newest ``resolved_at`` (None: nothing resolved yet; False: unreadable).

        A full scan (no index on ``resolved_at``): asked once when a feed starts.
        """
        rows: list[tuple[str | None]] | None = self._read(
            lambda conn: conn.execute(
                "SELECT MAX(resolved_at) FROM error_events WHERE resolved = 1"
            ).fetchall(),
            lambda: None,
        )
        if rows is None:
            return False
        return from_iso(rows[0][0]) if rows and rows[0][0] else None

    def unresolved_ids(self) -> set[int] | None:
        """Ids of every unresolved event (from the ``resolved`` index)."""
        ids: set[int] | None = self._read(
            lambda conn: {
                int(r[0]) for r in conn.execute("SELECT id FROM error_events WHERE resolved = 0")
            },
            lambda: None,
        )
        return ids

    def errors_by_id(self, ids: list[int]) -> list[ErrorEvent] | None:
        """These events as stored now (missing ids are left out)."""
        if not ids:
            return []
        rows: list[sqlite3.Row] | None = self._read(
            lambda conn: _rows(
                conn,
                f"SELECT * FROM error_events WHERE id IN ({','.join('?' * len(ids))})",
                list(ids),
            ),
            lambda: None,
        )
        return None if rows is None else [_row_to_event(r) for r in rows]

    def error(self, event_id: int) -> ErrorEvent | None:
        rows = self._read(
            lambda conn: _rows(conn, "SELECT * FROM error_events WHERE id = ?", [event_id]),
            list,
        )
        return _row_to_event(rows[0]) if rows else None

    def stats(self, now: datetime | None = None) -> ErrorStats:
        """Counts over the database and the events still waiting in the fallback."""
        cutoff = (now or utcnow()) - timedelta(hours=24)
        since = _ts(cutoff)

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

        stats: ErrorStats = self._read(do, lambda: ErrorStats(0, 0, 0, 0, {}))
        waiting = self._pending_events()
        if not waiting:
            return stats
        by = dict(stats.by_severity)
        total, open_, critical, recent = (
            stats.total,
            stats.unresolved,
            stats.critical,
            stats.last_24h,
        )
        for e in waiting:
            total += 1
            recent += e.timestamp >= cutoff
            if not e.resolved:
                open_ += 1
                critical += e.severity == Severity.CRITICAL
                by[str(e.severity)] = by.get(str(e.severity), 0) + 1
        return ErrorStats(total, open_, critical, recent, by)

    def runs(self, job: str | None = None, limit: int = 50) -> list[RunRecord]:
        """Runs newest first, of one job or all (the fallback's latest word included)."""
        if job is None:
            sql, args = "SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", [limit]
        else:
            sql = "SELECT * FROM runs WHERE job_name = ? ORDER BY started_at DESC LIMIT ?"
            args = [job, limit]
        stored: list[RunRecord] = self._read(
            lambda conn: [_row_to_run(r) for r in _rows(conn, sql, args)], list
        )
        waiting: dict[str, RunRecord] = {}
        for entry in self.pending():
            if entry.get("kind") == "run":
                with contextlib.suppress(KeyError, ValueError, TypeError):
                    run = _run_from_json(entry["run"])
                    if job is None or run.job_name == job:
                        waiting[run.run_id] = run
        if not waiting:
            return stored
        merged = {r.run_id: r for r in stored}
        merged.update(waiting)
        return sorted(merged.values(), key=lambda r: r.started_at, reverse=True)[:limit]

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
                "SELECT * FROM runs WHERE job_name = ? AND status = ? AND trigger != 'restore' "
                "ORDER BY started_at DESC LIMIT 1",
                [job, str(status)],
            ),
            list,
        )
        return _row_to_run(rows[0]) if rows else None

    def pending(self) -> list[dict[str, Any]]:
        """Entries waiting in the fallback (this process's buffer and the JSONL file)."""
        entries = _read_jsonl(self.fallback)
        with self._lock:
            buffered = list(self._buffer)
        entries.extend(e for e in buffered if e not in entries)
        return entries

    def _pending_events(self) -> list[ErrorEvent]:
        """Waiting error events not (yet) in the database, with waiting resolutions applied."""
        entries = self.pending()
        if not entries:
            return []
        events: dict[str, ErrorEvent] = {}
        resolved: dict[int, datetime | None] = {}
        for entry in entries:
            with contextlib.suppress(KeyError, ValueError, TypeError):
                if entry.get("kind") == "error":
                    event = _event_from_json(entry["event"])
                    events[event.uid] = event
                elif entry.get("kind") == "resolve" and entry.get("id") is not None:
                    resolved[int(entry["id"])] = from_iso(entry.get("at"))
        if events:
            uids = list(events)
            known: list[sqlite3.Row] = self._read(
                lambda conn: _rows(
                    conn,
                    f"SELECT uid FROM error_events WHERE uid IN ({','.join('?' * len(uids))})",
                    uids,
                ),
                list,
            )
            for row in known:
                events.pop(row["uid"], None)
        out = list(events.values())
        if resolved:
            out = [
                replace(e, resolved=True, resolved_at=resolved[e.id]) if e.id in resolved else e
                for e in out
            ]
        return out

    def check(self) -> str | None:
        """None when the database answers and accepts writes, else why not.

        When it works, whatever waits in the fallback is written back now, so
        an idle process (a health probe, a TUI nobody touches) still recovers.
        """
        if self.degraded:
            self.close()  # a connection opened meanwhile may be read-only
        try:
            with self._connection() as conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
        except (sqlite3.Error, DatabaseUnavailable, OSError) as exc:
            self._degrade(exc)
            return self.degraded_reason
        self.degraded_reason = None
        if self._buffer or self.fallback.exists():
            self.flush_fallback()
        return None


# -- row mapping ---------------------------------------------------------------


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The entries of a JSONL file; a torn last line (crash mid-append) is skipped."""
    entries: list[dict[str, Any]] = []
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(line)
                if isinstance(value, dict):
                    entries.append(value)
    return entries


def _append_line(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


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
