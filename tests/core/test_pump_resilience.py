"""A failing housekeeping step never stops the consumer's deliveries.

Seen for real: with the disk full, one step kept raising on every pass and
the TUI's cards froze (a job created in the editor never appeared).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from corehelpers import Recorder, add_job

from tui_backup.core.events import JobsChanged


def test_deliveries_go_on_when_housekeeping_fails(
    make_manager,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    manager = make_manager()
    calls = {"n": 0}

    def broken() -> None:
        calls["n"] += 1
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(manager, "_poll_stop_requests", broken)
    monkeypatch.setattr(manager, "_check_remote_liveness", broken)
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
    assert manager._consumer.thread is not None and manager._consumer.thread.is_alive()
