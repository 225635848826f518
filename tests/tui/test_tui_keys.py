"""Every key of the main screen, driven through Pilot on a seeded home."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandList, CommandPalette
from textual.message import Message
from tui_doubles import Gate
from tui_fixtures import AppFactory
from tui_helpers import toasts, until, validated

from tui_backup.core.config import SettingsStore
from tui_backup.model.status import Status
from tui_backup.store.paths import Home
from tui_backup.tui.messages import ActionFailed, ActionSucceeded, RunFinished
from tui_backup.tui.screens.delete import DeleteJobScreen
from tui_backup.tui.screens.details import DetailsScreen
from tui_backup.tui.screens.editor import JobEditorScreen
from tui_backup.tui.screens.error_detail import ErrorDetailScreen
from tui_backup.tui.screens.help import HelpScreen
from tui_backup.tui.screens.main import MainScreen
from tui_backup.tui.screens.quit import QuitScreen
from tui_backup.tui.screens.restore import RestoreScreen
from tui_backup.tui.widgets.error_log import ErrorLog


async def _ready(app, pilot) -> MainScreen:  # type: ignore[no-untyped-def]
    await app.workers.wait_for_complete()
    await pilot.pause()
    main = app.main_screen
    assert main is not None
    await until(pilot, lambda: main.jobs.row_count > 0)
    return main


async def test_cards_header_and_movement(seeded: Home, make_app: AppFactory) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        main = await _ready(app, pilot)
        assert main.jobs.shown_names == ["docs", "laptop", "photos", "web"]
        assert main.header.running_elsewhere == 1
        assert main.header.running_here == 0
        assert main.header.unresolved == 2
        assert main.jobs.selected_name == "docs"
        await pilot.press("j", "down")
        assert main.jobs.selected_name == "photos"
        await pilot.press("k")
        assert main.jobs.selected_name == "laptop"
        await pilot.press("up")
        assert main.jobs.selected_name == "docs"


async def test_run_then_stop(seeded: Home, make_app: AppFactory, gates: dict[str, Gate]) -> None:
    seen: list[Message] = []
    app = make_app(seeded)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        main = await _ready(app, pilot)
        await pilot.press("r")
        await until(pilot, lambda: main.jobs.views["docs"].status is Status.RUNNING)
        await until(pilot, lambda: main.header.running_here == 1)
        await until(
            pilot, lambda: any(isinstance(m, ActionSucceeded) and m.action == "run" for m in seen)
        )
        await pilot.press("r")  # again: refused, with a readable reason
        await until(pilot, lambda: any(isinstance(m, ActionFailed) for m in seen))
        failed = next(m for m in seen if isinstance(m, ActionFailed))
        assert "already running" in failed.text
        await pilot.press("x")
        await until(pilot, lambda: any(isinstance(m, RunFinished) for m in seen))
        ended = next(m for m in seen if isinstance(m, RunFinished))
        assert ended.run.status is Status.STOPPED
        await until(pilot, lambda: main.jobs.views["docs"].status is Status.STOPPED)


async def test_n_creates_a_job(seeded: Home, make_app: AppFactory, tmp_path: Path) -> None:
    src = tmp_path / "new-src"
    src.mkdir()
    app = make_app(seeded)
    async with app.run_test(size=(100, 40)) as pilot:
        await _ready(app, pilot)
        await pilot.press("n")
        editor = app.screen
        assert isinstance(editor, JobEditorScreen)
        await pilot.press(*"mail")
        editor.query_one("#sources").value = str(src)  # type: ignore[attr-defined]
        editor.query_one("#destination").value = str(tmp_path / "bk-mail")  # type: ignore[attr-defined]
        editor.query_one("#schedule").value = "15 3 * * 1-5"  # type: ignore[attr-defined]
        await validated(pilot, editor)
        assert editor.valid_spec is not None
        preview = str(editor.query_one("#schedule-preview").render())
        assert "03:15" in preview and "next:" in preview
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await until(pilot, lambda: "mail" in app.main_screen.jobs.views)  # type: ignore[union-attr]
        assert app.manager.get_spec("mail").schedule == "15 3 * * 1-5"
        await until(pilot, lambda: app.main_screen.jobs.selected_name == "mail")  # type: ignore[union-attr]


async def test_e_edits_with_version(seeded: Home, make_app: AppFactory) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(100, 40)) as pilot:
        await _ready(app, pilot)
        before = app.manager.get_spec("docs").version
        await pilot.press("e")
        editor = app.screen
        assert isinstance(editor, JobEditorScreen)
        await app.workers.wait_for_complete()
        await until(pilot, lambda: editor.base is not None)
        assert editor.query_one("#name").disabled  # type: ignore[attr-defined]
        editor.query_one("#description").value = "my documents"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        spec = app.manager.get_spec("docs")
        assert spec.description == "my documents" and spec.version == before + 1


async def test_enter_opens_details_lazily(seeded: Home, make_app: AppFactory) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        await pilot.press("enter")
        details = app.screen
        assert isinstance(details, DetailsScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert details.query_one("#history").row_count == 8  # type: ignore[attr-defined]
        # Seven: the failed run made no backup, so it is not on the sparkline.
        assert len(details.query_one("#spark-duration").data) == 7  # type: ignore[attr-defined]
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_d_delete_keeps_data_by_default(
    seeded: Home, make_app: AppFactory, tmp_path: Path
) -> None:
    dest = tmp_path / "backups" / "docs"
    dest.mkdir(parents=True)
    (dest / "keep.txt").write_text("x")
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        main = await _ready(app, pilot)
        await pilot.press("d")
        dialog = app.screen
        assert isinstance(dialog, DeleteJobScreen)
        text = str(dialog.query_one("#consequence").render())
        assert "only" in text and "kept" in text
        dialog.query_one("#purge").toggle()  # type: ignore[attr-defined]
        await pilot.pause()
        assert "every backup it made at" in str(dialog.query_one("#consequence").render())
        dialog.query_one("#purge").toggle()  # type: ignore[attr-defined]
        await pilot.pause()
        assert "kept" in str(dialog.query_one("#consequence").render())
        await pilot.click("#delete")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: "docs" not in main.jobs.views)
        assert (dest / "keep.txt").exists()


# Keys only (either outcome accepted); outcomes: test_documented_keys.py (v ok/damaged, R lists).
async def test_R_restore_and_v_verify(seeded: Home, make_app: AppFactory) -> None:
    seen: list[Message] = []
    app = make_app(seeded)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await _ready(app, pilot)
        await pilot.press("v")
        await app.workers.wait_for_complete()
        await until(
            pilot,
            lambda: any(
                isinstance(m, ActionFailed | ActionSucceeded) and m.action == "verify" for m in seen
            ),
        )
        await pilot.press("R")
        assert isinstance(app.screen, RestoreScreen)
        await app.workers.wait_for_complete()
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_slash_filters_by_status_and_name(seeded: Home, make_app: AppFactory) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        main = await _ready(app, pilot)
        await pilot.press("slash", *"failed")
        assert main.jobs.shown_names == ["laptop"]
        await pilot.press("enter")
        assert main.jobs.has_focus and main.jobs.shown_names == ["laptop"]
        await pilot.press("escape")
        assert main.jobs.shown_names == ["docs", "laptop", "photos", "web"]
        await pilot.press("slash", *"pho")
        assert main.jobs.shown_names == ["photos"]


async def test_error_log_detail_and_resolve(seeded: Home, make_app: AppFactory) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        main = await _ready(app, pilot)
        await until(pilot, lambda: main.errors.row_count == 2)
        await pilot.press("l")
        assert isinstance(app.focused, ErrorLog)
        event = main.errors.selected_event
        assert event is not None and event.severity == "HIGH"  # newest first
        await pilot.press("enter")
        assert isinstance(app.screen, ErrorDetailScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "FileNotFoundError" in str(app.screen.query_one("#error-trace").render())
        await pilot.press("escape")
        await pilot.press("space")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: main.header.unresolved == 1)
        assert main.errors.row_count == 1


async def test_t_cycles_theme_and_saves(seeded: Home, make_app: AppFactory) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        assert app.theme == "backup-dark"
        await pilot.press("t")
        await app.workers.wait_for_complete()
        assert app.theme == "backup-contrast"
        assert SettingsStore(seeded).load().theme == "backup-contrast"
        main = app.main_screen
        assert main is not None

        def failed_colour() -> object:
            return main.jobs.get_row("laptop")[1].spans[0].style.color

        await until(pilot, lambda: getattr(failed_colour(), "number", None) == 9)  # re-styled


async def test_help_lists_every_binding(seeded: Home, make_app: AppFactory) -> None:
    from tui_backup.tui.keymap import APP_BINDINGS, MAIN_BINDINGS

    app = make_app(seeded)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.pause()
        from rich.console import Console

        from tui_backup.tui.screens.help import key_table

        console = Console(width=120, record=True)
        console.print(key_table(app.user_keymap))
        text = console.export_text()
        for binding in MAIN_BINDINGS + APP_BINDINGS:
            assert binding.id in text
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_q_quits_at_once_when_idle(seeded: Home, make_app: AppFactory) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == 0


async def test_q_asks_while_running_and_stops(
    seeded: Home, make_app: AppFactory, gates: dict[str, Gate]
) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        main = await _ready(app, pilot)
        await pilot.press("r")
        await until(pilot, lambda: main.header.running_here == 1)
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("q", "s")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert app.return_value == 0
    assert app.manager.state("docs").status is Status.STOPPED


async def test_q_wait_leaves_runs_to_finish(
    seeded: Home, make_app: AppFactory, gates: dict[str, Gate]
) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        main = await _ready(app, pilot)
        await pilot.press("r")
        await until(pilot, lambda: main.header.running_here == 1)
        await pilot.press("q", "w")
        assert app.quit_when_idle
        gates["docs"].opened.set()
        await until(pilot, lambda: app.return_value is not None)
    assert app.manager.state("docs").status is Status.SUCCEEDED


async def test_ctrl_p_palette_runs_a_job(
    seeded: Home, make_app: AppFactory, gates: dict[str, Gate]
) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        main = await _ready(app, pilot)
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Run photos")
        commands = app.screen.query_one(CommandList)
        await until(pilot, lambda: commands.option_count > 0)
        assert "Run photos" in str(commands.get_option_at_index(0).prompt)
        await pilot.press("enter")
        await until(pilot, lambda: main.jobs.views["photos"].status is Status.RUNNING)


async def test_keymap_from_config(tui_home: Home, make_app: AppFactory, tmp_path: Path) -> None:
    tui_home.config_path.write_text("keymap:\n  job.run: ctrl+r\n  no.such: z\n")
    seen: list[Message] = []
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        raised = [n.message for n in toasts(app)]
        assert any("keymap.no.such" in t for t in raised)
        await pilot.press("ctrl+r")  # remapped; no job selected -> a warning toast
        await pilot.pause()
        assert any("No job selected" in n.message for n in toasts(app))


async def test_bad_theme_file_one_toast_and_default(tui_home: Home, make_app: AppFactory) -> None:
    (tui_home.themes_dir / "bad.yaml").write_text("name: bad\nprimary: nocolour\n")
    (tui_home.themes_dir / "worse.yaml").write_text("- a list\n")
    tui_home.config_path.write_text("theme: bad\n")
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "backup-dark"
        theme_toasts = [n for n in toasts(app) if "Theme problems" in n.message]
        assert len(theme_toasts) == 1
        assert "bad.yaml" in theme_toasts[0].message and "worse.yaml" in theme_toasts[0].message


async def test_f_filters_the_error_log(seeded: Home, make_app: AppFactory) -> None:
    from textual.widgets import Select

    from tui_backup.tui.screens.error_filter import ErrorFilterScreen

    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        main = await _ready(app, pilot)
        await until(pilot, lambda: main.errors.row_count == 2)
        await pilot.press("l", "f")
        dialog = app.screen
        assert isinstance(dialog, ErrorFilterScreen)
        dialog.query_one("#severity", Select).value = "HIGH"
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: main.errors.row_count == 1)
        assert main.error_filter.min_severity == "HIGH"
        assert "≥HIGH" in str(main.query_one("#errors-pane").border_subtitle)
        await pilot.press("f")
        dialog = app.screen
        assert isinstance(dialog, ErrorFilterScreen)
        dialog.query_one("#severity", Select).clear()
        dialog.query_one("#job", Select).value = "photos"
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: main.errors.row_count == 1)
        event = main.errors.selected_event
        assert event is not None and event.job_name == "photos"


async def test_space_in_error_detail_resolves(seeded: Home, make_app: AppFactory) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        main = await _ready(app, pilot)
        await until(pilot, lambda: main.errors.row_count == 2)
        await pilot.press("l", "enter")
        assert isinstance(app.screen, ErrorDetailScreen)
        await app.workers.wait_for_complete()
        await until(pilot, lambda: app.screen.event is not None)  # type: ignore[attr-defined]
        await pilot.press("space")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: main.header.unresolved == 1)
        assert isinstance(app.screen, MainScreen)


async def test_unexpected_worker_failure_is_a_toast_and_an_error_event(
    seeded: Home, make_app: AppFactory, monkeypatch
) -> None:
    app = make_app(seeded)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("database on fire")

    async with app.run_test(size=(80, 24)) as pilot:
        main = await _ready(app, pilot)
        monkeypatch.setattr(app.manager, "errors", broken)
        app.load_errors()
        await until(pilot, lambda: any("database on fire" in n.message for n in toasts(app)))
        monkeypatch.undo()
        await until(pilot, lambda: any(e.component == "tui" for e in app.manager.errors()))
        assert app.is_running and isinstance(app.screen, MainScreen) and main.is_mounted
