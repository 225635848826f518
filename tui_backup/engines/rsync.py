"""The ``rsync`` engine: ``--link-dest`` snapshots on a local path or ``user@host:path``.

Same layout as the built-in snapshot engine (``<dest>/<id>/`` complete trees,
``<id>.partial`` while running, a ``latest`` symlink), so a user can move a
job between the two engines. Remote destinations are reached through rsync
over SSH; the few directory operations rsync cannot do (rename the partial,
list, remove) go through ``ssh host`` with quoted arguments.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

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
from tui_backup.engines.layout import (
    LATEST,
    PARTIAL_SUFFIX,
    format_id,
    parse_id,
    plan_sources,
    sort_key,
)
from tui_backup.engines.process import run_tool
from tui_backup.engines.throttle import ProgressReporter
from tui_backup.model.job import JobSpec
from tui_backup.model.retention import RetentionPolicy
from tui_backup.model.status import Status

PROGRESS_RE = re.compile(
    r"^\s*([\d,]+)\s+(\d+)%\s+(\S+)\s+(\d+:\d+:\d+).*?(?:to-chk=(\d+)/(\d+))?\)?\s*$"
)
PARTIAL_CODES = {23, 24}
"""rsync: some files could not be transferred / vanished: a warning, not a failure."""
INTERRUPTED_CODES = {20}
TRANSIENT_CODES = {5, 10, 12, 30, 35, 255}
"""Socket, protocol and timeout errors, and ssh's own failures: worth a retry."""


@dataclass(frozen=True, slots=True)
class Location:
    """A destination directory, local (``host`` None) or on ``host`` via ssh."""

    host: str | None
    path: str

    @classmethod
    def parse(cls, destination: str) -> Location:
        if os.path.isabs(destination):
            return cls(None, destination.rstrip("/") or "/")
        host, _, path = destination.partition(":")
        return cls(host, path.rstrip("/") or ".")

    def rsync_path(self, *parts: str) -> str:
        joined = "/".join([self.path, *parts])
        return f"{self.host}:{joined}" if self.host else joined

    def local(self, *parts: str) -> str:
        return "/".join([self.path, *parts])

    def shell(self, command: str) -> subprocess.CompletedProcess[str]:
        """Run a POSIX shell command at the destination (locally or through ssh)."""
        argv = (
            ["ssh", "-o", "BatchMode=yes", self.host, command]
            if self.host
            else ["sh", "-c", command]
        )
        return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)


