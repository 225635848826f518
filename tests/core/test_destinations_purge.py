"""Purge deletes exactly a job's snapshots or nothing; one destination, one job (unless forced)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from testengine import Plan

from tui_backup.core.destinations import DestinationInUse, location
from tui_backup.core.errors import OperationFailed
from tui_backup.core.manager import JobManager
from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.registry import get_engine
from tui_backup.model.job import JobSpec, parse_job
from tui_backup.model.status import Status
from tui_backup.store.paths import Home

CORE = Path(__file__).parents[2] / "tui_backup" / "core"


def spec(
    tmp: Path, name: str, destination: str, engine: str = "snapshot", **more: object
) -> JobSpec:
    src = tmp / "src" / name
    src.mkdir(parents=True, exist_ok=True)
    (src / f"{name}.txt").write_text(name)
    data = {"name": name, "sources": [str(src)], "destination": destination, "engine": engine}
    data.update(more)
    return parse_job(data)


# -- purge ----------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["snapshot", "rsync"])
def test_purge_of_a_job_on_another_jobs_destination_deletes_nothing(
    home: Home, tmp_path: Path, engine: str
) -> None:
    """Issue 8: ``job rm B --purge-data`` with B on A's destination removed A's snapshots."""
    (tmp_path / "disk").mkdir()
    dest = str(tmp_path / "disk" / "a")
    manager = JobManager(home)
    try:
        manager.create(spec(tmp_path, "a", dest, engine=engine))
        for _ in range(2):
            manager.start("a")
            record = manager.wait("a", timeout=60)
            assert record is not None and record.status == Status.SUCCEEDED, record
        before = sorted(s.id for s in manager.snapshots.list(manager.get_spec("a")))
        assert len(before) == 2
        with pytest.raises(DestinationInUse):
            manager.create(spec(tmp_path, "b", dest, engine=engine))
        manager.create(spec(tmp_path, "b", dest, engine=engine), force=True)
        with pytest.raises(OperationFailed) as caught:
            manager.delete("b", purge_data=True)
        assert "could not delete the backup data of 'b'" in str(caught.value)
        assert "not deleted" in str(caught.value)
        assert manager.get_spec("b").destination == dest  # B still exists
        after = sorted(s.id for s in get_engine(engine).snapshots(manager.get_spec("a")))
        assert after == before
        assert all((Path(dest) / sid).is_dir() for sid in before)
    finally:
        manager.shutdown()


def test_purge_of_one_job_in_a_shared_repository_keeps_the_others(
    home: Home, tmp_path: Path
) -> None:
    """restic: jobs may share a repository; purging one removes exactly its snapshots."""
    repo = str(tmp_path / "repo")
    env = {"RESTIC_PASSWORD": "purge-test"}
    manager = JobManager(home)
    try:
        a = manager.create(spec(tmp_path, "a", repo, engine="restic", env=env))
        manager.snapshots.init(a)
        manager.create(spec(tmp_path, "b", repo, engine="restic", env=env))  # no force needed
        for name in ("a", "b", "a"):
            manager.start(name)
            record = manager.wait(name, timeout=120)
            assert record is not None and record.status == Status.SUCCEEDED, record
        before = sorted(s.id for s in manager.snapshots.list(manager.get_spec("a")))
        assert len(before) == 2
        assert len(manager.snapshots.list(manager.get_spec("b"))) == 1
        manager.delete("b", purge_data=True)
        assert not manager.jobs.exists("b")
        assert sorted(s.id for s in manager.snapshots.list(manager.get_spec("a"))) == before
        assert len(list((Path(repo) / "snapshots").iterdir())) == 2
    finally:
        manager.shutdown()


def test_purge_deletes_the_jobs_snapshots_and_the_job(home: Home, tmp_path: Path) -> None:
    (tmp_path / "disk").mkdir()
    manager = JobManager(home)
    try:
        manager.create(spec(tmp_path, "a", str(tmp_path / "disk" / "a")))
        manager.start("a")
        record = manager.wait("a", timeout=60)
        assert record is not None and record.status == Status.SUCCEEDED, record
        assert (tmp_path / "disk" / "a" / str(record.snapshot_id)).is_dir()
        manager.delete("a", purge_data=True)
        assert not manager.jobs.exists("a")
        assert not (tmp_path / "disk" / "a" / str(record.snapshot_id)).exists()
    finally:
        manager.shutdown()


@pytest.mark.parametrize(
    "make_error",
    [
        lambda: EngineError("owned by job 'x'", ErrorType.DESTINATION_OWNED),
        lambda: EngineError("host unreachable", ErrorType.DESTINATION_UNREACHABLE),
        lambda: PermissionError(13, "Permission denied", "/backup"),
    ],
    ids=["refused", "failed", "os-error"],
)
def test_any_purge_failure_keeps_the_job(
    manager: JobManager, plan: Plan, tmp_path: Path, make_error: Callable[[], Exception]
) -> None:
    # Made here, not at collection: a raised error's traceback keeps the engine alive.
    error = make_error()
    (tmp_path / "disk").mkdir()
    manager.create(spec(tmp_path, "a", str(tmp_path / "disk" / "a")))
    plan.purge_error = error
    with pytest.raises(OperationFailed) as caught:
        manager.delete("a", purge_data=True)
    assert str(error.args[-1] if isinstance(error, OSError) else error) in str(caught.value)
    assert manager.jobs.exists("a")
    plan.purge_error = None
    del error, caught
    manager.delete("a", purge_data=True)
    assert plan.purged == ["a"] and not manager.jobs.exists("a")


def test_core_never_removes_a_tree_itself() -> None:
    """No fallback to rmtree on a destination: deleting backups is the engines' job."""
    offenders = [p.name for p in CORE.rglob("*.py") if "rmtree" in p.read_text()]
    assert offenders == []


