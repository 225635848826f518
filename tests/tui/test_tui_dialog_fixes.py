"""Issue 10 findings in dialogs and screens that QA still saw after the first round (Pilot)."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Label
from tui_fixtures import AppFactory
from tui_helpers import until

from tui_backup.model.records import ErrorEvent
from tui_backup.model.status import Severity
from tui_backup.store.paths import Home
from tui_backup.tui.screens.delete import DeleteJobScreen
from tui_backup.tui.screens.details import DetailsScreen
from tui_backup.tui.screens.editor import JobEditorScreen
from tui_backup.tui.screens.help import HelpScreen
from tui_backup.tui.screens.main import MainScreen
from tui_backup.tui.screens.restore import RestoreScreen
from tui_backup.tui.widgets.header import AppHeader


async def _ready(app, pilot) -> MainScreen:  # type: ignore[no-untyped-def]
    await app.workers.wait_for_complete()
    main = app.main_screen
    assert main is not None
    await until(pilot, lambda: main.jobs.row_count > 0)
    return main


async def test_the_delete_button_says_what_the_box_chose(
    seeded: Home, make_app: AppFactory
) -> None:
    """Ticking "also delete backup data" by keyboard renames the button, as a person sees it."""
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DeleteJobScreen))
        dialog = app.screen
        button = dialog.query_one("#delete")
        await pilot.press("shift+tab", "shift+tab")  # cancel -> delete -> the box
        assert dialog.focused is dialog.query_one("#purge")
        await pilot.press("space")
        await until(pilot, lambda: dialog.query_one("#purge").value)  # type: ignore[attr-defined]
        await pilot.pause()
        shown = str(button.render())
        assert "and data" in shown or "and backups" in shown, shown
        assert button.region.width >= len(str(button.label)) + 2, button.region
        await pilot.press("space")
        await until(pilot, lambda: not dialog.query_one("#purge").value)  # type: ignore[attr-defined]
        await pilot.pause()
        assert "and" not in str(button.render())


def _header_text(screen: Screen[object]) -> str:
    header = screen.query_one(AppHeader)
    assert header.region.y == 0 and header.region.height == 1, header.region
    return " ".join(str(label.render()) for label in header.query(Label))


async def test_every_screen_shows_the_header_with_live_counts(
    seeded: Home, make_app: AppFactory
) -> None:
    """Details, restore, the editor and the dialogs covered the header (issue 10)."""
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        main = await _ready(app, pilot)
        await until(pilot, lambda: main.header.unresolved == 2)
        unresolved = 2
        for key, kind in [
            ("enter", DetailsScreen),
            ("R", RestoreScreen),
            ("e", JobEditorScreen),
            ("question_mark", HelpScreen),
            ("d", DeleteJobScreen),
        ]:
            await pilot.press(key)
            await until(pilot, lambda kind=kind: isinstance(app.screen, kind))  # type: ignore[misc]
            screen = app.screen
            want = f"{unresolved} unresolved"
            await until(pilot, lambda s=screen, w=want: w in _header_text(s))  # type: ignore[misc]
            assert "1 elsewhere" in _header_text(screen)  # web runs in another process
            if kind is DetailsScreen:
                # a new error while the details are open: their header counts it
                app.manager.record_error(
                    ErrorEvent(Severity.HIGH, "scheduler", "test_error", "new one")
                )
                unresolved = 3
                await until(pilot, lambda screen=screen: "3 unresolved" in _header_text(screen))  # type: ignore[misc]
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is main)
