"""The SQLite schema as forward migrations; ``PRAGMA user_version`` counts applied ones."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: run history and the error event log.
    """
    CREATE TABLE runs (
        run_id      TEXT PRIMARY KEY,
        job_name    TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        status      TEXT NOT NULL CHECK (status IN ('queued', 'running', 'stopping',
                        'succeeded', 'failed', 'stopped', 'interrupted')),
        files       INTEGER NOT NULL DEFAULT 0,
        bytes       INTEGER NOT NULL DEFAULT 0,
        warnings    INTEGER NOT NULL DEFAULT 0,
        snapshot_id TEXT,
        error       TEXT,
        host        TEXT NOT NULL DEFAULT '',
        pid         INTEGER NOT NULL DEFAULT 0,
        trigger     TEXT NOT NULL DEFAULT 'manual'
    );
    CREATE INDEX runs_job_started ON runs (job_name, started_at DESC);
    CREATE INDEX runs_started ON runs (started_at DESC);

    CREATE TABLE error_events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        uid         TEXT NOT NULL UNIQUE,
        timestamp   TEXT NOT NULL,
        severity    TEXT NOT NULL CHECK (severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
        component   TEXT NOT NULL,
        error_type  TEXT NOT NULL,
        message     TEXT NOT NULL,
        details     TEXT NOT NULL DEFAULT '',
        job_name    TEXT,
        stack_trace TEXT NOT NULL DEFAULT '',
        resolved    INTEGER NOT NULL DEFAULT 0 CHECK (resolved IN (0, 1)),
        resolved_at TEXT
    );
    CREATE INDEX error_events_timestamp ON error_events (timestamp DESC);
    CREATE INDEX error_events_severity ON error_events (severity);
    CREATE INDEX error_events_job ON error_events (job_name);
    CREATE INDEX error_events_resolved ON error_events (resolved);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
