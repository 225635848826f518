"""Time helpers: every timestamp we store is timezone-aware UTC, ISO 8601."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Anything that returns the current aware time; injected so tests control it."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.astimezone()
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def from_iso(text: str | datetime | None) -> datetime | None:
    """Parse what :func:`to_iso` wrote (and YAML's own datetimes)."""
    if text is None or text == "":
        return None
    if isinstance(text, datetime):
        return text if text.tzinfo else text.replace(tzinfo=UTC)
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
