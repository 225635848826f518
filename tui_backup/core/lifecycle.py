"""How a run's messages become state files, history, error events and notifications.

These methods run on the manager's consumer thread (``consumer.py``), the
only writer of this process's state files; they are kept apart from
``manager.py`` (the public commands and queries) as a mixin of
:class:`~tui_backup.core.manager.JobManager`.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING

from tui_backup.core.breaker import CircuitBreakers
from tui_backup.core.events import JobsRemoved, RunFinished
from tui_backup.core.runner import ActiveRun
from tui_backup.core.views import JobView
from tui_backup.engines.events import Finished
from tui_backup.model.clock import Clock
from tui_backup.model.job import JobSpec
from tui_backup.model.problems import ValidationError
from tui_backup.model.records import ErrorEvent, RunRecord
from tui_backup.model.secrets import mask_url
from tui_backup.model.state import JobState, LastResult
from tui_backup.model.status import Severity, Status
from tui_backup.store.db import Database
from tui_backup.store.errors import JobNotFound, LockTimeout
from tui_backup.store.jobs import JobIssue, JobStore
from tui_backup.store.paths import Home
from tui_backup.store.state import StateStore

if TYPE_CHECKING:
    from tui_backup.core.consumer import Consumer

log = logging.getLogger("tui_backup.core.manager")

RUN_COMPONENTS = frozenset({"runner", "coordination", "scheduler", "retention", "hooks", "breaker"})
"""Components (besides ``engine:<name>``) whose errors a later successful run resolves."""
VERIFY_COMPONENTS = frozenset({"verify"})
"""Components whose errors a later ``ok`` verify resolves."""


def resolved_by_run(event: ErrorEvent) -> bool:
    """True for the errors a later successful run of the same job cures."""
    return event.component.startswith("engine:") or event.component in RUN_COMPONENTS


class RunLifecycle:
    """Consumer-thread side of :class:`JobManager` (see the module docstring)."""

    home: Home
    runner: str
    clock: Clock
    host: str
    pid: int
    db: Database
    jobs: JobStore
    states: StateStore
    breakers: CircuitBreakers
    _consumer: Consumer
    _lock: threading.RLock
    _runs: dict[str, ActiveRun]
    _last_records: dict[str, RunRecord]
    _remote_active: set[str]

    if TYPE_CHECKING:

        def _view(self, spec: JobSpec, issue: JobIssue | None) -> JobView: ...
        def is_local(self, name: str) -> bool: ...
        def next_run(self, spec: JobSpec, after: datetime | None = None) -> datetime | None: ...
        def _recover_if_stale(self, name: str) -> JobState | None: ...
        def _wake_scheduler(self) -> None: ...
        def _stop_local(self, run: ActiveRun, reason: str) -> None: ...
        def _record_error_now(self, event: ErrorEvent) -> None: ...
        def record_error(self, event: ErrorEvent, *, dedupe: bool = False) -> ErrorEvent: ...

    def has_local_runs(self) -> bool:
        with self._lock:
            return bool(self._runs)

    def _local_runs(self) -> list[ActiveRun]:
        with self._lock:
            return list(self._runs.values())

    def _run_state(self, run: ActiveRun) -> JobState:
        previous: JobState | None = run.previous
        return JobState(
            name=run.name,
            status=run.status,
            run_id=run.run_id,
            pid=self.pid,
            host=self.host,
            runner=self.runner,
            started_at=run.started_at or run.queued_at,
            updated_at=self.clock(),
            progress=run.progress,
            last_result=previous.last_result if previous else None,
            last_success=previous.last_success if previous else None,
            message=run.message,
            last_verify=previous.last_verify if previous else None,
        )

    def _local_view(self, run: ActiveRun) -> JobView:
        return JobView(
            spec=run.spec,
            state=self._run_state(run),
            next_run=run.next_run,
            local=True,
        )

    def _write_run_state(self, run: ActiveRun, *, raise_errors: bool = False) -> None:
        try:
            self.states.write(self._run_state(run))
        except (OSError, LockTimeout):
            if raise_errors:
                raise
            log.warning("%s: could not write the state file", run.name, exc_info=True)
            return
        run.state_dirty = False
        run.last_state_write = time.monotonic()

    def _on_started(self, run: ActiveRun) -> None:
        if run.status == Status.QUEUED:
            run.status = Status.RUNNING
            run.started_at = self.clock()
            self._write_run_state(run)
        assert run.started_at is not None
        run.errors_before = frozenset(
            e.id for e in self._unresolved(run.name) if e.id is not None and resolved_by_run(e)
        )
        self.db.record_run(
            RunRecord(
                run_id=run.run_id,
                job_name=run.name,
                started_at=run.started_at,
                status=Status.RUNNING,
                host=self.host,
                pid=self.pid,
                trigger=run.trigger,
            )
        )
        self._consumer.add_view(self._local_view(run))

    def _on_stopping(self, run: ActiveRun) -> None:
        # A stop can race the run's end: once ended, its final state must stay.
        if not run.done.is_set() and run.status in (Status.QUEUED, Status.RUNNING):
            run.status = Status.STOPPING
            run.message = run.stop_reason
            self._write_run_state(run)
            self._consumer.add_view(self._local_view(run))

    def _poll_stop_requests(self) -> None:
        for run in self._local_runs():
            if run.cancel.is_set() or not self.states.stop_requested(run.name):
                continue
            try:
                who = self.home.stop_file(run.name).read_text().strip()
            except OSError:
                who = "another process"
            log.info("%s: stop requested by %s", run.name, who)
            self._stop_local(run, f"stopped by request ({who or 'another process'})")

    def _on_ended(self, run: ActiveRun, finished: Finished) -> None:
        """Write the final state and history, then release the lock (in that order)."""
        now = self.clock()
        status = finished.status
        run.status = status
        error = finished.error
        if status == Status.STOPPED:
            error = run.stop_reason or error or "stopped"
        if error:
            error = mask_url(error)  # history, state and the error log never show a password
        started = run.started_at or run.queued_at
        record = RunRecord(
            run_id=run.run_id,
            job_name=run.name,
            started_at=started,
            status=status,
            finished_at=now,
            files=finished.files,
            bytes=finished.bytes,
            warnings=max(finished.warnings, run.warnings),
            snapshot_id=finished.snapshot_id,
            error=error,
            host=self.host,
            pid=self.pid,
            trigger=run.trigger,
        )
        previous: JobState | None = run.previous
        state = JobState(
            name=run.name,
            status=status,
            run_id=run.run_id,
            host=self.host,
            started_at=started,
            updated_at=now,
            last_result=LastResult(
                status=status,
                started_at=started,
                finished_at=now,
                files=record.files,
                bytes=record.bytes,
                warnings=record.warnings,
                snapshot_id=record.snapshot_id,
                error=error,
                run_id=run.run_id,
            ),
            last_success=now
            if status == Status.SUCCEEDED
            else (previous.last_success if previous else None),
            message=error,
            last_verify=previous.last_verify if previous else None,
        )
        try:
            try:
                self.states.write(state)
            except (OSError, LockTimeout) as exc:
                self._record_error_now(
                    ErrorEvent(
                        severity=Severity.HIGH,
                        component="store",
                        error_type="state_write_failed",
                        message=f"{run.name}: could not write the final state: {exc}",
                        job_name=run.name,
                    )
                )
            self.db.record_run(record)
            if status == Status.FAILED:
                self._record_failure(run, finished, error)
            elif status == Status.SUCCEEDED:
                self._resolve_after_success(run)
            self._count_for_breaker(run, finished)
        finally:
            self.states.clear_stop(run.name)
            if run.lock is not None:
                run.lock.release()
                run.lock = None
            with self._lock:
                if self._runs.get(run.name) is run:
                    del self._runs[run.name]
                self._last_records[run.name] = record
            run.record = record
            run.done.set()
        log.debug(
            "%s: run %s %s%s",
            run.name,
            run.run_id,
            status,
            f": {error}" if error and status != Status.SUCCEEDED else "",
        )
        self._consumer.add_view(
            JobView(spec=run.spec, state=state, next_run=self.next_run(run.spec), local=False)
        )
        self._consumer.add_other(RunFinished(record))
        self._wake_scheduler()

    def _unresolved(self, name: str) -> list[ErrorEvent]:
        try:
            return self.db.errors(unresolved=True, job=name, limit=10_000)
        except Exception:
            log.warning("%s: could not read the job's errors", name, exc_info=True)
            return []

    def _resolve_after_success(self, run: ActiveRun) -> None:
        """A success resolves the job's earlier run errors, and this run's retry notes.

        Only this job's, and only from the components a run can cure
        (engine, runner, interrupted runs, scheduler, retention, hooks,
        breaker); errors this run recorded itself (retention, hooks) stay.
        """
        chosen = [
            e
            for e in self._unresolved(run.name)
            if e.id is not None
            and resolved_by_run(e)
            and (
                e.id in run.errors_before
                or (e.component.startswith("engine:") and e.severity == Severity.LOW)
            )
        ]
        self.resolve_errors(run.name, chosen, f"run {run.run_id}", on_consumer=True)

    def resolve_job_errors(
        self, name: str, components: frozenset[str], by: str, *, before: datetime | None = None
    ) -> int:
        """Resolve ``name``'s unresolved errors from ``components`` (recorded up to ``before``)."""
        chosen = [
            e
            for e in self._unresolved(name)
            if e.id is not None
            and e.component in components
            and (before is None or e.timestamp <= before)
        ]
        return self.resolve_errors(name, chosen, by)

    def resolve_errors(
        self, name: str, events: list[ErrorEvent], by: str, *, on_consumer: bool = False
    ) -> int:
        """Mark ``events`` resolved and say so: the log and a resolved LOW event name ``by``."""
        if not events:
            return 0
        now = self.clock()
        done = [e for e in events if e.id is not None and self.db.resolve(e.id, now)]
        if not done:
            return 0
        noun = "error" if len(done) == 1 else "errors"
        message = f"{name}: {len(done)} earlier {noun} resolved by {by}"
        log.info("%s: %s", message, "; ".join(f"#{e.id} {e.message}" for e in done[:5]))
        note = ErrorEvent(
            severity=Severity.LOW,
            component="resolution",
            error_type="errors_resolved",
            message=message,
            job_name=name,
            details="\n".join(f"#{e.id} [{e.severity}] {e.message}" for e in done),
            resolved=True,
            resolved_at=now,
        )
        if on_consumer:
            self._record_error_now(note)
        else:
            self.record_error(note)
        return len(done)

    def _record_failure(self, run: ActiveRun, finished: Finished, error: str | None) -> None:
        kind = finished.error_type or "run_failed"
        component = {"hook_failed": "hooks", "internal_error": "runner"}.get(
            kind, f"engine:{run.spec.engine}"
        )
        self._record_error_now(
            ErrorEvent(
                severity=Severity.HIGH,
                component=component,
                error_type=kind,
                message=f"{run.name}: {error or 'the run failed'}",
                job_name=run.name,
                details=f"run {run.run_id} ({run.trigger})",
                stack_trace=finished.details or "",
            )
        )

    def _count_for_breaker(self, run: ActiveRun, finished: Finished) -> None:
        if finished.error_type == "hook_failed":
            return  # a failing hook says nothing about the destination
        if finished.status == Status.SUCCEEDED:
            self.breakers.record(run.spec.destination, True)
        elif finished.status == Status.FAILED:
            state = self.breakers.record(run.spec.destination, False, finished.error)
            if state.is_open and state.failures == self.breakers.threshold:
                self._record_error_now(
                    ErrorEvent(
                        severity=Severity.HIGH,
                        component="breaker",
                        error_type="circuit_open",
                        message=f"circuit opened for {mask_url(run.spec.destination)} after "
                        f"{state.failures} failed runs in a row; scheduled runs to it are "
                        "skipped until the cool-off passes",
                        job_name=run.name,
                    )
                )

    def _on_refresh(self, names: frozenset[str], definitions: bool = False) -> None:
        """Files of ``names`` changed (another process, a hand edit): queue fresh views."""
        gone: set[str] = set()
        for name in sorted(names):
            with self._lock:
                run = self._runs.get(name)
            if run is not None:
                if not run.cancel.is_set() and self.states.stop_requested(name):
                    self._poll_stop_requests()  # the watcher saw a stop file: act now
                self._consumer.add_view(self._local_view(run))
                continue
            try:
                spec = self.jobs.get(name)
            except JobNotFound:
                gone.add(name)
                continue
            except ValidationError:
                continue  # reported as a job issue by the store
            view = self._view(spec, None)
            if view.status.is_active:
                self._remote_active.add(name)
            else:
                self._remote_active.discard(name)
            self._consumer.add_view(view)
        if gone:
            self._remote_active.difference_update(gone)
            self._consumer.add_other(JobsRemoved(frozenset(gone)))
        if definitions or gone:
            self._wake_scheduler()  # not for state files: those change every second

    def _check_remote_liveness(self) -> None:
        """Notice runners elsewhere that died (SIGKILL writes no final state)."""
        for name in sorted(self._remote_active):
            if self.is_local(name):
                self._remote_active.discard(name)
                continue
            state = self.states.read(name)
            if not state.status.is_active:
                self._remote_active.discard(name)
                continue
            self._recover_if_stale(name)
