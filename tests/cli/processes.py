"""What the CLI tests that start real ``tui-backup`` processes share.

A small job on real files, a hook that holds a run until the test lets it
go, a process started on a home, and a poll that waits on a condition (never
a fixed sleep: CI machines are busy).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui_backup.store.paths import HOME_ENV, Home
from tui_backup.store.yamlio import dumps

SOURCE_FILES = 5
"""How many files :func:`write_job` puts in a job's source."""


def write_job(home: Home, tmp: Path, name: str, **fields: Any) -> Path:
    """A small valid job whose destination's parent (the "backup disk") exists."""
    src = tmp / "src" / name
    (src / "sub").mkdir(parents=True, exist_ok=True)
    for i in range(SOURCE_FILES):
        (src / "sub" / f"f{i}.txt").write_text(f"file {i}\n" * 10)
    (tmp / "dest").mkdir(exist_ok=True)
    data: dict[str, Any] = {
        "name": name,
        "sources": [str(src)],
        "destination": str(tmp / "dest" / name),
    }
    data.update(fields)
    home.job_file(name).write_text(dumps(data))
    return src


def gate_hook(gate: Path) -> list[str]:
    """A before hook that holds the run until ``gate`` exists."""
    return ["sh", "-c", f'while [ ! -e "{gate}" ]; do sleep 0.05; done']


def cli_env(home: Home) -> dict[str, str]:
    """This process's environment, pointed at ``home``."""
    return {**os.environ, HOME_ENV: str(home.root)}


def spawn(home: Home, *args: str) -> subprocess.Popen[str]:
    """``tui-backup ARGS`` on ``home``, its output piped for the test to read."""
    return subprocess.Popen(
        [sys.executable, "-m", "tui_backup", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(home),
    )


def wait_until(check: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    """Poll ``check`` until it returns something true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)
