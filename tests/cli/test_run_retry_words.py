"""A retry is said once (issue 10: "each retry is printed twice, WARNING: and note:").

A real transient failure: an rsync job over SSH to a port nothing listens on
(connection refused is "unreachable", which is retried), one retry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("rsync") is None or shutil.which("ssh") is None, reason="needs rsync and ssh"
)


REMOTE = ["--dest", "nobody@127.0.0.1:/nowhere", "--ssh-port", "1", "--retries", "1"]
"""Port 1 of 127.0.0.1: connection refused, which is "unreachable" and retried."""


def test_each_retry_is_one_line(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a\n")
    env = {**os.environ, "TUI_BACKUP_HOME": str(tmp_path / "home")}
    cli = [sys.executable, "-m", "tui_backup"]
    subprocess.run(
        [*cli, "job", "add", "rt", "--engine", "rsync", "--source", str(src), *REMOTE],
        env=env,
        check=True,
        capture_output=True,
    )
    run = subprocess.run([*cli, "run", "rt"], env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 1
    said = (run.stdout + run.stderr).splitlines()
    retries = [line for line in said if "retry 1 of 1" in line]
    assert len(retries) == 1, said
    assert "(after 2 attempts)" in run.stdout
