"""Errors the core raises to its callers (CLI, TUI, daemon), each readable as is."""

from __future__ import annotations

import logging

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


def log_failure(logger: logging.Logger, what: str, exc: BaseException) -> None:
    """Log a background step's failure: a store error (a lock held too long, a full
    home) as its readable message, anything else with its traceback.

    Front ends show log records (the TUI's log pane): an expected condition
    such as another process holding a lock must read as one sentence that
    names the lock and its holder, never as a traceback.
    """
    if isinstance(exc, StoreError):
        logger.warning("%s: %s", what, exc)
    else:
        logger.error("%s", what, exc_info=exc)
