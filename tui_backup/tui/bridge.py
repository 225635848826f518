"""Hands the core's events (on the core's thread) over to the Textual app.

The core calls subscribers on its own consumer thread. We never touch a
widget there: job changes are merged into a buffer under a lock and the app
is rung with one :class:`~tui_backup.tui.messages.JobsChanged` doorbell,
which the app drains on its own thread. However many progress events arrive,
the screen sees the newest view of each job once per drain.

Error events ride the same doorbell: the newest known state of each event
(recorded, resolved; from this or any other process: ``core/error_feed.py``),
the latest unresolved count, and whether the log must be read again
(``ErrorLogReset``). Screens apply these payloads; nothing is re-queried per
event. New events also go out as :class:`ErrorRecorded` for the toasts.

Each core event keeps its name in the TUI (``core_events.RunFinished`` becomes the
message ``RunFinished``): one name through every layer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from textual.message import Message

from tui_backup.core import events as core_events
from tui_backup.core.events import (
    ErrorCounts,
    ErrorLogReset,
    ErrorResolved,
    JobsRemoved,
    ManagerEvent,
    WarningRaised,
)
from tui_backup.core.views import JobView
from tui_backup.model.records import ErrorEvent
from tui_backup.tui.messages import ErrorRecorded, JobsChanged, RunFinished, WatchChanged


@dataclass
class PendingChanges:
    """What changed since the last drain: newest view per job, and removals."""

    updated: dict[str, JobView] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    errors: dict[int, ErrorEvent] = field(default_factory=dict)
    """Error events by id, newest known state (a resolution never goes back)."""
    unresolved: int | None = None
    """The unresolved count of every process, when the core told a new one."""
    errors_stale: bool = False
    """The error log changed beyond these events: read it again, once."""

    def __bool__(self) -> bool:
        return bool(self.updated or self.removed or self.errors or self.errors_stale) or (
            self.unresolved is not None
        )

    def note_error(self, event: ErrorEvent) -> None:
        if event.id is None:
            return  # waiting in the fallback: no id to key a row by yet
        known = self.errors.get(event.id)
        if known is not None and known.resolved and not event.resolved:
            return
        self.errors[event.id] = event


@runtime_checkable
class LiveView(Protocol):
    """A screen that wants every drained change (main, details, an open editor)."""

    def apply_job_changes(self, pending: PendingChanges) -> None: ...


class CoreBridge:
    """Subscribes to a manager and posts typed messages to ``post`` (thread-safe)."""

    def __init__(self, post: Callable[[Message], object]) -> None:
        self._post = post
        self._lock = threading.Lock()
        self._pending = PendingChanges()
        self._rung = False
        self.events_seen = 0

    def __call__(self, event: ManagerEvent) -> None:
        """The subscriber; runs on the core's thread."""
        self.events_seen += 1
        if isinstance(event, core_events.JobsChanged):
            self._merge(updated=event.views)
        elif isinstance(event, JobsRemoved):
            self._merge(removed=event.names)
        elif isinstance(event, core_events.RunFinished):
            self._post(RunFinished(event.run))
        elif isinstance(event, core_events.ErrorRecorded):
            self._post(ErrorRecorded(event.event))
            self._merge_errors(event.event)
        elif isinstance(event, ErrorResolved):
            self._merge_errors(event.event)
        elif isinstance(event, ErrorCounts):
            self._merge_errors(unresolved=event.unresolved)
        elif isinstance(event, ErrorLogReset):
            self._merge_errors(stale=True)
        elif isinstance(event, WarningRaised):
            # Counted on the card (progress.warnings) and kept in the run's record;
            # one message per unreadable file could flood the UI with thousands.
            pass
        elif isinstance(event, core_events.WatchChanged):
            self._post(WatchChanged(event.mode, event.detail))

    def _merge(
        self, updated: tuple[JobView, ...] = (), removed: frozenset[str] = frozenset()
    ) -> None:
        with self._lock:
            for view in updated:
                self._pending.updated[view.name] = view
                self._pending.removed.discard(view.name)
            for name in removed:
                self._pending.updated.pop(name, None)
                self._pending.removed.add(name)
            ring = not self._rung
            self._rung = True
        if ring:
            self._post(JobsChanged())

    def _merge_errors(
        self, event: ErrorEvent | None = None, *, unresolved: int | None = None, stale: bool = False
    ) -> None:
        with self._lock:
            if event is not None:
                self._pending.note_error(event)
            if unresolved is not None:
                self._pending.unresolved = unresolved
            self._pending.errors_stale = self._pending.errors_stale or stale
            ring = not self._rung
            self._rung = True
        if ring:
            self._post(JobsChanged())

    def drain(self) -> PendingChanges:
        """Take everything buffered so far (on the app's thread)."""
        with self._lock:
            pending, self._pending = self._pending, PendingChanges()
            self._rung = False
        return pending