class RsyncEngine:
    name = "rsync"

    def __init__(self, binary: str = "rsync") -> None:
        self.binary = binary

    def _check_binary(self) -> None:
        if shutil.which(self.binary) is None:
            raise EngineError(
                "the rsync program is not installed (try `apt install rsync`)", "rsync_missing"
            )

    # -- listing -------------------------------------------------------------

    def _entries(self, loc: Location) -> list[str]:
        if loc.host is None:
            try:
                return os.listdir(loc.path)
            except FileNotFoundError:
                return []
        result = loc.shell(f"ls -1A {shlex.quote(loc.path)} 2>/dev/null || true")
        if result.returncode != 0:
            raise EngineError(
                f"cannot list {loc.host}:{loc.path}: {result.stderr.strip()}",
                "destination_unreachable",
            )
        return result.stdout.splitlines()

    def _complete_ids(self, loc: Location) -> list[str]:
        ids = [n for n in self._entries(loc) if parse_id(n) is not None]
        if loc.host is None:
            ids = [
                n for n in ids if os.path.isdir(loc.local(n)) and not os.path.islink(loc.local(n))
            ]
        ids.sort(key=sort_key, reverse=True)
        return ids

    def snapshots(self, spec: JobSpec) -> list[SnapshotInfo]:
        loc = Location.parse(spec.destination)
        out = []
        for sid in self._complete_ids(loc):
            when = parse_id(sid)
            if when is not None:
                out.append(SnapshotInfo(sid, when))
        return out

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
                    transient=exc.error_type == "destination_unreachable",
                )
            )
        except subprocess.TimeoutExpired as exc:
            emit(
                Finished(
                    Status.FAILED,
                    error=f"the destination did not answer: {exc}",
                    error_type="destination_unreachable",
                    transient=True,
                )
            )
        except Exception as exc:  # noqa: BLE001 - the engine contract: never raise
            emit(crash_finished("rsync", exc))

    def _prepare(self, loc: Location) -> None:
        """Create the destination and remove partials left by a crash."""
        q = shlex.quote(loc.path)
        script = (
            f"mkdir -p {q} && cd {q} && for p in *{PARTIAL_SUFFIX}; do "
            f'[ -e "$p" ] && rm -rf -- "$p"; done; true'
        )
        result = loc.shell(script)
        if result.returncode != 0:
            raise EngineError(
                f"cannot prepare the destination {loc.rsync_path()}: "
                f"{result.stderr.strip() or 'unknown error'}",
                "destination_unreachable" if loc.host else "destination_unwritable",
            )

    def _run(self, spec: JobSpec, cancel: threading.Event, emit: Emit) -> None:
        self._check_binary()
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
        loc = Location.parse(spec.destination)
        reporter = ProgressReporter(emit)
        reporter.set_phase("scan")
        self._prepare(loc)
        previous = self._complete_ids(loc)
        sid = format_id(datetime.now(UTC))
        n = 2
        taken = set(self._entries(loc))
        base = sid
        while sid in taken or sid + PARTIAL_SUFFIX in taken:
            sid, n = f"{base}-{n}", n + 1
        partial = sid + PARTIAL_SUFFIX
        warnings = 0
        files = nbytes = 0
        reporter.set_phase("copy")
        for plan in plan_sources(spec.sources):
            prefix = [plan.prefix] if plan.prefix else []
            argv = [
                self.binary,
                "-a",
                "--info=progress2,stats2",
                "--no-inc-recursive",
                "--numeric-ids",
                "--mkpath",
            ]
            if previous:
                argv.append("--link-dest=" + loc.local(previous[0], *prefix))
            for pattern in spec.exclude:
                argv.append("--exclude=" + pattern)
            src = plan.path.rstrip("/") + (
                "/" if os.path.isdir(plan.path) and not os.path.islink(plan.path) else ""
            )
            target = loc.rsync_path(partial, *prefix) + ("/" if src.endswith("/") else "")
            argv += ["--", src, target]
            done_before = reporter.bytes_done

            def on_line(line: str, base_bytes: int = done_before) -> None:
                nonlocal files, nbytes
                m = PROGRESS_RE.match(line)
                if m:
                    done = int(m.group(1).replace(",", ""))
                    pct = int(m.group(2))
                    reporter.bytes_done = base_bytes + done
                    if pct > 0:
                        reporter.bytes_total = base_bytes + int(done * 100 / pct)
                    if m.group(6):
                        total = int(m.group(6))
                        reporter.files_total = total
                        reporter.files_done = total - int(m.group(5))
                    reporter.tick()
                elif line.startswith("Number of files:"):
                    m_reg = re.search(r"reg: ([\d,]+)", line)
                    if m_reg:
                        files += int(m_reg.group(1).replace(",", ""))
                elif line.startswith("Total file size:"):
                    with contextlib.suppress(ValueError):
                        nbytes += int(line.split(":")[1].split(maxsplit=1)[0].replace(",", ""))

            result = run_tool(argv, on_line=on_line, cancel=cancel, split_cr=True)
            if result.cancelled or result.returncode in INTERRUPTED_CODES:
                self._remove(loc, partial)
                emit(Finished(Status.STOPPED, files=files, bytes=nbytes, warnings=warnings))
                return
            if result.returncode in PARTIAL_CODES:
                for line in result.stderr.splitlines():
                    if line.startswith(("rsync:", "file has vanished")):
                        warnings += 1
                        emit(FileWarning(line.split('"')[1] if '"' in line else "", line))
                reporter.warnings = warnings
            elif result.returncode != 0:
                self._remove(loc, partial)
                detail = result.stderr.strip().splitlines()
                message = detail[-1] if detail else f"rsync exited with {result.returncode}"
                disk_full = "No space left" in result.stderr
                emit(
                    Finished(
                        Status.FAILED,
                        files=files,
                        bytes=nbytes,
                        warnings=warnings,
                        error=(
                            "the destination is full (No space left on device)"
                            if disk_full
                            else f"rsync failed: {message}"
                        ),
                        error_type="disk_full" if disk_full else "rsync_failed",
                        transient=result.returncode in TRANSIENT_CODES,
                        details=result.stderr,
                    )
                )
                return
        reporter.set_phase("commit")
        q = shlex.quote
        commit = loc.shell(
            f"cd {q(loc.path)} && mv -- {q(partial)} {q(sid)} && "
            f"ln -sfn -- {q(sid)} .latest.tmp && mv -T -- .latest.tmp {LATEST} && sync ."
        )
        if commit.returncode != 0:
            self._remove(loc, partial)
            emit(
                Finished(
                    Status.FAILED,
                    error=f"could not commit the snapshot: {commit.stderr.strip()}",
                    error_type="commit_failed",
                )
            )
            return
        emit(
            Finished(
                Status.SUCCEEDED, files=files, bytes=nbytes, warnings=warnings, snapshot_id=sid
            )
        )

    def _remove(self, loc: Location, name: str) -> None:
        loc.shell(f"rm -rf -- {shlex.quote(loc.local(name))}")

    # -- restore, verify, forget --------------------------------------------

    def _resolve(self, spec: JobSpec, snapshot_id: str) -> str:
        ids = self._complete_ids(Location.parse(spec.destination))
        if not ids:
            raise EngineError(f"job {spec.name!r} has no snapshots yet", "no_snapshots")
        if snapshot_id in ("", "latest"):
            return ids[0]
        if snapshot_id not in ids:
            raise EngineError(
                f"job {spec.name!r} has no snapshot {snapshot_id!r}", "no_such_snapshot"
            )
        return snapshot_id

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
        """rsync the snapshot (or parts) into ``target``; symlinks copied as links."""
        self._check_binary()
        sid = self._resolve(spec, snapshot_id)
        loc = Location.parse(spec.destination)
        target = os.path.abspath(target)
        for p in paths:
            if os.path.isabs(p) or ".." in p.split("/"):
                raise EngineError(f"{p!r} must be a path inside the snapshot", "bad_path")
        argv = [self.binary, "-a", "--relative", "--itemize-changes"]
        if not overwrite:
            argv.append("--ignore-existing")
        if dry_run:
            argv.append("--dry-run")
        sources = [loc.rsync_path(sid) + "/./" + p.strip("/") for p in paths] or [
            loc.rsync_path(sid) + "/./"
        ]
        os.makedirs(target, exist_ok=True)
        planned: list[str] = []

        def on_line(line: str) -> None:
            if line[:1] in (">", "c") and line[1:2] == "f":
                planned.append(line.split(" ", 1)[1])

        result = run_tool([*argv, "--", *sources, target + "/"], on_line=on_line, cancel=cancel)
        if result.returncode not in (0, *PARTIAL_CODES):
            raise EngineError(f"restore failed: {result.stderr.strip()}", "restore_failed")
        nbytes = 0
        if not dry_run:
            for rel in planned:
                with contextlib.suppress(OSError):
                    nbytes += os.lstat(os.path.join(target, rel)).st_size
        return RestoreReport(
            sid, target, len(planned), nbytes, dry_run=dry_run, planned=tuple(planned)
        )

    def verify(
        self,
        spec: JobSpec,
        snapshot_id: str | None = None,
        *,
        cancel: threading.Event | None = None,
        emit: Emit | None = None,
    ) -> VerifyReport:
        """Re-read every file of the snapshot(s): rsync keeps no checksums to compare."""
        loc = Location.parse(spec.destination)
        ids = (
            [self._resolve(spec, snapshot_id)]
            if snapshot_id not in (None, "all")
            else self._complete_ids(loc)
        )
        problems: list[VerifyProblem] = []
        files = nbytes = 0
        if loc.host is not None:
            for sid in ids:
                r = loc.shell(
                    f"cd {shlex.quote(loc.local(sid))} && find . -type f "
                    f"-exec cat {{}} + > /dev/null"
                )
                if r.returncode != 0:
                    problems.append(VerifyProblem(sid, "", r.stderr.strip()[:500]))
            return VerifyReport(tuple(ids), 0, 0, tuple(problems))
        for sid in ids:
            root = loc.local(sid)
            for dirpath, _dirs, names in os.walk(root):
                for n in names:
                    if cancel is not None and cancel.is_set():
                        return VerifyReport(tuple(ids), files, nbytes, tuple(problems))
                    path = os.path.join(dirpath, n)
                    if os.path.islink(path):
                        continue
                    try:
                        with open(path, "rb") as fh:
                            while chunk := fh.read(1 << 20):
                                nbytes += len(chunk)
                        files += 1
                    except OSError as exc:
                        problems.append(
                            VerifyProblem(
                                sid, os.path.relpath(path, root), f"unreadable: {exc.strerror}"
                            )
                        )
        return VerifyReport(tuple(ids), files, nbytes, tuple(problems))

    def forget(
        self, spec: JobSpec, policy: RetentionPolicy, *, dry_run: bool = False
    ) -> list[ForgetDecision]:
        from tui_backup.engines.retention import apply_policy

        snaps = self.snapshots(spec)
        if not snaps or policy.is_empty:
            return [ForgetDecision(s.id, s.time, True, ("no policy",)) for s in snaps]
        result = apply_policy([s.time for s in snaps], policy)
        decisions = []
        loc = Location.parse(spec.destination)
        for d in result.decisions:
            s = snaps[d.index]
            keep = d.keep or d.index == 0
            decisions.append(
                ForgetDecision(
                    s.id, s.time, keep, tuple(d.reasons) or (("newest snapshot",) if keep else ())
                )
            )
            if not keep and not dry_run:
                self._remove(loc, s.id)
        return decisions

    def delete_data(self, spec: JobSpec) -> None:
        loc = Location.parse(spec.destination)
        for sid in self._complete_ids(loc):
            self._remove(loc, sid)
        for name in self._entries(loc):
            if name.endswith(PARTIAL_SUFFIX) or name == LATEST:
                self._remove(loc, name)
