"""Throttled progress reporting with rate and ETA, shared by engines.

Engines count every file, but the consumer only needs a few updates per
second: :class:`ProgressReporter` keeps the counters and emits a
:class:`~tui_backup.model.progress.Progress` at most every ``interval``
seconds (and always when the phase changes), deriving the rate from a short
sliding window so it follows speed changes without jumping around.
"""

from __future__ import annotations

import time
from collections import deque

from tui_backup.engines.events import Emit
from tui_backup.model.progress import Progress

RATE_WINDOW = 5.0
"""Seconds of history behind the rate."""


class ProgressReporter:
    def __init__(self, emit: Emit, interval: float = 0.1) -> None:
        self._emit = emit
        self._interval = interval
        self._start = time.monotonic()
        self._last_emit = 0.0
        self._samples: deque[tuple[float, int]] = deque()
        self.phase = "scan"
        self.files_total = 0
        self.files_done = 0
        self.bytes_total = 0
        self.bytes_done = 0
        self.warnings = 0
        self.totals_are_estimates = False
        """True when the totals are a guess (the previous snapshot's size): once
        the run passes them they are reported as unknown, never as 100%."""
        self.current_path = ""

    def set_phase(self, phase: str) -> None:
        """Switch phase and report at once (a phase change is always worth a frame)."""
        self.phase = phase
        self.tick(force=True)

    def advance(self, files: int, nbytes: int, path: str) -> None:
        """Count work done; cheap enough to call per file."""
        self.files_done += files
        self.bytes_done += nbytes
        self.current_path = path
        now = time.monotonic()
        if now - self._last_emit >= self._interval:
            self._send(now)

    def tick(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_emit >= self._interval:
            self._send(now)

    def snapshot(self) -> Progress:
        return self._build(time.monotonic())

    def _build(self, now: float) -> Progress:
        samples = self._samples
        samples.append((now, self.bytes_done))
        while len(samples) > 2 and now - samples[0][0] > RATE_WINDOW:
            samples.popleft()
        t0, b0 = samples[0]
        span = now - t0
        rate = (self.bytes_done - b0) / span if span > 0.05 else 0.0
        files_total, bytes_total = self.files_total, self.bytes_total
        if (
            self.totals_are_estimates
            and self.phase not in ("commit", "prune")
            and (self.files_done >= files_total or self.bytes_done >= bytes_total)
        ):
            files_total = bytes_total = 0  # the guess ran out: unknown, not "100%, ETA 0s"
        eta: float | None = None
        if bytes_total > 0 and rate > 0:
            eta = max(0.0, (bytes_total - self.bytes_done) / rate)
        return Progress(
            phase=self.phase,
            files_total=max(files_total, self.files_done) if files_total else 0,
            files_done=self.files_done,
            bytes_total=max(bytes_total, self.bytes_done) if bytes_total else 0,
            bytes_done=self.bytes_done,
            current_path=self.current_path,
            warnings=self.warnings,
            rate=rate,
            eta_seconds=eta,
            elapsed=now - self._start,
        )

    def _send(self, now: float) -> None:
        self._last_emit = now
        self._emit(self._build(now))
