"""Cron schedules: validation, next run times, and a human reading.

We use cronsim (maintained, pure Python, used by healthchecks.io) for the
arithmetic; it has no ``@hourly`` style nicknames, so we map those here.
Times are computed in the server's local time zone, with DST handled by
cronsim on aware datetimes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

# cronsim and zoneinfo are imported where used: the engines import the model,
# and a backup run must not pay for cron parsing it never does.

NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def local_zone() -> tzinfo:
    """The server's time zone *with its DST rules* (``$TZ``, else ``/etc/localtime``).

    ``datetime.astimezone()`` gives a fixed offset, which cronsim cannot move
    across a DST change: a 02:30 job would run twice on the autumn night and
    an hour off after the spring one. A real zone lets cronsim do it right.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        target = os.path.realpath("/etc/localtime")
        if "/zoneinfo/" in target:
            return ZoneInfo(target.split("/zoneinfo/", 1)[1])
        with open("/etc/localtime", "rb") as fh:
            return ZoneInfo.from_file(fh, key="localtime")
    except (OSError, ValueError, ZoneInfoNotFoundError):
        pass
    fixed = datetime.now().astimezone().tzinfo
    assert fixed is not None
    return fixed


def _local(when: datetime) -> datetime:
    """``when`` in the local zone (naive means local already)."""
    return when.astimezone(local_zone())


def expand(expression: str) -> str:
    """The five-field form of ``expression`` (nicknames expanded)."""
    text = " ".join(str(expression).split())
    return NICKNAMES.get(text.lower(), text)


def check(expression: str) -> str | None:
    """None when ``expression`` is a valid schedule, else a readable reason.

    Only the classic five fields (or a nickname) are accepted: cronsim also
    takes a sixth (seconds) field, which would make a backup job run every
    second and which no other cron a user knows understands.
    """
    import cronsim

    text = expand(expression)
    if len(text.split()) != 5:
        return (
            f"{expression!r} is not a cron expression (want 5 fields: minute hour "
            "day-of-month month day-of-week, or @hourly/@daily/@weekly/@monthly/@yearly)"
        )
    try:
        cronsim.CronSim(text, datetime.now().astimezone())
    except (cronsim.CronSimError, ValueError, IndexError, KeyError) as exc:
        return f"{expression!r} is not a cron expression ({exc})"
    return None


def next_runs(expression: str, after: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` run times strictly after ``after`` (local, aware)."""
    import cronsim

    it: Iterator[datetime] = cronsim.CronSim(expand(expression), _local(after))
    return [next(it) for _ in range(count)]


def next_run(expression: str, after: datetime) -> datetime:
    return next_runs(expression, after, 1)[0]


def previous_run(expression: str, before: datetime) -> datetime:
    """The latest slot at or before ``before``; used for missed-run catch-up."""
    import cronsim

    it = cronsim.CronSim(expand(expression), _local(before), reverse=True)
    return next(it)


def interval_hours(expression: str, around: datetime | None = None) -> float:
    """Typical gap between two runs, for a job's default ``max_age``."""
    a, b = next_runs(expression, around or datetime.now(), 2)
    return (b - a).total_seconds() / 3600


def describe(expression: str) -> str:
    """A human reading, e.g. "At 02:00 AM"; falls back to the expression."""
    try:
        from cron_descriptor import get_description  # optional nicety

        return str(get_description(expand(expression)))
    except Exception:  # noqa: BLE001 - a description must never break a screen
        return expression
