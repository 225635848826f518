"""Issue 9: restore and verify without limits of depth or length, touching only what they restore.

The deep and long trees are made by hand, through directory descriptors,
straight into a snapshot of a real destination (marker, summary, manifest
written with the engine's own writer): restore and verify are tested on
their own, whatever the backup side can do yet. A backup of the same tree
is tested apart (xfail until the backup side walks by descriptors too).
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.engines.conftest import StepClock, make_spec, run
from tui_backup.engines import layout
from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.snapshot import SnapshotEngine, marker
from tui_backup.engines.snapshot.manifest import ManifestWriter
from tui_backup.engines.snapshot.store import SnapshotStore
from tui_backup.model.job import JobSpec

DEPTH = 2000
NAME = "ddd"  # 2,000 x 4 bytes: every path below level ~1,000 is longer than PATH_MAX
SID = layout.format_id(datetime(2024, 3, 1, 10, 0, tzinfo=UTC))
IS_ROOT = os.geteuid() == 0


@pytest.fixture(autouse=True)
def _remove_deep_trees(deep_tmp_path: Path) -> None:
    """Trees here are deeper than pytest's own cleanup can remove (see deep_tmp_path)."""


def _rm(path: Path) -> None:
    """``rm -rf`` walks any depth (shutil.rmtree recurses and stops near 1,000 levels)."""
    subprocess.run(["rm", "-rf", str(path)], check=True)


@pytest.fixture
def deep_root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for name in ("dest", "out", "src", "out2"):
        if (tmp_path / name).exists():
            _rm(tmp_path / name)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def hand_snapshot(tmp_path: Path, *, depth: int = DEPTH, leaf: bytes = b"leaf\n") -> JobSpec:
    """A destination whose one snapshot holds ``depth`` nested dirs and a file at the bottom."""
    dest = tmp_path / "dest"
    dest.mkdir()
    spec = make_spec(tmp_path / "src", dest)
    marker.claim(str(dest), spec.name)
    store = SnapshotStore(str(dest))
    snap = Path(store.snapshot_path(SID))
    snap.mkdir()
    writer = ManifestWriter(store.manifest_path(SID))
    writer.add("f", 0o644, os.getuid(), os.getgid(), 4, 1_000_000_000, _digest(b"top\n"), "top")
    (snap / "top").write_bytes(b"top\n")
    os.utime(snap / "top", ns=(1_000_000_000, 1_000_000_000))
    fd = os.open(snap, os.O_DIRECTORY)
    rel = ""
    for _ in range(depth):
        os.mkdir(NAME, 0o755, dir_fd=fd)
        nfd = os.open(NAME, os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
        rel = f"{rel}/{NAME}" if rel else NAME
        writer.add("d", 0o755, os.getuid(), os.getgid(), 0, 0, "-", rel)
    out = os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o640, dir_fd=fd)
    os.write(out, leaf)
    os.close(out)
    os.close(fd)
    writer.add("f", 0o640, os.getuid(), os.getgid(), len(leaf), 0, _digest(leaf), rel + "/leaf")
    writer.close()
    summary = {
        "files": 2,
        "bytes": 4 + len(leaf),
        "sources": [{"path": spec.sources[0], "prefix": ""}],
    }
    Path(store.summary_path(SID)).write_text(json.dumps(summary))
    return spec


