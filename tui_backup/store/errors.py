"""Store failures, each with a message a person can act on."""

from __future__ import annotations

import errno
from pathlib import Path

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class StoreError(Exception):
    """Base class: the operation failed and nothing was written."""


class LockTimeout(StoreError):
    """Another process held a file lock for longer than we were willing to wait.

    ``path`` is the lock file and ``holder`` who holds it when the system says
    (``pid 42: tui-backup run docs``), so the message names what to look at
    instead of a portalocker traceback.
    """

    def __init__(self, message: str, path: Path | None = None, holder: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.holder = holder


class VersionConflict(StoreError):
    """A write was based on a version that is no longer the current one."""

    def __init__(self, name: str, expected: int, actual: int) -> None:
        super().__init__(
            f"job {name!r} was changed elsewhere (you edited version {expected}, "
            f"it is now version {actual}); reload it and apply your change again"
        )
        self.name = name
        self.expected = expected
        self.actual = actual


class JobExists(StoreError):
    def __init__(self, name: str) -> None:
        super().__init__(f"job {name!r} already exists")
        self.name = name


class JobNotFound(StoreError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no job named {name!r}")
        self.name = name


class HomeFull(StoreError, OSError):
    """A file of the home could not be written: its filesystem (or quota) is full.

    Also an OSError with the original ``errno``, so code that handles OSError
    keeps working; ``str()`` is a sentence a person can act on instead of a
    bare ``[Errno 28] No space left on device``. Whether a backup goes on
    anyway (its destination may well have room) is the caller's decision.
    """

    def __init__(self, path: Path, exc: OSError) -> None:
        OSError.__init__(self, exc.errno, exc.strerror, str(path))
        self.path = path
        self.message = (
            f"cannot write {path}: the filesystem of the tui-backup home is full "
            f"({exc.strerror}); free some space there (the backup destination is "
            "not affected)"
        )

    def __str__(self) -> str:
        return self.message


def raise_if_full(path: Path, exc: OSError) -> None:
    """Raise :class:`HomeFull` from ``exc`` when it means a full disk or quota."""
    if exc.errno in FULL_ERRNOS and not isinstance(exc, HomeFull):
        raise HomeFull(path, exc) from exc
