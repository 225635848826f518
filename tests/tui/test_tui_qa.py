"""What a person saw in a real terminal (tmux, 80x24) and what was fixed.

Each test reproduces one finding of a hands-on session: toasts covering the
error log, reasons cut off on the cards, stale relative times, repeated
prefixes in the log, and silent hand-edit refusals.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from rich.console import Console
from test_tui_restore import _backup
from textual import events
from textual.message import Message
from textual.widgets import Button, Footer, Input, Label, Static
from textual.widgets._footer import FooterKey
from tui_fixtures import FIXED_NOW, AppFactory
from tui_helpers import toasts, until

from tui_backup.core.config import SettingsStore
from tui_backup.model.records import ErrorEvent
from tui_backup.model.state import JobState, LastResult
from tui_backup.model.status import Severity, Status
from tui_backup.store.paths import Home
from tui_backup.tui.app import BackupApp
from tui_backup.tui.messages import ActionFailed, ActionSucceeded, RestoreFinished, RunFinished
from tui_backup.tui.screens.details import DetailsScreen
from tui_backup.tui.screens.editor import JobEditorScreen
from tui_backup.tui.screens.error_detail import ErrorDetailScreen
from tui_backup.tui.screens.help import key_table
from tui_backup.tui.screens.main import MainScreen
from tui_backup.tui.screens.quit import QuitScreen
from tui_backup.tui.screens.restore import RestoreScreen
from tui_backup.tui.widgets.error_log import what_text


async def _ready(app, pilot) -> MainScreen:  # type: ignore[no-untyped-def]
    await app.workers.wait_for_complete()
    await pilot.pause()
    main = app.main_screen
    assert main is not None
    await until(pilot, lambda: main.jobs.row_count > 0 and main.errors.row_count > 0)
    return main


def _cell(main: MainScreen, job: str, column: str) -> str:
    return str(main.jobs.get_cell(job, column))


async def test_run_and_stop_raise_no_toast_and_stopping_an_idle_job_is_a_warning(
    seeded: Home, make_app: AppFactory
) -> None:
    seen: list[Message] = []
    app = make_app(seeded)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        main = await _ready(app, pilot)
        await pilot.press("r")
        await until(pilot, lambda: any(isinstance(m, ActionSucceeded) for m in seen))
        await pilot.press("x")
        await until(pilot, lambda: any(isinstance(m, RunFinished) for m in seen))
        raised = [n.message for n in toasts(app)]
        assert not any("started" in t or "stop requested" in t for t in raised), raised
        app.clear_notifications()
        await until(pilot, lambda: main.jobs.views["docs"].status is Status.STOPPED)
        await pilot.press("x")  # nothing runs: a short warning, not "Could not stop"
        await until(pilot, lambda: any(isinstance(m, ActionFailed) for m in seen))
        await pilot.pause()
        notes = list(toasts(app))
        assert [(n.severity, n.title) for n in notes] == [("warning", "")]
        assert notes[0].message == "docs is not running"


async def test_l_moves_to_the_log_and_clears_the_toasts_over_it(
    seeded: Home, make_app: AppFactory
) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        main = await _ready(app, pilot)
        app.notify("laptop: source /mnt/laptop does not exist", severity="error", timeout=10)
        await pilot.pause()
        assert list(toasts(app))
        await pilot.press("l")
        assert main.errors.has_focus
        assert not list(toasts(app))


async def test_stopped_card_shows_what_was_done_and_failed_card_the_reason(
    seeded: Home, make_app: AppFactory
) -> None:
    app = make_app(seeded)
    app.manager.states.write(
        JobState(
            "photos",
            Status.STOPPED,
            last_result=LastResult(
                Status.STOPPED,
                FIXED_NOW - timedelta(minutes=3, seconds=4),
                FIXED_NOW - timedelta(minutes=3),
                files=15326,
                bytes=31_400_000,
                error="stopped by request (tui pid 17248 on vm)",
            ),
        )
    )
    async with app.run_test(size=(80, 24)) as pilot:
        main = await _ready(app, pilot)
        stopped = _cell(main, "photos", "status")
        # a stopped run commits nothing: its bytes are no snapshot (test_tui_layout.py)
        assert stopped.splitlines() == ["stopped", "3m ago · no snapshot made"]
        failed = _cell(main, "laptop", "status")
        assert (
            failed.splitlines()[1] == "5m ago: source /mnt/laptop"
        )  # was "last 5m ago: source /mnt/…"; the rest goes on in the next column


async def test_error_log_says_what_happened_first_and_its_times_move_on(
    seeded: Home, make_app: AppFactory
) -> None:
    now = [FIXED_NOW]
    app = make_app(seeded)
    app.clock = lambda: now[0]
    async with app.run_test(size=(80, 24)) as pilot:
        main = await _ready(app, pilot)
        log = main.errors
        laptop = next(e for e in log._events.values() if e.job_name == "laptop")
        what = str(log.get_cell(str(laptop.id), "what"))
        assert what.startswith("source /mnt/laptop does not exist · engine:snapshot")
        assert str(log.get_cell(str(laptop.id), "when")) == "5m"
        now[0] = FIXED_NOW + timedelta(minutes=10)
        log.refresh_times()  # what the log's own one-second timer does
        assert str(log.get_cell(str(laptop.id), "when")) == "15m"


def test_what_text_keeps_a_message_about_another_job() -> None:
    event = ErrorEvent(Severity.LOW, "scheduler", "x", "photos: slept", job_name="web")
    assert what_text(event) == "photos: slept"
    event = ErrorEvent(Severity.LOW, "scheduler", "x", "web:  slept\n  long", job_name="web")
    assert what_text(event) == "slept long"


async def test_a_bad_hand_edit_is_reported_in_a_toast(seeded: Home, make_app: AppFactory) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        app.clear_notifications()
        app.manager.record_error(
            ErrorEvent(
                Severity.MEDIUM,
                "store",
                "invalid_job_file",
                "jobs/docs.yaml: retries: must be an integer between 0 and 20; your file "
                "was kept as jobs/docs.yaml.corrupt-1; the last good version is in effect",
                job_name="docs",
            )
        )
        await until(pilot, lambda: any("kept as" in n.message for n in toasts(app)))
        note = next(n for n in toasts(app) if "kept as" in n.message)
        assert note.severity == "warning"


async def test_restore_twice_from_one_snapshot_and_read_the_result(
    seeded: Home, make_app: AppFactory, tmp_path: Path
) -> None:
    """ "Restored 1 file", the whole result readable at 80 columns, and a second
    restore offered a new folder instead of refusing the one just filled."""
    _backup(seeded)
    seen: list[Message] = []
    app = make_app(seeded)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await _ready(app, pilot)
        await pilot.press("R")
        screen = app.screen
        assert isinstance(screen, RestoreScreen)
        await until(pilot, lambda: screen.snapshot_tree is not None)
        status = screen.query_one("#restore-status", Static)
        assert "Will restore everything (2 files," in str(status.render())
        await pilot.press("tab", "down", "space")
        assert str(status.render()) == "Will restore notes."
        await pilot.press("ctrl+s")
        await until(pilot, lambda: any(isinstance(m, RestoreFinished) for m in seen))
        await pilot.pause()
        first = "~/tui-backup-restores/docs-2026-01-15T103000Z"
        text = str(status.render())
        assert text == f"Restored 1 file (15 B) into {first}"
        assert status.size.height == 2  # wraps at 80 columns instead of losing the path
        target = screen.query_one("#target", Input)
        assert target.value == f"{first}-2"
        seen.clear()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: any(isinstance(m, RestoreFinished) for m in seen))
        done = next(m for m in seen if isinstance(m, RestoreFinished))
        assert done.error is None
        assert (tmp_path / "tui-backup-restores" / "docs-2026-01-15T103000Z-2" / "notes").is_dir()


def test_help_fits_80_columns() -> None:
    """The key column was 24 cells wide (``escape,q,question_mark``), squeezing the text."""
    console = Console(width=76, record=True, color_system=None)
    console.print(key_table({"job.run": "r,ctrl+r"}))
    text = console.export_text()
    assert "create a job in the editor" in text  # one line, not wrapped
    assert "esc q ?" in text and "question_mark" not in text
    assert "r ctrl+r" in text
    assert max(len(line) for line in text.splitlines()) <= 76


async def test_button_key_hints_are_shown_not_eaten_as_markup(
    seeded: Home, make_app: AppFactory
) -> None:
    """``Stay [esc]`` rendered as "Stay", ``[s]`` even struck the rest through."""
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        app.push_screen(QuitScreen(("docs",)))
        await pilot.pause()
        labels = [str(b.label) for b in app.screen.query(Button)]
        assert labels == ["Wait, then quit [w]", "Stop them and quit [s]", "Stay [esc]"]
        await pilot.press("escape")
        await pilot.press("d")
        await pilot.pause()
        assert "Cancel [esc]" in [str(b.label) for b in app.screen.query(Button)]


async def test_details_sparkline_labels_fit_80_columns(seeded: Home, make_app: AppFactory) -> None:
    """ "duration of the last 8 runs · max 9s" was cut off at 80 columns."""
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, DetailsScreen)
        label = screen.query_one("#spark-duration-label", Label)
        await until(pilot, lambda: "max" in str(label.render()))
        text = str(label.render())
        assert text == "duration, last 7 backups · max 9s"  # the failed run made none
        assert len(text) <= label.size.width
        size = str(screen.query_one("#spark-size-label", Label).render())
        assert size == "size, last 7 backups · max 12.3 MB"


async def test_dialogs_show_their_own_keys_in_the_footer(
    seeded: Home, make_app: AppFactory
) -> None:
    """The quit dialog's footer listed 'n New e Edit r Run…', keys that did nothing there."""
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        app.push_screen(QuitScreen(("docs",)))

        def keys() -> set[str]:  # the footer recomposes after the screen changes: wait for it
            return {k.description for f in app.screen.query(Footer) for k in f.query(FooterKey)}

        await until(pilot, lambda: keys() == {"Stay", "Wait, then quit", "Stop them and quit"})
        await pilot.press("escape")
        await pilot.press("d")
        await until(pilot, lambda: keys() == {"Cancel"})


