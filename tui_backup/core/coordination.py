"""Cross-process coordination over one home directory (DESIGN.md "Processes").

Running a job means holding ``locks/<name>.lock``: an operating-system lock
that dies with its process, so no crash can leave a stale lock behind. The
state file can go stale, though (a SIGKILL'd runner never writes its final
state); whoever notices an active state whose lock is free turns it into
``interrupted``, exactly once, under the state file's write lock.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import portalocker

from tui_backup.model.clock import Clock, utcnow
from tui_backup.model.records import ErrorEvent, RunRecord
from tui_backup.model.state import JobState, LastResult
from tui_backup.model.status import Severity, Status
from tui_backup.store.locking import is_locked, try_lock
from tui_backup.store.paths import Home
from tui_backup.store.state import StateStore

log = logging.getLogger(__name__)

LOCK_RETRY_WINDOW = 0.25
"""Seconds to keep trying a run lock before calling the job "already running".

Another process probing whether a lock is held (``is_locked``) takes it for a
few microseconds; retrying briefly keeps such a probe from ever being
mistaken for a running job.
"""


def acquire_run_lock(home: Home, name: str) -> portalocker.Lock | None:
    """The job's run lock, or None when a run (here or elsewhere) holds it."""
    deadline = time.monotonic() + LOCK_RETRY_WINDOW
    while True:
        lock = try_lock(home.run_lock(name))
        if lock is not None or time.monotonic() >= deadline:
            return lock
        time.sleep(0.02)


def run_lock_held(home: Home, name: str) -> bool:
    """True while some process (this one included) holds the job's run lock."""
    return is_locked(home.run_lock(name))


def scheduler_lock_path(home: Home) -> Path:
    """Held by the one process that schedules (daemon, else the first TUI)."""
    return home.locks_dir / "scheduler.lock"


@dataclass(frozen=True, slots=True)
class Recovered:
    """A dead run found and recorded as ``interrupted``."""

    state: JobState
    run: RunRecord
    event: ErrorEvent


def interrupted_state(stale: JobState, now: datetime, message: str) -> JobState:
    """The state that replaces a dead runner's active one."""
    progress = stale.progress
    result = LastResult(
        status=Status.INTERRUPTED,
        started_at=stale.started_at,
        finished_at=now,
        files=progress.files_done if progress else 0,
        bytes=progress.bytes_done if progress else 0,
        warnings=progress.warnings if progress else 0,
        error=message,
        run_id=stale.run_id,
    )
    return replace(
        stale,
        status=Status.INTERRUPTED,
        pid=None,
        runner=None,
        updated_at=now,
        progress=None,
        last_result=result,
        message=message,
    )


def recover_stale(
    home: Home,
    states: StateStore,
    name: str,
    *,
    clock: Clock = utcnow,
    lock_is_ours: bool = False,
    current_run: str | None = None,
) -> Recovered | None:
    """Turn a dead runner's active state into ``interrupted``; None when nothing was stale.

    ``lock_is_ours`` is set by a process that has just taken the run lock for
    a new run (``current_run``): any other active state is then stale by
    definition. Everyone else probes the lock. The check and the write happen
    under the state write lock, so two processes never both record it.
    """
    found: list[Recovered] = []

    def change(state: JobState) -> JobState | None:
        if not state.status.is_active:
            return None
        if lock_is_ours:
            if current_run is not None and state.run_id == current_run:
                return None
        elif run_lock_held(home, name):
            return None
        now = clock()
        where = f"pid {state.pid} on {state.host}" if state.pid else "its process"
        message = (
            f"the run was interrupted: {where} ended while the job was {state.status} "
            "(killed, crashed or the machine went down); the previous snapshots are untouched"
        )
        new = interrupted_state(state, now, message)
        assert new.last_result is not None
        run = RunRecord(
            run_id=state.run_id or f"lost-{int(now.timestamp())}",
            job_name=name,
            started_at=state.started_at or now,
            status=Status.INTERRUPTED,
            finished_at=now,
            files=new.last_result.files,
            bytes=new.last_result.bytes,
            warnings=new.last_result.warnings,
            error=message,
            host=state.host or "",
            pid=state.pid or 0,
        )
        event = ErrorEvent(
            severity=Severity.HIGH,
            component="coordination",
            error_type="run_interrupted",
            message=f"{name}: {message}",
            job_name=name,
            details=f"run {state.run_id} started {state.started_at}, runner {state.runner}",
            stack_trace="(no stack: the runner process died without reporting)",
            timestamp=now,
        )
        found.append(Recovered(new, run, event))
        return new

    try:
        states.transition(name, change)
    except Exception:
        log.warning("could not check %s for an interrupted run", name, exc_info=True)
        return None
    return found[0] if found else None
