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
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import cronsim

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


EXAMPLE = "for example '30 2 * * 1-5' runs at 02:30 on weekdays"
_FIELDS: tuple[tuple[str, int, int, str], ...] = (
    ("minute", 0, 59, "0-59"),
    ("hour", 0, 23, "0-23"),
    ("day-of-month", 1, 31, "1-31"),
    ("month", 1, 12, "1-12 or jan-dec"),
    ("day-of-week", 0, 7, "0-7 (0 and 7 are Sunday) or sun-sat"),
)
_MAX_SHOWN = 60


def _shown(text: str) -> str:
    """``text`` quoted for a message, cut short: a schedule may be anything."""
    text = text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."
    return repr(text)


def _accepts(fields: list[str]) -> bool:
    try:
        cronsim.CronSim(" ".join(fields), datetime(2024, 1, 1).astimezone())
    except (cronsim.CronSimError, ValueError, IndexError, KeyError):
        return False
    return True


def _why_item(item: str, lo: int, hi: int) -> str:
    """What is wrong with one comma-separated item of a field, in words."""
    value, _, step = item.partition("/")
    if step and (not step.isdigit() or int(step) == 0):
        return f"{_shown(item)} has a step of {_shown(step)} (a step is a whole number from 1)"
    for number in value.replace("-", " ").split():
        if number.isdigit() and not lo <= int(number) <= hi:
            return f"{number} is out of range"
    start, dash, end = value.partition("-")
    if dash and start.isdigit() and end.isdigit() and int(start) > int(end):
        return f"the range {_shown(value)} runs backwards (write {end}-{start}?)"
    return f"{_shown(item)} is not understood"


def _field_problem(fields: list[str]) -> str | None:
    """Which field is wrong, what it holds and why, or None when each is fine alone."""
    for index, (name, lo, hi, allowed) in enumerate(_FIELDS):
        given = fields[index]
        template = ["*"] * 5
        template[index] = given
        if _accepts(template):
            continue
        reason = "not understood"
        for item in given.split(","):
            template[index] = item
            if not item or not _accepts(template):
                reason = _why_item(item, lo, hi) if item else "an empty item between commas"
                break
        return f"{name} {_shown(given)}: {reason} (the {name} takes {allowed})"
    return None


def check(expression: str) -> str | None:
    """None when ``expression`` is a valid schedule, else a readable reason.

    The reason names the field, what it holds, what it takes, and ends with an
    example (issue 10: "Bad minute" alone did not say which of five numbers).
    Only the classic five fields (or a nickname) are accepted: cronsim also
    takes a sixth (seconds) field, which would make a backup job run every
    second and which no other cron a user knows understands.
    """
    text = expand(expression)
    fields = text.split()
    if len(fields) != 5:
        return (
            f"{_shown(str(expression))} is not a cron expression: it has {len(fields)} "
            "fields, and a schedule has 5 fields (minute hour day-of-month month day-of-week) "
            f"or is @hourly/@daily/@weekly/@monthly/@yearly; {EXAMPLE}"
        )
    if _accepts(fields):
        return None
    problem = _field_problem(fields)
    if problem is None:
        # Each field is fine alone, together they never match (30 February).
        problem = (
            f"it never happens (day-of-month {_shown(fields[2])} "
            f"does not occur in month {_shown(fields[3])})"
        )
    return f"{_shown(str(expression))} is not a cron expression: {problem}; {EXAMPLE}"


def next_runs(expression: str, after: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` run times strictly after ``after`` (local, aware)."""
    it: Iterator[datetime] = cronsim.CronSim(expand(expression), _local(after))
    return [next(it) for _ in range(count)]


def next_run(expression: str, after: datetime) -> datetime:
    return next_runs(expression, after, 1)[0]


def previous_run(expression: str, before: datetime) -> datetime:
    """The latest slot at or before ``before``; used for missed-run catch-up."""
    it = cronsim.CronSim(expand(expression), _local(before), reverse=True)
    return next(it)


def interval_hours(expression: str, around: datetime | None = None) -> float:
    """Typical gap between two runs, for a job's default ``max_age``."""
    a, b = next_runs(expression, around or datetime.now(), 2)
    return (b - a).total_seconds() / 3600


def describe(expression: str) -> str:
    """A human reading, e.g. "At 02:00 AM"; falls back to the expression."""
    try:
        # Only the editor and details describe a schedule; cron_descriptor (with its
        # gettext tables) would cost every command line ~40 ms of start-up.
        from cron_descriptor import get_description  # noqa: PLC0415

        return str(get_description(expand(expression)))
    except Exception:  # noqa: BLE001 - a description must never break a screen
        return expression
