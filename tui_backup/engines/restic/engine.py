"""The ``restic`` engine: any restic repository (local, sftp, s3, rest, rclone).

This is the path for users who outgrow one disk: deduplication, encryption,
remote storage. We drive the ``restic`` binary with ``--json`` and translate
its messages into our events; the repository is the job's ``destination``.
Each job tags its snapshots ``tui-backup:<job>`` so several jobs (and other
users of restic) can share one repository without touching each other's
snapshots. The password comes from the job's ``env`` (``RESTIC_PASSWORD_FILE``
or ``RESTIC_PASSWORD_COMMAND``, preferably) or the environment.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import threading
from collections.abc import Sequence
from typing import Any

from tui_backup.engines.api import (
    EngineError,
    ForgetDecision,
    RestoreReport,
    SnapshotInfo,
    VerifyProblem,
    VerifyReport,
)
from tui_backup.engines.common import crash_finished
from tui_backup.engines.events import Emit, FileWarning, Finished
from tui_backup.engines.process import ToolResult, run_tool
from tui_backup.engines.throttle import ProgressReporter
from tui_backup.model.clock import from_iso
from tui_backup.model.job import JobSpec
from tui_backup.model.retention import RetentionPolicy
from tui_backup.model.status import Status

log = logging.getLogger(__name__)

PASSWORD_VARS = ("RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND")
TRANSIENT_RE = re.compile(
    r"connection refused|no route to host|timed? ?out|temporar|network is unreachable|"
    r"dial tcp|i/o timeout|already locked|connection reset|too many requests|503|502",
    re.IGNORECASE,
)
NO_REPO_RE = re.compile(r"unable to open config file|does not exist|Is there a repository", re.I)
EXIT_PARTIAL = 3
"""restic: the snapshot was made but some source files could not be read."""


def tag(spec: JobSpec) -> str:
    return f"tui-backup:{spec.name}"


class ResticEngine:
    name = "restic"

    def __init__(self, binary: str = "restic") -> None:
        self.binary = binary

    # -- plumbing ------------------------------------------------------------

    def _env(self, spec: JobSpec) -> dict[str, str]:
        env = spec.env_dict
        if not any(v in env or v in os.environ for v in PASSWORD_VARS):
            raise EngineError(
                f"restic needs the repository password: add `env: {{RESTIC_PASSWORD_FILE: "
                f"/path/to/file}}` to job {spec.name!r} (or RESTIC_PASSWORD_COMMAND)",
                "restic_no_password",
            )
        # Keep restic's cache out of the way of concurrent users of $HOME.
        return env

    def _argv(self, spec: JobSpec, *args: str) -> list[str]:
        if shutil.which(self.binary) is None:
            raise EngineError(
                "the restic program is not installed (try `apt install restic`)",
                "restic_missing",
            )
        return [self.binary, "--repo", spec.destination, *args]

    def _call(
        self, spec: JobSpec, *args: str, cancel: threading.Event | None = None, on_line: Any = None
    ) -> tuple[ToolResult, list[str]]:
        lines: list[str] = []
        result = run_tool(
            self._argv(spec, *args),
            on_line=on_line or lines.append,
            cancel=cancel,
            env=self._env(spec),
        )
        return result, lines

    def ensure_repository(self, spec: JobSpec) -> None:
        """Initialise the repository on first use (a local path or any restic URL)."""
        result, _ = self._call(spec, "cat", "config")
        if result.returncode == 0:
            return
        if not NO_REPO_RE.search(result.stderr):
            raise EngineError(
                _first_error(result.stderr, "cannot open the restic repository"),
                "restic_repository",
            )
        init, _ = self._call(spec, "init")
        if init.returncode != 0:
            raise EngineError(
                _first_error(
                    init.stderr, f"could not create a restic repository at {spec.destination}"
                ),
                "restic_init",
            )
        log.info("created restic repository %s", spec.destination)

    # -- backup --------------------------------------------------------------

    def run(self, spec: JobSpec, cancel: threading.Event, emit: Emit) -> None:
        try:
            self._run(spec, cancel, emit)
        except EngineError as exc:
            emit(
                Finished(
                    Status.FAILED,
                    error=str(exc),
                    error_type=exc.error_type,
                    transient=bool(TRANSIENT_RE.search(str(exc))),
                )
            )
        except Exception as exc:  # noqa: BLE001 - the engine contract: never raise
            emit(crash_finished("restic", exc))

    def _run(self, spec: JobSpec, cancel: threading.Event, emit: Emit) -> None:
        for src in spec.sources:
            if not os.path.lexists(src):
                emit(
                    Finished(
                        Status.FAILED,
                        error=f"source {src} does not exist",
                        error_type="source_missing",
                    )
                )
                return
        reporter = ProgressReporter(emit)
        reporter.set_phase("scan")
        self.ensure_repository(spec)
        if cancel.is_set():
            emit(Finished(Status.STOPPED))
            return
        summary: dict[str, Any] = {}
        warnings = 0

        def on_line(line: str) -> None:
            nonlocal warnings
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                return
            kind = msg.get("message_type")
            if kind == "status":
                reporter.phase = "copy"
                reporter.files_total = int(msg.get("total_files") or 0)
                reporter.files_done = int(msg.get("files_done") or 0)
                reporter.bytes_total = int(msg.get("total_bytes") or 0)
                reporter.bytes_done = int(msg.get("bytes_done") or 0)
                current = msg.get("current_files") or []
                reporter.current_path = current[0] if current else reporter.current_path
                reporter.tick()
            elif kind == "error":
                warnings += 1
                reporter.warnings = warnings
                err = msg.get("error")
                reason = err.get("message") if isinstance(err, dict) else str(err)
                emit(FileWarning(str(msg.get("item") or ""), str(reason or "unreadable")))
            elif kind == "summary":
                summary.update(msg)

        args = ["backup", "--json", "--tag", tag(spec), "--host", socket.gethostname()]
        for pattern in spec.exclude:
            args += ["--exclude", pattern]
        args += ["--", *spec.sources]
        result, _ = self._call(spec, *args, cancel=cancel, on_line=on_line)
        files = int(summary.get("total_files_processed") or 0)
        nbytes = int(summary.get("total_bytes_processed") or 0)
        snapshot = summary.get("snapshot_id")
        if result.cancelled:
            emit(Finished(Status.STOPPED, files=files, bytes=nbytes, warnings=warnings))
        elif result.returncode in (0, EXIT_PARTIAL) and snapshot:
            reporter.set_phase("commit")
            emit(
                Finished(
                    Status.SUCCEEDED,
                    files=files,
                    bytes=nbytes,
                    warnings=warnings,
                    snapshot_id=str(snapshot)[:8],
                )
            )
        else:
            message = _first_error(result.stderr, f"restic exited with code {result.returncode}")
            emit(
                Finished(
                    Status.FAILED,
                    files=files,
                    bytes=nbytes,
                    warnings=warnings,
                    error=message,
                    error_type="restic_failed",
                    transient=bool(TRANSIENT_RE.search(result.stderr)),
                    details=result.stderr,
                )
            )

    # -- queries and maintenance --------------------------------------------

    def _snapshots_raw(self, spec: JobSpec) -> list[dict[str, Any]]:
        result, lines = self._call(spec, "snapshots", "--json", "--tag", tag(spec))
        if result.returncode != 0:
            if NO_REPO_RE.search(result.stderr):
                return []
            raise EngineError(
                _first_error(result.stderr, "cannot list restic snapshots"), "restic_snapshots"
            )
        data = json.loads("".join(lines) or "[]")
        return data if isinstance(data, list) else []

    def snapshots(self, spec: JobSpec) -> list[SnapshotInfo]:
        out: list[SnapshotInfo] = []
        for snap in self._snapshots_raw(spec):
            when = from_iso(_trim_nanos(str(snap.get("time"))))
            if when is None:
                continue
            summary = snap.get("summary") or {}
            out.append(
                SnapshotInfo(
                    id=str(snap.get("short_id") or snap.get("id", ""))[:8],
                    time=when,
                    files=int(summary.get("total_files_processed") or 0),
                    bytes=int(summary.get("total_bytes_processed") or 0),
                )
            )
        out.sort(key=lambda s: s.time, reverse=True)
        return out

    def _resolve(self, spec: JobSpec, snapshot_id: str) -> str:
        snaps = self.snapshots(spec)
        if not snaps:
            raise EngineError(f"job {spec.name!r} has no snapshots yet", "no_snapshots")
        if snapshot_id in ("", "latest"):
            return snaps[0].id
        for s in snaps:
            if s.id.startswith(snapshot_id) or snapshot_id.startswith(s.id):
                return s.id
        raise EngineError(f"job {spec.name!r} has no snapshot {snapshot_id!r}", "no_such_snapshot")

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
        sid = self._resolve(spec, snapshot_id)
        target = os.path.abspath(target)
        if os.path.isdir(target) and os.listdir(target) and not overwrite:
            raise EngineError(
                f"{target} is not empty; choose an empty directory or pass --overwrite",
                "target_not_empty",
            )
        if dry_run:
            result, lines = self._call(spec, "ls", "--json", sid, *paths)
            planned = []
            for line in lines:
                try:
                    node = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if node.get("struct_type") == "node" and node.get("type") == "file":
                    planned.append(str(node.get("path", "")).lstrip("/"))
            return RestoreReport(sid, target, len(planned), 0, dry_run=True, planned=tuple(planned))
        os.makedirs(target, exist_ok=True)
        args = ["restore", sid, "--target", target]
        for p in paths:
            args += ["--include", p]
        result, _ = self._call(spec, *args, cancel=cancel)
        if result.returncode != 0:
            raise EngineError(
                _first_error(result.stderr, "restic restore failed"), "restore_failed"
            )
        files = nbytes = 0
        for root, _dirs, names in os.walk(target):
            for n in names:
                files += 1
                try:
                    nbytes += os.lstat(os.path.join(root, n)).st_size
                except OSError:
                    pass
        return RestoreReport(sid, target, files, nbytes)

    def verify(
        self,
        spec: JobSpec,
        snapshot_id: str | None = None,
        *,
        cancel: threading.Event | None = None,
        emit: Emit | None = None,
    ) -> VerifyReport:
        """``restic check --read-data``: every pack re-read and re-hashed."""
        ids = tuple(s.id for s in self.snapshots(spec))
        result, _ = self._call(spec, "check", "--read-data", cancel=cancel)
        problems: tuple[VerifyProblem, ...] = ()
        if result.returncode != 0:
            problems = (
                VerifyProblem(
                    "repository",
                    spec.destination,
                    _first_error(result.stderr, "restic check failed"),
                ),
            )
        return VerifyReport(ids, 0, 0, problems)

    def forget(
        self, spec: JobSpec, policy: RetentionPolicy, *, dry_run: bool = False
    ) -> list[ForgetDecision]:
        from tui_backup.engines.retention import apply_policy

        snaps = self.snapshots(spec)
        if not snaps or policy.is_empty:
            return [ForgetDecision(s.id, s.time, True, ("no policy",)) for s in snaps]
        times = [s.time for s in snaps]
        decisions = _decisions(snaps, apply_policy(times, policy))
        remove = [d.snapshot_id for d in decisions if not d.keep]
        if remove and not dry_run:
            result, _ = self._call(spec, "forget", "--prune", *remove)
            if result.returncode != 0:
                raise EngineError(
                    _first_error(result.stderr, "restic forget failed"), "forget_failed"
                )
        return decisions

    def delete_data(self, spec: JobSpec) -> None:
        """Forget and prune this job's snapshots; the repository itself stays."""
        ids = [s.id for s in self.snapshots(spec)]
        if ids:
            result, _ = self._call(spec, "forget", "--prune", *ids)
            if result.returncode != 0:
                raise EngineError(
                    _first_error(result.stderr, "restic forget failed"), "forget_failed"
                )


def _decisions(snaps: list[SnapshotInfo], result: Any) -> list[ForgetDecision]:
    """Adapt ``apply_policy``'s answer to ids; the newest snapshot is always kept."""
    out = []
    for d in result.decisions:
        s = snaps[d.index]
        keep = d.keep or d.index == 0
        reasons = tuple(d.reasons) if d.keep else (("newest snapshot",) if keep else ())
        out.append(ForgetDecision(s.id, s.time, keep, reasons))
    return out


def _trim_nanos(text: str) -> str:
    """restic prints nanoseconds; Python's fromisoformat takes at most micro."""
    return re.sub(r"(\.\d{6})\d+", r"\1", text)


def _first_error(stderr: str, default: str) -> str:
    for raw in stderr.splitlines():
        line = raw.strip()
        if line.lower().startswith("fatal:"):
            return "restic: " + line[6:].strip()
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return f"{default}: {lines[-1]}" if lines else default
