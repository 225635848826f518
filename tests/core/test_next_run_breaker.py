"""While a circuit breaker holds a destination back, the next run said is the one it tries.

Before, a job's next run was its next cron slot, so with the breaker skipping
every slot until the cool-off ended, the time shown was a slot that would be
skipped, and (with nothing else changing) it was soon in the past.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from corehelpers import Recorder, add_job
from test_scheduler import FakeClock, local
from testengine import Plan

from tui_backup.core.events import JobsChanged
from tui_backup.core.manager import JobManager
from tui_backup.core.scheduler import Scheduler


def test_next_run_is_the_first_slot_the_open_breaker_lets_through(
    make_manager,  # type: ignore[no-untyped-def]
    plan: Plan,
    tmp_path: Path,
) -> None:
    clock = FakeClock(local(2026, 6, 1, 8, 0, 30))
    manager: JobManager = make_manager(clock=clock, breaker_cool_off=timedelta(minutes=30))
    recorder = Recorder()
    manager.subscribe(recorder)
    add_job(manager, tmp_path, "nas", schedule="*/10 * * * *", retries=0)
    add_job(manager, tmp_path, "other", schedule="*/10 * * * *", retries=0)
    plan["nas"].fail = True
    for _ in range(5):
        manager.start("nas")
        manager.wait("nas", timeout=10)
    # Open at 08:00:30 for 30 minutes: 08:10, 08:20 and 08:30 are skipped; 08:40 probes.
    probe = local(2026, 6, 1, 8, 40)
    views = {v.name: v for v in manager.list_jobs()}
    assert views["nas"].next_run == probe
    assert views["other"].next_run == local(2026, 6, 1, 8, 10)  # its own destination
    assert manager.job("nas").next_run == probe
    # The card the failed run that opened the breaker left behind says so too.
    manager.drain_events(5)
    last = [
        v for e in recorder.events if isinstance(e, JobsChanged) for v in e.views if v.name == "nas"
    ][-1]
    assert last.next_run == probe

    sched = Scheduler(manager, clock=clock)
    sched.tick()
    clock.now = local(2026, 6, 1, 8, 10, 5)
    assert [a.action for a in sched.tick() if a.job == "nas"] == ["skipped-breaker"]
    assert manager.job("nas").next_run == probe  # never a skipped slot, never the past
    clock.now = local(2026, 6, 1, 8, 40, 5)
    assert [a.action for a in sched.tick() if a.job == "nas"] == ["started"]
    manager.wait("nas", timeout=10)
    manager.wait("other", timeout=10)
