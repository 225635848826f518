"""A full disk: the destination (a small tmpfs the test mounts) and the home.

Needs root (mount). Without it the cases skip with that reason; ENOSPC is then
still injected for the destination by the engine tests' own means, not here.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import Rig, make_tree

ENGINES = [
    "snapshot",
    pytest.param("rsync", marks=pytest.mark.skipif(not shutil.which("rsync"), reason="no rsync")),
    pytest.param(
        "restic", marks=pytest.mark.skipif(not shutil.which("restic"), reason="no restic")
    ),
]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[Path, int], Path]]:
    """``tmpfs(dir, megabytes)`` mounts a tmpfs of that size at ``dir`` (unmounted after)."""
    mounted: list[Path] = []

    def mount(where: Path, megabytes: int) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0700", "tmpfs", str(where)],
            capture_output=True,
            text=True,
            check=False,
        )
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}): needs root")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


def _partials(dest: Path) -> list[str]:
    return [n for n in os.listdir(dest) if n.endswith(".partial")] if dest.is_dir() else []


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
@pytest.mark.parametrize("engine", ENGINES)
def test_full_destination(
    rig: Rig, engine: str, tmpfs: Callable[[Path, int], Path], rng: random.Random
) -> None:
    disk = tmpfs(rig.tmp / "disk", 16)
    src = rig.tmp / "src"
    make_tree(src, rng, dirs=4, files=20)  # about 4.5 MB
    # add_job puts the destination under tmp/dest: point it at the small disk instead.
    (rig.tmp / "dest").symlink_to(disk)
    dest = rig.add_job("victim", src, engine)
    rig.run_ok("victim")
    committed = rig.snapshots("victim")

    (src / "huge.bin").write_bytes(rng.randbytes(24 << 20))  # more than the disk holds
    r = rig.cli("run", "victim")
    assert r.returncode == 1, r
    assert "full" in r.stderr + r.stdout, r
    assert "Traceback" not in r.stderr, r
    errors = rig.errors("victim")
    assert [e["error_type"] for e in errors] == ["disk_full"], errors
    rows = rig.check_no_run_left_running("victim")
    assert rows[0]["status"] == "failed" and "full" in (rows[0]["error"] or ""), rows[0]
    assert rig.snapshots("victim") == committed
    assert _partials(dest) == []  # the failed run's partial snapshot was removed
    rig.check_files_parse()
    rig.verify_all("victim")

    (src / "huge.bin").unlink()  # the user makes room in what is backed up
    rig.run_ok("victim")
    assert set(committed) < set(rig.snapshots("victim"))
    rig.verify_all("victim")
    rig.restore_latest_matches("victim", src)
    rig.check_files_parse()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_full_home_never_blocks_a_backup_with_room(
    rig: Rig, tmpfs: Callable[[Path, int], Path], rng: random.Random
) -> None:
    tmpfs(rig.home.root, 4)
    src = rig.tmp / "src"
    make_tree(src, rng, dirs=2, files=10)
    dest = rig.add_job("victim", src)
    rig.run_ok("victim")
    before = rig.snapshots("victim")
    filler = rig.home.root / "filler"
    with open(filler, "wb") as f:  # fill the home to the last block
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    r = rig.cli("run", "victim")
    assert "Errno" not in r.stderr and "Traceback" not in r.stderr, r
    assert r.returncode == 0, r  # the destination has room: the backup is made
    assert len(os.listdir(dest)) > len(before)
    filler.unlink()
    rig.run_ok("victim")
    rig.check_files_parse()
    rows = rig.check_no_run_left_running("victim")
    assert len(rows) == 3, rows  # the run made while the home was full is not lost
    assert any("space" in e["message"] for e in rig.errors()), "the full home was not recorded"
