"""Job cards as a person reads them at 80x24 (issue 10, items 2 and 4).

Each test drives the real app through Pilot on a seeded home and reads the
cells the table shows, so what is asserted is what the card says.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tui_fixtures import FIXED_NOW, AppFactory
from tui_helpers import until

from tui_backup.core.events import JobsChanged
from tui_backup.model.progress import Progress
from tui_backup.model.state import JobState
from tui_backup.model.status import Status
from tui_backup.store.paths import Home
from tui_backup.tui.screens.main import MainScreen


async def _ready(app, pilot) -> MainScreen:  # type: ignore[no-untyped-def]
    await app.workers.wait_for_complete()
    main = app.main_screen
    assert main is not None
    await until(pilot, lambda: main.jobs.row_count > 0)
    return main


def _cell(main: MainScreen, job: str, column: str) -> list[str]:
    return str(main.jobs.get_cell(job, column)).splitlines()


COUNTING = Progress(
    phase="copy",
    files_total=3120,
    files_done=1290,
    bytes_total=98_000_000,
    bytes_done=42_000_000,
    rate=2_100_000.0,
    elapsed=20,
    counting=True,
)


def _running(progress: Progress) -> JobState:
    return JobState(
        "web",
        Status.RUNNING,
        run_id="r-web",
        pid=4242,
        host="backup-host",
        runner="daemon",
        started_at=FIXED_NOW - timedelta(seconds=20),
        updated_at=FIXED_NOW,
        progress=progress,
    )


async def test_a_first_run_still_counting_shows_done_rate_and_found_so_far(
    seeded: Home, make_app: AppFactory
) -> None:
    app = make_app(seeded)
    app.manager.states.write(_running(COUNTING))
    async with app.run_test(size=(80, 24)) as pilot:
        main = await _ready(app, pilot)
        status = _cell(main, "web", "status")
        when = _cell(main, "web", "when")
        assert status[0] == "running 3120 found so far"  # "files" below: no room for both
        assert status[1] == "1290 files · 42.0 MB done"
        assert "%" not in "".join(status)
        assert when[0] == "2.1 MB/s counting…"  # a rate, and no ETA for a growing total

        # Nothing found yet: it says so instead of "0 found" or 0 %.
        view = main.jobs.views["web"]
        empty = replace(COUNTING, files_total=0, bytes_total=0, files_done=0, bytes_done=0)
        app.bridge(JobsChanged((replace(view, state=replace(view.state, progress=empty)),)))
        await until(pilot, lambda: _cell(main, "web", "status")[0] == "running counting…")
        assert _cell(main, "web", "status")[1] == "0 files · 0 B done"

        # Counting ends: the share and the ETA appear.
        done = replace(COUNTING, counting=False, eta_seconds=27)
        app.bridge(JobsChanged((replace(view, state=replace(view.state, progress=done)),)))
        await until(pilot, lambda: _cell(main, "web", "status")[0].endswith("42%"))
        assert _cell(main, "web", "when")[0] == "2.1 MB/s ETA 27s"
