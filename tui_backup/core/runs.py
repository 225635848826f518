"""The run tracker: this process's runs, from the lock taken to the final record.

:class:`RunTracker` owns everything between ``JobManager.start`` and the run's
end: the local runs, the worker pool, the state files of those runs (it is
their only writer), the transitions queued -> running -> stopping -> final,
and the one door for error events (:meth:`RunTracker.record_error`).

It handles the messages that reach the event pump's thread (``pump.py``):
what the workers report (``runner.py``: RunStarted, RunEvent, RunNote,
RunError, RunStopping), a new run's card (:class:`RunQueued`) and files
other processes changed (:class:`FilesChanged`, from ``watcher.py``). The
order of a run's end is owned by :meth:`RunTracker._finish`: final state,
then history, then the errors and the breaker, then the lock released.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from tui_backup.core import coordination
from tui_backup.core.breaker import CircuitBreakers
from tui_backup.core.events import (
    ErrorRecorded,
    JobsChanged,
    JobsRemoved,
    ManagerEvent,
    RunFinished,
    WarningRaised,
)
from tui_backup.core.pool import RunPool
from tui_backup.core.pump import Chore, EventPump
from tui_backup.core.runner import (
    ActiveRun,
    RunError,
    RunEvent,
    RunNote,
    RunSettings,
    RunStarted,
    RunStopping,
    execute,
)
from tui_backup.core.snapshots import verify_event
from tui_backup.core.views import JobView, next_run
from tui_backup.core.vocabulary import Component, Trigger, engine_component, is_engine_component
from tui_backup.engines.api import VerifyReport
from tui_backup.engines.events import FileWarning, Finished, Progress
from tui_backup.model.clock import Clock, to_iso
from tui_backup.model.job import JobSpec
from tui_backup.model.problems import ValidationError
from tui_backup.model.records import ErrorEvent, RunRecord
from tui_backup.model.secrets import mask_url
from tui_backup.model.state import JobState, LastResult, LastVerify
from tui_backup.model.status import Severity, Status
from tui_backup.store.db import Database
from tui_backup.store.errors import JobNotFound, LockTimeout
from tui_backup.store.jobs import JobStore
from tui_backup.store.paths import Home
from tui_backup.store.state import StateStore

log = logging.getLogger(__name__)

STATE_WRITE_INTERVAL = 1.0
"""A running job's state file is written at most this often (at once on a status change)."""
STOP_POLL_INTERVAL = 0.25
"""Stop requests are a stat() per local run: cheap enough to check four times a second."""
LIVENESS_INTERVAL = 1.0
"""How often runs seen active in other processes are checked for a dead runner."""

RUN_COMPONENTS = frozenset(
    {
        Component.RUNNER,
        Component.COORDINATION,
        Component.SCHEDULER,
        Component.RETENTION,
        Component.HOOKS,
        Component.BREAKER,
    }
)
"""Components (besides ``engine:<name>``) whose errors a later successful run resolves."""
VERIFY_COMPONENTS = frozenset({Component.VERIFY})
"""Components whose errors a later ``ok`` verify resolves."""


def resolved_by_run(event: ErrorEvent) -> bool:
    """True for the errors a later successful run of the same job cures."""
    return is_engine_component(event.component) or event.component in RUN_COMPONENTS


@dataclass(frozen=True, slots=True)
class RunnerIdentity:
    """Who runs: written into state files and history (``tui pid 42 on host``)."""

    runner: str
    host: str
    pid: int

    def __str__(self) -> str:
        return f"{self.runner} pid {self.pid} on {self.host}"


@dataclass(frozen=True, slots=True)
class RunQueued:
    """A run was registered by ``JobManager.start``: show its card."""

    run: ActiveRun


@dataclass(frozen=True, slots=True)
class FilesChanged:
    """Files of these jobs changed (seen by the watcher, or after a command)."""

    names: frozenset[str]
    definitions: bool = False
    """True when a job file (not only a state file) changed: the scheduler looks again."""


