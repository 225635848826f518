"""Soak: backup cycles for a chosen time in one long-lived process; does anything grow?

One ``JobManager`` (the core the daemon and the TUI use, with a subscriber as the
daemon's log has) runs the jobs one after another, over and over, for ``--minutes``
(default 10): each run backs up a small tree with a few files changed, then applies
``keep_last: 5`` retention. After every run it samples this process's RSS, open file
descriptors and threads; at the end it fits a least-squares line to each against the
run count (over all runs, and over the second half, after warm-up) and reports the
growth per 1,000 runs. Then it shuts the manager down and checks that nothing was
left behind: no ``.partial`` snapshot, no temporary files in the home, no child
processes, no state left ``running``, threads and descriptors back to where they
started, one history row per run.

Target (issue 12): RSS growth at most 2 MB per 1,000 runs.

    python -m benchmarks.soak --minutes 10 --work /tmp/tb-soak
    python -m benchmarks.soak --minutes 60 --engines snapshot,rsync,restic --json soak.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 1e6


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def os_threads() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def children() -> list[int]:
    kids: list[int] = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                kids += [int(k) for k in f.read().split()]
        except OSError:
            pass
    return kids


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope and intercept of ys over xs."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0, my
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return slope, my - slope * mx


def make_home(work: Path, engines: list[str], rng: random.Random) -> tuple[Any, list[str], Path]:
    from tui_backup.model.job import parse_job
    from tui_backup.store.jobs import JobStore
    from tui_backup.store.paths import Home

    if work.exists():
        shutil.rmtree(work)
    home = Home(work / "home")
    home.ensure()
    src = work / "src"
    for i in range(200):
        d = src / f"d{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}").write_bytes(rng.randbytes(rng.randint(100, 8000)))
    (work / "bk").mkdir()
    store = JobStore(home)
    names = []
    for engine in engines:
        name = f"soak-{engine}"
        data: dict[str, Any] = {
            "name": name,
            "engine": engine,
            "sources": [str(src)],
            "destination": str(work / "bk" / name),
            "retention": {"keep_last": 5},
            "retries": 0,
        }
        if engine == "restic":
            pw = work / "restic-password"
            pw.write_text("soak\n")
            data["env"] = {"RESTIC_PASSWORD_FILE": str(pw)}
        store.create(parse_job(data))
        names.append(name)
    return home, names, src


def soak(args: argparse.Namespace) -> dict[str, Any]:
    from tui_backup.core.manager import JobManager
    from tui_backup.engines.registry import get_engine

    rng = random.Random(args.seed)
    work = Path(args.work)
    engines = args.engines.split(",")
    home, names, src = make_home(work, engines, rng)
    manager = JobManager(home, runner="daemon")
    for name in names:
        if "restic" in name:
            get_engine("restic").init(manager.get_spec(name))
    events = [0]

    def subscriber(_event: object) -> None:
        events[0] += 1

    unsubscribe = manager.subscribe(subscriber)
    files = sorted(p for p in src.rglob("*") if p.is_file())
    # Warm-up: one run of each job before the baseline is taken.
    for name in names:
        manager.start(name)
        manager.wait(name)
    gc.collect()
    if args.tracemalloc:
        tracemalloc.start(10)
        first = tracemalloc.take_snapshot()
    base = {
        "rss_mb": rss_mb(),
        "fds": fds(),
        "threads": os_threads(),
        "py_threads": threading.active_count(),
    }
    samples: list[dict[str, float]] = []
    statuses: dict[str, int] = {}
    started = time.monotonic()
    deadline = started + args.minutes * 60
    runs = 0
    while time.monotonic() < deadline:
        for p in rng.sample(files, 5):  # a few changes per cycle
            p.write_bytes(rng.randbytes(rng.randint(100, 8000)))
        for name in names:
            manager.start(name)
            record = manager.wait(name, timeout=600)
            status = str(record.status) if record else "timeout"
            statuses[status] = statuses.get(status, 0) + 1
            runs += 1
        samples.append(
            {
                "run": runs,
                "t": round(time.monotonic() - started, 1),
                "rss_mb": round(rss_mb(), 2),
                "fds": fds(),
                "threads": os_threads(),
                "load1": round(os.getloadavg()[0], 2),
            }
        )
    elapsed = time.monotonic() - started
    top: list[str] = []
    if args.tracemalloc:
        gc.collect()
        diff = tracemalloc.take_snapshot().compare_to(first, "traceback")
        for stat in diff[:8]:
            where = " <- ".join(
                f"{Path(f.filename).name}:{f.lineno}" for f in list(stat.traceback)[:4]
            )
            top.append(f"{stat.size_diff / 1e3:+.1f} kB in {stat.count_diff:+d} blocks: {where}")
        tracemalloc.stop()
    result: dict[str, Any] = {
        "minutes": round(elapsed / 60, 1),
        "engines": engines,
        "runs": runs,
        "runs_per_minute": round(runs / (elapsed / 60), 1),
        "statuses": statuses,
        "events_delivered": events[0],
        "baseline": base,
        "last": samples[-1] if samples else None,
        "load_average_1min": {
            "min": min((s["load1"] for s in samples), default=None),
            "median": sorted(s["load1"] for s in samples)[len(samples) // 2] if samples else None,
            "max": max((s["load1"] for s in samples), default=None),
        },
    }
    growth: dict[str, Any] = {}
    for key in ("rss_mb", "fds", "threads"):
        xs = [float(s["run"]) for s in samples]
        ys = [float(s[key]) for s in samples]
        half = len(xs) // 2
        slope_all, icpt_all = fit(xs, ys) if len(xs) > 1 else (0.0, 0.0)
        slope_2nd, _ = fit(xs[half:], ys[half:]) if len(xs) - half > 1 else (0.0, 0.0)
        ts = [float(s["t"]) for s in samples]
        slope_t, _ = fit(ts, ys) if len(ts) > 1 else (0.0, 0.0)
        growth[key] = {
            "line_over_runs": f"{icpt_all:.3f} + {slope_all:.6f} * run",
            "per_hour": round(slope_t * 3600, 3),
            "per_1000_runs_all": round(slope_all * 1000, 3),
            "per_1000_runs_second_half": round(slope_2nd * 1000, 3),
            "min": min(ys),
            "max": max(ys),
        }
    result["growth"] = growth
    if top:
        result["tracemalloc_top_growth"] = top

    # Nothing left behind.
    unsubscribe()
    manager.shutdown(stop_running=True, timeout=60)
    gc.collect()
    left: dict[str, Any] = {}
    left["partial_snapshots"] = [str(p) for p in (work / "bk").rglob("*.partial") if p.is_dir()]
    left["temp_files_in_home"] = [
        str(p.relative_to(home.root)) for p in home.root.rglob("*") if p.name.endswith(".tmp")
    ]
    left["child_processes"] = children()
    from tui_backup.store.state import StateStore

    states = StateStore(home)
    left["states_active"] = [n for n in names if states.read(n).status.is_active]
    history_rows = sum(len(manager_history(home, n)) for n in names)
    left["history_rows"] = history_rows
    left["runs_including_warm_up"] = runs + len(names)
    left["threads_after_shutdown"] = threading.active_count()
    left["fds_after_shutdown"] = fds()
    left["fds_at_baseline"] = base["fds"]
    snapshots = {n: len(os.listdir(work / "bk" / n)) for n in names if "restic" not in n}
    left["snapshot_dir_entries"] = snapshots  # keep_last 5 (+ latest and metadata)
    result["left_behind"] = left
    result["samples"] = samples
    return result


def manager_history(home: Any, name: str) -> list[Any]:
    """Every history row of ``name``, read by a fresh manager as another process would."""
    from tui_backup.core.manager import JobManager

    m = JobManager(home, runner="cli", recover=False)
    try:
        return m.history(name, limit=1_000_000)
    finally:
        m.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--engines", default="snapshot,rsync", help="comma-separated")
    parser.add_argument("--work", default="/tmp/tb-soak", help="scratch directory (recreated)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--json", help="also write the figures (with samples) to this file")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also name the allocation sites that grew most (slower; RSS includes its cost)",
    )
    args = parser.parse_args()
    result = soak(args)
    shown = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(shown, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
