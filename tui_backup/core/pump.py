"""The event pump: one thread, one queue, coalesced delivery to subscribers.

Everything that changes what subscribers see passes through one queue and is
handled on one thread, so every subscriber sees events in the order they
happened. The pump knows nothing of jobs or runs: it hands each message it
does not own to ``handle`` (the run tracker, ``runs.py``) on its thread, runs
the periodic ``chores`` it was given, and calls ``deliver`` with what was
queued for subscribers.

Coalescing: job views are keyed by job name and replaced by newer ones of
the same status (progress), never across a status change: a job that went
queued -> running -> succeeded within one interval appears three times, in
that order, in one ``JobsChanged``. Deliveries are spaced at least
``1 / max_rate`` seconds apart. A failing chore is logged and retried next
time; it never stops delivery (seen for real: a full disk froze every screen).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tui_backup.core.errors import log_failure
from tui_backup.core.events import JobsChanged, JobsRemoved, ManagerEvent
from tui_backup.core.views import JobView

log = logging.getLogger(__name__)

THREAD_NAME = "tui-backup-events"
IDLE_WAIT = 0.5
"""Longest sleep of the pump when nothing is queued."""
BUSY_WAIT = 0.25
"""Longest sleep while ``busy()`` (local runs: state writes and stop requests are due)."""

Handler = Callable[[object], None]
"""Handles, on the pump's thread, a message the pump does not own."""
Deliver = Callable[[ManagerEvent], None]
"""Calls every subscriber with one event (on the pump's thread)."""


@dataclass(frozen=True, slots=True)
class Chore:
    """Periodic housekeeping on the pump's thread (``every`` 0: on every pass)."""

    what: str
    every: float
    step: Callable[[], object]


@dataclass(frozen=True, slots=True)
class PublishEvent:
    """An event for subscribers, queued in order behind what was posted before it."""

    event: ManagerEvent


@dataclass(frozen=True, slots=True)
class DrainRequest:
    """Deliver everything queued so far, then set ``done`` (a CLI about to exit)."""

    done: threading.Event


_STOP = object()


class EventPump:
    """The queue and thread behind every subscriber (see the module docstring)."""

    def __init__(
        self,
        handle: Handler,
        deliver: Deliver,
        *,
        max_rate: float = 10.0,
        chores: Sequence[Chore] = (),
        wanted: Callable[[], bool] = lambda: True,
        busy: Callable[[], bool] = lambda: False,
        settle: Callable[[], object] = lambda: None,
    ) -> None:
        self._handle = handle
        self._deliver = deliver
        self._wanted = wanted
        """False while nobody subscribes: views and events are then not kept."""
        self._busy = busy
        self._settle = settle
        """Write out whatever is pending (run state), before a forced delivery."""
        self._chores = tuple(chores)
        self._last_chore = [0.0] * len(self._chores)
        self.min_gap = 1.0 / max_rate
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._views: list[JobView] = []
        self._view_pos: dict[str, int] = {}
        self._events: list[ManagerEvent] = []
        self._last_flush = 0.0

    # -- thread --------------------------------------------------------------

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def start(self) -> None:
        """Start the thread unless it runs (idempotent, thread-safe)."""
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=THREAD_NAME, daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Handle what is queued, deliver it, and end the thread."""
        with self._start_lock:
            thread = self._thread
            if thread is None:
                return
            self._queue.put(_STOP)
        if thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def on_pump_thread(self) -> bool:
        return threading.current_thread() is self._thread

    # -- input (any thread) ----------------------------------------------------

    def post(self, message: object) -> None:
        """Queue a message for ``handle`` (or a PublishEvent / DrainRequest)."""
        self._queue.put(message)

    def publish(self, event: ManagerEvent) -> None:
        """Queue ``event`` for subscribers, in order with everything else.

        On the pump's thread it joins the batch at once; from another thread
        it goes through the queue.
        """
        if not self._wanted():
            return
        if self.on_pump_thread():
            self.queue_event(event)
        else:
            self.start()
            self.post(PublishEvent(event))

    def drain(self, timeout: float) -> bool:
        """Block until everything queued so far is delivered; False on timeout.

        Never from the pump's own thread (a subscriber), which would wait on itself.
        """
        if self._thread is None or self.on_pump_thread():
            return False
        done = threading.Event()
        self.post(DrainRequest(done))
        return done.wait(timeout)

    # -- output (pump thread) --------------------------------------------------

    def queue_view(self, view: JobView) -> None:
        """Queue ``view``; replaces a queued one of the same job unless its status differs."""
        if not self._wanted():
            return
        pos = self._view_pos.get(view.name)
        if pos is not None and self._views[pos].status == view.status:
            self._views[pos] = view
            return
        self._view_pos[view.name] = len(self._views)
        self._views.append(view)

    def queue_event(self, event: ManagerEvent) -> None:
        if not self._wanted():
            return
        if isinstance(event, JobsChanged):
            for view in event.views:
                self.queue_view(view)
            return
        if isinstance(event, JobsRemoved):
            # Updates queued for a removed job must not resurrect its card.
            kept = [v for v in self._views if v.name not in event.names]
            if len(kept) != len(self._views):
                self._views = kept
                self._view_pos = {v.name: i for i, v in enumerate(kept)}
        self._events.append(event)

    # -- loop ----------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            try:
                message = self._queue.get(timeout=self._next_timeout())
            except queue.Empty:
                message = None
            if message is _STOP:
                self._finish()
                return
            if message is not None:
                self._take(message)
                # Take what else is waiting before writing files or notifying.
                for _ in range(1000):
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is _STOP:
                        self._finish()
                        return
                    self._take(more)
            self._run_chores()
            self._flush()

    def _finish(self) -> None:
        while True:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is not _STOP:
                self._take(more)
        self._settle_safely()
        self._flush(force=True)

    def _next_timeout(self) -> float:
        waits = [IDLE_WAIT]
        if self._views or self._events:
            waits.append(self._last_flush + self.min_gap - time.monotonic())
        if self._busy():
            waits.append(BUSY_WAIT)
        return max(0.0, min(waits))

    def _take(self, message: object) -> None:
        try:
            if isinstance(message, PublishEvent):
                self.queue_event(message.event)
            elif isinstance(message, DrainRequest):
                self._settle_safely()
                self._flush(force=True)
                message.done.set()
            else:
                self._handle(message)
        except Exception as exc:  # noqa: BLE001 - logged by log_failure (traceback unless a store error)
            log_failure(log, f"the event pump could not handle {type(message).__name__}", exc)

    def _run_chores(self) -> None:
        now = time.monotonic()
        for i, chore in enumerate(self._chores):
            if now - self._last_chore[i] < chore.every:
                continue
            self._last_chore[i] = now
            try:
                chore.step()
            except Exception as exc:  # noqa: BLE001 - logged by log_failure (traceback unless a store error)
                log_failure(log, f"the event pump failed {chore.what}; will retry", exc)

    def _settle_safely(self) -> None:
        try:
            self._settle()
        except Exception as exc:  # noqa: BLE001 - logged by log_failure (traceback unless a store error)
            log_failure(log, "the event pump could not write out what was pending", exc)

    def _flush(self, force: bool = False) -> None:
        if not self._views and not self._events:
            return
        now = time.monotonic()
        if not force and now - self._last_flush < self.min_gap:
            return
        self._last_flush = now
        views, self._views, self._view_pos = self._views, [], {}
        events, self._events = self._events, []
        if views:
            self._deliver(JobsChanged(tuple(views)))
        for event in events:
            self._deliver(event)
