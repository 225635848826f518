"""Progress totals: real ones are kept; a guess that runs out becomes "unknown"."""

from __future__ import annotations

import threading
from pathlib import Path

from tui_backup.engines.events import Finished, Progress
from tui_backup.engines.snapshot import SnapshotEngine
from tui_backup.engines.throttle import ProgressReporter
from tui_backup.model import parse_job


def test_real_totals_are_kept() -> None:
    seen: list[Progress] = []
    rep = ProgressReporter(seen.append, interval=0)
    rep.files_total, rep.bytes_total = 10, 1000
    rep.set_phase("copy")
    rep.advance(5, 500, "a")
    last = rep.snapshot()
    assert (last.files_total, last.bytes_total) == (10, 1000)
    assert last.fraction == 0.5


def test_an_estimate_that_runs_out_is_reported_as_unknown() -> None:
    """A source that grew since the last snapshot must not show 100%, ETA 0s."""
    rep = ProgressReporter(lambda _e: None, interval=0)
    rep.files_total, rep.bytes_total = 10, 1000
    rep.totals_are_estimates = True
    rep.set_phase("copy")
    rep.advance(5, 400, "a")
    assert rep.snapshot().files_total == 10  # still a useful guess
    rep.advance(6, 700, "b")  # past the guess: 11 files, 1100 bytes
    past = rep.snapshot()
    assert past.files_total == 0 and past.bytes_total == 0
    assert past.fraction is None and past.eta_seconds is None
    rep.set_phase("commit")
    assert rep.snapshot().files_total == 11  # at the end the count is what was done


def test_incremental_run_flags_its_totals_as_estimates(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(5):
        (src / f"f{i}").write_text(str(i))
    spec = parse_job({"name": "grow", "sources": [str(src)], "destination": str(tmp_path / "dest")})
    engine = SnapshotEngine()
    events: list[object] = []
    engine.run(spec, threading.Event(), events.append)
    assert isinstance(events[-1], Finished) and events[-1].files == 5
    for i in range(5, 400):
        (src / f"f{i}").write_text(str(i))
    events.clear()
    engine.run(spec, threading.Event(), events.append)
    assert isinstance(events[-1], Finished) and events[-1].files == 400
    copying = [e for e in events if isinstance(e, Progress) and e.phase == "copy"]
    # Never "done" while files were still being added beyond the old size.
    assert not [p for p in copying if p.files_total and p.files_done >= p.files_total < 400]
