"""A circuit breaker per destination, shared by every process over the home.

After ``threshold`` consecutive failed runs to one destination (a dead NAS,
an expired SSH key) scheduled runs to it are skipped, each skip recorded with
its reason, until a cool-off passes; then one probe run is let through. Its
success closes the breaker, its failure opens it for another cool-off.
Manual runs always go ahead (a person asked for them) and count like any run.

The state lives in ``<home>/breakers.yaml`` (locked, atomic), so a daemon,
a TUI and a CLI ``run`` all agree on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tui_backup.model.clock import Clock, from_iso, to_iso, utcnow
from tui_backup.model.secrets import mask_url
from tui_backup.store import safefile
from tui_backup.store.errors import LockTimeout
from tui_backup.store.locking import file_lock
from tui_backup.store.paths import Home

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 5
DEFAULT_COOL_OFF = timedelta(minutes=30)
PROBE_TIMEOUT = timedelta(hours=6)
"""A probe that never reported (its process died) stops blocking after this."""


def _key(destination: str) -> str:
    """The breaker's name for a destination: the URL without its password.

    breakers.yaml is a file the app writes; a ``rest:https://user:pw@host/``
    destination must not put its password there (tests/security). Two
    spellings that differ only in the password are one place anyway.
    """
    return mask_url(destination)


@dataclass(frozen=True, slots=True)
class BreakerState:
    destination: str
    failures: int = 0
    opened_at: datetime | None = None
    probe_started: datetime | None = None
    last_error: str | None = None

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "failures": self.failures,
            "opened_at": to_iso(self.opened_at),
            "probe_started": to_iso(self.probe_started),
            "last_error": self.last_error,
        }

    @classmethod
    def from_dict(cls, destination: str, data: Any) -> BreakerState:
        if not isinstance(data, dict):
            return cls(destination)
        try:
            failures = int(data.get("failures") or 0)
            return cls(
                destination,
                failures,
                from_iso(data.get("opened_at")),
                from_iso(data.get("probe_started")),
                data.get("last_error"),
            )
        except (TypeError, ValueError):
            return cls(destination)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str = ""
    probe: bool = False


class CircuitBreakers:
    def __init__(
        self,
        home: Home,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        cool_off: timedelta = DEFAULT_COOL_OFF,
        clock: Clock = utcnow,
        lock_timeout: float = 5.0,
    ) -> None:
        self.home = home
        self.threshold = threshold
        self.cool_off = cool_off
        self.clock = clock
        self.lock_timeout = lock_timeout

    @property
    def path(self) -> Path:
        return self.home.root / "breakers.yaml"

    @property
    def _lock_path(self) -> Path:
        return self.home.write_lock("breakers", "all")

    # -- queries -------------------------------------------------------------

    def all(self) -> dict[str, BreakerState]:
        return self._load()

    def get(self, destination: str) -> BreakerState:
        destination = _key(destination)
        return self._load().get(destination, BreakerState(destination))

    def retry_times(self) -> dict[str, datetime]:
        """When each open breaker lets a scheduled run through again (its cool-off's
        end), by destination key; never raises (the breaker is advice)."""
        try:
            states = self._load()
        except Exception:
            log.debug("cannot read %s", self.path, exc_info=True)
            return {}
        return {
            key: state.opened_at + self.cool_off
            for key, state in states.items()
            if state.opened_at is not None
        }

    def retry_time(
        self, destination: str, times: dict[str, datetime] | None = None
    ) -> datetime | None:
        """When a scheduled run to ``destination`` is tried again (None: not held back)."""
        return (self.retry_times() if times is None else times).get(_key(destination))

    def open_breakers(self) -> list[BreakerState]:
        return [b for b in self._load().values() if b.is_open]

    # -- commands ------------------------------------------------------------

    def allow_scheduled(self, destination: str) -> Decision:
        """May a scheduled run go to ``destination`` now? Claims the probe if due."""
        destination = _key(destination)
        decision = Decision(True)

        def change(states: dict[str, BreakerState]) -> bool:
            nonlocal decision
            state = states.get(destination)
            if state is None or not state.is_open:
                return False
            now = self.clock()
            assert state.opened_at is not None
            until = state.opened_at + self.cool_off
            if now < until:
                decision = Decision(
                    False,
                    f"circuit open for {mask_url(destination)}: {state.failures} failures in a row "
                    f"(last: {state.last_error or 'unknown'}); next try after {to_iso(until)}",
                )
                return False
            if state.probe_started is not None and now - state.probe_started < PROBE_TIMEOUT:
                decision = Decision(
                    False,
                    f"circuit half-open for {mask_url(destination)}: a probe run is in progress",
                )
                return False
            states[destination] = BreakerState(
                destination, state.failures, state.opened_at, now, state.last_error
            )
            decision = Decision(
                True, f"probe run to {mask_url(destination)} after cool-off", probe=True
            )
            return True

        self._update(change)
        return decision

    def record(self, destination: str, success: bool, error: str | None = None) -> BreakerState:
        destination = _key(destination)
        """Count a finished run; returns the breaker's new state."""
        result = BreakerState(destination)

        def change(states: dict[str, BreakerState]) -> bool:
            nonlocal result
            old = states.get(destination, BreakerState(destination))
            if success:
                if old.failures == 0 and not old.is_open:
                    return False
                states.pop(destination, None)
                if old.is_open:
                    log.info("circuit for %s closed after a successful run", destination)
                return True
            failures = old.failures + 1
            opened = old.opened_at
            if failures >= self.threshold:
                opened = self.clock()  # (re)open: a failed probe starts a new cool-off
                if not old.is_open:
                    log.warning(
                        "circuit for %s opened after %d failures in a row", destination, failures
                    )
            result = BreakerState(destination, failures, opened, None, error)
            states[destination] = result
            return True

        self._update(change)
        return result

    # -- file ----------------------------------------------------------------

    def _parse(self, data: Any) -> dict[str, BreakerState]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ValueError("breakers.yaml is not a mapping")
        return {str(k): BreakerState.from_dict(str(k), v) for k, v in data.items()}

    def _load(self) -> dict[str, BreakerState]:
        loaded = safefile.load(
            self.path,
            self._lock_path,
            self._parse,
            "breakers.yaml",
            timeout=self.lock_timeout,
            repair=False,
        )
        return loaded.value or {}

    def _update(self, change: Any) -> None:
        try:
            with file_lock(self._lock_path, self.lock_timeout, what="breakers.yaml"):
                states = self._load()
                if change(states):
                    data = {k: v.to_dict() for k, v in sorted(states.items())}
                    safefile.write_locked(self.path, safefile.dump(data))
        except (OSError, LockTimeout):
            # The breaker is advice: failing to persist it must never fail a run.
            log.warning("could not update %s", self.path, exc_info=True)
