"""Retries, a stop during the backoff, and the hooks' environment, through the CLI.

docs/operations.md: a transient failure is retried up to ``retries`` times
with backoff; each retried attempt leaves a LOW error event; a run that still
fails says "(after N attempts)"; a stop request also ends a backoff wait.
docs/hooks.md: hooks get the run in ``TUI_BACKUP_*`` variables.

The transient failure is real: the destination's parent (the "backup disk")
does not exist (``destination_missing``, retried like a network error).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui_backup.store.paths import HOME_ENV, Home
from tui_backup.store.yamlio import dumps

CliRunner = Callable[..., Any]


def write_job(home: Home, tmp: Path, name: str, **fields: Any) -> Path:
    src = tmp / "src" / name
    (src / "docs").mkdir(parents=True, exist_ok=True)
    (src / "docs" / "a.txt").write_text("alpha\n")
    (src / "b.txt").write_text("beta!\n")
    data: dict[str, Any] = {
        "name": name,
        "sources": [str(src)],
        "destination": str(tmp / "disk" / name),
    }
    data.update(fields)
    home.job_file(name).write_text(dumps(data))
    return src


class JsonRun:
    """``tui-backup run NAME --json`` in the background; its events as they come."""

    def __init__(self, home: Home, name: str) -> None:
        self.events: list[dict[str, Any]] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui_backup", "run", name, "--json"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, HOME_ENV: str(home.root)},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.events.append(json.loads(line))

    def wait_for(self, check: Callable[[dict[str, Any]], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(check(e) for e in list(self.events)):
            if self.proc.poll() is not None and not self._reader.is_alive():
                raise AssertionError(f"run ended first: {self.events[-3:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; events so far: {self.events[-3:]}")
            time.sleep(0.05)

    def finish(self, timeout: float = 120) -> dict[str, Any]:
        self.proc.wait(timeout)
        self._reader.join(10)
        assert self.events and self.events[-1]["event"] == "finished", self.events[-3:]
        return self.events[-1]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def retry_note(n: int, of: int) -> Callable[[dict[str, Any]], bool]:
    """The retry as ``run --json`` says it (a LOW ``error`` event, or a ``note``)."""
    return lambda e: e["event"] in ("note", "error") and f"retry {n} of {of}" in json.dumps(e)


def low_events(cli: CliRunner, name: str) -> list[dict[str, Any]]:
    r = cli("errors", "--json", "--job", name, "--severity", "LOW")
    assert r.returncode == 0, r
    # The retry notes (the engine's); not the note that says notes were resolved.
    return [e for e in r.json() if e["component"].startswith("engine:")]


def test_each_retried_attempt_leaves_a_low_event_and_the_failure_counts_attempts(
    cli: CliRunner, home: Home, tmp_path: Path
) -> None:
    write_job(home, tmp_path, "docs", retries=1)  # no "disk": every attempt fails
    r = cli("run", "docs", "--json", timeout=120)
    assert r.returncode == 1, r
    finished = json.loads(r.stdout.splitlines()[-1])
    assert finished["status"] == "failed"
    assert finished["error"].endswith("(after 2 attempts)"), finished
    low = low_events(cli, "docs")
    assert len(low) == 1, low
    assert "attempt 1 failed" in low[0]["message"] and "retry 1 of 1" in low[0]["message"]
    assert not (tmp_path / "disk").exists()  # a missing disk is never created


def test_a_retry_that_then_succeeds_resolves_its_notes(
    cli: CliRunner, home: Home, tmp_path: Path
) -> None:
    write_job(home, tmp_path, "docs", retries=2)
    run = JsonRun(home, "docs")
    try:
        run.wait_for(retry_note(1, 2))
        (tmp_path / "disk").mkdir()  # the disk is plugged in during the backoff
        finished = run.finish()
    finally:
        run.kill()
    assert run.proc.returncode == 0, run.events[-3:]
    assert finished["status"] == "succeeded" and finished["snapshot"], finished
    low = low_events(cli, "docs")
    assert len(low) == 1 and low[0]["resolved"], low
    r = cli("errors", "--json", "--unresolved")
    assert r.returncode == 0 and r.json() == [], r


def test_a_stop_during_the_backoff_ends_the_wait_and_the_run_is_stopped(
    cli: CliRunner, home: Home, tmp_path: Path
) -> None:
    """Were the backoff deaf to the stop, the next attempt would fail again and the run
    would end ``failed (after 2 attempts)``; a stop heard in the wait ends it ``stopped``."""
    write_job(home, tmp_path, "docs", retries=3)
    run = JsonRun(home, "docs")
    try:
        run.wait_for(retry_note(1, 3))
        r = cli("stop", "docs")
        assert r.returncode == 0, r
        finished = run.finish()
    finally:
        run.kill()
    assert run.proc.returncode == 1, run.events[-3:]  # stopped by another process
    assert finished["status"] == "stopped", finished
    assert len(low_events(cli, "docs")) == 1  # no second attempt was made
    assert [h["status"] for h in cli("history", "docs", "--json").json()] == ["stopped"]


def env_dump(out: Path) -> list[str]:
    # The run's variables only: not the home, nor test switches CI sets (REQUIRE_SERVERS...).
    drop = "-e '^TUI_BACKUP_HOME=' -e '^TUI_BACKUP_REQUIRE_SERVERS=' -e '^TUI_BACKUP_FAULTS'"
    return ["sh", "-c", f"env | grep '^TUI_BACKUP_' | grep -v {drop} > '{out}'"]


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_hooks_get_the_run_in_their_environment(cli: CliRunner, home: Home, tmp_path: Path) -> None:
    before, after, ok, bad = (tmp_path / f"{n}.env" for n in ("before", "after", "ok", "bad"))
    src = write_job(
        home,
        tmp_path,
        "docs",
        retries=0,
        hooks={
            "before": [env_dump(before)],
            "after": [env_dump(after)],
            "on_success": [env_dump(ok)],
            "on_failure": [env_dump(bad)],
        },
    )
    (tmp_path / "disk").mkdir()
    r = cli("run", "docs", "--json")
    assert r.returncode == 0, r
    finished = json.loads(r.stdout.splitlines()[-1])
    assert read_env(before)["TUI_BACKUP_STATUS"] == "running"
    assert read_env(before)["TUI_BACKUP_RUN_ID"] == finished["run_id"]
    for path in (after, ok):
        env = read_env(path)
        assert env == {
            "TUI_BACKUP_JOB": "docs",
            "TUI_BACKUP_RUN_ID": finished["run_id"],
            "TUI_BACKUP_STATUS": "succeeded",
            "TUI_BACKUP_SNAPSHOT": finished["snapshot"],
            "TUI_BACKUP_FILES": "2",
            "TUI_BACKUP_BYTES": "12",
            "TUI_BACKUP_WARNINGS": "0",
            "TUI_BACKUP_ERROR": "",
        }, env
    assert not bad.exists()

    after.unlink()
    (src / "docs" / "a.txt").unlink()
    (src / "docs").rmdir()
    (src / "b.txt").unlink()
    src.rmdir()  # the next run fails: its source is gone
    r = cli("run", "docs", "--json")
    assert r.returncode == 1, r
    finished = json.loads(r.stdout.splitlines()[-1])
    env = read_env(bad)
    assert env["TUI_BACKUP_STATUS"] == "failed"
    assert env["TUI_BACKUP_RUN_ID"] == finished["run_id"]
    assert env["TUI_BACKUP_SNAPSHOT"] == ""
    assert env["TUI_BACKUP_ERROR"] and env["TUI_BACKUP_ERROR"] in finished["error"], env
    assert read_env(after)["TUI_BACKUP_STATUS"] == "failed"
