"""The status words used everywhere: YAML state files, JSON output, the screen."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    IDLE = "idle"
    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"

    @property
    def is_active(self) -> bool:
        """True while a run holds (or waits for) a worker."""
        return self in ACTIVE_STATUSES

    @property
    def is_final(self) -> bool:
        """True for the outcome of a finished run."""
        return self in FINAL_STATUSES


ACTIVE_STATUSES = frozenset({Status.QUEUED, Status.RUNNING, Status.STOPPING})
FINAL_STATUSES = frozenset({Status.SUCCEEDED, Status.FAILED, Status.STOPPED, Status.INTERRUPTED})


class Severity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}
