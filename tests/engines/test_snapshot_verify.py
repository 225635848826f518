"""Verify that says what it checked, deep verify against the source, and damage that
does not spread into the next snapshot (checksum runs included)."""

from __future__ import annotations

import gzip
import json
import os
import stat
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from tests.engines.conftest import StepClock, make_spec, run, write
from tui_backup.engines.api import RunOptions
from tui_backup.engines.snapshot import SnapshotEngine
from tui_backup.engines.snapshot.damage import damaged_path
from tui_backup.engines.snapshot.manifest import HEADER
from tui_backup.model.duration import Duration
from tui_backup.model.job import JobSpec

T = 1_700_000_000


@pytest.fixture
def engine() -> SnapshotEngine:
    return SnapshotEngine(clock=StepClock())


@pytest.fixture
def job(tmp_path: Path) -> tuple[JobSpec, Path]:
    src = tmp_path / "src"
    write(src / "a.txt", "alpha" * 100, mtime=T)
    write(src / "d" / "b.txt", "beta", mtime=T)
    write(src / "c.txt", "gamma", mtime=T)
    return make_spec(src, tmp_path / "dest"), src


def flip_keeping_stat(path: Path) -> None:
    """Change one byte of ``path`` in place, then put its mtime back (size unchanged)."""
    st = os.stat(path)
    data = bytearray(path.read_bytes())
    data[0] ^= 0x01
    mode = stat.S_IMODE(st.st_mode)
    os.chmod(path, mode | stat.S_IWUSR)
    with open(path, "r+b") as fh:
        fh.write(data)
    os.chmod(path, mode)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_verify_says_files_and_bytes_read(engine: SnapshotEngine, job) -> None:
    spec, _ = job
    sid = run(spec, engine=engine).finished.snapshot_id
    report = engine.verify(spec, sid)
    assert report.ok and report.outcome == "ok" and report.method == "manifest"
    assert (report.files_checked, report.bytes_checked) == (3, 500 + 4 + 5)


def test_a_snapshot_without_manifest_is_unchecked(engine: SnapshotEngine, job) -> None:
    spec, _ = job
    first = run(spec, engine=engine).finished.snapshot_id
    run(spec, engine=engine)
    os.unlink(Path(spec.destination) / ".tui-backup" / f"{first}.manifest.gz")
    one = engine.verify(spec, first)
    assert not one.ok and one.outcome == "unchecked" and one.problems == ()
    assert one.files_checked == 0 and first in (one.unchecked or "")
    every = engine.verify(spec, "all")
    assert every.outcome == "unchecked" and every.files_checked == 3


def test_verify_with_no_snapshots_is_unchecked(engine: SnapshotEngine, job) -> None:
    spec, _ = job
    report = engine.verify(spec)
    assert report.outcome == "unchecked" and report.snapshots == ()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_special_files_in_a_snapshot_are_never_opened(
    tmp_path: Path, engine: SnapshotEngine, job, kind: str
) -> None:
    """A FIFO planted where a file was: opening it for reading would block forever."""
    import socket

    spec, _ = job
    sid = run(spec, engine=engine).finished.snapshot_id
    planted = Path(spec.destination) / sid / "c.txt"
    planted.unlink()
    if kind == "fifo":
        os.mkfifo(planted)
    else:
        sock = socket.socket(socket.AF_UNIX)
        short = tmp_path / "s"  # AF_UNIX paths are short: bind nearby, then move
        sock.bind(str(short))
        sock.close()
        os.rename(short, planted)
    report = engine.verify(spec, sid)
    assert [(p.path, p.reason) for p in report.problems] == [
        ("c.txt", "not a regular file; not opened")
    ]
    assert report.files_checked == 2


def write_manifest(path: Path, lines: list[str]) -> None:
    with gzip.open(path, "wb") as fh:
        fh.write((HEADER + "".join(line + "\n" for line in lines)).encode())


def test_manifest_entries_that_leave_the_snapshot_are_not_opened(
    tmp_path: Path, engine: SnapshotEngine, job
) -> None:
    spec, _ = job
    sid = run(spec, engine=engine).finished.snapshot_id
    dest = Path(spec.destination)
    # A file outside the snapshot whose checksum the forged manifest gives correctly:
    # had verify opened it, it would have "matched" and been counted.
    import hashlib

    outside = write(dest / "outside.txt", "secret")
    digest = hashlib.blake2b(b"secret", digest_size=32).hexdigest()
    os.symlink(dest, dest / sid / "escape")  # a symlinked directory inside the snapshot
    write_manifest(
        dest / ".tui-backup" / f"{sid}.manifest.gz",
        [
            f"f\t100644\t0\t0\t6\t{T}\t{digest}\t../outside.txt",
            f"f\t100644\t0\t0\t6\t{T}\t{digest}\t{outside}",
            f"f\t100644\t0\t0\t6\t{T}\t{digest}\tescape/outside.txt",
        ],
    )
    report = engine.verify(spec, sid)
    assert report.files_checked == 0 and report.bytes_checked == 0
    assert [(p.path, p.reason) for p in report.problems] == [
        ("../outside.txt", "path leaves the snapshot; not opened"),
        (str(outside), "path leaves the snapshot; not opened"),
        ("escape/outside.txt", "parent is not a directory in the snapshot; not opened"),
    ]


