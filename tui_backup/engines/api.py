"""The engine seam: the protocol every engine implements, its reports and its errors.

One vocabulary for all engines, so the core, the CLI and the TUI never ask
which engine they are talking to: optional abilities are
:class:`Capabilities` flags, failures carry an :class:`ErrorType`, and every
operation answers with the same report types. Concrete engines live in their
own modules and are reached only through :mod:`tui_backup.engines.registry`.

The promises every engine keeps (docs/engines.md, tested by tests/contract/):

- ``run`` only emits events, emits exactly one ``Finished`` and never raises;
- nothing is listed, restored, forgotten or purged that another job owns, and
  a refusal is an :class:`EngineError`, never a fallback to something broader;
- a missing destination parent (an unmounted disk) is refused, never created;
- listings say ``None`` (unknown) rather than ``0`` when they cannot know;
- a verify that could not check says so (:attr:`VerifyReport.unchecked`);
- restores lay files out relative to the source, and dry runs write nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from tui_backup.engines.events import Emit
from tui_backup.model.clock import to_iso
from tui_backup.model.job import JobSpec
from tui_backup.model.retention import RetentionPolicy
from tui_backup.model.units import human_bytes


class ErrorType(StrEnum):
    """Classes of failure, shared by every engine (``Finished.error_type``, error events)."""

    SOURCE_MISSING = "source_missing"
    SOURCE_UNREADABLE = "source_unreadable"
    DESTINATION_MISSING = "destination_missing"
    """The destination's parent does not exist: an unmounted disk. Never created."""
    DESTINATION_UNWRITABLE = "destination_unwritable"
    DESTINATION_UNREACHABLE = "destination_unreachable"
    DESTINATION_OWNED = "destination_owned"
    """The destination (or repository snapshots) belong to another job."""
    DESTINATION_ERROR = "destination_error"
    DISK_FULL = "disk_full"
    TOOL_MISSING = "tool_missing"
    TOOL_FAILED = "tool_failed"
    NO_PASSWORD = "no_password"
    NO_REPOSITORY = "no_repository"
    """The restic repository does not exist yet: ``tui-backup init NAME`` creates it."""
    REPOSITORY_LOCKED = "repository_locked"
    REPOSITORY_ERROR = "repository_error"
    NO_SNAPSHOTS = "no_snapshots"
    SNAPSHOT_NOT_FOUND = "snapshot_not_found"
    PATH_NOT_IN_SNAPSHOT = "path_not_in_snapshot"
    BAD_PATH = "bad_path"
    INVALID_TARGET = "invalid_target"
    TARGET_NOT_EMPTY = "target_not_empty"
    RESTORE_FAILED = "restore_failed"
    VERIFY_FAILED = "verify_failed"
    FORGET_FAILED = "forget_failed"
    COMMIT_FAILED = "commit_failed"
    STOPPED = "stopped"
    UNSUPPORTED = "unsupported"
    UNKNOWN_ENGINE = "unknown_engine"
    ENGINE_CRASHED = "engine_crashed"


TRANSIENT_ERRORS = frozenset(
    {ErrorType.DESTINATION_UNREACHABLE, ErrorType.REPOSITORY_LOCKED, ErrorType.DESTINATION_MISSING}
)
"""Failures a retry may cure (a network blip, a lock held by another run, a late mount)."""


class EngineError(Exception):
    """A readable failure of an engine operation, classified at its source."""

    def __init__(self, message: str, error_type: str = ErrorType.TOOL_FAILED) -> None:
        super().__init__(message)
        self.error_type = error_type

    @property
    def transient(self) -> bool:
        return self.error_type in TRANSIENT_ERRORS


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an engine can do for one job; front ends show or hide actions by these."""

    remote: bool = False
    """The destination is reached over a network."""
    browsable: bool = False
    """Each snapshot is a plain directory tree a person can ``cd`` into."""
    manifest_verify: bool = False
    """``verify`` compares stored files with checksums recorded at backup time."""
    deep_verify: bool = False
    """``verify --deep`` compares a snapshot with the source, byte for byte."""
    repository_check: bool = False
    """``verify`` runs the repository's own check (restic: ``check --read-data-subset``)."""
    checksum_run: bool = False
    """``run --checksum`` re-reads sources instead of trusting size and mtime."""
    shares_destination: bool = False
    """Several jobs may use one destination, each owning only its own snapshots
    (restic: tagged per job and host). Otherwise one destination, one job."""
    dedup: bool = False
    encryption: bool = False
    needs_init: bool = False
    """The destination must be created once with ``tui-backup init`` before the first run."""

    def to_json(self) -> dict[str, bool]:
        return {name: bool(getattr(self, name)) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How one run differs from the job's defaults."""

    checksum: bool = False
    """Compare file contents with the previous snapshot instead of size and mtime."""


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """One complete snapshot. ``files``/``bytes`` are None when the engine cannot know."""

    id: str
    time: datetime
    files: int | None = None
    bytes: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "time": to_iso(self.time), "files": self.files, "bytes": self.bytes}


