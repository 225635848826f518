"""A controllable engine for manager tests (importable by subprocess scripts too).

Each job's behaviour comes from a :class:`Plan`: how many progress steps,
whether to block on a gate between steps, how to end (succeed, fail,
transient failures first). It honours ``cancel`` between steps like a real
engine, and counts its live instances so leak tests can check them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tui_backup.engines.api import (
    Capabilities,
    EngineError,
    ErrorType,
    RunOptions,
    SnapshotInfo,
    VerifyReport,
)
from tui_backup.engines.events import Emit, FileWarning, Finished
from tui_backup.model.clock import utcnow
from tui_backup.model.job import JobSpec
from tui_backup.model.progress import Progress
from tui_backup.model.status import Status

DEFAULT_OPTIONS = RunOptions()


@dataclass
class Behaviour:
    steps: int = 3
    step_delay: float = 0.0
    gate: threading.Event | None = None
    """When set, the engine blocks before its first step until the gate opens."""
    gate_file: Path | None = None
    """Cross-process gate: block until this file exists."""
    fail: bool = False
    error: str = "disk full"
    """The failure's message when ``fail``."""
    transient_failures: int = 0
    """Fail transiently this many attempts, then behave normally."""
    warnings: int = 0
    attempts: int = 0
    started: threading.Event = field(default_factory=threading.Event)


class Plan:
    def __init__(self) -> None:
        self.behaviours: dict[str, Behaviour] = {}
        self.default = Behaviour()
        self.forgets: list[str] = []
        self.options: list[tuple[str, RunOptions]] = []
        self.purged: list[str] = []
        self.purge_error: Exception | None = None
        self.verify_reports: list[VerifyReport] = []
        """Returned by ``verify`` in turn (the last one again when used up)."""
        self.listing: list[SnapshotInfo] | None = None
        """What ``snapshots`` returns; None: one snapshot per successful attempt seen."""
        self.listing_error: Exception | None = None
        self.listing_gate: threading.Event | None = None
        """When set, ``snapshots`` blocks until the gate opens (a remote that hangs)."""
        self.made: dict[str, list[SnapshotInfo]] = {}
        """Snapshots of successful runs per job, newest first (the default listing)."""
        self.forget_error: Exception | None = None
        self.verify_gate: threading.Event | None = None
        """When set, ``verify`` blocks until the gate opens (or it is cancelled)."""
        self.verify_started = threading.Event()
        self.verify_error: Exception | None = None
        self.verify_calls: list[tuple[str, str | None, bool]] = []
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0

    def __getitem__(self, name: str) -> Behaviour:
        return self.behaviours.setdefault(name, Behaviour())

    def factory(self, engine_name: str) -> ScriptedEngine:
        return ScriptedEngine(self)


class ScriptedEngine:
    name = "snapshot"

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def capabilities(self, spec: JobSpec) -> Capabilities:
        # Tests name a job's engine "restic" to get a repository several jobs may share.
        return Capabilities(shares_destination=spec.engine == "restic")

    def run(
        self,
        spec: JobSpec,
        cancel: threading.Event,
        emit: Emit,
        options: RunOptions = DEFAULT_OPTIONS,
    ) -> None:
        self.plan.options.append((spec.name, options))
        with self.plan.lock:
            self.plan.active += 1
            self.plan.max_active = max(self.plan.max_active, self.plan.active)
        try:
            self._run(spec, cancel, emit)
        finally:
            with self.plan.lock:
                self.plan.active -= 1

    def _run(self, spec: JobSpec, cancel: threading.Event, emit: Emit) -> None:
        b = self.plan.behaviours.get(spec.name, self.plan.default)
        b.attempts += 1
        b.started.set()
        while b.gate is not None and not b.gate.is_set():
            if cancel.wait(0.01):
                emit(Finished(Status.STOPPED))
                return
        if b.gate_file is not None:
            emit(
                Progress(phase="copy", files_total=10, files_done=1, bytes_total=100, bytes_done=10)
            )
        while b.gate_file is not None and not b.gate_file.exists():
            if cancel.wait(0.02):
                emit(Finished(Status.STOPPED))
                return
        if b.attempts <= b.transient_failures:
            emit(
                Finished(
                    Status.FAILED,
                    error="destination unreachable",
                    error_type="destination_unreachable",
                    transient=True,
                )
            )
            return
        for i in range(b.steps):
            if cancel.is_set():
                emit(Finished(Status.STOPPED, files=i))
                return
            if b.step_delay:
                time.sleep(b.step_delay)
            emit(
                Progress(
                    phase="copy",
                    files_total=b.steps,
                    files_done=i + 1,
                    bytes_total=b.steps * 10,
                    bytes_done=(i + 1) * 10,
                    current_path=f"file{i}",
                    warnings=min(i + 1, b.warnings),
                )
            )
            if i < b.warnings:
                emit(FileWarning(f"file{i}", "unreadable"))
        if b.fail:
            emit(Finished(Status.FAILED, files=b.steps, error=b.error, error_type="disk_full"))
            return
        with self.plan.lock:
            self.plan.made.setdefault(spec.name, []).insert(
                0, SnapshotInfo(f"snap-{b.attempts}", utcnow(), files=b.steps, bytes=b.steps * 10)
            )
        emit(
            Finished(
                Status.SUCCEEDED,
                files=b.steps,
                bytes=b.steps * 10,
                warnings=b.warnings,
                snapshot_id=f"snap-{b.attempts}",
            )
        )

    def forget(self, spec: JobSpec, policy: object, **_: object) -> list[object]:
        self.plan.forgets.append(spec.name)
        if self.plan.forget_error is not None:
            raise self.plan.forget_error
        return []

    def snapshots(self, spec: JobSpec) -> list[SnapshotInfo]:
        if self.plan.listing_gate is not None:
            self.plan.listing_gate.wait()
        if self.plan.listing_error is not None:
            raise self.plan.listing_error
        if self.plan.listing is not None:
            return list(self.plan.listing)
        with self.plan.lock:
            return list(self.plan.made.get(spec.name, []))

    def verify(
        self,
        spec: JobSpec,
        snapshot_id: str | None = None,
        *,
        deep: bool = False,
        cancel: threading.Event | None = None,
        emit: Emit | None = None,
    ) -> VerifyReport:
        self.plan.verify_calls.append((spec.name, snapshot_id, deep))
        self.plan.verify_started.set()
        gate = self.plan.verify_gate
        while gate is not None and not gate.wait(0.01):
            if cancel is not None and cancel.is_set():
                raise EngineError("Verify stopped before it finished.", ErrorType.STOPPED)
        if self.plan.verify_error is not None:
            raise self.plan.verify_error
        reports = self.plan.verify_reports
        if not reports:
            return VerifyReport(snapshots=("snap-1",), files_checked=1, bytes_checked=1)
        return reports.pop(0) if len(reports) > 1 else reports[0]

    def delete_data(self, spec: JobSpec) -> list[str]:
        if self.plan.purge_error is not None:
            raise self.plan.purge_error
        self.plan.purged.append(spec.name)
        return ["snap-1"]
