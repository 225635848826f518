"""Screenshots of every screen, compared with the SVGs in ``__snapshots__``.

Deterministic by construction (see conftest): fixed clock, UTC, ``$HOME`` in
tmp so paths read ``~/...``, watchers and scheduler off, cursor blink off.
Update after an intended change with ``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input
from tui_fixtures import AppFactory, fixed_clock
from tui_helpers import until

from tui_backup.core.config import SettingsStore
from tui_backup.engines.snapshot import SnapshotEngine
from tui_backup.store.paths import Home
from tui_backup.tui.screens.editor import JobEditorScreen

THEMES = ("backup-dark", "backup-light", "backup-contrast")


async def settle(pilot: Pilot) -> None:
    """Everything loaded, nothing blinking, no worker left running."""
    app = pilot.app
    await app.workers.wait_for_complete()
    main = app.main_screen  # type: ignore[attr-defined]
    await until(pilot, lambda: main.jobs.row_count > 0 and main.errors.row_count > 0)
    await pilot.pause()


def no_blink(pilot: Pilot) -> None:
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_main_screen(
    snap_compare, seeded: Home, make_app: AppFactory, theme: str, size: tuple[int, int]
) -> None:
    SettingsStore(seeded).update(theme=theme)
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=settle)


def test_editor_with_validation_errors(snap_compare, seeded: Home, make_app: AppFactory) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("n")
        await pilot.press(*"Web Site")
        screen = pilot.app.screen
        screen.query_one("#sources", Input).value = "srv/www"
        screen.query_one("#schedule", Input).value = "0 25 * * *"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: pilot.app.screen.settled)
        no_blink(pilot)
        await pilot.pause()
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(make_app(seeded), terminal_size=(80, 24), run_before=run_before)


def test_editor_schedule_preview(snap_compare, seeded: Home, make_app: AppFactory) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("down", "down")
        await until(pilot, lambda: pilot.app.main_screen.jobs.selected_name == "photos")
        await pilot.press("e")
        await until(pilot, lambda: isinstance(pilot.app.screen, JobEditorScreen))
        await pilot.app.workers.wait_for_complete()
        await until(pilot, lambda: pilot.app.screen.settled)
        await pilot.pause()
        no_blink(pilot)
        await pilot.pause()

    assert snap_compare(make_app(seeded), terminal_size=(100, 30), run_before=run_before)


def test_delete_modal(snap_compare, seeded: Home, make_app: AppFactory) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()

    assert snap_compare(make_app(seeded), terminal_size=(80, 24), run_before=run_before)


def test_details(snap_compare, seeded: Home, make_app: AppFactory) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(make_app(seeded), terminal_size=(100, 30), run_before=run_before)


def test_error_detail(snap_compare, seeded: Home, make_app: AppFactory) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("l", "enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(make_app(seeded), terminal_size=(80, 24), run_before=run_before)


def test_help(snap_compare, seeded: Home, make_app: AppFactory) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_app(seeded), terminal_size=(120, 40), run_before=run_before)


def test_restore_browser(snap_compare, seeded: Home, make_app: AppFactory, tmp_path: Path) -> None:
    from tui_backup.core.manager import JobManager

    manager = JobManager(seeded, recover=False)
    spec = manager.get_spec("docs")
    manager.shutdown()
    src = Path(spec.sources[0])
    (src / "notes").mkdir()
    (src / "notes" / "todo.md").write_text("- restore test\n")
    (src / "photos").mkdir()
    Path(spec.destination).parent.mkdir(parents=True, exist_ok=True)
    events: list[object] = []
    SnapshotEngine(clock=fixed_clock).run(spec, threading.Event(), events.append)
    assert "succeeded" in str(events[-1]), events[-1]

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("R")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("tab", "down", "space")
        no_blink(pilot)
        await pilot.pause()

    assert snap_compare(make_app(seeded), terminal_size=(100, 30), run_before=run_before)
