"""The restore browser end to end on a real snapshot-engine backup."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from textual.message import Message
from textual.widgets import Checkbox, Input
from tui_fixtures import AppFactory, fixed_clock
from tui_helpers import toasts, until

from tui_backup.core.manager import JobManager
from tui_backup.engines.snapshot import SnapshotEngine
from tui_backup.store.paths import Home
from tui_backup.tui.messages import RestoreFinished
from tui_backup.tui.screens.restore import ConfirmOriginal, RestoreScreen


def _backup(home: Home) -> Path:
    manager = JobManager(home, recover=False)
    spec = manager.get_spec("docs")
    manager.shutdown()
    src = Path(spec.sources[0])
    (src / "notes").mkdir()
    (src / "notes" / "todo.md").write_text("- restore test\n")
    Path(spec.destination).parent.mkdir(parents=True, exist_ok=True)
    events: list[object] = []
    SnapshotEngine(clock=fixed_clock).run(spec, threading.Event(), events.append)
    assert "succeeded" in str(events[-1])
    return src


async def test_mark_a_folder_and_restore_into_a_new_folder(
    seeded: Home, make_app: AppFactory, tmp_path: Path
) -> None:
    _backup(seeded)
    seen: list[Message] = []
    app = make_app(seeded)
    async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
        await app.workers.wait_for_complete()
        await until(pilot, lambda: app.main_screen.jobs.row_count == 4)  # type: ignore[union-attr]
        await pilot.press("R")
        screen = app.screen
        assert isinstance(screen, RestoreScreen)
        await app.workers.wait_for_complete()
        await until(pilot, lambda: screen.snapshot_tree is not None)
        target = screen.query_one("#target", Input).value
        assert target == "~/tui-backup-restores/docs-2026-01-15T103000Z"  # never the source
        await pilot.press("tab", "down", "space")  # mark notes/
        assert screen.marked == {"notes"}
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: any(isinstance(m, RestoreFinished) for m in seen))
        done = next(m for m in seen if isinstance(m, RestoreFinished))
        assert done.error is None and done.files == 1
        restored = tmp_path / "tui-backup-restores" / "docs-2026-01-15T103000Z"
        assert (restored / "notes" / "todo.md").read_text() == "- restore test\n"
        assert not (restored / "a.txt").exists()
        assert any("Restore done" in (n.title or "") for n in toasts(app))


async def test_original_location_needs_confirmation(seeded: Home, make_app: AppFactory) -> None:
    src = _backup(seeded)
    (src / "a.txt").write_text("changed since the backup\n")
    app = make_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await until(pilot, lambda: app.main_screen.jobs.row_count == 4)  # type: ignore[union-attr]
        await pilot.press("R")
        screen = app.screen
        assert isinstance(screen, RestoreScreen)
        await until(pilot, lambda: screen.snapshot_tree is not None)
        screen.query_one("#original", Checkbox).value = True
        await pilot.pause()
        assert screen.query_one("#target", Input).value == "~/data/docs"
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ConfirmOriginal)
        await pilot.press("escape")  # cancelled: nothing written
        assert (src / "a.txt").read_text() == "changed since the backup\n"
        await pilot.press("ctrl+s")
        await pilot.click("#yes")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: not screen.running and (src / "a.txt").read_text() == "hello\n")


async def test_v_says_ok_damaged_or_unchecked_as_it_is(seeded: Home, make_app: AppFactory) -> None:
    """The verify key: ``ok`` with what was read; a flipped byte is ``damaged`` (an
    error); a snapshot whose manifest is gone is ``unchecked`` (a warning), never ok."""
    _backup(seeded)
    spec = JobManager(seeded, recover=False).get_spec("docs")
    dest = Path(spec.destination)
    app = make_app(seeded)

    def verify_toasts(word: str) -> list[Any]:
        return [n for n in toasts(app) if (n.title or "") == f"Verify: {word}"]

    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await until(pilot, lambda: app.main_screen.jobs.row_count == 4)  # type: ignore[union-attr]
        await pilot.press("v")
        await until(pilot, lambda: any(n.message.startswith("docs: ok:") for n in toasts(app)))
        ok = next(n for n in toasts(app) if n.message.startswith("docs: ok:"))
        assert ok.message == (
            "docs: ok: 1 snapshot, 2 files (21 B) read, compared with manifests"
        ), ok.message
        assert ok.severity == "information"

        (snap,) = [p for p in dest.iterdir() if p.name.startswith("2026")]
        todo = snap / "notes" / "todo.md"
        stat = todo.stat()
        todo.chmod(0o644)
        todo.write_text("- restore tesT\n")  # same size, same mtime below
        os.utime(todo, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        await pilot.press("v")
        await until(pilot, lambda: bool(verify_toasts("damaged")))
        (damaged,) = verify_toasts("damaged")
        assert damaged.severity == "error"
        assert damaged.message.startswith("docs: damaged: 1 problem (") and "todo.md" in (
            damaged.message
        ), damaged.message
        card = app.main_screen.jobs  # type: ignore[union-attr]
        await until(pilot, lambda: "⚠ damaged" in str(card.get_cell("docs", "job")))

        for manifest in (dest / ".tui-backup").glob("*.manifest.gz"):
            manifest.unlink()
        await pilot.press("v")
        await until(pilot, lambda: bool(verify_toasts("unchecked")))
        (unchecked,) = verify_toasts("unchecked")
        assert unchecked.severity == "warning"
        assert unchecked.message.startswith("docs: unchecked: "), unchecked.message
        await until(pilot, lambda: "⚠ unchecked" in str(card.get_cell("docs", "job")))
        assert not any("ok:" in n.message for n in toasts(app) if n is not ok)
