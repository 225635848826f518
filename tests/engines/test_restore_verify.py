"""Restore (never outside the target, never through a symlink) and verify."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.engines.conftest import StepClock, make_spec, needs_rsync, rsync_diff, run, write
from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.snapshot import SnapshotEngine
from tui_backup.model.job import JobSpec


@pytest.fixture
def backed_up(tmp_path: Path) -> tuple[SnapshotEngine, JobSpec, Path, str]:
    src = tmp_path / "src"
    write(src / "docs" / "a.txt", "alpha")
    write(src / "docs" / "b.txt", "beta")
    write(src / "top.txt", "top")
    os.symlink("/etc", src / "etc-link")
    os.symlink("docs", src / "docs-link")
    (src / "empty").mkdir()
    engine = SnapshotEngine(clock=StepClock())
    spec = make_spec(src, tmp_path / "dest")
    done = run(spec, engine=engine).finished
    return engine, spec, src, done.snapshot_id or ""


@needs_rsync
def test_full_restore_equals_source(tmp_path: Path, backed_up) -> None:
    engine, spec, src, sid = backed_up
    report = engine.restore(spec, "latest", str(tmp_path / "out"))
    assert report.snapshot_id == sid and report.files == 3 and report.warnings == 0
    assert rsync_diff(src, tmp_path / "out") == ""


def test_partial_restore_and_dry_run(tmp_path: Path, backed_up) -> None:
    engine, spec, src, sid = backed_up
    dry = engine.restore(spec, sid, str(tmp_path / "out"), ["docs"], dry_run=True)
    assert dry.planned == ("docs/a.txt", "docs/b.txt") and dry.files == 2
    assert not (tmp_path / "out").exists()
    engine.restore(spec, sid, str(tmp_path / "out"), ["docs/a.txt", str(src / "top.txt")])
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*")) == [
        "docs",
        "docs/a.txt",
        "top.txt",
    ]


@pytest.mark.parametrize("path", ["../outside", "docs/../../x", "/etc/passwd"])
def test_escapes_are_refused(tmp_path: Path, backed_up, path: str) -> None:
    engine, spec, _, sid = backed_up
    with pytest.raises(EngineError) as err:
        engine.restore(spec, sid, str(tmp_path / "out"), [path])
    assert err.value.error_type == ErrorType.BAD_PATH
    assert not (tmp_path / "outside").exists()


@pytest.mark.parametrize("path", ["docs-link/a.txt", "etc-link/passwd"])
def test_symlink_in_snapshot_is_not_descended(tmp_path: Path, backed_up, path: str) -> None:
    """A path through a symlink of the snapshot is not in it: refused before anything is written."""
    engine, spec, _, sid = backed_up
    with pytest.raises(EngineError) as err:
        engine.restore(spec, sid, str(tmp_path / "out"), [path])
    assert err.value.error_type == ErrorType.PATH_NOT_IN_SNAPSHOT
    assert "is not a directory there" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_planted_symlink_in_target_is_never_written_through(tmp_path: Path, backed_up) -> None:
    engine, spec, _, sid = backed_up
    victim = tmp_path / "victim"
    write(victim / "a.txt", "precious")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(victim, out / "docs")  # a directory the restore needs is a symlink
    os.symlink(victim / "a.txt", out / "top.txt")  # a file the restore writes is a symlink
    with pytest.raises(EngineError) as err:  # not empty: refused up front
        engine.restore(spec, sid, str(out))
    assert err.value.error_type == ErrorType.TARGET_NOT_EMPTY
    assert (victim / "a.txt").read_text() == "precious"
    assert sorted(os.listdir(victim)) == ["a.txt"]
    assert sorted(os.listdir(out)) == ["docs", "top.txt"]
    # With overwrite, the links themselves are replaced; their targets stay untouched.
    engine.restore(spec, sid, str(out), overwrite=True)
    assert (victim / "a.txt").read_text() == "precious"
    assert not os.path.islink(out / "top.txt") and (out / "top.txt").read_text() == "top"
    assert not os.path.islink(out / "docs") and (out / "docs" / "a.txt").read_text() == "alpha"


def test_non_empty_target_is_refused_unless_overwrite(tmp_path: Path, backed_up) -> None:
    """One rule for every engine: refused up front (no per-file warnings), nothing written."""
    engine, spec, _, sid = backed_up
    out = tmp_path / "out"
    write(out / "other.txt", "mine")
    for paths in ([], ["top.txt"]):
        with pytest.raises(EngineError) as err:
            engine.restore(spec, sid, str(out), paths)
        assert err.value.error_type == ErrorType.TARGET_NOT_EMPTY
        assert os.listdir(out) == ["other.txt"]
    write(out / "top.txt", "mine")
    report = engine.restore(spec, sid, str(out), ["top.txt"], overwrite=True)
    assert report.warnings == 0 and report.skipped == ()
    assert (out / "top.txt").read_text() == "top" and (out / "other.txt").read_text() == "mine"
    assert report.summary() == f"restored 1 file (3 B) into {out}"


def test_unknown_snapshot_is_a_readable_error(tmp_path: Path, backed_up) -> None:
    engine, spec, _, _ = backed_up
    with pytest.raises(EngineError, match="has no snapshot") as err:
        engine.restore(spec, "2001-01-01T000000Z", str(tmp_path / "out"))
    assert err.value.error_type == ErrorType.SNAPSHOT_NOT_FOUND


def test_verify_reports_mismatch_and_missing(backed_up) -> None:
    engine, spec, _, sid = backed_up
    assert engine.verify(spec, sid).ok
    snap = Path(spec.destination) / sid
    (snap / "docs" / "a.txt").write_text("alphx")  # same size, different content
    (snap / "top.txt").unlink()
    report = engine.verify(spec, "all")
    assert sorted((p.path, p.reason) for p in report.problems) == [
        ("docs/a.txt", "checksum mismatch"),
        ("top.txt", "missing"),
    ]


def test_forget_applies_policy_and_keeps_newest(tmp_path: Path) -> None:
    from tui_backup.model.retention import RetentionPolicy

    src = write(tmp_path / "src" / "f", "x").parent
    engine = SnapshotEngine(clock=StepClock())
    spec = make_spec(src, tmp_path / "dest", retention=RetentionPolicy(keep_last=2))
    ids = [run(spec, engine=engine).finished.snapshot_id for _ in range(4)]
    assert [s.id for s in engine.snapshots(spec)] == ids[::-1]  # the runner applies retention
    assert spec.retention is not None
    engine.forget(spec, spec.retention)
    assert [s.id for s in engine.snapshots(spec)] == ids[:1:-1]
    decisions = engine.forget(spec, RetentionPolicy(keep_last=1), dry_run=True)
    assert [(d.snapshot_id, d.keep) for d in decisions] == [(ids[3], True), (ids[2], False)]
    engine.forget(spec, RetentionPolicy(keep_last=1))
    assert [s.id for s in engine.snapshots(spec)] == [ids[3]]
    assert os.readlink(tmp_path / "dest" / "latest") == ids[3]
