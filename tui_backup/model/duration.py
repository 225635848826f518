"""Durations in restic's ``--keep-within`` notation: ``1y2m3d4h``.

restic measures these in calendar units (years, months, days, hours), not a
fixed number of seconds, so we keep the four numbers apart and subtract them
from a datetime the way restic does (``AddDate`` then hours).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_PART = re.compile(r"(\d+)([ymdh])")
MAX_YEARS = 1000
"""The longest duration accepted: 1000 years. Longer means "forever" to a person
and an OverflowError to a date computation (``now - 10**20 days``), so it is
refused when the file is read rather than when ``health`` or ``forget`` runs."""
_MAX_TEXT = 64


@dataclass(frozen=True, slots=True)
class Duration:
    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse ``1y2m3d4h`` (any subset, any order); raise ValueError otherwise."""
        text = str(text).strip()
        if not text:
            raise ValueError("empty duration")
        if len(text) > _MAX_TEXT:
            raise ValueError(f"a duration of {len(text)} characters is not a duration")
        pos = 0
        values = {"y": 0, "m": 0, "d": 0, "h": 0}
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            values[match.group(2)] += int(match.group(1))
            pos = match.end()
        if pos != len(text):
            raise ValueError(f"{text!r} is not a duration like 1y2m3d4h")
        parsed = cls(values["y"], values["m"], values["d"], values["h"])
        if parsed.approx_hours > MAX_YEARS * 8766:
            raise ValueError(f"{text!r} is longer than {MAX_YEARS} years")
        return parsed

    def __str__(self) -> str:
        parts = [
            f"{n}{unit}"
            for n, unit in (
                (self.years, "y"),
                (self.months, "m"),
                (self.days, "d"),
                (self.hours, "h"),
            )
            if n
        ]
        return "".join(parts) or "0h"

    def subtract_from(self, when: datetime) -> datetime:
        """``when`` minus this duration, normalising like Go's ``time.AddDate``."""
        year = when.year - self.years
        month = when.month - self.months
        year += (month - 1) // 12
        month = (month - 1) % 12 + 1
        try:
            # Go normalises an overflowing day (Feb 31 -> Mar 3) instead of clamping.
            base = when.replace(year=year, month=month, day=1)
            shifted = base + timedelta(days=when.day - 1)
            return shifted - timedelta(days=self.days, hours=self.hours)
        except (ValueError, OverflowError):
            # "keep within 99999y" reaches before year 1: it simply means "everything".
            return datetime.min.replace(tzinfo=when.tzinfo)

    @property
    def approx_hours(self) -> float:
        """Rough size, for defaults such as a schedule's max age."""
        return self.years * 8766 + self.months * 730.5 + self.days * 24 + self.hours
