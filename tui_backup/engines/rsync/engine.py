"""The ``rsync`` engine: ``--link-dest`` snapshots on a local path or ``[user@]host:path``.

Same layout as the built-in snapshot engine (``<dest>/<id>/`` complete trees,
``<id>.partial`` while running, ``latest``, ``.tui-backup/`` metadata with an
owner marker), so a user can move a job between the two engines. Remote
destinations are reached by rsync over ssh; the directory operations rsync
cannot do (list, rename, remove, hash) run as quoted shell commands over the
same ssh settings. Only ``rsync``, ``ssh`` and POSIX/GNU tools (``find``,
``sha256sum``, ``xargs``) are needed on the remote host, not Python.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime

from tui_backup.engines import layout
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
    check_sources,
    decide_forget,
    guarded_run,
    require_tool,
    resolve_snapshot,
)
from tui_backup.engines.events import Emit
from tui_backup.engines.rsync.connection import shared
from tui_backup.engines.rsync.destination import open_store
from tui_backup.engines.rsync.location import Location, SshSettings
from tui_backup.engines.rsync.store import Store
from tui_backup.model.clock import Clock, utcnow
from tui_backup.model.job import JobSpec
from tui_backup.model.retention import RetentionPolicy

DEFAULT_OPTIONS = RunOptions()


class RsyncEngine:
    name = "rsync"

    def __init__(self, binary: str = "rsync", clock: Clock = utcnow) -> None:
        self.binary = binary
        self._clock = clock

    def capabilities(self, spec: JobSpec) -> Capabilities:
        remote = Location.parse(spec.destination).remote
        return Capabilities(
            remote=remote,
            browsable=not remote,
            manifest_verify=True,
            deep_verify=True,
            checksum_run=True,
            shares_destination=False,
        )

    # -- the destination ---------------------------------------------------------

    @contextlib.contextmanager
    def _session(
        self, spec: JobSpec, *, create: bool = False, owned: bool = True, share: bool = True
    ) -> Iterator[Store]:
        """The job's destination for one operation (one shared ssh login when remote).

        ``owned`` refuses a destination another job's marker names; summaries
        are read with the listing except for a run or init (``create``).
        """
        loc = Location.parse(spec.destination)
        ssh = SshSettings.from_spec(spec) if loc.remote else None
        connection = shared(ssh, loc.host) if share else contextlib.nullcontext(ssh)
        with connection as live:
            store = open_store(spec.destination, live, create=create, summaries=not create)
            if owned:
                store.check_owner(spec.name)
            yield store

    def _infos(self, store: Store) -> list[SnapshotInfo]:
        out = []
        for sid in store.ids():
            when = layout.parse_id(sid)
            assert when is not None
            summary = store.summary(sid)
            files = bytes_ = None
            if summary is not None:
                files = _int_or_none(summary.get("files"))
                bytes_ = _int_or_none(summary.get("bytes"))
            out.append(SnapshotInfo(sid, when, files, bytes_))
        return out

    # -- operations ----------------------------------------------------------------

    def init(self, spec: JobSpec) -> str:
        """Create the destination directory (its parent must exist) and claim it."""
        require_tool(self.binary, "rsync")
        with self._session(spec, create=True, owned=False) as store:
            before = store.owner_job
            store.claim(spec.name)
            if before == spec.name:
                return f"{store.label} already belongs to job {spec.name!r}"
            return f"claimed {store.label} for job {spec.name!r}"

    def run(
        self,
        spec: JobSpec,
        cancel: threading.Event,
        emit: Emit,
        options: RunOptions = DEFAULT_OPTIONS,
    ) -> None:
        # The door loads its module on first use: a backup run never loads restore or verify.
        from tui_backup.engines.rsync.backup import Backup, Reported  # noqa: PLC0415

        def body() -> None:
            require_tool(self.binary, "rsync")
            check_sources(spec)
            try:
                Backup(self.binary, spec, cancel, emit, options, self._clock()).run()
            except Reported as failure:
                emit(failure.finished)

        guarded_run(self.name, emit, body)

    def snapshots(self, spec: JobSpec) -> list[SnapshotInfo]:
        with self._session(spec, share=False) as store:
            return self._infos(store)

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
        from tui_backup.engines.rsync.restore import restore  # noqa: PLC0415

        require_tool(self.binary, "rsync")
        with self._session(spec) as store:
            sid = resolve_snapshot(spec, self._infos(store), snapshot_id)
            return restore(
                self.binary, spec, store, sid, target, paths,
                dry_run=dry_run, overwrite=overwrite, cancel=cancel, emit=emit,
            )  # fmt: skip

    def verify(
        self,
        spec: JobSpec,
        snapshot_id: str | None = None,
        *,
        deep: bool = False,
        cancel: threading.Event | None = None,
        emit: Emit | None = None,
    ) -> VerifyReport:
        # The door loads its module on first use: a backup run never loads restore or verify.
        from tui_backup.engines.rsync.verify import verify  # noqa: PLC0415

        with self._session(spec) as store:
            infos = self._infos(store)
            if snapshot_id in (None, "all"):
                ids = [s.id for s in infos]
                if not ids:
                    raise EngineError(
                        f"job {spec.name!r} has no snapshots yet", ErrorType.NO_SNAPSHOTS
                    )
            else:
                ids = [resolve_snapshot(spec, infos, snapshot_id)]
            if deep:
                require_tool(self.binary, "rsync")
            return verify(self.binary, spec, store, ids, deep=deep, cancel=cancel, emit=emit)

    def forget(
        self,
        spec: JobSpec,
        policy: RetentionPolicy,
        *,
        dry_run: bool = False,
        on_delete: OnDelete | None = None,
        now: datetime | None = None,
    ) -> list[ForgetDecision]:
        """Apply ``policy`` in local calendar days; the newest snapshot is always kept."""
        with self._session(spec) as store:
            decisions = decide_forget(self._infos(store), policy, now=now)
            if dry_run:
                return decisions
            for decision in decisions:
                if decision.keep:
                    continue
                try:
                    store.delete_snapshot(decision.snapshot_id)
                except OSError as exc:
                    raise EngineError(
                        f"could not delete snapshot {decision.snapshot_id}: {exc.strerror}",
                        ErrorType.FORGET_FAILED,
                    ) from exc
                if on_delete is not None:
                    on_delete(decision.snapshot_id)
            ids = store.ids()
            store.set_latest(ids[0] if ids else None)
            return decisions

    def delete_data(self, spec: JobSpec) -> list[str]:
        """Remove this job's snapshots, partials and metadata; nothing another job owns.

        A destination with snapshots but no owner marker (made before markers
        existed) is refused too: nothing proves it is this job's.
        """
        with self._session(spec, owned=False) as store:
            if not store.exists:
                return []
            store.check_owner(spec.name)
            ids = store.ids()
            if store.owner_job is None and ids:
                raise EngineError(
                    f"destination {store.label} has no owner marker, so nothing proves its "
                    f"snapshots are job {spec.name!r}'s; run the job once to claim it, or remove "
                    "them by hand",
                    ErrorType.DESTINATION_OWNED,
                )
            for sid in ids:
                try:
                    store.delete_snapshot(sid)
                except OSError as exc:
                    raise EngineError(
                        f"could not delete snapshot {sid}: {exc.strerror}", ErrorType.FORGET_FAILED
                    ) from exc
            store.remove(store.leftovers())
            store.purge()
            return ids


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
