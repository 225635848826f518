"""The error pane and the header follow errors other processes record and resolve.

A TUI (Pilot, watchers on) is open on a home while the real CLI, in another
process, verifies a damaged snapshot (a HIGH error) and later resolves it.
The pane, its title and the header must follow within the wait, from the
events' payloads: the error log is not read again for each event.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from textual.widgets import Label
from tui_fixtures import AppFactory
from tui_helpers import until

from tui_backup.store.paths import HOME_ENV, Home
from tui_backup.tui.app import BackupApp


def tui_backup(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in another process, on ``home``."""
    import os

    env = dict(os.environ)
    env[HOME_ENV] = str(home.root)
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "tui_backup", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def damaged_job(home: Home, tmp_path: Path) -> None:
    """A job ``web`` with one snapshot whose file was changed after the backup."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha")
    dest = tmp_path / "dest"
    r = tui_backup(home, "job", "add", "web", "--source", str(src), "--dest", str(dest))
    assert r.returncode == 0, r.stderr
    r = tui_backup(home, "run", "web")
    assert r.returncode == 0, r.stderr
    r = tui_backup(home, "snapshots", "web", "--json")
    assert r.returncode == 0, r.stderr
    (snapshot,) = json.loads(r.stdout)
    (dest / snapshot["id"] / "a.txt").write_text("alphx")


def unresolved_ids(home: Home) -> list[int]:
    r = tui_backup(home, "errors", "--unresolved", "--json")
    assert r.returncode == 0, r.stderr
    return [e["id"] for e in json.loads(r.stdout)]


def count_log_reads(app: BackupApp) -> list[object]:
    """Every full read of the error log the app makes from now on (the filters asked)."""
    reads: list[object] = []
    read_log = app.manager.errors

    def counting_errors(**filters: object) -> object:
        reads.append(filters)
        return read_log(**filters)

    app.manager.errors = counting_errors  # type: ignore[method-assign]
    return reads


async def test_errors_recorded_and_resolved_by_the_cli_show_live(
    tui_home: Home, make_app: AppFactory, tmp_path: Path
) -> None:
    damaged_job(tui_home, tmp_path)
    assert unresolved_ids(tui_home) == []
    app = make_app(tui_home, watch=True)
    reads = count_log_reads(app)
    async with app.run_test(size=(120, 40)) as pilot:
        main = app.main_screen
        assert main is not None
        pane = main.query_one("#errors-pane")
        await until(pilot, lambda: main.header.watch_mode in ("live", "polling"))
        # One read at start, one when the core's error feed starts: then none per event.
        await until(pilot, lambda: len(reads) == 2)
        await until(pilot, lambda: pane.border_title == "Errors · 0 unresolved")

        r = tui_backup(tui_home, "verify", "web")
        assert r.returncode == 1, r.stderr
        (event_id,) = unresolved_ids(tui_home)

        def shown() -> set[str]:
            return {str(key.value) for key in main.errors.rows}

        await until(pilot, lambda: str(event_id) in shown())
        await until(pilot, lambda: main.header.unresolved == 1)
        assert pane.border_title == "Errors · 1 unresolved"
        assert str(main.header.query_one("#unresolved", Label).render()) == "⚠ 1 unresolved"
        event = main.errors.selected_event
        assert event is not None and event.id == event_id and str(event.severity) == "HIGH"

        r = tui_backup(tui_home, "errors", "resolve", str(event_id))
        assert r.returncode == 0, r.stderr
        await until(pilot, lambda: main.header.unresolved == 0)
        await until(pilot, lambda: str(event_id) not in shown())
        assert pane.border_title == "Errors · 0 unresolved"
        assert str(main.header.query_one("#unresolved", Label).render()) == "✓ no open errors"
        assert len(reads) == 2, reads


async def test_a_run_failing_in_another_process_reaches_the_card_and_the_log(
    tui_home: Home, make_app: AppFactory, tmp_path: Path
) -> None:
    src = tmp_path / "gone"
    src.mkdir()
    dest = str(tmp_path / "d")
    r = tui_backup(tui_home, "job", "add", "bad", "--source", str(src), "--dest", dest)
    assert r.returncode == 0, r.stderr
    src.rmdir()
    app = make_app(tui_home, watch=True)
    reads = count_log_reads(app)
    async with app.run_test(size=(80, 24)) as pilot:
        main = app.main_screen
        assert main is not None
        await until(pilot, lambda: main.jobs.row_count == 1)
        await until(pilot, lambda: main.header.watch_mode in ("live", "polling"))
        await until(pilot, lambda: len(reads) == 2)  # the error feed has started
        r = tui_backup(tui_home, "run", "bad")
        assert r.returncode == 1, r.stderr
        (event_id,) = unresolved_ids(tui_home)
        await until(pilot, lambda: main.jobs.views["bad"].status.value == "failed")
        await until(pilot, lambda: main.header.unresolved == 1)
        await until(pilot, lambda: main.errors.selected_event is not None)
        event = main.errors.selected_event
        assert event is not None and event.id == event_id and event.job_name == "bad"
        assert len(reads) == 2, reads


async def test_counts_that_disagree_with_the_rows_make_the_pane_read_the_log(
    tui_home: Home, make_app: AppFactory
) -> None:
    """The core's periodic reconcile sends the counts; rows that cannot match them
    (an event the pane never got) are read again once."""
    from tui_backup.core.events import ErrorCounts
    from tui_backup.model.records import ErrorEvent
    from tui_backup.model.status import Severity
    from tui_backup.store.db import Database

    other = Database(tui_home.db_path, tui_home.fallback_log)
    other.record_error(ErrorEvent(Severity.HIGH, "verify", "x", "first", "web"))
    app = make_app(tui_home)  # no watching: nothing tells the pane of the next one
    async with app.run_test(size=(120, 40)) as pilot:
        main = app.main_screen
        assert main is not None
        await until(pilot, lambda: main.errors.row_count == 1)
        missed = other.record_error(ErrorEvent(Severity.HIGH, "verify", "x", "missed", "web"))
        app.bridge(ErrorCounts(unresolved=2, total=2))
        await until(pilot, lambda: main.errors.row_count == 2)
        assert str(missed.id) in {str(key.value) for key in main.errors.rows}
        assert main.header.unresolved == 2
    other.close()
