"""Our snapshot engine side by side with ``rsync``, ``cp -a``, ``cp -al`` and ``b2sum -c``.

Usage::

    python -m benchmarks.snapshot_vs_rsync --dataset S --reps 3

Scenarios, each repeated ``--reps`` times in A B A B order, every run into a
fresh directory (BENCHMARKING.md pitfalls 1 and 2), after one untimed warm-up:

- ``first``: a full first snapshot; ours vs ``rsync -a``, ``rsync -aHAX``
  (like for like: ours keeps xattrs, ACLs and hard links) and ``cp -a``.
- ``nochange``: an incremental with nothing changed; ours vs
  ``rsync -a --link-dest``, ``rsync -aHAX --link-dest`` and ``cp -al`` (the
  floor of any link farm).
- ``change1``: 1% of the files rewritten before each repetition (a different
  1% each time); each tool links against its own previous result.
- ``verify``: ours on the newest snapshot vs ``b2sum -l 256 -c`` on the same
  files (the list written from our manifest, untimed: the same BLAKE2b-256).
- ``restore``: a whole restore of the newest snapshot vs ``cp -a`` of it.

Ours runs in a subprocess of the real interpreter (start-up counted, like
rsync's; :mod:`benchmarks.snapshot_op`) that reports its peak RSS. Medians of
wall time, ratios, and the median CPU time (user + system of the child, less
sensitive to other load on the machine) are printed as a Markdown table; the
work directory is deleted at the end unless ``--no-cleanup`` (deleting many
files slows the file creation of a benchmark that follows soon after:
BENCHMARKING.md pitfall 1).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from benchmarks.datasets import DATASETS, change_fraction, generate
from benchmarks.snapshot_scale import b2sum_list

Runner = Callable[[str], float]
CPU: dict[str, list[float]] = {}
"""Child CPU seconds of every timed command, by the label _timed_cpu was given."""


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class Bench:
    def __init__(self, work: str, dataset: str) -> None:
        self.work = work
        self.src = os.path.join(work, f"src-{dataset}")
        self.ours_dest = os.path.join(work, "ours")
        self.counter = 0
        self.rss: list[int] = []
        self.rsync_prev = ""
        self.hax_prev = ""
        self.cp_prev = ""
        self.last_cpu = 0.0
        self.last_snapshot = ""

    def fresh(self, tag: str) -> str:
        self.counter += 1
        return os.path.join(self.work, f"{tag}-{self.counter:03d}")

    def ours(self, dest: str | None = None, op: str = "run", *extra: str) -> float:
        cmd = [sys.executable, "-m", "benchmarks.snapshot_op", op, self.src,
               dest or self.ours_dest, *extra]  # fmt: skip
        cpu0 = _children_cpu()
        start = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        self.last_cpu = _children_cpu() - cpu0
        result = json.loads(out.stdout.strip().splitlines()[-1])
        if result["status"] not in ("succeeded", "ok"):
            raise SystemExit(f"our {op} failed: {result}")
        if op == "run":
            self.last_snapshot = result["snapshot"]
        self.rss.append(int(result["maxrss_kb"]))
        return elapsed

    def ours_verify(self) -> float:
        return self.ours(None, "verify")

    def ours_restore(self) -> float:
        return self.ours(None, "restore", "--target", self.fresh("oursrestore"))

    def b2sum_check(self, listing: str) -> float:
        snap = os.path.join(self.ours_dest, self.last_snapshot)
        return _timed(["b2sum", "-l", "256", "--quiet", "-c", listing], cwd=snap)

    def cp_restore(self) -> float:
        snap = os.path.join(self.ours_dest, self.last_snapshot)
        return _timed(["cp", "-a", snap, self.fresh("cprestore")])

    def ours_fresh(self) -> float:
        return self.ours(self.fresh("oursfirst"))

    def rsync_first(self) -> float:
        return _timed(["rsync", "-a", self.src + "/", self.fresh("rsync") + "/"])

    def rsync_hax_first(self) -> float:
        return _timed(["rsync", "-aHAX", self.src + "/", self.fresh("rsynchax") + "/"])

    def rsync_hax_link(self) -> float:
        dest = self.fresh("rsynchax")
        took = _timed(
            ["rsync", "-aHAX", f"--link-dest={self.hax_prev}", self.src + "/", dest + "/"]
        )
        self.hax_prev = dest
        return took

    def cp_first(self) -> float:
        return _timed(["cp", "-a", self.src, self.fresh("cp")])

    def rsync_link(self) -> float:
        dest = self.fresh("rsync")
        took = _timed(["rsync", "-a", f"--link-dest={self.rsync_prev}", self.src + "/", dest + "/"])
        self.rsync_prev = dest
        return took

    def cp_link(self) -> float:
        dest = self.fresh("cpal")
        took = _timed(["cp", "-al", self.cp_prev, dest])
        self.cp_prev = dest
        return took


_last_cpu = [0.0]


def _timed(cmd: list[str], cwd: str | None = None) -> float:
    cpu0 = _children_cpu()
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=cwd)
    took = time.perf_counter() - start
    _last_cpu[0] = _children_cpu() - cpu0
    return took


def _alternate(
    bench: Bench,
    scenario: str,
    reps: int,
    runners: dict[str, Runner],
    before: Callable[[int], None] | None = None,
) -> dict[str, list[float]]:
    """Run each runner ``reps`` times, interleaved A B C A B C; return name -> times.

    The CPU time of each run goes to ``CPU[(scenario, name)]``.
    """
    times: dict[str, list[float]] = {name: [] for name in runners}
    for rep in range(reps):
        if before is not None:
            before(rep)
        for name, run in runners.items():
            times[name].append(run(""))
            cpu = bench.last_cpu if name == "ours" else _last_cpu[0]
            CPU.setdefault(f"{scenario}/{name}", []).append(cpu)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=DATASETS, default="S")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--work", default="/tmp/tui-backup-bench")
    parser.add_argument("--keep-source", action="store_true", help="keep the generated tree")
    parser.add_argument(
        "--no-cleanup", action="store_true", help="leave every tree in --work (delete it later)"
    )
    args = parser.parse_args()

    os.makedirs(args.work, exist_ok=True)
    load_start = _load()
    bench = Bench(args.work, args.dataset)
    if not os.path.isdir(bench.src):
        print(f"generating dataset {args.dataset} in {bench.src} ...", file=sys.stderr)
        files, total = generate(args.dataset, bench.src)
        print(f"  {files} files, {total / 1e9:.2f} GB", file=sys.stderr)
    subprocess.run(["sync"], check=True)

    # Warm-up (untimed): page cache, memory, and the bases for the incrementals.
    bench.ours()
    bench.rsync_prev = bench.fresh("rsync")
    _timed(["rsync", "-a", bench.src + "/", bench.rsync_prev + "/"])
    bench.hax_prev = bench.fresh("rsynchax")
    _timed(["rsync", "-aHAX", bench.src + "/", bench.hax_prev + "/"])
    bench.cp_prev = bench.fresh("cpal")
    _timed(["cp", "-al", bench.rsync_prev, bench.cp_prev])
    bench.rss.clear()

    rows: list[tuple[str, str, list[float]]] = []
    first = _alternate(
        bench,
        "first",
        args.reps,
        {
            "ours": lambda _: bench.ours_fresh(),
            "rsync -a": lambda _: bench.rsync_first(),
            "rsync -aHAX": lambda _: bench.rsync_hax_first(),
            "cp -a": lambda _: bench.cp_first(),
        },
    )
    rss_first = max(bench.rss)
    rows += [("first", name, t) for name, t in first.items()]
    nochange = _alternate(
        bench,
        "no change",
        args.reps,
        {
            "ours": lambda _: bench.ours(),
            "rsync -a --link-dest": lambda _: bench.rsync_link(),
            "rsync -aHAX --link-dest": lambda _: bench.rsync_hax_link(),
            "cp -al": lambda _: bench.cp_link(),
        },
    )
    rows += [("no change", name, t) for name, t in nochange.items()]
    change = _alternate(
        bench,
        "1% changed",
        args.reps,
        {
            "ours": lambda _: bench.ours(),
            "rsync -a --link-dest": lambda _: bench.rsync_link(),
            "rsync -aHAX --link-dest": lambda _: bench.rsync_hax_link(),
            "cp -al": lambda _: bench.cp_link(),
        },
        before=lambda rep: change_fraction(bench.src, 0.01, seed=100 + rep) and None,
    )
    rows += [("1% changed", name, t) for name, t in change.items()]
    rss_runs = max(bench.rss)
    bench.rss.clear()
    listing = os.path.join(args.work, "b2sums")
    manifest = os.path.join(bench.ours_dest, ".tui-backup", f"{bench.last_snapshot}.manifest.gz")
    b2sum_list(manifest, listing)
    verify = _alternate(
        bench,
        "verify",
        args.reps,
        {"ours": lambda _: bench.ours_verify(), "b2sum -c": lambda _: bench.b2sum_check(listing)},
    )
    rows += [("verify", name, t) for name, t in verify.items()]
    rss_verify = max(bench.rss)
    bench.rss.clear()
    restore = _alternate(
        bench,
        "restore",
        args.reps,
        {"ours": lambda _: bench.ours_restore(), "cp -a": lambda _: bench.cp_restore()},
    )
    rows += [("restore", name, t) for name, t in restore.items()]
    rss_restore = max(bench.rss)

    print(f"\n### Dataset {args.dataset} ({args.reps} repetitions, medians)\n")
    print("| scenario | command | median s | runs s | ours / this | median CPU s |")
    print("|---|---|---:|---|---:|---:|")
    medians = {(s, n): statistics.median(t) for s, n, t in rows}
    for scenario, name, t in rows:
        ours = medians[(scenario, "ours")]
        ratio = "" if name == "ours" else f"{ours / medians[(scenario, name)]:.2f}"
        runs = ", ".join(f"{x:.2f}" for x in t)
        cpu = statistics.median(CPU[f"{scenario}/{name}"])
        print(
            f"| {scenario} | {name} | {medians[(scenario, name)]:.2f} | {runs} | {ratio} "
            f"| {cpu:.2f} |"
        )
    print(
        f"\nPeak RSS of our engine: first snapshot {rss_first / 1024:.0f} MB, "
        f"incrementals {rss_runs / 1024:.0f} MB, verify {rss_verify / 1024:.0f} MB, "
        f"restore {rss_restore / 1024:.0f} MB; load average {load_start} at start, "
        f"{_load()} at end"
    )

    if args.no_cleanup:
        print(f"\n(trees left in {args.work})")
        return
    # rm -rf, not shutil.rmtree: as fast as it gets, and no recursion limit.
    for name in os.listdir(args.work):
        if not (name.startswith("src-") and args.keep_source):
            subprocess.run(["rm", "-rf", os.path.join(args.work, name)], check=True)
    if not args.keep_source:
        subprocess.run(["rm", "-rf", args.work], check=True)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
