"""Keys typed ahead keep their order (issue 10): a burst lands where a slow typist's would.

Each test queues its keys at once (``burst``), as the terminal driver does for
``tmux send-keys`` or a paste, and waits on the outcome, never on time.
"""

from __future__ import annotations

from pathlib import Path

from textual.message import Message
from textual.widgets import Input
from tui_fixtures import AppFactory
from tui_helpers import burst, until

from tui_backup.store.paths import Home
from tui_backup.tui.messages import ActionSucceeded
from tui_backup.tui.screens.editor import JobEditorScreen
from tui_backup.tui.screens.main import MainScreen
from tui_backup.tui.screens.restore import RestoreScreen


def _succeeded(seen: list[Message], action: str) -> bool:
    return any(isinstance(m, ActionSucceeded) and m.action == action for m in seen)


async def _ready(app, pilot) -> MainScreen:  # type: ignore[no-untyped-def]
    await app.workers.wait_for_complete()
    main = app.main_screen
    assert main is not None
    await until(pilot, lambda: main.jobs.row_count == 4)
    return main


async def test_filter_enter_and_a_key_after_it_in_one_burst(
    seeded: Home, make_app: AppFactory
) -> None:
    """``/ w e b Enter R`` typed ``webR`` into the filter: Enter's focus move came too late."""
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        main = await _ready(app, pilot)
        burst(app, "/", *"web", "enter", "R")
        await until(pilot, lambda: isinstance(app.screen, RestoreScreen))
        assert main.query_one("#job-filter", Input).value == "web"
        assert app.screen.job_name == "web"  # type: ignore[attr-defined]
        await app.workers.wait_for_complete()  # its snapshot list, before the app closes
        await pilot.pause()


async def test_n_and_a_name_in_one_burst_fill_the_name(seeded: Home, make_app: AppFactory) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        burst(app, "n", *"draft", "tab", *"notes")
        await until(pilot, lambda: isinstance(app.screen, JobEditorScreen))
        editor = app.screen
        await until(pilot, lambda: editor.is_mounted)
        await until(pilot, lambda: editor.query_one("#description", Input).value == "notes")
        assert editor.query_one("#name", Input).value == "draft"
        await until(pilot, lambda: editor.settled)


async def test_keys_behind_enter_on_the_error_log_reach_the_event(
    seeded: Home, make_app: AppFactory
) -> None:
    """``l Enter space``: the event opens and ``space`` resolves it (not the log's row)."""
    seen: list[Message] = []
    app = make_app(seeded)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        main = await _ready(app, pilot)
        await until(pilot, lambda: main.errors.row_count == 2)
        selected = None

        def opened() -> bool:
            nonlocal selected
            selected = main.errors.selected_event
            return True

        burst(app, "l")
        await until(pilot, lambda: main.errors.has_focus and opened())
        burst(app, "enter", "space")
        await until(
            pilot,
            lambda: any(isinstance(m, ActionSucceeded) and m.action == "resolve" for m in seen),
        )
        assert selected is not None
        resolved = app.manager.error(selected.id)
        assert resolved is not None and resolved.resolved
        await until(pilot, lambda: app.screen is main)


async def test_the_first_job_saved_has_the_focus_and_r_runs_it(
    tui_home: Home, make_app: AppFactory, tmp_path: Path
) -> None:
    """After saving the first job the focus was not on the list: ``r`` went elsewhere."""
    src = tmp_path / "src"
    src.mkdir()
    seen: list[Message] = []
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await app.workers.wait_for_complete()
        main = app.main_screen
        assert main is not None
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, JobEditorScreen))
        await until(pilot, lambda: app.screen.is_mounted)
        editor = app.screen
        assert isinstance(editor, JobEditorScreen)
        await pilot.press(*"first")
        editor.query_one("#sources", Input).value = str(src)
        editor.query_one("#destination", Input).value = str(tmp_path / "backups" / "first")
        await pilot.pause()
        await until(pilot, lambda: editor.query_one("#name", Input).value == "first")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is main and main.jobs.row_count == 1, timeout=30)
        await until(pilot, lambda: main.jobs.has_focus)
        burst(app, "r")
        await until(pilot, lambda: _succeeded(seen, "run"), timeout=30)
        assert main.query_one("#job-filter", Input).value == ""
