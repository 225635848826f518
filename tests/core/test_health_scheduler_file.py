"""``health`` reads scheduler.yaml bounded: a FIFO or an oversized file there never hangs it.

scheduler.yaml only says who holds the scheduler; whatever sits at that path,
``health`` must answer. A FIFO would block a plain ``read_bytes()`` until a
writer came, so ``health`` (and a monitoring probe running it) would hang.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from tui_backup.core.health import HealthReport, check_health
from tui_backup.core.manager import JobManager
from tui_backup.store.paths import Home


def health_in_thread(manager: JobManager, fifo: Path | None = None) -> HealthReport:
    """check_health in a thread, so a hang fails the test instead of freezing it.

    A reader stuck on a FIFO is released by opening it for writing and closing it.
    """
    result: list[HealthReport] = []
    worker = threading.Thread(target=lambda: result.append(check_health(manager)), daemon=True)
    worker.start()
    worker.join(120)  # a generous bound: only a hang comes near it
    hung = worker.is_alive()
    if hung and fifo is not None:
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert not hung, "health hung reading scheduler.yaml"
    return result[0]


def scheduler_check(report: HealthReport) -> str:
    [check] = [c for c in report.checks if c.name == "scheduler"]
    return check.message


def test_a_fifo_as_scheduler_yaml_never_hangs_health(home: Home) -> None:
    fifo = home.root / "scheduler.yaml"
    os.mkfifo(fifo)
    manager = JobManager(home)
    try:
        report = health_in_thread(manager, fifo)
    finally:
        manager.shutdown()
    assert "no scheduler running" in scheduler_check(report)
    assert report.scheduler is None  # nothing read from the FIFO


def test_an_oversized_scheduler_yaml_is_not_read(home: Home) -> None:
    (home.root / "scheduler.yaml").write_text("pid: 1\n" + "#" * (2 << 20))
    manager = JobManager(home)
    try:
        report = health_in_thread(manager)
    finally:
        manager.shutdown()
    assert report.scheduler is None  # refused unread, not parsed
