"""What a whole ``tui-backup run`` costs on top of the bare tool it drives.

``benchmarks/restic_overhead.py`` times the restic engine in process, as the
daemon and the TUI run it. A person or a cron line runs ``tui-backup run JOB``
instead: a new interpreter, its imports, the home (job file, state, lock,
SQLite history) and then the engine. This benchmark times that whole process
against the bare tool with the flags the engine passes, on the same tree:

- restic: ``restic backup --json --tag tui-backup:<job> --host <host>`` vs
  ``tui-backup run <job>`` on a restic job (first backup into an empty
  repository, then a no-change backup);
- rsync: ``rsync -a --numeric-ids --no-inc-recursive [--link-dest]`` into a
  new directory vs ``tui-backup run <job>`` on an rsync job. The rsync engine
  also writes a manifest (a hash of every new file) so that ``verify`` can
  check the snapshot: that is work bare rsync does not do, reported as it is.

Runs alternate bare, tui-backup, tui-backup, bare... with a ``sync`` before
each, and report wall-clock medians. Each child's CPU (user + system, its
own children included) comes from ``wait4``: CPU is what other load on a
shared machine does not inflate, so the CPU ratio is the figure to trust here.
Repository creation and job set-up happen before the timer.

Usage::

    /tmp/venv/bin/python benchmarks/cli_overhead.py --files 20000 --pairs 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# An installed program runs from compiled bytecode; a shell that sets this would
# time the compiler on every start instead (it doubled the figures here).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

from benchmarks.restic_overhead import make_tree

JOB = "bench"
CLI = [sys.executable, "-m", "tui_backup"]


@dataclass
class Samples:
    """Wall-clock and CPU seconds of one side of one case."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``argv``; its wall-clock seconds and the CPU seconds of it and its children."""
    os.sync()  # nobody's timed run pays for another's writeback
    t0 = os.times().elapsed
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = os.times().elapsed - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]}... exited {proc.returncode}: {stderr[-400:]}")
    return elapsed, usage.ru_utime + usage.ru_stime


def add_job(home: Path, engine: str, src: Path, dest: Path, extra: list[str]) -> None:
    env = {**os.environ, "TUI_BACKUP_HOME": str(home)}
    argv = [*CLI, "job", "add", JOB, "--engine", engine, "--source", str(src)]
    argv += ["--dest", str(dest), *extra]
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)


def restic_case(work: Path, src: Path, pairs: int) -> dict[str, dict[str, Samples]]:
    password = work / "password"
    password.write_text("benchmark\n")
    env = {**os.environ, "RESTIC_PASSWORD_FILE": str(password)}
    env.pop("RESTIC_REPOSITORY", None)
    bare_argv = ["restic", "backup", "--json", "--tag", f"tui-backup:{JOB}"]
    bare_argv += ["--host", socket.gethostname(), "--", str(src)]
    out = {c: {"bare": Samples(), "tui-backup": Samples()} for c in ("first", "no-change")}
    for i in range(pairs):
        order = ("bare", "tui-backup") if i % 2 == 0 else ("tui-backup", "bare")
        homes = {}
        for who in order:
            repo = work / f"repo-{who}-{i}"
            subprocess.run(
                ["restic", "init"],
                env={**env, "RESTIC_REPOSITORY": str(repo)},
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if who == "tui-backup":
                home = work / f"home-{i}"
                add_job(home, "restic", src, repo, ["--password-file", str(password)])
                homes[who] = home
        for case in ("first", "no-change"):
            for who in order:
                repo = work / f"repo-{who}-{i}"
                if who == "bare":
                    sample = timed(bare_argv, {**env, "RESTIC_REPOSITORY": str(repo)})
                else:
                    run_env = {**os.environ, "TUI_BACKUP_HOME": str(homes[who])}
                    sample = timed([*CLI, "run", JOB], run_env)
                out[case][who].wall.append(sample[0])
                out[case][who].cpu.append(sample[1])
        for who in order:
            shutil.rmtree(work / f"repo-{who}-{i}")
        shutil.rmtree(homes["tui-backup"])
    return out


def rsync_case(work: Path, src: Path, pairs: int) -> dict[str, dict[str, Samples]]:
    flags = ["rsync", "-a", "--numeric-ids", "--no-inc-recursive"]
    out = {c: {"bare": Samples(), "tui-backup": Samples()} for c in ("first", "no-change")}
    for i in range(pairs):
        order = ("bare", "tui-backup") if i % 2 == 0 else ("tui-backup", "bare")
        home = work / f"home-{i}"
        dest = work / f"rsync-{i}"
        dest.mkdir()
        add_job(home, "rsync", src, dest / "engine", [])
        for case in ("first", "no-change"):
            for who in order:
                if who == "bare":
                    target = dest / f"bare-{case}"
                    link = [f"--link-dest={dest / 'bare-first'}"] if case == "no-change" else []
                    sample = timed([*flags, *link, "--", f"{src}/", str(target)], dict(os.environ))
                else:
                    run_env = {**os.environ, "TUI_BACKUP_HOME": str(home)}
                    sample = timed([*CLI, "run", JOB], run_env)
                out[case][who].wall.append(sample[0])
                out[case][who].cpu.append(sample[1])
        subprocess.run(["rm", "-rf", str(dest), str(home)], check=True)
    return out


def report(tool: str, results: dict[str, dict[str, Samples]]) -> None:
    print(f"\n{tool}: {'case':<10} {'bare':>8} {'tui-backup':>11} {'wall':>8} {'CPU':>8}")
    for case, sides in results.items():
        bare, ours = sides["bare"], sides["tui-backup"]
        bw, ow = statistics.median(bare.wall), statistics.median(ours.wall)
        bc, oc = statistics.median(bare.cpu), statistics.median(ours.cpu)
        print(
            f"{'':<{len(tool) + 2}}{case:<10} {bw:>7.3f}s {ow:>10.3f}s "
            f"{100 * (ow / bw - 1):>+7.1f}% {100 * (oc / bc - 1):>+7.1f}%"
        )
        print(f"    wall bare: {' '.join(f'{x:.2f}' for x in bare.wall)}")
        print(f"    wall ours: {' '.join(f'{x:.2f}' for x in ours.wall)}")
        print(f"    cpu  bare: {' '.join(f'{x:.2f}' for x in bare.cpu)}")
        print(f"    cpu  ours: {' '.join(f'{x:.2f}' for x in ours.cpu)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--pairs", type=int, default=5, help="bare/tui-backup pairs per case")
    parser.add_argument("--tools", default="restic,rsync", help="comma-separated")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cli-overhead-", dir=args.workdir))
    try:
        src = work / "src"
        make_tree(src, args.files)
        print(f"{args.files} files, {args.pairs} pairs, load {os.getloadavg()[0]:.1f}")
        tools = args.tools.split(",")
        if "restic" in tools:
            report("restic", restic_case(work, src, args.pairs))
        if "rsync" in tools:
            report("rsync", rsync_case(work, src, args.pairs))
        print(f"load at the end {os.getloadavg()[0]:.1f}")
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
