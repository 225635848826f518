"""Issue 10 findings in dialogs and screens that QA still saw after the first round (Pilot)."""

from __future__ import annotations

from tui_fixtures import AppFactory
from tui_helpers import until

from tui_backup.store.paths import Home
from tui_backup.tui.screens.delete import DeleteJobScreen
from tui_backup.tui.screens.main import MainScreen


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
