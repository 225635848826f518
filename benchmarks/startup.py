"""How long ``tui-backup`` takes to start, against a bare interpreter.

Scripts and cron lines start the program many times a day, and a person
waits for ``job list``. Each command line is started ``--runs`` times,
alternating with a bare ``python -c pass`` of the same interpreter, so load
on a shared machine hits both alike; the medians of wall-clock time and of
CPU time (user + system, from ``wait4``) and their ratio to the bare start
are printed. The target (issue 9): ``--version`` at most 2x a bare start.

Usage::

    /tmp/venv/bin/python benchmarks/startup.py --runs 30
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# An installed program runs from compiled bytecode; a shell that sets this would
# time the compiler on every start instead (it doubled the figures here).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
BARE = [sys.executable, "-c", "pass"]
CLI = [sys.executable, "-m", "tui_backup"]
CASES = {
    "--version": ["--version"],
    "--help": ["--help"],
    "job list (20 jobs)": ["job", "list"],
    "job list --json": ["job", "list", "--json"],
}


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    t0 = os.times().elapsed
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv} exited {proc.returncode}")
    return os.times().elapsed - t0, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="startup-") as work:
        env = {**os.environ, "TUI_BACKUP_HOME": str(Path(work) / "home")}
        for i in range(20):
            src = Path(work) / f"src{i}"
            src.mkdir()
            dest = str(Path(work) / f"dest{i}")
            subprocess.run(
                [*CLI, "job", "add", f"j{i:02d}", "--source", str(src), "--dest", dest],
                env=env,
                check=True,
                capture_output=True,
            )
        timed([*CLI, "job", "list"], env)  # bytecode caches written before timing
        results: dict[str, list[tuple[float, float]]] = {"bare": []}
        for name, argv in CASES.items():
            results[name] = []
            for _ in range(args.runs):
                results["bare"].append(timed(BARE, env))
                results[name].append(timed([*CLI, *argv], env))
        bare_wall = statistics.median(w for w, _ in results["bare"])
        bare_cpu = statistics.median(c for _, c in results["bare"])
        print(f"{sys.executable}, {args.runs} runs each, load {os.getloadavg()[0]:.1f}")
        print(f"{'command':<22} {'wall':>8} {'x bare':>7} {'CPU':>8} {'x bare':>7}")
        for name, samples in results.items():
            wall = statistics.median(w for w, _ in samples)
            cpu = statistics.median(c for _, c in samples)
            print(
                f"{name:<22} {wall * 1000:>6.0f}ms {wall / bare_wall:>6.1f}x "
                f"{cpu * 1000:>6.0f}ms {cpu / max(bare_cpu, 1e-3):>6.1f}x"
            )


if __name__ == "__main__":
    main()
