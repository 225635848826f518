"""The built-in ``snapshot`` engine: hard-link snapshots, restore, verify, forget.

:meth:`SnapshotEngine.run` is the whole contract of principle 4: it only
emits events, emits exactly one ``Finished`` and never raises. The other
operations raise :class:`~tui_backup.engines.api.EngineError` with a
readable message when they cannot do what was asked.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from tui_backup.engines import layout
from tui_backup.engines.events import Emit, EngineEvent, FileWarning, Finished
from tui_backup.engines.snapshot import marker
from tui_backup.engines.snapshot.build import SnapshotBuilder
from tui_backup.engines.snapshot.errors import Cancelled, Fatal
from tui_backup.engines.snapshot.store import SnapshotStore
from tui_backup.engines.throttle import ProgressReporter
from tui_backup.model.clock import Clock, utcnow
from tui_backup.model.job import JobSpec
from tui_backup.model.status import Status

if TYPE_CHECKING:
    from tui_backup.engines.api import ForgetDecision, RestoreReport, SnapshotInfo, VerifyReport
    from tui_backup.model.retention import RetentionPolicy

# A backup run needs only the modules above; restore, verify, retention and the
# report types are imported by the operations that use them, which keeps the
# start-up of a run (a subprocess, the CLI) short.

log = logging.getLogger(__name__)


def _ignore(_event: EngineEvent) -> None:
    pass


def _format_exc() -> str:
    import traceback

    return traceback.format_exc()


def _engine_error(message: str, error_type: str) -> Exception:
    from tui_backup.engines.api import EngineError

    return EngineError(message, error_type)


class SnapshotEngine:
    """Hard-link snapshots in a local directory; needs no external program."""

    name = "snapshot"

    def __init__(self, clock: Clock = utcnow, workers: int = 2) -> None:
        self._clock = clock
        self.workers = workers
        """Copy threads; BENCHMARKING.md: two help small files, four are no better."""

    # -- run ---------------------------------------------------------------

    def run(self, spec: JobSpec, cancel: threading.Event, emit: Emit) -> None:
        started = time.monotonic()
        reporter = ProgressReporter(emit)
        builder: SnapshotBuilder | None = None
        finished: Finished
        try:
            builder = SnapshotBuilder(
                spec, cancel, emit, reporter, self._clock(), workers=self.workers
            )
            result = builder.build()
            # Retention is applied by the job runner after a success (core/runner.py),
            # through forget(), so a failed run can never rotate good snapshots away.
            warnings = result.warnings
            reporter.tick(force=True)
            finished = Finished(
                status=Status.SUCCEEDED,
                files=result.files,
                bytes=result.bytes,
                warnings=warnings,
                snapshot_id=result.snapshot_id,
            )
            log.info(
                "snapshot %s of %s: %d files (%d copied, %d linked), %d bytes, %d warnings, %.2fs",
                result.snapshot_id, spec.name, result.files, result.copied, result.linked,
                result.bytes, warnings, time.monotonic() - started,
            )  # fmt: skip
        except Cancelled:
            finished = Finished(
                status=Status.STOPPED,
                files=builder.files if builder else 0,
                bytes=builder.bytes if builder else 0,
                warnings=builder.warnings if builder else 0,
            )
        except Fatal as exc:
            finished = Finished(
                status=Status.FAILED,
                files=builder.files if builder else 0,
                bytes=builder.bytes if builder else 0,
                warnings=builder.warnings if builder else 0,
                error=exc.message,
                error_type=exc.error_type,
                transient=exc.transient,
            )
        except Exception as exc:  # run() must never raise
            log.exception("snapshot run of %s crashed", spec.name)
            finished = Finished(
                status=Status.FAILED,
                error=f"The snapshot engine failed unexpectedly: {exc}.",
                error_type="internal_error",
                details=_format_exc(),
            )
        emit(finished)

    # -- queries -------------------------------------------------------------

    def _store(self, spec: JobSpec) -> SnapshotStore:
        return SnapshotStore(os.path.abspath(os.path.expanduser(spec.destination)))

    def snapshots(self, spec: JobSpec) -> list[SnapshotInfo]:
        from tui_backup.engines.api import SnapshotInfo

        store = self._store(spec)
        out = []
        for snapshot_id in store.ids():
            summary = store.summary(snapshot_id)
            when = layout.parse_id(snapshot_id)
            assert when is not None
            out.append(
                SnapshotInfo(
                    id=snapshot_id,
                    time=when,
                    files=int(summary.get("files", 0) or 0),
                    bytes=int(summary.get("bytes", 0) or 0),
                )
            )
        return out

    def resolve(self, spec: JobSpec, snapshot_id: str | None) -> str:
        """An existing complete snapshot id for ``snapshot_id`` (None or ``latest``: newest)."""
        store = self._store(spec)
        if snapshot_id in (None, "", "latest"):
            newest = store.newest()
            if newest is None:
                raise _engine_error(f"Job {spec.name!r} has no snapshots yet.", "no_snapshots")
            return newest
        assert snapshot_id is not None
        if layout.parse_id(snapshot_id) is None or snapshot_id not in store.ids():
            raise _engine_error(
                f"Job {spec.name!r} has no snapshot {snapshot_id!r}.", "snapshot_not_found"
            )
        return snapshot_id

    # -- restore ------------------------------------------------------------

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
        from tui_backup.engines.api import RestoreReport
        from tui_backup.engines.snapshot.restore import (
            RestoreCancelled,
            RestoreRun,
            normalize_request,
        )

        emit = emit or _ignore
        cancel = cancel or threading.Event()
        sid = self.resolve(spec, snapshot_id)
        store = self._store(spec)
        summary = store.summary(sid)
        sources = [
            (str(s.get("path", "")), str(s.get("prefix", "")))
            for s in summary.get("sources", [])
            if isinstance(s, dict)
        ]
        requests = [normalize_request(p, sources) for p in paths]
        if not target:
            raise _engine_error("A restore needs an explicit target directory.", "invalid_target")
        target = os.path.abspath(os.path.expanduser(target))
        reporter = ProgressReporter(emit)
        if not requests:
            reporter.files_total = int(summary.get("files", 0) or 0)
            reporter.bytes_total = int(summary.get("bytes", 0) or 0)
        warnings = 0

        def warn(path: str, reason: str) -> None:
            nonlocal warnings
            warnings += 1
            reporter.warnings = warnings
            emit(FileWarning(path=path, reason=reason))

        run = RestoreRun(overwrite, dry_run, cancel, reporter, warn)
        reporter.set_phase("restore")
        try:
            run.restore(store.snapshot_path(sid), target, requests)
        except RestoreCancelled:
            raise _engine_error("Restore stopped before it finished.", "stopped") from None
        except OSError as exc:
            raise _engine_error(
                f"Restore into {target} failed: {exc.strerror or exc}.", "restore_failed"
            ) from exc
        reporter.tick(force=True)
        return RestoreReport(
            snapshot_id=sid,
            target=target,
            files=run.files,
            bytes=run.bytes,
            warnings=warnings,
            dry_run=dry_run,
            planned=tuple(run.planned),
        )

    # -- verify ---------------------------------------------------------------

    def verify(
        self,
        spec: JobSpec,
        snapshot_id: str | None = None,
        *,
        cancel: threading.Event | None = None,
        emit: Emit | None = None,
    ) -> VerifyReport:
        """Check one snapshot (``None`` or ``all``: every one) against its manifest."""
        from tui_backup.engines.api import VerifyReport
        from tui_backup.engines.snapshot.verify import Verifier, VerifyCancelled

        store = self._store(spec)
        every = snapshot_id in (None, "all")
        targets = store.ids() if every else [self.resolve(spec, snapshot_id)]
        reporter = ProgressReporter(emit or _ignore)
        reporter.files_total = sum(int(store.summary(s).get("files", 0) or 0) for s in targets)
        reporter.bytes_total = sum(int(store.summary(s).get("bytes", 0) or 0) for s in targets)
        reporter.set_phase("verify")
        verifier = Verifier(store, cancel or threading.Event(), reporter)
        try:
            for sid in targets:
                verifier.verify(sid)
        except VerifyCancelled:
            raise _engine_error("Verify stopped before it finished.", "stopped") from None
        reporter.tick(force=True)
        return VerifyReport(
            snapshots=tuple(targets),
            files_checked=verifier.files,
            bytes_checked=verifier.bytes,
            problems=tuple(verifier.problems),
        )

    # -- forget ---------------------------------------------------------------

    def forget(
        self,
        spec: JobSpec,
        policy: RetentionPolicy,
        *,
        dry_run: bool = False,
        now: datetime | None = None,
        on_delete: Callable[[str], None] | None = None,
    ) -> list[ForgetDecision]:
        """Apply ``policy`` to the complete snapshots; newest first, with reasons.

        Calendar buckets use the local time zone (a "daily" snapshot is one per
        local day, as restic does on the machine that made the backups). The
        newest complete snapshot is never removed, whatever the policy says.
        """
        from tui_backup.engines.api import ForgetDecision
        from tui_backup.engines.retention import apply_policy

        store = self._store(spec)
        try:
            marker.check_owner(store.dest, spec.name)
        except marker.DestinationOwned as exc:
            raise _engine_error(str(exc), "destination_owned") from exc
        snapshot_ids = store.ids()
        times = []
        for sid in snapshot_ids:
            when = layout.parse_id(sid)
            assert when is not None
            times.append(when.astimezone())
        result = apply_policy(times, policy, now=now)
        decisions: list[ForgetDecision] = []
        for d in result.decisions:
            keep, reasons = d.keep, d.reasons
            if d.index == 0 and not keep:
                keep, reasons = True, ("newest snapshot",)
            decisions.append(ForgetDecision(snapshot_ids[d.index], times[d.index], keep, reasons))
        if not dry_run:
            for decision in decisions:
                if not decision.keep:
                    try:
                        store.delete(decision.snapshot_id)
                    except OSError as exc:
                        raise _engine_error(
                            f"Could not delete snapshot {decision.snapshot_id}: {exc.strerror}.",
                            "delete_failed",
                        ) from exc
                    if on_delete is not None:
                        on_delete(decision.snapshot_id)
            store.fix_latest()
        return decisions

    def delete_data(self, spec: JobSpec) -> None:
        """Remove every snapshot this job made, its metadata, and the marker."""
        store = self._store(spec)
        try:
            marker.check_owner(store.dest, spec.name)
        except marker.DestinationOwned as exc:
            raise _engine_error(str(exc), "destination_owned") from exc
        store.cleanup_stale()
        for sid in store.ids():
            store.delete(sid)
        store.fix_latest()
        try:
            os.unlink(marker.marker_path(store.dest))
            os.rmdir(store.meta)
        except OSError:
            pass
