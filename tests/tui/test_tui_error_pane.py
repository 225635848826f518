"""The error pane as it is read for hours (issue 10): ages that keep up, a cursor
that follows the newest error only when it was on the newest (Pilot)."""

from __future__ import annotations

from datetime import datetime, timedelta

from tui_fixtures import FIXED_NOW, AppFactory
from tui_helpers import until

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
        log.focus()
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
