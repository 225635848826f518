"""``health`` reports what is on disk now: snapshots present, newest age, last verify."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from corehelpers import add_job
from testengine import Plan

from tui_backup.core.health import check_health
from tui_backup.core.manager import JobManager
from tui_backup.engines.api import EngineError, ErrorType, SnapshotInfo, VerifyProblem, VerifyReport
from tui_backup.model.clock import utcnow
from tui_backup.model.job import parse_job
from tui_backup.model.status import Status
from tui_backup.store.paths import Home


def job_check(manager: JobManager, name: str, **options: float) -> tuple[str, str]:
    report = check_health(manager, **options)
    [check] = [c for c in report.checks if c.job == name]
    return check.status, check.message


def succeed(manager: JobManager, name: str) -> str:
    run_id = manager.start(name)
    record = manager.wait(name, timeout=30)
    assert record is not None and record.status == Status.SUCCEEDED, record
    return run_id


ENGINES = {
    "snapshot": {},
    "rsync": {},
    "restic": {"env": {"RESTIC_PASSWORD": "health-test"}},
}


def make_real(home: Home, tmp_path: Path, engine: str = "snapshot") -> JobManager:
    manager = JobManager(home)
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha")
    (tmp_path / "disk").mkdir()
    data = {
        "name": "d",
        "sources": [str(src)],
        "destination": str(tmp_path / "disk" / "d"),
        "engine": engine,
        **ENGINES[engine],
    }
    spec = manager.create(parse_job(data))
    if engine == "restic":
        assert "created" in manager.snapshots.init(spec).lower()  # through the door
    return manager


@pytest.fixture
def real(home: Home, tmp_path: Path) -> Iterator[JobManager]:
    manager = make_real(home, tmp_path)
    yield manager
    manager.shutdown()


def delete_snapshots_by_hand(dest: Path, ids: list[str]) -> None:
    """What a person (or a full-disk cleanup) does outside the tool."""
    if (dest / "snapshots").is_dir() and (dest / "config").is_file():  # a restic repository
        for f in (dest / "snapshots").iterdir():
            f.unlink()
        return
    for sid in ids:
        shutil.rmtree(dest / sid)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_snapshots_deleted_by_hand_are_unhealthy(home: Home, tmp_path: Path, engine: str) -> None:
    real = make_real(home, tmp_path, engine)
    try:
        run_id = succeed(real, "d")
        status, message = job_check(real, "d")
        assert status == "healthy", message
        assert "1 snapshot, newest" in message
        ids = [s.id for s in real.snapshots.list(real.get_spec("d"))]
        delete_snapshots_by_hand(tmp_path / "disk" / "d", ids)
        status, message = job_check(real, "d")
        assert status == "unhealthy", message
        assert f"holds no snapshots although run {run_id} succeeded" in message
        assert real.health().exit_code == 2
    finally:
        real.shutdown()


def test_a_destination_gone_entirely_is_not_ok(real: JobManager, tmp_path: Path) -> None:
    succeed(real, "d")
    shutil.rmtree(tmp_path / "disk")  # the disk is not mounted any more
    status, message = job_check(real, "d")
    assert status != "healthy", message


def test_a_damaged_or_unchecked_verify_degrades(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs")
    succeed(manager, "docs")
    spec = manager.get_spec("docs")
    plan.verify_reports = [
        VerifyReport(("snap-1",), 2, 20, (VerifyProblem("snap-1", "a.txt", "checksum mismatch"),))
    ]
    manager.snapshots.verify(spec)
    status, message = job_check(manager, "docs")
    assert status == "degraded" and "found damage: snap-1: a.txt: checksum mismatch" in message
    plan.verify_reports = [VerifyReport(("snap-1",), 0, 0, method="check", unchecked="no data")]
    manager.snapshots.verify(spec)
    status, message = job_check(manager, "docs")
    assert status == "degraded" and "could not check: no data" in message
    plan.verify_reports = []
    manager.snapshots.verify(spec)
    status, message = job_check(manager, "docs")
    assert status == "healthy" and "verified ok" in message


def test_a_newest_snapshot_older_than_the_schedule_allows(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs", schedule="0 * * * *")  # hourly: two hours allowed
    succeed(manager, "docs")
    plan.listing = [SnapshotInfo("snap-1", utcnow() - timedelta(hours=5))]
    status, message = job_check(manager, "docs")
    assert status == "unhealthy", message
    assert "newest snapshot snap-1 is 5h old, older than its max age of 2h" in message
    assert "last success" in message  # what the runs say is still shown


def test_the_last_runs_snapshot_missing_degrades(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs")
    succeed(manager, "docs")
    plan.listing = [SnapshotInfo("snap-0", utcnow())]
    status, message = job_check(manager, "docs")
    assert (
        status == "degraded" and "snapshot snap-1 of the last successful run is missing" in message
    )


def test_a_listing_that_fails_or_hangs_could_not_check(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs")
    succeed(manager, "docs")
    plan.listing_error = EngineError(
        "rest:http://ana:pw@host/repo unreachable", ErrorType.DESTINATION_UNREACHABLE
    )
    status, message = job_check(manager, "docs")
    assert status == "degraded" and "could not check its snapshots" in message
    assert "pw@" not in message and "ana:***@" in message
    plan.listing_error = None
    plan.listing_gate = threading.Event()
    try:
        status, message = job_check(manager, "docs", listing_timeout=0.2)
    finally:
        plan.listing_gate.set()
    assert status == "degraded" and "did not answer in time" in message


def test_a_job_never_run_is_not_listed(manager: JobManager, plan: Plan, tmp_path: Path) -> None:
    add_job(manager, tmp_path, "docs")
    plan.listing_error = EngineError("no destination yet", ErrorType.DESTINATION_MISSING)
    status, message = job_check(manager, "docs")
    assert status == "healthy" and "new job" in message


def test_errors_of_deleted_jobs_do_not_count(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs")
    add_job(manager, tmp_path, "old")
    plan["old"].fail = True
    manager.start("old")
    manager.wait("old", timeout=30)
    errors = next(c for c in manager.health().checks if c.name == "errors")
    assert errors.status == "degraded"
    manager.delete("old")
    errors = next(c for c in manager.health().checks if c.name == "errors")
    assert errors.status == "healthy", errors.message


def test_a_success_after_a_failure_clears_the_errors_check(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs")
    plan["docs"].fail = True
    manager.start("docs")
    manager.wait("docs", timeout=30)
    assert next(c for c in manager.health().checks if c.name == "errors").status == "degraded"
    plan["docs"].fail = False
    succeed(manager, "docs")
    report = manager.health()
    assert next(c for c in report.checks if c.name == "errors").status == "healthy"
    assert job_check(manager, "docs")[0] == "healthy"


def test_a_verify_schedule_that_stopped_verifying_degrades(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs", verify={"schedule": "0 4 * * *"})
    succeed(manager, "docs")
    manager.snapshots.verify(manager.get_spec("docs"))
    assert job_check(manager, "docs")[0] == "healthy"
    later = utcnow() + timedelta(days=3)
    manager.clock = lambda: later
    status, message = job_check(manager, "docs")
    assert status != "healthy", message
    assert "although its verify schedule expects one every 24h" in message
