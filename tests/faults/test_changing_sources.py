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
from tui_backup.engines.events import EngineEvent, FileWarning, Finished
from tui_backup.engines.registry import get_engine
from tui_backup.model import parse_job

ENGINES = [
    "snapshot",
    pytest.param("rsync", marks=pytest.mark.skipif(not shutil.which("rsync"), reason="no rsync")),
    pytest.param(
        "restic", marks=pytest.mark.skipif(not shutil.which("restic"), reason="no restic")
    ),
]


GROW_CAP = 8 << 20
"""grow.log starts again from empty past this size (a step appends 16 kB, thousands a second)."""


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
            if f.tell() > GROW_CAP:  # a slow run on a busy machine must not fill the disk
                f.truncate(0)
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


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the long variant: 10 runs, each restored and verified
@pytest.mark.parametrize("engine", ENGINES)
def test_sources_changing_during_runs(
    rig: Rig, engine: str, rounds: object, rng: random.Random, request: pytest.FixtureRequest
) -> None:
    if engine == "rsync":
        request.applymarker(
            pytest.mark.xfail(
                strict=False,
                reason=(
                    "seen once in CI at c454ec9 (random): rsync's sender logged get_acl "
                    "failures for files that had vanished, then the run ended 'rsync error: "
                    "protocol incompatibility (code 2) at generator.c(1715)' instead of "
                    "succeeding with warnings (cause suspected, not proven: -A with vanishing "
                    "files); not yet fixed — fix owner: engines/rsync"
                ),
            )
        )
    n = rounds(2, 10)  # type: ignore[operator]
    src = rig.tmp / "src"
    make_tree(src / "stable", rng, dirs=4, files=30)
    Mutator.prepare(src / "hot", rng)
    rig.add_job("victim", src, engine)
    rig.run_ok("victim")
    warnings: list[int] = []
    for round_no in range(n):
        where = f"round {round_no} ({engine})"
        # rsync opens a file it listed as regular even when it became a FIFO since;
        # the engine unblocks it (test_rsync_does_not_hang_on_a_fifo below).
        mutator = Mutator(src / "hot", rng)
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


def _rsync_has_open(src: Path, name: str) -> bool:
    """Whether an rsync of ours (its argv names ``src``) has ``src/name`` open now."""
    wanted = str(src / name)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if not argv[0].endswith(b"rsync") or str(src).encode() + b"/" not in argv:
                continue
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == wanted:
                    return True
        except OSError:
            continue
    return False


@pytest.mark.skipif(not shutil.which("rsync"), reason="no rsync")
@pytest.mark.skipif(not Path("/proc/self/syscall").exists(), reason="needs Linux /proc")
@pytest.mark.timeout(300)
def test_rsync_does_not_hang_on_a_fifo(tmp_path: Path) -> None:
    """rsync lists ``z_victim`` as a regular file; while it reads a large file listed
    before it, ``z_victim`` becomes a FIFO. rsync's open() of it would wait for a
    writer forever (its ``--timeout`` does not end that): the engine sees the sender
    blocked opening a FIFO, stops it, copies the source again without that file, and
    the run ends with a warning naming it. The swap is timed on rsync having the large file open;
    should rsync win the race the attempt proves nothing and is made again."""
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "a_big", "wb") as fh:
        fh.truncate(512 << 20)  # sparse: read fast, stored as zeros
    engine = get_engine("rsync")
    for attempt in range(5):
        victim = src / "z_victim"
        if victim.is_fifo():
            victim.unlink()
        victim.write_bytes(b"a regular file when rsync lists it")
        spec = parse_job(
            {"name": "fifo", "sources": [str(src)], "destination": str(tmp_path / f"d{attempt}"),
             "engine": "rsync"},
            "jobs/fifo.yaml", "fifo",
        )  # fmt: skip
        events: list[EngineEvent] = []
        runner = threading.Thread(
            target=engine.run, args=(spec, threading.Event(), events.append), daemon=True
        )
        runner.start()
        while runner.is_alive() and not _rsync_has_open(src, "a_big"):
            pass  # rsync reads a_big for a good fraction of a second: no sleep here
        victim.unlink()
        os.mkfifo(victim)
        runner.join(timeout=240)
        assert not runner.is_alive(), "the run never ended: rsync hangs on the FIFO"
        finished = [e for e in events if isinstance(e, Finished)]
        assert len(finished) == 1, events
        assert finished[0].status == "succeeded", finished[0]
        warned = [e for e in events if isinstance(e, FileWarning) and "FIFO" in e.reason]
        if warned:
            assert warned[0].path == str(victim)
            assert finished[0].warnings >= 1
            sid = finished[0].snapshot_id
            assert sid is not None
            # Left out of this snapshot (a source swapping FIFOs in and out all the
            # time would block every retry); the next run backs it up again.
            assert not (tmp_path / f"d{attempt}" / sid / "z_victim").exists()
            assert (tmp_path / f"d{attempt}" / sid / "a_big").stat().st_size == 512 << 20
            return
    pytest.fail("rsync never opened z_victim after it became a FIFO in 5 attempts")
