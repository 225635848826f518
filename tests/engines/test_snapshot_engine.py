"""The snapshot engine on real files: fidelity (rsync as oracle), links, errors, cancel."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from tests.engines.conftest import (
    StepClock,
    make_spec,
    needs_rsync,
    rsync_diff,
    run,
    snapshot_dirs,
    write,
)
from tui_backup.engines.api import ErrorType
from tui_backup.engines.events import Progress
from tui_backup.engines.snapshot import SnapshotEngine
from tui_backup.engines.snapshot.manifest import read_manifest
from tui_backup.engines.snapshot.store import SnapshotStore
from tui_backup.model.status import Status


def _tree(root: Path) -> Path:
    write(root / "a.txt", "alpha", mtime=1_600_000_000)
    write(root / "dir" / "b.bin", os.urandom(300_000))
    write(root / "dir" / "sub" / "c.txt", "gamma")
    (root / "empty" / "nested-empty").mkdir(parents=True)
    os.symlink("dir/sub/c.txt", root / "rel-link")
    os.symlink("/definitely/not/there", root / "dangling")
    os.symlink("dir", root / "dir-link")
    x = write(root / "exec.sh", "#!/bin/sh\n")
    x.chmod(0o750)
    ro = root / "readonly-dir"
    ro.mkdir()
    write(ro / "inside", "x")
    ro.chmod(0o555)
    os.utime(root / "dir", (1_500_000_000, 1_500_000_000))
    return root


@pytest.fixture
def engine() -> SnapshotEngine:
    return SnapshotEngine(clock=StepClock())


@needs_rsync
def test_first_snapshot_matches_source_by_rsync(tmp_path: Path, engine: SnapshotEngine) -> None:
    src = _tree(tmp_path / "src")
    dest = tmp_path / "dest"
    result = run(make_spec(src, dest), engine=engine)
    done = result.finished
    assert done.status == Status.SUCCEEDED, done
    assert done.warnings == 0
    snap = dest / done.snapshot_id
    assert rsync_diff(src, snap) == ""
    assert os.readlink(dest / "latest") == done.snapshot_id
    assert os.path.islink(snap / "dir-link") and os.readlink(snap / "rel-link") == "dir/sub/c.txt"
    assert (snap / "empty" / "nested-empty").is_dir()
    assert stat.S_IMODE(os.lstat(snap / "readonly-dir").st_mode) == 0o555
    assert os.lstat(snap / "dir").st_mtime == 1_500_000_000
    # files = regular files (what `find -type f` counts, as for every engine); 3 symlinks apart
    assert done.files == 5
    assert engine.snapshots(make_spec(src, dest))[0].id == done.snapshot_id


@needs_rsync
def test_unchanged_files_share_inodes_changed_do_not(
    tmp_path: Path, engine: SnapshotEngine
) -> None:
    src = _tree(tmp_path / "src")
    dest = tmp_path / "dest"
    spec = make_spec(src, dest)
    first = run(spec, engine=engine).finished
    write(src / "a.txt", "alpha changed", mtime=1_600_000_100)
    write(src / "new.txt", "brand new")
    (src / "dir" / "sub" / "c.txt").chmod(0o600)  # mode change must also copy
    second = run(spec, engine=engine).finished
    assert second.status == Status.SUCCEEDED
    s1, s2 = dest / first.snapshot_id, dest / second.snapshot_id
    assert rsync_diff(src, s2) == ""
    assert os.stat(s1 / "dir" / "b.bin").st_ino == os.stat(s2 / "dir" / "b.bin").st_ino
    assert os.stat(s1 / "exec.sh").st_ino == os.stat(s2 / "exec.sh").st_ino
    assert os.stat(s1 / "a.txt").st_ino != os.stat(s2 / "a.txt").st_ino
    assert os.stat(s1 / "dir/sub/c.txt").st_ino != os.stat(s2 / "dir/sub/c.txt").st_ino
    assert (s1 / "a.txt").read_text() == "alpha"
    assert not (s1 / "new.txt").exists()
    # The linked file's checksum came from the previous manifest and is right.
    report = engine.verify(spec, None)
    assert report.ok, report.problems


@needs_rsync
def test_odd_names_round_trip(tmp_path: Path, engine: SnapshotEngine) -> None:
    src = tmp_path / "src"
    src.mkdir()
    names = [
        b"with space.txt",
        b"new\nline",
        b"tab\there",
        b"back\\slash",
        b"latin1-\xe9\xff",
        b"x" * 255,
        "ünïcødé-🙂".encode(),
        b"-starts-with-dash",
        # Line separators other than \n that str.splitlines() would split on:
        # the manifest reader must split on \n only.
        "form\x0cfeed-vt\x0b-fs\x1c-nel\x85-ls\u2028-ps\u2029".encode(),
        b"cr\rin-name",
    ]
    for raw in names:
        with open(os.path.join(os.fsencode(src), raw), "wb") as fh:
            fh.write(raw)
    os.mkdir(os.path.join(os.fsencode(src), b"dir\n\xfe"))
    spec = make_spec(src, tmp_path / "dest")
    done = run(spec, engine=engine).finished
    assert done.status == Status.SUCCEEDED and done.files == len(names)
    snap = tmp_path / "dest" / done.snapshot_id
    assert rsync_diff(src, snap) == ""
    store = SnapshotStore(str(tmp_path / "dest"))
    paths = {os.fsencode(e.path) for e in read_manifest(store.manifest_path(done.snapshot_id))}
    assert paths == set(names) | {b"dir\n\xfe"}
    again = run(spec, engine=engine).finished  # and every one is linked, not copied
    for raw in names:
        a = os.stat(os.path.join(os.fsencode(snap), raw)).st_ino
        b = os.stat(os.path.join(os.fsencode(tmp_path / "dest" / again.snapshot_id), raw)).st_ino
        assert a == b
    assert engine.verify(spec, "all").ok


def test_excludes_are_gitignore_style(tmp_path: Path, engine: SnapshotEngine) -> None:
    src = tmp_path / "src"
    write(src / "keep.txt", "k")
    write(src / "drop.tmp", "d")
    write(src / "deep" / "x.tmp", "d")
    write(src / ".cache" / "blob", "d")
    write(src / "sub" / ".cache" / "blob", "d")
    write(src / "build" / "out", "d")
    write(src / "sub" / "build" / "kept", "k")
    spec = make_spec(src, tmp_path / "dest", exclude=("*.tmp", ".cache/", "/build"))
    done = run(spec, engine=engine).finished
    snap = tmp_path / "dest" / done.snapshot_id
    found = sorted(str(p.relative_to(snap)) for p in snap.rglob("*") if p.is_file())
    assert found == ["keep.txt", "sub/build/kept"]


def test_several_sources_go_under_their_basenames(tmp_path: Path, engine: SnapshotEngine) -> None:
    a = write(tmp_path / "one" / "data" / "f", "1").parent
    b = write(tmp_path / "two" / "data" / "f", "2").parent
    single = write(tmp_path / "notes.txt", "n")
    spec = make_spec([a, b, single], tmp_path / "dest")
    done = run(spec, engine=engine).finished
    snap = tmp_path / "dest" / done.snapshot_id
    assert (snap / "data" / "f").read_text() == "1"
    assert (snap / "data-2" / "f").read_text() == "2"
    assert (snap / "notes.txt").read_text() == "n"
    second = run(spec, engine=engine).finished
    assert (
        os.stat(snap / "data-2" / "f").st_ino
        == os.stat(tmp_path / "dest" / second.snapshot_id / "data-2" / "f").st_ino
    )


def test_special_files_are_kept_as_nodes(tmp_path: Path, engine: SnapshotEngine) -> None:
    """Like ``rsync -a`` (its ``-D``): FIFOs and sockets are in the snapshot as nodes."""
    src = tmp_path / "src"
    write(src / "ok", "fine")
    os.mkfifo(src / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "sock"))
    try:
        result = run(make_spec(src, tmp_path / "dest"), engine=engine)
    finally:
        sock.close()
    done = result.finished
    assert done.status == Status.SUCCEEDED and done.warnings == 0, result.warnings
    snap = tmp_path / "dest" / str(done.snapshot_id)
    assert stat.S_ISFIFO(os.lstat(snap / "fifo").st_mode)
    assert stat.S_ISSOCK(os.lstat(snap / "sock").st_mode)
    assert done.files == 1  # nodes are not files: counts stay what `find -type f` says


def test_missing_source_fails_and_leaves_no_partial(tmp_path: Path, engine: SnapshotEngine) -> None:
    dest = tmp_path / "dest"
    done = run(make_spec(tmp_path / "nope", dest), engine=engine).finished
    assert done.status == Status.FAILED
    assert done.error_type == "source_missing"
    assert done.error == f"source {tmp_path / 'nope'} does not exist"  # worded by engines.common
    assert not dest.exists() or snapshot_dirs(dest) == []


def test_destination_owned_by_another_job_is_refused(
    tmp_path: Path, engine: SnapshotEngine
) -> None:
    src = write(tmp_path / "src" / "f", "x").parent
    dest = tmp_path / "dest"
    assert run(make_spec(src, dest, name="first"), engine=engine).finished.status == "succeeded"
    done = run(make_spec(src, dest, name="second"), engine=engine).finished
    assert done.status == Status.FAILED and done.error_type == "destination_owned"
    assert "belongs to job 'first'" in (done.error or "")
    assert len(snapshot_dirs(dest)) == 1


def test_unwritable_destination_fails_clearly(tmp_path: Path, engine: SnapshotEngine) -> None:
    src = write(tmp_path / "src" / "f", "x").parent
    done = run(make_spec(src, tmp_path / "no" / "such" / "dest"), engine=engine).finished
    assert done.status == Status.FAILED and done.error_type == "destination_missing"
    # A read-only file system stops even root.
    done = run(make_spec(src, Path("/proc/tui-backup-dest")), engine=engine).finished
    assert done.status == Status.FAILED
    assert done.error_type in {"destination_unwritable", "destination_error"}


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    out = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    return out.returncode == 0


def test_full_disk_fails_and_removes_partial(tmp_path: Path, engine: SnapshotEngine) -> None:
    mnt = tmp_path / "small"
    if os.geteuid() != 0 or not _mount_tmpfs(mnt, "2m"):
        pytest.skip("needs root to mount a small tmpfs for a real ENOSPC")
    try:
        src = tmp_path / "src"
        for i in range(6):
            write(src / f"f{i}", os.urandom(600_000))
        done = run(make_spec(src, mnt / "dest"), engine=engine).finished
        assert done.status == Status.FAILED and done.error_type == "disk_full"
        assert "is full" in (done.error or "")
        assert snapshot_dirs(mnt / "dest") == []
        assert [n for n in os.listdir(mnt / "dest") if n.endswith(".partial")] == []
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def without_dac_override(args: list[str]) -> list[str]:
    """Root reads any file; drop the capabilities that let it, so 0000 means unreadable."""
    if os.geteuid() != 0:
        return args
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *args]


def test_unreadable_file_is_a_warning_and_run_succeeds(tmp_path: Path) -> None:
    """Root reads 0000 files, so the engine runs without CAP_DAC_OVERRIDE (setpriv)."""
    import json
    import shutil
    import sys

    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    src = tmp_path / "src"
    write(src / "readable", "ok")
    write(src / "secret", "no")
    (src / "secret").chmod(0)
    locked = src / "locked-dir"
    write(locked / "inside", "no")
    locked.chmod(0)
    dest = tmp_path / "dest"
    dest.mkdir()
    script = (
        "import json,threading,sys\n"
        "from tui_backup.engines.snapshot import SnapshotEngine\n"
        "from tui_backup.model.job import JobSpec\n"
        "ev=[]\n"
        f"spec=JobSpec(name='j',sources=({str(src)!r},),destination={str(dest)!r})\n"
        "SnapshotEngine().run(spec,threading.Event(),ev.append)\n"
        "w=[e.reason for e in ev if type(e).__name__=='FileWarning']\n"
        "f=ev[-1]\n"
        "print(json.dumps({'status':str(f.status),'warnings':f.warnings,'reasons':w,"
        "'snap':f.snapshot_id}))\n"
    )
    cmd = without_dac_override([sys.executable, "-c", script])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["status"] == "succeeded"
    assert data["warnings"] == 2
    assert sorted(data["reasons"]) == ["directory skipped: permission denied", "permission denied"]
    snap = dest / data["snap"]
    assert (snap / "readable").read_text() == "ok"
    assert not (snap / "secret").exists() and not (snap / "locked-dir").exists()


def test_vanished_file_is_a_warning(tmp_path: Path, engine: SnapshotEngine, monkeypatch) -> None:
    """A file deleted between the walk's lstat and the copy's open (the real race)."""
    from tui_backup.engines.snapshot import build

    src = tmp_path / "src"
    for i in range(30):
        write(src / f"f{i:02d}", "x" * 10)
    real_file = build.SnapshotBuilder._file

    def racing_file(self, src_path, dst, rel, st):  # type: ignore[no-untyped-def]
        if 10 <= int(rel[1:]) < 20:
            os.unlink(src_path)
        return real_file(self, src_path, dst, rel, st)

    monkeypatch.setattr(build.SnapshotBuilder, "_file", racing_file)
    result = run(make_spec(src, tmp_path / "dest"), engine=engine)
    done = result.finished
    assert done.status == Status.SUCCEEDED
    assert done.warnings == 10 and done.files == 20
    assert {w.reason for w in result.warnings} == {"vanished during backup"}
    snap = tmp_path / "dest" / done.snapshot_id
    assert sorted(os.listdir(snap)) == [f"f{i:02d}" for i in (*range(10), *range(20, 30))]


def test_cancel_stops_quickly_and_removes_partial(tmp_path: Path, engine: SnapshotEngine) -> None:
    src = tmp_path / "src"
    for i in range(400):
        write(src / f"d{i % 8}" / f"f{i}", os.urandom(2000))
    dest = tmp_path / "dest"
    cancel = threading.Event()

    def on_event(event: object) -> None:
        if isinstance(event, Progress) and event.phase == "copy":
            cancel.set()

    engine.workers = 2
    result = run(make_spec(src, dest), cancel=cancel, engine=engine, on_event=on_event)
    assert result.finished.status == Status.STOPPED
    # "Quickly" in work, not seconds (a busy CI machine makes any time bound flaky):
    # cancelled at its first copy progress, the run stops before it has copied the tree.
    copied = max(p.files_done for p in result.progress)
    assert copied < 400, copied
    assert os.listdir(dest) == [".tui-backup"] or snapshot_dirs(dest) == []
    assert [n for n in os.listdir(dest) if n.endswith(".partial")] == []


def test_stale_partial_is_removed_and_never_listed(tmp_path: Path, engine: SnapshotEngine) -> None:
    src = write(tmp_path / "src" / "f", "x").parent
    dest = tmp_path / "dest"
    spec = make_spec(src, dest)
    run(spec, engine=engine)
    stale = dest / "2020-01-01T000000Z.partial"
    write(stale / "junk", "half")
    write(dest / ".tui-backup" / "2020-01-01T000000Z.partial.manifest.gz", "x")
    assert [s.id for s in engine.snapshots(spec)] == snapshot_dirs(dest)[-1:]
    done = run(spec, engine=engine).finished
    assert done.status == Status.SUCCEEDED
    assert not stale.exists()
    assert not (dest / ".tui-backup" / "2020-01-01T000000Z.partial.manifest.gz").exists()
    assert len(engine.snapshots(spec)) == 2


def test_progress_is_throttled_and_has_rate_and_totals(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(2000):
        write(src / f"d{i % 20}" / f"f{i}", b"y" * 100)
    result = run(make_spec(src, tmp_path / "dest"))
    prog = result.progress
    elapsed = prog[-1].elapsed
    # At most ~10/s plus one per phase change.
    assert len(prog) <= elapsed * 10 + 6
    assert {p.phase for p in prog} >= {"copy", "commit"}  # a first run counts while it copies
    last = prog[-1]
    assert last.files_total == 2000 and last.bytes_total == 200_000


def test_progress_rate_is_bytes_per_second_of_the_clock(tmp_path: Path, monkeypatch) -> None:
    """The rate is bytes moved per second: on a clock that ticks 10 ms per reading and
    100-byte files counted one per reading, every copy frame says 10,000 B/s, and the
    ETA is what is left divided by it (no wall-clock threshold involved)."""
    import itertools
    import types

    from tui_backup.engines import throttle

    src = tmp_path / "src"
    for i in range(300):
        write(src / f"d{i % 5}" / f"f{i}", b"y" * 100)
    ticks = itertools.count()
    monkeypatch.setattr(
        throttle, "time", types.SimpleNamespace(monotonic=lambda: next(ticks) / 100)
    )
    prog = run(make_spec(src, tmp_path / "dest"), engine=SnapshotEngine(workers=0)).progress
    moving = [p for p in prog if p.phase == "copy" and p.bytes_done > 0]
    assert len(moving) > 5
    assert {round(p.rate) for p in moving} == {10_000}, [p.rate for p in moving]
    for p in moving:
        if p.eta_seconds is not None:
            assert p.eta_seconds == pytest.approx((p.bytes_total - p.bytes_done) / p.rate)


def test_collision_ids_get_a_suffix(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    src = write(tmp_path / "src" / "f", "x").parent
    fixed = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    engine = SnapshotEngine(clock=lambda: fixed)
    spec = make_spec(src, tmp_path / "dest")
    ids = [run(spec, engine=engine).finished.snapshot_id for _ in range(3)]
    assert ids == ["2024-05-01T120000Z", "2024-05-01T120000Z-2", "2024-05-01T120000Z-3"]
    assert [s.id for s in engine.snapshots(spec)] == ids[::-1]


def test_engine_never_raises(tmp_path: Path, engine: SnapshotEngine, monkeypatch) -> None:
    from tui_backup.engines.snapshot import build

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(build.SnapshotBuilder, "_walk", boom)
    src = write(tmp_path / "src" / "f", "x").parent
    done = run(make_spec(src, tmp_path / "dest"), engine=engine).finished
    assert done.status == Status.FAILED and done.error_type == ErrorType.ENGINE_CRASHED
    assert "kaboom" in done.details
    assert [n for n in os.listdir(tmp_path / "dest") if n.endswith(".partial")] == []


@needs_rsync
@pytest.mark.parametrize("workers", [0, 2])
def test_modes_survive_any_umask_and_links_fall_back_to_copy(tmp_path: Path, workers: int) -> None:
    """Files are created with their final mode when the umask allows; otherwise fchmod.

    Also: a file the previous snapshot should hold but does not (damaged by
    hand) is copied instead of linked, with or without copy threads.
    """
    engine = SnapshotEngine(clock=StepClock(), workers=workers)
    src = tmp_path / "src"
    modes = [0o400, 0o644, 0o664, 0o666, 0o777, 0o2755, 0o4711, 0o1777, 0o7777]
    if os.geteuid() == 0:
        modes.append(0o000)  # readable by root only
    for mode in modes:
        write(src / f"m{mode:04o}", f"mode {mode:o}").chmod(mode)
    for i in range(600):  # several batches, some dirs
        write(src / f"d{i % 7}" / f"f{i:03d}", f"content {i}", mtime=1_600_000_000 + i)
    spec = make_spec(src, tmp_path / "dest")
    old = os.umask(0o077)
    try:
        first = run(spec, engine=engine).finished
    finally:
        os.umask(old)
    assert first.status == Status.SUCCEEDED, first
    s1 = tmp_path / "dest" / first.snapshot_id
    for mode in modes:
        got = stat.S_IMODE(os.lstat(s1 / f"m{mode:04o}").st_mode)
        assert got == mode, f"{mode:o} became {got:o}"
    assert rsync_diff(src, s1) == ""
    (s1 / "d3" / "f003").chmod(0o644)
    os.unlink(s1 / "d3" / "f003")  # the previous snapshot lost a file
    second = run(spec, engine=engine).finished
    assert second.status == Status.SUCCEEDED, second
    s2 = tmp_path / "dest" / second.snapshot_id
    assert rsync_diff(src, s2) == ""
    assert (s2 / "d3" / "f003").read_text() == "content 3"
    assert os.stat(s1 / "d4" / "f004").st_ino == os.stat(s2 / "d4" / "f004").st_ino
    summary = SnapshotStore(str(tmp_path / "dest")).summary(second.snapshot_id)
    assert summary["copied"] == 1 and summary["linked"] == second.files - 1
    assert engine.verify(spec, second.snapshot_id).ok


@needs_rsync
@pytest.mark.parametrize("max_depth", [2, 128])
def test_deep_trees_by_descriptor_and_by_path(tmp_path: Path, monkeypatch, max_depth: int) -> None:
    """Below MAX_FD_DEPTH the walk works relative to directory fds, deeper by path."""
    from tui_backup.engines.snapshot import build

    monkeypatch.setattr(build, "MAX_FD_DEPTH", max_depth)
    engine = SnapshotEngine(clock=StepClock())
    src = tmp_path / "src"
    deep = src
    for level in range(6):
        deep = deep / f"level{level}"
        write(deep / "file.txt", f"at {level}", mtime=1_600_000_000)
        os.symlink("file.txt", deep / "link")
    (deep / "empty").mkdir()
    spec = make_spec(src, tmp_path / "dest")
    first = run(spec, engine=engine).finished
    write(src / "level0" / "level1" / "file.txt", "changed", mtime=1_600_000_100)
    second = run(spec, engine=engine).finished
    assert first.status == second.status == Status.SUCCEEDED
    s1, s2 = tmp_path / "dest" / first.snapshot_id, tmp_path / "dest" / second.snapshot_id
    assert rsync_diff(src, s2) == ""
    rel = Path(*(f"level{i}" for i in range(6))) / "file.txt"
    assert os.stat(s1 / rel).st_ino == os.stat(s2 / rel).st_ino
    changed = Path("level0/level1/file.txt")
    assert os.stat(s1 / changed).st_ino != os.stat(s2 / changed).st_ino
    summary = SnapshotStore(str(tmp_path / "dest")).summary(second.snapshot_id)
    assert summary["copied"] == 1 and summary["linked"] == 5