@dataclass(frozen=True, slots=True)
class VerifyProblem:
    snapshot_id: str
    path: str
    reason: str
    """``missing``, ``checksum mismatch``, ``size mismatch``, ``unreadable: ...``"""


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What a verify read and what it found.

    ``unchecked`` names why nothing (or not everything) could be checked; such
    a report is never ``ok``, because a check that could not check is not a pass.
    """

    snapshots: tuple[str, ...]
    files_checked: int
    bytes_checked: int
    problems: tuple[VerifyProblem, ...] = ()
    method: str = "manifest"
    """What was compared: ``manifest``, ``source`` (deep), ``restic check``..."""
    unchecked: str | None = None
    changed_since: int = 0
    """Deep verify: source files changed since the snapshot (told apart from damage)."""
    unit: str = "file"
    """What ``files_checked`` counts: ``file``, or ``pack`` for restic's pack files."""
    bytes_known: bool = True
    """False when the engine cannot know how many bytes it read (``bytes_checked`` is 0)."""

    @property
    def ok(self) -> bool:
        return not self.problems and self.unchecked is None

    @property
    def outcome(self) -> str:
        """``ok``, ``damaged`` or ``unchecked``: the word every front end shows."""
        if self.problems:
            return "damaged"
        return "unchecked" if self.unchecked is not None else "ok"


@dataclass(frozen=True, slots=True)
class RestoreReport:
    snapshot_id: str
    target: str
    files: int
    bytes: int
    warnings: int = 0
    dry_run: bool = False
    planned: tuple[str, ...] = field(default_factory=tuple)
    """Paths that would be (or were) restored, relative to the snapshot."""
    skipped: tuple[str, ...] = ()
    """Entries not restored, each ``path: reason``."""

    def summary(self) -> str:
        """One line for every front end: ``restored 1 file (401 B)``."""
        verb = "would restore" if self.dry_run else "restored"
        noun = "file" if self.files == 1 else "files"
        line = f"{verb} {self.files} {noun}"
        if not self.dry_run:
            line += f" ({human_bytes(self.bytes)})"
        if self.skipped:
            line += f", skipped {len(self.skipped)}: {self.skipped[0]}"
            if len(self.skipped) > 1:
                line += f" and {len(self.skipped) - 1} more"
        return f"{line} into {self.target}"


@dataclass(frozen=True, slots=True)
class ForgetDecision:
    snapshot_id: str
    time: datetime
    keep: bool
    reasons: tuple[str, ...]


OnDelete = Callable[[str], None]


class Engine(Protocol):
    """What every engine offers. Long operations take ``cancel`` and ``emit``."""

    name: str

    def capabilities(self, spec: JobSpec) -> Capabilities:
        """What this engine can do for ``spec`` (remote or not, verify kinds...)."""
        ...

    def run(
        self,
        spec: JobSpec,
        cancel: threading.Event,
        emit: Emit,
        options: RunOptions = RunOptions(),
    ) -> None:
        """Make one backup; must emit exactly one ``Finished`` and never raise."""

    def init(self, spec: JobSpec) -> str:
        """Create the destination (restic: the repository) and claim it; returns what it did."""
        ...

    def snapshots(self, spec: JobSpec) -> list[SnapshotInfo]:
        """This job's complete snapshots, newest first (never a ``.partial``)."""
        ...

    def restore(
        self,
        spec: JobSpec,
        snapshot_id: str,
        target: str,
        paths: Sequence[str] = (),
        *,
        dry_run: bool = False,
        overwrite: bool = False,
        cancel: threading.Event | None = None,
        emit: Emit | None = None,
    ) -> RestoreReport:
        """Restore ``paths`` (all when empty) relative to the source layout into ``target``."""
        ...

    def verify(
        self,
        spec: JobSpec,
        snapshot_id: str | None = None,
        *,
        deep: bool = False,
        cancel: threading.Event | None = None,
        emit: Emit | None = None,
    ) -> VerifyReport:
        """Check one snapshot (``None`` or ``all``: every one) and say what was read."""
        ...

    def forget(
        self,
        spec: JobSpec,
        policy: RetentionPolicy,
        *,
        dry_run: bool = False,
        on_delete: OnDelete | None = None,
    ) -> list[ForgetDecision]:
        """Apply ``policy`` to this job's snapshots; the newest is never removed."""
        ...

    def delete_data(self, spec: JobSpec) -> list[str]:
        """Remove every snapshot this job made and nothing else; returns their ids."""
        ...


__all__ = [
    "Capabilities",
    "Engine",
    "EngineError",
    "ErrorType",
    "ForgetDecision",
    "OnDelete",
    "RestoreReport",
    "RunOptions",
    "SnapshotInfo",
    "VerifyProblem",
    "VerifyReport",
]
