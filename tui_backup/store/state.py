"""Runtime state: ``<home>/state/<name>.yaml`` (written by the runner) and stop requests.

Only the process holding a job's run lock writes its state file, at most once
a second; everyone else reads it to show live progress of runs elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any

from tui_backup.model.records import ErrorEvent
from tui_backup.model.state import JobState
from tui_backup.model.status import Severity
from tui_backup.store import safefile
from tui_backup.store.locking import file_lock
from tui_backup.store.paths import Home

ErrorSink = Callable[[ErrorEvent], None]


class StateStore:
    def __init__(
        self,
        home: Home,
        on_error: ErrorSink | None = None,
        lock_timeout: float = 5.0,
        *,
        repair_on_read: bool = True,
    ):
        self.home = home
        self.on_error = on_error
        self.lock_timeout = lock_timeout
        self.repair_on_read = repair_on_read
        """Quarantine an invalid state file when a read finds it (its last good
        version put back). A read of a valid file never writes, either way;
        with False, a read of an invalid one does not write either (the last
        good version is used, the file left for :meth:`transition` or the
        runner's next write to replace)."""
        # Listings read every job's state, and most have not changed since the
        # last look: a clean read is reused while the file's fingerprint holds.
        self._cache: dict[str, tuple[safefile.Fingerprint, JobState]] = {}
        self._cache_lock = threading.Lock()

    def read(self, name: str) -> JobState:
        """The job's state; ``idle`` when it has never run."""
        path = self.home.state_file(name)
        fingerprint = safefile.Fingerprint.of(path)
        with self._cache_lock:
            cached = self._cache.get(name)
        if cached is not None and fingerprint is not None and cached[0] == fingerprint:
            return cached[1]
        label = self.home.relative(path)

        def parse(data: Any) -> JobState:
            return JobState.from_dict(data, name)

        loaded = safefile.load(
            path,
            self.home.write_lock("state", name),
            parse,
            label,
            timeout=self.lock_timeout,
            repair=self.repair_on_read,
        )
        if loaded.problem is not None and self.on_error is not None:
            kept = self.home.relative(loaded.quarantined) if loaded.quarantined else None
            self.on_error(
                ErrorEvent(
                    severity=Severity.LOW,
                    component="store",
                    error_type="invalid_state_file",
                    message=f"{loaded.problem}"
                    + (f"; kept as {kept}" if kept else "")
                    + ("; using the last good state" if loaded.value else "; state reset"),
                    job_name=name,
                )
            )
        state = loaded.value if loaded.value is not None else JobState(name=name)
        with self._cache_lock:
            if loaded.problem is None and fingerprint is not None:
                self._cache[name] = (fingerprint, state)
            else:
                self._cache.pop(name, None)
        return state

    def write(self, state: JobState) -> None:
        self.home.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        safefile.write(
            self.home.state_file(state.name),
            self.home.write_lock("state", state.name),
            state.to_dict(),
            self.lock_timeout,
        )

    def transition(
        self, name: str, change: Callable[[JobState], JobState | None]
    ) -> tuple[JobState, bool]:
        """Read-decide-write under the state write lock, for changes two processes may race.

        ``change`` gets the current state and returns the new one, or None to
        leave it. Used to turn a dead runner's ``running`` into ``interrupted``
        exactly once however many processes notice at the same moment.
        Returns the state now in effect and whether this call wrote it.
        """
        self.home.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.home.state_file(name)
        lock = self.home.write_lock("state", name)
        with file_lock(lock, self.lock_timeout, what=path.name):
            loaded = safefile.load(
                path,
                lock,
                lambda data: JobState.from_dict(data, name),
                self.home.relative(path),
                timeout=self.lock_timeout,
                repair=False,
            )
            current = loaded.value if loaded.value is not None else JobState(name=name)
            new = change(current)
            if new is None:
                return current, False
            safefile.write_locked(path, safefile.dump(new.to_dict()))
            return new, True

    def remove(self, name: str) -> None:
        safefile.remove(self.home.state_file(name))
        self.clear_stop(name)

    # -- stop requests -------------------------------------------------------

    def request_stop(self, name: str, requested_by: str = "") -> None:
        """Ask whoever runs ``name`` to stop; its runner checks for this file 4 times a second."""
        self.home.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.home.stop_file(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{requested_by or os.getpid()}\n")

    def stop_requested(self, name: str) -> bool:
        return self.home.stop_file(name).exists()

    def clear_stop(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.home.stop_file(name).unlink()