def _walk_down(root: Path, depth: int) -> int:
    """A descriptor of the directory ``depth`` levels of NAME below ``root`` (caller closes)."""
    fd = os.open(root, os.O_DIRECTORY)
    for _ in range(depth):
        nfd = os.open(NAME, os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        os.close(fd)
        fd = nfd
    return fd


@pytest.mark.timeout(120)
def test_a_2000_level_tree_with_paths_over_4096_bytes_restores(deep_root: Path) -> None:
    spec = hand_snapshot(deep_root)
    assert len("/".join([NAME] * DEPTH)) > 4096
    report = SnapshotEngine().restore(spec, SID, str(deep_root / "out"))
    assert (report.files, report.skipped) == (2, ())
    fd = _walk_down(deep_root / "out", DEPTH)
    try:
        leaf = os.open("leaf", os.O_RDONLY, dir_fd=fd)
        assert os.read(leaf, 100) == b"leaf\n"
        assert stat.S_IMODE(os.fstat(leaf).st_mode) == 0o640
        os.close(leaf)
    finally:
        os.close(fd)


@pytest.mark.timeout(120)
def test_one_deep_path_restores_on_its_own(deep_root: Path) -> None:
    spec = hand_snapshot(deep_root)
    deep = "/".join([NAME] * DEPTH) + "/leaf"
    report = SnapshotEngine().restore(spec, SID, str(deep_root / "out"), [deep])
    assert report.files == 1
    fd = _walk_down(deep_root / "out", DEPTH)
    os.close(fd)
    dry = SnapshotEngine().restore(spec, SID, str(deep_root / "out2"), [deep], dry_run=True)
    assert dry.planned == (deep,)


@pytest.mark.timeout(120)
def test_a_2000_level_tree_verifies_and_a_flipped_byte_at_the_bottom_is_found(
    deep_root: Path,
) -> None:
    spec = hand_snapshot(deep_root)
    engine = SnapshotEngine()
    good = engine.verify(spec, SID)
    assert (good.outcome, good.files_checked, good.problems) == ("ok", 2, ())
    fd = _walk_down(deep_root / "dest" / SID, DEPTH)
    try:
        out = os.open("leaf", os.O_WRONLY, dir_fd=fd)
        os.write(out, b"L")
        os.close(out)
    finally:
        os.close(fd)
    bad = engine.verify(spec, SID)
    assert bad.outcome == "damaged"
    assert [p.reason for p in bad.problems] == ["checksum mismatch"]


@pytest.mark.timeout(120)
def test_a_2000_level_source_backs_up_and_restores(deep_root: Path) -> None:
    src = deep_root / "src"
    src.mkdir()
    fd = os.open(src, os.O_DIRECTORY)
    for _ in range(DEPTH):
        os.mkdir(NAME, dir_fd=fd)
        nfd = os.open(NAME, os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    leaf = os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(leaf, b"deep\n")
    os.close(leaf)
    os.close(fd)
    engine = SnapshotEngine(clock=StepClock())
    spec = make_spec(src, deep_root / "dest")
    done = run(spec, engine=engine).finished
    assert done.error is None and done.files == 1
    assert engine.verify(spec).outcome == "ok"
    assert engine.restore(spec, None, str(deep_root / "out")).files == 1


# -- restore touches only what it restores ----------------------------------------


@pytest.fixture
def backed_up(tmp_path: Path) -> tuple[SnapshotEngine, JobSpec, str]:
    spec = hand_snapshot(tmp_path, depth=2)
    return SnapshotEngine(), spec, SID


@pytest.mark.skipif(not IS_ROOT, reason="giving the target to nobody needs root")
def test_restore_into_a_shared_1777_directory_of_another_user_keeps_it(
    tmp_path: Path, backed_up
) -> None:
    engine, spec, sid = backed_up
    shared = tmp_path / "shared"
    shared.mkdir()
    nobody = pwd.getpwnam("nobody")
    os.chown(shared, nobody.pw_uid, nobody.pw_gid)
    os.chmod(shared, 0o1777)
    os.utime(shared, ns=(123_000_000_007, 456_000_000_009))
    before = os.stat(shared)
    report = engine.restore(spec, sid, str(shared))
    assert report.files == 2
    after = os.stat(shared)
    assert stat.S_IMODE(after.st_mode) == 0o1777
    assert (after.st_uid, after.st_gid) == (nobody.pw_uid, nobody.pw_gid)
    assert after.st_mtime_ns == before.st_mtime_ns
    # what was created inside it got the snapshot's metadata
    assert stat.S_IMODE(os.stat(shared / NAME).st_mode) == 0o755
    assert os.stat(shared / "top").st_mtime_ns == 1_000_000_000


def test_a_partial_restore_leaves_existing_directories_on_the_way_alone(
    tmp_path: Path, backed_up
) -> None:
    engine, spec, sid = backed_up
    out = tmp_path / "out"
    (out / NAME).mkdir(parents=True)
    os.chmod(out / NAME, 0o700)
    os.utime(out / NAME, ns=(5_000_000_000, 5_000_000_000))
    engine.restore(spec, sid, str(out), [f"{NAME}/{NAME}/leaf"], overwrite=True)
    st = os.stat(out / NAME)
    assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (0o700, 5_000_000_000)
    # the level it created is the snapshot's
    assert stat.S_IMODE(os.stat(out / NAME / NAME).st_mode) == 0o755


@pytest.mark.parametrize(
    "where",
    [f"dest/{SID}", f"dest/{SID}/{NAME}/new", "dest/latest/x", "dest/.tui-backup/x", "dest"],
)
def test_a_target_inside_the_destination_is_refused(tmp_path: Path, backed_up, where: str) -> None:
    engine, spec, sid = backed_up
    os.symlink(sid, tmp_path / "dest" / "latest")
    before = sorted(p.name for p in (tmp_path / "dest").rglob("*"))
    for dry_run in (False, True):
        with pytest.raises(EngineError) as err:
            engine.restore(spec, sid, str(tmp_path / where), dry_run=dry_run, overwrite=True)
        assert err.value.error_type == ErrorType.INVALID_TARGET
        assert "inside" in str(err.value)
    assert sorted(p.name for p in (tmp_path / "dest").rglob("*")) == before
    assert engine.verify(spec, sid).outcome == "ok"


def test_a_target_reached_through_a_symlink_into_a_snapshot_is_refused(
    tmp_path: Path, backed_up
) -> None:
    engine, spec, sid = backed_up
    os.symlink(tmp_path / "dest" / sid / NAME, tmp_path / "sneaky")
    with pytest.raises(EngineError) as err:
        engine.restore(spec, sid, str(tmp_path / "sneaky" / "x"))
    assert err.value.error_type == ErrorType.INVALID_TARGET


@pytest.mark.timeout(30)
def test_special_files_are_skipped_one_warning_each_and_counted(tmp_path: Path, backed_up) -> None:
    engine, spec, sid = backed_up
    snap = tmp_path / "dest" / sid
    os.mkfifo(snap / NAME / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(snap / "sock"))
    sock.close()
    warned: list[str] = []
    report = engine.restore(
        spec, sid, str(tmp_path / "out"), emit=lambda e: warned.append(getattr(e, "path", ""))
    )
    assert report.files == 2
    assert report.skipped == (
        f"{NAME}/pipe: a FIFO in the snapshot that its manifest does not list; not restored",
        "sock: a socket in the snapshot that its manifest does not list; not restored",
    )
    assert [w for w in warned if w] == [f"{NAME}/pipe", "sock"]
    assert "restored 2 files" in report.summary() and "skipped 2: " in report.summary()
    assert engine.verify(spec, sid).outcome == "ok"  # never opened by verify either


def test_a_manifest_entry_leaving_the_snapshot_is_reported_never_opened(
    tmp_path: Path, backed_up
) -> None:
    engine, spec, sid = backed_up
    store = SnapshotStore(str(tmp_path / "dest"))
    outside = tmp_path / "outside"
    outside.write_bytes(b"secret\n")
    # a directory entry of the snapshot replaced by a symlink to outside
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil" / "leaf").write_bytes(b"leaf\n")
    os.unlink(store.manifest_path(sid))
    writer = ManifestWriter(store.manifest_path(sid))
    digest = _digest(b"secret\n")
    writer.add("f", 0o644, 0, 0, 7, 0, digest, "../../outside")
    writer.add("f", 0o644, 0, 0, 7, 0, digest, "/etc/hostname")
    writer.add("f", 0o644, 0, 0, 5, 0, _digest(b"leaf\n"), "link/leaf")
    writer.close()
    os.symlink(tmp_path / "evil", tmp_path / "dest" / sid / "link")
    report = engine.verify(spec, sid)
    reasons = {p.path: p.reason for p in report.problems}
    assert reasons == {
        "../../outside": "path leaves the snapshot; not opened",
        "/etc/hostname": "path leaves the snapshot; not opened",
        "link/leaf": "parent is not a directory in the snapshot; not opened",
    }
    assert report.files_checked == 0


def test_sparse_and_extended_attributes_of_the_snapshot_are_restored(
    tmp_path: Path, backed_up
) -> None:
    engine, spec, sid = backed_up
    snap = tmp_path / "dest" / sid
    sparse = snap / "sparse"
    with open(sparse, "wb") as fh:
        fh.truncate(64 << 20)
        fh.seek(32 << 20)
        fh.write(b"middle")
    try:
        os.setxattr(snap / "top", "user.colour", b"blue")
        os.setxattr(snap / NAME, "user.dir", b"yes")
    except OSError as exc:
        pytest.skip(f"no user xattrs on this filesystem: {exc}")
    out = tmp_path / "out"
    engine.restore(spec, sid, str(out))
    st = os.stat(out / "sparse")
    assert st.st_size == 64 << 20 and st.st_blocks * 512 < 1 << 20
    with open(out / "sparse", "rb") as fh:
        fh.seek(32 << 20)
        assert fh.read(6) == b"middle"
    assert os.getxattr(out / "top", "user.colour") == b"blue"
    assert os.getxattr(out / NAME, "user.dir") == b"yes"


@pytest.mark.skipif(shutil.which("setfacl") is None, reason="setfacl not installed")
def test_acls_come_back_and_an_inherited_default_acl_does_not_stick(
    tmp_path: Path, backed_up
) -> None:
    engine, spec, sid = backed_up
    snap = tmp_path / "dest" / sid
    acl = subprocess.run(
        ["setfacl", "-m", "u:nobody:r", str(snap / "top")], capture_output=True, check=False
    )
    if acl.returncode:
        pytest.skip(f"no ACLs here: {acl.stderr.decode()}")
    subprocess.run(["setfacl", "-d", "-m", "u:nobody:rx", str(snap / NAME)], check=True)
    out = tmp_path / "out"
    out.mkdir()
    # the target has a default ACL of its own: restored entries must not inherit it
    subprocess.run(["setfacl", "-d", "-m", "u:daemon:rwx", str(out)], check=True)

    def getfacl(p: Path) -> str:
        got = subprocess.run(["getfacl", "-cp", str(p)], capture_output=True, check=True)
        return got.stdout.decode()

    engine.restore(spec, sid, str(out), overwrite=True)
    for rel in ("top", NAME, f"{NAME}/{NAME}", f"{NAME}/{NAME}/leaf"):
        assert getfacl(out / rel) == getfacl(snap / rel), rel
    assert "daemon" not in getfacl(out / "top")


# -- verify memory does not grow with the tree -------------------------------------


def _flat_snapshot(tmp_path: Path, dirs: int, per_dir: int) -> JobSpec:
    """A hand-made snapshot of ``dirs`` x ``per_dir`` one-byte files, with its manifest."""
    dest = tmp_path / "dest"
    dest.mkdir(parents=True)
    spec = make_spec(tmp_path / "src", dest)
    marker.claim(str(dest), spec.name)
    store = SnapshotStore(str(dest))
    snap = Path(store.snapshot_path(SID))
    snap.mkdir()
    writer = ManifestWriter(store.manifest_path(SID))
    digest = _digest(b"x")
    uid, gid = os.getuid(), os.getgid()
    for d in range(dirs):
        name = f"dir{d:05d}"
        (snap / name).mkdir()
        writer.add("d", 0o755, uid, gid, 0, 0, "-", name)
        for f in range(per_dir):
            (snap / name / f"f{f:05d}").write_bytes(b"x")
            writer.add("f", 0o644, uid, gid, 1, 0, digest, f"{name}/f{f:05d}")
    writer.close()
    Path(store.summary_path(SID)).write_text(json.dumps({"files": dirs * per_dir}))
    return spec


def _verify_peak(spec: JobSpec) -> tuple[int, int]:
    import tracemalloc

    tracemalloc.start()
    try:
        report = SnapshotEngine().verify(spec, SID)
        return report.files_checked, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.timeout(300)
def test_verify_memory_does_not_grow_with_the_tree(tmp_path: Path) -> None:
    """Streamed manifest, one directory descriptor, no set of paths or inodes seen:
    three times the files costs no more memory (the old verify kept every inode's digest)."""
    # Both manifests are longer than one read chunk (1 MiB, ~10k lines), the part
    # of the peak that is bounded by the chunk and not by the tree.
    small = _flat_snapshot(tmp_path / "small", 100, 200)
    big = _flat_snapshot(tmp_path / "big", 300, 200)
    files_small, peak_small = _verify_peak(small)
    files_big, peak_big = _verify_peak(big)
    assert (files_small, files_big) == (20_000, 60_000)
    assert peak_big < peak_small * 1.2, (peak_small, peak_big)


@pytest.mark.skipif(
    not IS_ROOT, reason="trusted.* xattrs (the only kind a symlink holds) need root"
)
def test_a_symlinks_xattrs_are_restored(tmp_path: Path, backed_up) -> None:
    engine, spec, sid = backed_up
    link = tmp_path / "dest" / sid / "link"
    os.symlink("top", link)
    try:
        os.setxattr(link, "trusted.origin", b"here", follow_symlinks=False)
    except OSError as exc:
        pytest.skip(f"no trusted xattrs on symlinks here: {exc}")
    out = tmp_path / "out"
    assert engine.restore(spec, sid, str(out)).skipped == ()
    assert os.getxattr(out / "link", "trusted.origin", follow_symlinks=False) == b"here"


@pytest.mark.timeout(120)
def test_deep_verify_reads_source_paths_over_path_max(deep_root: Path) -> None:
    """Deep verify compares with the source: a 6,000-byte source path is read, not
    counted as 'changed since' because the kernel refused the path."""
    src = deep_root / "src"
    src.mkdir()
    fd = os.open(src, os.O_DIRECTORY)
    for _ in range(1500):
        os.mkdir(NAME, dir_fd=fd)
        nfd = os.open(NAME, os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    leaf = os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(leaf, b"deep\n")
    os.close(leaf)
    engine = SnapshotEngine(clock=StepClock())
    spec = make_spec(src, deep_root / "dest")
    assert run(spec, engine=engine).finished.error is None
    report = engine.verify(spec, deep=True)
    assert (report.outcome, report.changed_since, report.problems) == ("ok", 0, ())
    assert report.bytes_checked == 2 * 5  # the snapshot's copy and the source's
    # The source's copy damaged under the same size and mtime: found as damage.
    leaf_dir = _walk_down(src, 1500)
    try:
        old = os.stat("leaf", dir_fd=leaf_dir)
        out = os.open("leaf", os.O_WRONLY, dir_fd=leaf_dir)
        os.write(out, b"D")
        os.close(out)
        os.utime("leaf", ns=(old.st_atime_ns, old.st_mtime_ns), dir_fd=leaf_dir)
    finally:
        os.close(leaf_dir)
    damaged = engine.verify(spec, deep=True)
    assert [p.reason for p in damaged.problems] == [
        "differs from the source although size and modification time are the same"
    ]
