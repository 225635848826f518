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
class JobsChanged:
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
    """An error event was stored (or kept in the fallback while SQLite is down)."""

    event: ErrorEvent
    elsewhere: bool = False
    """True when another process recorded it (seen by the error feed, ``error_feed.py``)."""


@dataclass(frozen=True, slots=True)
class ErrorResolved:
    """An error event was marked resolved, by this or any other process."""

    event: ErrorEvent
    """The event as stored now (``resolved`` true, ``resolved_at`` set)."""


@dataclass(frozen=True, slots=True)
class ErrorCounts:
    """How many error events are unresolved now (all processes), from the database."""

    unresolved: int
    total: int


@dataclass(frozen=True, slots=True)
class ErrorLogReset:
    """The error log changed in a way the events above do not describe.

    The database was replaced (a corrupt file moved aside), or too many events
    arrived at once to send one by one: a subscriber that shows the log reads
    it again, once.
    """

    reason: str


@dataclass(frozen=True, slots=True)
class WarningRaised:
    job_name: str
    warning: FileWarning


@dataclass(frozen=True, slots=True)
class WatchChanged:
    """How this process learns of other processes' changes."""

    mode: str
    """``live`` (watchfiles), ``polling`` (fallback) or ``unreachable``."""
    detail: str = ""


ManagerEvent = (
    JobsChanged
    | JobsRemoved
    | RunFinished
    | ErrorRecorded
    | ErrorResolved
    | ErrorCounts
    | ErrorLogReset
    | WarningRaised
    | WatchChanged
)
Subscriber = Callable[[ManagerEvent], None]

__all__ = [
    "EngineEvent",
    "ErrorCounts",
    "ErrorLogReset",
    "ErrorRecorded",
    "ErrorResolved",
    "FileWarning",
    "JobsChanged",
    "JobsRemoved",
    "ManagerEvent",
    "RunFinished",
    "Subscriber",
    "WarningRaised",
    "WatchChanged",
]
