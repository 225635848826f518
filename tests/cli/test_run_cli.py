"""``tui-backup run|stop|history|daemon|health`` as real processes over one home.

Cross-process timing is controlled with files, never sleeps: a ``before``
hook (or the test engine) waits for a gate file, which holds the run lock
for as long as the test needs. Observations across processes use bounded
polling with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli.processes import gate_hook, spawn, wait_until, write_job
from tui_backup.model.clock import utcnow
from tui_backup.model.state import JobState
from tui_backup.model.status import Status
from tui_backup.store.paths import HOME_ENV, Home
from tui_backup.store.state import StateStore

CliRunner = Callable[..., Any]

CORE_TESTS = Path(__file__).parent.parent / "core"


def job_status(cli: CliRunner, name: str) -> dict[str, Any]:
    r = cli("job", "list", "--json")
    assert r.returncode == 0, r
    return next(j for j in r.json() if j["name"] == name)


def state_status(home: Home, name: str) -> str | None:
    try:
        return StateStore(home).read(name).status
    except (OSError, ValueError):
        return None


def test_run_succeeds_json_events_and_history(home: Home, tmp_path: Path, cli: CliRunner) -> None:
    write_job(home, tmp_path, "docs")
    r = cli("run", "docs", "--json")
    assert r.returncode == 0, r
    events = [json.loads(line) for line in r.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished", kinds
    assert events[-1]["status"] == "succeeded" and events[-1]["files"] == 5
    h = cli("history", "docs", "--json")
    assert h.returncode == 0, h
    runs = h.json()
    assert len(runs) == 1
    assert set(runs[0]) >= {
        "run_id",
        "status",
        "started_at",
        "finished_at",
        "files",
        "bytes",
        "warnings",
        "snapshot",
    }
    assert runs[0]["run_id"] == events[0]["run_id"]
    assert runs[0]["status"] == "succeeded" and runs[0]["snapshot"]
    plain = cli("run", "docs")
    assert plain.returncode == 0, plain
    assert "docs: succeeded" in plain.stdout


def test_failed_run_exits_1(home: Home, tmp_path: Path, cli: CliRunner) -> None:
    src = write_job(home, tmp_path, "docs")
    for p in sorted(src.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    src.rmdir()
    r = cli("run", "docs")
    assert r.returncode == 1, r
    assert cli("history", "docs", "--json").json()[0]["status"] == "failed"
    assert cli("run", "nope").returncode == 2


def test_two_runs_at_once_one_runs_other_exits_3(
    home: Home, tmp_path: Path, cli: CliRunner
) -> None:
    gate = tmp_path / "gate"
    write_job(home, tmp_path, "docs", hooks={"before": [gate_hook(gate)]})
    first = spawn(home, "run", "docs")
    second = spawn(home, "run", "docs")
    try:
        # Exactly one of them gets the lock; the other exits 3 while it runs.
        done = wait_until(
            lambda: [p for p in (first, second) if p.poll() is not None], what="one exit"
        )
        assert len(done) == 1 and done[0].returncode == 3, done[0].communicate()
        assert "already running" in done[0].communicate()[1]
        runner = second if done[0] is first else first
        assert cli("run", "docs").returncode == 3
    finally:
        gate.touch()
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 0, (out, err)
    assert [r["status"] for r in cli("history", "docs", "--json").json()] == ["succeeded"]


def test_seen_in_job_list_and_stopped_from_another_process(
    home: Home, tmp_path: Path, cli: CliRunner
) -> None:
    """Started in one process, seen with progress by a second, stopped by a third."""
    write_job(home, tmp_path, "docs")
    gate = tmp_path / "never"
    runner = subprocess.Popen(
        [sys.executable, str(CORE_TESTS / "gated_runner.py"), str(home.root), "docs", str(gate)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: job_status(cli, "docs")["progress"], what="progress in job list")
        seen = job_status(cli, "docs")
        assert seen["status"] == "running"
        assert seen["runner"]["pid"] == runner.pid
        assert seen["progress"]["files_done"] == 1
        r = cli("stop", "docs")
        assert r.returncode == 0, r
        # The gate never opens: only the stop can end the runner (no time bound here, a
        # busy machine makes those flaky; a runner that ignored it fails the wait).
        out, err = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert out.strip() == "stopped", (out, err)
    assert job_status(cli, "docs")["status"] == "stopped"
    assert cli("history", "docs", "--json").json()[0]["status"] == "stopped"


def test_sigkilled_runner_is_reported_interrupted(
    home: Home, tmp_path: Path, cli: CliRunner
) -> None:
    gate = tmp_path / "gate"
    write_job(home, tmp_path, "docs", hooks={"before": [gate_hook(gate)]})
    runner = spawn(home, "run", "docs")
    try:
        wait_until(lambda: state_status(home, "docs") == Status.RUNNING, what="running")
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
    finally:
        gate.touch()  # lets the orphaned hook end
    assert job_status(cli, "docs")["status"] == "interrupted"
    runs = cli("history", "docs", "--json").json()
    assert [r["status"] for r in runs] == ["interrupted"]
    errors = cli("errors", "--json").json()
    assert [e["error_type"] for e in errors].count("run_interrupted") == 1
    # The job runs again normally afterwards.
    assert cli("run", "docs").returncode == 0


def test_daemon_runs_due_job_and_stops_cleanly(home: Home, tmp_path: Path, cli: CliRunner) -> None:
    gate = tmp_path / "gate"
    # A daily slot at least an hour ago, so its run counts as missed, whatever the time.
    hour = (datetime.now().astimezone() - timedelta(hours=1)).hour
    daily = f"0 {hour} * * *"
    write_job(home, tmp_path, "quick", schedule=daily)
    write_job(home, tmp_path, "held", schedule=daily, hooks={"before": [gate_hook(gate)]})
    # Both jobs' last slots were long ago: the daemon catches each up once at start.
    (home.root / "scheduler-slots.yaml").write_text(
        "quick: '2020-01-01T00:00:00Z'\nheld: '2020-01-01T00:00:00Z'\n"
    )
    daemon = spawn(home, "daemon")
    try:
        wait_until(
            lambda: (
                [r["status"] for r in cli("history", "quick", "--json").json()] == ["succeeded"]
            ),
            what="catch-up run of quick",
        )
        wait_until(lambda: state_status(home, "held") == Status.RUNNING, what="held running")
        health = cli("health", "--json")
        assert "daemon pid" in json.dumps(health.json()["checks"]), health
        daemon.send_signal(signal.SIGHUP)  # reload config.yaml, keep running
        assert health.returncode in (0, 1)
        assert daemon.poll() is None
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=30)
    finally:
        gate.touch()
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0, err
    assert "catch-up" in err and "SIGTERM received" in err
    assert "SIGHUP: settings reloaded" in err
    assert [r["status"] for r in cli("history", "held", "--json").json()] == ["stopped"]
    assert job_status(cli, "held")["status"] == "stopped"
    # One line per event, no tracebacks.
    assert "Traceback" not in err


def test_health_turns_unhealthy_when_last_success_too_old(
    home: Home, tmp_path: Path, cli: CliRunner
) -> None:
    write_job(home, tmp_path, "docs", max_age="1d")
    assert cli("run", "docs").returncode == 0
    r = cli("health", "--json")
    assert r.returncode in (0, 1), r  # no scheduler needed: no schedule
    assert r.json()["status"] in ("healthy", "degraded")
    states = StateStore(home)
    old = states.read("docs")
    states.write(
        JobState(
            name="docs",
            status=Status.SUCCEEDED,
            last_result=old.last_result,
            last_success=utcnow() - timedelta(days=2),
        )
    )
    r = cli("health", "--json")
    assert r.returncode == 2, r
    report = r.json()
    assert report["status"] == "unhealthy"
    bad = [c for c in report["checks"] if c["status"] == "unhealthy"]
    assert bad and bad[0]["job"] == "docs" and "max age" in bad[0]["message"]
    text = cli("health")
    assert text.returncode == 2 and text.stdout.startswith("unhealthy")


def test_stop_of_idle_job(home: Home, tmp_path: Path, cli: CliRunner) -> None:
    write_job(home, tmp_path, "docs")
    r = cli("stop", "docs")
    assert r.returncode == 0 and "not running" in r.stderr
    assert cli("stop", "nope").returncode == 2


@pytest.mark.skipif(not hasattr(os, "setsid"), reason="POSIX only")
def test_ctrl_c_stops_cleanly_with_130(home: Home, tmp_path: Path, cli: CliRunner) -> None:
    gate = tmp_path / "gate"
    write_job(home, tmp_path, "docs", hooks={"before": [gate_hook(gate)]})
    runner = spawn(home, "run", "docs")
    try:
        wait_until(lambda: state_status(home, "docs") == Status.RUNNING, what="running")
        runner.send_signal(signal.SIGINT)
        out, err = runner.communicate(timeout=15)
    finally:
        gate.touch()
    assert runner.returncode == 130, (out, err)
    runs = cli("history", "docs", "--json").json()
    assert runs[0]["status"] == "stopped"
    assert "Ctrl-C" in (runs[0]["error"] or "")


def test_run_on_a_terminal_shows_a_progress_bar(home: Home, tmp_path: Path) -> None:
    import pty

    write_job(home, tmp_path, "docs")
    pid, fd = pty.fork()
    if pid == 0:  # the child: a real terminal on stdout
        os.environ[HOME_ENV] = str(home.root)
        os.execv(sys.executable, [sys.executable, "-m", "tui_backup", "run", "docs"])
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = data.decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "━" in text  # the rich bar was drawn
    assert "docs: succeeded" in text


def test_health_reads_like_a_person_wrote_it(home: Home, tmp_path: Path, cli: CliRunner) -> None:
    """Ages in h/m/d, not "0.0 hours"; a new job that only ever failed is degraded."""
    write_job(home, tmp_path, "docs", max_age="2h")
    write_job(home, tmp_path, "gone", sources=[str(tmp_path / "not-mounted")])
    assert cli("run", "gone").returncode == 1
    states = StateStore(home)
    states.write(
        JobState(
            name="docs",
            status=Status.SUCCEEDED,
            last_success=utcnow() - timedelta(hours=4, minutes=17),
        )
    )
    report = cli("health", "--json").json()
    by_job = {c.get("job"): c for c in report["checks"]}
    assert by_job["docs"]["status"] == "unhealthy"
    assert "last success 4h 17m ago, older than its max age of 2h" in by_job["docs"]["message"]
    assert by_job["gone"]["status"] == "degraded"
    assert "no successful run yet; last run failed" in by_job["gone"]["message"]
    errors = next(c for c in report["checks"] if c["name"] == "errors")
    assert errors["message"].startswith("1 unresolved error (")


def test_sizes_read_as_in_the_tui() -> None:
    """The TUI card said 61.4 MB while ``run`` and ``history`` said 58.6 MiB for one run."""
    from tui_backup.cli.table import humanize_bytes
    from tui_backup.model.units import human_bytes

    assert humanize_bytes(61_440_000) == human_bytes(61_440_000) == "61.4 MB"
    assert humanize_bytes(401) == "401 B"
    assert humanize_bytes(None) == "-"
