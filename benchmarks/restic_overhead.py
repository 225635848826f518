"""What the restic engine costs on top of ``restic backup`` itself.

Times the bare tool against the engine's ``run`` on the same tree, with the
same flags (``backup --json --tag tui-backup:<job> --host <host>``), in two
cases: a first backup into an empty repository and a no-change backup into a
repository that already holds one. Runs alternate bare, engine, engine,
bare... so drift of the machine (caches, other load) hits both alike, and
the disk is synced before each timed run; the medians and their ratio are
printed. Repository creation (``restic init``)
happens before the timer in both cases: it is not part of a backup.

The engine is timed in-process (``ResticEngine().run``), which is what the
daemon and the TUI do; an interpreter starting for one CLI run is not the
engine's cost.

Wall-clock medians on a shared machine move by tens of percent from run to
run, so the engine's own work is also measured in CPU time, which other
load does not inflate: the CPU this Python process used during the engine's
runs (reader threads, JSON parsing, progress) next to the CPU restic used
(``RUSAGE_CHILDREN``).

Usage::

    /tmp/venv/bin/python benchmarks/restic_overhead.py --files 20000 --pairs 5
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tui_backup.engines.events import Finished
from tui_backup.engines.restic import ResticEngine
from tui_backup.model import Status, parse_job

JOB = "bench"
CPU: dict[str, list[float]] = {"engine": [], "restic": [], "bare restic": []}
"""CPU seconds per run: the engine's own process, its restic child, and bare restic."""


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def make_tree(root: Path, files: int, per_dir: int = 100) -> None:
    """``files`` small files (100 B .. 4 kB) in directories of ``per_dir``."""
    rng = os.urandom
    for i in range(files):
        d = root / f"d{i // per_dir:04d}"
        if i % per_dir == 0:
            d.mkdir(parents=True)
        (d / f"f{i:06d}.dat").write_bytes(rng(100 + (i * 37) % 4000))


def init(repo: Path, env: dict[str, str]) -> None:
    subprocess.run(
        ["restic", "init"],
        env={**env, "RESTIC_REPOSITORY": str(repo)},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def bare(repo: Path, src: Path, env: dict[str, str]) -> float:
    argv = ["restic", "backup", "--json", "--tag", f"tui-backup:{JOB}"]
    argv += ["--host", socket.gethostname(), "--", str(src)]
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        argv,
        env={**env, "RESTIC_REPOSITORY": str(repo)},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - t0
    CPU["bare restic"].append(_cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - _cpu(kids0))
    return elapsed


def engine(repo: Path, src: Path, password_file: Path) -> float:
    spec = parse_job(
        {
            "name": JOB,
            "sources": [str(src)],
            "destination": str(repo),
            "engine": "restic",
            "env": {"RESTIC_PASSWORD_FILE": str(password_file)},
        },
        f"jobs/{JOB}.yaml",
        JOB,
    )
    events: list[object] = []
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    ResticEngine().run(spec, threading.Event(), events.append)
    elapsed = time.perf_counter() - t0
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU["engine"].append(_cpu(self1) - _cpu(self0))
    CPU["restic"].append(_cpu(kids1) - _cpu(kids0))
    fin = events[-1]
    assert isinstance(fin, Finished) and fin.status == Status.SUCCEEDED, fin
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--pairs", type=int, default=5, help="bare/engine pairs per case")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="restic-bench-", dir=args.workdir))
    try:
        src = work / "src"
        make_tree(src, args.files)
        password_file = work / "password"
        password_file.write_text("benchmark\n")
        env = {**os.environ, "RESTIC_PASSWORD_FILE": str(password_file)}
        env.pop("RESTIC_REPOSITORY", None)
        results: dict[str, dict[str, list[float]]] = {
            "first": {"bare": [], "engine": []},
            "no-change": {"bare": [], "engine": []},
        }
        for i in range(args.pairs):
            # Who goes first alternates too: the second run of a pair would otherwise
            # always pay for the first one's data still being written back to disk.
            order = ("bare", "engine") if i % 2 == 0 else ("engine", "bare")
            for case in ("first", "no-change"):
                for who in order:
                    repo = work / f"repo-{who}-{i}"
                    if case == "first":
                        init(repo, env)
                    os.sync()  # nobody's timed run pays for another's writeback
                    if who == "bare":
                        results[case][who].append(bare(repo, src, env))
                    else:
                        results[case][who].append(engine(repo, src, password_file))
            for who in order:
                shutil.rmtree(work / f"repo-{who}-{i}")
        version = subprocess.run(
            ["restic", "version"], check=False, capture_output=True, text=True
        ).stdout.split()[1]
        print(f"restic {version}, {args.files} files, {args.pairs} pairs, bare/engine alternating")
        print(f"{'case':<10} {'bare median':>12} {'engine median':>14} {'overhead':>9}")
        for case, runs in results.items():
            b = statistics.median(runs["bare"])
            e = statistics.median(runs["engine"])
            print(f"{case:<10} {b:>11.3f}s {e:>13.3f}s {100 * (e / b - 1):>+8.1f}%")
            print(f"  bare:   {' '.join(f'{x:.3f}' for x in runs['bare'])}")
            print(f"  engine: {' '.join(f'{x:.3f}' for x in runs['engine'])}")
        own, tool = sum(CPU["engine"]), sum(CPU["restic"])
        print(
            f"engine's own CPU over its {len(CPU['engine'])} runs: {own:.3f}s "
            f"= {100 * own / tool:.1f}% of restic's {tool:.3f}s CPU"
        )
        alone = sum(CPU["bare restic"])
        print(f"restic's CPU: {alone:.3f}s run bare, {tool:.3f}s run by the engine")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
