"""The built-in ``snapshot`` engine: hard-link snapshots, restore, verify, forget.

:meth:`SnapshotEngine.run` is the whole contract of principle 4: it only
emits events, emits exactly one ``Finished`` and never raises. The other
operations raise :class:`~tui_backup.engines.api.EngineError` with a
readable message and an :class:`~tui_backup.engines.api.ErrorType` when they
cannot do what was asked. Every operation but ``init`` and ``run`` (which
claims it) refuses a destination whose owner marker names another job.
"""

from __future__ import annotations

# The engine's doors (restore, verify, forget, listings) import their modules on
# first use, so a process that only runs backups never loads them.
# ruff: noqa: PLC0415
import logging
import os
import stat
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tui_backup.engines.events import Emit, EngineEvent, FileWarning, Finished
from tui_backup.engines.snapshot import marker
from tui_backup.engines.snapshot.build import SnapshotBuilder
from tui_backup.engines.snapshot.count import RunReporter
from tui_backup.engines.snapshot.errors import Cancelled, Fatal
from tui_backup.engines.snapshot.store import SnapshotStore
from tui_backup.engines.throttle import ProgressReporter
from tui_backup.model.clock import Clock, utcnow
from tui_backup.model.job import JobSpec
from tui_backup.model.status import Status

if TYPE_CHECKING:
    from tui_backup.engines.api import (
        Capabilities,
        ForgetDecision,
        OnDelete,
        RestoreReport,
        RunOptions,
        SnapshotInfo,
        VerifyReport,
    )
    from tui_backup.model.retention import RetentionPolicy

# A backup run needs only the modules above; the API types, restore, verify,
# retention and the shared helpers are imported by the operations that use
# them, which keeps the start-up of a run (a subprocess, the CLI) short:
# ``engines.api`` alone costs ~8 ms, 2 % of a no-change incremental.

log = logging.getLogger(__name__)


def _ignore(_event: EngineEvent) -> None:
    pass


def _error(message: str, error_type: str) -> Exception:
    from tui_backup.engines.api import EngineError

    return EngineError(message, error_type)