def test_deep_verify_compares_with_the_source(engine: SnapshotEngine, job) -> None:
    spec, src = job
    sid = run(spec, engine=engine).finished.snapshot_id
    flip_keeping_stat(src / "a.txt")  # same size and mtime, other content: damage
    write(src / "c.txt", "gamma, edited", mtime=T + 60)  # changed since: not damage
    (src / "d" / "b.txt").unlink()  # deleted since: not damage
    shallow = engine.verify(spec, sid)
    assert shallow.ok and shallow.method == "manifest"
    deep = engine.verify(spec, sid, deep=True)
    assert deep.method == "manifest+source" and deep.outcome == "damaged"
    assert [(p.path, p.reason) for p in deep.problems] == [
        ("a.txt", "differs from the source although size and modification time are the same")
    ]
    assert deep.changed_since == 2
    assert deep.files_checked == 3


def test_deep_verify_of_an_unchanged_source_is_ok(engine: SnapshotEngine, job) -> None:
    spec, _ = job
    sid = run(spec, engine=engine).finished.snapshot_id
    deep = engine.verify(spec, sid, deep=True)
    assert deep.ok and deep.changed_since == 0
    assert deep.bytes_checked == 2 * 509  # the snapshot and the source, each read once


def test_a_damaged_file_is_not_linked_into_the_next_snapshot(engine: SnapshotEngine, job) -> None:
    spec, src = job
    dest = Path(spec.destination)
    first = run(spec, engine=engine).finished.snapshot_id
    bad = dest / first / "a.txt"
    flip_keeping_stat(bad)
    report = engine.verify(spec, first)
    assert [(p.path, p.reason) for p in report.problems] == [("a.txt", "checksum mismatch")]
    record = Path(damaged_path(str(dest)))
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    entry = json.loads(record.read_text())["files"][0]
    assert (entry["dev"], entry["ino"]) == (bad.stat().st_dev, bad.stat().st_ino)

    second = run(spec, engine=engine).finished.snapshot_id
    fresh = dest / second / "a.txt"
    assert fresh.stat().st_ino != bad.stat().st_ino
    assert fresh.read_bytes() == (src / "a.txt").read_bytes()
    # Unchanged, undamaged files are still linked.
    assert (dest / second / "c.txt").stat().st_ino == (dest / first / "c.txt").stat().st_ino
    assert engine.verify(spec, second).ok
    # And the run after that links the fresh copy, never the bad inode.
    third = run(spec, engine=engine).finished.snapshot_id
    assert (dest / third / "a.txt").stat().st_ino == fresh.stat().st_ino


def test_damage_found_in_an_older_snapshot_reaches_the_shared_inode(
    engine: SnapshotEngine, job
) -> None:
    """The bad inode is found through the oldest snapshot; the newest shares it."""
    spec, src = job
    dest = Path(spec.destination)
    first = run(spec, engine=engine).finished.snapshot_id
    second = run(spec, engine=engine).finished.snapshot_id
    assert (dest / first / "a.txt").stat().st_ino == (dest / second / "a.txt").stat().st_ino
    flip_keeping_stat(dest / first / "a.txt")
    assert not engine.verify(spec, first).ok
    third = run(spec, engine=engine).finished.snapshot_id
    assert (dest / third / "a.txt").stat().st_ino != (dest / second / "a.txt").stat().st_ino
    assert (dest / third / "a.txt").read_bytes() == (src / "a.txt").read_bytes()


def test_a_checksum_run_copies_content_changed_behind_the_same_mtime(
    engine: SnapshotEngine, job
) -> None:
    spec, src = job
    dest = Path(spec.destination)
    first = run(spec, engine=engine).finished.snapshot_id
    flip_keeping_stat(src / "a.txt")
    trusting = run(spec, engine=engine).finished.snapshot_id
    # Without a checksum run size+mtime are trusted: the old content is linked.
    assert (dest / trusting / "a.txt").stat().st_ino == (dest / first / "a.txt").stat().st_ino
    checked = run(spec, engine=engine, options=RunOptions(checksum=True)).finished
    assert checked.status == "succeeded"
    new = dest / checked.snapshot_id / "a.txt"  # type: ignore[operator]
    assert new.stat().st_ino != (dest / first / "a.txt").stat().st_ino
    assert new.read_bytes() == (src / "a.txt").read_bytes()
    # Files whose content still matches are linked, even on a checksum run.
    assert (dest / checked.snapshot_id / "c.txt").stat().st_ino == (  # type: ignore[operator]
        dest / first / "c.txt"
    ).stat().st_ino
    summary = json.loads((dest / ".tui-backup" / f"{checked.snapshot_id}.json").read_text())
    assert summary["checksum"] is True and summary["last_checksum"]
    assert engine.verify(spec, checked.snapshot_id).ok


