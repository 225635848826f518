"""Snapshot engine backup fidelity: xattrs, ACLs, sparse files, files changing mid-copy.

Real files in tmp_path (ext4 here: user xattrs and POSIX ACLs work; a test
skips, saying why, only where the filesystem refuses them).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.engines.conftest import StepClock, make_spec, run, write
from tui_backup.engines.snapshot import SnapshotEngine, copy
from tui_backup.engines.snapshot.manifest import (
    ManifestWriter,
    PreviousCursor,
    parse_line,
    read_lines,
    read_manifest,
)
from tui_backup.engines.snapshot.store import SnapshotStore
from tui_backup.model.job import JobSpec, Preserve
from tui_backup.model.status import Status

IS_ROOT = os.geteuid() == 0


def _xattrs_work(path: Path) -> bool:
    probe = path / ".probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
        return True
    except OSError:
        return False
    finally:
        probe.unlink()


def _acls_work(path: Path) -> bool:
    if shutil.which("setfacl") is None:
        return False
    probe = path / ".probe-acl"
    probe.write_bytes(b"")
    try:
        cmd = ["setfacl", "-m", "u:nobody:r", str(probe)]
        return subprocess.run(cmd, check=False).returncode == 0
    finally:
        probe.unlink()


@pytest.fixture
def xfs(tmp_path: Path) -> Path:
    """tmp_path, once it is known to hold user xattrs and ACLs."""
    if not _xattrs_work(tmp_path):
        pytest.skip(f"{tmp_path} does not support user xattrs")
    if not _acls_work(tmp_path):
        pytest.skip(f"{tmp_path} does not support POSIX ACLs (or setfacl is missing)")
    return tmp_path


def _getfacl(path: Path) -> str:
    out = subprocess.run(
        ["getfacl", "-c", "-p", str(path)], capture_output=True, text=True, check=True
    )
    return out.stdout


def _attrs(path: Path) -> dict[str, bytes]:
    return {
        n: os.getxattr(path, n, follow_symlinks=False)
        for n in os.listxattr(path, follow_symlinks=False)
    }


def _only(spec: JobSpec, **preserve: bool) -> JobSpec:
    return dataclasses.replace(spec, preserve=Preserve(**preserve))


def _entries(dest: Path, snapshot_id: str) -> dict[str, object]:
    store = SnapshotStore(str(dest))
    return {e.path: e for e in read_manifest(store.manifest_path(snapshot_id))}


def _fidelity_tree(src: Path) -> None:
    write(src / "plain.txt", "plain", mtime=1_600_000_000)
    write(src / "tagged.txt", "tagged", mtime=1_600_000_000)
    os.setxattr(src / "tagged.txt", "user.color", b"blue")
    os.setxattr(src / "tagged.txt", "user.bin", bytes(range(256)))
    write(src / "acl.txt", "acl", mtime=1_600_000_000)
    subprocess.run(["setfacl", "-m", "u:nobody:rw,g:nogroup:r", str(src / "acl.txt")], check=True)
    (src / "shared").mkdir()
    os.setxattr(src / "shared", "user.dir", b"d")
    subprocess.run(
        ["setfacl", "-m", "u:nobody:rwx", "-m", "d:u:nobody:rx", str(src / "shared")], check=True
    )
    write(src / "shared" / "inside.txt", "in", mtime=1_600_000_000)
    os.symlink("plain.txt", src / "link")
    if IS_ROOT:
        os.setxattr(src / "link", "trusted.note", b"on the link", follow_symlinks=False)


def test_xattrs_and_acls_are_stored_on_files_directories_and_symlinks(xfs: Path) -> None:
    src, dest = xfs / "src", xfs / "dest"
    _fidelity_tree(src)
    done = run(make_spec(src, dest), engine=SnapshotEngine(clock=StepClock())).finished
    assert done.status == Status.SUCCEEDED and done.warnings == 0
    snap = dest / done.snapshot_id
    for rel in ("plain.txt", "tagged.txt", "acl.txt", "shared", "shared/inside.txt", "link"):
        assert _attrs(snap / rel) == _attrs(src / rel), rel
    assert _attrs(snap / "tagged.txt")["user.bin"] == bytes(range(256))
    for rel in ("acl.txt", "shared"):
        assert _getfacl(snap / rel) == _getfacl(src / rel)
    assert "default:user:nobody:r-x" in _getfacl(snap / "shared")
    if IS_ROOT:
        assert os.getxattr(snap / "link", "trusted.note", follow_symlinks=False) == b"on the link"
    entries = _entries(dest, done.snapshot_id)
    assert entries["plain.txt"].xattrs == ""  # type: ignore[attr-defined]
    assert len(entries["tagged.txt"].xattrs) == 16  # type: ignore[attr-defined]
    assert entries["shared"].xattrs  # type: ignore[attr-defined]


def test_a_change_of_xattrs_or_acls_alone_copies_the_file_instead_of_linking(xfs: Path) -> None:
    src, dest = xfs / "src", xfs / "dest"
    _fidelity_tree(src)
    engine = SnapshotEngine(clock=StepClock())
    spec = make_spec(src, dest)
    first = run(spec, engine=engine).finished
    write(src / "later.txt", "no xattrs yet", mtime=1_600_000_000)
    first = run(spec, engine=engine).finished
    before = {p: os.stat(src / p).st_mtime_ns for p in ("tagged.txt", "acl.txt", "later.txt")}
    os.setxattr(src / "tagged.txt", "user.color", b"red")
    os.setxattr(src / "later.txt", "user.new", b"1")
    subprocess.run(["setfacl", "-m", "u:nobody:r", str(src / "acl.txt")], check=True)
    assert {p: os.stat(src / p).st_mtime_ns for p in before} == before  # mtime did not move
    second = run(spec, engine=engine).finished
    assert second.status == Status.SUCCEEDED and second.warnings == 0
    s1, s2 = dest / first.snapshot_id, dest / second.snapshot_id
    for rel in ("tagged.txt", "acl.txt", "later.txt"):
        assert os.stat(s1 / rel).st_ino != os.stat(s2 / rel).st_ino, rel
    assert os.getxattr(s2 / "later.txt", "user.new") == b"1"
    assert os.getxattr(s2 / "tagged.txt", "user.color") == b"red"
    assert os.getxattr(s1 / "tagged.txt", "user.color") == b"blue"
    assert _getfacl(s2 / "acl.txt") == _getfacl(src / "acl.txt")
    # Unchanged files, with and without xattrs, are still linked.
    for rel in ("plain.txt", "shared/inside.txt"):
        assert os.stat(s1 / rel).st_ino == os.stat(s2 / rel).st_ino, rel
    summary = SnapshotStore(str(dest)).summary(second.snapshot_id)
    assert summary["copied"] == 3 and summary["linked"] == 2
    third = run(spec, engine=engine).finished  # nothing changed: everything linked
    assert SnapshotStore(str(dest)).summary(third.snapshot_id)["copied"] == 0
    assert engine.verify(spec, third.snapshot_id).ok


def test_preserve_false_leaves_xattrs_and_acls_out(xfs: Path) -> None:
    src, dest = xfs / "src", xfs / "dest"
    _fidelity_tree(src)
    spec = _only(make_spec(src, dest), xattrs=False, acls=False)
    done = run(spec, engine=SnapshotEngine(clock=StepClock())).finished
    assert done.status == Status.SUCCEEDED
    snap = dest / done.snapshot_id
    for rel in ("tagged.txt", "acl.txt", "shared", "link"):
        assert _attrs(snap / rel) == {}, rel
    assert all(not e.xattrs for e in _entries(dest, done.snapshot_id).values())  # type: ignore[attr-defined]


def test_acls_only_keeps_acls_and_drops_user_xattrs(xfs: Path) -> None:
    src, dest = xfs / "src", xfs / "dest"
    _fidelity_tree(src)
    spec = _only(make_spec(src, dest), xattrs=False, acls=True)
    done = run(spec, engine=SnapshotEngine(clock=StepClock())).finished
    snap = dest / done.snapshot_id
    assert _attrs(snap / "tagged.txt") == {}
    assert _getfacl(snap / "acl.txt") == _getfacl(src / "acl.txt")
    assert "default:user:nobody:r-x" in _getfacl(snap / "shared")


def test_manifests_without_the_xattr_field_still_read_and_link(tmp_path: Path) -> None:
    """A manifest written before xattr hashes existed: entries read with no xattrs."""
    old = [
        "d\t755\t0\t0\t0\t1\t-\tdir",
        "f\t644\t0\t0\t3\t1\t" + "a" * 64 + "\tdir/x:file",
        "l\t777\t0\t0\t1\t1\t-\tdir/ln\tx:target",
    ]
    entries = [parse_line(line) for line in old]
    assert [e.xattrs for e in entries] == ["", "", ""]
    assert entries[1].path == "dir/x:file" and entries[2].target == "x:target"
    new = parse_line("l\t777\t0\t0\t1\t1\t-\tdir/ln\tx:target\tx:0123456789abcdef")
    assert new.target == "x:target" and new.xattrs == "0123456789abcdef"
    path = str(tmp_path / "m.gz")
    writer = ManifestWriter(path)
    for line in old:
        writer.add_line(line)
    writer.add("f", 0o644, 0, 0, 1, 1, "b" * 64, "dir/z", "", "fedcba9876543210")
    writer.close()
    cursor = PreviousCursor(read_lines(path))
    assert cursor.find("dir/x:file") is not None
    assert cursor.find("dir/ln") is not None
    assert cursor.find("dir/z") is not None and cursor.broken is None


def test_a_run_after_an_old_manifest_links_files_without_xattrs(tmp_path: Path) -> None:
    """The no-xattr path is unchanged: an unchanged plain file is linked, not copied."""
    src, dest = tmp_path / "src", tmp_path / "dest"
    for i in range(20):
        write(src / f"f{i}", f"{i}", mtime=1_600_000_000)
    engine = SnapshotEngine(clock=StepClock())
    spec = make_spec(src, dest)
    run(spec, engine=engine)
    second = run(spec, engine=engine).finished
    summary = SnapshotStore(str(dest)).summary(second.snapshot_id)
    assert summary["linked"] == 20 and summary["copied"] == 0


# -- sparse files -----------------------------------------------------------


def _sparse(path: Path, size: int) -> bytes:
    """A file of ``size`` bytes with two small data extents; returns its content's middle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.seek(size // 2)
        fh.write(b"middle" * 1000)
        fh.seek(4096 * 3)
        fh.write(b"early")
        fh.truncate(size)
    return b"middle"


