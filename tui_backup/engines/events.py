"""The only things an engine may do to the outside world: emit these events.

Every engine (snapshot, rsync, restic) reports through the same three types,
so the manager, the CLI progress bar and the TUI handle one vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tui_backup.model.progress import Progress
from tui_backup.model.status import Status


@dataclass(frozen=True, slots=True)
class FileWarning:
    """A file that could not be backed up (or restored); the run goes on."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The last event of every run, whatever happened. Emitted exactly once."""

    status: Status
    files: int = 0
    bytes: int = 0
    warnings: int = 0
    snapshot_id: str | None = None
    error: str | None = None
    """One readable sentence when ``status`` is failed, else None."""
    error_type: str | None = None
    """A short machine-readable class of failure (``source_missing``, ``disk_full``...)."""
    transient: bool = False
    """True when retrying may help (destination unreachable, EIO, lock timeout)."""
    details: str = ""
    """Extra text for the error event: a stack trace or the tool's stderr."""


EngineEvent = Progress | FileWarning | Finished
Emit = Callable[[EngineEvent], None]

__all__ = ["Emit", "EngineEvent", "FileWarning", "Finished", "Progress"]
