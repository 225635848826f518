"""Waiting helpers for Pilot tests: wait for a condition, never for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot


async def until(pilot: Pilot, condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Let the app process messages until ``condition()`` holds (or fail after ``timeout``).

    Background threads (the core's runs) finish on their own schedule, so we
    poll the condition between message-queue drains rather than sleeping.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(0.02)
