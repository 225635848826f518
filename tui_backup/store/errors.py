"""Store failures, each with a message a person can act on."""

from __future__ import annotations


class StoreError(Exception):
    """Base class: the operation failed and nothing was written."""


class LockTimeout(StoreError):
    """Another process held a file lock for longer than we were willing to wait."""


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
