"""SIGKILL a real ``tui-backup run`` (and its rsync/restic children) at random moments,
on each engine, through the CLI a user types.

tests/engines/test_sigkill.py kills the snapshot engine's own ``run()`` in a bare
process; this kills the whole program (manager, state writer, history, engine
children) and then checks what the *next* process sees: the run recorded as
``interrupted`` with one error event (or ``succeeded`` when the kill came after the
commit), never a history row left ``running``, every committed snapshot still listed
and verifying, every file parsing, and the next run succeeding with a snapshot that
restores to exactly the source.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time

import pytest

from tests.faults.conftest import Rig, churn, descendants, kill_tree, make_tree, wait_until

ENGINES = [
    "snapshot",
    pytest.param("rsync", marks=pytest.mark.skipif(not shutil.which("rsync"), reason="no rsync")),
    pytest.param(
        "restic", marks=pytest.mark.skipif(not shutil.which("restic"), reason="no restic")
    ),
]


def _started(proc_stdout: object) -> str:
    """Read ``run --json`` lines until the ``started`` event; returns the run id."""
    for line in proc_stdout:  # type: ignore[attr-defined]
        event = json.loads(line)
        if event.get("event") == "started":
            return str(event["run_id"])
    raise AssertionError("the run ended before it started")


def _kill_runner_only(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the runner alone (``kill -9 PID``): its rsync/restic live on as orphans
    until they notice (a closed pipe) or finish; wait for them to end."""
    os.kill(proc.pid, signal.SIGSTOP)  # so it starts no child between the listing and the kill
    orphans = descendants(proc.pid)
    proc.kill()
    proc.wait(timeout=30)
    wait_until(
        lambda: not any(os.path.exists(f"/proc/{p}") for p in orphans),
        timeout=300,
        what=f"the orphans {orphans} to end",
    )


@pytest.mark.timeout(3600)  # the long variant: 20 kills, each followed by several commands
@pytest.mark.parametrize("victim", ["tree", "runner-only"])
@pytest.mark.parametrize("engine", ENGINES)
def test_sigkill_a_running_backup(
    rig: Rig,
    engine: str,
    victim: str,
    rounds: object,
    rng: random.Random,
    request: pytest.FixtureRequest,
) -> None:
    """``tree``: the runner and its children die at once (a crash, an OOM kill of the
    cgroup); ``runner-only``: ``kill -9`` of the runner, its engine's children orphaned."""
    n = rounds(3, 20) if victim == "tree" else rounds(2, 10)  # type: ignore[operator]
    src = rig.tmp / "src"
    make_tree(src, rng)
    rig.add_job("victim", src, engine)
    rig.run_ok("victim")
    # Time one incremental run from its "started" event to its end: the kills land
    # anywhere in that span (and a little past it, to catch the commit and the end).
    churn(src, rng)
    proc = rig.spawn("run", "victim", "--json")
    _started(proc.stdout)
    t0 = time.monotonic()
    assert proc.wait(timeout=300) == 0
    span = (time.monotonic() - t0) * 1.1
    committed = rig.snapshots("victim")
    outcomes: list[str] = []
    for round_no in range(n):
        churn(src, rng)
        proc = rig.spawn("run", "victim", "--json")
        run_id = _started(proc.stdout)
        time.sleep(rng.uniform(0, span))  # picks the moment of the kill; waits for nothing
        kill_tree(proc) if victim == "tree" else _kill_runner_only(proc)
        where = f"round {round_no} ({engine}, {victim}), run {run_id}"

        rows = rig.check_no_run_left_running("victim")
        row = next((r for r in rows if r["run_id"] == run_id), None)
        assert row is not None, f"{where}: the killed run has no history row"
        assert row["status"] in ("interrupted", "succeeded"), f"{where}: {row}"
        outcomes.append(row["status"])
        about_it = [e for e in rig.errors("victim") if run_id in (e.get("details") or "")]
        if row["status"] == "interrupted":
            assert len(about_it) == 1, f"{where}: expected one error event, got {about_it}"
            assert about_it[0]["error_type"] == "run_interrupted", about_it
        else:
            assert about_it == [], f"{where}: a run that succeeded left errors: {about_it}"

        now = rig.snapshots("victim")
        lost = [sid for sid in committed if sid not in now]
        assert lost == [], f"{where}: committed snapshots disappeared: {lost}"
        committed = now
        rig.check_files_parse()

    print(f"{engine} ({victim}): {n} kills in a {span:.2f}s span -> {outcomes}")
    rig.run_ok("victim")
    assert set(committed) <= set(rig.snapshots("victim"))
    rig.verify_all("victim")
    rig.restore_latest_matches("victim", src)
    rig.check_files_parse()


@pytest.mark.skipif(not shutil.which("restic"), reason="no restic")
def test_restic_lock_left_by_a_killed_run_is_cleared(rig: Rig, rng: random.Random) -> None:
    """Deterministic: kill -9 the runner once restic reports progress (it holds its lock)."""
    src = rig.tmp / "src"
    make_tree(src, rng)
    rig.add_job("victim", src, "restic")
    rig.run_ok("victim")
    (src / "big.bin").write_bytes(rng.randbytes(16 << 20))  # a run long enough to kill
    proc = rig.spawn("run", "victim", "--json")
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line).get("event") == "progress":
            break
    _kill_runner_only(proc)
    rig.check_no_run_left_running("victim")
    rig.run_ok("victim")
    r = rig.cli("verify", "victim", "--json", timeout=600)
    assert r.returncode == 0, r
