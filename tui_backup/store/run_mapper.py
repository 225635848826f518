"""A :class:`RunRecord` to and from its SQLite row and its journal JSON: one place
for the ``runs`` columns."""

from __future__ import annotations

import sqlite3
from typing import Any

from tui_backup.model.clock import from_iso, utcnow
from tui_backup.model.records import RunRecord
from tui_backup.model.status import Status
from tui_backup.store.dbtime import db_time


def upsert(conn: sqlite3.Connection, r: RunRecord) -> None:
    """Insert the run, or update what changes after its start (called at both)."""
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
            db_time(r.started_at),
            db_time(r.finished_at),
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


def from_row(row: sqlite3.Row) -> RunRecord:
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


def to_json(r: RunRecord) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "job_name": r.job_name,
        "started_at": db_time(r.started_at),
        "finished_at": db_time(r.finished_at),
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


def from_json(d: dict[str, Any]) -> RunRecord:
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
