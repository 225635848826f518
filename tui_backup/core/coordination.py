"""Cross-process coordination over one home directory.

See docs/architecture.md, "Processes sharing one home".

Running a job means holding ``locks/<name>.lock``: an operating-system lock
that dies with its process, so no crash can leave a stale lock behind. A run
that waits for a free slot (``queued``) holds no lock file of its own: its
state file names its process, and that process holds one lock for all its
queued runs (``locks/process-<host>-<pid>.lock``, :class:`ProcessLock`), so
a thousand queued runs cost one file descriptor, not a thousand. A queued
state is alive while its process lock is held. The
state file can go stale, though (a SIGKILL'd runner never writes its final
state); whoever notices an active state whose lock is free turns it into
``interrupted``, exactly once, under the state file's write lock.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import portalocker

from tui_backup.core.vocabulary import Component
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


def acquire_run_lock(
    home: Home, name: str, window: float = LOCK_RETRY_WINDOW
) -> portalocker.Lock | None:
    """The job's run lock, or None when a run (here or elsewhere) holds it."""
    deadline = time.monotonic() + window
    while True:
        lock = try_lock(home.run_lock(name))
        if lock is not None or time.monotonic() >= deadline:
            return lock
        time.sleep(0.02)


def run_lock_held(home: Home, name: str) -> bool:
    """True while some process (this one included) holds the job's run lock."""
    return is_locked(home.run_lock(name))


def process_lock_path(home: Home, host: str, pid: int) -> Path:
    """Held by a process while it has queued runs (see the module docstring)."""
    safe_host = "".join(c if c.isalnum() or c in "-." else "_" for c in host) or "host"
    return home.locks_dir / f"process-{safe_host}-{pid}.lock"


_held: dict[Path, tuple[portalocker.Lock, int]] = {}
"""Process locks held by this process, with how many managers share each."""
_held_mutex = threading.Lock()


class ProcessLock:
    """This process's one lock for all its queued runs; taken at the first, kept until
    :meth:`release` (the manager's shutdown). Managers of one process share it."""

    def __init__(self, home: Home, host: str, pid: int) -> None:
        self.path = process_lock_path(home, host, pid)
        self._holding = False

    def hold(self) -> None:
        with _held_mutex:
            if self._holding:
                return
            lock, count = _held.get(self.path, (None, 0))
            if lock is None:
                lock = try_lock(self.path)
                if lock is None:  # only a dead process of the same pid and host could
                    raise OSError(f"{self.path.name} is held by another process")
            _held[self.path] = (lock, count + 1)
            self._holding = True

    def release(self) -> None:
        with _held_mutex:
            if not self._holding:
                return
            self._holding = False
            lock, count = _held.pop(self.path)
            if count > 1:
                _held[self.path] = (lock, count - 1)
                return
            with contextlib.suppress(OSError):
                self.path.unlink()
            lock.release()


def queued_by_live_process(home: Home, state: JobState) -> bool:
    """True when ``state`` is a run waiting for a slot in a process that is alive."""
    if state.status != Status.QUEUED or not state.pid:
        return False
    return is_locked(process_lock_path(home, state.host or "", state.pid))


def queued_live(home: Home, states: StateStore, name: str) -> JobState | None:
    """The state of ``name`` when a live process has it queued (the caller knows
    whether that is itself: ``RunTracker.is_local``)."""
    state = states.read(name)
    return state if queued_by_live_process(home, state) else None


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
) -> Recovered | None:
    """Turn a dead runner's active state into ``interrupted``; None when nothing was stale.

    ``lock_is_ours`` is set by a process that has just taken the run lock for
    a new run: a running state is then stale by definition. Everyone else
    probes the lock. A queued state is stale only when its process is gone.
    The check and the write happen under the state write lock, so two
    processes never both record it.
    """
    found: list[Recovered] = []

    def change(state: JobState) -> JobState | None:
        if not state.status.is_active:
            return None
        if not lock_is_ours and run_lock_held(home, name):
            return None
        if queued_by_live_process(home, state):
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
            component=Component.COORDINATION,
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
