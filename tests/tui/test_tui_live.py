"""Runs by other processes and hand edits appear on the cards (watchers on)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tui_fixtures import AppFactory
from tui_helpers import until

from tui_backup.model.status import Status
from tui_backup.store.paths import Home

RUNNER = Path(__file__).with_name("other_runner.py")


async def test_run_in_another_process_appears_on_the_cards(
    seeded: Home, make_app: AppFactory, tmp_path: Path
) -> None:
    gate = tmp_path / "open-the-gate"
    app = make_app(seeded, watch=True)
    async with app.run_test(size=(120, 40)) as pilot:
        main = app.main_screen
        assert main is not None
        await until(pilot, lambda: main.jobs.row_count == 4)
        await until(pilot, lambda: main.header.watch_mode in ("live", "polling"))
        proc = subprocess.Popen(
            [sys.executable, str(RUNNER), str(seeded.root), "docs", str(gate)],
        )
        try:
            await until(pilot, lambda: main.jobs.views["docs"].status is Status.RUNNING)
            view = main.jobs.views["docs"]
            assert view.state.pid == proc.pid and not view.local
            await until(pilot, lambda: main.header.running_elsewhere == 2)
            assert main.header.running_here == 0
            gate.touch()
            await until(pilot, lambda: main.jobs.views["docs"].status is Status.SUCCEEDED)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


async def test_hand_edit_of_a_job_file_appears(seeded: Home, make_app: AppFactory) -> None:
    app = make_app(seeded, watch=True)
    async with app.run_test(size=(120, 40)) as pilot:
        main = app.main_screen
        assert main is not None
        await until(pilot, lambda: main.jobs.row_count == 4)
        path = seeded.job_file("photos")
        text = path.read_text().replace("0 2 * * *", "30 4 * * *")
        path.write_text(text)
        await until(pilot, lambda: main.jobs.views["photos"].spec.schedule == "30 4 * * *")


async def test_cursor_and_scroll_survive_a_new_job_appearing(
    tui_home: Home, make_app: AppFactory, tmp_path: Path
) -> None:
    from dataclasses import replace

    from tui_fixtures import make_manager

    from tui_backup.core.events import JobsChanged
    from tui_backup.model.job import parse_job

    manager = make_manager(tui_home)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(60):
        manager.create(
            parse_job({"name": f"job-{i:02d}", "sources": [str(src)], "destination": f"/bk/{i}"})
        )
    manager.shutdown()
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        main = app.main_screen
        assert main is not None
        await until(pilot, lambda: main.jobs.row_count == 60)
        await pilot.press(*["j"] * 40)
        assert main.jobs.selected_name == "job-40"
        scroll = main.jobs.scroll_y
        assert scroll > 0
        template = main.jobs.views["job-00"]
        newcomer = replace(template, spec=replace(template.spec, name="aaa-new"))
        app.bridge(JobsChanged((newcomer,)))
        await until(pilot, lambda: "aaa-new" in main.jobs.shown_names)
        assert main.jobs.selected_name == "job-40"
        assert abs(main.jobs.scroll_y - scroll) <= 2  # one new row above: at most one card
