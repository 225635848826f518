"""A bounded pool of run threads that keeps no idle thread behind.

``concurrent.futures.ThreadPoolExecutor`` keeps its workers alive between
tasks; we want every thread to end with its run (so a test can prove thread
counts return to baseline, and a quiet TUI holds no worker threads). Each
started task gets a fresh thread; tasks over the limit wait in FIFO order.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

log = logging.getLogger(__name__)


class RunPool:
    def __init__(self, limit: int, name: str = "tui-backup-run") -> None:
        self._limit = max(1, int(limit))
        self._name = name
        self._lock = threading.Lock()
        self._pending: OrderedDict[str, Callable[[], None]] = OrderedDict()
        self._active: dict[str, threading.Thread] = {}
        self._idle = threading.Condition(self._lock)

    @property
    def limit(self) -> int:
        return self._limit

    def set_limit(self, limit: int) -> None:
        """Change the limit; a higher one starts waiting tasks at once."""
        with self._lock:
            self._limit = max(1, int(limit))
            self._start_waiting_locked()

    def would_queue(self) -> bool:
        """True when a task submitted now would wait for a free slot."""
        with self._lock:
            return len(self._active) >= self._limit or bool(self._pending)

    def submit(self, key: str, fn: Callable[[], None]) -> bool:
        """Run ``fn`` on its own thread when a slot is free; True if started now."""
        with self._lock:
            if key in self._pending or key in self._active:
                raise ValueError(f"{key!r} is already in the pool")
            self._pending[key] = fn
            self._start_waiting_locked()
            return key in self._active

    def remove_pending(self, key: str) -> bool:
        """Drop a task that has not started yet; False when it already runs (or is gone)."""
        with self._lock:
            return self._pending.pop(key, None) is not None

    def join(self, timeout: float | None = None) -> bool:
        """Wait until no task runs or waits; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._active and not self._pending, timeout)

    def _start_waiting_locked(self) -> None:
        while self._pending and len(self._active) < self._limit:
            key, fn = self._pending.popitem(last=False)
            thread = threading.Thread(
                target=self._run, args=(key, fn), name=f"{self._name}-{key}", daemon=True
            )
            self._active[key] = thread
            thread.start()

    def _run(self, key: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException:
            log.exception("run task %s crashed", key)
        finally:
            with self._lock:
                self._active.pop(key, None)
                self._start_waiting_locked()
                self._idle.notify_all()
