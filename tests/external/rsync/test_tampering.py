"""Issue 9: a destination someone tampered with, and metadata nobody else may read.

Each case runs locally and over ssh (``where``): a manifest line pointing
outside the snapshot, a FIFO planted in a snapshot, a ``.tui-backup`` replaced
by a symbolic link, and the engine's own files under umask 022.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.events import FileWarning
from tui_backup.engines.rsync import RsyncEngine

from .conftest import Where, backup, finished, run


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"a\n")
    (src / "d" / "b.txt").write_bytes(b"b\n")
    return src


def _manifest(dest: Path, sid: str) -> Path:
    return dest / ".tui-backup" / f"{sid}.manifest"


def _add_line(path: Path, line: str) -> None:
    text = gzip.decompress(path.read_bytes()).decode()
    path.write_bytes(gzip.compress((text + line + "\n").encode()))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("escape", ["../../outside.txt", "/etc/hostname"])
def test_a_manifest_line_leaving_the_snapshot_is_reported_never_opened(
    where: Where, tmp_path: Path, escape: str
) -> None:
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    sid = backup(spec)
    outside = tmp_path / "outside.txt"  # <dest>/<sid>/../../outside.txt
    outside.write_bytes(b"looks right\n")
    digest = hashlib.sha256(outside.read_bytes()).hexdigest()
    _add_line(_manifest(dest, sid), f"f\t{outside.stat().st_size}\t{digest}\t{escape}")
    report = RsyncEngine().verify(spec, sid)
    assert report.outcome == "damaged"
    assert [(p.path, p.reason) for p in report.problems] == [
        (escape, "names a path outside the snapshot; not opened")
    ]
    assert report.files_checked == 2  # a.txt and d/b.txt; nothing outside was read


@pytest.mark.timeout(120)
def test_a_fifo_planted_in_a_snapshot_is_reported_and_never_restored(
    where: Where, tmp_path: Path
) -> None:
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    sid = backup(spec)
    os.mkfifo(dest / sid / "d" / "planted")
    os.unlink(dest / sid / "a.txt")
    os.mkfifo(dest / sid / "a.txt")  # where the manifest has a file
    report = RsyncEngine().verify(spec, sid)  # a read of either would block
    assert sorted((p.path, p.reason) for p in report.problems) == [
        ("a.txt", "a FIFO; never opened"),
        ("d/planted", "a FIFO the backup did not make (not in its manifest); never opened"),
    ]
    events: list[object] = []
    target = tmp_path / "restored"
    restored = RsyncEngine().restore(spec, sid, str(target), emit=events.append)
    assert sorted(os.listdir(target / "d")) == ["b.txt"]
    assert not os.path.lexists(target / "a.txt")
    assert sorted(restored.skipped) == [
        "a.txt: a special file the backup did not make; not restored",
        "d/planted: a special file the backup did not make; not restored",
    ]
    assert restored.warnings == 2
    assert len([e for e in events if isinstance(e, FileWarning)]) == 2
    assert "skipped 2" in restored.summary()


@pytest.mark.timeout(120)
def test_fifos_from_the_source_are_the_backups_own(where: Where, tmp_path: Path) -> None:
    src = _source(tmp_path)
    os.mkfifo(src / "d" / "pipe")
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    sid = backup(spec)
    assert RsyncEngine().verify(spec, sid).outcome == "ok"
    os.unlink(dest / sid / "d" / "pipe")
    report = RsyncEngine().verify(spec, sid)
    assert [(p.path, p.reason) for p in report.problems] == [("d/pipe", "missing")]
    second = backup(spec)
    target = tmp_path / "restored"
    restored = RsyncEngine().restore(spec, second, str(target))
    assert stat.S_ISFIFO(os.lstat(target / "d" / "pipe").st_mode)
    assert restored.skipped == ()


@pytest.mark.timeout(120)
def test_a_symlinked_metadata_directory_is_refused_and_nothing_written_through_it(
    where: Where, tmp_path: Path
) -> None:
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    backup(spec)
    elsewhere = tmp_path / "elsewhere"
    (dest / ".tui-backup").rename(elsewhere)
    os.symlink(elsewhere, dest / ".tui-backup")
    before = sorted(os.listdir(elsewhere))
    (src / "new.txt").write_bytes(b"new\n")
    done = finished(run(spec))
    assert done.status == "failed" and done.error_type == ErrorType.DESTINATION_ERROR
    assert "symbolic link" in (done.error or "")
    for call in (
        lambda: RsyncEngine().snapshots(spec),
        lambda: RsyncEngine().verify(spec),
        lambda: RsyncEngine().init(spec),
    ):
        with pytest.raises(EngineError, match="symbolic link"):
            call()
    assert sorted(os.listdir(elsewhere)) == before
    assert [n for n in os.listdir(dest) if n.endswith(".partial")] == []


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.timeout(120)
def test_metadata_is_private_under_umask_022(where: Where, tmp_path: Path) -> None:
    """0700 directory, 0600 files: a manifest names every file and its hash.

    Over ssh the remote side runs with the sshd's own umask (022 by default).
    """
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    with umask(0o022):
        first = backup(spec)
        (src / "c.txt").write_bytes(b"c\n")
        backup(spec)
        (dest / first / "a.txt").write_bytes(b"damaged\n")  # verify records damage
        assert RsyncEngine().verify(spec, first).outcome == "damaged"
    meta = dest / ".tui-backup"
    assert stat.S_IMODE(os.lstat(meta).st_mode) == 0o700
    names = sorted(os.listdir(meta))
    assert "owner.json" in names and "verify-failed.json" in names
    assert sum(n.endswith(".manifest") for n in names) == 2
    for name in names:
        assert stat.S_IMODE(os.lstat(meta / name).st_mode) == 0o600, name


def test_metadata_left_readable_by_an_older_version_becomes_private(
    where: Where, tmp_path: Path
) -> None:
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    backup(spec)
    meta = dest / ".tui-backup"
    os.chmod(meta, 0o755)
    for name in os.listdir(meta):
        os.chmod(meta / name, 0o644)
    (src / "c.txt").write_bytes(b"c\n")
    backup(spec)
    assert stat.S_IMODE(os.lstat(meta).st_mode) == 0o700
    assert {stat.S_IMODE(os.lstat(meta / n).st_mode) for n in os.listdir(meta)} == {0o600}
