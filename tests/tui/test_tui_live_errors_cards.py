"""Cards follow adds, edits and deletes made by the CLI in another process; and a job
added from elsewhere while the list is scrolled and an off-screen card changed does
not end the TUI (issue 10: ``CellDoesNotExist`` from ``JobTable._rebuild``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from test_tui_live_errors import tui_backup
from tui_fixtures import AppFactory, make_manager
from tui_helpers import until

from tui_backup.core.events import JobsChanged
from tui_backup.model.job import parse_job
from tui_backup.model.status import Status
from tui_backup.store.paths import Home


async def test_cli_add_edit_and_remove_show_on_the_cards(
    seeded: Home, make_app: AppFactory, tmp_path: Path
) -> None:
    app = make_app(seeded, watch=True)
    async with app.run_test(size=(120, 40)) as pilot:
        main = app.main_screen
        assert main is not None
        await until(pilot, lambda: main.jobs.row_count == 4)
        await until(pilot, lambda: main.header.watch_mode in ("live", "polling"))
        src = tmp_path / "new-src"
        src.mkdir()
        r = tui_backup(seeded, "job", "add", "added", "--source", str(src), "--dest", "/bk/added")
        assert r.returncode == 0, r.stderr
        await until(pilot, lambda: "added" in main.jobs.shown_names)
        r = tui_backup(seeded, "job", "edit", "added", "--schedule", "15 3 * * *")
        assert r.returncode == 0, r.stderr
        await until(pilot, lambda: main.jobs.views["added"].spec.schedule == "15 3 * * *")
        r = tui_backup(seeded, "job", "rm", "added")
        assert r.returncode == 0, r.stderr
        await until(pilot, lambda: "added" not in main.jobs.views)
        assert main.jobs.row_count == 4


async def test_a_job_added_elsewhere_while_scrolled_with_a_stale_card_off_screen(
    tui_home: Home, make_app: AppFactory, tmp_path: Path
) -> None:
    manager = make_manager(tui_home)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(60):
        manager.create(
            parse_job({"name": f"job-{i:02d}", "sources": [str(src)], "destination": f"/bk/{i}"})
        )
    manager.shutdown()
    app = make_app(tui_home, watch=True)
    async with app.run_test(size=(80, 24)) as pilot:
        main = app.main_screen
        assert main is not None
        await until(pilot, lambda: main.jobs.row_count == 60)
        await until(pilot, lambda: main.header.watch_mode in ("live", "polling"))
        await pilot.press(*["j"] * 40)
        assert main.jobs.selected_name == "job-40"
        assert main.jobs.scroll_y > 0
        # A run going on on a card scrolled out of view (rendered when it comes back).
        top = main.jobs.views["job-00"]
        app.bridge(JobsChanged((replace(top, state=replace(top.state, status=Status.RUNNING)),)))
        await until(pilot, lambda: main.jobs.views["job-00"].status is Status.RUNNING)
        r = tui_backup(tui_home, "job", "add", "aaa-new", "--source", str(src), "--dest", "/bk/n")
        assert r.returncode == 0, r.stderr
        await until(pilot, lambda: "aaa-new" in main.jobs.shown_names)
        assert main.jobs.selected_name == "job-40"
        await pilot.press("g")  # the app still takes keys
        assert app.is_running
