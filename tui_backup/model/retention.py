"""A job's retention policy, with restic ``forget`` semantics.

Counts are integers where 0 means "not set" and -1 "unlimited", exactly as
restic's ``--keep-*`` flags; the ``keep_within*`` values are calendar
durations measured back from the newest snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from tui_backup.model.duration import Duration
from tui_backup.model.problems import Problem
from tui_backup.model.text import printable

COUNT_KEYS = (
    "keep_last",
    "keep_hourly",
    "keep_daily",
    "keep_weekly",
    "keep_monthly",
    "keep_yearly",
)
WITHIN_KEYS = (
    "keep_within",
    "keep_within_hourly",
    "keep_within_daily",
    "keep_within_weekly",
    "keep_within_monthly",
    "keep_within_yearly",
)
MAX_KEEP = 1_000_000
"""The largest count a ``keep_*`` rule takes (-1 already means unlimited)."""


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    keep_last: int = 0
    keep_hourly: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0
    keep_within: Duration | None = None
    keep_within_hourly: Duration | None = None
    keep_within_daily: Duration | None = None
    keep_within_weekly: Duration | None = None
    keep_within_monthly: Duration | None = None
    keep_within_yearly: Duration | None = None

    @property
    def is_empty(self) -> bool:
        """An empty policy keeps everything (restic refuses to forget with none)."""
        return all(getattr(self, f.name) in (0, None) for f in fields(self))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in COUNT_KEYS:
            value = getattr(self, key)
            if value:
                out[key] = value
        for key in WITHIN_KEYS:
            value = getattr(self, key)
            if value is not None:
                out[key] = str(value)
        return out

    @classmethod
    def parse(
        cls, data: Any, source: str, prefix: str = "retention"
    ) -> tuple[RetentionPolicy | None, list[Problem]]:
        """Validate a mapping; return the policy (or None) and every problem."""
        problems: list[Problem] = []
        if data is None:
            return None, problems
        if not isinstance(data, dict):
            return None, [Problem(source, prefix, "must be a mapping of keep_* rules")]
        values: dict[str, Any] = {}
        for key, value in data.items():
            field = f"{prefix}.{key}"
            if key in COUNT_KEYS:
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int)
                    or not -1 <= value <= MAX_KEEP
                ):
                    problems.append(
                        Problem(
                            source,
                            field,
                            f"must be an integer >= -1 (-1: unlimited) and at most {MAX_KEEP}",
                        )
                    )
                else:
                    values[key] = value
            elif key in WITHIN_KEYS:
                if isinstance(value, bool) or not isinstance(value, str | int):
                    problems.append(Problem(source, field, "must be a duration like 1y2m3d4h"))
                    continue
                try:
                    values[key] = Duration.parse(str(value))
                except ValueError as exc:
                    problems.append(
                        Problem(source, field, f"must be a duration like 1y2m3d4h ({exc})")
                    )
            else:
                allowed = ", ".join(COUNT_KEYS + WITHIN_KEYS)
                shown = printable(str(key))[:64]
                problems.append(
                    Problem(source, f"{prefix}.{shown}", f"unknown rule (allowed: {allowed})")
                )
        if problems:
            return None, problems
        return cls(**values), problems
