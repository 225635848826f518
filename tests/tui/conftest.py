"""Fixtures for the TUI tests: a fixed clock, a seeded home, and the app factory.

Screens must be deterministic for snapshot tests: the clock is fixed, the
time zone is UTC, ``$HOME`` points into the test's tmp dir (so paths show as
``~/...`` whatever the machine), and watchers and the scheduler are off.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from tui_doubles import Gate
from tui_fixtures import FIXED_NOW, AppFactory, fixed_clock, job_data, make_manager
from tui_helpers import record_toasts

from tui_backup.core import coordination
from tui_backup.model.job import parse_job
from tui_backup.model.progress import Progress
from tui_backup.model.records import ErrorEvent, RunRecord
from tui_backup.model.state import JobState, LastResult
from tui_backup.model.status import Severity, Status
from tui_backup.store.paths import Home
from tui_backup.tui.app import BackupApp


@pytest.fixture(autouse=True)
def stable_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """UTC, ``$HOME`` in tmp, no inherited home override."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("TUI_BACKUP_HOME", raising=False)
    time.tzset()
    yield
    time.tzset()


@pytest.fixture
def gates() -> dict[str, Gate]:
    return {}


@pytest.fixture
def tui_home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.ensure()
    return home


@pytest.fixture
def seeded(tui_home: Home, tmp_path: Path) -> Iterator[Home]:
    """Four jobs in every kind of state, two errors, a run history.

    ``web`` is running in "another process": the test holds its run lock so
    the core sees a live runner and does not call it interrupted.
    """
    manager = make_manager(tui_home)
    for data in (
        job_data(tmp_path, "docs", retention={"keep_last": 7}),
        job_data(tmp_path, "laptop"),
        job_data(tmp_path, "photos", schedule="0 2 * * *"),
        job_data(tmp_path, "web", schedule="*/30 * * * *"),
    ):
        manager.create(parse_job(data))
    t = FIXED_NOW
    manager.states.write(
        JobState(
            "docs",
            Status.SUCCEEDED,
            last_result=LastResult(
                Status.SUCCEEDED,
                t - timedelta(hours=2, seconds=3),
                t - timedelta(hours=2),
                files=1204,
                bytes=12_400_000,
            ),
            last_success=t - timedelta(hours=2),
        )
    )
    manager.states.write(
        JobState(
            "laptop",
            Status.FAILED,
            last_result=LastResult(
                Status.FAILED,
                t - timedelta(minutes=5, seconds=1),
                t - timedelta(minutes=5),
                error="source /mnt/laptop does not exist",
            ),
        )
    )
    manager.states.write(
        JobState(
            "web",
            Status.RUNNING,
            run_id="r-web",
            pid=4242,
            host="backup-host",
            runner="daemon",
            started_at=t - timedelta(seconds=20),
            updated_at=t,
            progress=Progress(
                phase="copy",
                files_total=3000,
                files_done=1290,
                bytes_total=98_000_000,
                bytes_done=42_000_000,
                rate=2_100_000.0,
                eta_seconds=27,
                elapsed=20,
            ),
        )
    )
    for i in range(8):
        start = t - timedelta(days=8 - i)
        manager.db.record_run(
            RunRecord(
                run_id=f"docs-{i}",
                job_name="docs",
                started_at=start,
                finished_at=start + timedelta(seconds=3 + (i % 4) * 2),
                status=Status.SUCCEEDED if i != 5 else Status.FAILED,
                files=1200 + i,
                bytes=12_000_000 + i * 50_000,
                error="disk full" if i == 5 else None,
                trigger="schedule",
            )
        )
    manager.db.record_error(
        ErrorEvent(
            Severity.HIGH,
            "engine:snapshot",
            "source_missing",
            "laptop: source /mnt/laptop does not exist",
            job_name="laptop",
            details="checked at the start of the run",
            stack_trace='Traceback (most recent call last):\n  File "engine.py", line 10\n'
            "FileNotFoundError: /mnt/laptop",
            timestamp=t - timedelta(minutes=5),
        )
    )
    manager.db.record_error(
        ErrorEvent(
            Severity.LOW,
            "scheduler",
            "missed_run",
            "photos: a run was missed while the machine slept; ran once at start-up",
            job_name="photos",
            timestamp=t - timedelta(hours=3),
        )
    )
    manager.shutdown()
    lock = coordination.acquire_run_lock(tui_home, "web")
    assert lock is not None
    try:
        yield tui_home
    finally:
        lock.release()


@pytest.fixture
def make_app(gates: dict[str, Gate]) -> Iterator[AppFactory]:
    """Build the app as the snapshot and Pilot tests need it: fixed clock, no watchers."""
    made: list[BackupApp] = []

    def build(home: Home, **kwargs: object) -> BackupApp:
        kwargs.setdefault("watch", False)
        kwargs.setdefault("scheduler", False)
        manager = kwargs.pop("manager", None) or make_manager(home, gates)
        app = BackupApp(home, clock=fixed_clock, manager=manager, **kwargs)  # type: ignore[arg-type]
        record_toasts(app)
        made.append(app)
        return app

    yield build
    for app in made:
        try:
            app.manager.shutdown(stop_running=True, timeout=5)
        except Exception:  # noqa: BLE001 - best effort after a failed test
            pass


def here(*parts: str) -> str:
    return os.path.join(os.path.dirname(__file__), *parts)
