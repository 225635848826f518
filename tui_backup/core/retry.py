"""Exponential backoff with jitter for transient failures.

A transient failure (destination unreachable, EIO, a lock timeout) often
clears within seconds to minutes; doubling the wait each time gives it room
without hammering it, and the jitter keeps many jobs that failed together
(one NAS down) from all retrying in the same instant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: float = 5.0
    """Seconds before the first retry (before jitter)."""
    factor: float = 2.0
    cap: float = 300.0
    """No single wait is longer than this."""
    jitter: float = 0.5
    """Share of each wait that is random: 0.5 waits between 50% and 100% of it."""

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
        raw = min(self.cap, self.base * self.factor ** max(0, attempt - 1))
        r = (rng or random).random()
        return raw * (1.0 - self.jitter * r)
