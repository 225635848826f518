"""Issue 10: a first rsync run shows progress from its first second, counting while rsync scans.

rsync's incremental recursion keeps about 1,000 files of its list ahead of the
copy and marks each progress line ``ir-chk`` until the list is complete
(``to-chk``): a tree of 3,000 files in 60 directories is copied partly while
the list is still growing, whatever the machine's speed. Every progress line
is reported (``PROGRESS_INTERVAL = 0``), so the checks depend on no clock.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.external.progress_checks import copy_progress, make_wide_tree
from tui_backup.engines.common import CountingReporter
from tui_backup.engines.events import Progress
from tui_backup.engines.rsync import backup as rsync_backup
from tui_backup.engines.rsync.progress import CopyProgress

from .conftest import Where, finished, run


@pytest.fixture(autouse=True)
def every_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rsync_backup, "PROGRESS_INTERVAL", 0.0)


def _source_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_a_first_run_counts_what_rsync_found_so_far_then_the_totals(
    where: Where, tmp_path: Path
) -> None:
    src = make_wide_tree(tmp_path / "src")
    events = run(where.spec(src, tmp_path / "dest"))
    assert finished(events).status == "succeeded", finished(events).error
    copy = copy_progress(events)
    early = [p for p in copy if p.counting and p.files_done > 0 and p.bytes_done > 0]
    assert early, "no progress while rsync was still listing the tree"
    # What was found so far is a true lower bound, shown before the list was complete.
    size = _source_bytes(src)
    assert all(0 < p.files_total < 3061 and p.bytes_total <= size for p in early)
    done = [p for p in copy if not p.counting]
    assert done, "rsync's list never completed"
    assert done[-1].files_total == 3061  # 3,000 files, 60 directories and the root
    assert done[-1].bytes_total == done[-1].bytes_done == size  # a first run sends it all


def test_several_sources_count_until_the_last_ones_list_is_complete(
    local: Where, tmp_path: Path
) -> None:
    one = make_wide_tree(tmp_path / "one", dirs=30)
    two = make_wide_tree(tmp_path / "two", dirs=30)
    events = run(local.spec([one, two], tmp_path / "dest"))
    assert finished(events).status == "succeeded", finished(events).error
    copy = copy_progress(events)
    counting = [p for p in copy if p.counting]
    assert max(p.files_done for p in counting) > 1531  # into the second source, still counting
    assert [p for p in copy if not p.counting][-1].files_total == 2 * 1531


def test_an_incremental_tells_progress_by_files(local: Where, tmp_path: Path) -> None:
    """Files linked from the previous snapshot are never sent: bytes sent are no share
    of the tree, so its byte total is unknown (0) and the share is by files."""
    src = make_wide_tree(tmp_path / "src", dirs=20)
    spec = local.spec(src, tmp_path / "dest")
    run(spec)
    (src / "dir-000" / "file-000.bin").write_bytes(b"changed")
    events = run(spec)
    copy = copy_progress(events)
    assert all(p.bytes_total == 0 for p in copy)
    last = [p for p in copy if not p.counting][-1]
    assert last.files_total == 1021 and last.fraction is not None


def test_the_exclude_walk_before_rsync_reports_what_it_finds(local: Where, tmp_path: Path) -> None:
    """Excludes are turned into exact rules by walking the source before rsync starts:
    that walk shows a growing total too, instead of nothing until rsync's first line."""
    src = make_wide_tree(tmp_path / "src", dirs=10)
    (src / "skip.tmp").write_bytes(b"x" * 1000)
    events = run(local.spec(src, tmp_path / "dest", exclude=["*.tmp"]))
    assert finished(events).status == "succeeded", finished(events).error
    copy = copy_progress(events)
    walk = [p for p in copy if p.files_done == 0 and p.files_total > 1]
    assert walk and walk[-1].counting
    assert copy.index(walk[-1]) < min(i for i, p in enumerate(copy) if p.files_done > 0)
    assert walk[-1].files_total == 511  # 500 files, 10 directories and the root
    assert walk[-1].bytes_total == 500 * 16_000  # skip.tmp is not counted


def test_the_share_done_never_goes_back(where: Where, tmp_path: Path) -> None:
    """QA saw a card at 100 % drop to 55 % at commit: the commit phase counted bytes
    of the whole snapshot with only the linked files done. Every share a front end
    shows (``Progress.fraction``) of a first run and of an incremental where about
    half the bytes changed must only grow, from the first event to the last."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(40):
        (src / f"f{i:02d}").write_bytes(bytes([i]) * 50_000)
    spec = where.spec(src, tmp_path / "dest")
    for round_no in range(2):
        events = run(spec)
        assert finished(events).status == "succeeded", finished(events).error
        shares = [p.fraction for p in events if isinstance(p, Progress)]
        known = [s for s in shares if s is not None]
        assert known and known[-1] == 1.0, (round_no, shares)
        drops = [(a, b) for a, b in itertools.pairwise(known) if b < a]
        assert not drops, f"round {round_no}: the share went back: {drops[:5]}"
        for i in range(0, 40, 2):  # about half the bytes change for the next run
            (src / f"f{i:02d}").write_bytes(bytes([i + 100]) * 50_001)


def test_throttled_parsing_keeps_the_last_line() -> None:
    """With an interval, lines in between are skipped, never the last one of a call."""
    events: list[object] = []
    reporter = CountingReporter(events.append, 0.0)
    progress = CopyProgress(reporter, first_run=True, interval=3600.0)
    progress.start(last=True)
    for i in range(1, 101):
        progress.line(f"  {i * 1000:,}  {i}%  1.00MB/s  0:00:01 (xfr#{i}, to-chk={100 - i}/100)")
    assert reporter.files_done == 1  # only the first line was parsed within the hour
    progress.end()
    assert (reporter.files_done, reporter.bytes_done, reporter.counting) == (100, 100_000, False)
