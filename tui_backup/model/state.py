"""A job's runtime state, as written to ``state/<name>.yaml`` by its runner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tui_backup.model.clock import from_iso, to_iso
from tui_backup.model.progress import Progress
from tui_backup.model.status import Status


@dataclass(frozen=True, slots=True)
class LastResult:
    """The outcome of the most recent finished run, kept on the card."""

    status: Status
    started_at: datetime | None = None
    finished_at: datetime | None = None
    files: int = 0
    bytes: int = 0
    warnings: int = 0
    snapshot_id: str | None = None
    error: str | None = None
    run_id: str | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "started_at": to_iso(self.started_at),
            "finished_at": to_iso(self.finished_at),
            "files": self.files,
            "bytes": self.bytes,
            "warnings": self.warnings,
            "snapshot": self.snapshot_id,
            "error": self.error,
            "run_id": self.run_id,
        }

    @classmethod
    def from_dict(cls, data: Any) -> LastResult | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                status=Status(data.get("status", "failed")),
                started_at=from_iso(data.get("started_at")),
                finished_at=from_iso(data.get("finished_at")),
                files=_count(data.get("files")),
                bytes=_count(data.get("bytes")),
                warnings=_count(data.get("warnings")),
                snapshot_id=_text(data.get("snapshot")),
                error=_text(data.get("error")),
                run_id=_text(data.get("run_id")),
            )
        except (ValueError, TypeError):
            return None


VERIFY_OUTCOMES = ("ok", "damaged", "unchecked")
MAX_COUNT = 2**63 - 1
"""Counts (files, bytes) above SQLite's integer range are not counts."""
MAX_PID = 2**22
"""Linux's largest pid (``pid_max`` is at most 4194304); ``os.kill`` of a bigger
number raises OverflowError instead of saying "no such process"."""


VERIFY_UNITS = frozenset({"file", "pack"})
"""What a verify's count may count (engines/api.py ``VerifyReport.unit``)."""


def _count(value: Any) -> int:
    """A non-negative count from a state file; anything else reads as 0."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        return 0
    return value


def _text(value: Any) -> str | None:
    """A text field from a state file; anything not text reads as absent."""
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class LastVerify:
    """What the job's most recent verify found (``health`` and the cards read it).

    ``outcome`` is ``ok``, ``damaged`` (problems found) or ``unchecked`` (the
    check could not read what it should have: never a pass).
    """

    time: datetime
    outcome: str
    snapshots: int = 0
    files: int = 0
    bytes: int = 0
    problems: int = 0
    method: str = ""
    detail: str | None = None
    """The first problem, or why it could not check."""
    trigger: str = "manual"
    """``manual`` or ``schedule``."""
    unit: str = "file"
    """What ``files`` counts: ``file``, or ``pack`` (restic checks pack files)."""
    bytes_known: bool = True
    """False when the check cannot say how many bytes it read (``bytes`` is then 0
    and written as null: never a fake 0)."""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": to_iso(self.time),
            "outcome": self.outcome,
            "snapshots": self.snapshots,
            "files": self.files,
            "bytes": self.bytes if self.bytes_known else None,
            "problems": self.problems,
            "method": self.method,
            "detail": self.detail,
            "trigger": self.trigger,
            "unit": self.unit,
            "bytes_known": self.bytes_known,
        }

    @classmethod
    def from_dict(cls, data: Any) -> LastVerify | None:
        if not isinstance(data, dict):
            return None
        try:
            when = from_iso(data.get("time"))
            outcome = str(data.get("outcome"))
            if when is None or outcome not in VERIFY_OUTCOMES:
                return None
            detail = data.get("detail")
            # Files written before ``unit``/``bytes_known`` existed: a restic check
            # counted packs and stored a fake 0 bytes; others counted files and bytes.
            method = str(data.get("method") or "")
            old_restic = "unit" not in data and method.startswith("restic check")
            known = data.get("bytes_known")
            if isinstance(known, bool):
                bytes_known = known
            else:
                bytes_known = data.get("bytes") is not None and not (
                    old_restic and not data.get("bytes")
                )
            unit = data.get("unit")
            if unit not in VERIFY_UNITS:
                unit = "pack" if old_restic else "file"
            return cls(
                time=when,
                outcome=outcome,
                snapshots=_count(data.get("snapshots")),
                files=_count(data.get("files")),
                bytes=_count(data.get("bytes")) if bytes_known else 0,
                problems=_count(data.get("problems")),
                method=method,
                detail=str(detail) if detail is not None else None,
                trigger=str(data.get("trigger") or "manual"),
                unit=unit,
                bytes_known=bytes_known,
            )
        except (ValueError, TypeError):
            return None


@dataclass(frozen=True, slots=True)
class JobState:
    """Who runs the job now (if anyone), how far it got, and how it last ended."""

    name: str
    status: Status = Status.IDLE
    run_id: str | None = None
    pid: int | None = None
    host: str | None = None
    runner: str | None = None
    """What kind of process runs it: ``tui``, ``cli`` or ``daemon``."""
    started_at: datetime | None = None
    updated_at: datetime | None = None
    progress: Progress | None = None
    last_result: LastResult | None = None
    last_success: datetime | None = None
    message: str | None = None
    last_verify: LastVerify | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": str(self.status),
            "run_id": self.run_id,
            "pid": self.pid,
            "host": self.host,
            "runner": self.runner,
            "started_at": to_iso(self.started_at),
            "updated_at": to_iso(self.updated_at),
            "progress": self.progress.to_dict() if self.progress else None,
            "last_result": self.last_result.to_dict() if self.last_result else None,
            "last_success": to_iso(self.last_success),
            "message": self.message,
            "last_verify": self.last_verify.to_dict() if self.last_verify else None,
        }

    @classmethod
    def from_dict(cls, data: Any, name: str) -> JobState:
        """Lenient: a state file is ours, so a bad field degrades to its default."""
        if not isinstance(data, dict):
            raise ValueError("state file is not a mapping")
        try:
            status = Status(data.get("status", "idle"))
        except ValueError as exc:
            raise ValueError(f"unknown status {data.get('status')!r}") from exc
        pid = data.get("pid")
        return cls(
            name=name,
            status=status,
            run_id=_text(data.get("run_id")),
            pid=pid
            if isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid <= MAX_PID
            else None,
            host=_text(data.get("host")),
            runner=_text(data.get("runner")),
            started_at=from_iso(data.get("started_at")),
            updated_at=from_iso(data.get("updated_at")),
            progress=Progress.from_dict(data.get("progress")),
            last_result=LastResult.from_dict(data.get("last_result")),
            last_success=from_iso(data.get("last_success")),
            message=_text(data.get("message")),
            last_verify=LastVerify.from_dict(data.get("last_verify")),
        )
