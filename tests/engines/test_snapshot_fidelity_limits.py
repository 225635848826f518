"""Snapshot engine backup without limits: private metadata, any depth, any path length."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.engines.conftest import StepClock, make_spec, run, write
from tui_backup.engines.api import EngineError
from tui_backup.engines.snapshot import SnapshotEngine, build
from tui_backup.engines.snapshot.store import SnapshotStore
from tui_backup.model.status import Status


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


# -- private metadata ------------------------------------------------------------


@pytest.fixture(autouse=True)
def _remove_deep_trees(deep_tmp_path: Path) -> None:
    """Trees here are deeper than pytest's own cleanup can remove (see deep_tmp_path)."""


def test_everything_under_the_metadata_directory_is_private_under_umask_022(
    tmp_path: Path,
) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    write(src / "a.txt", "a")
    write(src / "secret" / "b.txt", "b")
    os.link(src / "a.txt", src / "a-link.txt")  # a hard-link group: <id>.hardlinks.json
    engine = SnapshotEngine(clock=StepClock())
    spec = make_spec(src, dest)
    with umask(0o022):
        first = run(spec, engine=engine).finished
        write(src / "c.txt", "c")
        second = run(spec, engine=engine).finished
    assert first.status == second.status == Status.SUCCEEDED
    meta = dest / ".tui-backup"
    seen = []
    for root, _dirs, files in os.walk(meta):
        assert stat.S_IMODE(os.lstat(root).st_mode) == 0o700, root
        for name in files:
            path = os.path.join(root, name)
            assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600, path
            seen.append(name)
    assert "owner.json" in seen
    assert any(n.endswith(".manifest.gz") for n in seen)
    assert any(n.endswith(".hardlinks.json") for n in seen)