def test_checksum_every_makes_a_run_a_checksum_run_when_due(tmp_path: Path, job) -> None:
    from dataclasses import replace

    spec, src = job
    spec = replace(spec, checksum_every=Duration(days=1))
    clock = StepClock()
    engine = SnapshotEngine(clock=clock)
    dest = Path(spec.destination)

    def summary(sid: str | None) -> dict:  # type: ignore[type-arg]
        return json.loads((dest / ".tui-backup" / f"{sid}.json").read_text())

    first = run(spec, engine=engine).finished.snapshot_id
    assert summary(first)["checksum"] is True  # a first snapshot reads everything
    flip_keeping_stat(src / "a.txt")
    second = run(spec, engine=engine).finished.snapshot_id  # a minute later: not due
    assert summary(second)["checksum"] is False
    assert summary(second)["last_checksum"] == summary(first)["last_checksum"]
    assert (dest / second / "a.txt").stat().st_ino == (dest / first / "a.txt").stat().st_ino
    clock.now += timedelta(days=1)
    third = run(spec, engine=engine).finished.snapshot_id  # a day after the last: due
    assert summary(third)["checksum"] is True
    assert (dest / third / "a.txt").read_bytes() == (src / "a.txt").read_bytes()
    assert (dest / third / "a.txt").stat().st_ino != (dest / first / "a.txt").stat().st_ino


def test_a_checksum_run_does_not_link_a_copy_damaged_in_place(engine: SnapshotEngine, job) -> None:
    """No verify in between: the checksum run itself re-reads the previous snapshot's copy."""
    spec, src = job
    dest = Path(spec.destination)
    first = run(spec, engine=engine).finished.snapshot_id
    flip_keeping_stat(dest / first / "d" / "b.txt")
    second = run(spec, engine=engine, options=RunOptions(checksum=True)).finished.snapshot_id
    fresh = dest / second / "d" / "b.txt"
    assert fresh.stat().st_ino != (dest / first / "d" / "b.txt").stat().st_ino
    assert fresh.read_bytes() == (src / "d" / "b.txt").read_bytes()
    assert engine.verify(spec, second).ok


def test_a_damaged_inode_stays_recorded_after_the_snapshot_it_was_found_in_goes(
    engine: SnapshotEngine, job
) -> None:
    """Found through the oldest snapshot, which is then forgotten: the newest still
    holds the bad inode, so the record must survive and the next run copy fresh."""
    from tui_backup.model.retention import RetentionPolicy

    spec, src = job
    dest = Path(spec.destination)
    first = run(spec, engine=engine).finished.snapshot_id
    second = run(spec, engine=engine).finished.snapshot_id
    flip_keeping_stat(dest / first / "a.txt")
    assert not engine.verify(spec, first).ok
    engine.forget(spec, RetentionPolicy(keep_last=1))
    assert [s.id for s in engine.snapshots(spec)] == [second]
    stopped = threading.Event()
    stopped.set()  # a run that reads the record, then stops before it commits
    assert run(spec, stopped, engine=engine).finished.status == "stopped"
    third = run(spec, engine=engine).finished.snapshot_id
    assert (dest / third / "a.txt").stat().st_ino != (dest / second / "a.txt").stat().st_ino
    assert (dest / third / "a.txt").read_bytes() == (src / "a.txt").read_bytes()


def test_a_manifest_line_with_a_field_that_is_not_a_number_is_a_problem_not_a_crash(
    engine: SnapshotEngine, job
) -> None:
    """A tampered size or mode field: that line is reported; the others are still checked."""
    spec, _ = job
    sid = run(spec, engine=engine).finished.snapshot_id
    path = Path(spec.destination) / ".tui-backup" / f"{sid}.manifest.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()[1:]
    forged = []
    for line in lines:
        parts = line.split("\t")
        if parts[-1] == "a.txt":
            parts[4] = "XX"  # the size
        elif parts[-1] == "c.txt":
            parts[1] = "rw-r--r--"  # the mode
        forged.append("\t".join(parts))
    write_manifest(path, forged)
    report = engine.verify(spec, sid)
    assert report.outcome == "damaged"
    assert report.files_checked == 1  # d/b.txt, whose line is intact
    assert sorted(p.reason for p in report.problems) == [
        "malformed manifest line; not checked",
        "malformed manifest line; not checked",
    ]