async def test_editor_fields_are_visible_in_the_high_contrast_theme(
    seeded: Home, make_app: AppFactory
) -> None:
    """In backup-contrast an empty field had no background: nothing showed where to type."""
    SettingsStore(seeded).update(theme="backup-contrast")
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        assert app.has_class("-ansi-theme")
        await pilot.press("n")
        editor = app.screen
        assert isinstance(editor, JobEditorScreen)
        await pilot.pause()
        after = editor.query_one("#hooks_after", Input)
        assert after.styles.background.a > 0  # not transparent
        await pilot.press("escape", "t")  # backup-dark (after contrast): the class goes
        await pilot.pause()
        assert not app.has_class("-ansi-theme")


def _burst(app: BackupApp, *keys: str) -> None:
    """Queue keys all at once, as the terminal driver does for ``tmux send-keys a b c``."""
    names = {"/": "slash", " ": "space", "?": "question_mark"}
    chars = {"enter": "\r", "escape": "\x1b", "tab": "\t"}
    for key in keys:
        app.post_message(events.Key(names.get(key, key), chars.get(key, key)))


async def test_keys_arriving_together_reach_the_screen_they_were_meant_for(
    seeded: Home, make_app: AppFactory
) -> None:
    """``l Enter`` opened the job's details, not the error; ``/ fail Enter`` typed
    into the job list (where ``d`` opens the delete dialog) instead of the filter."""
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        main = await _ready(app, pilot)
        _burst(app, "l", "enter")
        await until(pilot, lambda: isinstance(app.screen, ErrorDetailScreen))
        _burst(app, "escape", "tab", "/", *"failed", "enter")
        await until(pilot, lambda: main.jobs.query_text == "failed")
        assert app.screen is main
        assert main.jobs.shown_names == ["laptop"]
