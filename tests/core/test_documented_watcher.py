"""The watcher says when the home cannot be read, and when it can again (docs/usage.md:
red ``● home unreachable``; docs/operations.md: polling once a second, "and says so").

The home is made unreadable for real: its ``jobs/`` directory is removed (what a
lost mount looks like to a reader), then put back.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

from tui_backup.core.events import WatchChanged
from tui_backup.core.watcher import Watcher
from tui_backup.store.paths import Home


def _modes(statuses: list[WatchChanged]) -> list[str]:
    return [str(s.mode) for s in list(statuses)]


def _wait(check, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.02)


def _lose_and_restore(home: Home, tmp_path: Path, watcher: Watcher, statuses: list) -> None:  # type: ignore[type-arg]
    away = tmp_path / "jobs-away"
    shutil.copytree(home.jobs_dir, away)
    shutil.rmtree(home.jobs_dir)
    try:
        _wait(lambda: "unreachable" in _modes(statuses))
        unreachable = next(s for s in statuses if str(s.mode) == "unreachable")
        assert str(home.root) in unreachable.detail, unreachable
    finally:
        shutil.copytree(away, home.jobs_dir)
    _wait(lambda: _modes(statuses)[-1] != "unreachable")


def test_polling_says_unreachable_then_readable_again(home: Home, tmp_path: Path) -> None:
    statuses: list[WatchChanged] = []
    home.job_file("docs").write_text("name: docs\n")
    watcher = Watcher(home, lambda *a: None, statuses.append, force_polling=True, poll_interval=0.1)
    watcher.start()
    try:
        _wait(lambda: _modes(statuses) == ["polling"])
        _lose_and_restore(home, tmp_path, watcher, statuses)
    finally:
        watcher.stop()
    assert _modes(statuses) == ["polling", "unreachable", "polling"], statuses
    assert statuses[-1].detail == "the home is readable again"


def test_live_watching_says_unreachable_too(home: Home, tmp_path: Path) -> None:
    statuses: list[WatchChanged] = []
    watcher = Watcher(home, lambda *a: None, statuses.append)
    watcher.start()
    seen = threading.Event()
    try:
        _wait(lambda: _modes(statuses)[:1] == ["live"])
        seen.set()
        _lose_and_restore(home, tmp_path, watcher, statuses)
    finally:
        watcher.stop()
    assert seen.is_set()
