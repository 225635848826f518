"""The main screen read for hours (issue 10): error ages that keep up, a cursor
that follows the newest error only when it was on the newest, and cards whose
next run never stays in the past (Pilot)."""

from __future__ import annotations

from datetime import datetime, timedelta

from tui_doubles import Gate, factory
from tui_fixtures import FIXED_NOW, AppFactory
from tui_helpers import until

from tui_backup.core.manager import JobManager
from tui_backup.model.records import ErrorEvent
from tui_backup.model.status import Severity
from tui_backup.store.paths import Home
from tui_backup.tui.widgets.error_log import ErrorLog


class Clock:
    """A clock the test moves on."""

    def __init__(self) -> None:
        self.now = FIXED_NOW

    def __call__(self) -> datetime:
        return self.now


def _ages(log: ErrorLog) -> list[str]:
    return [str(log.get_cell(str(e.id), "when")) for e in log.shown_events]


async def _log(app, pilot, rows: int) -> ErrorLog:  # type: ignore[no-untyped-def]
    await app.workers.wait_for_complete()
    log = app.screen.query_one(ErrorLog)
    await until(pilot, lambda: log.row_count >= rows)
    return log


async def test_error_ages_move_on_within_seconds(seeded: Home, make_app: AppFactory) -> None:
    """Was refreshed every 30 s beside the cards: "5m" stayed "5m" long after it was 7."""
    app = make_app(seeded)
    clock = Clock()
    app.clock = clock
    async with app.run_test(size=(80, 24)) as pilot:
        log = await _log(app, pilot, rows=2)
        assert _ages(log) == ["5m", "3h"]
        clock.now += timedelta(minutes=2)
        await until(pilot, lambda: _ages(log) == ["7m", "3h"], timeout=5)


def _error(message: str, at: datetime) -> ErrorEvent:
    return ErrorEvent(Severity.HIGH, "scheduler", "test_error", message, timestamp=at)


async def test_the_cursor_follows_new_errors_only_from_the_newest(
    seeded: Home, make_app: AppFactory
) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        log = await _log(app, pilot, rows=2)
        main = app.main_screen
        assert main is not None
        # the job list takes the focus when it first shows: only then move to the log
        await until(pilot, lambda: main.jobs.row_count == 4 and main.jobs.has_focus)
        await pilot.press("l")
        await until(pilot, lambda: log.has_focus)
        assert log.cursor_row == 0  # on the newest (laptop, 5m)
        app.manager.record_error(_error("first new", FIXED_NOW - timedelta(minutes=1)))
        await until(pilot, lambda: log.row_count == 3)
        # was still on the laptop error, now the second row
        assert log.selected_event is not None and log.selected_event.message == "first new"

        await pilot.press("j")  # reading an older one: it stays under the cursor
        reading = log.selected_event
        assert reading is not None and reading.job_name == "laptop"
        app.manager.record_error(_error("second new", FIXED_NOW))
        await until(pilot, lambda: log.row_count == 4)
        assert log.selected_event == reading
        assert log.cursor_row == 2


async def test_a_next_run_gone_by_without_a_run_is_asked_again(
    seeded: Home, make_app: AppFactory, gates: dict[str, Gate]
) -> None:
    """Was "next 2h ago" for as long as a breaker skipped the job's slots (issue 10):
    a skipped slot changes no file, so nothing told the card; the card's tick now
    asks the core for the job's view when its next run has gone by."""
    clock = Clock()
    manager = JobManager(
        seeded, runner="tui", clock=clock, engine_factory=factory(gates), recover=False
    )
    app = make_app(seeded, manager=manager)
    app.clock = clock
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        main = app.main_screen
        assert main is not None
        await until(pilot, lambda: "photos" in main.jobs.views)
        first = main.jobs.views["photos"].next_run  # 02:00 tomorrow
        assert first is not None and first > clock.now
        clock.now = first + timedelta(hours=2)  # the 02:00 slot went by, no run
        main.refresh_times()  # what the 30 s timer does
        await until(pilot, lambda: (main.jobs.views["photos"].next_run or first) > clock.now)
        assert main.jobs.views["photos"].next_run == first + timedelta(days=1)
        when = str(main.jobs.get_cell("photos", "when")).splitlines()[0]
        assert "ago" not in when, when
