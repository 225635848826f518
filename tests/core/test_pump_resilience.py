"""A failing housekeeping step never stops the event pump's deliveries.

Seen for real: with the disk full, one step kept raising on every pass and
the TUI's cards froze (a job created in the editor never appeared).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from corehelpers import Recorder, add_job

from tui_backup.core.events import JobsChanged
from tui_backup.core.pump import THREAD_NAME
from tui_backup.core.runs import RunTracker


def test_deliveries_go_on_when_housekeeping_fails(
    make_manager,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    calls = {"n": 0}

    def broken(self: RunTracker) -> None:
        calls["n"] += 1
        raise OSError(28, "No space left on device")

    # Patched on the class before the manager exists: the pump holds the bound chores.
    monkeypatch.setattr(RunTracker, "poll_stop_requests", broken)
    monkeypatch.setattr(RunTracker, "check_liveness", broken)
    manager = make_manager()
    recorder = Recorder()
    manager.subscribe(recorder)
    add_job(manager, tmp_path, "first")
    recorder.wait_for(
        lambda e: isinstance(e, JobsChanged) and any(v.name == "first" for v in e.views)
    )
    assert calls["n"] >= 1  # the broken step did run (and fail) before delivery
    add_job(manager, tmp_path, "second")
    recorder.wait_for(
        lambda e: isinstance(e, JobsChanged) and any(v.name == "second" for v in e.views)
    )
    assert any(t.name == THREAD_NAME and t.is_alive() for t in threading.enumerate())
