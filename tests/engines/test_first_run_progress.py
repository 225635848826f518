"""A first snapshot shows progress from its first second: the count runs ahead of the copy.

The counting thread is held (condition-based, no sleeps) in its second
directory until the test has seen the copy report files done while the
totals are still counting; a run that counted before copying never reports
that, and the test fails instead of hanging (the hold gives up after a bound).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tui_backup.engines.events import EngineEvent, Finished, Progress
from tui_backup.engines.snapshot import SnapshotEngine, count
from tui_backup.model import parse_job

HOLD_LIMIT = 60.0
"""Bound on the hold (never reached when the engine works)."""


def _tree(root: Path) -> int:
    files = 0
    for sub in ("", "a", "b", "b/c"):
        d = root / sub
        d.mkdir(parents=True, exist_ok=True)
        for i in range(15):
            (d / f"f{i:02d}.txt").write_bytes(b"x" * (i + 1))
            files += 1
    (root / "skip.tmp").write_text("excluded")
    return files


def _hold_counter(monkeypatch: pytest.MonkeyPatch, release: threading.Event) -> None:
    """The counter lists the source root, then waits for ``release`` before any subdirectory."""
    real = count.TreeCounter._count_dir

    def held(self: count.TreeCounter, fd: int, rel: str) -> list[str]:
        if rel:
            release.wait(HOLD_LIMIT)
        return real(self, fd, rel)

    monkeypatch.setattr(count.TreeCounter, "_count_dir", held)
    monkeypatch.setattr(count, "PROGRESS_INTERVAL", 0.0)  # every file reports


def _counters() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "snapshot-count" and t.is_alive()]


def test_first_run_reports_files_done_while_still_counting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    files = _tree(src)
    release = threading.Event()
    _hold_counter(monkeypatch, release)
    events: list[EngineEvent] = []

    def emit(event: EngineEvent) -> None:
        events.append(event)
        if isinstance(event, Progress) and event.counting and event.files_done > 0:
            release.set()

    spec = parse_job(
        {
            "name": "first",
            "sources": [str(src)],
            "destination": str(tmp_path / "dest"),
            "exclude": ["*.tmp"],
        }
    )
    SnapshotEngine().run(spec, threading.Event(), emit)

    done = events[-1]
    assert isinstance(done, Finished) and done.files == files, done
    progress = [e for e in events if isinstance(e, Progress)]
    early = [p for p in progress if p.counting and p.files_done > 0]
    assert early, "no progress with files done while the totals were still counting"
    # While counting: totals found so far (only the root's files yet), no share, no ETA.
    assert all(p.fraction is None and p.eta_seconds is None for p in progress if p.counting)
    assert early[0].files_total < files
    totals = [p.files_total for p in progress if p.counting]
    assert totals == sorted(totals), "totals found so far only grow"
    last = progress[-1]
    assert not last.counting
    assert (last.files_total, last.files_done) == (files, files)  # the excluded file is not counted
    assert last.fraction == 1.0
    assert not _counters()


def test_counting_thread_ends_with_a_cancelled_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancel while the count is held: the run ends stopped and the counter is joined first."""
    src = tmp_path / "src"
    _tree(src)
    release = threading.Event()
    finished_seen = threading.Event()
    real = count.TreeCounter._count_dir

    def held(self: count.TreeCounter, fd: int, rel: str) -> list[str]:
        if rel:
            release.wait(HOLD_LIMIT)
            # Linger until Finished is emitted (bounded): a counter not joined by the
            # run is then certainly still alive when Finished goes out.
            finished_seen.wait(2.0)
        return real(self, fd, rel)

    monkeypatch.setattr(count.TreeCounter, "_count_dir", held)
    monkeypatch.setattr(count, "PROGRESS_INTERVAL", 0.0)
    cancel = threading.Event()
    alive_at_finish: list[list[threading.Thread]] = []

    def emit(event: EngineEvent) -> None:
        if isinstance(event, Progress) and event.counting and event.files_done > 0:
            cancel.set()
            release.set()
        if isinstance(event, Finished):
            alive_at_finish.append(_counters())
            finished_seen.set()

    spec = parse_job({"name": "c", "sources": [str(src)], "destination": str(tmp_path / "d")})
    SnapshotEngine().run(spec, cancel, emit)
    assert cancel.is_set()
    assert alive_at_finish == [[]], "the counting thread outlived the run"
    assert not list((tmp_path / "d").glob("*.partial"))
