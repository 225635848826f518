"""Immutable query results: everything a screen or ``--json`` needs about a job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tui_backup.model.clock import to_iso
from tui_backup.model.job import JobSpec
from tui_backup.model.state import JobState
from tui_backup.model.status import Status


@dataclass(frozen=True, slots=True)
class JobView:
    spec: JobSpec
    state: JobState
    next_run: datetime | None = None
    local: bool = False
    """True when the run (if any) belongs to this process."""
    issue: str | None = None
    """Set when the job file is wrong; the last good version shown is in effect."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def status(self) -> Status:
        return self.state.status

    def to_json(self) -> dict[str, Any]:
        """The object of ``job list --json`` (documented in docs/cli.md)."""
        last = self.state.last_result
        progress = self.state.progress if self.state.status.is_active else None
        return {
            "name": self.spec.name,
            "description": self.spec.description,
            "engine": self.spec.engine,
            "sources": list(self.spec.sources),
            "destination": self.spec.destination,
            "schedule": self.spec.schedule,
            "enabled": self.spec.enabled,
            "status": str(self.state.status),
            "version": self.spec.version,
            "run_id": self.state.run_id if self.state.status.is_active else None,
            "runner": (
                {"pid": self.state.pid, "host": self.state.host, "kind": self.state.runner}
                if self.state.status.is_active
                else None
            ),
            "progress": progress.to_dict() if progress else None,
            "last_run": (
                {
                    "status": str(last.status),
                    "started_at": to_iso(last.started_at),
                    "finished_at": to_iso(last.finished_at),
                    "files": last.files,
                    "bytes": last.bytes,
                    "warnings": last.warnings,
                    "snapshot": last.snapshot_id,
                    "error": last.error,
                }
                if last
                else None
            ),
            "last_success": to_iso(self.state.last_success),
            "next_run": to_iso(self.next_run),
            "issue": self.issue,
        }