class RunTracker:
    """Local runs, their state writes and transitions, and the one ``record_error``."""

    def __init__(
        self,
        *,
        home: Home,
        identity: RunnerIdentity,
        clock: Clock,
        jobs: JobStore,
        states: StateStore,
        db: Database,
        breakers: CircuitBreakers,
        run_settings: RunSettings,
        max_concurrent: int,
        deliver: Callable[[ManagerEvent], None],
        wanted: Callable[[], bool],
        wake_scheduler: Callable[[], None],
        repair_jobs: Callable[[], object],
        max_rate: float = 10.0,
    ) -> None:
        self.home = home
        self.identity = identity
        self.clock = clock
        self.jobs = jobs
        self.states = states
        self.db = db
        self.breakers = breakers
        self.run_settings = run_settings
        self._wake_scheduler = wake_scheduler
        self._repair_jobs = repair_jobs
        self._wanted = wanted
        self._lock = threading.RLock()
        self._runs: dict[str, ActiveRun] = {}
        self._last_records: dict[str, RunRecord] = {}
        self._remote_active: set[str] = set()
        """Jobs seen active in other processes: checked for a dead runner (pump thread)."""
        self.pool = RunPool(max_concurrent)
        self.pump = EventPump(
            self._handle,
            deliver,
            max_rate=max_rate,
            wanted=wanted,
            busy=self.has_runs,
            settle=self.write_pending_states,
            chores=(
                Chore("writing run state", 0.0, self._write_due_states),
                Chore("polling stop requests", STOP_POLL_INTERVAL, self.poll_stop_requests),
                Chore("checking other processes' runs", LIVENESS_INTERVAL, self.check_liveness),
            ),
        )

    # -- local runs (any thread) ------------------------------------------------

    def get(self, name: str) -> ActiveRun | None:
        with self._lock:
            return self._runs.get(name)

    def is_local(self, name: str) -> bool:
        with self._lock:
            return name in self._runs

    def names(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._runs)

    def runs(self) -> list[ActiveRun]:
        with self._lock:
            return list(self._runs.values())

    def has_runs(self) -> bool:
        with self._lock:
            return bool(self._runs)

    def last_record(self, name: str) -> RunRecord | None:
        """The record of the last run of ``name`` that ended in this process."""
        with self._lock:
            return self._last_records.get(name)

    def register(self, run: ActiveRun) -> None:
        """Make ``run`` this process's run of its job and write its first state.

        A state file that cannot be written (a full home filesystem, a lock
        another process holds too long) never blocks the backup: the run goes
        on under its run lock, one clear error says what others will miss,
        and the pump keeps trying to write the state.
        """
        with self._lock:
            self._runs[run.name] = run
        try:
            self.write_state(run, raise_errors=True)
        except (OSError, LockTimeout) as exc:
            run.state_dirty = True
            self._state_write_failed(
                run,
                f"the run goes on, but its state file could not be written "
                f"({_why(exc, self.home)}); other processes do not see its progress until "
                "it can be",
            )

    def launch(self, run: ActiveRun) -> None:
        """Show the registered run's card and hand it to the worker pool."""
        self.pump.start()
        self.pump.post(RunQueued(run))
        self.pool.submit(run.run_id, _Work(run, self.pump.post, self.run_settings, self.home))

    def stop_local(self, run: ActiveRun, reason: str) -> None:
        """Cancel a local run; one still waiting for a slot ends ``stopped`` at once."""
        if run.cancel.is_set():
            return
        run.stop_reason = reason
        run.cancel.set()
        if self.pool.remove_pending(run.run_id):
            self.pump.post(RunEvent(run, Finished(Status.STOPPED, error=reason)))
        else:
            self.pump.post(RunStopping(run))

    def _forget(self, run: ActiveRun) -> None:
        with self._lock:
            if self._runs.get(run.name) is run:
                del self._runs[run.name]

    # -- queries -------------------------------------------------------------

    def run_state(self, run: ActiveRun) -> JobState:
        """The state a local run's file says now (and its card shows)."""
        previous = run.previous
        return JobState(
            name=run.name,
            status=run.status,
            run_id=run.run_id,
            pid=self.identity.pid,
            host=self.identity.host,
            runner=self.identity.runner,
            started_at=run.started_at or run.queued_at,
            updated_at=self.clock(),
            progress=run.progress,
            last_result=previous.last_result if previous else None,
            last_success=previous.last_success if previous else None,
            message=run.message,
            last_verify=previous.last_verify if previous else None,
        )

    def local_view(self, run: ActiveRun) -> JobView:
        return JobView(spec=run.spec, state=self.run_state(run), next_run=run.next_run, local=True)

    def state(self, name: str) -> JobState:
        """The job's state: live for a run of this process, else from its state file.

        Only reads: a dead runner's ``running`` state is recorded as
        ``interrupted`` by the explicit steps (start-up, :meth:`check_liveness`).
        """
        run = self.get(name)
        if run is not None:
            return self.run_state(run)
        return self.states.read(name)

    def view(
        self,
        spec: JobSpec,
        issue: str | None = None,
        retry_times: dict[str, datetime] | None = None,
    ) -> JobView:
        """The job's view; ``retry_times`` (``breakers.retry_times()``) read once for many."""
        return JobView(
            spec=spec,
            state=self.state(spec.name),
            next_run=self.next_run(spec, self.clock(), retry_times),
            local=self.is_local(spec.name),
            issue=issue,
        )

    def next_run(
        self, spec: JobSpec, now: datetime, retry_times: dict[str, datetime] | None = None
    ) -> datetime | None:
        """The next slot the scheduler will really try: after an open breaker's cool-off."""
        if not spec.schedule or not spec.enabled:
            return None
        return next_run(spec, now, self.breakers.retry_time(spec.destination, retry_times))

    # -- state writes (pump thread, and start) ------------------------------------

    def write_state(self, run: ActiveRun, *, raise_errors: bool = False) -> None:
        try:
            self.states.write(self.run_state(run))
        except (OSError, LockTimeout) as exc:
            if raise_errors:
                raise
            if not run.state_write_failing:  # said once, not every second
                log.warning(
                    "%s: could not write the state file (%s)", run.name, _why(exc, self.home)
                )
            run.state_write_failing = True
            return
        run.state_write_failing = False
        run.state_dirty = False
        run.last_state_write = time.monotonic()

    def _write_due_states(self) -> None:
        now = time.monotonic()
        for run in self.runs():
            if run.state_dirty and now - run.last_state_write >= STATE_WRITE_INTERVAL:
                self.write_state(run)

    def write_pending_states(self) -> None:
        """Write every local run's changed state now (before a forced delivery)."""
        for run in self.runs():
            if run.state_dirty:
                self.write_state(run)

    # -- messages (pump thread) ------------------------------------------------

    def _handle(self, message: object) -> None:
        if isinstance(message, RunEvent):
            self._run_event(message.run, message.event)
        elif isinstance(message, RunStarted):
            self._started(message.run)
        elif isinstance(message, RunNote):
            message.run.message = message.message
            message.run.state_dirty = True
            self.pump.queue_view(self.local_view(message.run))
        elif isinstance(message, RunStopping):
            self._stopping(message.run)
        elif isinstance(message, RunError):
            self.record_error(message.event)
        elif isinstance(message, RunQueued):
            self.pump.queue_view(self.local_view(message.run))
        elif isinstance(message, FilesChanged):
            self._files_changed(message.names, message.definitions)
        else:
            log.warning("unknown message %r", message)

    def _run_event(self, run: ActiveRun, event: object) -> None:
        if isinstance(event, Progress):
            first = run.progress is None or run.progress.phase != event.phase
            run.progress = event
            run.warnings = max(run.warnings, event.warnings)
            run.state_dirty = True
            if first:
                # Other processes see the first progress and each phase change at
                # once; the counters in between at most once a second.
                self.write_state(run)
            self.pump.queue_view(self.local_view(run))
        elif isinstance(event, FileWarning):
            self.pump.queue_event(WarningRaised(run.name, event))
        elif isinstance(event, Finished):
            self._finish(run, event)

    def _started(self, run: ActiveRun) -> None:
        if run.status == Status.QUEUED:
            run.status = Status.RUNNING
            run.started_at = self.clock()
            self.write_state(run)
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
                host=self.identity.host,
                pid=self.identity.pid,
                trigger=run.trigger.value,
            )
        )
        self.pump.queue_view(self.local_view(run))

    def _stopping(self, run: ActiveRun) -> None:
        # A stop can race the run's end: once ended, its final state must stay.
        if not run.done.is_set() and run.status in (Status.QUEUED, Status.RUNNING):
            run.status = Status.STOPPING
            run.message = run.stop_reason
            self.write_state(run)
            self.pump.queue_view(self.local_view(run))

    def _finish(self, run: ActiveRun, finished: Finished) -> None:
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
            host=self.identity.host,
            pid=self.identity.pid,
            trigger=run.trigger.value,
        )
        previous = run.previous
        state = JobState(
            name=run.name,
            status=status,
            run_id=run.run_id,
            host=self.identity.host,
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
                if run.owns_state:
                    self.states.write(state)
            except (OSError, LockTimeout) as exc:
                self._state_write_failed(
                    run,
                    f"could not write the final state ({_why(exc, self.home)}); "
                    "the run's history has it",
                )
            self.db.record_run(record)
            if status == Status.FAILED:
                self._record_failure(run, finished, error)
            elif status == Status.SUCCEEDED:
                self._resolve_after_success(run)
            self._count_for_breaker(run, finished)
        finally:
            if run.owns_state:
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
        self.pump.queue_view(
            JobView(spec=run.spec, state=state, next_run=self.next_run(run.spec, now), local=False)
        )
        self.pump.queue_event(RunFinished(record))
        self._wake_scheduler()

    def _record_failure(self, run: ActiveRun, finished: Finished, error: str | None) -> None:
        kind = finished.error_type or "run_failed"
        component = {"hook_failed": Component.HOOKS, "internal_error": Component.RUNNER}.get(
            kind, engine_component(run.spec.engine)
        )
        self.record_job_error(
            run.name,
            Severity.HIGH,
            component,
            kind,
            error or "the run failed",
            details=f"run {run.run_id} ({run.trigger})",
            stack_trace=finished.details or "",
        )

    def _count_for_breaker(self, run: ActiveRun, finished: Finished) -> None:
        if finished.error_type == "hook_failed":
            return  # a failing hook says nothing about the destination
        if finished.status == Status.SUCCEEDED:
            self.breakers.record(run.spec.destination, True)
        elif finished.status == Status.FAILED:
            state = self.breakers.record(run.spec.destination, False, finished.error)
            if state.is_open and state.failures == self.breakers.threshold:
                self.record_job_error(
                    run.name,
                    Severity.HIGH,
                    Component.BREAKER,
                    "circuit_open",
                    f"circuit opened for {mask_url(run.spec.destination)} after "
                    f"{state.failures} failed runs in a row; scheduled runs to it are "
                    "skipped until the cool-off passes",
                    prefix=False,
                )

    # -- other processes (pump thread) ------------------------------------------

    def poll_stop_requests(self) -> None:
        """Act on ``state/<name>.stop`` files written by ``tui-backup stop`` anywhere."""
        for run in self.runs():
            if run.cancel.is_set() or not self.states.stop_requested(run.name):
                continue
            try:
                who = self.home.stop_file(run.name).read_text().strip()
            except OSError:
                who = "another process"
            log.info("%s: stop requested by %s", run.name, who)
            self.stop_local(run, f"stopped by request ({who or 'another process'})")

    def _files_changed(self, names: frozenset[str], definitions: bool) -> None:
        """Files of ``names`` changed (another process, a hand edit): queue fresh views.

        A changed job file that is now wrong is repaired here (the one owner of
        that step while the process watches), before its view is read.
        """
        if definitions and any(i.name in names for i in self.jobs.list().issues):
            self._repair_jobs()
        gone: set[str] = set()
        for name in sorted(names):
            run = self.get(name)
            if run is not None:
                if not run.cancel.is_set() and self.states.stop_requested(name):
                    self.poll_stop_requests()  # the watcher saw a stop file: act now
                self.pump.queue_view(self.local_view(run))
                continue
            try:
                spec = self.jobs.get(name)
            except JobNotFound:
                gone.add(name)
                continue
            except ValidationError:
                continue  # reported as a job issue by the store
            view = self.view(spec)
            if view.status.is_active:
                self._remote_active.add(name)
            else:
                self._remote_active.discard(name)
            self.pump.queue_view(view)
        if gone:
            self._remote_active.difference_update(gone)
            self.pump.queue_event(JobsRemoved(frozenset(gone)))
        if definitions or gone:
            self._wake_scheduler()  # not for state files: those change every second

    def check_liveness(self) -> None:
        """Notice runners elsewhere that died (SIGKILL writes no final state)."""
        for name in sorted(self._remote_active):
            if self.is_local(name):
                self._remote_active.discard(name)
                continue
            state = self.states.read(name)
            if not state.status.is_active:
                self._remote_active.discard(name)
                continue
            self.recover_if_stale(name)

    # -- interrupted runs ---------------------------------------------------------

    def state_names(self) -> list[str]:
        try:
            return sorted(p.stem for p in self.home.state_dir.glob("*.yaml"))
        except OSError:
            return []

    def recover_interrupted(self) -> list[str]:
        """Record every dead runner's run as ``interrupted``; returns the job names."""
        found: list[str] = []
        for name in self.state_names():
            if self.is_local(name):
                continue
            try:
                state = self.states.read(name)
            except Exception:
                log.debug("cannot read the state of %s", name, exc_info=True)
                continue
            if state.status.is_active and self.recover_if_stale(name) is not None:
                found.append(name)
        return found

    def recover_if_stale(self, name: str) -> JobState | None:
        if self.is_local(name):
            return None
        recovered = coordination.recover_stale(self.home, self.states, name, clock=self.clock)
        if recovered is None:
            return None
        self.record_recovered(recovered)
        return recovered.state

    def record_recovered(self, recovered: coordination.Recovered) -> None:
        """History and the error log of a dead run, and its card now ``interrupted``.

        The history row keeps what the run's own row says of it (its trigger:
        a catch-up stays a catch-up)."""
        log.warning("%s", recovered.event.message)
        known = self._history_row(recovered.run.run_id)
        run = replace(recovered.run, trigger=known.trigger) if known else recovered.run
        self.db.record_run(run)
        self.record_error(recovered.event)
        name = recovered.run.job_name
        self._remote_active.discard(name)
        if not self._wanted():
            return
        if self.pump.on_pump_thread():
            self._files_changed(frozenset({name}), False)
        else:
            self.pump.post(FilesChanged(frozenset({name})))
        self.pump.publish(RunFinished(run))

    def _history_row(self, run_id: str) -> RunRecord | None:
        try:
            return self.db.run(run_id)
        except Exception:
            log.debug("cannot read the history row of run %s", run_id, exc_info=True)
            return None

    def settle_history(self) -> int:
        """Finish the history rows a killed runner left open; returns how many.

        A runner killed between its final state write and its history write
        leaves a row ``running`` behind a state that says how the run ended:
        the row gets that ending. A row whose run the state does not know
        (and no process runs the job) is ``interrupted``. Runs still active
        in their state file are :meth:`recover_interrupted`'s.
        """
        fixed = 0
        now = self.clock()
        for name in self.state_names():
            if self.is_local(name) or coordination.run_lock_held(self.home, name):
                continue
            try:
                rows = [r for r in self.db.runs(name, 20) if r.status.is_active]
                if not rows:
                    continue
                state = self.states.read(name)
            except Exception:
                log.debug("cannot settle the history of %s", name, exc_info=True)
                continue
            if state.status.is_active:
                continue
            last = state.last_result
            for row in rows:
                if last is not None and last.run_id == row.run_id:
                    final = replace(
                        row,
                        status=last.status,
                        finished_at=last.finished_at or now,
                        files=last.files,
                        bytes=last.bytes,
                        warnings=last.warnings,
                        snapshot_id=last.snapshot_id,
                        error=last.error,
                    )
                else:
                    final = replace(
                        row,
                        status=Status.INTERRUPTED,
                        finished_at=now,
                        error="the run was interrupted: its runner ended without "
                        "recording how (killed, crashed or the machine went down)",
                    )
                log.warning("%s: history of run %s settled as %s", name, row.run_id, final.status)
                self.db.record_run(final)
                fixed += 1
        return fixed

    # -- errors (any thread) -------------------------------------------------------

    def record_error(self, event: ErrorEvent, *, dedupe: bool = False) -> ErrorEvent:
        """The one door for error events: store (or keep in the fallback), then tell
        subscribers, in order with everything else the pump delivers. Never raises:
        an error that cannot be stored anywhere is still logged and delivered."""
        try:
            stored = self.db.record_error(event, dedupe=dedupe)
        except Exception:
            log.exception("could not store the error event: %s", event.message)
            stored = event
        self.pump.publish(ErrorRecorded(stored))
        return stored

    def record_job_error(
        self,
        name: str,
        severity: Severity,
        component: str,
        error_type: str,
        message: str,
        *,
        prefix: bool = True,
        **fields: Any,
    ) -> ErrorEvent:
        """One job's error event through :meth:`record_error`: the one shape of them
        (the message starts with the job's name unless ``prefix`` is False)."""
        return self.record_error(
            ErrorEvent(
                severity=severity,
                component=component,
                error_type=error_type,
                message=f"{name}: {message}" if prefix else message,
                job_name=name,
                **fields,
            )
        )

    def _state_write_failed(self, run: ActiveRun, why: str) -> None:
        self.record_job_error(run.name, Severity.HIGH, Component.STORE, "state_write_failed", why)

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
                or (is_engine_component(e.component) and e.severity == Severity.LOW)
            )
        ]
        self.resolve_errors(run.name, chosen, f"run {run.run_id}")

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

    def resolve_errors(self, name: str, events: list[ErrorEvent], by: str) -> int:
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
        self.record_error(
            ErrorEvent(
                severity=Severity.LOW,
                component=Component.RESOLUTION,
                error_type="errors_resolved",
                message=message,
                job_name=name,
                details="\n".join(f"#{e.id} [{e.severity}] {e.message}" for e in done),
                resolved=True,
                resolved_at=now,
            )
        )
        return len(done)

    # -- verify results (the verifying thread, under the job's run lock) -------------

    def record_verify(self, spec: JobSpec, report: VerifyReport, trigger: Trigger) -> None:
        """Keep a verify's outcome in the job's state; not ``ok`` is an error event.

        Runs under the job's run lock (the snapshot door holds it), so no run
        writes the state meanwhile. An ``ok`` verify resolves the job's
        earlier verify errors: the same check now passes.
        """
        now = self.clock()
        problem = report.problems[0] if report.problems else None
        result = LastVerify(
            time=now,
            outcome=report.outcome,
            snapshots=len(report.snapshots),
            files=report.files_checked,
            bytes=report.bytes_checked,
            problems=len(report.problems),
            method=report.method,
            detail=(
                f"{problem.snapshot_id}: {problem.path or '(manifest)'}: {problem.reason}"
                if problem is not None
                else (mask_url(report.unchecked) if report.unchecked is not None else None)
            ),
            trigger=Trigger(trigger).value,
            unit=report.unit,
            bytes_known=report.bytes_known,
        )
        try:
            self.states.transition(spec.name, lambda st: replace(st, last_verify=result))
        except (OSError, LockTimeout) as exc:
            log.warning("%s: could not keep the verify result: %s", spec.name, exc)
        event = verify_event(spec, report)
        if event is not None:
            self.record_error(event)
        else:
            self.resolve_job_errors(spec.name, VERIFY_COMPONENTS, f"verify at {to_iso(now)}")
        self.pump.publish(JobsChanged((self.view(spec),)))


def _why(exc: BaseException, home: Home) -> str:
    """A readable cause: a full home is named as such."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"the filesystem of {home.root} is full"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


SLOT_LOCK_WINDOW = 10.0
"""How long a run that waited for its slot tries to take its run lock (other processes
take it for moments to check the job)."""


@dataclass(frozen=True, slots=True)
class _Work:
    """One pool task: the run's body (``runner.execute``) with what it posts to.

    A run that waited for its slot takes its run lock first (a queued run
    holds none); should another process hold it now, the run ends failed
    without touching the job's state.
    """

    run: ActiveRun
    post: Callable[[object], None]
    settings: RunSettings
    home: Home

    def __call__(self) -> None:
        run = self.run
        if run.lock is None and not run.cancel.is_set():
            run.lock = coordination.acquire_run_lock(self.home, run.name, SLOT_LOCK_WINDOW)
            if run.lock is None:
                run.owns_state = False
                self.post(
                    RunEvent(
                        run,
                        Finished(
                            Status.FAILED,
                            error="the job was started by another process while it was queued here",
                            error_type="already_running",
                        ),
                    )
                )
                return
        execute(run, self.post, self.settings)
