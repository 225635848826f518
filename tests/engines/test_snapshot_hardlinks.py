"""Hard links inside the source stay one inode, in the snapshot and in a restore."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.engines.conftest import StepClock, make_spec, run, write
from tui_backup.engines.snapshot import SnapshotEngine


def inodes(root: Path, *paths: str) -> set[int]:
    return {os.lstat(root / p).st_ino for p in paths}


def test_hard_links_are_kept_through_runs_and_restores(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "hard1", os.urandom(3000))
    os.link(src / "hard1", src / "hard2")
    (src / "dir").mkdir()
    os.link(src / "hard1", src / "dir" / "hard3")
    write(src / "plain", "plain")
    engine = SnapshotEngine(clock=StepClock())
    spec = make_spec(src, tmp_path / "dest")
    dest = tmp_path / "dest"
    group = ("hard1", "hard2", "dir/hard3")

    first = run(spec, engine=engine).finished
    assert first.files == 4 and first.bytes == 3 * 3000 + 5
    assert len(inodes(dest / first.snapshot_id, *group)) == 1  # type: ignore[operator]
    groups = json.loads((dest / ".tui-backup" / f"{first.snapshot_id}.hardlinks.json").read_text())
    assert sorted(map(sorted, groups)) == [sorted(group)]

    os.link(src / "hard1", src / "hard4")  # a new name for an inode already backed up
    second = run(spec, engine=engine).finished.snapshot_id
    both = inodes(dest / second, *group, "hard4") | inodes(dest / first.snapshot_id, "hard1")  # type: ignore[operator]
    assert len(both) == 1, "linked to the previous snapshot and to each other"
    assert sorted(os.listdir(dest / second)) == ["dir", "hard1", "hard2", "hard4", "plain"]
    assert engine.verify(spec, second).ok

    out = tmp_path / "out"
    report = engine.restore(spec, second, str(out))
    assert report.files == 5
    assert len(inodes(out, *group, "hard4")) == 1
    assert (out / "hard2").read_bytes() == (src / "hard1").read_bytes()
    some = tmp_path / "some"
    engine.restore(spec, second, str(some), ["dir/hard3", "hard2", "plain"])
    assert len(inodes(some, "dir/hard3", "hard2")) == 1
    assert os.lstat(some / "plain").st_ino != os.lstat(some / "hard2").st_ino


def test_symlinks_are_counted_apart_from_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "a", "12345")
    os.symlink("a", src / "link")
    engine = SnapshotEngine(clock=StepClock())
    spec = make_spec(src, tmp_path / "dest")
    done = run(spec, engine=engine).finished
    assert (done.files, done.bytes) == (1, 5)
    summary = json.loads(
        (tmp_path / "dest" / ".tui-backup" / f"{done.snapshot_id}.json").read_text()
    )
    assert (summary["files"], summary["symlinks"]) == (1, 1)
    report = engine.restore(spec, "latest", str(tmp_path / "out"))
    assert report.files == 1 and os.readlink(tmp_path / "out" / "link") == "a"
    assert report.summary() == f"restored 1 file (5 B) into {tmp_path / 'out'}"
