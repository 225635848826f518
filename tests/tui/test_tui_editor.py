"""The job editor: validation as you type, optimistic versions, forms that survive live updates."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from textual import events
from textual.widgets import Input, Static
from tui_fixtures import AppFactory, make_manager
from tui_helpers import toasts, until, validated

from tui_backup.core.events import JobsChanged
from tui_backup.model.progress import Progress
from tui_backup.model.status import Status
from tui_backup.store.paths import Home
from tui_backup.tui.screens.editor import JobEditorScreen
from tui_backup.tui.screens.main import MainScreen
from tui_backup.tui.widgets.path_suggester import complete_path


def _error(editor: JobEditorScreen, field: str) -> str:
    """The problem shown under ``field`` ("" when none: the line is made when needed)."""
    found = editor.query(f"#{field}-error")
    box = found.first(Static) if found else None
    return str(box.render()) if box is not None and box.display else ""


async def _edit_first_job(app, pilot) -> JobEditorScreen:  # type: ignore[no-untyped-def]
    """Wait for the seeded home's four jobs, press e, and wait for the form to load."""
    await app.workers.wait_for_complete()
    await until(pilot, lambda: app.main_screen.jobs.row_count == 4)
    await pilot.press("e")
    editor = app.screen
    assert isinstance(editor, JobEditorScreen)
    await until(pilot, lambda: editor.base is not None)
    return editor


async def test_errors_show_by_their_fields_and_nothing_is_saved(
    seeded: Home, make_app: AppFactory, tmp_path: Path
) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(100, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("n")
        editor = app.screen
        assert isinstance(editor, JobEditorScreen)
        await pilot.press(*"Bad Name")
        await validated(pilot, editor)
        assert "must match" in _error(editor, "name")
        assert _error(editor, "sources") == ""  # untouched fields stay quiet while typing
        src = tmp_path / "data" / "docs"
        editor.query_one("#sources", Input).value = "relative/path"
        editor.query_one("#destination", Input).value = str(src / "inside")
        editor.query_one("#keep_daily", Input).value = "-5"
        editor.query_one("#schedule", Input).value = "61 * * * *"
        await validated(pilot, editor)
        assert "must be an absolute path" in _error(editor, "sources")
        assert "integer >= -1" in _error(editor, "keep_daily")
        assert "not a cron expression" in _error(editor, "schedule")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, JobEditorScreen)  # still open, nothing written
        assert "must be a non-empty path" not in _error(editor, "destination")
        assert len(app.manager.list_jobs()) == 4
        assert any("Not saved" in n.message for n in toasts(app))


async def test_change_on_disk_is_shown_and_never_silently_overwritten(
    seeded: Home, make_app: AppFactory
) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(100, 40)) as pilot:
        editor = await _edit_first_job(app, pilot)
        editor.query_one("#description", Input).value = "mine"
        other = make_manager(seeded)  # another process editing the same job
        theirs = other.modify("docs", lambda s: replace(s, description="theirs"))
        other.shutdown()
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: editor.query_one("#conflict").display)
        assert isinstance(app.screen, JobEditorScreen)
        assert app.manager.get_spec("docs").description == "theirs"
        assert editor.query_one("#description", Input).value == "mine"  # edits kept
        assert f"→ {theirs.version}" in str(editor.query_one("#conflict", Static).render())
        await pilot.press("ctrl+s")  # an explicit second save: mine over theirs
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        assert app.manager.get_spec("docs").description == "mine"


async def test_live_change_raises_the_banner_at_once(seeded: Home, make_app: AppFactory) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(100, 40)) as pilot:
        editor = await _edit_first_job(app, pilot)
        view = app.main_screen.jobs.views["docs"]  # type: ignore[union-attr]
        newer = replace(view, spec=view.spec.with_version(view.spec.version + 1))
        app.bridge(JobsChanged((newer,)))
        await until(pilot, lambda: editor.query_one("#conflict").display)


async def test_half_filled_form_survives_100_progress_updates(
    seeded: Home, make_app: AppFactory
) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        main = app.main_screen
        assert main is not None
        await until(pilot, lambda: main.jobs.row_count == 4)
        base = main.jobs.views["web"]
        await pilot.press("n")
        editor = app.screen
        assert isinstance(editor, JobEditorScreen)
        await pilot.press(*"half-fil")
        name = editor.query_one("#name", Input)
        name.cursor_position = 4
        focused = app.focused

        def update(i: int) -> None:  # runs on a core-like thread, as the manager's does
            progress = Progress("copy", 100, i, 100_000, i * 1000, rate=1000.0)
            app.bridge(JobsChanged((replace(base, state=replace(base.state, progress=progress)),)))

        for i in range(1, 101):
            thread = threading.Thread(target=update, args=(i,))
            thread.start()
            thread.join()
            await pilot.pause()
        await until(
            pilot,
            lambda: (
                main.jobs.views["web"].state.progress is not None
                and main.jobs.views["web"].state.progress.files_done == 100
            ),
        )
        assert app.screen is editor
        assert name.value == "half-fil" and name.cursor_position == 4
        assert app.focused is focused
        assert main.jobs.views["web"].status is Status.RUNNING
        await pilot.press(*"l", "end", *"ed")
        assert name.value == "halfl-filed"


