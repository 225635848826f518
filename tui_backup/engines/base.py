"""The engine protocol and registry.

An engine runs in a worker thread given a job spec, a cancel flag and an
``emit`` callable. It never touches the UI, the YAML store or SQLite; the
manager turns its events into state, history and notifications.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from tui_backup.engines.events import Emit
from tui_backup.model.job import JobSpec
from tui_backup.model.retention import RetentionPolicy


class EngineError(Exception):
    """A readable failure of an engine operation outside a run (restore, verify...)."""

    def __init__(self, message: str, error_type: str = "engine_error") -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    id: str
    time: datetime
    files: int = 0
    bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        from tui_backup.model.clock import to_iso

        return {"id": self.id, "time": to_iso(self.time), "files": self.files, "bytes": self.bytes}


@dataclass(frozen=True, slots=True)
class VerifyProblem:
    snapshot_id: str
    path: str
    reason: str
    """``missing``, ``checksum mismatch``, ``size mismatch``, ``unreadable: ...``"""


@dataclass(frozen=True, slots=True)
class VerifyReport:
    snapshots: tuple[str, ...]
    files_checked: int
    bytes_checked: int
    problems: tuple[VerifyProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


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


@dataclass(frozen=True, slots=True)
class ForgetDecision:
    snapshot_id: str
    time: datetime
    keep: bool
    reasons: tuple[str, ...]


class Engine(Protocol):
    """What every engine offers. Long operations take ``cancel`` and ``emit``."""

    name: str

    def run(self, spec: JobSpec, cancel: threading.Event, emit: Emit) -> None:
        """Make one backup; must emit exactly one ``Finished`` and never raise."""

    def snapshots(self, spec: JobSpec) -> list[SnapshotInfo]:
        """Complete snapshots, newest first (never a ``.partial``)."""

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
    ) -> RestoreReport: ...

    def verify(
        self,
        spec: JobSpec,
        snapshot_id: str | None = None,
        *,
        cancel: threading.Event | None = None,
        emit: Emit | None = None,
    ) -> VerifyReport:
        """Check one snapshot (``None``: all) against its manifest."""

    def forget(
        self, spec: JobSpec, policy: RetentionPolicy, *, dry_run: bool = False
    ) -> list[ForgetDecision]: ...

    def delete_data(self, spec: JobSpec) -> None:
        """Remove every snapshot this job made (``job rm --purge-data``)."""


def get_engine(name: str) -> Engine:
    """The engine for a job's ``engine`` field; imported lazily to keep start-up fast."""
    if name == "snapshot":
        from tui_backup.engines.snapshot import SnapshotEngine

        return SnapshotEngine()
    if name == "rsync":
        from tui_backup.engines.rsync import RsyncEngine

        return RsyncEngine()
    if name == "restic":
        from tui_backup.engines.restic import ResticEngine

        return ResticEngine()
    raise EngineError(f"unknown engine {name!r}", "unknown_engine")
