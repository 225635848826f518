"""One ssh login per engine operation: an OpenSSH control master shared by every command.

A remote run makes several connections (resolve and list, rsync, list the
copy, hash, commit); each fresh login costs a key exchange and an
authentication, often the larger part of a small incremental. While an
operation runs, a master connection (``ssh -N -o ControlMaster=yes``) is kept
as a child process of this one, and every ssh and rsync call of the operation
goes through its socket. The master is stopped when the operation ends; it is
never left running (no ``ControlPersist``, no daemonising ``-f``). It runs in
its own session (a Ctrl-C at the terminal is not its business), so a process
that dies without its ``finally`` (SIGKILL, a test timeout's ``os._exit``)
would leave it running, logged in, forever: on Linux it is started through
``setpriv --pdeathsig TERM`` (util-linux), so the kernel stops it when the
thread that started it is gone (a ``preexec_fn`` doing the same is unsafe in a
process with threads).

Anything unexpected (an ``ssh_command`` that is not OpenSSH, a master that
does not come up) falls back to plain connections, which then report the
real error (an unreachable host, a refused key) themselves.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

from tui_backup.engines.rsync.location import SshSettings

log = logging.getLogger(__name__)

MAX_PARENT = 60
"""Longest temporary directory used for the socket: ssh adds ~40 bytes while binding it."""
MASTER_START = 30.0
"""Seconds to wait for the master's socket before falling back to plain connections."""


@contextlib.contextmanager
def shared(ssh: SshSettings | None, host: str | None) -> Iterator[SshSettings | None]:
    """``ssh`` itself, or settings that reuse one master connection to ``host`` meanwhile."""
    if ssh is None or host is None or os.path.basename(ssh.argv[0]) != "ssh":
        yield ssh
        return
    parent = tempfile.gettempdir()
    if len(parent) > MAX_PARENT and os.path.isdir("/tmp"):
        parent = "/tmp"  # a unix socket's path is limited to 107 bytes
    workdir = tempfile.mkdtemp(prefix="tui-backup-ssh-", dir=parent)
    socket = os.path.join(workdir, "m")
    master: subprocess.Popen[bytes] | None = None
    try:
        try:
            options = ["ControlMaster=yes", f"ControlPath={socket}", "ControlPersist=no"]
            master = subprocess.Popen(
                [*_dies_with_us(), *ssh.argv, *(f"-o{o}" for o in options), "-N", host],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            log.debug("no ssh master for %s: %s", host, exc)
        if master is not None and _wait_for(socket, master):
            extra = ("-o", "ControlMaster=no", "-o", f"ControlPath={socket}")
            yield SshSettings((*ssh.argv, *extra))
        else:
            yield ssh
    finally:
        if master is not None:
            _stop(master)
        shutil.rmtree(workdir, ignore_errors=True)


def _dies_with_us() -> list[str]:
    """A prefix that makes the command get SIGTERM when its parent thread dies."""
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv is not None else []


def _wait_for(socket: str, master: subprocess.Popen[bytes]) -> bool:
    """True once the master's socket exists; False if the master gave up first."""
    deadline = time.monotonic() + MASTER_START
    delay = 0.01
    while time.monotonic() < deadline:
        if os.path.exists(socket):
            return True
        if master.poll() is not None:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    return False


def _stop(master: subprocess.Popen[bytes]) -> None:
    if master.poll() is None:
        master.terminate()
        try:
            master.wait(timeout=5)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait(timeout=5)
