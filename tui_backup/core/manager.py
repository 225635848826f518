"""The job manager: one object the TUI, the CLI and the daemon all talk to.

Queries return immutable snapshots (``JobView``, records) and never change
anything. Commands go through one method each, under the job's file lock, and
bump its version. Runs happen in worker threads; their engine events flow
through one queue to one consumer that persists state and notifies
subscribers (see ``runner.py``).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from tui_backup.core.config import Settings, SettingsStore
from tui_backup.core.errors import OperationFailed
from tui_backup.core.events import ErrorRecorded, JobsRemoved, JobsUpdated, ManagerEvent, Subscriber
from tui_backup.core.views import JobView
from tui_backup.model import schedule as cron
from tui_backup.model.clock import Clock, utcnow
from tui_backup.model.job import JobSpec
from tui_backup.model.records import ErrorEvent, RunRecord
from tui_backup.model.state import JobState
from tui_backup.model.status import Severity
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
        self._subscribers: list[Subscriber] = []
        self._sub_lock = threading.Lock()

    # -- subscriptions -------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` with every ManagerEvent; returns an unsubscribe function."""
        with self._sub_lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._sub_lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def _notify(self, event: ManagerEvent) -> None:
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
        return self.states.read(name)

    def next_run(self, spec: JobSpec, after: datetime | None = None) -> datetime | None:
        if not spec.schedule or not spec.enabled:
            return None
        try:
            return cron.next_run(spec.schedule, after or self.clock())
        except Exception:  # noqa: BLE001 - validated already; never break a listing
            return None

    def _view(self, spec: JobSpec, issue: JobIssue | None) -> JobView:
        state = self.states.read(spec.name)
        return JobView(
            spec=spec,
            state=state,
            next_run=self.next_run(spec),
            local=self.is_local(spec.name),
            issue=issue.message if issue else None,
        )

    def is_local(self, name: str) -> bool:
        """True when this process runs ``name`` now (overridden by the runner)."""
        return False

    def errors(self, **filters: object) -> list[ErrorEvent]:
        """Error events newest first; filters as :meth:`Database.errors`."""
        return self.db.errors(**filters)  # type: ignore[arg-type]

    def error(self, event_id: int) -> ErrorEvent | None:
        return self.db.error(event_id)

    def error_stats(self) -> ErrorStats:
        return self.db.stats(self.clock())

    def history(self, name: str, limit: int = 50) -> list[RunRecord]:
        return self.db.runs(name, limit)

    # -- commands ------------------------------------------------------------

    def create(self, spec: JobSpec) -> JobSpec:
        new = self.jobs.create(spec)
        self._notify(JobsUpdated((self._view(new, None),)))
        return new

    def update(self, spec: JobSpec) -> JobSpec:
        """Save an edited spec; ``spec.version`` must be the version it was based on."""
        new = self.jobs.update(spec)
        self._notify(JobsUpdated((self._view(new, None),)))
        return new

    def modify(self, name: str, change: Callable[[JobSpec], JobSpec]) -> JobSpec:
        new = self.jobs.modify(name, change)
        self._notify(JobsUpdated((self._view(new, None),)))
        return new

    def delete(
        self, name: str, *, purge_data: bool = False, expected_version: int | None = None
    ) -> JobSpec:
        """Remove a job (refused while it runs); with ``purge_data`` its backups too."""
        if self.states.read(name).status.is_active and self.is_running_anywhere(name):
            raise OperationFailed(
                f"job {name!r} is running; stop it first (tui-backup stop {name})"
            )
        spec = self.jobs.get(name)
        if purge_data:
            self._purge_data(spec)
        removed = self.jobs.delete(name, expected_version)
        self.states.remove(name)
        self._notify(JobsRemoved(frozenset({name})))
        return removed

    def is_running_anywhere(self, name: str) -> bool:
        from tui_backup.store.locking import is_locked

        return is_locked(self.home.run_lock(name))

    def _purge_data(self, spec: JobSpec) -> None:
        from tui_backup.engines.base import EngineError, get_engine

        try:
            get_engine(spec.engine).delete_data(spec)
        except (EngineError, NotImplementedError, AttributeError) as exc:
            if spec.engine == "snapshot" and not spec.is_remote:
                dest = Path(spec.destination)
                if dest.exists():
                    shutil.rmtree(dest)
                return
            raise OperationFailed(
                f"could not delete the backup data of {spec.name!r}: {exc}"
            ) from exc

    def record_error(self, event: ErrorEvent, *, dedupe: bool = False) -> ErrorEvent:
        """Store an error event (or keep it in the fallback) and tell subscribers."""
        stored = self.db.record_error(event, dedupe=dedupe)
        self._notify(ErrorRecorded(stored))
        return stored

    def resolve_error(self, event_id: int) -> bool:
        return self.db.resolve(event_id, self.clock())

    def save_settings(self, **changes: object) -> Settings:
        self.settings = self.settings_store.update(**changes)
        return self.settings

    def _store_error(self, event: ErrorEvent) -> None:
        self.record_error(event, dedupe=True)

    def close(self) -> None:
        self.db.close()


__all__ = ["JobManager", "Severity"]
