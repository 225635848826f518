"""The backup disk disappears in the middle of a run and comes back.

The destination lives on a bind mount of a directory (the "disk"); mid-run the mount
is detached (``umount -l``, what a pulled USB disk or a dropped NFS mount looks like
to path lookups), then the run ends however it ends, a run is tried while the disk is
away (refused: never created on the empty mount point), and the disk is mounted again.
Committed snapshots must be intact, nothing ``.partial`` listed, one clear error per
failed run, and the next run must succeed.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import Rig, churn, make_tree

ENGINES = [
    "snapshot",
    pytest.param(
        "rsync",
        marks=[
            pytest.mark.skipif(not shutil.which("rsync"), reason="no rsync"),
        ],
    ),
    pytest.param(
        "restic", marks=pytest.mark.skipif(not shutil.which("restic"), reason="no restic")
    ),
]


class Disk:
    """A directory bind-mounted at ``mountpoint``: unplug() detaches it, plug() brings it back."""

    def __init__(self, store: Path, mountpoint: Path) -> None:
        self.store, self.mountpoint = store, mountpoint
        store.mkdir(parents=True)
        mountpoint.mkdir(parents=True)
        self.plugged = False

    def plug(self) -> None:
        r = subprocess.run(
            ["mount", "--bind", str(self.store), str(self.mountpoint)],
            capture_output=True,
            text=True,
            check=False,
        )
        if r.returncode != 0:
            pytest.skip(f"cannot bind-mount here ({r.stderr.strip()}): needs root")
        self.plugged = True

    def unplug(self) -> None:
        subprocess.run(["umount", "-l", str(self.mountpoint)], check=True)
        self.plugged = False


NOT_A_RUN_FAILURE = frozenset({"circuit_open", "errors_resolved"})
"""The breaker's own record, and the note a success leaves when it resolves earlier errors
(the second "error event" once counted for a round whose run succeeded after failures)."""


def _failure_events(rig: Rig) -> int:
    return len([e for e in rig.errors("victim") if e["error_type"] not in NOT_A_RUN_FAILURE])


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    d = Disk(tmp_path / "disk-store", tmp_path / "mnt")
    d.plug()
    yield d
    if d.plugged:
        subprocess.run(["umount", "-l", str(d.mountpoint)], check=False)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # restic retries a vanished local repository for about a minute
@pytest.mark.skipif(os.geteuid() != 0, reason="bind mounts need root")
@pytest.mark.parametrize("engine", ENGINES)
def test_destination_disappears_mid_run_and_comes_back(
    rig: Rig, engine: str, disk: Disk, rounds: object, rng: random.Random
) -> None:
    n = rounds(2, 10)  # type: ignore[operator]
    src = rig.tmp / "src"
    make_tree(src, rng)
    # The destination is a directory on the disk (as /mnt/backup/host/job would be).
    (disk.mountpoint / "backups").mkdir()
    (rig.tmp / "dest").symlink_to(disk.mountpoint / "backups")
    rig.add_job("victim", src, engine)
    rig.run_ok("victim")
    committed = rig.snapshots("victim")
    outcomes: list[str] = []
    for round_no in range(n):
        where = f"round {round_no} ({engine})"
        churn(src, rng)
        errors_before = _failure_events(rig)
        proc = rig.spawn("run", "victim", "--json")
        assert proc.stdout is not None
        for line in proc.stdout:  # wait for a sign of life, then pull the disk
            if json.loads(line).get("event") == "started":
                break
        time.sleep(rng.uniform(0, 0.5))  # picks the moment; waits for nothing
        disk.unplug()
        _out, err = proc.communicate(timeout=300)
        assert "Traceback" not in err, f"{where}: {err}"
        assert proc.returncode in (0, 1), f"{where}: exit {proc.returncode}\n{err}"
        outcomes.append("succeeded" if proc.returncode == 0 else "failed")

        # While the disk is away: a run is refused and nothing appears on the mount point.
        r = rig.cli("run", "victim")
        assert r.returncode == 1 and "Traceback" not in r.stderr, r
        assert os.listdir(disk.mountpoint) == [], f"{where}: written to the bare mount point"
        rows = rig.check_no_run_left_running("victim")
        assert rows[0]["status"] == "failed", rows[0]
        # Five failures in a row also open the destination's circuit (one more event,
        # circuit_open): that is the breaker's own record, not a failed run's. A run that
        # succeeds after the last round's failures resolves them and says so in one
        # resolved LOW note (errors_resolved): not a failure either.
        added = _failure_events(rig) - errors_before
        expected = 2 if proc.returncode == 1 else 1  # one per failed run
        assert added == expected, f"{where}: {added} error events for {expected} failed runs"
        rig.check_files_parse()

        disk.plug()
        now = rig.snapshots("victim")
        lost = [sid for sid in committed if sid not in now]
        assert lost == [], f"{where}: lost {lost}"
        committed = now
    print(f"{engine}: disk pulled {n}x mid-run -> {outcomes}")
    rig.run_ok("victim")
    rig.verify_all("victim")
    rig.restore_latest_matches("victim", src)
    rig.check_files_parse()


WRAPPER = """#!/bin/sh
# rsync, then (once, for the backup copy into a .partial) the disk is pulled.
{rsync} "$@"
rc=$?
case "$*" in
*.partial*) if [ -e "{flag}" ]; then rm -f "{flag}"; umount -l "{mnt}"; fi ;;
esac
exit $rc
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="bind mounts need root")
@pytest.mark.skipif(not shutil.which("rsync"), reason="no rsync")
def test_rsync_destination_gone_right_after_the_copy(
    rig: Rig, disk: Disk, rng: random.Random
) -> None:
    """Deterministic: a wrapped rsync pulls the disk the moment its copy ends."""
    src = rig.tmp / "src"
    make_tree(src, rng, dirs=2, files=10)
    (disk.mountpoint / "backups").mkdir()
    (rig.tmp / "dest").symlink_to(disk.mountpoint / "backups")
    rig.add_job("victim", src, "rsync")
    rig.run_ok("victim")
    committed = rig.snapshots("victim")
    bin_dir = rig.tmp / "bin"
    bin_dir.mkdir()
    flag = rig.tmp / "pull-the-disk"
    wrapper = bin_dir / "rsync"
    wrapper.write_text(WRAPPER.format(rsync=shutil.which("rsync"), flag=flag, mnt=disk.mountpoint))
    wrapper.chmod(0o755)
    rig.extra_env["PATH"] = f"{bin_dir}:{os.environ['PATH']}"
    churn(src, rng)
    flag.touch()
    r = rig.cli("run", "victim")
    disk.plugged = flag.exists()
    assert not flag.exists(), "the wrapper did not run"
    assert r.returncode == 1, r
    assert "Traceback" not in r.stderr, r
    errors = rig.errors("victim")
    assert len(errors) == 1 and errors[0]["error_type"] != "engine_crashed", errors
    disk.plug()
    assert rig.snapshots("victim") == committed
    rig.extra_env.clear()
    rig.run_ok("victim")
    rig.verify_all("victim")


