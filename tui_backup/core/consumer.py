"""The one consumer thread: every engine event and run transition passes through here.

It is the only writer of the state files of this process's runs and the
only place subscribers are called from, so everything a subscriber sees is
in order. Progress is coalesced per job: the state file is written at most
once a second (at once on a status change) and ``JobsChanged`` goes out at
most ``max_rate`` times a second in total, carrying only the jobs that
changed. A status change is never coalesced away: a job that went
queued -> running -> succeeded within one interval appears three times, in
that order, in the same ``JobsChanged``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui_backup.core.events import JobsChanged, JobsRemoved, ManagerEvent, WarningRaised
from tui_backup.core.runner import (
    EngineMessage,
    RunEnded,
    RunError,
    RunNote,
    RunStarted,
    RunStopping,
)
from tui_backup.core.views import JobView
from tui_backup.engines.events import FileWarning, Progress

if TYPE_CHECKING:
    from tui_backup.core.manager import JobManager

log = logging.getLogger(__name__)

STATE_WRITE_INTERVAL = 1.0
STOP_POLL_INTERVAL = 0.25
"""Stop requests are a stat() per local run: cheap enough to check four times a second."""
LIVENESS_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class Refresh:
    """Files of these jobs changed (seen by the watcher, or after a command)."""

    names: frozenset[str]
    definitions: bool = False
    """True when a job file (not only a state file) changed: the scheduler looks again."""


@dataclass(frozen=True, slots=True)
class Deliver:
    """An event for subscribers, delivered in order with the next batch."""

    event: ManagerEvent


@dataclass(frozen=True, slots=True)
class Call:
    fn: Callable[[], None]


@dataclass(frozen=True, slots=True)
class FlushNow:
    """Deliver everything queued so far, then set ``done`` (for a CLI about to exit)."""

    done: threading.Event


_STOP = object()


class Consumer:
    def __init__(self, manager: JobManager, max_rate: float = 10.0) -> None:
        self.manager = manager
        self.min_gap = 1.0 / max_rate
        self.queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._views: list[JobView] = []
        self._view_pos: dict[str, int] = {}
        self._others: list[ManagerEvent] = []
        self._last_flush = 0.0
        self._last_stop_poll = 0.0
        self._last_liveness = 0.0

    # -- lifecycle -----------------------------------------------------------

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def ensure_started(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="tui-backup-consumer", daemon=True
                )
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._start_lock:
            thread = self._thread
            if thread is None:
                return
            self.queue.put(_STOP)
        if thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def post(self, message: object) -> None:
        self.queue.put(message)

    def on_consumer_thread(self) -> bool:
        return threading.current_thread() is self._thread

    # -- loop ----------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            timeout = self._next_timeout()
            try:
                message = self.queue.get(timeout=timeout)
            except queue.Empty:
                message = None
            if message is _STOP:
                self._drain_and_flush()
                return
            if message is not None:
                self._handle_safely(message)
                # Take what else is waiting before writing files or notifying.
                for _ in range(1000):
                    try:
                        more = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is _STOP:
                        self._drain_and_flush()
                        return
                    self._handle_safely(more)
            self._periodic()

    def _drain_and_flush(self) -> None:
        while True:
            try:
                more = self.queue.get_nowait()
            except queue.Empty:
                break
            if more is not _STOP:
                self._handle_safely(more)
        self._write_dirty(force=True)
        self._flush(force=True)

    def _next_timeout(self) -> float:
        now = time.monotonic()
        waits = [0.5]
        if self._views or self._others:
            waits.append(self._last_flush + self.min_gap - now)
        if self.manager.has_local_runs():
            waits.append(0.25)
        return max(0.0, min(waits))

    def _handle_safely(self, message: object) -> None:
        try:
            self._handle(message)
        except Exception:
            log.exception("the consumer could not handle %r", type(message).__name__)

    def _periodic(self) -> None:
        """Housekeeping, then delivery. A failing step (a full disk, a vanished
        home) is logged and retried next time; it never stops delivery, or the
        screens of every subscriber would silently freeze."""
        now = time.monotonic()
        self._guard("writing run state", self._write_dirty)
        if now - self._last_stop_poll >= STOP_POLL_INTERVAL:
            self._last_stop_poll = now
            self._guard("polling stop requests", self.manager._poll_stop_requests)
        if now - self._last_liveness >= LIVENESS_INTERVAL:
            self._last_liveness = now
            self._guard("checking other processes' runs", self.manager._check_remote_liveness)
        self._flush()

    @staticmethod
    def _guard(what: str, step: Callable[[], object]) -> None:
        try:
            step()
        except Exception:
            log.exception("the consumer failed %s; will retry", what)

    # -- handling ------------------------------------------------------------

    def _handle(self, message: object) -> None:
        m = self.manager
        if isinstance(message, EngineMessage):
            run, event = message.run, message.event
            if isinstance(event, Progress):
                first = run.progress is None or run.progress.phase != event.phase
                run.progress = event
                run.warnings = max(run.warnings, event.warnings)
                run.state_dirty = True
                if first:
                    # Other processes see the first progress and each phase change at
                    # once; the counters in between at most once a second.
                    m._write_run_state(run)
                self.add_view(m._local_view(run))
            elif isinstance(event, FileWarning):
                self.add_other(WarningRaised(run.name, event))
            return
        if isinstance(message, RunStarted):
            m._on_started(message.run)
        elif isinstance(message, RunNote):
            message.run.message = message.message
            message.run.state_dirty = True
            self.add_view(m._local_view(message.run))
        elif isinstance(message, RunStopping):
            m._on_stopping(message.run)
        elif isinstance(message, RunEnded):
            m._on_ended(message.run, message.finished)
        elif isinstance(message, RunError):
            m._record_error_now(message.event)
        elif isinstance(message, Refresh):
            m._on_refresh(message.names, message.definitions)
        elif isinstance(message, Deliver):
            self.add_other(message.event)
        elif isinstance(message, Call):
            message.fn()
        elif isinstance(message, FlushNow):
            self._write_dirty(force=True)
            self._flush(force=True)
            message.done.set()
        else:
            log.warning("unknown consumer message %r", message)

    def _write_dirty(self, force: bool = False) -> None:
        now = time.monotonic()
        for run in self.manager._local_runs():
            if run.state_dirty and (force or now - run.last_state_write >= STATE_WRITE_INTERVAL):
                self.manager._write_run_state(run)

    # -- notifications -------------------------------------------------------

    def add_view(self, view: JobView) -> None:
        """Queue ``view``; replaces a queued one of the same job unless its status differs."""
        if not self.manager.has_subscribers():
            return
        pos = self._view_pos.get(view.name)
        if pos is not None and self._views[pos].status == view.status:
            self._views[pos] = view
            return
        self._view_pos[view.name] = len(self._views)
        self._views.append(view)

    def add_other(self, event: ManagerEvent) -> None:
        if not self.manager.has_subscribers():
            return
        if isinstance(event, JobsRemoved):
            # Updates queued for a removed job must not resurrect its card.
            kept = [v for v in self._views if v.name not in event.names]
            if len(kept) != len(self._views):
                self._views = kept
                self._view_pos = {v.name: i for i, v in enumerate(kept)}
        self._others.append(event)

    def _flush(self, force: bool = False) -> None:
        if not self._views and not self._others:
            return
        now = time.monotonic()
        if not force and now - self._last_flush < self.min_gap:
            return
        self._last_flush = now
        views, self._views, self._view_pos = self._views, [], {}
        others, self._others = self._others, []
        if views:
            self.manager._deliver(JobsChanged(tuple(views)))
        for event in others:
            self.manager._deliver(event)
