"""The scheduler with an injected clock: on-time runs, catch-up, skips, breaker, the lock."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from corehelpers import Recorder, add_job
from testengine import Plan

from tui_backup.core.events import RunFinished
from tui_backup.core.manager import JobManager
from tui_backup.core.scheduler import Scheduler
from tui_backup.model.status import Status


class FakeClock:
    def __init__(self, when: datetime) -> None:
        self.now = when

    def __call__(self) -> datetime:
        return self.now


def local(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s).astimezone()


def test_fires_at_its_slot_once(manager: JobManager, tmp_path: Path) -> None:
    add_job(manager, tmp_path, "nightly", schedule="0 2 * * *")
    clock = FakeClock(local(2026, 1, 10, 1, 59))
    sched = Scheduler(manager, clock=clock)
    assert sched.tick() == []  # first sight: nothing from the past
    clock.now = local(2026, 1, 10, 2, 0, 5)
    actions = sched.tick()
    assert [(a.job, a.action) for a in actions] == [("nightly", "started")]
    record = manager.wait("nightly", timeout=10)
    assert record is not None and record.status == Status.SUCCEEDED
    assert record.trigger == "schedule"
    clock.now = local(2026, 1, 10, 2, 0, 40)
    assert sched.tick() == []  # the same slot never fires twice
    assert sched.next_due(clock.now) == local(2026, 1, 11, 2, 0)


def test_missed_runs_catch_up_once_also_after_restart(
    make_manager,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    manager: JobManager = make_manager()
    add_job(manager, tmp_path, "hourly", schedule="@hourly")
    clock = FakeClock(local(2026, 3, 1, 10, 30))
    Scheduler(manager, clock=clock).tick()
    manager.shutdown()
    # The daemon was down for three days: a new process catches up once.
    clock.now = local(2026, 3, 4, 9, 17)
    again: JobManager = make_manager()
    sched = Scheduler(again, clock=clock)
    actions = sched.tick()
    assert [(a.action, a.slot) for a in actions] == [("caught-up", local(2026, 3, 4, 9, 0))]
    assert again.wait("hourly", timeout=10).trigger == "catch-up"  # type: ignore[union-attr]
    assert sched.tick() == []
    assert len(again.history("hourly")) == 1


def test_missed_skip(manager: JobManager, tmp_path: Path) -> None:
    add_job(manager, tmp_path, "daily", schedule="@daily", missed="skip")
    clock = FakeClock(local(2026, 3, 1, 10, 30))
    sched = Scheduler(manager, clock=clock)
    sched.tick()
    clock.now = local(2026, 3, 4, 9, 17)
    assert [a.action for a in sched.tick()] == ["skipped-missed"]
    assert manager.history("daily") == []
    clock.now = local(2026, 3, 5, 0, 0, 10)  # on time again: runs
    assert [a.action for a in sched.tick()] == ["started"]
    manager.wait("daily", timeout=10)


def test_running_job_is_skipped_not_queued(manager: JobManager, plan: Plan, tmp_path: Path) -> None:
    add_job(manager, tmp_path, "busy", schedule="*/5 * * * *")
    clock = FakeClock(local(2026, 5, 1, 12, 1))
    sched = Scheduler(manager, clock=clock)
    sched.tick()
    plan["busy"].gate = threading.Event()
    manager.start("busy")
    clock.now = local(2026, 5, 1, 12, 5, 1)
    assert [a.action for a in sched.tick()] == ["skipped-running"]
    plan["busy"].gate.set()
    manager.wait("busy", timeout=10)
    assert len(manager.history("busy")) == 1


def test_disabled_jobs_never_run(manager: JobManager, tmp_path: Path) -> None:
    add_job(manager, tmp_path, "off", schedule="* * * * *", enabled=False)
    clock = FakeClock(local(2026, 5, 1, 12, 1))
    sched = Scheduler(manager, clock=clock)
    sched.tick()
    clock.now = local(2026, 5, 1, 12, 2, 1)
    assert [a.action for a in sched.tick()] == ["skipped-disabled"]
    assert manager.history("off") == [] and not manager.running_here()


def test_open_breaker_skips_then_probes(
    make_manager,
    plan: Plan,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    clock = FakeClock(local(2026, 6, 1, 8, 0, 30))
    manager: JobManager = make_manager(clock=clock, breaker_cool_off=timedelta(minutes=30))
    add_job(manager, tmp_path, "nas", schedule="*/10 * * * *", retries=0)
    plan["nas"].fail = True
    for _ in range(5):
        manager.start("nas")
        manager.wait("nas", timeout=10)
    breaker = manager.breakers.get(manager.get_spec("nas").destination)
    assert breaker.is_open and breaker.failures == 5
    assert [e.error_type for e in manager.errors(job="nas")].count("circuit_open") == 1
    sched = Scheduler(manager, clock=clock)
    sched.tick()
    clock.now = local(2026, 6, 1, 8, 10, 5)
    actions = sched.tick()
    assert [a.action for a in actions] == ["skipped-breaker"]
    assert "circuit open" in actions[0].detail
    assert any(e.error_type == "skipped_circuit_open" for e in manager.errors(job="nas"))
    # After the cool-off one probe runs; it succeeds and closes the circuit.
    plan["nas"].fail = False
    clock.now = local(2026, 6, 1, 8, 40, 5)
    assert [a.action for a in sched.tick()] == ["started"]
    record = manager.wait("nas", timeout=10)
    assert record is not None and record.trigger == "probe"
    assert record.status == Status.SUCCEEDED
    assert not manager.breakers.get(manager.get_spec("nas").destination).is_open


def test_only_one_process_schedules(make_manager, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a: JobManager = make_manager(runner="daemon")
    b: JobManager = make_manager(runner="tui")
    sa, sb = Scheduler(a), Scheduler(b)
    assert sa.acquire() and not sb.acquire()
    check = next(c for c in b.health().checks if c.name == "scheduler")
    assert check.status == "healthy" and "daemon pid" in check.message
    sa.release()
    assert sb.acquire()
    sb.release()


def test_scheduler_thread_fires_on_injected_clock(
    make_manager,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    clock = FakeClock(local(2026, 7, 1, 3, 59, 50))
    manager: JobManager = make_manager()
    add_job(manager, tmp_path, "night", schedule="0 4 * * *")
    rec = Recorder()
    manager.subscribe(rec)
    sched = manager.start_scheduler(clock=clock, max_sleep=0.05)
    deadline = time.monotonic() + 5  # bounded wait for the first tick to record the slot
    while not sched.load_slots().get("night") and time.monotonic() < deadline:
        time.sleep(0.02)
    clock.now = local(2026, 7, 1, 4, 0, 1)
    sched.wake()
    event = rec.wait_for(lambda e: isinstance(e, RunFinished))
    assert event.run.job_name == "night" and event.run.trigger == "schedule"  # type: ignore[union-attr]
    manager.stop_scheduler()


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[ZoneInfo]:
    """Run the test in a zone with DST (the machine's own is UTC)."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield ZoneInfo("Europe/Berlin")
    monkeypatch.undo()
    time.tzset()


def test_dst_autumn_runs_once_spring_runs_on_time(
    manager: JobManager, tmp_path: Path, berlin: ZoneInfo
) -> None:
    add_job(manager, tmp_path, "night", schedule="30 2 * * *")
    clock = FakeClock(datetime(2026, 10, 24, 12, 0, tzinfo=berlin))
    sched = Scheduler(manager, clock=clock)
    sched.tick()
    # 25 Oct: 02:30 CEST happens, then the clock goes back and 02:30 (CET) comes again.
    clock.now = datetime(2026, 10, 25, 0, 30, 5, tzinfo=UTC)  # 02:30:05 CEST
    assert [a.action for a in sched.tick()] == ["started"]
    manager.wait("night", timeout=10)
    clock.now = datetime(2026, 10, 25, 1, 30, 5, tzinfo=UTC)  # 02:30:05 CET, the second time
    assert sched.tick() == []
    # 29 Mar: 02:30 does not exist; the run happens at 03:00 CEST, on time (not "missed").
    clock.now = datetime(2027, 3, 27, 12, 0, tzinfo=berlin)
    sched.tick()  # catch-up of the days in between (once)
    manager.wait("night", timeout=10)
    clock.now = datetime(2027, 3, 28, 1, 0, 5, tzinfo=UTC)  # 03:00:05 CEST
    actions = sched.tick()
    assert [a.action for a in actions] == ["started"]
    assert actions[0].slot == datetime(2027, 3, 28, 3, 0, tzinfo=berlin)
    manager.wait("night", timeout=10)
    assert [r.trigger for r in manager.history("night")] == ["schedule", "catch-up", "schedule"]


def test_job_never_scheduled_counts_from_its_definition(
    manager: JobManager, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "old", schedule="@daily")
    add_job(manager, tmp_path, "new", schedule="@daily")
    now = datetime.now().astimezone().replace(hour=12, minute=0, second=0)  # far from 00:00
    three_days_ago = (now - timedelta(days=3)).timestamp()
    os.utime(manager.home.job_file("old"), (three_days_ago, three_days_ago))
    sched = Scheduler(manager, clock=lambda: now)
    actions = {a.job: a.action for a in sched.tick()}
    assert actions == {"old": "caught-up"}  # it existed when its slots passed
    manager.wait("old", timeout=10)
    assert sched.tick() == []
