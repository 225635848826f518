"""The ``restic`` engine: any restic repository (local, sftp, s3, rest, rclone).

This is the path for users who outgrow one disk: deduplication, encryption,
remote storage. The repository is the job's ``destination``; several jobs
may share it, each owning only the snapshots tagged ``tui-backup:<job>`` and
made on this host. The password comes from the job's ``env``
(``RESTIC_PASSWORD_FILE`` or ``RESTIC_PASSWORD_COMMAND``) or the environment,
never from argv.

A backup runs ``restic backup`` directly (no probe of the repository first:
that cost 0.6 s per run) and reads its failure: a missing repository is
``NO_REPOSITORY`` ("run ``tui-backup init NAME``"), and an unreachable
remote is never mistaken for a missing one. A run initialises a repository
only where the location is known to be new: a local path that does not
exist while its parent does (a missing parent is an unmounted disk and is
refused). An existing directory without a repository (an empty mount point
included) is never initialised by a run; ``init`` is the way.
"""

from __future__ import annotations

import logging
import os
import posixpath
import threading
from collections.abc import Sequence

from tui_backup.engines.api import (
    Capabilities,
    EngineError,
    ErrorType,
    ForgetDecision,
    OnDelete,
    RestoreReport,
    RunOptions,
    SnapshotInfo,
    VerifyReport,
)
from tui_backup.engines.common import (
    check_local_parent,
    check_sources,
    decide_forget,
    guarded_run,
    resolve_snapshot,
)
from tui_backup.engines.events import Emit, Finished
from tui_backup.engines.restic import listing
from tui_backup.engines.restic.backup import EXIT_PARTIAL, BackupStream
from tui_backup.engines.restic.command import DEFAULT_LOCK_TIMEOUT, Restic, hostname, tag
from tui_backup.engines.restic.errors import ALREADY_EXISTS_RE, classify
from tui_backup.engines.restic.excludes import exclude_args
from tui_backup.engines.restic.location import host_of, is_local, mask, sftp_path
from tui_backup.engines.restic.sftp import remote_dir_exists
from tui_backup.model.job import JobSpec
from tui_backup.model.retention import RetentionPolicy
from tui_backup.model.status import Status

log = logging.getLogger(__name__)

PROGRESS_FPS = 10


