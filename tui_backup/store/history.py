"""The run history and error log in SQLite, with a fallback that never stops the show.

Jobs never depend on SQLite (YAML is the truth). When the database cannot be
opened or written (locked past the timeout, read-only, corrupt, a full disk)
every write goes to the fallback journal (store/journal.py) and is written
back once the database works again; every query answers from the database
*and* what still waits in the journal, so nothing recorded is invisible
meanwhile. The file itself (private mode, WAL, migrations, replacing a
corrupt one) is store/sqlite_file.py; the columns of each record type are
store/event_mapper.py and store/run_mapper.py.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tui_backup.model.clock import from_iso, utcnow
from tui_backup.model.records import ErrorEvent, RunRecord
from tui_backup.model.status import Severity, Status
from tui_backup.store import event_mapper, run_mapper
from tui_backup.store.dbtime import db_time
from tui_backup.store.errors import LockTimeout
from tui_backup.store.journal import Journal
from tui_backup.store.sqlite_file import DatabaseUnavailable, SqliteFile, fetch_rows

log = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT = 2.0
DEFAULT_RETRY_INTERVAL = 5.0
"""While degraded, writes go straight to the fallback and the database is tried
again at most this often, so a locked database does not cost every event a
full busy timeout."""


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
        self._sqlite = SqliteFile(path, busy_timeout)
        self._lock = self._sqlite.lock
        self.journal = Journal(fallback, busy_timeout)
        """Where writes wait while SQLite cannot take them (store/journal.py)."""
        self.degraded_reason: str | None = None
        self._own_ids: deque[int] = deque(maxlen=OWN_IDS_KEPT)
        """Ids of the events this instance inserted (newest last), for :meth:`recorded_here`."""

    @property
    def rejected_log(self) -> Path:
        """Fallback entries SQLite refused (kept for a person, never dropped)."""
        return self.journal.rejected_path

    # -- connection ----------------------------------------------------------

    @property
    def degraded(self) -> bool:
        return self.degraded_reason is not None

    def close(self) -> None:
        self._sqlite.close()

    def _connection(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._sqlite.connection()

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
        if was_degraded or self.journal.has_pending():
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
        self.journal.spill(entry)

    def flush_fallback(self) -> int:
        """Write buffered and journalled entries back into SQLite; return how many."""
        try:
            count = self.journal.replay(self._apply_all)
        except (sqlite3.Error, DatabaseUnavailable, OSError, LockTimeout) as exc:
            log.debug("fallback flush postponed: %s", exc)
            return 0
        if count:
            log.info("wrote %d buffered entries back into %s", count, self.path.name)
        return count

    def _apply_all(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write ``entries`` in one transaction; return those the database refused."""
        rejected: list[dict[str, Any]] = []
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for entry in entries:
                    try:
                        _apply(conn, entry)
                    except (sqlite3.IntegrityError, KeyError, ValueError, TypeError):
                        log.exception("fallback entry refused by the database: %r", entry)
                        rejected.append(entry)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return rejected

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
            new_id = event_mapper.insert(conn, event)
            # Noted under the same lock as the insert: a feed reading the new row
            # afterwards always finds it here (see recorded_here).
            self._own_ids.append(new_id)
            return replace(event, id=new_id)

        if dedupe and any(
            e.get("kind") == "error"
            and e["event"]["message"] == event.message
            and e["event"]["job_name"] == event.job_name
            for e in self.journal.buffered()
        ):
            return event
        result = self._write("error", {"event": event_mapper.to_json(event)}, do)
        return result if result is not None else event

    def record_run(self, run: RunRecord) -> None:
        """Insert or update a run (called at start and at finish)."""
        self._write(
            "run", {"run": run_mapper.to_json(run)}, lambda conn: run_mapper.upsert(conn, run)
        )

    def resolve(self, event_id: int, at: datetime | None = None) -> bool:
        """Mark an event resolved; False when no such unresolved event exists."""
        when = at or utcnow()
        result = self._write(
            "resolve",
            {"id": event_id, "at": db_time(when)},
            lambda conn: event_mapper.resolve(conn, event_id, when),
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
            lambda conn: [event_mapper.from_row(r) for r in fetch_rows(conn, sql, [*args, limit])],
            list,
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
            lambda conn: fetch_rows(
                conn,
                "SELECT * FROM error_events WHERE id > ? ORDER BY id LIMIT ?",
                [after_id, limit],
            ),
            lambda: None,
        )
        return None if rows is None else [event_mapper.from_row(r) for r in rows]

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
            args = [db_time(since), limit]
        rows: list[sqlite3.Row] | None = self._read(
            lambda conn: fetch_rows(conn, sql, args), lambda: None
        )
        return None if rows is None else [event_mapper.from_row(r) for r in rows]

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
            lambda conn: fetch_rows(
                conn,
                f"SELECT * FROM error_events WHERE id IN ({','.join('?' * len(ids))})",
                list(ids),
            ),
            lambda: None,
        )
        return None if rows is None else [event_mapper.from_row(r) for r in rows]

    def error(self, event_id: int) -> ErrorEvent | None:
        rows = self._read(
            lambda conn: fetch_rows(conn, "SELECT * FROM error_events WHERE id = ?", [event_id]),
            list,
        )
        return event_mapper.from_row(rows[0]) if rows else None

    def stats(self, now: datetime | None = None) -> ErrorStats:
        """Counts over the database and the events still waiting in the fallback."""
        cutoff = (now or utcnow()) - timedelta(hours=24)
        since = db_time(cutoff)

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
            lambda conn: [run_mapper.from_row(r) for r in fetch_rows(conn, sql, args)], list
        )
        waiting: dict[str, RunRecord] = {}
        for entry in self.pending():
            if entry.get("kind") == "run":
                with contextlib.suppress(KeyError, ValueError, TypeError):
                    run = run_mapper.from_json(entry["run"])
                    if job is None or run.job_name == job:
                        waiting[run.run_id] = run
        if not waiting:
            return stored
        merged = {r.run_id: r for r in stored}
        merged.update(waiting)
        return sorted(merged.values(), key=lambda r: r.started_at, reverse=True)[:limit]

    def run(self, run_id: str) -> RunRecord | None:
        rows = self._read(
            lambda conn: fetch_rows(conn, "SELECT * FROM runs WHERE run_id = ?", [run_id]), list
        )
        return run_mapper.from_row(rows[0]) if rows else None

    def last_run(self, job: str, status: Status | None = None) -> RunRecord | None:
        if status is None:
            runs = self.runs(job, limit=1)
            return runs[0] if runs else None
        rows = self._read(
            lambda conn: fetch_rows(
                conn,
                "SELECT * FROM runs WHERE job_name = ? AND status = ? AND trigger != 'restore' "
                "ORDER BY started_at DESC LIMIT 1",
                [job, str(status)],
            ),
            list,
        )
        return run_mapper.from_row(rows[0]) if rows else None

    def pending(self) -> list[dict[str, Any]]:
        """Entries waiting in the fallback (this process's buffer and the JSONL file)."""
        return self.journal.pending()

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
                    event = event_mapper.from_json(entry["event"])
                    events[event.uid] = event
                elif entry.get("kind") == "resolve" and entry.get("id") is not None:
                    resolved[int(entry["id"])] = from_iso(entry.get("at"))
        if events:
            uids = list(events)
            known: list[sqlite3.Row] = self._read(
                lambda conn: fetch_rows(
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
        if self.journal.has_pending():
            self.flush_fallback()
        return None


def _apply(conn: sqlite3.Connection, entry: dict[str, Any]) -> None:
    """Write one journal entry (idempotent: events by uid, runs by run id)."""
    kind = entry.get("kind")
    if kind == "error":
        event_mapper.insert(conn, event_mapper.from_json(entry["event"]))
    elif kind == "run":
        run_mapper.upsert(conn, run_mapper.from_json(entry["run"]))
    elif kind == "resolve":
        event_mapper.resolve(conn, entry.get("id"), from_iso(entry.get("at")))
