"""A remote operation logs in once (a control master shared by every ssh and rsync call)
and leaves nothing running behind it."""

from __future__ import annotations

import os
import shutil
import tempfile
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