class ResticEngine:
    name = "restic"

    def __init__(self, binary: str = "restic", lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.binary = binary
        self.lock_timeout = lock_timeout

    def _restic(self, spec: JobSpec) -> Restic:
        return Restic(spec, self.binary, self.lock_timeout)

    def capabilities(self, spec: JobSpec) -> Capabilities:
        return Capabilities(
            remote=not is_local(spec.destination),
            browsable=False,
            repository_check=True,
            checksum_run=True,
            shares_destination=True,
            dedup=True,
            encryption=True,
            needs_init=True,
        )

    # -- the repository --------------------------------------------------------

    def init(self, spec: JobSpec) -> str:
        """``restic init``; refused when a repository is already there or the disk is absent."""
        restic = self._restic(spec)
        if restic.local:
            check_local_parent(restic.local_path)
            if os.path.exists(os.path.join(restic.local_path, "config")):
                raise _already(restic)
            if os.path.isdir(restic.local_path) and os.listdir(restic.local_path):
                raise EngineError(
                    f"{restic.local_path} is not empty and is not a restic repository; "
                    "choose a new or empty directory",
                    ErrorType.DESTINATION_ERROR,
                )
        else:
            _check_remote_parent(restic)
        result, _ = restic.call(["init"])
        if result.returncode != 0:
            if ALREADY_EXISTS_RE.search(result.stderr):
                raise _already(restic)
            restic.check(result, f"could not create a restic repository at {restic.shown}")
        log.info("created restic repository %s", restic.shown)
        return f"created restic repository at {restic.shown}"

    # -- backup --------------------------------------------------------------

    def run(
        self,
        spec: JobSpec,
        cancel: threading.Event,
        emit: Emit,
        options: RunOptions | None = None,
    ) -> None:
        opts = options or RunOptions()
        guarded_run(self.name, emit, lambda: self._run(spec, cancel, emit, opts))

    def _run(self, spec: JobSpec, cancel: threading.Event, emit: Emit, options: RunOptions) -> None:
        check_sources(spec)
        restic = self._restic(spec)
        env = restic.env()
        if restic.local:
            check_local_parent(restic.local_path)
            if not os.path.lexists(restic.local_path):
                log.info("%s", self.init(spec))  # known to be new: nothing is there at all
            elif not os.path.exists(os.path.join(restic.local_path, "config")):
                raise listing.no_repository(restic)
        if cancel.is_set():
            emit(Finished(Status.STOPPED))
            return
        # Our progress throttle forwards 10 frames a second; restic's default 60 is
        # wasted work on both sides of the pipe.
        env.setdefault("RESTIC_PROGRESS_FPS", str(PROGRESS_FPS))
        stream = BackupStream(emit)
        stream.reporter.set_phase("scan")
        sources = [os.path.abspath(os.path.expanduser(s)) for s in spec.sources]
        args = ["backup", "--json", "--tag", tag(spec), "--host", hostname()]
        if options.checksum:
            args.append("--force")
        with exclude_args(sources, spec.exclude) as excludes:
            args += [*excludes, "--", *sources]
            result, _ = restic.call(
                args, cancel=cancel, on_line=stream.on_line, env=env, on_stderr=stream.on_line
            )
        counts = {"files": stream.files, "bytes": stream.bytes, "warnings": stream.warnings}
        if result.cancelled:
            emit(Finished(Status.STOPPED, **counts))
            return
        if result.returncode in (0, EXIT_PARTIAL) and stream.snapshot_id:
            stream.reporter.set_phase("commit")
            emit(Finished(Status.SUCCEEDED, snapshot_id=stream.snapshot_id, **counts))
            return
        error = classify(result.stderr, restic.repository, "restic backup failed")
        if error.error_type == ErrorType.NO_REPOSITORY:
            _check_remote_parent(restic)
            error = listing.no_repository(restic)
        emit(
            Finished(
                Status.FAILED,
                error=str(error),
                error_type=error.error_type,
                transient=error.transient,
                details=mask(result.stderr, restic.repository),
                **counts,
            )
        )

    # -- queries -------------------------------------------------------------

    def _own(self, spec: JobSpec) -> tuple[Restic, list[listing.ResticSnapshot]]:
        restic = self._restic(spec)
        if restic.local:
            check_local_parent(restic.local_path)
        return restic, listing.list_own(restic)

    def snapshots(self, spec: JobSpec) -> list[SnapshotInfo]:
        restic, snaps = self._own(spec)
        return listing.infos(restic, snaps)

    def _pick(
        self, spec: JobSpec, snaps: list[listing.ResticSnapshot], snapshot_id: str | None
    ) -> listing.ResticSnapshot:
        plain = [SnapshotInfo(s.short_id, s.time) for s in snaps]
        short = resolve_snapshot(spec, plain, snapshot_id, prefix=True)
        if snapshot_id and len(snapshot_id) > len(short):
            # A full id (or a longer prefix): must match the full id, not only its start.
            matches = [s for s in snaps if s.id.startswith(snapshot_id)]
            if len(matches) != 1:
                raise EngineError(
                    f"job {spec.name!r} has no snapshot {snapshot_id!r}",
                    ErrorType.SNAPSHOT_NOT_FOUND,
                )
            return matches[0]
        return next(s for s in snaps if s.short_id == short)

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
        # The door loads its module on first use: a backup run never loads restore or verify.
        from tui_backup.engines.restic.restore import restore  # noqa: PLC0415

        restic, snaps = self._own(spec)
        snap = self._pick(spec, snaps, snapshot_id)
        return restore(
            restic, snap, target, paths, dry_run=dry_run, overwrite=overwrite, cancel=cancel
        )

    def verify(
        self,
        spec: JobSpec,
        snapshot_id: str | None = None,
        *,
        deep: bool = False,
        cancel: threading.Event | None = None,
        emit: Emit | None = None,
    ) -> VerifyReport:
        """``restic check`` of the repository (see :mod:`.verify`); ``deep`` reads all data."""
        # The door loads its module on first use: a backup run never loads restore or verify.
        from tui_backup.engines.restic.verify import verify  # noqa: PLC0415

        restic, snaps = self._own(spec)
        if snapshot_id not in (None, "", "all", "latest") and snaps:
            snaps = [self._pick(spec, snaps, snapshot_id)]
        return verify(restic, snaps, deep=deep or spec.verify.deep, cancel=cancel)

    # -- deleting --------------------------------------------------------------

    def forget(
        self,
        spec: JobSpec,
        policy: RetentionPolicy,
        *,
        dry_run: bool = False,
        on_delete: OnDelete | None = None,
    ) -> list[ForgetDecision]:
        restic, snaps = self._own(spec)
        decisions = decide_forget([SnapshotInfo(s.short_id, s.time) for s in snaps], policy)
        remove = [d.snapshot_id for d in decisions if not d.keep]
        if remove and not dry_run:
            self._forget_ids(restic, spec, remove, on_delete)
        return decisions

    def delete_data(self, spec: JobSpec) -> list[str]:
        """Forget and prune exactly this job's snapshots; the repository and others' stay.

        No repository at all: nothing of this job's exists, so nothing is deleted.
        """
        try:
            restic, snaps = self._own(spec)
        except EngineError as exc:
            if exc.error_type == ErrorType.NO_REPOSITORY:
                return []
            raise
        ids = [s.short_id for s in snaps]
        if ids:
            self._forget_ids(restic, spec, ids, None)
        return ids

    def _forget_ids(
        self, restic: Restic, spec: JobSpec, short_ids: list[str], on_delete: OnDelete | None
    ) -> None:
        """``restic forget --prune`` of explicit full ids, each re-checked as this job's."""
        fresh = {s.short_id: s for s in listing.list_own(restic)}
        full: list[str] = []
        for sid in short_ids:
            snap = fresh.get(sid)
            if snap is None:
                raise EngineError(
                    f"snapshot {sid} is no longer one of job {spec.name!r}'s; nothing deleted",
                    ErrorType.DESTINATION_OWNED,
                )
            full.append(snap.id)
        result, _ = restic.call(["forget", "--prune", *full])
        if result.returncode != 0:
            err = classify(result.stderr, restic.repository, "restic forget failed")
            if err.error_type == ErrorType.TOOL_FAILED:
                err = EngineError(str(err), ErrorType.FORGET_FAILED)
            raise err
        if on_delete is not None:
            for sid in short_ids:
                on_delete(sid)


def _check_remote_parent(restic: Restic) -> None:
    """Refuse an sftp repository whose parent directory is missing on the server.

    restic's sftp ``init`` would create it: on a server whose backup disk is
    not mounted, that is a new repository on its root filesystem.
    """
    if not restic.repository.startswith("sftp:"):
        return

    parent = posixpath.dirname(sftp_path(restic.repository).rstrip("/"))
    if parent in ("", ".", "/", "~"):
        return
    if remote_dir_exists(restic.sftp_argv(), parent) is False:
        raise EngineError(
            f"the repository's parent directory {parent} does not exist on "
            f"{host_of(restic.repository)} (is the backup disk mounted there?)",
            ErrorType.DESTINATION_MISSING,
        )


def _already(restic: Restic) -> EngineError:
    return EngineError(
        f"there is already a restic repository at {restic.shown}; nothing to initialise "
        "(a job can use it as it is, with that repository's password)",
        ErrorType.REPOSITORY_ERROR,
    )


__all__ = ["ResticEngine"]
