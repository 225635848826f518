"""Time as the history database and its journal store it."""

from __future__ import annotations

from datetime import UTC, datetime


def db_time(when: datetime | None) -> str | None:
    """Fixed-width UTC text, so string order is time order (and indexes sort right)."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.astimezone()
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
