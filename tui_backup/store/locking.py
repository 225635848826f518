"""portalocker file locks with a timeout and a readable error when it expires."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import portalocker

from tui_backup.store.errors import LockTimeout
from tui_backup.store.paths import DIR_MODE, FILE_MODE

DEFAULT_TIMEOUT = 10.0


@contextlib.contextmanager
def file_lock(path: Path, timeout: float = DEFAULT_TIMEOUT, what: str = "") -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) for the block.

    The lock belongs to the operating system: it dies with its process, so a
    crash can never leave a stale lock behind.
    """
    _private_file(path)
    lock = portalocker.Lock(
        str(path),
        mode="a",
        timeout=timeout,
        check_interval=0.01,
        flags=portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING,
    )
    try:
        lock.acquire()
    except portalocker.exceptions.LockException as exc:
        label = what or path.name
        holder = lock_holder(path)
        who = f"{holder} is holding {path}" if holder else f"another process is holding {path}"
        raise LockTimeout(
            f"could not lock {label} within {timeout:g}s: {who}; try again"
            + ("" if holder else f", or find it with `fuser {path}`"),
            path=path,
            holder=holder,
        ) from exc
    try:
        yield
    finally:
        lock.release()


def try_lock(path: Path) -> portalocker.Lock | None:
    """Take an exclusive lock without waiting; None when another process holds it."""
    _private_file(path)
    lock = portalocker.Lock(
        str(path),
        mode="a",
        timeout=0,
        fail_when_locked=True,
        flags=portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING,
    )
    try:
        lock.acquire()
    except portalocker.exceptions.LockException:
        return None
    return lock


PROC_LOCKS = Path("/proc/locks")
HOLDER_ARGS = 6
"""How many words of the holder's command line are shown."""


def lock_holder(path: Path) -> str | None:
    """Who holds ``path``'s lock, as ``pid 42: python -m tui_backup run docs``, if the
    system says (Linux ``/proc/locks``); None when unknown. Never raises."""
    try:
        st = path.stat()
        dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        for line in PROC_LOCKS.read_text().splitlines():
            fields = line.split()
            # "1: FLOCK  ADVISORY  WRITE 1234 00:2f:5678 0 EOF" ("->" marks a waiter)
            if len(fields) < 6 or fields[1] == "->" or fields[5] != dev:
                continue
            pid = int(fields[4])
            return f"pid {pid}" + _command(pid)
    except (OSError, ValueError):
        return None
    return None


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    if not words:
        return ""
    words = [os.path.basename(words[0]), *words[1:HOLDER_ARGS]]
    text = " ".join("".join(c if c.isprintable() else "?" for c in w) for w in words)
    return f" ({text})"


def is_locked(path: Path) -> bool:
    """True when some process holds ``path``'s lock right now."""
    if not path.exists():
        return False
    lock = try_lock(path)
    if lock is None:
        return True
    lock.release()
    return False


def _private_file(path: Path) -> None:
    """Create the lock file 0600 whatever the umask (portalocker's ``open`` would
    make it 0644 under umask 022), tighten an older one, never through a link."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
