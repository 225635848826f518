"""Records kept in SQLite: runs and error events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tui_backup.model.clock import to_iso, utcnow
from tui_backup.model.status import Severity, Status


def new_id() -> str:
    """A short unique id for runs and event de-duplication across processes."""
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    job_name: str
    started_at: datetime
    status: Status
    finished_at: datetime | None = None
    files: int = 0
    bytes: int = 0
    warnings: int = 0
    snapshot_id: str | None = None
    error: str | None = None
    host: str = ""
    pid: int = 0
    trigger: str = "manual"

    @property
    def duration(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "job": self.job_name,
            "status": str(self.status),
            "started_at": to_iso(self.started_at),
            "finished_at": to_iso(self.finished_at),
            "duration": self.duration,
            "files": self.files,
            "bytes": self.bytes,
            "warnings": self.warnings,
            "snapshot": self.snapshot_id,
            "error": self.error,
            "host": self.host,
            "pid": self.pid,
            "trigger": self.trigger,
        }


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """Something that went wrong, kept until a person marks it resolved."""

    severity: Severity
    component: str
    error_type: str
    message: str
    job_name: str | None = None
    details: str = ""
    stack_trace: str = ""
    timestamp: datetime = field(default_factory=utcnow)
    resolved: bool = False
    resolved_at: datetime | None = None
    id: int | None = None
    uid: str = field(default_factory=new_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uid": self.uid,
            "timestamp": to_iso(self.timestamp),
            "severity": str(self.severity),
            "component": self.component,
            "error_type": self.error_type,
            "message": self.message,
            "details": self.details,
            "job_name": self.job_name,
            "stack_trace": self.stack_trace,
            "resolved": self.resolved,
            "resolved_at": to_iso(self.resolved_at),
        }
