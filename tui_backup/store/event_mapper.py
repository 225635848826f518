"""An :class:`ErrorEvent` to and from its SQLite row and its journal JSON: one place
for the ``error_events`` columns."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from tui_backup.model.clock import from_iso, utcnow
from tui_backup.model.records import ErrorEvent
from tui_backup.model.status import Severity
from tui_backup.store.dbtime import db_time


def insert(conn: sqlite3.Connection, e: ErrorEvent) -> int:
    """Insert ``e`` once (by uid) and return its id, new or existing."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO error_events (uid, timestamp, severity, component, error_type, "
        "message, details, job_name, stack_trace, resolved, resolved_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            e.uid,
            db_time(e.timestamp),
            str(e.severity),
            e.component,
            e.error_type,
            e.message,
            e.details or "",
            e.job_name,
            e.stack_trace or "",
            int(e.resolved),
            db_time(e.resolved_at),
        ),
    )
    if cur.rowcount == 0:
        return int(
            conn.execute("SELECT id FROM error_events WHERE uid = ?", (e.uid,)).fetchone()[0]
        )
    return int(cur.lastrowid or 0)


def resolve(conn: sqlite3.Connection, event_id: int | None, when: datetime | None) -> bool:
    """Mark one unresolved event resolved; False when there is none with that id."""
    cur = conn.execute(
        "UPDATE error_events SET resolved = 1, resolved_at = ? WHERE id = ? AND resolved = 0",
        (db_time(when or utcnow()), event_id),
    )
    return cur.rowcount > 0


def from_row(row: sqlite3.Row) -> ErrorEvent:
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


def to_json(e: ErrorEvent) -> dict[str, Any]:
    data = e.to_json()
    data["timestamp"] = db_time(e.timestamp)
    return data


def from_json(d: dict[str, Any]) -> ErrorEvent:
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
