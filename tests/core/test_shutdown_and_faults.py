"""Issue 12's core findings: a clean daemon shutdown, history rows that never stay
``running``, a full home that never blocks a backup, and locks only for runs."""

from __future__ import annotations

import errno
import threading
from datetime import datetime
from pathlib import Path

import pytest
from corehelpers import add_job
from testengine import Plan

from tui_backup.core.errors import AlreadyRunning
from tui_backup.core.manager import JobManager
from tui_backup.core.scheduler import Scheduler
from tui_backup.core.vocabulary import Trigger
from tui_backup.model.clock import utcnow
from tui_backup.model.records import RunRecord
from tui_backup.model.state import JobState, LastResult
from tui_backup.model.status import Status
from tui_backup.store.locking import file_lock
from tui_backup.store.paths import Home
from tui_backup.store.state import StateStore


class FakeClock:
    def __init__(self, when: datetime) -> None:
        self.now = when

    def __call__(self) -> datetime:
        return self.now


def _local(h: int, mi: int = 0, s: int = 0) -> datetime:
    return datetime(2026, 1, 10, h, mi, s).astimezone()


def test_a_scheduler_ticking_through_shutdown_starts_and_records_nothing(
    make_manager,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    manager: JobManager = make_manager()
    for name in ("a", "b", "c"):
        add_job(manager, tmp_path, name, schedule="0 2 * * *")
    clock = FakeClock(_local(1, 59))
    sched = Scheduler(manager, clock=clock)
    assert sched.tick() == []
    manager.shutdown()
    clock.now = _local(2, 0, 5)
    assert sched.tick() == []  # a tick that was under way when the daemon stopped
    after: JobManager = make_manager()
    kinds = [e.error_type for e in after.errors(limit=1000)]
    assert "schedule_start_failed" not in kinds


def test_shutdown_stops_queued_runs_as_stopped_with_their_trigger(
    make_manager,
    plan: Plan,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    manager: JobManager = make_manager()
    manager.set_max_concurrent_jobs(1)
    for name in ("busy", "q1", "q2", "q3"):
        add_job(manager, tmp_path, name)
    plan["busy"].gate = threading.Event()
    manager.start("busy")
    assert plan["busy"].started.wait(10)
    for name in ("q1", "q2", "q3"):
        manager.start(name, trigger=Trigger.CATCH_UP)
        assert manager.state(name).status == Status.QUEUED
    manager.shutdown(timeout=20)
    after: JobManager = make_manager()
    for name in ("q1", "q2", "q3"):
        assert after.state(name).status == Status.STOPPED
        rows = after.history(name)
        assert [(r.status, r.trigger) for r in rows] in ([], [(Status.STOPPED, "catch-up")])
    assert after.state("busy").status == Status.STOPPED
    assert not [e for e in after.errors(limit=1000) if e.error_type == "run_interrupted"]


def test_a_kill_between_final_state_and_history_leaves_no_running_row(
    make_manager,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    setup: JobManager = make_manager(recover=False)
    add_job(setup, tmp_path, "docs")
    add_job(setup, tmp_path, "lost")
    started = utcnow()
    for name, run_id in (("docs", "r-done"), ("lost", "r-lost")):
        setup.db.record_run(
            RunRecord(run_id, name, started, Status.RUNNING, host="h", pid=1, trigger="schedule")
        )
    # docs: the final state was written (succeeded), then the runner was killed.
    setup.states.write(
        JobState(
            "docs",
            Status.SUCCEEDED,
            run_id="r-done",
            last_result=LastResult(
                Status.SUCCEEDED, started, utcnow(), files=3, bytes=30, run_id="r-done"
            ),
            last_success=utcnow(),
        )
    )
    # lost: the state never heard of the run (killed before its first state write).
    setup.states.write(JobState("lost", Status.IDLE))
    after: JobManager = make_manager()  # start-up settles the rows
    (done,) = after.history("docs")
    assert (done.status, done.files, done.trigger) == (Status.SUCCEEDED, 3, "schedule")
    (lost,) = after.history("lost")
    assert lost.status == Status.INTERRUPTED and lost.finished_at is not None


def test_a_full_home_never_blocks_a_backup(
    make_manager,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    # A mock: filling a real filesystem needs a mount this test cannot make
    # (tests/faults has the tmpfs variant). Every state write fails as on a full disk.
    manager: JobManager = make_manager()
    add_job(manager, tmp_path, "docs")

    def full(self: StateStore, state: JobState) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(StateStore, "write", full)
    manager.start("docs")
    record = manager.wait("docs", timeout=20)
    assert record is not None and record.status == Status.SUCCEEDED
    events = [e for e in manager.errors(job="docs") if e.error_type == "state_write_failed"]
    assert events and all("is full" in e.message for e in events)


def test_a_held_state_lock_is_a_clear_error_not_a_traceback(
    manager: JobManager,
    home: Home,
    tmp_path: Path,
) -> None:
    add_job(manager, tmp_path, "docs")
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with file_lock(home.write_lock("state", "docs"), 5.0, what="test"):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        manager.start("docs")  # the state lock times out: the run goes on regardless
    finally:
        release.set()
        holder.join()
    record = manager.wait("docs", timeout=30)
    assert record is not None and record.status == Status.SUCCEEDED
    events = [e for e in manager.errors(job="docs") if e.error_type == "state_write_failed"]
    assert events, "the lock timeout was not recorded"


def _open_lock_files(home: Home) -> list[str]:
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = fd.readlink()
        except OSError:
            continue
        if target.parent == home.locks_dir and target.name.endswith(".lock"):
            found.append(target.name)
    return sorted(found)


def test_queued_runs_hold_no_lock_file_yet_stay_theirs(
    make_manager,
    plan: Plan,
    home: Home,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    manager: JobManager = make_manager()
    manager.set_max_concurrent_jobs(1)
    names = [f"q{i}" for i in range(5)]
    for name in ("busy", *names):
        add_job(manager, tmp_path, name)
    plan["busy"].gate = threading.Event()
    manager.start("busy")
    for name in names:
        manager.start(name)
    held = _open_lock_files(home)
    assert "busy.lock" in held and not any(f"{n}.lock" in held for n in names), held
    assert len(held) == 2, held  # the running job's lock and this process's one lock
    other: JobManager = make_manager(recover=False)
    assert other.is_running_anywhere("q0")
    with pytest.raises(AlreadyRunning):
        other.start("q0")
    assert other.recover_interrupted() == []  # queued in a live process: not interrupted
    other.stop("q0")  # a stop request reaches a queued run too
    stopped = manager.wait("q0", timeout=10)
    assert stopped is not None and stopped.status == Status.STOPPED
    plan["busy"].gate.set()
    for name in names[1:]:
        record = manager.wait(name, timeout=30)
        assert record is not None and record.status == Status.SUCCEEDED
