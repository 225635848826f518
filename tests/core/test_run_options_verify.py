"""RunOptions reach the engine; verify outcomes are kept; a success resolves the job's errors."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from corehelpers import add_job
from testengine import Plan

from tui_backup.core.manager import JobManager
from tui_backup.core.snapshots import SnapshotOperationFailed
from tui_backup.engines.api import RunOptions, VerifyProblem, VerifyReport
from tui_backup.engines.registry import get_engine
from tui_backup.model.job import parse_job
from tui_backup.model.status import Severity, Status
from tui_backup.store.paths import Home


def finish(manager: JobManager, name: str, **options: object) -> str:
    manager.start(name, **options)  # type: ignore[arg-type]
    record = manager.wait(name, timeout=30)
    assert record is not None
    return str(record.status)


# -- RunOptions ------------------------------------------------------------------


def test_checksum_reaches_the_engine(manager: JobManager, plan: Plan, tmp_path: Path) -> None:
    add_job(manager, tmp_path, "docs")
    assert finish(manager, "docs") == "succeeded"
    assert finish(manager, "docs", checksum=True) == "succeeded"
    assert plan.options == [("docs", RunOptions()), ("docs", RunOptions(checksum=True))]


def test_a_checksum_run_catches_a_change_size_and_mtime_hide(home: Home, tmp_path: Path) -> None:
    """Real snapshot engine: same size, same mtime, other bytes: only --checksum copies it."""
    src = tmp_path / "src"
    src.mkdir()
    f = src / "data.bin"
    f.write_bytes(b"A" * 4096)
    (tmp_path / "disk").mkdir()
    manager = JobManager(home)
    try:
        manager.create(
            parse_job(
                {"name": "d", "sources": [str(src)], "destination": str(tmp_path / "disk" / "d")}
            )
        )
        assert finish(manager, "d") == "succeeded"
        st = f.stat()
        f.write_bytes(b"B" * 4096)
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert finish(manager, "d") == "succeeded"
        newest = manager.snapshots.list(manager.get_spec("d"))[0].id
        assert (tmp_path / "disk" / "d" / newest / "data.bin").read_bytes()[:1] == b"A"
        assert finish(manager, "d", checksum=True) == "succeeded"
        newest = manager.snapshots.list(manager.get_spec("d"))[0].id
        assert (tmp_path / "disk" / "d" / newest / "data.bin").read_bytes()[:1] == b"B"
    finally:
        manager.shutdown()


# -- verify outcomes ------------------------------------------------------------------

DAMAGED = VerifyReport(
    snapshots=("s1",),
    files_checked=3,
    bytes_checked=30,
    problems=(VerifyProblem("s1", "a.txt", "checksum mismatch"),),
)
UNCHECKED = VerifyReport(
    snapshots=("s1",), files_checked=0, bytes_checked=0, method="restic check", unchecked="no data"
)
OK = VerifyReport(snapshots=("s1",), files_checked=3, bytes_checked=30)


def test_verify_outcomes_are_kept_and_raise_errors(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs")
    spec = manager.get_spec("docs")
    plan.verify_reports = [DAMAGED, UNCHECKED, OK]

    manager.snapshots.verify(spec)
    last = manager.state("docs").last_verify
    assert last is not None and last.outcome == "damaged"
    assert (last.files, last.bytes, last.problems) == (3, 30, 1)
    assert last.detail == "s1: a.txt: checksum mismatch"
    [high] = manager.errors(job="docs")
    assert high.severity == Severity.HIGH and high.component == "verify"

    manager.snapshots.verify(spec)
    last = manager.state("docs").last_verify
    assert last is not None and last.outcome == "unchecked" and last.detail == "no data"
    medium = manager.errors(job="docs", severity="MEDIUM")
    assert [e.error_type for e in medium] == ["verify_unchecked"]

    manager.snapshots.verify(spec)
    last = manager.state("docs").last_verify
    assert last is not None and last.outcome == "ok" and last.trigger == "manual"
    assert manager.errors(job="docs", unresolved=True) == []  # the passing check resolved them
    [note] = manager.errors(job="docs", component="resolution")
    assert note.resolved and "2 earlier errors resolved by verify" in note.message


def test_last_verify_survives_later_runs(manager: JobManager, plan: Plan, tmp_path: Path) -> None:
    add_job(manager, tmp_path, "docs")
    plan.verify_reports = [DAMAGED]
    manager.snapshots.verify(manager.get_spec("docs"))
    assert finish(manager, "docs") == "succeeded"
    last = manager.state("docs").last_verify
    assert last is not None and last.outcome == "damaged"
    # ...and the success does not resolve the damage: only a passing verify can.
    assert [e.component for e in manager.errors(job="docs", unresolved=True)] == ["verify"]


def test_verify_is_refused_while_the_job_runs(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs")
    plan["docs"].gate = threading.Event()
    manager.start("docs")
    assert plan["docs"].started.wait(10)
    with pytest.raises(SnapshotOperationFailed) as caught:
        manager.snapshots.verify(manager.get_spec("docs"))
    assert caught.value.error_type == "job_running"
    plan["docs"].gate.set()
    assert manager.wait("docs", timeout=10) is not None
    assert manager.state("docs").last_verify is None
    manager.snapshots.verify(manager.get_spec("docs"))  # free again
    assert manager.state("docs").last_verify is not None


def test_a_flipped_byte_is_damage_in_state_and_errors(home: Home, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha" * 100)
    (tmp_path / "disk").mkdir()
    manager = JobManager(home)
    try:
        manager.create(
            parse_job(
                {"name": "d", "sources": [str(src)], "destination": str(tmp_path / "disk" / "d")}
            )
        )
        assert finish(manager, "d") == "succeeded"
        spec = manager.get_spec("d")
        assert manager.snapshots.verify(spec).ok
        assert manager.state("d").last_verify.outcome == "ok"  # type: ignore[union-attr]
        sid = get_engine("snapshot").snapshots(spec)[0].id
        stored = tmp_path / "disk" / "d" / sid / "a.txt"
        st = stored.stat()
        os.chmod(stored, 0o644)
        data = bytearray(stored.read_bytes())
        data[10] ^= 0xFF
        stored.write_bytes(bytes(data))
        os.utime(stored, ns=(st.st_atime_ns, st.st_mtime_ns))
        report = manager.snapshots.verify(spec)
        assert report.outcome == "damaged"
        last = manager.state("d").last_verify
        assert last is not None and last.outcome == "damaged" and "a.txt" in (last.detail or "")
        assert [e.severity for e in manager.errors(job="d", unresolved=True)] == [Severity.HIGH]
    finally:
        manager.shutdown()


# -- errors resolved by a later success ---------------------------------------------


def test_a_success_resolves_the_jobs_run_errors_only(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs")
    add_job(manager, tmp_path, "other")
    plan["docs"].fail = True
    plan["other"].fail = True
    assert finish(manager, "docs") == "failed"
    assert finish(manager, "other") == "failed"
    plan["docs"].fail = False
    run_id = manager.start("docs")
    record = manager.wait("docs", timeout=30)
    assert record is not None and record.status == Status.SUCCEEDED
    assert manager.errors(job="docs", unresolved=True) == []
    [note] = manager.errors(job="docs", component="resolution")
    assert note.message == f"docs: 1 earlier error resolved by run {run_id}"
    assert note.resolved
    # Another job's failure stays.
    assert [e.error_type for e in manager.errors(job="other", unresolved=True)] == ["disk_full"]


def test_errors_the_successful_run_recorded_itself_stay(
    make_manager, plan: Plan, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    manager = make_manager()
    add_job(manager, tmp_path, "docs", retention={"keep_last": 1})
    plan.forget_error = OSError("retention exploded")
    assert finish(manager, "docs") == "succeeded"
    [kept] = manager.errors(job="docs", unresolved=True)
    assert kept.component == "retention"
    # The next success resolves the earlier retention failure (and records its own).
    assert finish(manager, "docs") == "succeeded"
    unresolved = manager.errors(job="docs", unresolved=True)
    assert len(unresolved) == 1 and unresolved[0].id != kept.id


def test_retry_notes_of_a_run_that_then_succeeded_are_resolved(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs", retries=2)
    plan["docs"].transient_failures = 1
    assert finish(manager, "docs") == "succeeded"
    assert manager.errors(job="docs", unresolved=True) == []
    assert len(manager.errors(job="docs", component="engine:snapshot")) == 1