class SnapshotEngine:
    """Hard-link snapshots in a local directory; needs no external program."""

    name = "snapshot"

    def __init__(self, clock: Clock = utcnow, workers: int = 2) -> None:
        self._clock = clock
        self.workers = workers
        """Copy threads; BENCHMARKING.md: two help small files, four are no better."""

    def capabilities(self, spec: JobSpec) -> Capabilities:
        from tui_backup.engines.api import Capabilities

        return Capabilities(
            browsable=True, manifest_verify=True, deep_verify=True, checksum_run=True
        )

    def init(self, spec: JobSpec) -> str:
        """Create the destination (never its parent) and claim it for this job."""
        from tui_backup.engines.api import ErrorType
        from tui_backup.engines.common import check_local_parent

        dest = self._dest(spec)
        check_local_parent(dest)
        existed = os.path.isdir(dest)
        owner = marker.read_owner(dest)
        try:
            os.makedirs(dest, exist_ok=True)
            marker.claim(dest, spec.name)
        except marker.DestinationOwned as exc:
            raise _error(str(exc), ErrorType.DESTINATION_OWNED) from exc
        except marker.UnsafeMetadata as exc:
            raise _error(str(exc), ErrorType.DESTINATION_ERROR) from exc
        except OSError as exc:
            raise _error(
                f"cannot create the destination {dest}: {exc.strerror or exc}",
                ErrorType.DESTINATION_UNWRITABLE,
            ) from exc
        if owner == spec.name:
            return f"destination {dest} already belongs to job {spec.name!r}; nothing to do"
        verb = "claimed the existing" if existed else "created the"
        return f"{verb} destination {dest} for job {spec.name!r}"

    # -- run ---------------------------------------------------------------

    def run(
        self,
        spec: JobSpec,
        cancel: threading.Event,
        emit: Emit,
        options: RunOptions | None = None,
    ) -> None:
        started = time.monotonic()
        reporter = RunReporter(emit)
        builder: SnapshotBuilder | None = None
        finished: Finished
        try:
            builder = SnapshotBuilder(
                spec,
                cancel,
                emit,
                reporter,
                self._clock(),
                workers=self.workers,
                checksum=bool(options is not None and options.checksum),
            )
            result = builder.build()
            # Retention is applied by the job runner after a success (core/runner.py),
            # through forget(), so a failed run can never rotate good snapshots away.
            reporter.tick(force=True)
            finished = Finished(
                status=Status.SUCCEEDED,
                files=result.files,
                bytes=result.bytes,
                warnings=result.warnings,
                snapshot_id=result.snapshot_id,
            )
            log.info(
                "snapshot %s of %s: %d files (%d copied, %d linked), %d bytes, %d warnings, "
                "%s%.2fs",
                result.snapshot_id, spec.name, result.files, result.copied, result.linked,
                result.bytes, result.warnings, "full read, " if result.checksum else "",
                time.monotonic() - started,
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
        except Exception as exc:  # noqa: BLE001 - run() must never raise
            finished = _failure(exc, builder)
        emit(finished)

    # -- queries -------------------------------------------------------------

    def _dest(self, spec: JobSpec) -> str:
        return os.path.abspath(os.path.expanduser(spec.destination))

    def _store(self, spec: JobSpec) -> SnapshotStore:
        """The destination's store, once its marker says it is this job's (or nobody's)."""
        from tui_backup.engines.api import ErrorType

        store = SnapshotStore(self._dest(spec))
        try:
            marker.check_owner(store.dest, spec.name)
        except marker.DestinationOwned as exc:
            raise _error(str(exc), ErrorType.DESTINATION_OWNED) from exc
        return store

    def snapshots(self, spec: JobSpec) -> list[SnapshotInfo]:
        """Complete snapshots, newest first; counts from each summary, None when unreadable."""
        from tui_backup.engines import layout
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
                    files=_count(summary.get("files")),
                    bytes=_count(summary.get("bytes")),
                )
            )
        return out

    def resolve(self, spec: JobSpec, snapshot_id: str | None) -> str:
        """An existing complete snapshot id for ``snapshot_id`` (None or ``latest``: newest)."""
        from tui_backup.engines.common import resolve_snapshot

        return resolve_snapshot(spec, self.snapshots(spec), snapshot_id)

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
        """Restore ``paths`` (all when empty) with the source's layout into ``target``.

        Refused before anything is written: a target that is not empty
        (unless ``overwrite``), a path that is not in the snapshot, a path
        that leaves it. ``dry_run`` writes nothing, not even the target.
        """
        from tui_backup.engines.api import ErrorType, RestoreReport
        from tui_backup.engines.snapshot.restore import (
            RestoreCancelled,
            RestoreRun,
            check_target,
            locate,
            normalize_request,
        )

        emit = emit or _ignore
        cancel = cancel or threading.Event()
        if not target:
            raise _error("a restore needs an explicit target directory", ErrorType.INVALID_TARGET)
        sid = self.resolve(spec, snapshot_id)
        store = self._store(spec)
        summary = store.summary(sid)
        sources = [
            (str(s.get("path", "")), str(s.get("prefix", "")))
            for s in summary.get("sources", [])
            if isinstance(s, dict)
        ]
        snap_root = store.snapshot_path(sid)
        requests = [normalize_request(p, sources) for p in paths]
        for parts in requests:
            locate(snap_root, parts, sid)
        target = os.path.abspath(os.path.expanduser(target))
        check_target(target, overwrite=overwrite, dry_run=dry_run)
        reporter = ProgressReporter(emit)
        if not requests:
            reporter.files_total = _count(summary.get("files")) or 0
            reporter.bytes_total = _count(summary.get("bytes")) or 0
        skipped: list[str] = []

        def skip(path: str, reason: str) -> None:
            skipped.append(f"{path}: {reason}")
            reporter.warnings = len(skipped)
            emit(FileWarning(path=path, reason=reason))

        run = RestoreRun(
            overwrite, dry_run, cancel, reporter, skip, store.hardlinks(sid), _nodes(store, sid)
        )
        reporter.set_phase("restore")
        try:
            run.restore(snap_root, target, requests)
        except RestoreCancelled:
            raise _error("restore stopped before it finished", ErrorType.STOPPED) from None
        except OSError as exc:
            raise _error(
                f"restore into {target} failed: {exc.strerror or exc}", ErrorType.RESTORE_FAILED
            ) from exc
        reporter.tick(force=True)
        return RestoreReport(
            snapshot_id=sid,
            target=target,
            files=run.files,
            bytes=run.bytes,
            warnings=len(skipped),
            dry_run=dry_run,
            planned=tuple(run.planned),
            skipped=tuple(skipped),
        )

    # -- verify ---------------------------------------------------------------

    def verify(
        self,
        spec: JobSpec,
        snapshot_id: str | None = None,
        *,
        deep: bool = False,
        cancel: threading.Event | None = None,
        emit: Emit | None = None,
    ) -> VerifyReport:
        """Check one snapshot (``None`` or ``all``: every one) against its manifest.

        ``deep`` also compares each file with the source. Damage found is
        recorded so the next run copies those files fresh instead of linking
        them (:mod:`~tui_backup.engines.snapshot.damage`).
        """
        from tui_backup.engines.api import ErrorType, VerifyReport
        from tui_backup.engines.snapshot import damage
        from tui_backup.engines.snapshot.verify import Verifier

        snaps = self.snapshots(spec)
        store = self._store(spec)
        if snapshot_id in (None, "all"):
            targets = [s.id for s in snaps]
        else:
            targets = [self.resolve(spec, snapshot_id)]
        method = "manifest+source" if deep else "manifest"
        if not targets:
            return VerifyReport(
                (), 0, 0, method=method, unchecked=f"job {spec.name!r} has no snapshots"
            )
        reporter = ProgressReporter(emit or _ignore)
        counts = {s.id: s for s in snaps}
        reporter.files_total = sum(counts[t].files or 0 for t in targets)
        reporter.bytes_total = sum(counts[t].bytes or 0 for t in targets)
        reporter.set_phase("verify")
        # One snapshot: an inode is met once (its other links are in other snapshots),
        # so remembering digests would only cost memory that grows with the tree.
        verifier = Verifier(
            store, cancel or threading.Event(), reporter, deep=deep, share_inodes=len(targets) > 1
        )
        try:
            for sid in targets:
                verifier.verify(sid)
        finally:
            if verifier.damaged:
                try:
                    damage.add(store.dest, verifier.damaged)
                except OSError as exc:
                    log.error("cannot record damaged files in %s: %s", store.dest, exc)
        if verifier.cancelled:
            raise _error("verify stopped before it finished", ErrorType.STOPPED)
        reporter.tick(force=True)
        return VerifyReport(
            snapshots=tuple(targets),
            files_checked=verifier.files,
            bytes_checked=verifier.bytes,
            problems=tuple(verifier.problems),
            method=method,
            unchecked=verifier.unchecked_reason(),
            changed_since=verifier.changed,
        )

    # -- forget ---------------------------------------------------------------

    def forget(
        self,
        spec: JobSpec,
        policy: RetentionPolicy,
        *,
        dry_run: bool = False,
        now: datetime | None = None,
        on_delete: OnDelete | None = None,
    ) -> list[ForgetDecision]:
        """Apply ``policy`` to the complete snapshots; newest first, with reasons.

        Calendar buckets use the local time zone, and the newest snapshot is
        never removed (``engines.common.decide_forget``).
        """
        from tui_backup.engines.api import ErrorType
        from tui_backup.engines.common import decide_forget

        store = self._store(spec)
        decisions = decide_forget(self.snapshots(spec), policy, now=now)
        if not dry_run:
            for decision in decisions:
                if decision.keep:
                    continue
                try:
                    store.delete(decision.snapshot_id)
                except OSError as exc:
                    raise _error(
                        f"could not delete snapshot {decision.snapshot_id}: {exc.strerror or exc}",
                        ErrorType.FORGET_FAILED,
                    ) from exc
                if on_delete is not None:
                    on_delete(decision.snapshot_id)
            store.fix_latest()
        return decisions

    def delete_data(self, spec: JobSpec) -> list[str]:
        """Remove this job's snapshots, their metadata and the marker; nothing else.

        A file a person put in the destination survives, and so does the
        directory then. A destination that holds snapshots but no marker is
        not provably this job's: refused.
        """
        from tui_backup.engines.api import ErrorType

        store = self._store(spec)
        if not os.path.isdir(store.dest):
            return []
        ids = store.ids()
        if ids and marker.read_owner(store.dest) is None:
            raise _error(
                f"destination {store.dest} holds snapshots but no owner marker, so they are "
                f"not provably job {spec.name!r}'s; remove them by hand if they are",
                ErrorType.DESTINATION_OWNED,
            )
        try:
            store.cleanup_stale()
            for sid in ids:
                store.delete(sid)
            store.remove_metadata()
        except OSError as exc:
            raise _error(
                f"could not delete the snapshots in {store.dest}: {exc.strerror or exc}",
                ErrorType.FORGET_FAILED,
            ) from exc
        return ids


