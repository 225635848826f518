"""``tui-backup demo``: a re-runnable demo home whose three jobs show every kind of card."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tui_helpers import record_toasts, toasts, until

from tui_backup.cli.demo import START_ON_OPEN
from tui_backup.model.status import Status
from tui_backup.store.paths import Home
from tui_backup.tui.app import BackupApp


def _demo(home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui_backup", "demo", "--no-open", "--home", str(home)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


async def test_demo_home_is_rerunnable_and_shows_every_kind_of_card(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    first = _demo(root)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == str(root)
    (root / "jobs" / "photos.yaml").write_text(
        (root / "jobs" / "photos.yaml").read_text().replace("0 2 * * *", "5 5 * * *")
    )
    second = _demo(root)  # again: refreshes the definitions, keeps everything else
    assert second.returncode == 0, second.stderr
    assert sorted(p.stem for p in (root / "jobs").glob("*.yaml")) == [
        "documents",
        "old-laptop",
        "photos",
    ]
    assert "0 2 * * *" in (root / "jobs" / "photos.yaml").read_text()
    assert (root / "sample" / "documents" / "notes" / "todo.md").exists()

    app = BackupApp(Home(root), watch=False, scheduler=False, start_jobs=START_ON_OPEN)
    record_toasts(app)
    async with app.run_test(size=(80, 24)) as pilot:
        main = app.main_screen
        assert main is not None
        await until(pilot, lambda: main.jobs.row_count == 3)
        await until(
            pilot,
            lambda: (
                main.jobs.views["documents"].status is Status.SUCCEEDED
                and main.jobs.views["old-laptop"].status is Status.FAILED
            ),
            timeout=30,
        )
        failed = main.jobs.views["old-laptop"].state.last_result
        assert failed is not None and "does not exist" in (failed.error or "")
        photos = main.jobs.views["photos"]
        assert photos.status is Status.IDLE and photos.next_run is not None
        await until(pilot, lambda: main.header.unresolved >= 1)
        raised = {(n.title, n.severity) for n in toasts(app)}
        assert ("Backup failed", "error") in raised
        assert ("Backup finished", "information") in raised
    app.manager.shutdown()
