"""The one door for every snapshot operation: list, browse, restore, verify, forget, purge.

Front ends reach a job's snapshots only through :class:`SnapshotOps`
(``JobManager.snapshots``), which gets engines from the manager's injected
engine factory, so a test double or a future engine is used the same way
everywhere. The door applies the rules every engine shares before the
engine is asked (nothing is deleted that is not provably the job's; checks say
what they checked):

- a real restore into a non-empty target is refused (``target_not_empty``)
  unless ``overwrite``; a dry run checks nothing it would have to write and
  never records an error (browsing is a dry run);
- engine failures become :class:`SnapshotOperationFailed`, readable as is,
  with the engine's :class:`~tui_backup.engines.api.ErrorType` kept;
- what a verify found is kept (``on_verified``: the manager stores it in the
  job's state and records an error event when it was not ``ok``).

Abilities are asked of :class:`~tui_backup.engines.api.Capabilities`, never
by probing methods or comparing engine names.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from tui_backup.core.errors import OperationFailed
from tui_backup.core.vocabulary import Component, Trigger
from tui_backup.engines.api import (
    Capabilities,
    EngineError,
    ErrorType,
    ForgetDecision,
    OnDelete,
    RestoreReport,
    SnapshotInfo,
    VerifyReport,
)
from tui_backup.engines.events import Emit
from tui_backup.model.job import JobSpec
from tui_backup.model.records import ErrorEvent
from tui_backup.model.secrets import mask_url
from tui_backup.model.status import Severity

log = logging.getLogger(__name__)

EngineFactory = Callable[[str], Any]
OnVerified = Callable[[JobSpec, VerifyReport, Trigger], None]
"""Called with every report a verify through the door produced, and its trigger."""
JobLock = Callable[[JobSpec], Any]
"""Context-manager factory: holds the job's run lock for the block (verify, purge)."""


BAD_INPUT = frozenset(
    {
        ErrorType.SNAPSHOT_NOT_FOUND,
        ErrorType.NO_SNAPSHOTS,
        ErrorType.PATH_NOT_IN_SNAPSHOT,
        ErrorType.BAD_PATH,
        ErrorType.INVALID_TARGET,
        ErrorType.TARGET_NOT_EMPTY,
        "no_policy",
    }
)
"""Failures that are the caller's input, not the backup's: CLI exit 2, no error event."""


class SnapshotOperationFailed(OperationFailed):
    """A snapshot operation failed; ``error_type`` is the engine's class of failure."""

    def __init__(self, message: str, error_type: str = "engine_error") -> None:
        super().__init__(message)
        self.error_type = error_type


class NoRetentionPolicy(SnapshotOperationFailed):
    """``forget`` for a job without a retention block (bad input, not a failure)."""


def _failed(spec: JobSpec, exc: BaseException) -> SnapshotOperationFailed:
    """The engine's failure as the door's, prefixed with the job, credentials masked."""
    if isinstance(exc, EngineError):
        return SnapshotOperationFailed(mask_url(f"{spec.name}: {exc}"), exc.error_type)
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return SnapshotOperationFailed(
            mask_url(f"{spec.name}: {exc.strerror or exc}{where}"), "os_error"
        )
    return SnapshotOperationFailed(mask_url(f"{spec.name}: {exc}"))


