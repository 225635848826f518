"""The job manager: the one facade the TUI, the CLI and the daemon talk to.

Queries return immutable snapshots (``JobView``, records). Commands go
through one method each, under the job's file lock, and bump its version.
The manager only composes the objects that do the work:

- :class:`~tui_backup.core.runs.RunTracker` (``runs.py``): this process's
  runs, their state files and transitions, and the one ``record_error``;
- :class:`~tui_backup.core.pump.EventPump` (``pump.py``, owned by the
  tracker): one queue and thread, coalesced delivery to subscribers;
- :class:`~tui_backup.core.snapshots.SnapshotOps`: the door for snapshots;
- :class:`~tui_backup.core.verifies.BackgroundVerifies`: scheduled verifies;
- the scheduler, the watcher and the error feed, started on request; the
  scheduler and ``health`` see the manager only through the small protocols
  they define (``SchedulerPorts``, ``HealthInputs``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from tui_backup.core import coordination, reserve
from tui_backup.core.breaker import DEFAULT_COOL_OFF, BreakerState, CircuitBreakers, Decision
from tui_backup.core.config import Settings, SettingsStore
from tui_backup.core.destinations import DestinationInUse, conflicting
from tui_backup.core.error_feed import ErrorFeed
from tui_backup.core.errors import (
    AlreadyRunning,
    JobNotFound,
    NotRunning,
    OperationFailed,
    ShuttingDown,
)
from tui_backup.core.events import (
    JobsChanged,
    JobsRemoved,
    Subscriber,
    Subscribers,
)
from tui_backup.core.health import HealthReport, check_health
from tui_backup.core.retry import RetryPolicy
from tui_backup.core.runner import ActiveRun, EngineFactory, RunSettings
from tui_backup.core.runs import FilesChanged, RunnerIdentity, RunTracker
from tui_backup.core.scheduler import Scheduler
from tui_backup.core.snapshots import (
    BAD_INPUT,
    SnapshotOperationFailed,
    SnapshotOps,
    target_refusal,
)
from tui_backup.core.verifies import BackgroundVerifies
from tui_backup.core.views import JobView
from tui_backup.core.vocabulary import Component, Trigger
from tui_backup.core.watcher import Watcher
from tui_backup.engines.api import RestoreReport, RunOptions
from tui_backup.engines.events import Emit
from tui_backup.engines.registry import get_engine
from tui_backup.model.clock import Clock, utcnow
from tui_backup.model.job import JobSpec, is_valid_name
from tui_backup.model.records import ErrorEvent, RunRecord, new_id
from tui_backup.model.secrets import mask_url
from tui_backup.model.state import JobState
from tui_backup.model.status import Severity, Status
from tui_backup.store import safefile
from tui_backup.store.db import Database, ErrorStats
from tui_backup.store.jobs import JobIssue, JobStore
from tui_backup.store.paths import Home
from tui_backup.store.state import StateStore

log = logging.getLogger(__name__)


class JobManager:
    """Commands and queries over one home directory, shared by every front end."""

    def __init__(
        self,
        home: Home,
        *,
        runner: str = "cli",
        clock: Clock = utcnow,
        settings: Settings | None = None,
        engine_factory: EngineFactory | None = None,
        retry: RetryPolicy | None = None,
        breaker_threshold: int = 5,
        breaker_cool_off: timedelta = DEFAULT_COOL_OFF,
        max_updates_per_second: float = 10.0,
        recover: bool = True,
    ) -> None:
        self.home = home
        self.runner = runner
        self.clock = clock
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.identity = RunnerIdentity(runner, self.host, self.pid)
        home.ensure()
        self.db = Database(home.db_path, home.fallback_log)
        self.jobs = JobStore(home, repair_on_read=False)
        """Reads of job files: they never write (no repair, no error event)."""
        self._job_repair = JobStore(home, on_error=self._store_error, repair_on_read=True)
        """The explicit repair step's store (:meth:`repair_job_files`)."""
        self._repaired: dict[str, tuple[safefile.Fingerprint | None, JobIssue]] = {}
        """Issues the repair step fixed, by job, with the restored file's fingerprint."""
        self.states = StateStore(home, on_error=self._store_error, repair_on_read=False)
        """Reads of state files never quarantine one: :meth:`repair_state_files` does."""
        self._state_repair = StateStore(home, on_error=self._store_error, repair_on_read=True)
        self.settings_store = SettingsStore(home)
        self.settings = settings if settings is not None else self.settings_store.load()
        self.breakers = CircuitBreakers(
            home, threshold=breaker_threshold, cool_off=breaker_cool_off, clock=clock
        )
        factory = engine_factory or get_engine
        self._subscribers = Subscribers()
        self._runs = RunTracker(
            home=home,
            identity=self.identity,
            clock=clock,
            jobs=self.jobs,
            states=self.states,
            db=self.db,
            breakers=self.breakers,
            run_settings=RunSettings(engine_factory=factory, retry=retry or RetryPolicy()),
            max_concurrent=self.settings.max_concurrent_jobs,
            deliver=self._subscribers.deliver,
            wanted=self._subscribers.any,
            wake_scheduler=self._wake_scheduler,
            repair_jobs=self.repair_job_files,
            max_rate=max_updates_per_second,
        )
        self._pump = self._runs.pump
        self.snapshots = SnapshotOps(
            factory, on_verified=self._runs.record_verify, job_lock=self._job_lock
        )
        """The one door for every snapshot operation (list, restore, verify, forget, ...)."""
        self._verifies = BackgroundVerifies(
            factory, self._runs.record_verify, self._runs.record_error
        )
        self._lock = threading.Lock()
        self._process_lock = coordination.ProcessLock(home, self.host, self.pid)
        self._watcher: Watcher | None = None
        self._error_feed: ErrorFeed | None = None
        self._scheduler: Scheduler | None = None
        self._closed = False
        if recover:
            self.prepare_home()

    # -- subscriptions -------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` with every ManagerEvent on the event pump's thread.

        Returns an unsubscribe function. ``JobsChanged`` arrives at most
        ``max_updates_per_second`` times a second, with only changed jobs.
        """
        unsubscribe = self._subscribers.add(callback)
        self._pump.start()
        return unsubscribe

    def drain_events(self, timeout: float = 5.0) -> bool:
        """Deliver every event queued so far before returning (a CLI about to print and exit).

        Must not be called from a subscriber callback (that is the pump's thread).
        """
        return self._pump.drain(timeout)

    # -- queries -------------------------------------------------------------

    def list_jobs(self) -> tuple[JobView, ...]:
        """Every job with its live state and next run, sorted by name."""
        listing = self.jobs.list()
        issues = {i.name: i.message for i in self._with_repaired(listing.issues)}
        retry = self.breakers.retry_times()  # read once for the whole listing
        return tuple(self._runs.view(spec, issues.get(spec.name), retry) for spec in listing.jobs)

    def job_specs(self) -> tuple[JobSpec, ...]:
        """Every valid job definition, sorted by name."""
        return self.jobs.list().jobs

    def job_issues(self) -> tuple[JobIssue, ...]:
        """Job files that are wrong right now (shown as warnings by every front end)."""
        return self._with_repaired(self.jobs.list().issues)

    def _with_repaired(self, issues: tuple[JobIssue, ...]) -> tuple[JobIssue, ...]:
        """``issues`` plus those the repair step fixed, while the restored file is unchanged
        (the person still needs to hear that their edit was set aside)."""
        known = {i.name for i in issues}
        with self._lock:
            repaired = sorted(self._repaired.items())
        kept = [
            issue
            for name, (fingerprint, issue) in repaired
            if name not in known
            and safefile.Fingerprint.of(self.home.job_file(name)) == fingerprint
        ]
        return (*issues, *kept) if kept else issues

    def job(self, name: str) -> JobView:
        return self._runs.view(self.jobs.get(name))

    def get_spec(self, name: str) -> JobSpec:
        return self.jobs.get(name)

    def state(self, name: str) -> JobState:
        """The job's state: live for a run of this process, else from its state file."""
        return self._runs.state(name)

    def is_local(self, name: str) -> bool:
        """True when this process runs (or queued) ``name`` now."""
        return self._runs.is_local(name)

    def running_here(self) -> tuple[str, ...]:
        """Names of the jobs this process runs or has queued."""
        return self._runs.names()

    def is_running_anywhere(self, name: str) -> bool:
        return (
            self.is_local(name)
            or coordination.run_lock_held(self.home, name)
            or coordination.queued_live(self.home, self.states, name) is not None
        )

    def errors(self, **filters: object) -> list[ErrorEvent]:
        """Error events newest first; filters as :meth:`Database.errors`."""
        return self.db.errors(**filters)  # type: ignore[arg-type]

    def error(self, event_id: int) -> ErrorEvent | None:
        return self.db.error(event_id)

    def error_stats(self) -> ErrorStats:
        return self.db.stats(self.clock())

    def history(self, name: str, limit: int = 50) -> list[RunRecord]:
        return self.db.runs(name, limit)

    def last_run(self, name: str, status: Status | None = None) -> RunRecord | None:
        """The newest recorded run of ``name`` (with ``status``, when given)."""
        return self.db.last_run(name, status)

    def database_status(self) -> tuple[str | None, int]:
        """What is wrong with the database (None: it works), and how many entries
        wait in the fallback journal."""
        problem = self.db.check()
        return problem, (len(self.db.pending()) if problem is None else 0)

    def degraded_database(self) -> tuple[str, str] | None:
        """Why the database is not in use and the journal that holds events meanwhile
        (its file name), or None while it works: for front ends to say so."""
        if not self.db.degraded:
            return None
        return str(self.db.degraded_reason), self.db.fallback.name

    def open_breakers(self) -> list[BreakerState]:
        return self.breakers.open_breakers()

    def allow_scheduled(self, destination: str) -> Decision:
        """Whether the circuit breaker lets a scheduled run to ``destination`` start."""
        return self.breakers.allow_scheduled(destination)

    def scheduler_active(self) -> bool:
        """True while this process holds the scheduler lock."""
        scheduler = self._scheduler
        return scheduler is not None and scheduler.active

    def health(self) -> HealthReport:
        return check_health(self)

    # -- job definition commands ---------------------------------------------

    def destination_users(self, spec: JobSpec) -> list[str]:
        """Other jobs whose destination conflicts with ``spec``'s (same place or nested).

        Jobs of engines that keep jobs apart in one repository
        (``Capabilities.shares_destination``, e.g. restic) do not conflict
        when both use exactly the same location.
        """
        return conflicting(spec, self.jobs.list().jobs, self._shares_destination)

    def destination_conflict(self, spec: JobSpec) -> DestinationInUse | None:
        """The refusal ``create``/``update`` would raise for ``spec`` (front ends: the warning
        to print when saving with ``force``), or None."""
        users = self.destination_users(spec)
        return DestinationInUse(spec.name, spec.destination, users) if users else None

    def _shares_destination(self, spec: JobSpec) -> bool:
        return self.snapshots.capabilities(spec).shares_destination

    def _check_destination(self, spec: JobSpec, force: bool) -> None:
        conflict = self.destination_conflict(spec)
        if conflict is None:
            return
        if not force:
            raise conflict
        log.info("%s", conflict.warning)
        self.record_error(
            ErrorEvent(
                severity=Severity.LOW,
                component=Component.JOBS,
                error_type="destination_shared",
                message=(
                    f"{spec.name}: saved (forced) although its destination "
                    f"{mask_url(spec.destination)} is also used by "
                    + ", ".join(repr(n) for n in conflict.others)
                    + "; its engine refuses to run on, list or purge what another job owns"
                ),
                job_name=spec.name,
            )
        )

    def create(self, spec: JobSpec, *, force: bool = False) -> JobSpec:
        """Save a new job; a destination another job uses is refused unless ``force``."""
        self._check_destination(spec, force)
        new = self.jobs.create(spec)
        self._pump.publish(JobsChanged((self._runs.view(new),)))
        self._wake_scheduler()
        return new

    def update(self, spec: JobSpec, *, force: bool = False) -> JobSpec:
        """Save an edited spec; ``spec.version`` must be the version it was based on.

        A changed destination (or engine) that another job uses is refused
        unless ``force``; other edits of a job already sharing one are not.
        """
        try:
            current: JobSpec | None = self.jobs.get(spec.name)
        except JobNotFound:
            current = None
        if current is None or _destination_changed(current, spec):
            self._check_destination(spec, force)
        new = self.jobs.update(spec)
        self._pump.publish(JobsChanged((self._runs.view(new),)))
        self._wake_scheduler()
        return new

    def modify(
        self, name: str, change: Callable[[JobSpec], JobSpec], *, force: bool = False
    ) -> JobSpec:
        """Apply ``change`` under the job's lock (same destination rule as :meth:`update`)."""

        def checked(old: JobSpec) -> JobSpec:
            new = change(old)
            if _destination_changed(old, new):
                self._check_destination(new, force)
            return new

        new = self.jobs.modify(name, checked)
        self._pump.publish(JobsChanged((self._runs.view(new),)))
        self._wake_scheduler()
        return new

    def delete(
        self, name: str, *, purge_data: bool = False, expected_version: int | None = None
    ) -> JobSpec:
        """Remove a job (refused while it runs); with ``purge_data`` its backups too.

        Holds the job's run lock meanwhile, so no process can start it while
        its definition and data are going away.
        """
        refusal = OperationFailed(
            f"job {name!r} is running; stop it first (tui-backup stop {name})"
        )
        if self.is_local(name):
            raise refusal
        try:
            lock = self._claim(name)
        except AlreadyRunning:
            raise refusal from None
        try:
            spec = self.jobs.get(name)
            if purge_data:
                self._purge_data(spec)
            removed = self.jobs.delete(name, expected_version)
            self.states.remove(name)
        finally:
            lock.release()
        self._pump.publish(JobsRemoved(frozenset({name})))
        return removed

    def _purge_data(self, spec: JobSpec) -> None:
        """Delete exactly this job's snapshots through its engine; any refusal stops the delete.

        Never a fallback: an engine that refuses (another job owns the
        destination) or fails leaves the job, and every snapshot, in place.
        """
        try:
            removed = self.snapshots.purge(spec)
        except SnapshotOperationFailed as exc:
            raise OperationFailed(
                f"could not delete the backup data of {spec.name!r}: {str(exc).rstrip('.')}; "
                "the job was not deleted"
            ) from exc
        log.info("%s: deleted %d snapshot(s) of the job", spec.name, len(removed))

    @contextlib.contextmanager
    def _job_lock(self, spec: JobSpec) -> Iterator[None]:
        """Hold the job's run lock for a block (verify): refused while the job runs."""
        verifying = self._verifies.busy(spec.name)
        busy = self.is_local(spec.name) or verifying
        lock = None
        if not busy:
            with contextlib.suppress(AlreadyRunning):
                lock = self._claim(spec.name)
        if lock is None:
            where = "verifying in this process" if verifying else self._where(spec.name)
            raise SnapshotOperationFailed(
                f"job {spec.name!r} is running ({where}); try again when it ends", "job_running"
            )
        try:
            yield
        finally:
            lock.release()

    # -- run commands ----------------------------------------------------------

    def start(self, name: str, trigger: Trigger = Trigger.MANUAL, *, checksum: bool = False) -> str:
        """Start (or queue) a run of ``name``; returns its run id.

        ``checksum`` asks the engine to re-read every source file instead of
        trusting size and mtime (``RunOptions.checksum``; engines whose
        Capabilities lack ``checksum_run`` ignore it). A job's own
        ``checksum_every`` is the engine's to apply.

        Takes the run lock at once and holds it until the run's final state
        is written, queued time included, so no other process can start the
        same job meanwhile. Raises AlreadyRunning when the lock is held.
        """
        if self._closed:
            raise ShuttingDown()
        spec = self.jobs.get(name)
        local = self._runs.get(name)
        if local is not None:
            raise AlreadyRunning(name, f"in this process, run {local.run_id}")
        if self._verifies.busy(name):
            raise AlreadyRunning(name, "verifying in this process")
        lock = self._claim(name)
        run: ActiveRun | None = None
        try:
            recovered = coordination.recover_stale(
                self.home, self.states, name, clock=self.clock, lock_is_ours=True
            )
            if recovered is not None:
                self._runs.record_recovered(recovered)
            self.states.clear_stop(name)
            previous = self.states.read(name)
            now = self.clock()
            run = ActiveRun(
                name=name,
                run_id=new_id(),
                spec=spec,
                trigger=Trigger(trigger),
                lock=lock,
                queued_at=now,
                options=RunOptions(checksum=checksum),
                previous=previous,
                next_run=self._runs.next_run(spec, now),
            )
            queued = self._runs.pool.would_queue()
            if queued:
                # Waiting for a slot holds no lock file of its own: the process lock
                # (held first) keeps the queued state alive for other processes,
                # and the run takes its run lock when its slot comes (runs.py).
                self._process_lock.hold()
            else:
                run.status, run.started_at = Status.RUNNING, now
            self._runs.register(run)
            if queued:
                run.lock = None
                lock.release()
        except BaseException:
            if run is None or run.lock is not None:
                lock.release()
            raise
        self._runs.launch(run)
        log.debug("%s: run %s %s (%s)", name, run.run_id, run.status, trigger)
        return run.run_id

    def start_verify(self, name: str, trigger: Trigger = Trigger.SCHEDULE) -> threading.Thread:
        """Verify ``name`` in a background thread (the scheduler's ``verify.schedule``).

        Takes the job's run lock here, before returning, and holds it until
        the verify ends, so no run of the job starts meanwhile (raises
        AlreadyRunning when a run holds it). Checks every snapshot, ``deep``
        as the job's verify block says; the outcome is kept like any verify
        through the door. A failure to check is a MEDIUM error, never silent.
        """
        if self._closed:
            raise ShuttingDown()
        spec = self.jobs.get(name)
        with self._lock:
            if self.is_local(name) or self._verifies.busy(name):
                raise AlreadyRunning(name, "in this process")
            lock = self._claim(name)
            return self._verifies.start(spec, trigger, lock)

    def verifying_here(self) -> tuple[str, ...]:
        """Names of the jobs this process verifies in the background now."""
        return self._verifies.names()

    def stop(self, name: str, reason: str | None = None) -> None:
        """Stop ``name`` wherever it runs: here by its cancel flag, elsewhere by a stop request.

        ``reason`` (e.g. "Ctrl-C") ends up in the run's error text and history.
        Raises NotRunning when no process runs it.
        """
        who = f"{self.runner} pid {self.pid} on {self.host}"
        run = self._runs.get(name)
        if run is not None:
            self._runs.stop_local(run, f"stopped by {reason or 'request'} ({who})")
            return
        if coordination.run_lock_held(self.home, name) or coordination.queued_live(
            self.home, self.states, name
        ):
            self.states.request_stop(name, f"{reason + ' from ' if reason else ''}{who}")
            log.info("%s: stop requested from the process that runs it", name)
            return
        self.jobs.get(name)  # JobNotFound for a name that does not exist
        raise NotRunning(name)

    def wait(self, name: str, timeout: float | None = None) -> RunRecord | None:
        """Block until this process's run of ``name`` ends; its record, or None on timeout.

        When no run of ``name`` is active here, returns the record of the
        last one that ended in this process (None if there was none).
        """
        run = self._runs.get(name)
        if run is None:
            return self._runs.last_record(name)
        if not run.done.wait(timeout):
            return None
        return run.record

    def shutdown(self, stop_running: bool = True, timeout: float = 30.0) -> None:
        """Stop the scheduler and watcher, stop (or await) local runs, join threads.

        Runs stopped here are recorded ``stopped``, not ``interrupted``: they
        end through the normal path, final state and history included.
        """
        if self._closed:
            return
        deadline = time.monotonic() + timeout
        # The scheduler first: it must not start (or queue) anything more while the
        # runs below are stopped. Then no command starts anything either.
        self.stop_scheduler()
        self._closed = True
        self.stop_watching()
        runs = self._runs.runs()
        if stop_running:
            for run in runs:
                self._runs.stop_local(run, f"stopped: {self.identity} is shutting down")
        verifies = self._verifies.cancel_all()
        for run in runs:
            if not run.done.wait(max(0.0, deadline - time.monotonic())):
                log.warning("%s: run %s did not stop in time", run.name, run.run_id)
        for thread in verifies:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._runs.pool.join(max(0.0, deadline - time.monotonic()))
        self._pump.stop(max(0.1, deadline - time.monotonic()))
        self._process_lock.release()
        self.db.close()

    def close(self) -> None:
        self.shutdown()

    def _claim(self, name: str) -> Any:
        """The job's run lock, for a run, a verify or a delete; AlreadyRunning when a
        process runs the job or has it queued (a queued run holds no lock file)."""
        lock = coordination.acquire_run_lock(self.home, name)
        if lock is None:
            raise AlreadyRunning(name, self._where(name))
        try:
            queued = coordination.queued_live(self.home, self.states, name)
        except BaseException:
            lock.release()
            raise
        if queued is not None:
            lock.release()
            raise AlreadyRunning(
                name, f"queued in {queued.runner} pid {queued.pid} on {queued.host}"
            )
        return lock

    def _where(self, name: str) -> str:
        state = self.states.read(name)
        if state.status.is_active and state.pid:
            return f"{state.runner or 'process'} pid {state.pid} on {state.host}"
        return "in another process"

    # -- watching, scheduling ---------------------------------------------------

    def start_watching(self) -> None:
        """Learn of other processes' runs and hand edits within a second (watchfiles)."""
        with self._lock:
            if self._watcher is not None:
                return
            self._pump.start()
            # Error events of every process: the watcher sees the database change.
            feed = ErrorFeed(self.db, self._pump.publish)
            self._error_feed = feed
            self._watcher = Watcher(
                self.home,
                on_change=self._files_changed,
                on_status=self._pump.publish,
                on_database=feed.poke,
            )
        # Runs already going elsewhere need liveness checks from the start.
        self._files_changed(frozenset(self._runs.state_names()), False)
        feed.start()
        self._watcher.start()

    def _files_changed(self, names: frozenset[str], definitions: bool) -> None:
        """The watcher saw files of ``names`` change (its thread): the tracker looks."""
        self._pump.post(FilesChanged(names, definitions))

    def stop_watching(self) -> None:
        with self._lock:
            watcher, self._watcher = self._watcher, None
            feed, self._error_feed = self._error_feed, None
        if watcher is not None:
            watcher.stop()
        if feed is not None:
            feed.stop()

    def start_scheduler(self, clock: Clock | None = None, **options: Any) -> Scheduler:
        """Run the scheduler in this process while it can hold the scheduler lock."""
        with self._lock:
            if self._scheduler is None:
                self._scheduler = Scheduler(self, clock=clock or self.clock, **options)
                self._scheduler.start()
            return self._scheduler

    def stop_scheduler(self) -> None:
        with self._lock:
            scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.stop()

    def _wake_scheduler(self) -> None:
        scheduler = self._scheduler
        if scheduler is not None:
            scheduler.wake()

    # -- restore ----------------------------------------------------------------

    def restore(
        self,
        name: str,
        target: str,
        *,
        snapshot: str | None = None,
        paths: Sequence[str] = (),
        dry_run: bool = False,
        overwrite: bool = False,
        cancel: threading.Event | None = None,
        emit: Emit | None = None,
    ) -> RestoreReport:
        """Restore through the job's engine; a real restore is kept in the job's history.

        The record has trigger ``restore``, so "last backup" queries skip it,
        and a failure is an error event like any failed run.
        """
        spec = self.get_spec(name)
        if dry_run:
            return self.snapshots.restore(
                spec,
                target,
                snapshot=snapshot,
                paths=paths,
                dry_run=True,
                overwrite=overwrite,
                cancel=cancel,
                emit=emit,
            )
        # Bad input (a non-empty target) is refused before anything is recorded.
        refusal = target_refusal(target, overwrite)
        if refusal is not None:
            raise refusal
        record = RunRecord(
            run_id=new_id(),
            job_name=name,
            started_at=self.clock(),
            status=Status.RUNNING,
            host=self.host,
            pid=self.pid,
            trigger=Trigger.RESTORE.value,
        )
        self.db.record_run(record)
        try:
            report = self.snapshots.restore(
                spec,
                target,
                snapshot=snapshot,
                paths=paths,
                overwrite=overwrite,
                cancel=cancel,
                emit=emit,
            )
        except BaseException as exc:
            stopped = isinstance(exc, KeyboardInterrupt) or (cancel is not None and cancel.is_set())
            self.db.record_run(
                replace(
                    record,
                    finished_at=self.clock(),
                    status=Status.STOPPED if stopped else Status.FAILED,
                    error=None if stopped else f"restore into {target} failed: {exc}",
                )
            )
            if not stopped and getattr(exc, "error_type", None) not in BAD_INPUT:
                self.record_error(
                    ErrorEvent(
                        severity=Severity.HIGH,
                        component=Component.RESTORE,
                        error_type=getattr(exc, "error_type", "restore_failed"),
                        message=f"{name}: restore into {target} failed: {exc}",
                        job_name=name,
                        stack_trace=traceback.format_exc(),
                    )
                )
            raise
        stopped = cancel is not None and cancel.is_set()
        self.db.record_run(
            replace(
                record,
                finished_at=self.clock(),
                status=Status.STOPPED if stopped else Status.SUCCEEDED,
                files=report.files,
                bytes=report.bytes,
                warnings=report.warnings,
                snapshot_id=report.snapshot_id,
            )
        )
        return report

    # -- errors -----------------------------------------------------------------

    def record_error(self, event: ErrorEvent, *, dedupe: bool = False) -> ErrorEvent:
        """Store an error event (or keep it in the fallback) and tell subscribers."""
        return self._runs.record_error(event, dedupe=dedupe)

    def resolve_error(self, event_id: int) -> bool:
        return self.db.resolve(event_id, self.clock())

    def reload_settings(self) -> str | None:
        """Re-read ``config.yaml`` and apply it (the daemon's SIGHUP); the problem, if
        the file is invalid (then nothing changes)."""
        settings = self.settings_store.load()
        if self.settings_store.problem:
            return str(self.settings_store.problem)
        self.settings = settings
        self._runs.pool.set_limit(settings.max_concurrent_jobs)
        return None

    def discard_invalid_job(self, name: str) -> Path:
        """Quarantine a job file that never had a valid version (``job rm`` of it)."""
        return self.jobs.discard_invalid(name)

    def save_settings(self, **changes: object) -> Settings:
        self.settings = self.settings_store.update(**changes)
        self._runs.pool.set_limit(self.settings.max_concurrent_jobs)
        return self.settings

    @property
    def max_concurrent_jobs(self) -> int:
        """How many runs this process executes at once; more are ``queued``."""
        return self._runs.pool.limit

    def set_max_concurrent_jobs(self, limit: int) -> None:
        """Change the pool limit for this process only (tests, the daemon's flag)."""
        self._runs.pool.set_limit(limit)

    def _store_error(self, event: ErrorEvent) -> None:
        self.record_error(event, dedupe=True)

    # -- interrupted runs -------------------------------------------------------

    # -- the explicit steps that write what queries find ------------------------------
    #
    # Queries never write. What a reader might be tempted to fix on the way
    # (a broken job file, a dead runner's ``running`` state) is fixed by these
    # steps: at start-up (``prepare_home``, unless ``recover=False``), and on
    # the event pump's thread while the process watches (a job file the
    # watcher saw change and that now has an issue; a run elsewhere whose
    # runner died). Each is idempotent and safe across processes: under the
    # file's write lock the second process finds nothing left to do.

    def prepare_home(self) -> None:
        """The start-up steps: repair job files, record dead runs as interrupted,
        finish the history rows a killed runner left open, and report a bad
        config.yaml."""
        self._settle_reserve()
        self.repair_job_files()
        self.repair_state_files()
        self.recover_interrupted()
        self._runs.settle_history()
        self._report_settings_problem()

    def _settle_reserve(self) -> None:
        """A full home releases its reserve (core/reserve.py) before anything is written,
        so this process's runs are still recorded, and says so once; else the reserve is
        kept (laid down again once there is room)."""
        if not reserve.settle_reserve(self.home):
            return
        message = (
            f"the filesystem of the tui-backup home {self.home.root} is full (no space "
            "left): its reserve was released so runs are still recorded; free some space "
            "there (backup destinations are not affected)"
        )
        log.warning("%s", message)
        self.record_error(
            ErrorEvent(
                severity=Severity.HIGH,
                component=Component.STORE,
                error_type="home_full",
                message=message,
            ),
            dedupe=True,
        )

    def _report_settings_problem(self) -> None:
        """A config.yaml that could not be used is said once: a log line and an error
        event (an identical unresolved one is reused), whichever front end starts."""
        problem = self.settings_store.problem
        if problem is None:
            return
        log.warning("config.yaml: %s", problem)
        self.record_error(
            ErrorEvent(
                severity=Severity.MEDIUM,
                component=Component.STORE,
                error_type="invalid_config",
                message=f"config.yaml: {problem}",
            ),
            dedupe=True,
        )

    def repair_state_files(self) -> None:
        """Quarantine invalid state files (their last good version back), once, at start-up:
        the explicit step that queries, which read through :attr:`states`, never take."""
        try:
            names = sorted(p.stem for p in self.home.state_dir.glob("*.yaml"))
        except OSError:
            return
        for name in names:
            if not is_valid_name(name):
                continue
            try:
                self._state_repair.read(name)
            except Exception:
                log.warning("could not repair the state file of %s", name, exc_info=True)

    def repair_job_files(self) -> tuple[JobIssue, ...]:
        """Quarantine invalid job files (their last good version back in effect), keep
        valid hand edits as the last good version, and record each problem once
        (an unresolved identical error is reused). Returns what is still wrong."""
        try:
            repaired = self._job_repair.repair()
            remaining = self._job_repair.list().issues  # also reports names that cannot be jobs
        except Exception:
            log.warning("could not repair the job files", exc_info=True)
            return ()
        for issue in repaired:
            if is_valid_name(issue.name):
                fingerprint = safefile.Fingerprint.of(self.home.job_file(issue.name))
                with self._lock:
                    self._repaired[issue.name] = (fingerprint, issue)
        return remaining

    def recover_interrupted(self) -> list[str]:
        """Record every dead runner's run as ``interrupted``; returns the job names."""
        return self._runs.recover_interrupted()


def _destination_changed(old: JobSpec, new: JobSpec) -> bool:
    return old.destination != new.destination or old.engine != new.engine


__all__ = ["DestinationInUse", "JobManager"]
