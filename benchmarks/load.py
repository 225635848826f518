"""Load: the TUI (headless, Textual's run_test/Pilot) over 200 jobs while 50 really run.

What it measures, in this order (docs/benchmarks.md, "Load"):

1. **Idle**: the app open on the 200 jobs, watching the home, nothing running:
   CPU time of this process over ``--idle-seconds`` (percent of one core) and RSS.
2. **Load**: 50 jobs run at once, for real (the snapshot engine copying one shared
   source of ``--files`` files into 50 destinations), either in a daemon next to the
   TUI (``--where daemon``, the default: how a server runs; the TUI sees the runs
   through the home's files) or inside the TUI's own worker threads (``--where tui``).
   While they run, ``--presses`` keys (``j``/``k``) are sent one at a time:
   - *key-to-screen*: from sending the key until the job table has moved its cursor
     and announced it (``RowHighlighted`` handled), p50/p95/p99/max;
   - *key-to-frame*: from sending the key until the first frame drawn after that;
   - the event loop's CPU and its wait for a CPU (``schedstat``) during each key, and
     the share of the slowest 5 % of keys spent waiting: on a loaded machine the
     tail is the scheduler's, not the app's;
   - *Pilot round trip*: ``await pilot.press`` (also waits until the screen is idle,
     i.e. drawn), p50/p95/p99;
   - *screen updates per second*: the main screen's batched job-table updates;
   - CPU (percent of a core) and RSS of the TUI process (and of the daemon) sampled
     every second.

3. ``--first-render JOBS`` instead: the time from constructing the app to its first
   frame over that many idle jobs, in phases (mount, the core's read, the table
   filled, the first frame), ``--repeat`` times.

``--profile FILE`` writes a cProfile (thread CPU time) of the event loop during the
presses. Targets (issue 12): key p95 at most 50 ms with 50 running; idle CPU at most
1 % of a core. Figures, not assertions: this prints them (and ``--json`` writes them).

    python -m benchmarks.load --work /tmp/tb-load            # daemon runs the 50
    python -m benchmarks.load --work /tmp/tb-load --where tui
    python -m benchmarks.load --first-render 2000 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tui_backup.model.job import parse_job
from tui_backup.store.jobs import JobStore
from tui_backup.store.paths import HOME_ENV, Home

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads) in seconds, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each thread of this process, by Python thread name (or OS tid)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = names.get(int(tid), f"tid-{tid}")
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / TICKS
    return out


def run_queue_ms() -> float:
    """How long this thread has waited for a CPU while runnable, in ms (schedstat)."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
            return int(f.read().split()[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 1e6


@dataclass
class Sampler:
    """Samples CPU (percent of one core) and RSS of some processes once a second."""

    pids: dict[str, int]
    samples: list[dict[str, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _loop(self) -> None:
        t0 = time.monotonic()
        last = {k: (time.monotonic(), self._cpu(p)) for k, p in self.pids.items()}
        while not self._stop.wait(1.0):
            row: dict[str, float] = {"t": round(time.monotonic() - t0, 1)}
            for name, pid in self.pids.items():
                now, cpu = time.monotonic(), self._cpu(pid)
                then, before = last[name]
                row[f"{name}_cpu_pct"] = round(100 * (cpu - before) / (now - then), 1)
                row[f"{name}_rss_mb"] = round(self._rss(pid), 1)
                last[name] = (now, cpu)
            self.samples.append(row)

    @staticmethod
    def _cpu(pid: int) -> float:
        try:
            return cpu_seconds(pid)
        except OSError:
            return 0.0

    @staticmethod
    def _rss(pid: int) -> float:
        try:
            return rss_mb(pid)
        except OSError:
            return 0.0


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, inclusive method."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def _quantiles(ms: list[float]) -> dict[str, float] | None:
    """p50/p95/p99/max and the count of ``ms``; None when empty."""
    if not ms:
        return None
    return {
        "n": len(ms),
        "p50": round(pct(ms, 0.50), 1),
        "p95": round(pct(ms, 0.95), 1),
        "p99": round(pct(ms, 0.99), 1),
        "max": round(max(ms), 1),
    }


def _slow_share(ms: list[float], waits: list[float]) -> float | None:
    """Of the slowest 5 % of key presses, the share of their time spent waiting for a CPU."""
    if not ms:
        return None
    cut = pct(ms, 0.95)
    slow = [(m, w) for m, w in zip(ms, waits, strict=True) if m >= cut]
    return round(sum(w for _, w in slow) / sum(m for m, _ in slow), 2)


def make_home(work: Path, jobs: int, running: int, files: int, where: str) -> Home:
    """A fresh home: ``jobs`` jobs, the first ``running`` of which back up a shared source."""
    if work.exists():
        shutil.rmtree(work)
    home = Home(work / "home")
    home.ensure()
    src = work / "src"
    for i in range(files):
        d = src / f"d{i % 50:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}").write_bytes(os.urandom(4096))
    idle_src = work / "idle-src"
    idle_src.mkdir()
    (work / "bk").mkdir()
    home.config_path.write_text(yaml.safe_dump({"max_concurrent_jobs": running}))
    store = JobStore(home)
    for i in range(jobs):
        name = f"job-{i:03d}"
        busy = i < running
        data: dict[str, Any] = {
            "name": name,
            "sources": [str(src if busy else idle_src)],
            "destination": str(work / "bk" / name),
            "retries": 0,
        }
        if busy:
            # Held at the start until the gate opens, so all of them copy at once.
            gate = work / "gate"
            data["hooks"] = {
                "before": [["sh", "-c", f'while [ ! -e "{gate}" ]; do sleep 0.1; done']]
            }
            if where == "daemon":
                data["schedule"] = "* * * * *"
        store.create(parse_job(data))
    return home


def rewind_slots(home: Home, names: list[str]) -> None:
    """Every busy job's last slot an hour ago: a starting daemon catches each up at once."""
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (home.root / "scheduler-slots.yaml").write_text(yaml.safe_dump(dict.fromkeys(names, hour_ago)))


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from textual.message import Message
    from textual.screen import Screen
    from textual.widgets import DataTable

    from tui_backup.tui.app import BackupApp

    work = Path(args.work)
    print(f"making {args.jobs} jobs and a source of {args.files} files in {work} ...", flush=True)
    home = make_home(work, args.jobs, args.running, args.files, args.where)
    busy = [f"job-{i:03d}" for i in range(args.running)]
    answered: list[tuple[float, float, float]] = []
    """(time, this thread's CPU time, its wait for a CPU) when the table moved its cursor."""

    def hook(message: Message) -> None:
        if isinstance(message, DataTable.RowHighlighted) and message.data_table.id == "jobs":
            answered.append((time.perf_counter(), time.thread_time(), run_queue_ms()))

    start_jobs = busy if args.where == "tui" else ()
    app = BackupApp(home, watch=True, scheduler=False)
    result: dict[str, Any] = {
        "jobs": args.jobs,
        "running": args.running,
        "where": args.where,
        "files_per_run": args.files,
        "python": sys.version.split()[0],
        "load_average_at_start": os.getloadavg(),
    }
    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        main = app.main_screen
        assert main is not None
        while main.jobs.row_count < args.jobs:
            await pilot.pause(0.05)

        # 1. idle
        await pilot.pause(2.0)  # let start-up work settle
        t0, c0 = time.monotonic(), cpu_seconds(os.getpid())
        await asyncio.sleep(args.idle_seconds)
        t1, c1 = time.monotonic(), cpu_seconds(os.getpid())
        result["idle"] = {
            "seconds": round(t1 - t0, 1),
            "cpu_pct_of_a_core": round(100 * (c1 - c0) / (t1 - t0), 2),
            "rss_mb": round(rss_mb(os.getpid()), 1),
        }
        print(f"idle: {result['idle']}", flush=True)

        # 2. load
        redraws: list[float] = []
        apply = main.apply_job_changes

        def counted(pending: Any) -> None:
            redraws.append(time.monotonic())
            apply(pending)

        main.apply_job_changes = counted  # type: ignore[method-assign]
        pids = {"tui": os.getpid()}
        daemon: subprocess.Popen[bytes] | None = None
        if args.where == "daemon":
            rewind_slots(home, busy)
            env = {**os.environ, HOME_ENV: str(home.root)}
            log = open(work / "daemon.log", "wb")  # noqa: SIM115 - closed below
            daemon = subprocess.Popen(
                [sys.executable, "-m", "tui_backup", "daemon", "--max-concurrent",
                 str(args.running)],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
            pids["daemon"] = daemon.pid
        else:
            for name in start_jobs:
                app.manager.start(name)

        def running_now() -> int:
            return int(main.header.running_here + main.header.running_elsewhere)

        t_wait = time.monotonic()
        while running_now() < args.running:
            if time.monotonic() - t_wait > 120:
                raise SystemExit(f"only {running_now()} of {args.running} jobs started")
            await pilot.pause(0.1)
        (work / "gate").touch()  # all 50 start copying now
        print(f"{running_now()} running; pressing {args.presses} keys ...", flush=True)
        sampler = Sampler(pids)
        sampler.start()
        load_started = time.monotonic()
        redraws.clear()
        threads_before = thread_cpu()
        profiler = None
        if args.profile:
            import cProfile

            # CPU time of this thread only (the app's event loop runs here), so a wait
            # for a CPU on a loaded machine is not charged to whatever was running.
            profiler = cProfile.Profile(time.thread_time)
            profiler.enable()
        frames: list[float] = []
        refresh = Screen._compositor_refresh

        def timed_refresh(self: Screen[Any]) -> None:
            refresh(self)
            frames.append(time.perf_counter())

        Screen._compositor_refresh = timed_refresh  # type: ignore[method-assign]
        timings: list[float] = []
        to_frame: list[float] = []
        cpu_per_press: list[float] = []
        wait_per_press: list[float] = []
        sent: list[float] = []
        trips: list[float] = []
        running_during: list[int] = []
        for i in range(args.presses):
            key = "j" if (i // 20) % 2 == 0 else "k"
            answered.clear()
            frames.clear()
            cpu0, wait0 = time.thread_time(), run_queue_ms()
            started = time.perf_counter()
            await pilot.press(key)
            trips.append(time.perf_counter() - started)
            while not answered:
                await pilot.pause(0.001)
            at, cpu1, wait1 = answered[0]
            timings.append(at - started)
            cpu_per_press.append((cpu1 - cpu0) * 1000)
            wait_per_press.append(wait1 - wait0)
            while not any(f > at for f in frames):
                await pilot.pause(0.001)
            to_frame.append(next(f for f in frames if f > at) - started)
            sent.append(started)
            running_during.append(running_now())
        load_seconds = time.monotonic() - load_started
        Screen._compositor_refresh = refresh  # type: ignore[method-assign]
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        threads_after = thread_cpu()
        sampler.stop()
        if daemon is not None:
            daemon.terminate()
            daemon.wait(timeout=120)
            log.close()
        else:
            app.manager.shutdown(stop_running=True, timeout=60)

    ms = [t * 1000 for t in timings]
    trip_ms = [t * 1000 for t in trips]
    tui_cpu = [s["tui_cpu_pct"] for s in sampler.samples]
    tui_rss = [s["tui_rss_mb"] for s in sampler.samples]
    result["load"] = {
        "seconds": round(load_seconds, 1),
        "presses": len(ms),
        "running_min_max_during_presses": [min(running_during), max(running_during)],
        "key_to_screen_ms": {
            "p50": round(pct(ms, 0.50), 1),
            "p95": round(pct(ms, 0.95), 1),
            "p99": round(pct(ms, 0.99), 1),
            "max": round(max(ms), 1),
        },
        "key_to_frame_ms": _quantiles([t * 1000 for t in to_frame]),
        "main_thread_per_key_ms": {
            "cpu": _quantiles(cpu_per_press),
            "waiting_for_a_cpu": _quantiles(wait_per_press),
        },
        "slowest_5pct_share_waiting_for_a_cpu": _slow_share(ms, wait_per_press),
        "key_to_screen_ms_while_all_running": _quantiles(
            [m for m, r in zip(ms, running_during, strict=True) if r >= args.running]
        ),
        "pilot_round_trip_ms": {
            "p50": round(pct(trip_ms, 0.50), 1),
            "p95": round(pct(trip_ms, 0.95), 1),
            "p99": round(pct(trip_ms, 0.99), 1),
        },
        "screen_updates_per_second": round(len(redraws) / load_seconds, 2),
        "thread_cpu_seconds": {
            name: round(cpu - threads_before.get(name, 0.0), 2)
            for name, cpu in sorted(threads_after.items())
            if cpu - threads_before.get(name, 0.0) >= 0.01
        },
        "tui_cpu_pct_median_max": [round(statistics.median(tui_cpu), 1), max(tui_cpu)],
        "tui_rss_mb_first_last_max": [tui_rss[0], tui_rss[-1], max(tui_rss)],
        "samples": sampler.samples,
        "presses_sent_and_ms": [[round(t, 4), round(m, 2)] for t, m in zip(sent, ms, strict=True)],
    }
    if daemon is not None:
        dcpu = [s["daemon_cpu_pct"] for s in sampler.samples]
        result["load"]["daemon_cpu_pct_median_max"] = [round(statistics.median(dcpu), 1), max(dcpu)]
        result["load"]["daemon_rss_mb_max"] = max(s["daemon_rss_mb"] for s in sampler.samples)
    result["load_average_at_end"] = os.getloadavg()
    return result


def make_many(work: Path, jobs: int) -> Home:
    """A fresh home of ``jobs`` idle jobs, never run, half of them scheduled."""
    if work.exists():
        shutil.rmtree(work)
    home = Home(work / "home")
    home.ensure()
    src = work / "src"
    src.mkdir(parents=True)
    (src / "f").write_text("x")
    store = JobStore(home)
    for i in range(jobs):
        data: dict[str, Any] = {
            "name": f"job-{i:04d}",
            "sources": [str(src)],
            "destination": str(work / "bk" / f"job-{i:04d}"),
        }
        if i % 2:
            data["schedule"] = "0 3 * * *"
        store.create(parse_job(data))
    return home


async def first_render(args: argparse.Namespace) -> dict[str, Any]:
    """Time from the app's start to its first frame showing the job list, ``--repeat`` times.

    Phases: *read* (the core's list of every job, in the app's worker: from
    mount until ``JobsLoaded`` is handled), *table* (``show_jobs``: the rows
    filled), *first frame* (the screen drawn after that), and the whole from
    ``run_test`` entered to that frame.
    """
    from textual.screen import Screen

    from tui_backup.tui.app import BackupApp
    from tui_backup.tui.screens.main import MainScreen

    work = Path(args.work)
    load_at_start = os.getloadavg()
    print(f"making {args.first_render} jobs in {work} ...", flush=True)
    home = make_many(work, args.first_render)
    marks: dict[str, float] = {}
    show_jobs = MainScreen.show_jobs
    refresh = Screen._compositor_refresh

    def timed_show(self: MainScreen, views: tuple[Any, ...]) -> None:
        marks.setdefault("loaded", time.perf_counter())
        show_jobs(self, views)
        marks.setdefault("shown", time.perf_counter())

    def timed_refresh(self: Screen[Any]) -> None:
        refresh(self)
        if "shown" in marks and "frame" not in marks:
            marks["frame"] = time.perf_counter()

    MainScreen.show_jobs = timed_show  # type: ignore[method-assign]
    Screen._compositor_refresh = timed_refresh  # type: ignore[method-assign]
    rounds: list[dict[str, float]] = []
    try:
        for _ in range(args.repeat):
            marks.clear()
            started = time.perf_counter()
            app = BackupApp(home, watch=False, scheduler=False)
            async with app.run_test(size=(120, 40)) as pilot:
                mounted = time.perf_counter()
                while "frame" not in marks:
                    if time.perf_counter() - started > 300:
                        raise SystemExit("no frame with the job list within 300 s")
                    await pilot.pause(0.01)
                main = app.main_screen
                assert main is not None and main.jobs.row_count == args.first_render
            rounds.append(
                {
                    "until_mounted_s": round(mounted - started, 3),
                    "read_s": round(marks["loaded"] - mounted, 3),
                    "table_s": round(marks["shown"] - marks["loaded"], 3),
                    "first_frame_s": round(marks["frame"] - marks["shown"], 3),
                    "total_s": round(marks["frame"] - started, 3),
                }
            )
            print(rounds[-1], flush=True)
    finally:
        MainScreen.show_jobs = show_jobs  # type: ignore[method-assign]
        Screen._compositor_refresh = refresh  # type: ignore[method-assign]
    totals = [r["total_s"] for r in rounds]
    return {
        "jobs": args.first_render,
        "python": sys.version.split()[0],
        "load_average_at_start": load_at_start,
        "rounds": rounds,
        "total_s_median": round(statistics.median(totals), 3),
        "load_average_at_end": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/tb-load", help="scratch directory (recreated)")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--running", type=int, default=50)
    parser.add_argument("--files", type=int, default=3000, help="files in the shared source")
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--where", choices=("daemon", "tui"), default="daemon")
    parser.add_argument("--json", help="also write the figures (with samples) to this file")
    parser.add_argument(
        "--profile", help="cProfile the app's event loop while the keys are pressed, to this file"
    )
    parser.add_argument(
        "--first-render",
        type=int,
        metavar="JOBS",
        help="instead: time the TUI's first frame over this many jobs (--repeat times)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.first_render:
        figures = asyncio.run(first_render(args))
        print(json.dumps(figures, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2))
        shutil.rmtree(args.work, ignore_errors=True)
        return
    result = asyncio.run(measure(args))
    shown = {k: v for k, v in result.items() if k != "load"}
    shown["load"] = {
        k: v for k, v in result["load"].items() if k not in ("samples", "presses_sent_and_ms")
    }
    print(json.dumps(shown, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    if not args.json:
        shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