def target_refusal(target: str, overwrite: bool) -> SnapshotOperationFailed | None:
    """Why a real restore into ``target`` is refused before any engine is asked, or None.

    A target that is a file is an invalid target; a directory with anything
    in it is refused unless ``overwrite`` (one rule for every engine, chosen
    over "restore beside with a suffix": a person asked for that directory).
    """
    path = os.path.expanduser(target)
    if not os.path.lexists(path):
        return None
    if not os.path.isdir(path):
        return SnapshotOperationFailed(
            f"restore target {target} exists and is not a directory", ErrorType.INVALID_TARGET
        )
    if overwrite:
        return None
    try:
        with os.scandir(path) as entries:
            empty = next(entries, None) is None
    except OSError as exc:
        return SnapshotOperationFailed(
            f"restore target {target} cannot be read: {exc.strerror or exc}",
            ErrorType.INVALID_TARGET,
        )
    if empty:
        return None
    return SnapshotOperationFailed(
        f"restore target {target} is not empty; choose an empty directory or use --overwrite "
        "to replace files that exist there",
        ErrorType.TARGET_NOT_EMPTY,
    )


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class SnapshotOps:
    """Snapshot operations of any job, through the engine factory it was built with."""

    def __init__(
        self,
        engine_factory: EngineFactory,
        *,
        on_verified: OnVerified | None = None,
        job_lock: JobLock | None = None,
    ) -> None:
        self._factory = engine_factory
        self._on_verified = on_verified
        self._job_lock = job_lock

    def _engine(self, spec: JobSpec) -> Any:
        try:
            return self._factory(spec.engine)
        except EngineError as exc:
            raise SnapshotOperationFailed(str(exc), exc.error_type) from exc

    def _locked(self, spec: JobSpec) -> Any:
        return self._job_lock(spec) if self._job_lock is not None else _NoLock()

    # -- queries -------------------------------------------------------------

    def capabilities(self, spec: JobSpec) -> Capabilities:
        """What the job's engine can do for it (front ends show or hide actions by it)."""
        engine = self._engine(spec)
        try:
            caps: Capabilities = engine.capabilities(spec)
        except (EngineError, OSError) as exc:
            raise _failed(spec, exc) from exc
        return caps

    def list(self, spec: JobSpec) -> list[SnapshotInfo]:
        """The job's complete snapshots, newest first (``files``/``bytes`` None if unknown)."""
        engine = self._engine(spec)
        try:
            return list(engine.snapshots(spec))
        except (EngineError, OSError) as exc:
            raise _failed(spec, exc) from exc

    # -- commands ------------------------------------------------------------

    def restore(
        self,
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
        """Restore ``paths`` (all when empty) of ``snapshot`` (None: latest) into ``target``.

        A dry run (also how front ends browse a snapshot) writes nothing and
        lists in ``planned`` what a restore would write.
        """
        if not dry_run:
            refusal = target_refusal(target, overwrite)
            if refusal is not None:
                raise refusal
        engine = self._engine(spec)
        try:
            report: RestoreReport = engine.restore(
                spec,
                snapshot or "latest",
                target,
                tuple(paths),
                dry_run=dry_run,
                overwrite=overwrite,
                cancel=cancel,
                emit=emit,
            )
        except (EngineError, OSError) as exc:
            raise _failed(spec, exc) from exc
        return report

    def verify(
        self,
        spec: JobSpec,
        snapshot: str | None = None,
        *,
        deep: bool = False,
        cancel: threading.Event | None = None,
        emit: Emit | None = None,
        trigger: Trigger = Trigger.MANUAL,
    ) -> VerifyReport:
        """Check ``snapshot`` (None or ``all``: every one) and keep what was found.

        The outcome goes into the job's state (``last_verify``: ``health``
        reads it) and, when not ``ok``, into an error event: HIGH for damage,
        MEDIUM for a check that could not check. A stopped verify keeps nothing.

        Holds the job's run lock meanwhile (a run's retention could remove
        the snapshot being read, and the result is written to the job's
        state, which a run also writes); while the job runs it is refused.
        """
        engine = self._engine(spec)
        wanted = None if snapshot in (None, "all") else snapshot
        with self._locked(spec):
            try:
                report: VerifyReport = engine.verify(
                    spec, wanted, deep=deep, cancel=cancel, emit=emit
                )
            except (EngineError, OSError) as exc:
                raise _failed(spec, exc) from exc
            stopped = cancel is not None and cancel.is_set()
            if self._on_verified is not None and not stopped:
                self._on_verified(spec, report, trigger)
        return report

    def forget(
        self, spec: JobSpec, *, dry_run: bool = False, on_delete: OnDelete | None = None
    ) -> list[ForgetDecision]:
        """Apply the job's retention block now; newest first, with the reasons.

        Refused (``job_running``) while the job runs, unless ``dry_run``.
        """
        if spec.retention is None or spec.retention.is_empty:
            raise NoRetentionPolicy(
                f"job {spec.name!r} has no retention policy; add a retention block first",
                "no_policy",
            )
        engine = self._engine(spec)
        # A real forget holds the run lock: a run links against the snapshots
        # it could remove, and its own retention must not race this one.
        with _NoLock() if dry_run else self._locked(spec):
            try:
                return list(
                    engine.forget(spec, spec.retention, dry_run=dry_run, on_delete=on_delete)
                )
            except (EngineError, OSError) as exc:
                raise _failed(spec, exc) from exc

    def purge(self, spec: JobSpec) -> list[str]:
        """Delete every snapshot this job made and nothing else; the ids removed.

        Any refusal (another job owns the destination) or failure is raised:
        never a fallback to deleting something broader.
        """
        engine = self._engine(spec)
        try:
            removed = engine.delete_data(spec)
        except (EngineError, OSError) as exc:
            raise _failed(spec, exc) from exc
        return list(removed or ())

    def init(self, spec: JobSpec) -> str:
        """Create the job's destination (restic: the repository) and claim it; what was done."""
        engine = self._engine(spec)
        try:
            return str(engine.init(spec))
        except (EngineError, OSError) as exc:
            raise _failed(spec, exc) from exc


def verify_event(spec: JobSpec, report: VerifyReport) -> ErrorEvent | None:
    """The error event a verify outcome calls for: HIGH when damaged, MEDIUM when unchecked."""
    if report.problems:
        first = report.problems[0]
        more = f" and {len(report.problems) - 1} more" if len(report.problems) > 1 else ""
        lines = [f"{p.snapshot_id}: {p.path or '(manifest)'}: {p.reason}" for p in report.problems]
        return ErrorEvent(
            severity=Severity.HIGH,
            component=Component.VERIFY,
            error_type=ErrorType.VERIFY_FAILED,
            message=(
                f"{spec.name}: verify found damage in snapshot {first.snapshot_id}: "
                f"{first.path or '(manifest)'} {first.reason}{more}"
            ),
            job_name=spec.name,
            details="\n".join(lines[:1000]),
        )
    if report.unchecked is not None:
        return ErrorEvent(
            severity=Severity.MEDIUM,
            component=Component.VERIFY,
            error_type="verify_unchecked",
            message=mask_url(f"{spec.name}: verify could not check: {report.unchecked}"),
            job_name=spec.name,
            details=f"method {report.method}; {report.files_checked} files read",
        )
    return None


__all__ = [
    "BAD_INPUT",
    "Capabilities",
    "ForgetDecision",
    "NoRetentionPolicy",
    "RestoreReport",
    "SnapshotInfo",
    "SnapshotOperationFailed",
    "SnapshotOps",
    "VerifyReport",
    "target_refusal",
    "verify_event",
]
