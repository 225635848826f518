"""Which restic lock holders are provably gone (so ``restic unlock`` may remove their lock)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tui_backup.engines.restic.errors import holder_is_gone


def _dead_pid() -> int:
    """The pid of a child that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_holder_of_this_host_whose_process_is_gone_is_stale() -> None:
    host = socket.gethostname()
    assert holder_is_gone(f"PID {_dead_pid()} on {host} by root")


def test_a_live_holder_of_this_host_is_not_stale() -> None:
    host = socket.gethostname()
    assert not holder_is_gone(f"PID {os.getpid()} on {host} by root")


def test_a_holder_on_another_host_is_never_judged_stale() -> None:
    assert not holder_is_gone(f"PID {_dead_pid()} on not-{socket.gethostname()} by root")


def test_an_unparsable_holder_is_not_stale() -> None:
    assert not holder_is_gone("someone somewhere")
