"""``verify.schedule``: the scheduler verifies jobs like it runs them, never beside a run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from corehelpers import add_job
from testengine import Plan

from tui_backup.core.errors import AlreadyRunning
from tui_backup.core.manager import JobManager
from tui_backup.core.scheduler import Scheduler
from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.model.job import parse_job
from tui_backup.model.status import Severity, Status
from tui_backup.store.paths import Home


class FakeClock:
    def __init__(self, when: datetime) -> None:
        self.now = when

    def __call__(self) -> datetime:
        return self.now


def local(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s).astimezone()


def wait_until(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def idle(manager: JobManager) -> Callable[[], bool]:
    return lambda: manager.verifying_here() == ()


VERIFY = {"schedule": "0 4 * * *"}


def test_verify_fires_at_its_slot_once(manager: JobManager, plan: Plan, tmp_path: Path) -> None:
    add_job(manager, tmp_path, "docs", verify={**VERIFY, "deep": True})
    clock = FakeClock(local(2026, 1, 10, 3, 59))
    sched = Scheduler(manager, clock=clock)
    assert sched.tick() == []
    assert sched.next_due(clock.now) == local(2026, 1, 10, 4, 0)
    clock.now = local(2026, 1, 10, 4, 0, 5)
    assert [(a.job, a.action) for a in sched.tick()] == [("docs", "verify-started")]
    wait_until(idle(manager))
    assert plan.verify_calls == [("docs", None, True)]  # every snapshot, deep as configured
    last = manager.state("docs").last_verify
    assert last is not None and last.outcome == "ok" and last.trigger == "schedule"
    clock.now = local(2026, 1, 10, 4, 0, 50)
    assert sched.tick() == []
    assert len(plan.verify_calls) == 1


def test_missed_verify_catches_up_once_or_is_skipped(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs", verify=VERIFY)
    add_job(manager, tmp_path, "lazy", verify=VERIFY, missed="skip")
    clock = FakeClock(local(2026, 1, 10, 3, 0))
    sched = Scheduler(manager, clock=clock)
    sched.tick()
    clock.now = local(2026, 1, 13, 9, 0)  # three slots passed while nothing ran
    actions = {a.job: a.action for a in sched.tick()}
    assert actions == {"docs": "verify-caught-up", "lazy": "verify-skipped-missed"}
    wait_until(idle(manager))
    assert sched.tick() == []
    assert [c[0] for c in plan.verify_calls] == ["docs"]
    assert manager.state("docs").last_verify.trigger == "catch-up"  # type: ignore[union-attr]


def test_verify_is_skipped_while_the_job_runs(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs", verify=VERIFY)
    clock = FakeClock(local(2026, 1, 10, 3, 59))
    sched = Scheduler(manager, clock=clock)
    sched.tick()
    plan["docs"].gate = threading.Event()
    manager.start("docs")
    assert plan["docs"].started.wait(10)
    clock.now = local(2026, 1, 10, 4, 0, 5)
    assert [a.action for a in sched.tick()] == ["verify-skipped-running"]
    plan["docs"].gate.set()
    manager.wait("docs", timeout=10)
    assert plan.verify_calls == []


def test_no_run_starts_while_a_verify_holds_the_job(
    make_manager, plan: Plan, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    manager: JobManager = make_manager()
    add_job(manager, tmp_path, "docs", verify=VERIFY, schedule="0 4 * * *")
    plan.verify_gate = threading.Event()
    clock = FakeClock(local(2026, 1, 10, 3, 59))
    sched = Scheduler(manager, clock=clock)
    sched.tick()
    manager.start_verify("docs")
    assert plan.verify_started.wait(10)
    clock.now = local(2026, 1, 10, 4, 0, 5)
    assert sorted(a.action for a in sched.tick()) == ["skipped-running", "verify-skipped-running"]
    with pytest.raises(AlreadyRunning):
        manager.start("docs")
    other = make_manager()  # another process sees the lock too
    with pytest.raises(AlreadyRunning):
        other.start("docs")
    plan.verify_gate.set()
    wait_until(idle(manager))
    manager.start("docs")
    record = manager.wait("docs", timeout=10)
    assert record is not None and record.status == Status.SUCCEEDED


def test_a_verify_that_cannot_run_is_an_error_but_no_snapshots_yet_is_not(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs", verify=VERIFY)
    plan.verify_error = EngineError("nothing yet", ErrorType.NO_SNAPSHOTS)
    manager.start_verify("docs").join(10)
    assert manager.errors(job="docs") == []
    plan.verify_error = EngineError("host unreachable", ErrorType.DESTINATION_UNREACHABLE)
    manager.start_verify("docs").join(10)
    [event] = manager.errors(job="docs")
    assert event.severity == Severity.MEDIUM and "host unreachable" in event.message
    assert event.component == "verify"


def test_shutdown_stops_a_background_verify(make_manager, plan: Plan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manager: JobManager = make_manager()
    add_job(manager, tmp_path, "docs")
    plan.verify_gate = threading.Event()
    thread = manager.start_verify("docs")
    assert plan.verify_started.wait(10)
    manager.shutdown(timeout=10)
    assert not thread.is_alive()
    assert manager.state("docs").last_verify is None  # a stopped verify keeps nothing


def test_scheduled_verify_with_the_real_engine(home: Home, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha")
    (tmp_path / "disk").mkdir()
    manager = JobManager(home)
    try:
        manager.create(
            parse_job(
                {
                    "name": "d",
                    "sources": [str(src)],
                    "destination": str(tmp_path / "disk" / "d"),
                    "verify": VERIFY,
                }
            )
        )
        manager.start("d")
        assert manager.wait("d", timeout=30) is not None
        manager.start_verify("d").join(30)
        last = manager.state("d").last_verify
        assert last is not None and last.outcome == "ok" and last.files == 1
    finally:
        manager.shutdown()
