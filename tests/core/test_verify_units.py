"""A verify that counted packs with unknown bytes (restic) is kept and told as such."""

from __future__ import annotations

from pathlib import Path

from corehelpers import add_job
from test_health_truth import job_check, succeed
from testengine import Plan

from tui_backup.core.manager import JobManager
from tui_backup.engines.api import VerifyReport


def test_restic_like_verify_keeps_its_unit_and_unknown_bytes(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs")
    succeed(manager, "docs")
    spec = manager.get_spec("docs")
    plan.verify_reports = [
        VerifyReport(("snap-1",), 7, 0, method="restic check", unit="pack", bytes_known=False)
    ]
    manager.snapshots.verify(spec)
    last = manager.state("docs").last_verify
    assert last is not None
    assert (last.files, last.unit, last.bytes_known) == (7, "pack", False)
    assert last.to_dict()["bytes"] is None  # never a fake 0
    status, message = job_check(manager, "docs")
    assert status == "healthy" and "(7 packs, bytes unknown)" in message, message


def test_a_file_verify_still_says_files_and_bytes(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs")
    succeed(manager, "docs")
    plan.verify_reports = [VerifyReport(("snap-1",), 1, 2048)]
    manager.snapshots.verify(manager.get_spec("docs"))
    status, message = job_check(manager, "docs")
    assert status == "healthy" and "(1 file, 2.0 KB)" in message, message
