"""Every rule of the ``health`` table in docs/operations.md, through the real CLI.

| check | healthy | degraded | unhealthy |
| home | writable | | not writable |
| database | works | unavailable (fallback in use) | |
| scheduler | held, or no job has a schedule | no process holds it while scheduled jobs exist | |
| job | last success within max age | last run failed but last success recent | last success
  older than max_age; never succeeded and older than that |
| circuit | | a circuit is open | |
| errors | no unresolved HIGH | unresolved HIGH events | unresolved CRITICAL events |

Exit 0 / 1 / 2 for healthy / degraded / unhealthy. (A live daemon holding the
scheduler is tests/cli/test_run_cli.py::test_daemon_runs_due_job_and_stops_cleanly;
a last success older than max_age is test_health_turns_unhealthy_when_last_success_too_old.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tui_backup.model.records import ErrorEvent
from tui_backup.model.status import Severity
from tui_backup.store.history import Database
from tui_backup.store.paths import HOME_ENV, Home
from tui_backup.store.yamlio import dumps

CliRunner = Callable[..., Any]
CODE = {"healthy": 0, "degraded": 1, "unhealthy": 2}


def write_job(home: Home, tmp: Path, name: str, **fields: Any) -> Path:
    src = tmp / "src" / name
    src.mkdir(parents=True, exist_ok=True)
    (src / "a.txt").write_text("alpha\n")
    (tmp / "disk").mkdir(exist_ok=True)
    data: dict[str, Any] = {
        "name": name,
        "sources": [str(src)],
        "destination": str(tmp / "disk" / name),
        "retries": 0,
    }
    data.update(fields)
    home.job_file(name).write_text(dumps(data))
    return src


def health(cli: CliRunner) -> tuple[int, dict[str, Any], dict[str, tuple[str, str]]]:
    """(exit code, report, {check name or "job:<name>": (status, message)})."""
    r = cli("health", "--json")
    report = r.json()
    assert "Traceback" not in r.stderr, r
    checks = {
        (f"job:{c['job']}" if c.get("job") else c["name"]): (c["status"], c["message"])
        for c in report["checks"]
    }
    assert r.returncode == CODE[report["status"]], r
    return r.returncode, report, checks


def test_an_empty_home_is_healthy(cli: CliRunner, home: Home) -> None:
    code, report, checks = health(cli)
    assert (code, report["status"]) == (0, "healthy"), report
    assert checks["home"][0] == checks["database"][0] == checks["errors"][0] == "healthy"
    assert checks["scheduler"] == (
        "healthy",
        "no scheduler running (no enabled job has a schedule)",
    )


def test_a_home_that_is_not_writable_is_unhealthy(home: Home) -> None:
    """As root, health runs without CAP_DAC_OVERRIDE so a 0500 home is really read-only."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot make the home read-only")
    cmd = [sys.executable, "-m", "tui_backup", "health", "--json"]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    home.root.chmod(0o500)
    try:
        r = subprocess.run(
            cmd,
            env={**os.environ, HOME_ENV: str(home.root)},
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    finally:
        home.root.chmod(0o700)
    assert r.returncode == 2, (r.stdout, r.stderr)
    report = json.loads(r.stdout)
    home_check = next(c for c in report["checks"] if c["name"] == "home")
    assert home_check["status"] == "unhealthy" and "not writable" in home_check["message"]


def test_an_unusable_database_degrades(cli: CliRunner, home: Home) -> None:
    assert health(cli)[0] == 0  # creates the database
    home.db_path.unlink()
    home.db_path.mkdir()  # SQLite cannot open a directory: the fallback is in use
    try:
        code, report, checks = health(cli)
    finally:
        home.db_path.rmdir()
    assert code == 1, report
    assert checks["database"][0] == "degraded", checks["database"]
    assert "unavailable" in checks["database"][1], checks["database"]


def test_scheduled_jobs_with_no_scheduler_degrade(
    cli: CliRunner, home: Home, tmp_path: Path
) -> None:
    write_job(home, tmp_path, "nightly", schedule="0 2 * * *")
    code, _report, checks = health(cli)
    assert code == 1
    assert checks["scheduler"][0] == "degraded"
    assert "no daemon or TUI is running the scheduler" in checks["scheduler"][1]
    # A disabled job's schedule needs no scheduler.
    write_job(home, tmp_path, "nightly", schedule="0 2 * * *", enabled=False)
    assert health(cli)[2]["scheduler"][0] == "healthy"


def test_a_failed_run_after_a_recent_success_degrades(
    cli: CliRunner, home: Home, tmp_path: Path
) -> None:
    src = write_job(home, tmp_path, "docs")
    assert cli("run", "docs").returncode == 0
    assert health(cli)[2]["job:docs"][0] == "healthy"
    shutil.rmtree(src)  # the next run fails: its source is gone
    assert cli("run", "docs").returncode == 1
    for event in cli("errors", "--json").json():  # the errors row is another test's
        assert cli("errors", "resolve", str(event["id"])).returncode == 0
    code, _report, checks = health(cli)
    assert checks["job:docs"][0] == "degraded", checks["job:docs"]
    assert "last run failed" in checks["job:docs"][1]
    assert code == 1


def test_a_job_that_never_succeeded_within_its_max_age_is_unhealthy(
    cli: CliRunner, home: Home, tmp_path: Path
) -> None:
    write_job(home, tmp_path, "old", max_age="1d")
    assert health(cli)[2]["job:old"][0] == "healthy"  # a new job: not stale yet
    two_days_ago = time.time() - 2 * 86400
    os.utime(home.job_file("old"), (two_days_ago, two_days_ago))
    code, _report, checks = health(cli)
    assert code == 2
    assert checks["job:old"][0] == "unhealthy", checks["job:old"]
    assert "no successful run within its max age" in checks["job:old"][1]


def test_an_open_circuit_degrades(cli: CliRunner, home: Home, tmp_path: Path) -> None:
    """Five failed runs in a row to one destination open its circuit (docs/operations.md)."""
    write_job(home, tmp_path, "flaky", destination=str(tmp_path / "unplugged" / "flaky"))
    for _ in range(5):
        assert cli("run", "flaky").returncode == 1
    _code, report, _checks = health(cli)
    circuits = [c for c in report["checks"] if c["name"] == "circuit"]
    assert len(circuits) == 1 and circuits[0]["status"] == "degraded", report["checks"]
    assert "circuit open for" in circuits[0]["message"]
    assert "unplugged" in circuits[0]["message"]


@pytest.mark.parametrize(
    ("severity", "status"),
    [(Severity.MEDIUM, "healthy"), (Severity.HIGH, "degraded"), (Severity.CRITICAL, "unhealthy")],
)
def test_unresolved_errors_by_severity(
    cli: CliRunner, home: Home, severity: Severity, status: str
) -> None:
    assert health(cli)[0] == 0
    db = Database(home.db_path, home.fallback_log)
    try:
        event = db.record_error(
            ErrorEvent(severity, "store", "test_event", f"a {severity} thing happened")
        )
    finally:
        db.close()
    code, _report, checks = health(cli)
    assert checks["errors"][0] == status, checks["errors"]
    assert code == CODE[status]
    # Resolved, it no longer counts.
    assert cli("errors", "resolve", str(event.id)).returncode == 0
    assert health(cli)[2]["errors"][0] == "healthy"
