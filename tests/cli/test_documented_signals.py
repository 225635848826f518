"""Documented run/stop/daemon behaviour, through the real CLI in subprocesses.

docs/cli.md and docs/operations.md promise: ``run`` exits 143 on SIGTERM and
129 on SIGHUP (stopped cleanly, recorded ``stopped``); ``stop --no-wait`` only
sends the request; ``stop --timeout`` exits 1 while the run is still going;
``daemon --max-concurrent`` caps the runs of this process (others ``queued``);
SIGHUP makes the daemon re-read ``config.yaml``; ``--stop-timeout`` bounds the
wait on SIGTERM; ``job rm`` of a running job is refused with exit 1.

Cross-process timing is controlled with gate files (a ``before`` hook waits
for one) and SIGSTOP/SIGCONT, never sleeps; observations poll with a deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli.processes import gate_hook, spawn, wait_until, write_job
from tui_backup.store.paths import Home
from tui_backup.store.state import StateStore


def status(home: Home, name: str) -> str | None:
    try:
        return str(StateStore(home).read(name).status)
    except (OSError, ValueError):
        return None


def history(cli: Callable[..., Any], name: str) -> list[dict[str, Any]]:
    r = cli("history", name, "--json")
    assert r.returncode == 0, r
    return r.json()


def no_partials(tmp: Path, name: str) -> bool:
    dest = tmp / "dest" / name
    return not dest.exists() or not [n for n in os.listdir(dest) if n.endswith(".partial")]


# -- run: SIGTERM -> 143, SIGHUP -> 129 ------------------------------------------------


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_run_stopped_by_a_signal_exits_128_plus_it_and_is_recorded_stopped(
    home: Home, tmp_path: Path, cli: Callable[..., Any], sig: signal.Signals, code: int
) -> None:
    gate = tmp_path / "gate"
    write_job(home, tmp_path, "docs", hooks={"before": [gate_hook(gate)]})
    runner = spawn(home, "run", "docs")
    try:
        wait_until(lambda: status(home, "docs") == "running", what="running")
        runner.send_signal(sig)
        out, err = runner.communicate(timeout=30)
    finally:
        gate.touch()
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == code, (out, err)
    assert "Traceback" not in err
    runs = history(cli, "docs")
    assert [r["status"] for r in runs] == ["stopped"], runs
    assert status(home, "docs") == "stopped"
    assert no_partials(tmp_path, "docs")
    assert cli("run", "docs").returncode == 0  # nothing left behind blocks the next run


# -- stop --no-wait / --timeout ---------------------------------------------------------


def test_stop_no_wait_returns_at_once_and_the_run_then_stops(
    home: Home, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    """The runner is frozen (SIGSTOP) so it cannot act on the request before ``stop``
    returns: ``--no-wait`` must return 0 with the run still going."""
    gate = tmp_path / "gate"
    write_job(home, tmp_path, "docs", hooks={"before": [gate_hook(gate)]})
    runner = spawn(home, "run", "docs")
    try:
        wait_until(lambda: status(home, "docs") == "running", what="running")
        runner.send_signal(signal.SIGSTOP)
        r = cli("stop", "docs", "--no-wait", timeout=20)
        assert r.returncode == 0, r
        assert "stop requested" in r.stderr, r
        assert home.root.joinpath("state", "docs.stop").exists()
        assert status(home, "docs") == "running"
        runner.send_signal(signal.SIGCONT)
        out, err = runner.communicate(timeout=30)
    finally:
        gate.touch()
        if runner.poll() is None:
            runner.send_signal(signal.SIGCONT)
            runner.kill()
    assert runner.returncode == 1, (out, err)  # stopped by someone else
    assert [r["status"] for r in history(cli, "docs")] == ["stopped"]
    assert not home.root.joinpath("state", "docs.stop").exists()


def test_stop_timeout_exits_1_while_the_run_goes_on_then_0(
    home: Home, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    gate = tmp_path / "gate"
    write_job(home, tmp_path, "docs", hooks={"before": [gate_hook(gate)]})
    runner = spawn(home, "run", "docs")
    try:
        wait_until(lambda: status(home, "docs") == "running", what="running")
        runner.send_signal(signal.SIGSTOP)  # a runner that cannot answer in time
        r = cli("stop", "docs", "--timeout", "1", timeout=30)
        assert r.returncode == 1, r
        assert "still running 1s after the stop request" in r.stderr, r
        runner.send_signal(signal.SIGCONT)  # the request stands: the thawed run stops
        out, err = runner.communicate(timeout=30)
        assert runner.returncode == 1, (out, err)
    finally:
        gate.touch()
        if runner.poll() is None:
            runner.send_signal(signal.SIGCONT)
            runner.kill()
    assert [r["status"] for r in history(cli, "docs")] == ["stopped"]


# -- job rm of a running job -------------------------------------------------------------


def test_job_rm_of_a_running_job_is_refused_with_exit_1(
    home: Home, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    gate = tmp_path / "gate"
    write_job(home, tmp_path, "docs", hooks={"before": [gate_hook(gate)]})
    runner = spawn(home, "run", "docs")
    try:
        wait_until(lambda: status(home, "docs") == "running", what="running")
        for extra in ((), ("--purge-data", "--yes")):
            r = cli("job", "rm", "docs", *extra)
            assert r.returncode == 1, r
            assert "running" in r.stderr and "Traceback" not in r.stderr, r
            assert home.job_file("docs").exists()
    finally:
        gate.touch()
        out, err = runner.communicate(timeout=30)
    assert runner.returncode == 0, (out, err)
    r = cli("job", "rm", "docs")  # once it has ended, it goes
    assert r.returncode == 0, r
    assert not home.job_file("docs").exists()


# -- the daemon: --max-concurrent, SIGHUP reloads config.yaml, --stop-timeout -------------


def due_daily(home: Home, names: list[str]) -> str:
    """A daily schedule whose slot passed an hour ago, and slots last handled long ago,
    so the daemon catches each job up once as soon as it starts."""
    hour = (datetime.now().astimezone() - timedelta(hours=1)).hour
    (home.root / "scheduler-slots.yaml").write_text(
        "".join(f"{n}: '2020-01-01T00:00:00Z'\n" for n in names)
    )
    return f"0 {hour} * * *"


def statuses(home: Home, names: list[str]) -> list[str | None]:
    return [status(home, n) for n in names]


def stop_daemon(daemon: subprocess.Popen[str], timeout: float = 60) -> str:
    daemon.send_signal(signal.SIGTERM)
    _out, err = daemon.communicate(timeout=timeout)
    return err


def test_daemon_max_concurrent_caps_its_runs_and_queues_the_rest(
    home: Home, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    names = ["j1", "j2", "j3"]
    gate = tmp_path / "gate"
    daily = due_daily(home, names)
    for n in names:
        write_job(home, tmp_path, n, schedule=daily, hooks={"before": [gate_hook(gate)]})
    (home.root / "config.yaml").write_text("max_concurrent_jobs: 3\n")  # the flag beats it
    daemon = spawn(home, "daemon", "--max-concurrent", "1")
    seen: list[list[str | None]] = []
    try:

        def one_running_two_queued() -> bool:
            now = statuses(home, names)
            seen.append(now)
            return sorted(map(str, now)) == ["queued", "queued", "running"]

        wait_until(one_running_two_queued, what="1 running, 2 queued")
        gate.touch()
        wait_until(
            lambda: (
                all(history(cli, n) for n in names)
                and all(s == "succeeded" for s in statuses(home, names))
            ),
            what="all three succeeded",
        )
    finally:
        gate.touch()
        err = stop_daemon(daemon) if daemon.poll() is None else ""
    assert not [s for s in seen if s.count("running") > 1], seen
    assert "at most 1 jobs at once" in err, err[-3000:]
    for n in names:
        assert [r["status"] for r in history(cli, n)] == ["succeeded"]


def test_daemon_sighup_rereads_max_concurrent_jobs_from_config_yaml(
    home: Home, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    names = ["j1", "j2", "j3"]
    gate = tmp_path / "gate"
    (home.root / "config.yaml").write_text("max_concurrent_jobs: 1\n")
    daily = due_daily(home, names)
    for n in names:
        write_job(home, tmp_path, n, schedule=daily, hooks={"before": [gate_hook(gate)]})
    daemon = spawn(home, "daemon")
    try:
        wait_until(
            lambda: sorted(map(str, statuses(home, names))) == ["queued", "queued", "running"],
            what="1 running, 2 queued",
        )
        (home.root / "config.yaml").write_text("max_concurrent_jobs: 3\n")
        daemon.send_signal(signal.SIGHUP)
        wait_until(
            lambda: statuses(home, names) == ["running"] * 3, what="all three running after HUP"
        )
        assert daemon.poll() is None  # SIGHUP reloads, it does not stop
        gate.touch()
        wait_until(
            lambda: all(s == "succeeded" for s in statuses(home, names)), what="all succeeded"
        )
    finally:
        gate.touch()
        err = stop_daemon(daemon) if daemon.poll() is None else ""
    assert daemon.returncode == 0, err[-3000:]
    assert "SIGHUP: settings reloaded" in err, err[-3000:]


def test_daemon_stop_timeout_bounds_the_wait_for_a_run_that_will_not_end(
    home: Home, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    """The run's ``after`` hook (which a stop does not kill, docs/hooks.md) waits for a
    gate: with ``--stop-timeout 2`` the daemon must still exit 0 well before the
    default 60 s would have let it (the communicate below gives it 40 s)."""
    inside, gate = tmp_path / "in-after-hook", tmp_path / "after-gate"
    daily = due_daily(home, ["slow"])
    after = ["sh", "-c", f'touch "{inside}"; while [ ! -e "{gate}" ]; do sleep 0.05; done']
    write_job(home, tmp_path, "slow", schedule=daily, hooks={"after": [after]})
    daemon = spawn(home, "daemon", "--stop-timeout", "2")
    try:
        wait_until(inside.exists, what="the after hook running")
        assert status(home, "slow") == "running"
        err = stop_daemon(daemon, timeout=40)
    finally:
        gate.touch()
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0, err[-3000:]
    assert "SIGTERM received" in err and "daemon stopped" in err, err[-3000:]


def test_a_run_stopped_during_its_before_hook_still_runs_its_after_hook(
    home: Home, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    """docs/hooks.md: "Stopping a run ... kills a running before hook; after and
    notification hooks still run ... so a stopped or failed run is never silent"."""
    gate, marker = tmp_path / "gate", tmp_path / "after-ran"
    after = ["sh", "-c", f'echo "$TUI_BACKUP_STATUS" > "{marker}"']
    write_job(home, tmp_path, "docs", hooks={"before": [gate_hook(gate)], "after": [after]})
    runner = spawn(home, "run", "docs")
    try:
        wait_until(lambda: status(home, "docs") == "running", what="running")
        assert cli("stop", "docs").returncode == 0
        runner.communicate(timeout=30)
    finally:
        gate.touch()
        if runner.poll() is None:
            runner.kill()
    assert [r["status"] for r in history(cli, "docs")] == ["stopped"]
    assert marker.exists(), "the after hook did not run for a run stopped in its before hook"
    assert marker.read_text().strip() == "stopped"
