"""Issue 8: what an rsync snapshot keeps (hard links in the source, single-file sources).

Before: no ``-H`` (hard links inside the source became copies), and a source
that is a single file was never hard-linked to the previous snapshot
(``--link-dest`` pointed one directory too deep).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from tui_backup.engines.api import ErrorType
from tui_backup.engines.events import Finished, Progress
from tui_backup.engines.rsync import RsyncEngine

from .conftest import Where, backup, finished, run, settle


def test_hard_links_inside_the_source_are_kept(where: Where, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("shared\n")
    os.link(src / "a", src / "b")
    dest = tmp_path / "dest"
    sid = backup(where.spec(src, dest))
    assert (dest / sid / "a").stat().st_ino == (dest / sid / "b").stat().st_ino


def test_a_single_file_source_is_hard_linked_next_time(where: Where, tmp_path: Path) -> None:
    src = tmp_path / "notes.txt"
    src.write_text("notes\n")
    settle(src)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    first, second = backup(spec), backup(spec)
    a, b = dest / first / "notes.txt", dest / second / "notes.txt"
    assert b.read_text() == "notes\n"
    assert a.stat().st_ino == b.stat().st_ino


def test_file_and_directory_sources_together_are_linked(where: Where, tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "in.txt").write_text("in\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "dir").write_text("a file with the same basename\n")
    sources = [tmp_path / "dir", tmp_path / "other" / "dir"]
    settle(*sources)
    dest = tmp_path / "dest"
    spec = where.spec(sources, dest)
    first, second = backup(spec), backup(spec)
    for rel in ("dir/in.txt", "dir-2"):
        assert (dest / first / rel).stat().st_ino == (dest / second / rel).stat().st_ino, rel
    assert (dest / second / "dir-2").read_text() == "a file with the same basename\n"


def test_a_failed_run_removes_its_partial_and_metadata(where: Where, tmp_path: Path) -> None:
    """rsync copies everything, then fails (exit 11): nothing of the run is left."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("f\n")
    os.utime(src / "f", (1e9, 1e9))  # not racy: the first snapshot records nothing to recheck
    failing = tmp_path / "rsync-then-fail"
    failing.write_text(f'#!/bin/sh\n{shutil.which("rsync")} "$@"\nexit 11\n')
    failing.chmod(0o755)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    first = backup(spec)
    fin = finished(run(spec, RsyncEngine(binary=str(failing))))
    assert fin.status == "failed"
    assert fin.error_type == ErrorType.TOOL_FAILED
    assert sorted(os.listdir(dest)) == sorted([first, "latest", ".tui-backup"])
    assert sorted(os.listdir(dest / ".tui-backup")) == sorted(
        ["owner.json", f"{first}.json", f"{first}.manifest"]
    )


def test_a_partial_left_by_a_crash_is_removed_by_the_next_run(where: Where, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("f\n")
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    backup(spec)
    crashed = dest / "2020-01-01T000000Z.partial"
    (crashed / "sub").mkdir(parents=True)
    (crashed / "sub" / "half").write_text("half\n")
    (crashed / "sub").chmod(0o500)  # kept from a read-only source directory
    sid = backup(spec)
    assert not crashed.exists()
    assert RsyncEngine().snapshots(spec)[0].id == sid


@pytest.mark.parametrize("how", ["failed", "stopped"])
def test_when_a_run_ends_nothing_of_it_is_left(where: Where, tmp_path: Path, how: str) -> None:
    """The partial is removed before the ``Finished`` (failed or stopped) is emitted."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("f\n")
    os.utime(src / "f", (1e9, 1e9))  # not racy: the first snapshot records nothing to recheck
    failing = tmp_path / "rsync-then-fail"
    failing.write_text(f'#!/bin/sh\n{shutil.which("rsync")} "$@"\nexit 11\n')
    failing.chmod(0o755)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    backup(spec)
    before = sorted(os.listdir(dest))
    engine = RsyncEngine(binary=str(failing)) if how == "failed" else RsyncEngine()
    cancel = threading.Event()
    at_end: list[tuple[str, list[str]]] = []

    def emit(event: object) -> None:
        if how == "stopped" and isinstance(event, Progress) and event.phase == "commit":
            cancel.set()  # while the copy is listed and hashed
        if isinstance(event, Finished):
            at_end.append((event.status, sorted(os.listdir(dest))))

    engine.run(spec, cancel, emit)
    assert at_end == [(how, before)]
