"""Runs through the manager with the controllable engine: lifecycle, stop, retry, hooks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from corehelpers import Recorder, add_job
from testengine import Plan

from tui_backup.core.errors import AlreadyRunning, NotRunning
from tui_backup.core.events import ErrorRecorded, JobsChanged, RunFinished
from tui_backup.core.manager import JobManager
from tui_backup.model.status import Status
from tui_backup.store.paths import Home


def test_run_succeeds_and_is_recorded(manager: JobManager, tmp_path: Path, home: Home) -> None:
    add_job(manager, tmp_path, "docs")
    run_id = manager.start("docs")
    record = manager.wait("docs", timeout=10)
    assert record is not None and record.run_id == run_id
    assert record.status == Status.SUCCEEDED
    assert record.files == 3 and record.snapshot_id == "snap-1"
    state = manager.state("docs")
    assert state.status == Status.SUCCEEDED
    assert state.last_success is not None and state.last_result is not None
    assert [r.run_id for r in manager.history("docs")] == [run_id]
    assert not manager.running_here()
    # The lock was released: a second run can start at once.
    manager.start("docs")
    assert manager.wait("docs", timeout=10).status == Status.SUCCEEDED  # type: ignore[union-attr]


def test_second_start_is_refused_while_running(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs")
    plan["docs"].gate = threading.Event()
    manager.start("docs")
    assert manager.is_local("docs")
    with pytest.raises(AlreadyRunning):
        manager.start("docs")
    plan["docs"].gate.set()
    assert manager.wait("docs", timeout=10).status == Status.SUCCEEDED  # type: ignore[union-attr]


def test_second_manager_sees_lock(make_manager, plan: Plan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = make_manager()
    b = make_manager()
    add_job(a, tmp_path, "docs")
    plan["docs"].gate = threading.Event()
    a.start("docs")
    with pytest.raises(AlreadyRunning):
        b.start("docs")
    assert b.state("docs").status == Status.RUNNING
    assert not b.is_local("docs")
    b.stop("docs")  # writes the stop request; a's consumer sees it within a second
    record = a.wait("docs", timeout=5)
    assert record is not None and record.status == Status.STOPPED
    assert "stopped by request" in (record.error or "")
    assert not b.home.stop_file("docs").exists()


def test_stop_local_run(manager: JobManager, plan: Plan, tmp_path: Path) -> None:
    add_job(manager, tmp_path, "docs")
    plan["docs"].gate = threading.Event()
    manager.start("docs")
    plan["docs"].started.wait(5)
    manager.stop("docs")
    record = manager.wait("docs", timeout=5)
    assert record is not None and record.status == Status.STOPPED
    assert manager.state("docs").status == Status.STOPPED
    with pytest.raises(NotRunning):
        manager.stop("docs")


def test_failure_records_error_event(manager: JobManager, plan: Plan, tmp_path: Path) -> None:
    add_job(manager, tmp_path, "docs")
    plan["docs"].fail = True
    manager.start("docs")
    record = manager.wait("docs", timeout=10)
    assert record is not None and record.status == Status.FAILED
    events = manager.errors(job="docs")
    assert len(events) == 1
    assert events[0].component == "engine:snapshot" and events[0].error_type == "disk_full"


def test_transient_failures_are_retried(manager: JobManager, plan: Plan, tmp_path: Path) -> None:
    add_job(manager, tmp_path, "docs", retries=2)
    plan["docs"].transient_failures = 2
    manager.start("docs")
    record = manager.wait("docs", timeout=10)
    assert record is not None and record.status == Status.SUCCEEDED
    assert plan["docs"].attempts == 3


def test_retries_are_bounded(manager: JobManager, plan: Plan, tmp_path: Path) -> None:
    add_job(manager, tmp_path, "docs", retries=1)
    plan["docs"].transient_failures = 5
    manager.start("docs")
    record = manager.wait("docs", timeout=10)
    assert record is not None and record.status == Status.FAILED
    assert plan["docs"].attempts == 2
    assert "after 2 attempts" in (record.error or "")


def test_subscriber_sees_ordered_updates(manager: JobManager, plan: Plan, tmp_path: Path) -> None:
    add_job(manager, tmp_path, "docs")
    plan["docs"].warnings = 1
    rec = Recorder()
    manager.subscribe(rec)
    manager.start("docs")
    rec.wait_for(lambda e: isinstance(e, RunFinished))
    statuses = [
        v.status
        for e in rec.events
        if isinstance(e, JobsChanged)
        for v in e.views
        if v.name == "docs"
    ]
    # queued is skipped when a slot is free; running then succeeded, never back.
    assert statuses[0] == Status.RUNNING
    assert statuses[-1] == Status.SUCCEEDED
    assert Status.SUCCEEDED not in statuses[:-1]


def test_retention_applied_after_success(manager: JobManager, plan: Plan, tmp_path: Path) -> None:
    add_job(manager, tmp_path, "docs", retention={"keep_last": 2})
    manager.start("docs")
    assert manager.wait("docs", timeout=10).status == Status.SUCCEEDED  # type: ignore[union-attr]
    assert plan.forgets == ["docs"]


def test_failed_run_error_event_reaches_subscriber(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs")
    plan["docs"].fail = True
    rec = Recorder()
    manager.subscribe(rec)
    manager.start("docs")
    event = rec.wait_for(lambda e: isinstance(e, ErrorRecorded))
    assert event.event.job_name == "docs"  # type: ignore[union-attr]


def test_runs_go_on_while_sqlite_is_unavailable(
    make_manager,
    plan: Plan,
    tmp_path: Path,
    home: Home,  # type: ignore[no-untyped-def]
) -> None:
    home.db_path.mkdir()  # a directory where the database should be: SQLite cannot open it
    manager: JobManager = make_manager()
    add_job(manager, tmp_path, "docs")
    plan["docs"].fail = True
    manager.start("docs")
    failed = manager.wait("docs", timeout=10)
    plan["docs"].fail = False
    manager.start("docs")
    record = manager.wait("docs", timeout=10)
    assert failed is not None and failed.status == Status.FAILED
    assert record is not None and record.status == Status.SUCCEEDED
    assert manager.db.degraded
    assert [r.status for r in manager.history("docs")] == [Status.SUCCEEDED, Status.FAILED]
    assert [e.error_type for e in manager.errors(job="docs")] == ["disk_full"]
    assert manager.state("docs").status == Status.SUCCEEDED
    assert manager.health().status == "degraded"


def test_stop_racing_the_end_keeps_the_final_state(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs")
    for _ in range(30):
        manager.start("docs")
        try:
            manager.stop("docs")  # may land before, during or after the run's end
        except NotRunning:
            pass
        record = manager.wait("docs", timeout=10)
        assert record is not None
        manager.drain_events()
        state = manager.state("docs")
        assert state.status == record.status, (state.status, record.status)
        assert not state.status.is_active
