"""Issue 10: a first restic backup shows progress from its first second.

restic's scanner runs ahead of its archiver; its status lines carry what it
has found so far (``total_files``/``total_bytes``) beside what is stored. The
engine marks them as still counting until restic says the scan is over
(``seconds_remaining`` appears) or the summary arrives. Every status line restic
prints is read and reported (``RESTIC_PROGRESS_FPS=60`` for the job, intervals
0 here); the checks look at the events only.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.external.progress_checks import copy_progress, make_wide_tree
from tui_backup.engines.events import Progress
from tui_backup.engines.restic import ResticEngine
from tui_backup.engines.restic import backup as restic_backup
from tui_backup.engines.restic.backup import BackupStream

from .conftest import MakeRepo
from .helpers import regular_files


@pytest.fixture(autouse=True)
def every_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(restic_backup, "PARSE_INTERVAL", 0.0)
    monkeypatch.setattr(restic_backup, "PROGRESS_INTERVAL", 0.0)


@pytest.mark.parametrize("kind", ["local", "sftp"])
def test_a_first_backup_reports_files_and_bytes_done_before_it_ends(
    restic: ResticEngine, make_repo: MakeRepo, tmp_path: Path, kind: str
) -> None:
    src = make_wide_tree(tmp_path / "src")
    repo = make_repo(kind)
    repo.env["RESTIC_PROGRESS_FPS"] = "60"  # restic's own cap; the engine's default is 10
    spec = repo.spec(src)
    restic.init(spec)
    events: list[object] = []
    restic.run(spec, threading.Event(), events.append)
    copy = copy_progress(events)  # type: ignore[arg-type]
    files, size = regular_files(src)
    assert max(p.files_total for p in copy) <= files
    last = [p for p in events if isinstance(p, Progress)][-1]
    assert (last.files_done, last.files_total) == (files, files)
    assert (last.bytes_done, last.bytes_total) == (size, size)


def _status(**fields: int) -> str:
    return json.dumps({"message_type": "status", "percent_done": 0, **fields})


def test_totals_count_until_the_scan_is_over_and_never_decrease() -> None:
    """restic 0.14's own lines (from internal/ui/backup/json.go), fed in order."""
    events: list[object] = []
    stream = BackupStream(events.append)
    stream.on_line(_status(total_files=1, total_bytes=20_000))
    stream.on_line(_status(total_files=900, files_done=10, total_bytes=9_000, bytes_done=100))
    stream.on_line(_status(total_files=3000, files_done=20, total_bytes=30_000, bytes_done=200))
    stream.on_line(
        _status(
            seconds_elapsed=1,
            seconds_remaining=4,
            total_files=3000,
            files_done=600,
            total_bytes=30_000,
            bytes_done=6000,
        )
    )
    stream.on_line(_status(total_files=10, files_done=700))  # never a smaller total
    stream.on_line(
        json.dumps(
            {
                "message_type": "summary",
                "total_files_processed": 3000,
                "total_bytes_processed": 30_000,
                "snapshot_id": "0123abcd",
            }
        )
    )
    stream.reporter.set_phase("commit")
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.counting for p in progress] == [True, True, True, False, False, False]
    assert [p.files_total for p in progress] == [1, 900, 3000, 3000, 3000, 3000]
    assert progress[-1].files_done == 3000 and progress[-1].bytes_done == 30_000
    assert progress[-1].fraction == 1.0
