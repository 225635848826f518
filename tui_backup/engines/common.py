"""What every engine repeats, written once: the run guard, source and
destination checks, snapshot id resolution, "the newest snapshot is never
forgotten", and progress whose totals may still be growing.

Each helper raises :class:`~tui_backup.engines.api.EngineError` with one
:class:`~tui_backup.engines.api.ErrorType`, so all engines fail alike.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from tui_backup.engines.api import EngineError, ErrorType, ForgetDecision, SnapshotInfo
from tui_backup.engines.events import Emit, Finished
from tui_backup.engines.retention import apply_policy
from tui_backup.engines.throttle import ProgressReporter
from tui_backup.model.job import JobSpec
from tui_backup.model.progress import Progress
from tui_backup.model.retention import RetentionPolicy
from tui_backup.model.status import Status

log = logging.getLogger(__name__)


def crash_finished(engine: str, exc: BaseException) -> Finished:
    """The ``Finished`` for an unexpected exception: an engine never raises out of ``run``."""
    log.error("%s engine failed unexpectedly", engine, exc_info=exc)
    return Finished(
        Status.FAILED,
        error=f"the {engine} engine failed unexpectedly: {type(exc).__name__}: {exc}",
        error_type=ErrorType.ENGINE_CRASHED,
        details="".join(traceback.format_exception(exc)),
    )


def guarded_run(engine: str, emit: Emit, body: Callable[[], None]) -> None:
    """Run ``body``; an :class:`EngineError` or a crash becomes the one ``Finished``.

    ``body`` emits its own ``Finished`` when it ends normally; when it raises,
    this emits one instead, so ``run`` keeps the contract: exactly one
    ``Finished``, never an exception.
    """
    try:
        body()
    except EngineError as exc:
        emit(
            Finished(
                Status.FAILED, error=str(exc), error_type=exc.error_type, transient=exc.transient
            )
        )
    except Exception as exc:  # noqa: BLE001 - the engine contract: never raise
        emit(crash_finished(engine, exc))


def require_tool(binary: str, package: str | None = None) -> str:
    """The full path of ``binary``, or a readable refusal naming the package to install."""
    found = shutil.which(binary)
    if found is None:
        raise EngineError(
            f"the {binary} program is not installed (try `apt install {package or binary}`)",
            ErrorType.TOOL_MISSING,
        )
    return found


def check_sources(spec: JobSpec) -> None:
    """Every source exists (a symlink counts as itself): else ``source_missing``."""
    if not spec.sources:
        raise EngineError(f"job {spec.name!r} has no sources", ErrorType.SOURCE_MISSING)
    for source in spec.sources:
        path = os.path.abspath(os.path.expanduser(source))
        try:
            os.lstat(path)
        except FileNotFoundError:
            raise EngineError(f"source {path} does not exist", ErrorType.SOURCE_MISSING) from None
        except OSError as exc:
            raise EngineError(
                f"source {path} cannot be read: {exc.strerror}", ErrorType.SOURCE_UNREADABLE
            ) from exc


def check_local_parent(dest: str) -> None:
    """Refuse a local destination whose parent directory is missing: an unmounted disk.

    The destination itself may be created (a first run), its parent never:
    writing a backup onto the root filesystem under an empty mount point is
    how a disk fills up and a backup silently lands in the wrong place.
    """
    path = os.path.abspath(os.path.expanduser(dest)).rstrip("/") or "/"
    parent = os.path.dirname(path) or "/"
    if not os.path.isdir(parent):
        raise EngineError(
            f"the destination's parent directory {parent} does not exist "
            "(is the backup disk mounted?)",
            ErrorType.DESTINATION_MISSING,
        )


def resolve_snapshot(
    spec: JobSpec, snaps: Sequence[SnapshotInfo], snapshot_id: str | None, *, prefix: bool = False
) -> str:
    """The id of an existing snapshot of ``spec``; ``None``/``latest``/"" mean the newest.

    ``prefix`` accepts a unique leading part of an id (restic's short ids).
    """
    if not snaps:
        raise EngineError(f"job {spec.name!r} has no snapshots yet", ErrorType.NO_SNAPSHOTS)
    if snapshot_id in (None, "", "latest"):
        return snaps[0].id
    assert snapshot_id is not None
    for snap in snaps:
        if snap.id == snapshot_id:
            return snap.id
    if prefix:
        matches = [s.id for s in snaps if s.id.startswith(snapshot_id)]
        if len(matches) == 1:
            return matches[0]
    raise EngineError(
        f"job {spec.name!r} has no snapshot {snapshot_id!r}", ErrorType.SNAPSHOT_NOT_FOUND
    )


def decide_forget(
    snaps: Sequence[SnapshotInfo], policy: RetentionPolicy, *, now: datetime | None = None
) -> list[ForgetDecision]:
    """Retention decisions for ``snaps`` (newest first), in local calendar days.

    Buckets (day, week, month...) are counted in the machine's local time
    zone, as restic does, for every engine. The newest snapshot is always
    kept, whatever the policy says.
    """

    if not snaps:
        return []
    if policy.is_empty:
        return [ForgetDecision(s.id, s.time, True, ("no policy",)) for s in snaps]
    times = [s.time.astimezone() for s in snaps]
    result = apply_policy(times, policy, now=now)
    out: list[ForgetDecision] = []
    for d in result.decisions:
        keep, reasons = d.keep, tuple(d.reasons)
        if d.index == 0 and not keep:
            keep, reasons = True, ("newest snapshot",)
        out.append(ForgetDecision(snaps[d.index].id, times[d.index], keep, reasons))
    return out


class CountingReporter(ProgressReporter):
    """A :class:`ProgressReporter` whose totals may still be growing.

    External tools scan ahead of their copy (rsync's incremental recursion,
    restic's scanner): from the first second they know files and bytes done
    and what they have found so far, not the final totals. While
    :attr:`counting` is True every ``Progress`` says so (``counting=True``,
    no ETA), so front ends show "found so far" instead of a percentage that
    would run backwards. The caller keeps the totals monotonic and turns
    counting off once the tool's scan has finished.
    """

    def __init__(self, emit: Emit, interval: float = 0.1) -> None:
        super().__init__(emit, interval)
        self.counting = False

    def _build(self, now: float) -> Progress:
        progress = super()._build(now)
        if not self.counting:
            return progress
        return replace(progress, counting=True, eta_seconds=None)


@dataclass(frozen=True, slots=True)
class TargetMetadata:
    """The restore target's own mode, owner, times, xattrs and ACLs, put back after a restore.

    ``rsync -a SNAPSHOT/ TARGET/`` gives TARGET the snapshot root's metadata,
    and any restore that creates entries in TARGET moves its mtime (restic's
    staging directory too): restoring into a shared 1777 directory owned by
    someone else would leave it 0755, root's, or with a new mtime. Only what
    is created inside the target is the restore's business, so the target's
    own metadata is read before and written back after (best effort: as
    another user, some of it may not be ours to write, and then the restore
    could not change it either).
    """

    st: os.stat_result
    xattrs: dict[str, bytes]

    @classmethod
    def read(cls, target: str) -> TargetMetadata | None:
        try:
            st = os.stat(target)
        except OSError:
            return None  # created by the restore: nobody else's metadata to keep
        attrs: dict[str, bytes] = {}
        try:
            for name in os.listxattr(target):
                attrs[name] = os.getxattr(target, name)
        except OSError:
            pass
        return cls(st, attrs)

    def put_back(self, target: str) -> None:
        st = self.st
        try:
            now = os.stat(target)
        except OSError:
            return
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            return  # not the directory we looked at
        with contextlib.suppress(OSError):
            if (now.st_uid, now.st_gid) != (st.st_uid, st.st_gid):
                os.chown(target, st.st_uid, st.st_gid)
        with contextlib.suppress(OSError):
            present = set(os.listxattr(target))
            for name in present - set(self.xattrs):
                os.removexattr(target, name)
            for name, value in self.xattrs.items():
                os.setxattr(target, name, value)
        with contextlib.suppress(OSError):
            os.chmod(target, stat.S_IMODE(st.st_mode))
        with contextlib.suppress(OSError):
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
