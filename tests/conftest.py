"""Shared fixtures: a fresh home directory, and the real CLI run as a subprocess.

Kept small and generic on purpose: other test packages rely on these names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tui_backup.store.paths import HOME_ENV, Home


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """A new, empty tui-backup home (``<tmp>/home``) with its directories made."""
    h = Home(tmp_path / "home")
    h.ensure()
    return h


@dataclass(frozen=True)
class CliResult:
    """What one ``tui-backup`` process did."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return (
            f"tui-backup {' '.join(self.args)} -> {self.returncode}\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


CliRunner = Callable[..., CliResult]


def cli_env(home: Home, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a CLI subprocess pointed at ``home``."""
    env = dict(os.environ)
    env[HOME_ENV] = str(home.root)
    env["COLUMNS"] = "200"
    env.update(extra or {})
    return env


@pytest.fixture
def cli(home: Home) -> CliRunner:
    """Run ``python -m tui_backup ARGS...`` against ``home``; never raises on exit codes.

    Usage: ``r = cli("job", "list", "--json"); assert r.returncode == 0, r``.
    """

    def run(
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 60,
    ) -> CliResult:
        proc = subprocess.run(
            [sys.executable, "-m", "tui_backup", *args],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=cli_env(home, env),
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
        return CliResult(tuple(args), proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def deep_tmp_path(tmp_path: Path) -> Any:
    """``tmp_path`` for trees deeper than Python's recursion limit, removed with ``rm -rf``.

    pytest removes old temporary directories with ``shutil.rmtree``, which
    recurses once per level: a 2,000-level tree left behind makes every later
    session print a RecursionError at exit. ``rm -rf`` walks it iteratively.
    """
    yield tmp_path
    subprocess.run(["rm", "-rf", "--", str(tmp_path)], check=False)