def test_a_metadata_directory_made_by_an_older_version_becomes_private(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    write(src / "a.txt", "a")
    (dest / ".tui-backup").mkdir(parents=True, mode=0o755)
    os.chmod(dest / ".tui-backup", 0o755)
    done = run(make_spec(src, dest), engine=SnapshotEngine(clock=StepClock())).finished
    assert done.status == Status.SUCCEEDED
    assert stat.S_IMODE(os.stat(dest / ".tui-backup").st_mode) == 0o700


def test_a_metadata_directory_replaced_by_a_symlink_is_refused_and_nothing_written(
    tmp_path: Path,
) -> None:
    src, dest, elsewhere = tmp_path / "src", tmp_path / "dest", tmp_path / "elsewhere"
    write(src / "a.txt", "a")
    engine = SnapshotEngine(clock=StepClock())
    spec = make_spec(src, dest)
    assert run(spec, engine=engine).finished.status == Status.SUCCEEDED
    real_meta = dest / ".tui-backup"
    real_meta.rename(tmp_path / "old-meta")
    elsewhere.mkdir()
    os.symlink(elsewhere, real_meta)
    done = run(spec, engine=engine).finished
    assert done.status == Status.FAILED and done.error_type == "destination_error"
    assert "is a symbolic link" in (done.error or "") and "refusing" in (done.error or "")
    assert os.listdir(elsewhere) == []
    assert [n for n in os.listdir(dest) if n.endswith(".partial")] == []
    with pytest.raises(EngineError, match="is a symbolic link"):
        engine.init(spec)
    assert os.listdir(elsewhere) == []


# -- any depth, any length ------------------------------------------------------


def _chain(root: Path, names: list[str], leaf: str, data: bytes) -> None:
    """mkdir a chain of directories relative to descriptors (no path length limit)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        out = os.open(leaf, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, data)
        os.close(out)
    finally:
        os.close(fd)


def _read_chain(root: Path, names: list[str], leaf: str) -> tuple[bytes, int]:
    """The leaf's content and inode, reached through descriptors."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        ffd = os.open(leaf, os.O_RDONLY, dir_fd=fd)
        try:
            return os.read(ffd, 1 << 20), os.fstat(ffd).st_ino
        finally:
            os.close(ffd)
    finally:
        os.close(fd)


def _remove_chain(root: Path, names: list[str]) -> None:
    """Remove a deep chain bottom-up through descriptors (pytest's cleanup recurses)."""
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        for name in names:
            fds.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
        for i in range(len(names), 0, -1):
            for entry in os.listdir(fds[i]):
                os.unlink(entry, dir_fd=fds[i])
            os.close(fds.pop())
            os.rmdir(names[i - 1], dir_fd=fds[-1])
    finally:
        for fd in fds:
            os.close(fd)


def test_a_source_path_over_4096_bytes_is_backed_up_and_linked_next_time(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    write(src / "top.txt", "top")
    names = [f"{i:02d}" + "n" * 200 for i in range(25)]  # > 5000 bytes
    _chain(src, names, "deep.txt", b"at the bottom")
    engine = SnapshotEngine(clock=StepClock())
    spec = make_spec(src, dest)
    first = run(spec, engine=engine)
    assert first.finished.status == Status.SUCCEEDED, first.finished.error
    assert first.finished.warnings == 0 and first.finished.files == 2
    data, ino1 = _read_chain(dest / first.finished.snapshot_id, names, "deep.txt")
    assert data == b"at the bottom"
    second = run(spec, engine=engine).finished
    assert second.status == Status.SUCCEEDED and second.warnings == 0
    _, ino2 = _read_chain(dest / second.snapshot_id, names, "deep.txt")
    assert ino1 == ino2  # linked, not copied
    assert SnapshotStore(str(dest)).summary(second.snapshot_id)["copied"] == 0


def test_a_path_too_long_to_reach_by_path_is_one_warning_not_a_failed_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where descriptors run out (forced here), the walk falls back to paths: one warning."""
    monkeypatch.setattr(build, "MAX_FD_DEPTH", 2)
    src, dest = tmp_path / "src", tmp_path / "dest"
    write(src / "top.txt", "top")
    names = [f"{i:02d}" + "n" * 200 for i in range(25)]
    _chain(src, names, "deep.txt", b"unreachable by path")
    result = run(make_spec(src, dest), engine=SnapshotEngine(clock=StepClock()))
    done = result.finished
    assert done.status == Status.SUCCEEDED and done.warnings == 1
    assert "too long" in result.warnings[0].reason
    assert (dest / done.snapshot_id / "top.txt").read_text() == "top"


def test_a_2000_level_tree_backs_up_without_recursion_limits(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    write(src / "top.txt", "top")
    names = ["d"] * 2000
    _chain(src, names, "bottom.txt", b"2000 levels down")
    engine = SnapshotEngine(clock=StepClock())
    spec = make_spec(src, dest)
    first = run(spec, engine=engine).finished
    assert first.status == Status.SUCCEEDED and first.warnings == 0 and first.files == 2
    data, ino1 = _read_chain(dest / first.snapshot_id, names, "bottom.txt")
    assert data == b"2000 levels down"
    second = run(spec, engine=engine).finished
    assert second.status == Status.SUCCEEDED and second.warnings == 0
    assert _read_chain(dest / second.snapshot_id, names, "bottom.txt")[1] == ino1
    for root in (src, dest / first.snapshot_id, dest / second.snapshot_id):
        _remove_chain(root, names)


def test_names_the_destination_cannot_hold_are_one_warning_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A destination refusing a name (ENAMETOOLONG) skips that entry only, with a warning."""
    src, dest = tmp_path / "src", tmp_path / "dest"
    write(src / "ok.txt", "ok")
    write(src / "refused-dir" / "inner.txt", "inner")
    write(src / "refused.txt", "refused")
    os.symlink("ok.txt", src / "refused-link")
    real_mkdir, real_open, real_symlink = os.mkdir, os.open, os.symlink

    def too_long() -> OSError:
        return OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG))

    def mkdir(path, mode=0o777, *, dir_fd=None):  # type: ignore[no-untyped-def]
        if str(path).endswith("refused-dir"):
            raise too_long()
        return real_mkdir(path, mode, dir_fd=dir_fd)

    def open_(path, flags, mode=0o777, *, dir_fd=None):  # type: ignore[no-untyped-def]
        if flags & os.O_CREAT and str(path).endswith("refused.txt"):
            raise too_long()
        return real_open(path, flags, mode, dir_fd=dir_fd)

    def symlink(target, path, target_is_directory=False, *, dir_fd=None):  # type: ignore[no-untyped-def]
        if str(path).endswith("refused-link"):
            raise too_long()
        return real_symlink(target, path, target_is_directory, dir_fd=dir_fd)

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "symlink", symlink)
    result = run(make_spec(src, dest), engine=SnapshotEngine(clock=StepClock()))
    monkeypatch.undo()
    done = result.finished
    assert done.status == Status.SUCCEEDED, done.error
    assert done.warnings == 3
    assert sorted(os.path.basename(w.path) for w in result.warnings) == [
        "refused-dir",
        "refused-link",
        "refused.txt",
    ]
    assert all("cannot hold this name" in w.reason for w in result.warnings)
    assert sorted(os.listdir(dest / done.snapshot_id)) == ["ok.txt"]
