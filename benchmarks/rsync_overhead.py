"""What the rsync engine costs on top of ``rsync`` itself (issue 8 item 7: at most 3 %).

Times bare rsync against the engine's ``run`` on the same tree with the same
flags (``-a --numeric-ids --info=progress2,stats2 --mkpath
--checksum-choice=md5 --out-format=...`` and ``--link-dest`` to the previous
snapshot), in two cases: a first backup into an empty destination and a
no-change backup next to one snapshot. The tree is ``--files`` small files
(100 B .. 4 kB, 100 per directory) plus ``--large`` files of ``--large-mb``
MiB. Runs alternate bare, engine, engine, bare... so drift of the machine
hits both alike; the disk is synced before each timed run; medians and
ratios are printed.

The engine is timed in-process (``RsyncEngine().run``), as the daemon and
the TUI run it; an interpreter starting for one CLI run is not the engine's
cost. Wall-clock medians on a shared machine move by tens of percent, so
CPU time is measured too: this process's own CPU during the engine's runs
(the engine's Python: listing the snapshot, the manifest, progress) plus
its rsync children, against bare rsync's CPU.

Usage::

    /tmp/venv/bin/python benchmarks/rsync_overhead.py --files 20000 --pairs 5
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tui_backup.engines.events import Finished
from tui_backup.engines.rsync import RsyncEngine
from tui_backup.engines.rsync.digests import CHECKSUM_CHOICE, OUT_FORMAT
from tui_backup.engines.rsync.fidelity import preserve_flags
from tui_backup.model import Status, parse_job

JOB = "bench"
CASES = ("first", "no-change")


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def make_tree(root: Path, files: int, large: int, large_mb: int, per_dir: int = 100) -> None:
    """``files`` small files (100 B .. 4 kB) in directories of ``per_dir``, and
    ``large`` files of ``large_mb`` MiB at the top."""
    for i in range(files):
        d = root / f"d{i // per_dir:04d}"
        if i % per_dir == 0:
            d.mkdir(parents=True)
        (d / f"f{i:06d}.dat").write_bytes(os.urandom(100 + (i * 37) % 4000))
    for i in range(large):
        (root / f"large{i}.bin").write_bytes(os.urandom(large_mb << 20))


def spec_for(src: Path, dest: Path) -> object:
    data = {"name": JOB, "sources": [str(src)], "destination": str(dest), "engine": "rsync"}
    return parse_job(data, f"jobs/{JOB}.yaml", JOB)


def bare_argv(src: Path, target: Path, previous: Path | None) -> list[str]:
    """The engine's rsync call for a one-directory source, word for word."""
    spec = spec_for(src, target.parent)
    argv = ["rsync", "-a", *preserve_flags(spec.preserve), "--numeric-ids"]  # type: ignore[attr-defined]
    argv += ["--info=progress2,stats2", "--mkpath", CHECKSUM_CHOICE, OUT_FORMAT]
    if previous is not None:
        argv.append(f"--link-dest={previous}")
    return [*argv, "--", f"{src}/", f"{target}/"]


def bare(src: Path, dest: Path, name: str, previous: str | None) -> tuple[float, float]:
    """(wall, CPU) of bare rsync into ``dest/name``, its output read and thrown away."""
    argv = bare_argv(src, dest / name, dest / previous if previous else None)
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    return wall, _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - _cpu(kids0)


def engine(src: Path, dest: Path, profile: cProfile.Profile | None) -> tuple[float, float, float]:
    """(wall, CPU of this process, CPU of its rsync) of one engine run."""
    events: list[object] = []
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    if profile is not None:
        profile.enable()
    RsyncEngine().run(spec_for(src, dest), threading.Event(), events.append)  # type: ignore[arg-type]
    if profile is not None:
        profile.disable()
    wall = time.perf_counter() - t0
    own = _cpu(resource.getrusage(resource.RUSAGE_SELF)) - _cpu(self0)
    kids = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - _cpu(kids0)
    fin = events[-1]
    assert isinstance(fin, Finished) and fin.status == Status.SUCCEEDED, fin
    return wall, own, kids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--large", type=int, default=4, help="large files besides the small")
    parser.add_argument("--large-mb", type=int, default=25)
    parser.add_argument("--pairs", type=int, default=5, help="bare/engine pairs per case")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--profile", action="store_true", help="cProfile the engine's runs")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rsync-bench-", dir=args.workdir))
    profiles = {case: cProfile.Profile() for case in CASES} if args.profile else {}
    wall: dict[str, dict[str, list[float]]] = {c: {"bare": [], "engine": []} for c in CASES}
    cpu: dict[str, dict[str, list[float]]] = {c: {"bare": [], "engine": []} for c in CASES}
    own: dict[str, list[float]] = {c: [] for c in CASES}
    try:
        src = work / "src"
        make_tree(src, args.files, args.large, args.large_mb)
        for i in range(args.pairs):
            order = ("bare", "engine") if i % 2 == 0 else ("engine", "bare")
            for case in CASES:
                for who in order:
                    dest = work / f"dest-{who}-{i}"
                    os.sync()  # nobody's timed run pays for another's writeback
                    if who == "bare":
                        previous = "s1" if case == "no-change" else None
                        name = "s2" if case == "no-change" else "s1"
                        w, c = bare(src, dest, name, previous)
                    else:
                        w, o, k = engine(src, dest, profiles.get(case))
                        c = o + k
                        own[case].append(o)
                    wall[case][who].append(w)
                    cpu[case][who].append(c)
            for who in order:
                shutil.rmtree(work / f"dest-{who}-{i}")
        version = subprocess.run(
            ["rsync", "--version"], check=False, capture_output=True, text=True
        ).stdout.split()[2]
        print(
            f"rsync {version}, {args.files} small files + {args.large} x {args.large_mb} MiB, "
            f"{args.pairs} pairs, bare/engine alternating"
        )
        print(f"{'case':<10} {'':>5} {'bare median':>12} {'engine median':>14} {'ratio':>7}")
        for case in CASES:
            for what, table in (("wall", wall), ("CPU", cpu)):
                b = statistics.median(table[case]["bare"])
                e = statistics.median(table[case]["engine"])
                print(f"{case:<10} {what:>5} {b:>11.3f}s {e:>13.3f}s {e / b:>7.3f}")
                print(f"    bare:   {' '.join(f'{x:.3f}' for x in table[case]['bare'])}")
                print(f"    engine: {' '.join(f'{x:.3f}' for x in table[case]['engine'])}")
            mine = statistics.median(own[case])
            bare_cpu = statistics.median(cpu[case]["bare"])
            print(
                f"    engine's own (Python) CPU: {mine:.3f}s median = "
                f"{100 * mine / bare_cpu:.1f}% of bare rsync's CPU"
            )
        for case, profile in profiles.items():
            print(f"--- profile of the engine's {case} runs (cumulative) ---")
            pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