def _nodes(store: SnapshotStore, snapshot_id: str) -> dict[str, tuple[int, int]]:
    """The FIFOs, sockets and devices a snapshot's manifest lists (few: only ``n`` lines
    are parsed, so a restore of a million files does not parse a million lines twice)."""
    from tui_backup.engines.snapshot.manifest import ManifestError, parse_line, read_lines

    nodes: dict[str, tuple[int, int]] = {}
    try:
        for line in read_lines(store.manifest_path(snapshot_id)):
            if line.startswith("n\t"):
                entry = parse_line(line)
                nodes[entry.path] = (stat.S_IFMT(entry.mode), entry.size)
    except (ManifestError, OSError):
        return {}  # no manifest (an old snapshot): nodes in it are not restored, each one said
    return nodes


def _count(value: Any) -> int | None:
    """A summary's count, or None (unknown) when it is missing or not a count."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _failure(exc: Exception, builder: SnapshotBuilder | None) -> Finished:
    """The ``Finished`` of a run that raised something other than Fatal/Cancelled."""
    from dataclasses import replace

    from tui_backup.engines.api import EngineError
    from tui_backup.engines.common import crash_finished

    if isinstance(exc, EngineError):  # a refusal worded by engines.common
        done = Finished(
            status=Status.FAILED, error=str(exc), error_type=exc.error_type,
            transient=exc.transient,
        )  # fmt: skip
    else:
        done = crash_finished("snapshot", exc)
    if builder is not None:
        done = replace(done, files=builder.files, bytes=builder.bytes, warnings=builder.warnings)
    return done
