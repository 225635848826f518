"""Every process's error events, live, without re-reading the whole log.

Errors live in SQLite (``<home>/tui-backup.db``), written by whichever
process records or resolves them: the daemon, a CLI command, another TUI. A
process that shows them learns of the changes like this:

* **Notice.** The watcher (``watcher.py``) also watches the database file and
  its ``-wal`` file (a commit in WAL mode always writes the ``-wal``; a
  checkpoint writes the main file) and calls :meth:`ErrorFeed.poke`. Our own
  writes poke too (``Database`` listeners are not needed: the watcher sees
  them like anyone else's). Watching the files the database already writes
  needs nothing from writers: any version of tui-backup, even the ``sqlite3``
  shell, is seen. Polling mode stats the same files once a second.
* **Read only what is new.** A poke runs :meth:`ErrorFeed.sync`: events with an
  id above the last one seen (ids grow in commit order), then resolutions at
  or after the newest ``resolved_at`` seen. New events another process
  recorded go out as :class:`ErrorRecorded` (``elsewhere=True``; this
  process's own were announced when recorded: ``Database.recorded_here``),
  resolutions as :class:`ErrorResolved`, and the counts as
  :class:`ErrorCounts` whenever they change.
* **Safety net.** Every ``reconcile_interval`` seconds (and after each sync)
  the cheap marks (largest id, unresolved count: indexed) are compared with
  what the feed believes. An unresolved count that disagrees (a resolution
  stamped by a host whose clock is behind ours) triggers one diff of the
  unresolved ids; a largest id that went backwards (the database was replaced)
  or a flood of new events sends :class:`ErrorLogReset`, and subscribers read
  the log once.

Everything here runs on the feed's own thread; ``publish`` hands events to the
manager's consumer, which delivers them in order with everything else.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from tui_backup.core.errors import log_failure
from tui_backup.core.events import (
    ErrorCounts,
    ErrorLogReset,
    ErrorRecorded,
    ErrorResolved,
    ManagerEvent,
)
from tui_backup.model.records import ErrorEvent
from tui_backup.store.db import Database

log = logging.getLogger(__name__)

RECONCILE_INTERVAL = 30.0
"""Seconds between safety-net checks when nothing pokes the feed."""
BATCH = 500
FLOOD = 200
"""More new events than this in one sync: one reset instead of that many events."""

Publish = Callable[[ManagerEvent], None]


class ErrorFeed:
    """Turns database changes into error events for this process's subscribers."""

    def __init__(
        self,
        db: Database,
        publish: Publish,
        *,
        reconcile_interval: float = RECONCILE_INTERVAL,
    ) -> None:
        self.db = db
        self.publish = publish
        self.reconcile_interval = reconcile_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = False
        self._last_id = 0
        self._watermark: datetime | None = None
        self._unresolved: set[int] = set()
        self._counts: ErrorCounts | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tui-backup-error-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None

    def poke(self) -> None:
        """The database files changed (any thread): look soon."""
        self._wake.set()

    def _run(self) -> None:
        poked = True
        while not self._stop.is_set():
            try:
                if poked:
                    self.sync()
                else:
                    self.reconcile_now()
            except Exception as exc:  # noqa: BLE001 - logged by log_failure (traceback unless a store error)
                log_failure(log, "the error feed failed; trying again", exc)
            poked = self._wake.wait(self.reconcile_interval)
            self._wake.clear()

    # -- reading -----------------------------------------------------------------

    def baseline(self) -> bool:
        """Start from the log as it is now: nothing old is announced again.

        Subscribers may have read the log before this point: the reset tells
        them to read it once more, so nothing between their read and ours is lost.
        """
        marks = self.db.error_marks()
        ids = self.db.unresolved_ids()
        newest = self.db.last_resolution()
        if marks is None or ids is None or newest is False:
            return False
        self._last_id = marks.max_id
        self._unresolved = {i for i in ids if i <= marks.max_id}
        self._watermark = newest if isinstance(newest, datetime) else None
        self._ready = True
        self.publish(ErrorLogReset("started watching the error log"))
        self._publish_counts(marks.unresolved, marks.total, force=True)
        return True

    def sync(self) -> None:
        """Announce what changed since the last sync (feed thread, or a test)."""
        if not self._ready:
            self.baseline()
            return
        marks = self.db.error_marks()
        if marks is None:
            return  # unreadable now; the marks stay, the next poke or reconcile retries
        if marks.max_id < self._last_id:
            self._ready = False
            self.publish(ErrorLogReset("the database was replaced"))
            self.baseline()
            return
        if marks.max_id - self._last_id > FLOOD:
            self._ready = False
            self.publish(ErrorLogReset(f"{marks.max_id - self._last_id} new error events"))
            self.baseline()
            return
        if not self._new_events() or not self._resolutions():
            return
        if marks.unresolved != len(self._unresolved):
            marks = self.db.error_marks()  # new writes may have landed meanwhile
            if marks is not None and marks.unresolved != len(self._unresolved):
                self._diff_unresolved()
        if marks is not None:
            self._publish_counts(marks.unresolved, marks.total)

    def _new_events(self) -> bool:
        while True:
            events = self.db.events_after(self._last_id, BATCH)
            if events is None:
                return False
            for event in events:
                self._take_new(event)
            if len(events) < BATCH:
                return True

    def _take_new(self, event: ErrorEvent) -> None:
        assert event.id is not None
        self._last_id = max(self._last_id, event.id)
        if event.resolved:
            # Recorded and resolved between two looks: no alarm, only its final state.
            self._note_resolution(event)
            self.publish(ErrorResolved(event))
            return
        self._unresolved.add(event.id)
        if not self.db.recorded_here(event.id):
            self.publish(ErrorRecorded(event, elsewhere=True))

    def _resolutions(self) -> bool:
        events = self.db.resolved_since(self._watermark, BATCH)
        if events is None:
            return False
        for event in events:
            self._note_resolution(event)
            if event.id in self._unresolved:
                self._unresolved.discard(event.id)
                self.publish(ErrorResolved(event))
        return True

    def _note_resolution(self, event: ErrorEvent) -> None:
        if event.resolved_at is not None and (
            self._watermark is None or event.resolved_at > self._watermark
        ):
            self._watermark = event.resolved_at

    def _diff_unresolved(self) -> None:
        """The counts disagree: compare the unresolved ids (rare; the safety net)."""
        ids = self.db.unresolved_ids()
        if ids is None:
            return
        gone = sorted(self._unresolved - ids)
        appeared = ids - self._unresolved
        self._unresolved = {i for i in ids if i <= self._last_id}
        if len(gone) > FLOOD:
            self.publish(ErrorLogReset(f"{len(gone)} error events resolved"))
            return
        for start in range(0, len(gone), BATCH):
            events = self.db.errors_by_id(gone[start : start + BATCH])
            for event in events or ():
                self._note_resolution(event)
                self.publish(ErrorResolved(event))
        if appeared:
            log.debug("error feed: %d unresolved events seen only by the diff", len(appeared))

    def _publish_counts(self, unresolved: int, total: int, *, force: bool = False) -> None:
        counts = ErrorCounts(unresolved, total)
        if force or counts != self._counts:
            self._counts = counts
            self.publish(counts)

    def reconcile_now(self) -> None:
        """Publish the counts even when unchanged (the periodic safety net)."""
        self._counts = None
        self.sync()
