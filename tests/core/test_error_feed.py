"""Error events recorded or resolved by other processes reach this process's subscribers.

Real processes write the database (a Python subprocess records, the CLI
resolves); the manager's watcher notices the database change and the error
feed publishes only what is new. The feed's safety net (counts that disagree,
a replaced database) is driven directly through ``sync()``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from tui_backup.core.error_feed import ErrorFeed
from tui_backup.core.events import (
    ErrorCounts,
    ErrorLogReset,
    ErrorRecorded,
    ErrorResolved,
    ManagerEvent,
)
from tui_backup.core.manager import JobManager
from tui_backup.model.clock import utcnow
from tui_backup.model.records import ErrorEvent
from tui_backup.model.status import Severity
from tui_backup.store.db import Database
from tui_backup.store.paths import HOME_ENV, Home

RECORD = """
import sys
from tui_backup.model.records import ErrorEvent
from tui_backup.model.status import Severity
from tui_backup.store.db import Database
from tui_backup.store.paths import Home
from pathlib import Path
home = Home(Path(sys.argv[1]))
db = Database(home.db_path, home.fallback_log)
e = db.record_error(ErrorEvent(Severity.HIGH, "verify", "verify_damaged", sys.argv[2], "docs"))
print(e.id)
"""


def record_elsewhere(home: Home, message: str) -> int:
    """Record one HIGH error from another process; its id."""
    out = subprocess.run(
        [sys.executable, "-c", RECORD, str(home.root), message],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(out.stdout.strip())


def resolve_with_cli(home: Home, event_id: int) -> None:
    import os

    env = dict(os.environ)
    env[HOME_ENV] = str(home.root)
    r = subprocess.run(
        [sys.executable, "-m", "tui_backup", "errors", "resolve", str(event_id)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr


class Seen:
    """A subscriber that keeps every event, and waits for one that matches."""

    def __init__(self) -> None:
        self.events: list[ManagerEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: ManagerEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, match: Callable[[ManagerEvent], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not any(match(e) for e in self.events):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching event; saw {self.events!r}")
                self._cond.wait(left)

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        with self._cond:
            return [e for e in self.events if isinstance(e, kind)]


def counts(unresolved: int, total: int) -> Callable[[ManagerEvent], bool]:
    return lambda e: e == ErrorCounts(unresolved, total)


def test_errors_recorded_and_resolved_elsewhere_arrive(
    home: Home, make_manager: Callable[..., JobManager]
) -> None:
    manager = make_manager()
    seen = Seen()
    manager.subscribe(seen)
    manager.start_watching()
    seen.wait_for(counts(0, 0))

    event_id = record_elsewhere(home, "docs: snapshot damaged")
    seen.wait_for(lambda e: isinstance(e, ErrorRecorded) and e.event.id == event_id and e.elsewhere)
    seen.wait_for(counts(1, 1))
    (recorded,) = [e for e in seen.of(ErrorRecorded) if e.event.id == event_id]
    assert recorded.event.message == "docs: snapshot damaged"
    assert recorded.event.severity is Severity.HIGH

    resolve_with_cli(home, event_id)
    seen.wait_for(lambda e: isinstance(e, ErrorResolved) and e.event.id == event_id)
    seen.wait_for(counts(0, 1))
    (resolved,) = seen.of(ErrorResolved)
    assert resolved.event.resolved and resolved.event.resolved_at is not None
    # Nothing was announced twice.
    assert [e.event.id for e in seen.of(ErrorRecorded)] == [event_id]


def test_own_errors_are_announced_once_and_counted(
    home: Home, make_manager: Callable[..., JobManager]
) -> None:
    manager = make_manager()
    seen = Seen()
    manager.subscribe(seen)
    manager.start_watching()
    seen.wait_for(counts(0, 0))
    stored = manager.record_error(ErrorEvent(Severity.MEDIUM, "jobs", "x", "here", None))
    seen.wait_for(counts(1, 1))  # the feed has read the new row
    manager.resolve_error(stored.id or 0)
    seen.wait_for(counts(0, 1))
    assert manager.drain_events()
    ours = [e for e in seen.of(ErrorRecorded) if e.event.id == stored.id]
    assert len(ours) == 1 and not ours[0].elsewhere
    assert [e.event.id for e in seen.of(ErrorResolved)] == [stored.id]


def _feed(home: Home) -> tuple[ErrorFeed, list[ManagerEvent], Database]:
    mine = Database(home.db_path, home.fallback_log)
    published: list[ManagerEvent] = []
    feed = ErrorFeed(mine, published.append)
    assert feed.baseline()
    other = Database(home.db_path, home.fallback_log)
    return feed, published, other


def test_a_resolution_stamped_in_the_past_is_found_by_the_counts(home: Home) -> None:
    """Another host's clock is behind: its resolved_at is older than our watermark."""
    feed, published, other = _feed(home)
    a = other.record_error(ErrorEvent(Severity.HIGH, "verify", "x", "a", "docs"))
    b = other.record_error(ErrorEvent(Severity.HIGH, "verify", "x", "b", "docs"))
    assert other.resolve(a.id or 0, utcnow())
    feed.sync()
    published.clear()
    assert b.id is not None and other.resolve(b.id, utcnow() - timedelta(hours=1))
    feed.sync()
    assert [e.event.id for e in published if isinstance(e, ErrorResolved)] == [b.id]
    assert published[-1] == ErrorCounts(0, 2)


def test_a_replaced_database_resets_the_log(home: Home) -> None:
    feed, published, other = _feed(home)
    for i in range(3):
        other.record_error(ErrorEvent(Severity.LOW, "jobs", "x", f"e{i}", None))
    feed.sync()
    other.close()
    feed.db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(home.db_path) + suffix).unlink(missing_ok=True)
    fresh = Database(home.db_path, home.fallback_log)
    fresh.record_error(ErrorEvent(Severity.LOW, "jobs", "x", "new", None))
    published.clear()
    feed.sync()
    assert isinstance(published[0], ErrorLogReset)
    assert published[-1] == ErrorCounts(1, 1)
    assert not any(isinstance(e, ErrorRecorded) for e in published)


def test_a_flood_is_one_reset_not_a_thousand_events(home: Home) -> None:
    feed, published, other = _feed(home)
    for i in range(250):
        other.record_error(ErrorEvent(Severity.LOW, "jobs", "x", f"e{i}", None))
    published.clear()
    feed.sync()
    assert not any(isinstance(e, ErrorRecorded) for e in published)
    assert any(isinstance(e, ErrorLogReset) for e in published)
    assert published[-1] == ErrorCounts(250, 250)


def test_polling_mode_notices_database_writes(home: Home) -> None:
    """Where file notifications do not work, the poll stats the database files too."""
    from tui_backup.core.watcher import Watcher

    db = Database(home.db_path, home.fallback_log)
    db.record_error(ErrorEvent(Severity.LOW, "jobs", "x", "before", None))
    noticed = threading.Event()
    watcher = Watcher(
        home,
        on_change=lambda _names, _jobs: None,
        on_status=lambda _status: None,
        force_polling=True,
        poll_interval=0.05,
        on_database=noticed.set,
    )
    watcher.start()
    try:
        # A write before the poll's first look is its baseline: write again until seen.
        deadline = time.monotonic() + 20
        while not noticed.is_set():
            assert time.monotonic() < deadline, "the poll never noticed a database write"
            record_elsewhere(home, "written while polling")
            noticed.wait(2)
    finally:
        watcher.stop()
