"""Helpers shared by the core tests (kept out of conftest.py so imports are unambiguous)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from tui_backup.core.events import ManagerEvent
from tui_backup.core.manager import JobManager
from tui_backup.model.job import parse_job


def add_job(manager: JobManager, tmp: Path, name: str, **fields: object) -> None:
    src = tmp / "src" / name
    src.mkdir(parents=True, exist_ok=True)
    data = {"name": name, "sources": [str(src)], "destination": str(tmp / "dest" / name)}
    data.update(fields)
    manager.create(parse_job(data))


class Recorder:
    """A subscriber that keeps every event and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[ManagerEvent] = []
        self.times: list[float] = []
        self.threads: set[str] = set()
        self._cond = threading.Condition()

    def __call__(self, event: ManagerEvent) -> None:
        with self._cond:
            self.events.append(event)
            self.times.append(time.monotonic())
            self.threads.add(threading.current_thread().name)
            self._cond.notify_all()

    def wait_for(
        self, predicate: Callable[[ManagerEvent], bool], timeout: float = 10
    ) -> ManagerEvent:
        with self._cond:
            found: list[ManagerEvent] = []

            def check() -> bool:
                found[:] = [e for e in self.events if predicate(e)]
                return bool(found)

            assert self._cond.wait_for(check, timeout), f"no matching event in {self.events!r}"
            return found[0]
