"""SIGKILL the daemon (and every process it started) while three scheduled jobs run.

Each round: the scheduler's remembered slots are set an hour back so the daemon
catches up all three jobs (one per engine) at once; a ``before`` hook holds each run
at its start until all three are ``running``; then the gate opens and the daemon is
killed at a random moment of the three backups. The next process to look must find
every run ``interrupted`` (one error each) or finished, nothing left ``running``,
every committed snapshot intact, every file parseable; and after the rounds every
job must run, verify and restore.
"""

from __future__ import annotations

import random
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.faults.conftest import Rig, churn, kill_tree, make_tree, wait_until

JOBS = {
    "alpha": "snapshot",
    "bravo": "rsync" if shutil.which("rsync") else "snapshot",
    "charlie": "restic" if shutil.which("restic") else "snapshot",
}


def _gate_hook(gate: Path) -> list[str]:
    return ["sh", "-c", f'while [ ! -e "{gate}" ]; do sleep 0.05; done']


def _state_status(rig: Rig, name: str) -> str | None:
    try:
        data = yaml.safe_load(rig.home.state_file(name).read_bytes())
    except (OSError, yaml.YAMLError):
        return None
    return data.get("status") if isinstance(data, dict) else None


def _rewind_slots(rig: Rig) -> None:
    """Make every job's last scheduled slot an hour old: the daemon catches each up once."""
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = rig.home.root / "scheduler-slots.yaml"
    path.write_text(yaml.safe_dump({name: hour_ago for name in JOBS}))


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the long variant: 10 daemon kills over three engines
def test_sigkill_the_daemon_while_three_jobs_run(
    rig: Rig, rounds: object, rng: random.Random
) -> None:
    n = rounds(2, 10)  # type: ignore[operator]
    gate = rig.tmp / "gate"
    sources: dict[str, Path] = {}
    for name, engine in JOBS.items():
        src = rig.tmp / "src" / name
        make_tree(src, rng, dirs=6, files=30)
        sources[name] = src
        rig.add_job(name, src, engine, "--schedule", "* * * * *")
        rig.run_ok(name)
        data = yaml.safe_load(rig.home.job_file(name).read_text())
        data["hooks"] = {"before": [_gate_hook(gate)]}
        rig.home.job_file(name).write_text(yaml.safe_dump(data))
    committed = {name: rig.snapshots(name) for name in JOBS}
    seen: dict[str, list[str]] = {name: [] for name in JOBS}
    for round_no in range(n):
        gate.unlink(missing_ok=True)
        for src in sources.values():
            churn(src, rng)
        _rewind_slots(rig)
        daemon = rig.spawn("daemon", "--max-concurrent", "3", "--stop-timeout", "5")
        wait_until(
            lambda: all(_state_status(rig, name) == "running" for name in JOBS),
            what="all three jobs running under the daemon",
        )
        run_ids = {
            name: yaml.safe_load(rig.home.state_file(name).read_text())["run_id"] for name in JOBS
        }
        gate.touch()
        time.sleep(rng.uniform(0, 2.0))  # the moment of the kill; waits for nothing
        kill_tree(daemon)
        where = f"round {round_no}"
        rig.check_files_parse()
        for name in JOBS:
            rows = rig.check_no_run_left_running(name)
            row = next((r for r in rows if r["run_id"] == run_ids[name]), None)
            assert row is not None, f"{where}: {name}'s killed run has no history row"
            assert row["status"] in ("interrupted", "succeeded"), f"{where}: {name}: {row}"
            seen[name].append(row["status"])
            about = [e for e in rig.errors(name) if run_ids[name] in (e.get("details") or "")]
            expected = 1 if row["status"] == "interrupted" else 0
            assert len(about) == expected, f"{where}: {name}: error events {about}"
            now = rig.snapshots(name)
            lost = [sid for sid in committed[name] if sid not in now]
            assert lost == [], f"{where}: {name} lost committed snapshots {lost}"
            committed[name] = now
    print(f"daemon killed {n}x; outcomes per job: {seen}")
    gate.touch()
    for name in JOBS:
        rig.run_ok(name)
        rig.verify_all(name)
        rig.restore_latest_matches(name, sources[name])
    rig.check_files_parse()
