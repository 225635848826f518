"""What the manager tells its subscribers (the TUI, the CLI, the daemon's log).

Subscribers are plain callables invoked on the manager's consumer thread; a
UI must hand the event over to its own thread (Textual: ``post_message``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tui_backup.core.views import JobView
from tui_backup.engines.events import EngineEvent, FileWarning
from tui_backup.model.records import ErrorEvent, RunRecord


@dataclass(frozen=True, slots=True)
class JobsUpdated:
    """These jobs changed (state, progress or definition). Only changed ones."""

    views: tuple[JobView, ...]


@dataclass(frozen=True, slots=True)
class JobsRemoved:
    names: frozenset[str]


@dataclass(frozen=True, slots=True)
class RunFinished:
    run: RunRecord


@dataclass(frozen=True, slots=True)
class ErrorRecorded:
    event: ErrorEvent


@dataclass(frozen=True, slots=True)
class WarningRaised:
    job_name: str
    warning: FileWarning


@dataclass(frozen=True, slots=True)
class WatchStatus:
    """How this process learns of other processes' changes."""

    mode: str
    """``live`` (watchfiles), ``polling`` (fallback) or ``unreachable``."""
    detail: str = ""


ManagerEvent = JobsUpdated | JobsRemoved | RunFinished | ErrorRecorded | WarningRaised | WatchStatus
Subscriber = Callable[[ManagerEvent], None]

__all__ = [
    "EngineEvent",
    "ErrorRecorded",
    "FileWarning",
    "JobsRemoved",
    "JobsUpdated",
    "ManagerEvent",
    "RunFinished",
    "Subscriber",
    "WarningRaised",
    "WatchStatus",
]
