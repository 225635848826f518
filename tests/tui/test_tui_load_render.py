"""The job table under load: a cursor move redraws two cards, and draws them right.

benchmarks/load.py (200 jobs, 50 running) showed the table's lines as most of the
event loop's time: DataTable keys every cached row by the cursor's position, so
one ``j`` re-rendered every visible card. ``JobTable`` renders the rows the cursor
is not on as if it were nowhere. These tests hold both halves of that: the lines
read exactly as a cold DataTable render of the same table, and a move renders
only the row it leaves and the row it reaches.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from rich.segment import Segment
from rich.text import Text
from textual.geometry import Region
from textual.widgets import DataTable
from tui_fixtures import FIXED_NOW, AppFactory, make_manager
from tui_helpers import until

from tui_backup.core.events import JobsChanged
from tui_backup.core.views import JobView
from tui_backup.model.job import parse_job
from tui_backup.store.paths import Home
from tui_backup.tui.widgets.job_table import ROW_HEIGHT, JobTable


def _clear_caches(table: JobTable) -> None:
    for cache in (
        table._row_render_cache,
        table._line_cache,
        table._cell_render_cache,
        table._row_renderable_cache,
    ):
        cache.clear()
    table._styles_cache.clear()


def _lines(table: JobTable) -> list[list[Segment]]:
    """Every line of the table as the compositor would get it (the frame path)."""
    table._styles_cache.clear()  # or it hands back the lines it drew last frame
    strips = table.render_lines(Region(0, 0, table.size.width, table.size.height))
    return [list(strip) for strip in strips]


async def test_lines_read_as_a_cold_datatable_render_after_cursor_moves(
    seeded: Home, make_app: AppFactory
) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        main = app.main_screen
        assert main is not None
        table = main.jobs
        await until(pilot, lambda: table.row_count == 4)
        table.focus()
        for key in ("j", "j", "k", "j", "j", "k"):  # warm caches at several positions
            await pilot.press(key)
            _lines(table)
        assert table.cursor_row == 2
        ours = _lines(table)

        # The reference: DataTable's own row rendering, every cache empty.
        _clear_caches(table)
        original = JobTable._render_line_in_row
        JobTable._render_line_in_row = DataTable._render_line_in_row  # type: ignore[method-assign]
        try:
            reference = _lines(table)
        finally:
            JobTable._render_line_in_row = original  # type: ignore[method-assign]
        assert ours == reference
        # And the cursor row is drawn differently from the others (the check can fail).
        first = 1 + 2 * ROW_HEIGHT  # header line, then two cards
        assert ours[first] != ours[first - ROW_HEIGHT]


async def test_a_cursor_move_renders_only_the_rows_it_leaves_and_reaches(
    seeded: Home, make_app: AppFactory
) -> None:
    app = make_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        main = app.main_screen
        assert main is not None
        table = main.jobs
        await until(pilot, lambda: table.row_count == 4)
        table.focus()
        await pilot.pause()
        _lines(table)  # every card rendered once with the cursor on the first
        before = len(table._row_render_cache)
        table.action_cursor_down()
        lines = _lines(table)
        assert len(lines) == table.size.height
        # Rows 0 (left) and 1 (reached), each two lines: nothing else re-rendered.
        assert len(table._row_render_cache) - before == 2 * ROW_HEIGHT


async def test_a_change_the_card_does_not_show_replaces_no_cell(
    seeded: Home, make_app: AppFactory
) -> None:
    """Progress replaces only the cells whose text changed; a hidden change replaces none
    (each replaced cell makes DataTable render every visible row again)."""
    app = make_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        main = app.main_screen
        assert main is not None
        table = main.jobs
        await until(pilot, lambda: table.row_count == 4)
        await app.workers.wait_for_complete()
        await pilot.pause()  # start-up's own updates done
        view = table.views["web"]
        job, status, when = table.get_row("web")
        count = table._update_count

        # Only the heartbeat moved on: the card reads the same.
        beat = replace(view, state=replace(view.state, updated_at=FIXED_NOW + timedelta(seconds=5)))
        app.bridge(JobsChanged((beat,)))
        await until(pilot, lambda: table.views["web"] is beat)
        assert table._update_count == count

        # One more file copied: the status cell changes, the name and the rate do not.
        progress = view.state.progress
        assert progress is not None
        more = replace(beat, state=replace(beat.state, progress=replace(
            progress, files_done=progress.files_done + 1)))  # fmt: skip
        app.bridge(JobsChanged((more,)))
        await until(pilot, lambda: table.views["web"] is more)
        assert table._update_count == count + 1
        new_job, new_status, new_when = table.get_row("web")
        assert new_job is job and new_when is when
        assert new_status != status
        assert "1291" in new_status.plain


async def test_a_long_list_renders_the_cards_in_view_and_the_rest_as_they_come(
    tui_home: Home, make_app: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """60 jobs at 80x24: the first frame builds the cards in view, not 60; every card
    reads in full once it scrolls into view (the end of the list, then back)."""
    manager = make_manager(tui_home)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(60):
        manager.create(parse_job({"name": f"job-{i:02d}", "sources": [str(src)],
                                  "destination": f"/bk/{i}"}))  # fmt: skip
    manager.shutdown()
    built: list[str] = []
    cells = JobTable._cells

    def counting(self: JobTable, view: JobView) -> tuple[Text, Text, Text]:
        built.append(view.name)
        return cells(self, view)

    monkeypatch.setattr(JobTable, "_cells", counting)
    app = make_app(tui_home)
    async with app.run_test(size=(80, 24)) as pilot:
        main = app.main_screen
        assert main is not None
        table = main.jobs
        await until(pilot, lambda: table.row_count == 60)
        await pilot.pause()
        assert 0 < len(set(built)) < 30
        assert "job-59" not in built

        def reads_in_full(name: str) -> bool:
            return str(table.get_cell(name, "job")).startswith(name)

        assert reads_in_full("job-00")
        table.focus()
        await pilot.press("G")  # the last card
        await until(pilot, lambda: reads_in_full("job-59"))
        assert all(reads_in_full(n) for n in ("job-55", "job-56", "job-57", "job-58"))
        await pilot.press("g")
        await until(pilot, lambda: reads_in_full("job-00"))
