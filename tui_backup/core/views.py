"""Immutable query results: everything a screen or ``--json`` needs about a job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tui_backup.model import schedule as cron
from tui_backup.model.clock import to_iso
from tui_backup.model.job import JobSpec
from tui_backup.model.secrets import mask_env, mask_url
from tui_backup.model.state import JobState
from tui_backup.model.status import Status


def next_run(spec: JobSpec, after: datetime, not_before: datetime | None = None) -> datetime | None:
    """When the job's schedule fires next after ``after``; None when it has none or is off.

    ``not_before`` is when the destination's open circuit breaker lets a run
    through again: slots before it are skipped, so the next run the scheduler
    will really try is the first slot at or after it (never a time in the past
    that the breaker is going to skip).
    """
    if not spec.schedule or not spec.enabled:
        return None
    try:
        if not_before is not None and not_before > after:
            # Slots are whole minutes: the first one at or after ``not_before``.
            return cron.next_run(spec.schedule, not_before - timedelta(microseconds=1))
        return cron.next_run(spec.schedule, after)
    except Exception:  # noqa: BLE001 - validated already; never break a listing
        return None


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
            "destination": mask_url(self.spec.destination),
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
            "env": mask_env(self.spec.env_dict),
            "last_verify": self.state.last_verify.to_dict() if self.state.last_verify else None,
        }


def masked_spec(spec: JobSpec) -> dict[str, Any]:
    """The job's YAML form for showing (``job show``, ``--json``, the editor's preview).

    Secret-looking ``env`` values and URL passwords in the destination are
    ``***`` (:mod:`tui_backup.model.secrets`); paths and commands that lead to
    a secret (``RESTIC_PASSWORD_FILE``) are shown. Never saved back: the
    file on disk keeps the real values.
    """
    data = spec.to_dict()
    data["destination"] = mask_url(spec.destination)
    if "env" in data:
        data["env"] = mask_env(spec.env_dict)
    return data
