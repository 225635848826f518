"""The scheduler: starts jobs on their cron schedules, in whichever process holds its lock.

Only one process schedules at a time (``locks/scheduler.lock``): the daemon
if one runs, else the first TUI; the others keep trying and take over when
it goes away. Who holds it is written to ``scheduler.yaml`` for ``health``.

A job's ``verify.schedule`` is handled the same way: its verify runs in a
thread of this process holding the job's run lock (never beside a run).

The last slot handled per job is remembered in ``scheduler-slots.yaml``, so
after downtime (machine asleep, daemon stopped) a job whose slot passed runs
once, not once per missed slot, unless its ``missed: skip``. A job no
scheduler has seen yet counts from its file's modification time. A slot whose
job is running anywhere is skipped with an INFO note, never queued twice.
Disabled jobs are never started. The clock is injected so tests can fire a
schedule without waiting for a real minute (see :meth:`Scheduler.tick`).
"""

from __future__ import annotations

import logging
import os
import threading
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import portalocker

from tui_backup.core.breaker import Decision
from tui_backup.core.coordination import scheduler_lock_path
from tui_backup.core.errors import AlreadyRunning, ShuttingDown, StoreError, log_failure
from tui_backup.core.runs import RunnerIdentity
from tui_backup.core.vocabulary import Component, Trigger
from tui_backup.model import schedule as cron
from tui_backup.model.clock import Clock, from_iso, to_iso
from tui_backup.model.job import JobSpec
from tui_backup.model.records import ErrorEvent
from tui_backup.model.status import Severity
from tui_backup.store import safefile
from tui_backup.store.errors import LockTimeout
from tui_backup.store.locking import file_lock, try_lock
from tui_backup.store.paths import Home

log = logging.getLogger(__name__)

ON_TIME_GRACE = timedelta(minutes=2)
"""A slot noticed within this long counts as on time; later, as missed."""
MAX_SLEEP = 30.0
"""Re-check at least this often (the wall clock can jump; files change)."""
LOCK_RETRY = 5.0
"""How often a process without the scheduler lock tries to take it over."""
VERIFY_SLOT = "#verify"
"""Suffix of a job's verify slot in ``scheduler-slots.yaml`` (``#`` is never in a job name)."""


@dataclass(frozen=True, slots=True)
class Action:
    """What one tick decided for one job (returned for tests and the daemon's log)."""

    job: str
    slot: datetime
    action: str
    """``started``, ``caught-up``, ``skipped-running``, ``skipped-missed``,
    ``skipped-breaker``, ``skipped-disabled``, ``failed``; for a job's verify
    schedule the same words prefixed ``verify-`` (no breaker)."""
    detail: str = ""


class SchedulerPorts(Protocol):
    """What the scheduler needs of the process it schedules in (``JobManager`` has it)."""

    @property
    def home(self) -> Home: ...
    @property
    def identity(self) -> RunnerIdentity: ...
    def clock(self) -> datetime: ...
    def job_specs(self) -> tuple[JobSpec, ...]: ...
    def is_running_anywhere(self, name: str) -> bool: ...
    def allow_scheduled(self, destination: str) -> Decision: ...
    def record_error(self, event: ErrorEvent, *, dedupe: bool = False) -> ErrorEvent: ...
    def start(self, name: str, trigger: Trigger = ..., *, checksum: bool = ...) -> str: ...
    def start_verify(self, name: str, trigger: Trigger = ...) -> threading.Thread: ...