# -- destination conflicts --------------------------------------------------------


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    d = tmp_path / "disk"
    d.mkdir()
    return d


@pytest.mark.parametrize(
    "second",
    [
        lambda d: str(d / "a"),
        lambda d: str(d / "a") + "/",
        lambda d: str(d / "a" / "inner"),
        lambda d: f"{d}",
        lambda d: str(d / "link-to-a"),
    ],
    ids=["same", "trailing-slash", "inside", "holds-it", "through-a-symlink"],
)
def test_a_destination_another_job_uses_is_refused(
    manager: JobManager, tmp_path: Path, disk: Path, second: Callable[[Path], str]
) -> None:
    (disk / "a").mkdir()
    (disk / "link-to-a").symlink_to(disk / "a")
    manager.create(spec(tmp_path, "a", str(disk / "a")))
    b = spec(tmp_path, "b", second(disk))
    assert manager.destination_users(b) == ["a"]
    with pytest.raises(DestinationInUse) as caught:
        manager.create(b)
    assert "'a'" in str(caught.value) and caught.value.others == ("a",)
    assert isinstance(caught.value, OperationFailed)
    assert not manager.jobs.exists("b")
    assert manager.errors() == []


def test_a_sibling_with_a_common_prefix_is_no_conflict(
    manager: JobManager, tmp_path: Path, disk: Path
) -> None:
    manager.create(spec(tmp_path, "a", str(disk / "a")))
    manager.create(spec(tmp_path, "ab", str(disk / "ab")))
    assert manager.destination_users(manager.get_spec("ab")) == []


def test_force_saves_and_records_a_warning(manager: JobManager, tmp_path: Path, disk: Path) -> None:
    manager.create(spec(tmp_path, "a", str(disk / "a")))
    b = spec(tmp_path, "b", str(disk / "a"))
    warning = manager.destination_conflict(b)
    assert warning is not None and "'a'" in str(warning)
    manager.create(b, force=True)
    assert manager.jobs.exists("b")
    [event] = manager.errors(job="b")
    assert event.error_type == "destination_shared" and "'a'" in event.message
    assert str(event.severity) == "LOW"


def test_update_and_modify_check_a_changed_destination_only(
    manager: JobManager, tmp_path: Path, disk: Path
) -> None:
    from dataclasses import replace

    manager.create(spec(tmp_path, "a", str(disk / "a")))
    manager.create(spec(tmp_path, "b", str(disk / "b")))
    b = manager.get_spec("b")
    with pytest.raises(DestinationInUse):
        manager.update(replace(b, destination=str(disk / "a")))
    with pytest.raises(DestinationInUse):
        manager.modify("b", lambda s: replace(s, destination=str(disk / "a" / "x")))
    assert manager.get_spec("b").destination == str(disk / "b")
    moved = manager.modify("b", lambda s: replace(s, destination=str(disk / "a")), force=True)
    assert moved.destination == str(disk / "a")
    # Editing something else of a job that already shares (forced) is not refused.
    manager.update(replace(moved, description="still shared"))
    manager.modify("b", lambda s: replace(s, retries=1))
    assert manager.get_spec("b").retries == 1


def test_a_repository_that_keeps_jobs_apart_may_be_shared(
    manager: JobManager, tmp_path: Path, disk: Path
) -> None:
    repo = str(disk / "repo")
    manager.create(spec(tmp_path, "r1", repo, engine="restic"))
    manager.create(spec(tmp_path, "r2", repo, engine="restic"))
    assert manager.destination_users(manager.get_spec("r2")) == []
    # ...but not a tree inside it, nor a snapshot job on the same place.
    with pytest.raises(DestinationInUse) as caught:
        manager.create(spec(tmp_path, "s", repo))
    assert caught.value.others == ("r1", "r2")
    with pytest.raises(DestinationInUse):
        manager.create(spec(tmp_path, "r3", repo + "/sub", engine="restic"))


def test_remote_locations_compare_without_credentials(manager: JobManager, tmp_path: Path) -> None:
    manager.create(spec(tmp_path, "a", "ana@host:/srv/backup/a", engine="rsync"))
    with pytest.raises(DestinationInUse):
        manager.create(spec(tmp_path, "b", "ana@host:/srv/backup/a/", engine="rsync"))
    manager.create(spec(tmp_path, "c", "ana@other:/srv/backup/a", engine="rsync"))
    manager.create(spec(tmp_path, "r1", "rest:http://u:secret@h:8000/repo", engine="restic"))
    with pytest.raises(DestinationInUse) as caught:
        manager.create(spec(tmp_path, "s", "rest:http://h:8000/repo/", engine="rsync"))
    assert caught.value.others == ("r1",)
    with pytest.raises(DestinationInUse) as caught:
        manager.create(spec(tmp_path, "s2", "rest:http://u:secret@h:8000/repo", engine="rsync"))
    assert "secret" not in str(caught.value)
    assert location("rest:http://u:secret@h:8000/repo/") == "rest:http://h:8000/repo"