def test_one_error_per_failed_run_and_a_success_only_resolves(rig: Rig, rng: random.Random) -> None:
    """Deterministic: the disk away (its parent gone) for two runs, then back.

    Each failed run adds exactly one error event; the success after them adds
    no error, only the resolved note that names what it resolved.
    """
    src = rig.tmp / "src"
    make_tree(src, rng, dirs=2, files=5)
    disk = rig.tmp / "disk"
    (disk / "backups").mkdir(parents=True)
    (rig.tmp / "dest").symlink_to(disk / "backups")
    rig.add_job("victim", src)
    rig.run_ok("victim")
    away = rig.tmp / "disk-away"
    disk.rename(away)  # unplugged: the destination's parent is gone
    for failed in (1, 2):
        assert rig.cli("run", "victim").returncode == 1
        events = rig.errors("victim")
        assert _failure_events(rig) == failed, events
        assert all(not e["resolved"] for e in events), events
    away.rename(disk)
    before = {e["id"] for e in rig.errors("victim")}
    rig.run_ok("victim")
    added = [e for e in rig.errors("victim") if e["id"] not in before]
    assert [(e["error_type"], e["severity"], e["resolved"]) for e in added] == [
        ("errors_resolved", "LOW", True)
    ], added
    assert "2 earlier errors resolved" in added[0]["message"]
    assert _failure_events(rig) == 2  # the two failed runs, nothing for the success
