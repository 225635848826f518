"""``v`` and ``R`` on a job with a real snapshot: outcomes asserted, not "either".

Replaces the audit's weak ``test_R_restore_and_v_verify`` (tests/tui/test_tui_keys.py),
which accepted a failed or a successful verify alike: here ``v`` on an intact
snapshot must say ``ok`` with what it read, ``v`` after a flipped byte must fail
with ``damaged``, and ``R`` must list the snapshot the run made.
"""

from __future__ import annotations

import os
from pathlib import Path

from textual.message import Message
from textual.widgets import DataTable
from tui_fixtures import AppFactory, job_data, make_manager
from tui_helpers import until

from tui_backup.model.job import parse_job
from tui_backup.model.status import Status
from tui_backup.store.paths import Home
from tui_backup.tui.messages import ActionFailed, ActionSucceeded
from tui_backup.tui.screens.main import MainScreen
from tui_backup.tui.screens.restore import RestoreScreen


def _verify_results(seen: list[Message]) -> list[Message]:
    """The verify outcomes (not the "verifying…" note that comes first)."""
    return [
        m
        for m in seen
        if isinstance(m, ActionFailed | ActionSucceeded)
        and m.action == "verify"
        and not m.text.endswith("verifying…")
    ]


async def test_v_verifies_ok_then_damaged_and_R_lists_the_snapshot(
    tui_home: Home, make_app: AppFactory, tmp_path: Path
) -> None:
    manager = make_manager(tui_home)  # the real snapshot engine, not the gated double
    manager.create(parse_job(job_data(tmp_path, "docs", retries=0)))
    (tmp_path / "backups").mkdir()
    manager.start("docs")
    record = manager.wait("docs", timeout=60)
    assert record is not None and record.status == Status.SUCCEEDED
    dest = tmp_path / "backups" / "docs"
    (snap_id,) = [n for n in os.listdir(dest) if n[:1].isdigit()]

    seen: list[Message] = []
    app = make_app(tui_home, manager=manager)
    async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
        await app.workers.wait_for_complete()
        main = app.main_screen
        assert main is not None
        await until(pilot, lambda: main.jobs.row_count == 1)

        await pilot.press("v")
        await until(pilot, lambda: len(_verify_results(seen)) == 1, timeout=30)
        (ok,) = _verify_results(seen)
        assert isinstance(ok, ActionSucceeded), ok.text
        assert ok.text.startswith("docs: ok: 1 snapshot, 1 file (6 B) read"), ok.text

        (dest / snap_id / "a.txt").write_text("hellO\n")  # same size, one byte flipped
        await pilot.press("v")
        await until(pilot, lambda: len(_verify_results(seen)) == 2, timeout=30)
        damaged = _verify_results(seen)[1]
        assert isinstance(damaged, ActionFailed), damaged.text
        assert damaged.text.startswith("docs: damaged: 1 problem"), damaged.text
        assert "a.txt" in damaged.text

        await pilot.press("R")
        assert isinstance(app.screen, RestoreScreen)
        table = app.screen.query_one("#snapshot-list", DataTable)
        await until(pilot, lambda: table.row_count == 1, timeout=30)
        # The row shows the snapshot's time (TZ=UTC in these tests) and its true size.
        when = f"{snap_id[:10]} {snap_id[11:13]}:{snap_id[13:15]}:{snap_id[15:17]}"
        assert [str(cell) for cell in table.get_row_at(0)] == [f"{when}\n1 file · 6 B"]
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
