"""The home's reserve: a little space set aside so a full home never loses a run.

A backup whose destination has room must not be blocked, nor go unrecorded,
because the filesystem of the tui-backup home filled up (logs, another
program, a person's files). When the home is full, SQLite cannot grow, the
fallback journal cannot append and state files cannot be replaced: the run
would be made but forgotten. So while there is room, the home keeps a
``reserve`` file of :data:`RESERVE_BYTES` real (not sparse) blocks; a process
that starts on a home with less than that free releases it, which gives this
run's history rows, error events and state files room, and says so (one log
line, one error event). The reserve is laid down again once there is room.
"""

from __future__ import annotations

import contextlib
import logging
import os

from tui_backup.store.paths import FILE_MODE, Home

log = logging.getLogger(__name__)

RESERVE_NAME = "reserve"
RESERVE_BYTES = 512 * 1024
"""Enough for the history rows, events and state files of a few runs."""

_CHUNK = 64 * 1024


def free_bytes(home: Home) -> int | None:
    """Bytes an unprivileged writer may still use on the home's filesystem (None: unknown)."""
    try:
        st = os.statvfs(home.root)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def settle_reserve(home: Home) -> bool:
    """Release the reserve when the home is (nearly) full, else make sure it exists.

    Returns True when this call released it: the home is full and the caller
    says so. Never raises: the reserve is a safety margin, not a requirement.
    """
    path = home.root / RESERVE_NAME
    free = free_bytes(home)
    if free is None:
        return False
    if free < RESERVE_BYTES:
        try:
            path.unlink()
        except OSError:
            return False  # no reserve left to give (already released, or never made)
        return True
    if not path.exists():
        _lay_down(path)
    return False


def _lay_down(path: os.PathLike[str]) -> None:
    """Write the reserve with real zeros (a sparse file would free nothing).

    No fsync: the filesystem accounts the blocks at write time, which is all
    the reserve is for, and every start-up on a new home would pay for it.
    """
    tmp = f"{os.fspath(path)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
        try:
            zeros = b"\0" * _CHUNK
            for _ in range(RESERVE_BYTES // _CHUNK):
                os.write(fd, zeros)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("could not lay down the home's reserve: %s", exc)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
