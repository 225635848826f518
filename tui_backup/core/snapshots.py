"""Snapshot operations for any front end: list, restore, verify, forget.

Thin on purpose: the CLI and the TUI call these with a job spec; they pick
the job's engine, turn engine failures into :class:`SnapshotOperationFailed`
(readable as is) and record a HIGH error event when verify finds damage,
through the ``record_error`` callback (the job manager's recorder).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from tui_backup.core.errors import OperationFailed
from tui_backup.engines.api import (
    EngineError,
    ForgetDecision,
    RestoreReport,
    SnapshotInfo,
    VerifyReport,
)
from tui_backup.engines.events import Emit
from tui_backup.engines.registry import get_engine
from tui_backup.model.job import JobSpec
from tui_backup.model.records import ErrorEvent
from tui_backup.model.status import Severity

RecordError = Callable[[ErrorEvent], Any]


class SnapshotOperationFailed(OperationFailed):
    """A snapshot operation failed; ``error_type`` is the engine's class of failure."""

    def __init__(self, message: str, error_type: str = "engine_error") -> None:
        super().__init__(message)
        self.error_type = error_type


class NoRetentionPolicy(SnapshotOperationFailed):
    """``forget`` for a job without a retention block (bad input, not a failure)."""


def _engine(spec: JobSpec, method: str) -> Any:
    try:
        engine = get_engine(spec.engine)
    except EngineError as exc:
        raise SnapshotOperationFailed(str(exc), exc.error_type) from exc
    if not hasattr(engine, method):
        raise SnapshotOperationFailed(
            f"the {spec.engine} engine cannot {method} snapshots", "unsupported"
        )
    return engine


def _failed(spec: JobSpec, exc: EngineError | OSError) -> SnapshotOperationFailed:
    if isinstance(exc, EngineError):
        return SnapshotOperationFailed(f"{spec.name}: {exc}", exc.error_type)
    return SnapshotOperationFailed(f"{spec.name}: {exc.strerror or exc}", "os_error")


def list_snapshots(spec: JobSpec) -> list[SnapshotInfo]:
    """Complete snapshots of ``spec``, newest first."""
    try:
        return list(_engine(spec, "snapshots").snapshots(spec))
    except (EngineError, OSError) as exc:
        raise _failed(spec, exc) from exc


def restore(
    spec: JobSpec,
    target: str,
    *,
    snapshot: str | None = None,
    paths: Sequence[str] = (),
    dry_run: bool = False,
    overwrite: bool = False,
    cancel: threading.Event | None = None,
    emit: Emit | None = None,
) -> RestoreReport:
    """Restore ``paths`` (all when empty) of ``snapshot`` (None: latest) into ``target``."""
    try:
        return _engine(spec, "restore").restore(
            spec,
            snapshot or "latest",
            target,
            paths,
            dry_run=dry_run,
            overwrite=overwrite,
            cancel=cancel,
            emit=emit,
        )
    except (EngineError, OSError) as exc:
        raise _failed(spec, exc) from exc


def verify(
    spec: JobSpec,
    snapshot: str | None = None,
    *,
    record_error: RecordError | None = None,
    cancel: threading.Event | None = None,
    emit: Emit | None = None,
) -> VerifyReport:
    """Re-check ``snapshot`` (None or ``all``: every one); damage is a HIGH error event."""
    try:
        report: VerifyReport = _engine(spec, "verify").verify(
            spec, snapshot, cancel=cancel, emit=emit
        )
    except (EngineError, OSError) as exc:
        raise _failed(spec, exc) from exc
    if not report.ok and record_error is not None:
        first = report.problems[0]
        more = f" and {len(report.problems) - 1} more" if len(report.problems) > 1 else ""
        lines = [f"{p.snapshot_id}: {p.path or '(manifest)'}: {p.reason}" for p in report.problems]
        record_error(
            ErrorEvent(
                severity=Severity.HIGH,
                component="verify",
                error_type="verify_failed",
                message=(
                    f"{spec.name}: verify found damage in snapshot {first.snapshot_id}: "
                    f"{first.path or '(manifest)'} {first.reason}{more}"
                ),
                job_name=spec.name,
                details="\n".join(lines[:1000]),
            )
        )
    return report


def forget(
    spec: JobSpec, *, dry_run: bool = False, on_delete: Callable[[str], None] | None = None
) -> list[ForgetDecision]:
    """Apply the job's retention block now; newest first, with restic's reasons."""
    if spec.retention is None or spec.retention.is_empty:
        raise NoRetentionPolicy(
            f"job {spec.name!r} has no retention policy; add a retention block first",
            "no_policy",
        )
    engine = _engine(spec, "forget")
    try:
        if on_delete is not None and spec.engine == "snapshot":
            return list(engine.forget(spec, spec.retention, dry_run=dry_run, on_delete=on_delete))
        return list(engine.forget(spec, spec.retention, dry_run=dry_run))
    except (EngineError, OSError) as exc:
        raise _failed(spec, exc) from exc


__all__ = [
    "ForgetDecision",
    "NoRetentionPolicy",
    "RestoreReport",
    "SnapshotInfo",
    "SnapshotOperationFailed",
    "VerifyReport",
    "forget",
    "list_snapshots",
    "restore",
    "verify",
]
