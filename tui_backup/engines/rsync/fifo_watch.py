"""Is a tool stuck opening a FIFO? (Linux ``/proc``; elsewhere never says so.)

rsync lists a file, then opens it to send it. A file swapped for a FIFO in
between is opened as if it were regular, and ``open(2)`` of a FIFO waits for
a writer: forever. rsync's own ``--timeout`` does not end that (its other
processes keep polling; seen with rsync 3.5). So the process that runs the
tool looks at the sender now and then: the system call it is in
(``/proc/<pid>/syscall``: an ``open``/``openat``), the path it passed (read
from ``/proc/<pid>/mem``, allowed for one's own child), and whether that path
is a FIFO now. Where ``syscall`` cannot be read the kernel's wait channel
(``/proc/<pid>/wchan``: ``wait_for_partner``, the FIFO open wait) is used,
without a path.
"""

from __future__ import annotations

import contextlib
import os
import platform
import stat

_OPEN_SYSCALLS = {
    "x86_64": {2: 0, 257: 1, 437: 1},  # open(path), openat(dirfd, path), openat2
    "aarch64": {56: 1, 437: 1},
}
"""System call number -> index of its path argument, per machine."""
_FIFO_WAITS = {"wait_for_partner", "fifo_open"}
PATH_MAX = 4096


def blocked_on_fifo(pid: int) -> str | None:
    """The FIFO process ``pid`` is blocked opening (its path, or ``"a FIFO"`` when the
    path cannot be read); None when it is not, or nothing can be told."""
    calls = _OPEN_SYSCALLS.get(platform.machine())
    try:
        with open(f"/proc/{pid}/syscall") as fh:
            fields = fh.read().split()
    except OSError:
        fields = []
    if calls is not None and fields and fields[0].isdigit():
        index = calls.get(int(fields[0]))
        if index is None:
            return None
        path = _path_argument(pid, fields, index)
        if path is None:
            return "a FIFO" if _waits_on_fifo(pid) else None
        try:
            return path if stat.S_ISFIFO(os.stat(path).st_mode) else None
        except OSError:
            return None
    return "a FIFO" if _waits_on_fifo(pid) else None


def _waits_on_fifo(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/wchan") as fh:
            return fh.read().strip() in _FIFO_WAITS
    except OSError:
        return False


def _path_argument(pid: int, fields: list[str], index: int) -> str | None:
    """The path argument of the open call ``pid`` is in, absolute (None if unreadable)."""
    try:
        address = int(fields[1 + index], 16)
        with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
            mem.seek(address)
            raw = mem.read(PATH_MAX).split(b"\0", 1)[0]
    except (OSError, ValueError, IndexError, OverflowError):
        return None
    if not raw:
        return None
    if raw.startswith(b"/"):
        return os.fsdecode(raw)
    base = f"/proc/{pid}/cwd"
    if index == 1:  # openat: relative to its directory descriptor (AT_FDCWD: the cwd)
        with contextlib.suppress(ValueError):
            dirfd = int(fields[1], 16)
            if dirfd < 1 << 31:  # not AT_FDCWD (-100 as an unsigned register)
                base = f"/proc/{pid}/fd/{dirfd}"
    try:
        where = os.readlink(base)
    except OSError:
        return None
    return os.path.join(where, os.fsdecode(raw))