class Scheduler:
    def __init__(
        self,
        ports: SchedulerPorts,
        *,
        clock: Clock | None = None,
        grace: timedelta = ON_TIME_GRACE,
        max_sleep: float = MAX_SLEEP,
    ) -> None:
        self.ports = ports
        self.home = ports.home
        self.clock = clock or ports.clock
        self.grace = grace
        self.max_sleep = max_sleep
        self._lock: portalocker.Lock | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    # -- files ---------------------------------------------------------------

    @property
    def slots_path(self) -> Path:
        return self.home.root / "scheduler-slots.yaml"

    @property
    def owner_path(self) -> Path:
        return self.home.root / "scheduler.yaml"

    def _slots_lock(self) -> Path:
        return self.home.write_lock("scheduler", "slots")

    def load_slots(self) -> dict[str, datetime]:
        def parse(data: Any) -> dict[str, datetime]:
            if data is None:
                return {}
            if not isinstance(data, dict):
                raise ValueError("not a mapping")
            out: dict[str, datetime] = {}
            for k, v in data.items():
                try:
                    when = from_iso(v)
                except (TypeError, ValueError):
                    continue
                if when is not None:
                    out[str(k)] = when
            return out

        loaded = safefile.load(
            self.slots_path,
            self._slots_lock(),
            parse,
            "scheduler-slots.yaml",
            timeout=5.0,
            repair=False,
        )
        return loaded.value or {}

    def _save_slot(self, name: str, slot: datetime) -> None:
        try:
            with file_lock(self._slots_lock(), 5.0, what="scheduler-slots.yaml"):
                slots = self.load_slots()
                slots[name] = slot
                data = {k: to_iso(v) for k, v in sorted(slots.items())}
                safefile.write_locked(self.slots_path, safefile.dump(data))
        except (OSError, LockTimeout):
            log.warning("could not remember the slot of %s", name, exc_info=True)

    # -- lock ----------------------------------------------------------------

    @property
    def active(self) -> bool:
        """True while this process holds the scheduler lock."""
        return self._lock is not None

    def acquire(self) -> bool:
        """Take the scheduler lock if free; True when this process schedules."""
        if self._lock is not None:
            return True
        lock = try_lock(scheduler_lock_path(self.home))
        if lock is None:
            return False
        self._lock = lock
        owner = {
            "pid": os.getpid(),
            "host": self.ports.identity.host,
            "runner": self.ports.identity.runner,
            "since": to_iso(self.ports.clock()),
        }
        try:
            safefile.write(self.owner_path, self.home.write_lock("scheduler", "owner"), owner, 5.0)
        except (OSError, LockTimeout):
            log.warning("could not write %s", self.owner_path, exc_info=True)
        log.info("scheduler active in this process (%s)", self.ports.identity)
        return True

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
            log.info("scheduler released")

    # -- the decision ---------------------------------------------------------

    def tick(self, now: datetime | None = None) -> list[Action]:
        """Decide and start what is due at ``now`` (default: the clock). Idempotent per slot."""
        with self._mutex:
            now = now or self.clock()
            slots = self.load_slots()
            actions: list[Action] = []
            for spec in self.ports.job_specs():
                if self._stop.is_set():
                    break  # shutting down: start nothing more (the rest waits for next time)
                if spec.schedule:
                    action = self._consider(spec, slots.get(spec.name), now)
                    if action is not None:
                        actions.append(action)
                if spec.verify.schedule:
                    key = spec.name + VERIFY_SLOT
                    action = self._consider_verify(spec, slots.get(key), now)
                    if action is not None:
                        actions.append(action)
            return actions

    def _consider(self, spec: JobSpec, last: datetime | None, now: datetime) -> Action | None:
        assert spec.schedule is not None
        due = self._due(spec, spec.name, spec.schedule, last, now)
        if due is None:
            return None
        latest, missed = due
        if not spec.enabled:
            return Action(spec.name, latest, "skipped-disabled")
        if missed and spec.missed == "skip":
            log.info("%s: missed the run of %s (missed: skip)", spec.name, to_iso(latest))
            return Action(spec.name, latest, "skipped-missed")
        if self.ports.is_running_anywhere(spec.name):
            log.info(
                "%s: scheduled run of %s skipped: the job is still running",
                spec.name,
                to_iso(latest),
            )
            return Action(spec.name, latest, "skipped-running")
        decision = self.ports.allow_scheduled(spec.destination)
        if not decision.allowed:
            log.warning("%s: scheduled run skipped: %s", spec.name, decision.reason)
            self.ports.record_error(
                ErrorEvent(
                    severity=Severity.MEDIUM,
                    component=Component.SCHEDULER,
                    error_type="skipped_circuit_open",
                    message=f"{spec.name}: scheduled run skipped: {decision.reason}",
                    job_name=spec.name,
                ),
                dedupe=True,
            )
            return Action(spec.name, latest, "skipped-breaker", decision.reason)
        trigger = Trigger.CATCH_UP if missed else Trigger.SCHEDULE
        if decision.probe:
            trigger = Trigger.PROBE
        try:
            run_id = self.ports.start(spec.name, trigger=trigger)
        except AlreadyRunning:
            log.info("%s: scheduled run skipped: the job is already running", spec.name)
            return Action(spec.name, latest, "skipped-running")
        except ShuttingDown:
            self._stop.set()
            return None
        except Exception as exc:  # noqa: BLE001 - recorded as an error event (_start_failed)
            self._start_failed(spec, "run", exc)
            return Action(spec.name, latest, "failed", str(exc))
        log.info(
            "%s: %s run %s for the slot of %s",
            spec.name,
            "catch-up" if missed else "scheduled",
            run_id,
            to_iso(latest),
        )
        return Action(spec.name, latest, "caught-up" if missed else "started", run_id)

    def _start_failed(self, spec: JobSpec, what: str, exc: Exception) -> None:
        """A scheduled run or verify that could not start: one HIGH error, with its trace."""
        log_failure(log, f"{spec.name}: scheduled {what} could not start", exc)
        self.ports.record_error(
            ErrorEvent(
                severity=Severity.HIGH,
                component=Component.SCHEDULER,
                error_type="schedule_start_failed",
                message=f"{spec.name}: the scheduled {what} could not start: {exc}",
                job_name=spec.name,
                stack_trace="" if isinstance(exc, StoreError) else traceback.format_exc(),
            )
        )

    def _consider_verify(
        self, spec: JobSpec, last: datetime | None, now: datetime
    ) -> Action | None:
        """The job's ``verify.schedule``: same catch-up and skip rules as its backups.

        A verify never runs beside a run of the same job: it holds the run
        lock, so a verify slot while the job runs is skipped (and a backup
        slot while it verifies likewise).
        """
        schedule = spec.verify.schedule
        assert schedule is not None
        due = self._due(spec, spec.name + VERIFY_SLOT, schedule, last, now)
        if due is None:
            return None
        latest, missed = due
        if not spec.enabled:
            return Action(spec.name, latest, "verify-skipped-disabled")
        if missed and spec.missed == "skip":
            log.info("%s: missed the verify of %s (missed: skip)", spec.name, to_iso(latest))
            return Action(spec.name, latest, "verify-skipped-missed")
        if self.ports.is_running_anywhere(spec.name):
            log.info("%s: scheduled verify skipped: the job is running", spec.name)
            return Action(spec.name, latest, "verify-skipped-running")
        try:
            self.ports.start_verify(
                spec.name, trigger=Trigger.CATCH_UP if missed else Trigger.SCHEDULE
            )
        except AlreadyRunning:
            log.info("%s: scheduled verify skipped: the job is running", spec.name)
            return Action(spec.name, latest, "verify-skipped-running")
        except ShuttingDown:
            self._stop.set()
            return None
        except Exception as exc:  # noqa: BLE001 - recorded as an error event (_start_failed)
            self._start_failed(spec, "verify", exc)
            return Action(spec.name, latest, "verify-failed", str(exc))
        log.info("%s: scheduled verify for the slot of %s", spec.name, to_iso(latest))
        return Action(spec.name, latest, "verify-caught-up" if missed else "verify-started")

    def _due(
        self, spec: JobSpec, key: str, schedule: str, last: datetime | None, now: datetime
    ) -> tuple[datetime, bool] | None:
        """The slot to act on now and whether it was missed, or None; remembers it first."""
        try:
            latest = cron.previous_run(schedule, now)
        except Exception:  # noqa: BLE001 - invalid schedules are rejected on load
            return None
        if last is None:
            # Never scheduled by any process: count from when the job was defined
            # (its file's mtime), so a slot that passed while no scheduler ran is
            # caught up, but a new job never fires for slots before it existed.
            defined = min(self._defined_at(spec.name) or now, now)
            last = cron.previous_run(schedule, defined)
            if latest <= last:
                self._save_slot(key, latest)
                return None
        if latest <= last:
            return None
        self._save_slot(key, latest)  # before starting: a crash must not fire it twice
        return latest, now - latest > self.grace

    def _defined_at(self, name: str) -> datetime | None:
        try:
            mtime = self.home.job_file(name).stat().st_mtime
        except OSError:
            return None
        return datetime.fromtimestamp(mtime).astimezone()

    def next_due(self, now: datetime | None = None) -> datetime | None:
        """The earliest next slot of any enabled scheduled job."""
        now = now or self.clock()
        times = [
            cron.next_run(schedule, now)
            for spec in self.ports.job_specs()
            if spec.enabled
            for schedule in (spec.schedule, spec.verify.schedule)
            if schedule
        ]
        return min(times) if times else None

    # -- the thread -------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="tui-backup-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None
        self.release()

    def wake(self) -> None:
        """Re-evaluate now (a job file changed, a run ended)."""
        self._wake.set()

    def holder(self) -> dict[str, Any] | None:
        """Who wrote ``scheduler.yaml`` last (the holder, while its lock is held)."""
        loaded = safefile.load(
            self.owner_path,
            self.home.write_lock("scheduler", "owner"),
            lambda data: data if isinstance(data, dict) else None,
            "scheduler.yaml",
            timeout=5.0,
            repair=False,
        )
        return loaded.value

    def _loop(self) -> None:
        waiting_told = False
        while not self._stop.is_set():
            if not self.acquire():
                if not waiting_told:
                    waiting_told = True
                    info = self.holder() or {}
                    log.info(
                        "another process schedules (%s pid %s on %s); this one takes over "
                        "if it goes away",
                        info.get("runner", "?"),
                        info.get("pid", "?"),
                        info.get("host", "?"),
                    )
                self._wake.clear()
                self._stop.wait(LOCK_RETRY)
                continue
            waiting_told = False
            self._wake.clear()
            try:
                self.tick()
                due = self.next_due()
            except Exception as exc:  # noqa: BLE001 - logged by log_failure (traceback unless a store error)
                log_failure(log, "scheduler tick failed", exc)
                due = None
            sleep = self.max_sleep
            if due is not None:
                sleep = min(sleep, max(0.05, (due - self.clock()).total_seconds() + 0.05))
            self._wake.wait(sleep)
