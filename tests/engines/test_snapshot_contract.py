"""The snapshot engine under the engine contract: init, ownership, true listings, purge."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.engines.conftest import StepClock, make_spec, run, snapshot_dirs, write
from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.snapshot import SnapshotEngine
from tui_backup.engines.snapshot import errors as snapshot_errors
from tui_backup.model.retention import RetentionPolicy


@pytest.fixture
def engine() -> SnapshotEngine:
    return SnapshotEngine(clock=StepClock())


def test_capabilities(tmp_path: Path, engine: SnapshotEngine) -> None:
    caps = engine.capabilities(make_spec(tmp_path, tmp_path / "dest"))
    assert caps.browsable and caps.manifest_verify and caps.deep_verify and caps.checksum_run
    assert not caps.remote and not caps.shares_destination and not caps.needs_init


def test_run_error_types_are_the_vocabulary() -> None:
    """The run path writes ErrorType values as strings (start-up); none may drift."""
    for value in snapshot_errors.RUN_ERROR_TYPES:
        assert value in set(ErrorType)


def test_init_creates_the_destination_and_claims_it(tmp_path: Path, engine: SnapshotEngine) -> None:
    dest = tmp_path / "dest"
    said = engine.init(make_spec(tmp_path, dest, name="a"))
    assert "created" in said and str(dest) in said
    owner = json.loads((dest / ".tui-backup" / "owner.json").read_text())
    assert owner["job"] == "a"
    assert "already belongs" in engine.init(make_spec(tmp_path, dest, name="a"))
    with pytest.raises(EngineError) as err:
        engine.init(make_spec(tmp_path, dest, name="b"))
    assert err.value.error_type == ErrorType.DESTINATION_OWNED


def test_init_refuses_a_missing_parent(tmp_path: Path, engine: SnapshotEngine) -> None:
    dest = tmp_path / "unmounted" / "dest"
    with pytest.raises(EngineError) as err:
        engine.init(make_spec(tmp_path, dest))
    assert err.value.error_type == ErrorType.DESTINATION_MISSING
    assert not (tmp_path / "unmounted").exists()


def test_run_refuses_a_missing_parent(tmp_path: Path, engine: SnapshotEngine) -> None:
    src = write(tmp_path / "src" / "f", "x").parent
    done = run(make_spec(src, tmp_path / "unmounted" / "dest"), engine=engine).finished
    assert done.status == "failed" and done.error_type == ErrorType.DESTINATION_MISSING
    assert done.transient
    assert not (tmp_path / "unmounted").exists()


@pytest.fixture
def two_jobs(tmp_path: Path, engine: SnapshotEngine):  # type: ignore[no-untyped-def]
    src = write(tmp_path / "src" / "f.txt", "first job's data").parent
    dest = tmp_path / "dest"
    first = make_spec(src, dest, name="first")
    ids = [run(first, engine=engine).finished.snapshot_id for _ in range(2)]
    second = make_spec(src, dest, name="second")
    return first, second, ids


@pytest.mark.parametrize("operation", ["snapshots", "restore", "verify", "forget", "delete_data"])
def test_another_jobs_destination_is_refused(
    tmp_path: Path, engine: SnapshotEngine, two_jobs, operation: str
) -> None:
    first, second, ids = two_jobs
    calls = {
        "snapshots": lambda: engine.snapshots(second),
        "restore": lambda: engine.restore(second, "latest", str(tmp_path / "out")),
        "verify": lambda: engine.verify(second),
        "forget": lambda: engine.forget(second, RetentionPolicy(keep_last=1)),
        "delete_data": lambda: engine.delete_data(second),
    }
    with pytest.raises(EngineError) as err:
        calls[operation]()
    assert err.value.error_type == ErrorType.DESTINATION_OWNED
    assert "belongs to job 'first'" in str(err.value)
    assert [s.id for s in engine.snapshots(first)] == ids[::-1]
    assert not (tmp_path / "out").exists()


def test_run_of_another_job_is_refused(tmp_path: Path, engine: SnapshotEngine, two_jobs) -> None:
    first, second, ids = two_jobs
    done = run(second, engine=engine).finished
    assert done.status == "failed" and done.error_type == ErrorType.DESTINATION_OWNED
    assert [s.id for s in engine.snapshots(first)] == ids[::-1]


def test_delete_data_removes_exactly_this_jobs_snapshots(
    tmp_path: Path, engine: SnapshotEngine, two_jobs
) -> None:
    first, _, ids = two_jobs
    dest = Path(first.destination)
    write(dest / "README.txt", "a note the user left")
    (dest / "2001-01-01T000000Z.partial").mkdir()  # a crash's leftover: ours too
    removed = engine.delete_data(first)
    assert sorted(removed) == sorted(ids)
    assert sorted(os.listdir(dest)) == ["README.txt"]  # metadata, marker, latest gone
    assert (dest / "README.txt").read_text() == "a note the user left"
    # Nothing left to delete; the directory goes when it is empty.
    (dest / "README.txt").unlink()
    assert engine.delete_data(first) == []
    assert not dest.exists()


def test_delete_data_removes_an_emptied_destination(tmp_path: Path, engine: SnapshotEngine) -> None:
    src = write(tmp_path / "src" / "f", "x").parent
    spec = make_spec(src, tmp_path / "dest")
    sid = run(spec, engine=engine).finished.snapshot_id
    assert engine.delete_data(spec) == [sid]
    assert not (tmp_path / "dest").exists() and (tmp_path).is_dir()


def test_delete_data_refuses_snapshots_without_a_marker(
    tmp_path: Path, engine: SnapshotEngine
) -> None:
    """No marker, yet snapshot-like directories: not provably ours, so nothing is deleted."""
    dest = tmp_path / "dest"
    write(dest / "2024-01-01T000000Z" / "precious", "someone's data")
    with pytest.raises(EngineError) as err:
        engine.delete_data(make_spec(tmp_path, dest))
    assert err.value.error_type == ErrorType.DESTINATION_OWNED
    assert (dest / "2024-01-01T000000Z" / "precious").read_text() == "someone's data"


def test_listing_counts_come_from_the_summary_or_are_unknown(
    tmp_path: Path, engine: SnapshotEngine
) -> None:
    src = tmp_path / "src"
    write(src / "a", "12345")
    write(src / "d" / "b", "123")
    os.symlink("a", src / "link")
    spec = make_spec(src, tmp_path / "dest")
    ids = [run(spec, engine=engine).finished.snapshot_id for _ in range(3)]
    meta = tmp_path / "dest" / ".tui-backup"
    (meta / f"{ids[0]}.json").unlink()  # summary missing
    (meta / f"{ids[1]}.json").write_text("{not json")  # summary unreadable
    listed = {s.id: (s.files, s.bytes) for s in engine.snapshots(spec)}
    # Regular files only (the symlink is not a file), as `find -type f` counts.
    assert listed == {ids[2]: (2, 8), ids[1]: (None, None), ids[0]: (None, None)}


def test_forget_keeps_the_newest_and_reports_deletions(
    tmp_path: Path, engine: SnapshotEngine
) -> None:
    src = write(tmp_path / "src" / "f", "x").parent
    spec = make_spec(src, tmp_path / "dest")
    ids = [run(spec, engine=engine).finished.snapshot_id for _ in range(3)]
    deleted: list[str] = []
    # One per hour: the three runs share an hour, so only the newest stays.
    decisions = engine.forget(spec, RetentionPolicy(keep_hourly=1), on_delete=deleted.append)
    assert [(d.snapshot_id, d.keep) for d in decisions] == [
        (ids[2], True),
        (ids[1], False),
        (ids[0], False),
    ]
    assert sorted(deleted) == sorted(ids[:2])
    assert snapshot_dirs(tmp_path / "dest") == [ids[2]]


def test_a_run_does_not_load_the_api_module() -> None:
    """Start-up of a run (a subprocess per backup): ``engines.api`` costs ~8 ms; a
    successful run must not need it, nor the damage record's module when none exists."""
    import subprocess
    import sys

    code = (
        "import sys, tempfile, threading, os\n"
        "from tui_backup.engines.snapshot import SnapshotEngine\n"
        "from tui_backup.model.job import JobSpec\n"
        "d = tempfile.mkdtemp(); os.mkdir(d + '/src'); open(d + '/src/f', 'w').close()\n"
        "done = []\n"
        "spec = JobSpec(name='j', sources=(d + '/src',), destination=d + '/dest')\n"
        "for _ in range(2): SnapshotEngine().run(spec, threading.Event(), done.append)\n"
        "assert done[-1].status == 'succeeded', done[-1]\n"
        "bad = [m for m in ('tui_backup.engines.api', 'tui_backup.engines.common',"
        " 'tui_backup.engines.snapshot.damage') if m in sys.modules]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_damage_record_name_is_one() -> None:
    from tui_backup.engines.snapshot import build, damage

    assert build.DAMAGED_NAME == damage.DAMAGED_NAME
