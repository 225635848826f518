"""The job manager: one object the TUI, the CLI and the daemon all talk to.

Queries return immutable snapshots (``JobView``, records) and never change
anything (the one exception, by design: a query that finds a dead runner's
``running`` state records it as ``interrupted``, because the first process
to notice must). Commands go through one method each, under the job's file
lock, and bump its version. Runs happen in worker threads (``pool.py``,
``runner.py``); their events flow through one queue to one consumer thread
(``consumer.py``) that persists state and notifies subscribers through the
methods in ``lifecycle.py``.
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
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tui_backup.core import coordination
from tui_backup.core.breaker import DEFAULT_COOL_OFF, CircuitBreakers
from tui_backup.core.config import Settings, SettingsStore
from tui_backup.core.consumer import Call, Consumer, Deliver, FlushNow, Refresh
from tui_backup.core.destinations import DestinationInUse, conflicting
from tui_backup.core.errors import AlreadyRunning, JobNotFound, NotRunning, OperationFailed
from tui_backup.core.events import (
    ErrorRecorded,
    JobsChanged,
    JobsRemoved,
    ManagerEvent,
    RunFinished,
    Subscriber,
)
from tui_backup.core.lifecycle import VERIFY_COMPONENTS, RunLifecycle
from tui_backup.core.pool import RunPool
from tui_backup.core.retry import RetryPolicy
from tui_backup.core.runner import (
    ActiveRun,
    EngineFactory,
    RunEnded,
    RunSettings,
    RunStopping,
    execute,
)
from tui_backup.core.snapshots import (
    BAD_INPUT,
    SnapshotOperationFailed,
    SnapshotOps,
    target_refusal,
    verify_event,
)
from tui_backup.core.views import JobView
from tui_backup.engines.api import RestoreReport, RunOptions, VerifyReport
from tui_backup.engines.events import Emit, Finished
from tui_backup.model import schedule as cron
from tui_backup.model.clock import Clock, to_iso, utcnow
from tui_backup.model.job import JobSpec
from tui_backup.model.records import ErrorEvent, RunRecord, new_id
from tui_backup.model.secrets import mask_url
from tui_backup.model.state import JobState, LastVerify
from tui_backup.model.status import Severity, Status
from tui_backup.store.db import Database, ErrorStats
from tui_backup.store.errors import LockTimeout
from tui_backup.store.jobs import JobIssue, JobStore
from tui_backup.store.paths import Home
from tui_backup.store.state import StateStore

if TYPE_CHECKING:
    from tui_backup.core.error_feed import ErrorFeed
    from tui_backup.core.health import HealthReport
    from tui_backup.core.scheduler import Scheduler
    from tui_backup.core.watcher import Watcher

log = logging.getLogger(__name__)


def _default_engine_factory(name: str) -> Any:
    from tui_backup.engines.registry import get_engine

    return get_engine(name)


class JobManager(RunLifecycle):
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
        home.ensure()
        self.db = Database(home.db_path, home.fallback_log)
        self.jobs = JobStore(home, on_error=self._store_error)
        self.states = StateStore(home, on_error=self._store_error)
        self.settings_store = SettingsStore(home)
        self.settings = settings if settings is not None else self.settings_store.load()
        self.breakers = CircuitBreakers(
            home, threshold=breaker_threshold, cool_off=breaker_cool_off, clock=clock
        )
        self._run_settings = RunSettings(
            engine_factory=engine_factory or _default_engine_factory,
            retry=retry or RetryPolicy(),
        )
        self.snapshots = SnapshotOps(
            self._run_settings.engine_factory,
            on_verified=self._on_verified,
            job_lock=self._job_lock,
        )
        """The one door for every snapshot operation (list, restore, verify, forget, ...)."""
        self._subscribers: list[Subscriber] = []
        self._sub_lock = threading.Lock()
        self._lock = threading.RLock()
        self._runs: dict[str, ActiveRun] = {}
        self._verifies: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self._last_records: dict[str, RunRecord] = {}
        self._remote_active: set[str] = set()
        self._pool = RunPool(self.settings.max_concurrent_jobs)
        self._consumer = Consumer(self, max_rate=max_updates_per_second)
        self._watcher: Watcher | None = None
        self._error_feed: ErrorFeed | None = None
        self._scheduler: Scheduler | None = None
        self._closed = False
        if recover:
            self.recover_interrupted()

    # -- subscriptions -------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` with every ManagerEvent on the manager's thread.

        Returns an unsubscribe function. ``JobsChanged`` arrives at most
        ``max_updates_per_second`` times a second, with only changed jobs.
        """
        with self._sub_lock:
            self._subscribers.append(callback)
        self._consumer.ensure_started()

        def unsubscribe() -> None:
            with self._sub_lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def has_subscribers(self) -> bool:
        with self._sub_lock:
            return bool(self._subscribers)

    def _notify(self, event: ManagerEvent) -> None:
        """Hand ``event`` to the consumer, which delivers it in order."""
        if not self.has_subscribers():
            return
        self._consumer.ensure_started()
        if isinstance(event, JobsChanged):
            self._consumer.post(Call(lambda: [self._consumer.add_view(v) for v in event.views]))
        else:
            self._consumer.post(Deliver(event))

    def drain_events(self, timeout: float = 5.0) -> bool:
        """Deliver every event queued so far before returning (a CLI about to print and exit).

        Must not be called from a subscriber callback (that is the consumer thread).
        """
        if self._consumer.thread is None or self._consumer.on_consumer_thread():
            return False
        done = threading.Event()
        self._consumer.post(FlushNow(done))
        return done.wait(timeout)

    def _deliver(self, event: ManagerEvent) -> None:
        """Call every subscriber (consumer thread only)."""
        with self._sub_lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:
                log.exception("subscriber %r failed", callback)

    # -- queries -------------------------------------------------------------

    def list_jobs(self) -> tuple[JobView, ...]:
        """Every job with its live state and next run, sorted by name."""
        listing = self.jobs.list()
        issues = {i.name: i for i in listing.issues}
        return tuple(self._view(spec, issues.get(spec.name)) for spec in listing.jobs)

    def job_issues(self) -> tuple[JobIssue, ...]:
        """Job files that are wrong right now (shown as warnings by every front end)."""
        return self.jobs.list().issues

    def job(self, name: str) -> JobView:
        return self._view(self.jobs.get(name), None)

    def get_spec(self, name: str) -> JobSpec:
        return self.jobs.get(name)

    def state(self, name: str) -> JobState:
        """The job's state: live for a run of this process, else from its state file."""
        with self._lock:
            run = self._runs.get(name)
        if run is not None:
            return self._run_state(run)
        state = self.states.read(name)
        if state.status.is_active:
            state = self._recover_if_stale(name) or state
        return state

    def next_run(self, spec: JobSpec, after: datetime | None = None) -> datetime | None:
        if not spec.schedule or not spec.enabled:
            return None
        try:
            return cron.next_run(spec.schedule, after or self.clock())
        except Exception:  # noqa: BLE001 - validated already; never break a listing
            return None

    def _view(self, spec: JobSpec, issue: JobIssue | None) -> JobView:
        return JobView(
            spec=spec,
            state=self.state(spec.name),
            next_run=self.next_run(spec),
            local=self.is_local(spec.name),
            issue=issue.message if issue else None,
        )

    def is_local(self, name: str) -> bool:
        """True when this process runs (or queued) ``name`` now."""
        with self._lock:
            return name in self._runs

    def running_here(self) -> tuple[str, ...]:
        """Names of the jobs this process runs or has queued."""
        with self._lock:
            return tuple(self._runs)

    def is_running_anywhere(self, name: str) -> bool:
        return self.is_local(name) or coordination.run_lock_held(self.home, name)

    def errors(self, **filters: object) -> list[ErrorEvent]:
        """Error events newest first; filters as :meth:`Database.errors`."""
        return self.db.errors(**filters)  # type: ignore[arg-type]

    def error(self, event_id: int) -> ErrorEvent | None:
        return self.db.error(event_id)

    def error_stats(self) -> ErrorStats:
        return self.db.stats(self.clock())

    def history(self, name: str, limit: int = 50) -> list[RunRecord]:
        return self.db.runs(name, limit)

    def health(self) -> HealthReport:
        from tui_backup.core.health import check_health

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
                component="jobs",
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
        self._notify(JobsChanged((self._view(new, None),)))
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
        self._notify(JobsChanged((self._view(new, None),)))
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
        self._notify(JobsChanged((self._view(new, None),)))
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
        lock = coordination.acquire_run_lock(self.home, name)
        if lock is None:
            raise refusal
        try:
            spec = self.jobs.get(name)
            if purge_data:
                self._purge_data(spec)
            removed = self.jobs.delete(name, expected_version)
            self.states.remove(name)
        finally:
            lock.release()
        self._notify(JobsRemoved(frozenset({name})))
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
        busy = self.is_local(spec.name) or spec.name in self.verifying_here()
        lock = None if busy else coordination.acquire_run_lock(self.home, spec.name)
        if lock is None:
            where = (
                "verifying in this process"
                if spec.name in self.verifying_here()
                else self._where(spec.name)
            )
            raise SnapshotOperationFailed(
                f"job {spec.name!r} is running ({where}); try again when it ends", "job_running"
            )
        try:
            yield
        finally:
            lock.release()

    def _on_verified(self, spec: JobSpec, report: VerifyReport, trigger: str) -> None:
        """Keep a verify's outcome in the job's state; not ``ok`` is an error event.

        Runs under the job's run lock (the door holds it), so no run writes
        the state meanwhile. An ``ok`` verify resolves the job's earlier
        verify errors: the same check now passes.
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
            trigger=trigger,
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
        self._notify(JobsChanged((self._view(spec, None),)))

    # -- run commands ----------------------------------------------------------

    def start(self, name: str, trigger: str = "manual", *, checksum: bool = False) -> str:
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
            raise OperationFailed("the job manager is shut down")
        spec = self.jobs.get(name)
        with self._lock:
            if name in self._runs:
                raise AlreadyRunning(name, f"in this process, run {self._runs[name].run_id}")
            if name in self._verifies:
                raise AlreadyRunning(name, "verifying in this process")
        lock = coordination.acquire_run_lock(self.home, name)
        if lock is None:
            raise AlreadyRunning(name, self._where(name))
        run: ActiveRun | None = None
        try:
            recovered = coordination.recover_stale(
                self.home, self.states, name, clock=self.clock, lock_is_ours=True
            )
            if recovered is not None:
                self._record_recovered(recovered)
            self.states.clear_stop(name)
            previous = self.states.read(name)
            now = self.clock()
            run = ActiveRun(
                name=name,
                run_id=new_id(),
                spec=spec,
                trigger=trigger,
                lock=lock,
                queued_at=now,
                options=RunOptions(checksum=checksum),
            )
            run.previous = previous
            run.next_run = self.next_run(spec)
            if not self._pool.would_queue():
                run.status, run.started_at = Status.RUNNING, now
            with self._lock:
                self._runs[name] = run
            self._write_run_state(run, raise_errors=True)
        except BaseException:
            with self._lock:
                if run is not None and self._runs.get(name) is run:
                    del self._runs[name]
            lock.release()
            raise
        self._consumer.ensure_started()
        self._consumer.post(Call(lambda: self._consumer.add_view(self._local_view(run))))
        settings = self._run_settings
        post = self._consumer.post
        self._pool.submit(run.run_id, lambda: execute(run, post, settings))
        log.debug("%s: run %s %s (%s)", name, run.run_id, run.status, trigger)
        return run.run_id

    def start_verify(self, name: str, trigger: str = "schedule") -> threading.Thread:
        """Verify ``name`` in a background thread (the scheduler's ``verify.schedule``).

        Takes the job's run lock here, before returning, and holds it until
        the verify ends, so no run of the job starts meanwhile (raises
        AlreadyRunning when a run holds it). Checks every snapshot, ``deep``
        as the job's verify block says; the outcome is kept like any verify
        through the door. A failure to check is a MEDIUM error, never silent.
        """
        if self._closed:
            raise OperationFailed("the job manager is shut down")
        spec = self.jobs.get(name)
        with self._lock:
            if name in self._runs or name in self._verifies:
                raise AlreadyRunning(name, "in this process")
            lock = coordination.acquire_run_lock(self.home, name)
            if lock is None:
                raise AlreadyRunning(name, self._where(name))
            cancel = threading.Event()
            thread = threading.Thread(
                target=self._verify_body,
                args=(spec, trigger, lock, cancel),
                name=f"tui-backup-verify-{name}",
                daemon=True,
            )
            self._verifies[name] = (thread, cancel)
        thread.start()
        return thread

    def _verify_body(self, spec: JobSpec, trigger: str, lock: Any, cancel: threading.Event) -> None:
        # The lock is already ours: the door must not take it again.
        ops = SnapshotOps(self._run_settings.engine_factory, on_verified=self._on_verified)
        try:
            report = ops.verify(spec, None, deep=spec.verify.deep, cancel=cancel, trigger=trigger)
            log.info("%s: %s verify: %s", spec.name, trigger, report.outcome)
        except SnapshotOperationFailed as exc:
            if cancel.is_set():
                log.info("%s: verify stopped", spec.name)
            elif exc.error_type == "no_snapshots":
                log.info("%s: nothing to verify yet: %s", spec.name, exc)
            else:
                self.record_error(
                    ErrorEvent(
                        severity=Severity.MEDIUM,
                        component="verify",
                        error_type=exc.error_type,
                        message=f"{spec.name}: the {trigger} verify could not run: {exc}",
                        job_name=spec.name,
                    )
                )
        except Exception as exc:
            log.exception("%s: verify crashed", spec.name)
            self.record_error(
                ErrorEvent(
                    severity=Severity.HIGH,
                    component="verify",
                    error_type="internal_error",
                    message=f"{spec.name}: the {trigger} verify crashed: {exc}",
                    job_name=spec.name,
                    stack_trace=traceback.format_exc(),
                )
            )
        finally:
            lock.release()
            with self._lock:
                self._verifies.pop(spec.name, None)

    def verifying_here(self) -> tuple[str, ...]:
        """Names of the jobs this process verifies in the background now."""
        with self._lock:
            return tuple(self._verifies)

    def stop(self, name: str, reason: str | None = None) -> None:
        """Stop ``name`` wherever it runs: here by its cancel flag, elsewhere by a stop request.

        ``reason`` (e.g. "Ctrl-C") ends up in the run's error text and history.
        Raises NotRunning when no process runs it.
        """
        who = f"{self.runner} pid {self.pid} on {self.host}"
        with self._lock:
            run = self._runs.get(name)
        if run is not None:
            self._stop_local(run, f"stopped by {reason or 'request'} ({who})")
            return
        if coordination.run_lock_held(self.home, name):
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
        with self._lock:
            run = self._runs.get(name)
            if run is None:
                return self._last_records.get(name)
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
        self._closed = True
        deadline = time.monotonic() + timeout
        self.stop_scheduler()
        self.stop_watching()
        runs = self._local_runs()
        if stop_running:
            for run in runs:
                self._stop_local(run, f"stopped: {self.runner} pid {self.pid} is shutting down")
        with self._lock:
            verifies = list(self._verifies.values())
        for _thread, cancel in verifies:
            cancel.set()
        for run in runs:
            if not run.done.wait(max(0.0, deadline - time.monotonic())):
                log.warning("%s: run %s did not stop in time", run.name, run.run_id)
        for thread, _cancel in verifies:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._pool.join(max(0.0, deadline - time.monotonic()))
        self._consumer.stop(max(0.1, deadline - time.monotonic()))
        self.db.close()

    def close(self) -> None:
        self.shutdown()

    def _stop_local(self, run: ActiveRun, reason: str) -> None:
        if run.cancel.is_set():
            return
        run.stop_reason = reason
        run.cancel.set()
        if self._pool.remove_pending(run.run_id):
            self._consumer.post(RunEnded(run, Finished(Status.STOPPED, error=reason)))
        else:
            self._consumer.post(RunStopping(run))

    def _where(self, name: str) -> str:
        state = self.states.read(name)
        if state.status.is_active and state.pid:
            return f"{state.runner or 'process'} pid {state.pid} on {state.host}"
        return "in another process"

    # -- watching, scheduling ---------------------------------------------------

    def start_watching(self) -> None:
        """Learn of other processes' runs and hand edits within a second (watchfiles)."""
        from tui_backup.core.error_feed import ErrorFeed
        from tui_backup.core.watcher import Watcher

        with self._lock:
            if self._watcher is not None:
                return
            self._consumer.ensure_started()
            # Error events of every process: the watcher sees the database change.
            feed = ErrorFeed(self.db, lambda e: self._consumer.post(Deliver(e)))
            self._error_feed = feed
            self._watcher = Watcher(
                self.home,
                on_change=lambda names, jobs: self._consumer.post(Refresh(names, jobs)),
                on_status=lambda status: self._consumer.post(Deliver(status)),
                on_database=feed.poke,
            )
        # Runs already going elsewhere need liveness checks from the start.
        self._consumer.post(Refresh(frozenset(self._state_names())))
        feed.start()
        self._watcher.start()

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
        from tui_backup.core.scheduler import Scheduler

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

    @property
    def scheduler(self) -> Scheduler | None:
        return self._scheduler

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
            trigger="restore",
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
                        component="restore",
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
        stored = self.db.record_error(event, dedupe=dedupe)
        self._notify(ErrorRecorded(stored))
        return stored

    def _record_error_now(self, event: ErrorEvent) -> None:
        """Consumer thread: store and queue for subscribers in order."""
        stored = self.db.record_error(event)
        self._consumer.add_other(ErrorRecorded(stored))

    def resolve_error(self, event_id: int) -> bool:
        return self.db.resolve(event_id, self.clock())

    def save_settings(self, **changes: object) -> Settings:
        self.settings = self.settings_store.update(**changes)
        self._pool.set_limit(self.settings.max_concurrent_jobs)
        return self.settings

    @property
    def max_concurrent_jobs(self) -> int:
        """How many runs this process executes at once; more are ``queued``."""
        return self._pool.limit

    def set_max_concurrent_jobs(self, limit: int) -> None:
        """Change the pool limit for this process only (tests, the daemon's flag)."""
        self._pool.set_limit(limit)

    def _store_error(self, event: ErrorEvent) -> None:
        self.record_error(event, dedupe=True)

    # -- interrupted runs -------------------------------------------------------

    def _state_names(self) -> list[str]:
        try:
            return sorted(p.stem for p in self.home.state_dir.glob("*.yaml"))
        except OSError:
            return []

    def recover_interrupted(self) -> list[str]:
        """Record every dead runner's run as ``interrupted``; returns the job names."""
        found: list[str] = []
        for name in self._state_names():
            if self.is_local(name):
                continue
            try:
                state = self.states.read(name)
            except Exception:
                log.debug("cannot read the state of %s", name, exc_info=True)
                continue
            if state.status.is_active and self._recover_if_stale(name) is not None:
                found.append(name)
        return found

    def _recover_if_stale(self, name: str) -> JobState | None:
        if self.is_local(name):
            return None
        recovered = coordination.recover_stale(self.home, self.states, name, clock=self.clock)
        if recovered is None:
            return None
        self._record_recovered(recovered)
        return recovered.state

    def _record_recovered(self, recovered: coordination.Recovered) -> None:
        log.warning("%s", recovered.event.message)
        self.db.record_run(recovered.run)
        self.record_error(recovered.event)
        self._remote_active.discard(recovered.run.job_name)
        if self.has_subscribers():
            name = recovered.run.job_name
            self._consumer.post(Refresh(frozenset({name})))
            self._consumer.post(Deliver(RunFinished(recovered.run)))


def _destination_changed(old: JobSpec, new: JobSpec) -> bool:
    return old.destination != new.destination or old.engine != new.engine


__all__ = ["DestinationInUse", "JobManager"]
