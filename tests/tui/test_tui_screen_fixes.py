"""Issue 10's findings on the details, help, main and editor screens, one test each.

Each failed on the code before the fix (see the commit that added it).
"""

from __future__ import annotations

import threading
from datetime import timedelta

from rich.console import Console
from textual.widgets import Input, Static, TabbedContent
from tui_fixtures import FIXED_NOW, AppFactory, make_manager
from tui_helpers import burst, until

from tui_backup.model.records import RunRecord
from tui_backup.model.status import Status
from tui_backup.store.paths import Home
from tui_backup.tui.screens.details import DetailsScreen, spark_series
from tui_backup.tui.screens.editor import JobEditorScreen
from tui_backup.tui.screens.help import key_table


async def _ready(app, pilot):  # type: ignore[no-untyped-def]
    await app.workers.wait_for_complete()
    main = app.main_screen
    assert main is not None
    await until(pilot, lambda: main.jobs.row_count == 4)
    return main


async def test_details_tabs_switch_with_tab_and_arrows_and_the_footer_says_so(
    seeded: Home, make_app: AppFactory
) -> None:
    """The tabs switched only after shift+tab, and nothing said so."""
    app = make_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot)
        await pilot.press("enter")
        details = app.screen
        assert isinstance(details, DetailsScreen)
        tabs = details.query_one("#details-tabs", TabbedContent)
        await until(pilot, lambda: tabs.active == "tab-history")
        await pilot.press("right")
        assert tabs.active == "tab-snapshots"
        await pilot.press("tab")
        assert tabs.active == "tab-errors"
        assert details.query_one("#job-errors").has_focus
        await pilot.press("left", "left")
        assert tabs.active == "tab-history"
        await pilot.press("shift+tab")
        assert tabs.active == "tab-spec"
        # What the footer shows: the active bindings marked to be shown.
        shown = {b.binding.description for b in app.active_bindings.values() if b.binding.show}
        assert {"Next tab", "Prev tab"} <= shown, shown


def _run(n: int, status: Status, seconds: int, size: int) -> RunRecord:
    start = FIXED_NOW - timedelta(days=10 - n)
    return RunRecord(
        run_id=f"r{n}",
        job_name="docs",
        started_at=start,
        finished_at=start + timedelta(seconds=seconds),
        status=status,
        files=1,
        bytes=size,
    )


def test_sparklines_leave_out_runs_that_made_no_backup() -> None:
    """A stopped run (x after 2 s, 1.4 GB copied) drew a dip and a peak on the sparklines."""
    runs = [  # newest first, as history() returns them
        _run(5, Status.SUCCEEDED, 30, 1000),
        _run(4, Status.STOPPED, 2, 1_400_000_000),
        _run(3, Status.INTERRUPTED, 1, 5),
        _run(2, Status.FAILED, 0, 0),
        _run(1, Status.SUCCEEDED, 20, 900),
    ]
    durations, sizes = spark_series(runs)
    assert durations == [20.0, 30.0]
    assert sizes == [900.0, 1000.0]


def test_help_lists_the_dialogs_escape_once() -> None:
    """Help showed "esc Cancel" three times under Dialogs."""
    console = Console(width=100, record=True)
    console.print(key_table({}))
    lines = console.export_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Dialogs")
    dialogs = lines[start : start + 12]
    cancels = [line for line in dialogs if line.split()[:2] == ["esc", "Cancel"]]
    assert len(cancels) == 1, "\n".join(dialogs)
    assert "confirm.cancel" in " ".join(dialogs)


async def test_the_first_frame_says_loading_not_no_jobs_yet(
    seeded: Home, make_app: AppFactory
) -> None:
    """Before the jobs were read, the screen said "No jobs yet" to a home full of jobs."""
    manager = make_manager(seeded)
    release = threading.Event()
    list_jobs = manager.list_jobs

    def slow_list_jobs():  # type: ignore[no-untyped-def]
        release.wait(30)  # the test decides when the first read ends
        return list_jobs()

    manager.list_jobs = slow_list_jobs  # type: ignore[method-assign]
    app = make_app(seeded, manager=manager)
    async with app.run_test(size=(80, 24)) as pilot:
        main = app.main_screen
        assert main is not None
        hint = main.query_one("#empty-hint", Static)
        await pilot.pause()
        assert "No jobs yet" not in str(hint.render())
        assert "Loading" in str(hint.render()) and hint.display
        release.set()
        await until(pilot, lambda: main.jobs.row_count == 4 and not hint.display)


async def test_the_editor_checks_once_typing_pauses_not_on_every_key(
    seeded: Home, make_app: AppFactory
) -> None:
    """Every key ran the whole validation (33 characters echoed in 8.9 s under load)."""
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        await pilot.press("n")
        editor = app.screen
        assert isinstance(editor, JobEditorScreen)
        await until(pilot, lambda: editor.settled)
        checks: list[bool] = []
        validate = editor.validate

        def counted() -> bool:
            checks.append(True)
            return validate()

        editor.validate = counted  # type: ignore[method-assign]
        editor.validate_after = 600  # no pause in this burst ends before the save below
        burst(app, *"a-long-job-name-typed-fast")
        await until(pilot, lambda: editor.query_one("#name", Input).value.endswith("fast"))
        assert checks == []  # 26 keys, no check yet
        await pilot.press("ctrl+s")  # saving checks at once, whatever the wait
        assert len(checks) == 1
        assert editor.valid_spec is None  # the check ran: sources are missing


async def test_editing_opens_filled_without_waiting_for_a_read(
    seeded: Home, make_app: AppFactory
) -> None:
    """``e`` opened an empty form and read the job in a worker thread first."""
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        burst(app, "e", *" edited")
        await until(pilot, lambda: isinstance(app.screen, JobEditorScreen))
        editor = app.screen
        await until(pilot, lambda: editor.is_mounted)
        description = editor.query_one("#description", Input)
        await until(pilot, lambda: description.value.endswith("edited"))
        assert editor.base is not None and editor.job_name == "docs"
        assert description.value == (editor.base.description or "") + " edited"
        assert editor.query_one("#name", Input).value == "docs"
