"""A remote operation logs in once (a control master shared by every ssh and rsync call)
and leaves nothing running behind it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tui_backup.engines.rsync import RsyncEngine

from .conftest import Where, backup


def _logins(where: Where) -> int:
    assert where.sshd is not None
    return where.sshd.log_path.read_text(errors="replace").count("Accepted publickey")


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline:
                found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def test_one_login_per_operation_and_no_master_left(
    remote: Where, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="t-", dir="/tmp"))  # short: socket paths are limited
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("f\n")
    spec = remote.spec(src, tmp_path / "dest")
    before = _logins(remote)
    backup(spec)
    (src / "g").write_text("new\n")
    backup(spec)
    assert RsyncEngine().verify(spec, "all").ok
    assert _logins(remote) - before == 3, "one login per run and per verify"
    try:
        assert os.listdir(scratch) == [], "the master's socket directory is removed"
        assert _processes_mentioning(str(scratch)) == [], "no ssh master is left running"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


_HOLDER = """
import sys, time
from tui_backup.engines.rsync.connection import shared
from tui_backup.engines.rsync.location import SshSettings
with shared(SshSettings(tuple(sys.argv[2:])), sys.argv[1]) as ssh:
    assert ssh is not None and any("ControlPath=" in a for a in ssh.argv), ssh
    print("ready", flush=True)
    time.sleep(600)
"""


def test_a_killed_runner_leaves_no_master(remote: Where, tmp_path: Path) -> None:
    """SIGKILL (or a test timeout's os._exit) skips every ``finally``: the master, in its
    own session, used to live on, logged in, after the run and after the test suite."""
    assert remote.sshd is not None
    scratch = Path(tempfile.mkdtemp(prefix="t-", dir="/tmp"))
    env = {**os.environ, "TMPDIR": str(scratch)}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[3])])
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, remote.sshd.host_alias, *remote.sshd.ssh_argv],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"ready"
        assert _processes_mentioning(str(scratch)), "the master runs while it is used"
        holder.kill()  # this test's own child, by its pid
        holder.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _processes_mentioning(str(scratch)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_mentioning(str(scratch)) == [], "an ssh master outlived its runner"
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        shutil.rmtree(scratch, ignore_errors=True)