def test_a_sparse_file_is_stored_sparse_with_the_hash_of_its_full_content(tmp_path: Path) -> None:
    import hashlib

    src, dest = tmp_path / "src", tmp_path / "dest"
    size = 100 << 20
    _sparse(src / "disk.img", size)
    if os.stat(src / "disk.img").st_blocks * 512 >= size:
        pytest.skip(f"{tmp_path} does not keep holes")
    engine = SnapshotEngine(clock=StepClock())
    spec = make_spec(src, dest)
    done = run(spec, engine=engine).finished
    assert done.status == Status.SUCCEEDED and done.bytes == size
    stored = dest / done.snapshot_id / "disk.img"
    st = os.stat(stored)
    assert st.st_size == size
    assert st.st_blocks * 512 < 1 << 20  # its real blocks, not 100 MB
    assert stored.read_bytes() == (src / "disk.img").read_bytes()
    entry = _entries(dest, done.snapshot_id)["disk.img"]
    want = hashlib.blake2b((src / "disk.img").read_bytes(), digest_size=32).hexdigest()
    assert entry.digest == want and entry.size == size  # type: ignore[attr-defined]
    assert engine.verify(spec, done.snapshot_id).ok


def test_a_file_ending_in_a_hole_keeps_its_length(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    path = src / "tail-hole"
    path.parent.mkdir()
    with open(path, "wb") as fh:
        fh.write(os.urandom(300_000))
        fh.truncate(5 << 20)
    done = run(make_spec(src, dest), engine=SnapshotEngine(clock=StepClock())).finished
    stored = dest / done.snapshot_id / "tail-hole"
    assert stored.read_bytes() == path.read_bytes()


def test_preserve_sparse_false_copies_densely(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    size = 8 << 20
    _sparse(src / "disk.img", size)
    if os.stat(src / "disk.img").st_blocks * 512 >= size:
        pytest.skip(f"{tmp_path} does not keep holes")
    spec = _only(make_spec(src, dest), sparse=False)
    done = run(spec, engine=SnapshotEngine(clock=StepClock())).finished
    stored = dest / done.snapshot_id / "disk.img"
    assert os.stat(stored).st_blocks * 512 >= size
    assert stored.read_bytes() == (src / "disk.img").read_bytes()


# -- a file that changes while it is copied ----------------------------------


@pytest.mark.parametrize("when", ["during", "after"])
def test_a_file_growing_during_its_copy_is_stored_exactly_and_copied_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """One warning naming it; manifest size and hash are the stored bytes'; verify clean.

    ``during``: the writer appends after the copy's fstat, before its reads
    (the stored file is longer than the size first seen); ``after``: it
    appends once the reads are done (the stored file is shorter than the
    source now is). Either way the next run copies it again.
    """
    src, dest = tmp_path / "src", tmp_path / "dest"
    write(src / "busy.log", b"line\n" * 100_000)  # 500 kB: the large-file path
    write(src / "quiet.txt", "quiet")
    real = copy._pump
    grown: list[str] = []

    def pump(fsrc: int, fdst: int, size: int, cancel: object) -> tuple[str, int]:
        busy = os.fstat(fsrc).st_ino == os.stat(src / "busy.log").st_ino
        if busy and when == "during" and not grown:
            grown.append("x")
            with open(src / "busy.log", "ab") as fh:
                fh.write(b"appended during the copy\n" * 1000)
        result = real(fsrc, fdst, size, cancel)
        if busy and when == "after" and not grown:
            grown.append("x")
            with open(src / "busy.log", "ab") as fh:
                fh.write(b"appended after the reads\n")
        return result

    monkeypatch.setattr(copy, "_pump", pump)
    engine = SnapshotEngine(clock=StepClock())
    spec = make_spec(src, dest)
    result = run(spec, engine=engine)
    done = result.finished
    assert done.status == Status.SUCCEEDED and done.warnings == 1
    [warning] = result.warnings
    assert warning.path.endswith("busy.log") and "changed while it was copied" in warning.reason
    stored = dest / done.snapshot_id / "busy.log"
    entry = _entries(dest, done.snapshot_id)["busy.log"]
    assert entry.size == os.stat(stored).st_size  # type: ignore[attr-defined]
    assert entry.mtime_ns == -1  # type: ignore[attr-defined]
    assert engine.verify(spec, done.snapshot_id).ok
    monkeypatch.setattr(copy, "_pump", real)
    again = run(spec, engine=engine)
    assert again.finished.status == Status.SUCCEEDED and again.finished.warnings == 0
    s2 = dest / again.finished.snapshot_id
    assert os.stat(s2 / "busy.log").st_ino != os.stat(stored).st_ino  # copied fresh
    assert (s2 / "busy.log").read_bytes() == (src / "busy.log").read_bytes()
    assert os.stat(s2 / "quiet.txt").st_ino == os.stat(dest / done.snapshot_id / "quiet.txt").st_ino
    assert engine.verify(spec, again.finished.snapshot_id).ok


def test_a_small_file_growing_during_its_copy_is_recorded_as_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    write(src / "small.log", "a few bytes\n")
    real_fstat = os.fstat
    calls: list[int] = []

    def fstat(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        # The copy's first fstat of the source: append right after it.
        if not calls and st.st_ino == os.stat(src / "small.log").st_ino:
            calls.append(fd)
            with open(src / "small.log", "ab") as fh:
                fh.write(b"more\n")
        return st

    monkeypatch.setattr(copy.os, "fstat", fstat)
    engine = SnapshotEngine(clock=StepClock(), workers=0)
    spec = make_spec(src, dest)
    result = run(spec, engine=engine)
    monkeypatch.setattr(copy.os, "fstat", real_fstat)
    assert result.finished.status == Status.SUCCEEDED and result.finished.warnings == 1
    stored = dest / result.finished.snapshot_id / "small.log"
    assert stored.read_bytes() == b"a few bytes\nmore\n"
    entry = _entries(dest, result.finished.snapshot_id)["small.log"]
    assert entry.size == len(b"a few bytes\nmore\n")  # type: ignore[attr-defined]
    assert engine.verify(spec, result.finished.snapshot_id).ok


def test_an_unchanged_tree_reads_no_xattrs_and_a_moved_ctime_alone_still_links(
    xfs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only files whose ctime moved since the previous run started have their xattrs read.

    The safety margin for coarse kernel timestamps is set to 0 here: the
    tree is created just before the first run.
    """
    from tui_backup.engines.snapshot import build, xattrs

    monkeypatch.setattr(build, "CTIME_MARGIN_NS", 0)
    src, dest = xfs / "src", xfs / "dest"
    _fidelity_tree(src)
    engine = SnapshotEngine(clock=StepClock())
    spec = make_spec(src, dest)
    first = run(spec, engine=engine).finished
    real = xattrs.current
    calls: list[str] = []

    def counting(name: str, dir_fd: int | None, policy: xattrs.Policy) -> str:
        calls.append(os.path.basename(name))
        return real(name, dir_fd, policy)

    monkeypatch.setattr(xattrs, "current", counting)
    second = run(spec, engine=engine).finished
    assert calls == []
    assert SnapshotStore(str(dest)).summary(second.snapshot_id)["copied"] == 0
    os.chmod(src / "tagged.txt", 0o644)  # same mode: only the ctime moves
    os.chmod(src / "plain.txt", 0o644)
    third = run(spec, engine=engine).finished
    assert sorted(calls) == ["plain.txt", "tagged.txt"]
    assert SnapshotStore(str(dest)).summary(third.snapshot_id)["copied"] == 0
    s1 = dest / first.snapshot_id
    s3 = dest / third.snapshot_id
    assert os.stat(s1 / "tagged.txt").st_ino == os.stat(s3 / "tagged.txt").st_ino
    calls.clear()
    fourth = run(spec, engine=engine).finished
    assert calls == [] and fourth.status == Status.SUCCEEDED
    assert engine.verify(spec, fourth.snapshot_id).ok
    calls.clear()  # verify reads the snapshot's xattrs to check them: not the run's reads
    # Another policy than the previous run's: every candidate's xattrs are read again.
    run(dataclasses.replace(spec, preserve=Preserve(acls=False)), engine=engine)
    assert len(calls) == 4


def test_preserve_hard_links_false_stores_each_path_on_its_own(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    write(src / "a.txt", "shared")
    os.link(src / "a.txt", src / "b.txt")
    engine = SnapshotEngine(clock=StepClock())
    kept = run(make_spec(src, dest), engine=engine).finished
    s1 = dest / kept.snapshot_id
    assert os.stat(s1 / "a.txt").st_ino == os.stat(s1 / "b.txt").st_ino
    spec = _only(make_spec(src, tmp_path / "dest2"), hard_links=False)
    apart = run(spec, engine=engine).finished
    s2 = tmp_path / "dest2" / apart.snapshot_id
    assert os.stat(s2 / "a.txt").st_ino != os.stat(s2 / "b.txt").st_ino
    assert (s2 / "b.txt").read_text() == "shared"
    again = run(spec, engine=engine).finished  # linked from the last snapshot, still apart
    s3 = tmp_path / "dest2" / again.snapshot_id
    assert os.stat(s3 / "a.txt").st_ino != os.stat(s3 / "b.txt").st_ino