def test_path_completion(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "phone.txt").write_text("x")
    assert complete_path(str(tmp_path / "pho")) == str(tmp_path / "phone.txt")
    assert complete_path(str(tmp_path / "phot")) == str(tmp_path / "photos") + "/"
    assert complete_path(str(tmp_path / "nothing")) is None
    assert complete_path("~/pho") == "~/phone.txt"  # HOME is tmp_path in these tests


async def test_escape_asks_before_discarding_typed_text(seeded: Home, make_app: AppFactory) -> None:
    from tui_backup.tui.screens.confirm import ConfirmScreen

    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        # Keys wait their turn behind the one before (typeahead.py): wait on the screen.
        await pilot.press("n", "escape")  # nothing typed: closes at once
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("n", *"draft", "escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")  # keep editing
        await until(pilot, lambda: isinstance(app.screen, JobEditorScreen))
        editor = app.screen
        assert editor.query_one("#name", Input).value == "draft"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#yes")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))


async def test_keep_within_rules_and_a_source_with_a_comma_are_edited(
    seeded: Home, make_app: AppFactory, tmp_path: Path
) -> None:
    """Every ``keep_within*`` rule has a box; a source path with a comma is typed in quotes."""
    odd = tmp_path / "data" / "a,b"
    odd.mkdir(parents=True)
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("n")
        editor = app.screen
        assert isinstance(editor, JobEditorScreen)
        editor.query_one("#name", Input).value = "odd"
        editor.query_one("#sources", Input).value = f'"{odd}", {tmp_path / "data" / "docs"}'
        editor.query_one("#destination", Input).value = str(tmp_path / "backups" / "odd")
        editor.query_one("#keep_within_daily", Input).value = "14d"
        editor.query_one("#keep_within_yearly", Input).value = "lots"
        await validated(pilot, editor)
        assert "must be a duration" in _error(editor, "keep_within_yearly")
        editor.query_one("#keep_within_yearly", Input).value = "5y"
        await validated(pilot, editor)
        assert editor.problems == []
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        spec = app.manager.get_spec("odd")
        assert spec.sources == (str(odd), str(tmp_path / "data" / "docs"))
        retention = spec.retention.to_dict() if spec.retention else {}
        assert retention["keep_within_daily"] == "14d"
        assert retention["keep_within_yearly"] == "5y"
        await pilot.press("e")  # and the form shows them back as they were
        editor = app.screen
        assert isinstance(editor, JobEditorScreen)
        await until(pilot, lambda: editor.base is not None)
        assert editor.query_one("#keep_within_daily", Input).value == "14d"
        assert editor.job_name == "odd"
        assert editor.query_one("#sources", Input).value == '"~/data/a,b", ~/data/docs'


async def test_a_hand_edit_with_the_same_version_raises_the_banner_too(
    seeded: Home, make_app: AppFactory
) -> None:
    """People edit job files without touching ``version``: the form must notice all the same."""
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await _edit_first_job(app, pilot)
        view = app.main_screen.jobs.views["docs"]  # type: ignore[union-attr]
        app.bridge(JobsChanged((view,)))  # a progress-only update: no banner
        await pilot.pause()
        assert not editor.query_one("#conflict").display
        by_hand = replace(view, spec=replace(view.spec, description="edited by hand"))
        app.bridge(JobsChanged((by_hand,)))
        await until(pilot, lambda: editor.query_one("#conflict").display)
        assert "edited by hand" in str(editor.query_one("#conflict", Static).render())


async def test_keys_arriving_together_follow_the_tabs(seeded: Home, make_app: AppFactory) -> None:
    """``tmux send-keys "abc" Tab "desc"`` put everything into Name: the driver hands
    keys to the focused field as they arrive, before the tab had moved the focus."""
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("n")
        editor = app.screen
        assert isinstance(editor, JobEditorScreen)
        await pilot.pause()
        burst = [*"abc", "tab", *"my docs", "shift+tab", "tab", "tab", *"/srv"]
        for key in burst:  # all queued at once, as the terminal driver does
            character = {"tab": "\t", "shift+tab": None}.get(key, key)
            name = {" ": "space", "/": "slash"}.get(key, key)
            app.post_message(events.Key(name, character))
        await until(pilot, lambda: editor.query_one("#sources", Input).value == "/srv")
        assert editor.query_one("#name", Input).value == "abc"
        assert editor.query_one("#description", Input).value == "my docs"
