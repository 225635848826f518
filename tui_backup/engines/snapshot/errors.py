"""Exceptions that steer a snapshot run; none of them escapes the engine.

The error types are values of :class:`tui_backup.engines.api.ErrorType`
written as plain strings (an ``ErrorType`` member *is* its string): importing
``api`` costs a run ~8 ms of start-up (2 % of a no-change incremental), so
the run path does without it. tests/engines/test_contract_snapshot.py checks
every string here is a member of the vocabulary.
"""

from __future__ import annotations

import errno
import os


class Fatal(Exception):
    """Ends the run as ``failed`` with one readable sentence."""

    def __init__(self, message: str, error_type: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.transient = transient


class Cancelled(Exception):
    """The cancel flag was seen; the run ends as ``stopped``."""


class SourceSkip(Exception):
    """One source entry cannot be backed up (unreadable, vanished): a warning."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DestError(Exception):
    """Writing into the destination failed; classified by :func:`dest_fatal`."""

    def __init__(self, exc: OSError) -> None:
        super().__init__(str(exc))
        self.exc = exc


# ErrorType values used by a run (see the module docstring).
SOURCE_MISSING = "source_missing"
SOURCE_UNREADABLE = "source_unreadable"
DESTINATION_OWNED = "destination_owned"
T_DISK_FULL = "disk_full"
DESTINATION_UNWRITABLE = "destination_unwritable"
DESTINATION_ERROR = "destination_error"
RUN_ERROR_TYPES = (
    SOURCE_MISSING,
    SOURCE_UNREADABLE,
    DESTINATION_OWNED,
    T_DISK_FULL,
    DESTINATION_UNWRITABLE,
    DESTINATION_ERROR,
)

DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
UNWRITABLE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
TRANSIENT = frozenset({errno.EIO, errno.ETIMEDOUT, errno.EAGAIN, errno.ESTALE})


def source_reason(exc: OSError) -> str:
    """A short reason for a source file we had to skip."""
    if exc.errno == errno.ENOENT:
        return "vanished during backup"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ELOOP:
        return "replaced by a symlink during backup"
    if exc.errno == errno.ENAMETOOLONG:
        return "skipped: its path is too long to reach (File name too long)"
    return exc.strerror or str(exc)


def dest_fatal(exc: OSError, dest: str) -> Fatal:
    """Turn an error writing the destination into the run's one clear sentence."""
    if exc.errno in DISK_FULL:
        return Fatal(f"The destination {dest} is full (no space left on device).", T_DISK_FULL)
    if exc.errno in UNWRITABLE:
        return Fatal(
            f"Cannot write to the destination {dest}: {exc.strerror or exc}.",
            DESTINATION_UNWRITABLE,
        )
    return Fatal(
        f"Writing to the destination {dest} failed: {exc.strerror or exc}.",
        DESTINATION_ERROR,
        transient=exc.errno in TRANSIENT,
    )


def is_fatal_link_error(exc: OSError) -> bool:
    """Link failures that a copy would hit too (full, read-only); others fall back to copy."""
    return exc.errno in DISK_FULL or exc.errno == errno.EROFS


def describe(exc: OSError) -> str:
    return exc.strerror or os.strerror(exc.errno or 0) or str(exc)
