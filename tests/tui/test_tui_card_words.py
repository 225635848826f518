"""Card words QA saw wrong (issue 10 items 2 and 3), on the card functions.

A first run's found-so-far count is shown even in a narrow status column
(shorter forms, never "counting…" over a known count), and a run that has
its slot but no progress yet says "starting…", not "waiting for a slot".
Both failed before 02c1f85 (they were strict xfails until then).
"""

from __future__ import annotations

from datetime import timedelta

from rich.style import Style
from tui_fixtures import FIXED_NOW

from tui_backup.core.views import JobView
from tui_backup.model.job import parse_job
from tui_backup.model.progress import Progress
from tui_backup.model.state import JobState
from tui_backup.model.status import Status
from tui_backup.tui.widgets.job_cells import status_cell, when_cell, widths_for

SPEC = parse_job({"name": "big", "sources": ["/srv/big"], "destination": "/bk/big"})
STATUS_80 = widths_for(80 - 2 - 8).status
"""The status column of a card at 80 columns (the table is 78 wide inside its border)."""


def _plain(text: object) -> list[str]:
    return str(text).splitlines()


def _view(status: Status, progress: Progress | None) -> JobView:
    state = JobState(
        "big",
        status,
        run_id="r1",
        pid=4242,
        runner="daemon",
        started_at=FIXED_NOW - timedelta(seconds=3),
        progress=progress,
    )
    return JobView(SPEC, state)


def test_a_large_first_run_shows_what_it_found_so_far_at_80_columns() -> None:
    """Was "running counting…" while the CLI said "… of 123456 found so far"."""
    counting = Progress("copy", 123_456, 2_000, 9_000_000_000, 40_000_000, rate=1e7, counting=True)
    first = _plain(status_cell(_view(Status.RUNNING, counting), STATUS_80, FIXED_NOW, _style))[0]
    assert "123.5k" in first and "counting" not in first, first
    narrow = _plain(status_cell(_view(Status.RUNNING, counting), 16, FIXED_NOW, _style))[0]
    assert "123.5k" in narrow, narrow  # however narrow: the count, not "counting…"


def test_nothing_found_yet_still_says_counting() -> None:
    empty = Progress("scan", counting=True)
    first = _plain(status_cell(_view(Status.RUNNING, empty), STATUS_80, FIXED_NOW, _style))[0]
    assert first == "running counting…"


def test_a_run_before_its_first_progress_is_not_waiting_for_a_slot() -> None:
    """A daemon's run writes its state before its first progress: it was "waiting for a
    slot" on the card while it copied."""
    when = _plain(when_cell(_view(Status.RUNNING, None), 30, FIXED_NOW, False, _style))[0]
    assert when == "starting…", when
    queued = _plain(when_cell(_view(Status.QUEUED, None), 30, FIXED_NOW, False, _style))[0]
    assert queued == "waiting for a slot"


def _style(_: str) -> Style:
    return Style()
