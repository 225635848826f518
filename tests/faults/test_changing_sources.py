"""Sources that change while they are backed up: a file growing, files vanishing,
directories renamed back and forth, a file swapped for a FIFO and back.

Each engine must finish with warnings, never a crash or a hang (a FIFO opened for
reading blocks forever), and never commit a snapshot that claims what it does not
hold: the listing's file count is what a restore gives back, every snapshot
verifies, and the part of the tree nobody touched is restored byte for byte.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import threading
from pathlib import Path

import pytest

from tests.faults.conftest import Rig, make_tree, tree_digest

ENGINES = [
    "snapshot",
    pytest.param("rsync", marks=pytest.mark.skipif(not shutil.which("rsync"), reason="no rsync")),
    pytest.param(
        "restic", marks=pytest.mark.skipif(not shutil.which("restic"), reason="no restic")
    ),
]


class Mutator(threading.Thread):
    """Changes ``root/hot`` in a loop until stopped; ``root/stable`` is never touched."""

    def __init__(self, hot: Path, rng: random.Random, *, fifo_swaps: bool = True) -> None:
        super().__init__(daemon=True)
        self.hot, self.rng = hot, rng
        self.fifo_swaps = fifo_swaps
        self.stop = threading.Event()
        self.ops = 0

    @staticmethod
    def prepare(hot: Path, rng: random.Random) -> None:
        """The hot part of the tree, as the first (quiet) run sees it."""
        (hot / "dirA").mkdir(parents=True)
        for i in range(20):
            (hot / "dirA" / f"r{i}").write_bytes(rng.randbytes(2000))
        (hot / "swap.bin").write_bytes(b"a file, for now")
        (hot / "grow.log").write_bytes(b"")

    def _step(self, i: int) -> None:
        hot = self.hot
        with open(hot / "grow.log", "ab") as f:  # growing
            f.write(self.rng.randbytes(16 * 1024))
        v = hot / f"v{i % 50}"
        if v.exists():  # vanishing
            v.unlink()
        else:
            v.write_bytes(self.rng.randbytes(4000))
        a, b = hot / "dirA", hot / "dirB"  # renamed back and forth
        os.rename(a, b) if a.exists() else os.rename(b, a)
        swap = hot / "swap.bin"  # a file, then a FIFO, then a file again
        if not self.fifo_swaps:
            return
        if swap.is_fifo():
            swap.unlink()
            swap.write_bytes(b"a file again")
        else:
            swap.unlink()
            os.mkfifo(swap)

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            try:
                self._step(i)
            except FileNotFoundError:
                pass
            i += 1
        self.ops = i


@pytest.mark.xfail(
    strict=False,
    reason="seen in CI at fa1c28e for rsync: the run at rest restored files v41/v42 with an "
    "older content of the same size written in the same second (rsync --link-dest trusts "
    "size and mtime); not yet fixed",
)
@pytest.mark.slow
@pytest.mark.timeout(3600)  # the long variant: 10 runs, each restored and verified
@pytest.mark.parametrize("engine", ENGINES)
def test_sources_changing_during_runs(
    rig: Rig, engine: str, rounds: object, rng: random.Random
) -> None:
    n = rounds(2, 10)  # type: ignore[operator]
    src = rig.tmp / "src"
    make_tree(src / "stable", rng, dirs=4, files=30)
    Mutator.prepare(src / "hot", rng)
    rig.add_job("victim", src, engine)
    rig.run_ok("victim")
    warnings: list[int] = []
    for round_no in range(n):
        where = f"round {round_no} ({engine})"
        # rsync opens a file it listed as regular even when it became a FIFO since,
        # and waits for a writer forever (test_rsync_does_not_hang_on_a_fifo below).
        mutator = Mutator(src / "hot", rng, fifo_swaps=engine != "rsync")
        mutator.start()
        try:
            r = rig.cli("run", "victim", "--json", timeout=300)
        finally:
            mutator.stop.set()
            mutator.join()
        assert "Traceback" not in r.stderr, f"{where}: {r}"
        assert r.returncode == 0, f"{where}: a changing source failed the run: {r}"
        finished = json.loads(r.stdout.splitlines()[-1])
        assert finished["status"] == "succeeded", f"{where}: {finished}"
        warnings.append(finished["warnings"])
        rig.check_no_run_left_running("victim")

        # The snapshot holds what it claims.
        listed = json.loads(rig.cli("snapshots", "victim", "--json").stdout)[0]
        target = rig.tmp / f"restored-{round_no}"
        rr = rig.cli("restore", "victim", "--target", str(target), timeout=300)
        assert rr.returncode == 0, f"{where}: {rr}"
        restored = tree_digest(target)
        if listed["files"] is not None:
            assert listed["files"] == len(restored), (
                f"{where}: the listing says {listed['files']} files, a restore gives "
                f"{len(restored)}"
            )
        stable = {k: v for k, v in restored.items() if k.startswith("stable/")}
        assert stable == {f"stable/{k}": v for k, v in tree_digest(src / "stable").items()}
        rig.verify_all("victim")
        rig.check_files_parse()
        assert mutator.ops > 0, f"{where}: nothing changed during the run"
    print(f"{engine}: {n} runs over a changing tree, warnings per run: {warnings}")
    rig.run_ok("victim")  # the tree at rest: the next run succeeds and restores exactly
    rig.verify_all("victim")
    rig.restore_latest_matches("victim", src)


@pytest.mark.xfail(
    run=False,
    reason="rsync engine: a source file swapped for a FIFO between rsync's listing and its "
    "copy blocks rsync's open() forever (no writer ever comes); the run never ends. "
    "Reproduce: TUI_BACKUP_FAULTS_LONG=1 pytest tests/faults/test_changing_sources.py -k rsync "
    "with fifo_swaps on. Needs a watchdog (rsync --timeout or a stall check) — fix owner: engines",
)
def test_rsync_does_not_hang_on_a_fifo() -> None:
    """Documents the known hang without running it (it would only hit the timeout)."""
    raise AssertionError("not run")
