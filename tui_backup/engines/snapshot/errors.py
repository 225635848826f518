"""Exceptions that steer a snapshot run; none of them escapes the engine."""

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
    return exc.strerror or str(exc)


def dest_fatal(exc: OSError, dest: str) -> Fatal:
    """Turn an error writing the destination into the run's one clear sentence."""
    if exc.errno in DISK_FULL:
        return Fatal(f"The destination {dest} is full (no space left on device).", "disk_full")
    if exc.errno in UNWRITABLE:
        return Fatal(
            f"Cannot write to the destination {dest}: {exc.strerror or exc}.",
            "destination_unwritable",
        )
    return Fatal(
        f"Writing to the destination {dest} failed: {exc.strerror or exc}.",
        "destination_error",
        transient=exc.errno in TRANSIENT,
    )


def is_fatal_link_error(exc: OSError) -> bool:
    """Link failures that a copy would hit too (full, read-only); others fall back to copy."""
    return exc.errno in DISK_FULL or exc.errno == errno.EROFS


def describe(exc: OSError) -> str:
    return exc.strerror or os.strerror(exc.errno or 0) or str(exc)
