"""Errors the core raises to its callers (CLI, TUI, daemon), each readable as is."""

from __future__ import annotations

from tui_backup.model.problems import ValidationError
from tui_backup.store.errors import (
    JobExists,
    JobNotFound,
    LockTimeout,
    StoreError,
    VersionConflict,
)


class AlreadyRunning(Exception):
    """The job's run lock is held by another run (here or in another process)."""

    def __init__(self, name: str, where: str = "") -> None:
        suffix = f" ({where})" if where else ""
        super().__init__(f"job {name!r} is already running{suffix}")
        self.name = name


class OperationFailed(Exception):
    """A command could not be carried out; the message says why."""


__all__ = [
    "AlreadyRunning",
    "JobExists",
    "JobNotFound",
    "LockTimeout",
    "NotRunning",
    "OperationFailed",
    "ShuttingDown",
    "StoreError",
    "ValidationError",
    "VersionConflict",
]


class ShuttingDown(OperationFailed):
    """A command refused because the manager is shutting down (not an error to record)."""

    def __init__(self) -> None:
        super().__init__("the job manager is shutting down")


class NotRunning(OperationFailed):
    """``stop`` of a job that no process is running."""

    def __init__(self, name: str) -> None:
        super().__init__(f"job {name!r} is not running")
        self.name = name
