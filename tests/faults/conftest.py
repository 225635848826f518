"""The fault-injection rig: a real home, real ``python -m tui_backup`` processes, and the
four checks every fault case ends with (docs/reliability.md):

1. no committed data lost (every snapshot listed before the fault is still listed and
   verifies; nothing ``.partial`` is ever listed);
2. every file parses (job and state YAML, config, the SQLite database);
3. one clear error recorded (an error event, or a history row that says what happened;
   never a row left ``running``);
4. the next run succeeds.

Fast variants run by default (a few rounds each). ``--faults-long`` (when pytest is
pointed at ``tests/faults``) or ``TUI_BACKUP_FAULTS_LONG=1`` (anywhere) runs the long
ones: 20 kills per engine, 10 daemon kills, 20 TUI kills. Each case prints its random
seed; ``TUI_BACKUP_FAULTS_SEED=N`` replays one.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.processes import wait_until  # one poll for every suite (re-exported)
from tests.conftest import CliResult, cli_env
from tui_backup.store.paths import Home

LONG_ENV = "TUI_BACKUP_FAULTS_LONG"
SEED_ENV = "TUI_BACKUP_FAULTS_SEED"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--faults-long",
        action="store_true",
        default=False,
        help="tests/faults: run the long variants (20 kills per engine, ...)",
    )


def long_mode(config: pytest.Config) -> bool:
    """True when the long variants were asked for (option or environment)."""
    try:
        opt = bool(config.getoption("--faults-long"))
    except ValueError:  # the option is not registered when pytest started elsewhere
        opt = False
    return opt or os.environ.get(LONG_ENV, "") not in ("", "0")


@pytest.fixture
def rounds(request: pytest.FixtureRequest) -> Callable[[int, int], int]:
    """``rounds(fast, long)``: how many times a case repeats in this mode."""
    is_long = long_mode(request.config)
    return lambda fast, long: long if is_long else fast


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """A seeded random generator; the seed is printed so a failure can be replayed."""
    seed = int(os.environ.get(SEED_ENV) or random.randrange(1 << 30))
    print(f"{request.node.nodeid}: seed {seed} (replay with {SEED_ENV}={seed})")
    return random.Random(seed)


Result = CliResult
"""What one ``tui-backup`` process did: the shared one of tests/conftest.py."""


def make_tree(root: Path, rng: random.Random, dirs: int = 8, files: int = 40) -> None:
    """A source tree of ``dirs`` x ``files`` small random files, plus one larger file."""
    for d in range(dirs):
        sub = root / f"d{d}"
        sub.mkdir(parents=True, exist_ok=True)
        for f in range(files):
            (sub / f"f{f}.bin").write_bytes(rng.randbytes(rng.randint(100, 12_000)))
    (root / "big.bin").write_bytes(rng.randbytes(4 << 20))


def churn(root: Path, rng: random.Random, count: int = 40) -> None:
    """Rewrite ``count`` random files and the large one, so the next run has copying to do."""
    files = sorted(p for p in root.rglob("*.bin") if p.is_file())
    for p in rng.sample(files, min(count, len(files))):
        p.write_bytes(rng.randbytes(rng.randint(100, 12_000)))
    (root / "big.bin").write_bytes(rng.randbytes(rng.randint(2 << 20, 6 << 20)))


def tree_digest(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` (relative path -> bytes)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@dataclass
class Rig:
    """A home in ``tmp`` and the real program run against it as subprocesses."""

    tmp: Path
    home: Home
    children: list[subprocess.Popen[str]] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    """Added to every process's environment (e.g. a PATH with a wrapped rsync first)."""

    @property
    def env(self) -> dict[str, str]:
        return cli_env(self.home, self.extra_env)

    def cli(self, *args: str, timeout: float = 180, input: str | None = None) -> Result:
        """Run ``python -m tui_backup ARGS`` to the end; never raises on exit codes."""
        proc = subprocess.run(
            [sys.executable, "-m", "tui_backup", *args],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        return Result(tuple(args), proc.returncode, proc.stdout, proc.stderr)

    def spawn(self, *args: str, stderr: Any = subprocess.PIPE) -> subprocess.Popen[str]:
        """Start ``python -m tui_backup ARGS`` in the background (killed at teardown)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "tui_backup", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=self.env,
            start_new_session=True,
        )
        self.children.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[str]) -> None:
        """SIGKILL ``proc`` and every process it started."""
        kill_tree(proc)

    # -- jobs -----------------------------------------------------------------------

    def add_job(self, name: str, src: Path, engine: str = "snapshot", *extra: str) -> Path:
        """``job add`` (and ``init`` for restic); returns the destination."""
        (self.tmp / "dest").mkdir(exist_ok=True)
        dest = self.tmp / "dest" / name
        args = ["job", "add", name, "--engine", engine, "--source", str(src)]
        args += ["--dest", str(dest), "--retries", "0", *extra]
        if engine == "restic":
            pw = self.tmp / "restic-password"
            pw.write_text("correct horse battery staple\n")
            args += ["--password-file", str(pw)]
        r = self.cli(*args)
        assert r.returncode == 0, r
        if engine == "restic":
            r = self.cli("init", name)
            assert r.returncode == 0, r
        return dest

    def run_ok(self, name: str) -> dict[str, Any]:
        """Run ``name`` to the end and insist that it succeeded; returns its finished event."""
        r = self.cli("run", name, "--json")
        assert r.returncode == 0, r
        finished = json.loads(r.stdout.splitlines()[-1])
        assert finished["status"] == "succeeded", r
        return finished

    def job(self, name: str) -> dict[str, Any]:
        r = self.cli("job", "list", "--json")
        assert r.returncode == 0, r
        return next(j for j in r.json() if j["name"] == name)

    def history(self, name: str) -> list[dict[str, Any]]:
        r = self.cli("history", name, "--json", "-n", "1000")
        assert r.returncode == 0, r
        return list(r.json())

    def errors(self, job: str | None = None) -> list[dict[str, Any]]:
        args = ["errors", "--json", "--limit", "100000"]
        if job:
            args += ["--job", job]
        r = self.cli(*args)
        assert r.returncode == 0, r
        return list(r.json())

    def snapshots(self, name: str) -> list[str]:
        r = self.cli("snapshots", name, "--json")
        assert r.returncode == 0, r
        ids = [s["id"] for s in r.json()]
        assert not any(i.endswith(".partial") for i in ids), ids
        return ids

    def verify_all(self, name: str) -> dict[str, Any]:
        r = self.cli("verify", name, "--snapshot", "all", "--json", timeout=600)
        report = r.json() if r.stdout.strip().startswith("{") else {}
        assert r.returncode == 0 and report.get("outcome") == "ok", r
        return dict(report)

    def restore_latest_matches(self, name: str, src: Path) -> None:
        """The newest snapshot holds exactly what ``src`` holds now (restored and compared)."""
        target = self.tmp / f"restored-{name}-{time.monotonic_ns()}"
        r = self.cli("restore", name, "--target", str(target), timeout=600)
        assert r.returncode == 0, r
        assert tree_digest(target) == tree_digest(src), f"restore of {name} differs from source"

    # -- the four checks ------------------------------------------------------------

    def check_files_parse(self, allow_quarantined: str | None = None) -> None:
        """Every job, state and config file parses; the database passes integrity_check.

        Nothing is quarantined (``*.corrupt-*``) unless its name starts with
        ``allow_quarantined`` (a case that corrupts a file on purpose).
        """
        for d in (self.home.jobs_dir, self.home.state_dir):
            for p in sorted(d.glob("*.yaml")):
                data = yaml.safe_load(p.read_bytes())
                assert isinstance(data, dict), f"{p} does not hold a mapping: {data!r}"
        if self.home.config_path.exists():
            yaml.safe_load(self.home.config_path.read_bytes())
        corrupt = sorted(
            p.name
            for p in self.home.root.rglob("*.corrupt-*")
            if not (allow_quarantined and p.name.startswith(allow_quarantined))
        )
        assert corrupt == [], f"files were quarantined: {corrupt}"
        if self.home.db_path.exists():
            con = sqlite3.connect(f"file:{self.home.db_path}?mode=ro", uri=True, timeout=30)
            try:
                assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            finally:
                con.close()

    def check_no_run_left_running(self, name: str) -> list[dict[str, Any]]:
        """After any process has looked: no history row and no state says ``running``."""
        self.job(name)  # the next process to look records a dead run as interrupted
        rows = self.history(name)
        stuck = [r for r in rows if r["status"] in ("running", "queued", "stopping")]
        assert stuck == [], f"history rows left active: {stuck}"
        assert self.job(name)["status"] not in ("running", "queued", "stopping")
        return rows


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    home = Home(tmp_path / "home")
    r = Rig(tmp_path, home)
    yield r
    for proc in r.children:
        if proc.poll() is None:
            r.kill(proc)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc; engines start rsync/restic in their
    own sessions, so a process-group kill would miss them)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{current}/task/{tid}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def kill_tree(proc: subprocess.Popen[str]) -> None:
    """SIGKILL ``proc`` and everything it started, at one moment, as a crash would."""
    kill_pid_tree(proc.pid, reap=lambda: proc.wait(timeout=30))


def kill_pid_tree(top: int, reap: Callable[[], object] | None = None) -> None:
    """SIGKILL process ``top`` and all its descendants, then wait until all are gone.

    The tree is stopped first (SIGSTOP, from the top down, until no new process
    appears) so nothing can start another child between the listing and the kill.
    """
    stopped: set[int] = set()
    todo = [top]
    while todo:
        for pid in todo:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
            stopped.add(pid)
        todo = [p for p in descendants(top) if p not in stopped]
    for pid in stopped:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if reap is not None:
        reap()
    # Orphans are reaped by init, which here may take seconds: until then a dead
    # restic's zombie still "exists" and its repository lock does not look stale.
    others = stopped - {top} if reap is not None else stopped
    wait_until(
        lambda: not any(os.path.exists(f"/proc/{p}") for p in others),
        what=f"killed processes {sorted(others)} to be reaped",
    )
