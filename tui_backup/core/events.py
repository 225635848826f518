"""What the manager tells its subscribers (the TUI, the CLI, the daemon's log).

Subscribers are plain callables invoked on the event pump's thread (``pump.py``); a
UI must hand the event over to its own thread (Textual: ``post_message``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from tui_backup.core.views import JobView
from tui_backup.engines.events import EngineEvent, FileWarning
from tui_backup.model.records import ErrorEvent, RunRecord

log = logging.getLogger(__name__)


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


class WatchMode(StrEnum):
    """How this process learns of other processes' changes."""

    STARTING = "starting"
    LIVE = "live"
    """File notifications (watchfiles)."""
    POLLING = "polling"
    """The fallback: the directories are read once a second."""
    UNREACHABLE = "unreachable"
    """The home cannot be read (a network mount gone)."""


@dataclass(frozen=True, slots=True)
class WatchChanged:
    """How this process learns of other processes' changes."""

    mode: WatchMode
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


class Subscribers:
    """The subscriber list: thread-safe to change, called in order on the pump's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Subscriber] = []

    def add(self, callback: Subscriber) -> Callable[[], None]:
        """Add ``callback``; returns the function that removes it again."""
        with self._lock:
            self._callbacks.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    def any(self) -> bool:
        with self._lock:
            return bool(self._callbacks)

    def deliver(self, event: ManagerEvent) -> None:
        """Call every subscriber with ``event``; one that raises is logged and skipped."""
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(event)
            except Exception:
                log.exception("subscriber %r failed", callback)


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
    "Subscribers",
    "WarningRaised",
    "WatchChanged",
    "WatchMode",
]
