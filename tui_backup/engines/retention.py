"""Which snapshots a retention policy keeps: restic's ``forget`` semantics, exactly.

This is a re-statement of restic's documented policy (``doc/060_forget.rst``)
and of the algorithm in its ``ApplyPolicy``, written from reading them:

- Snapshots are considered newest first (a stable sort: ties keep input order).
- ``keep_last n``: the n newest. ``keep_hourly/daily/weekly/monthly/yearly n``:
  walking newest to oldest, a snapshot is kept when its calendar bucket
  (hour, day, ISO week, month, year, in the snapshot's own time zone) differs
  from the bucket of the previous snapshot *kept for that rule*... strictly,
  from the last bucket value that rule counted; each new bucket spends one of
  the ``n``. ``-1`` means unlimited.
- When a count rule still has budget left at the *oldest* snapshot, that
  snapshot is kept too (reason ``oldest ...``): restic keeps the longest
  history the counts allow.
- ``keep_within d``: every snapshot strictly newer than *latest - d*, where
  *latest* is the newest snapshot that is not in the future (relative to
  ``now``) and ``d`` is subtracted in calendar units like Go's ``AddDate``.
- ``keep_within_hourly/daily/...`` d: like the counted rules, without a
  count, restricted to snapshots strictly newer than *latest - d*.
- A snapshot is kept when any rule keeps it; the reasons list every rule.
- An empty policy keeps everything (restic refuses to act on one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tui_backup.model.clock import utcnow
from tui_backup.model.duration import Duration
from tui_backup.model.retention import RetentionPolicy

Bucket = Callable[[datetime, int], int]


def _hour(t: datetime, _nr: int) -> int:
    return t.year * 1000000 + t.month * 10000 + t.day * 100 + t.hour


def _day(t: datetime, _nr: int) -> int:
    return t.year * 10000 + t.month * 100 + t.day


def _week(t: datetime, _nr: int) -> int:
    year, week, _ = t.isocalendar()
    return year * 100 + week


def _month(t: datetime, _nr: int) -> int:
    return t.year * 100 + t.month


def _year(t: datetime, _nr: int) -> int:
    return t.year


def _always(_t: datetime, nr: int) -> int:
    return nr


@dataclass(frozen=True, slots=True)
class Decision:
    index: int
    """Position of this snapshot in the ``times`` given to :func:`apply_policy`."""
    time: datetime
    keep: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PolicyResult:
    decisions: tuple[Decision, ...]
    """Every snapshot, newest first."""

    @property
    def keep(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.keep)

    @property
    def remove(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if not d.keep)

    @property
    def keep_indices(self) -> list[int]:
        return [d.index for d in self.decisions if d.keep]

    @property
    def remove_indices(self) -> list[int]:
        return [d.index for d in self.decisions if not d.keep]


def _latest(times: Sequence[datetime], now: datetime) -> datetime | None:
    """The newest time that is not in the future (restic ignores future snapshots)."""
    past = [t for t in times if t < now]
    return max(past) if past else None


def _threshold(latest: datetime | None, within: Duration) -> datetime | None:
    return within.subtract_from(latest) if latest is not None else None


def apply_policy(
    times: Sequence[datetime], policy: RetentionPolicy, *, now: datetime | None = None
) -> PolicyResult:
    """Decide, for each snapshot time, keep or remove and why (restic ``forget``).

    ``times`` must be timezone-aware; calendar buckets use each time's own
    zone, as restic uses the zone a snapshot was recorded in (pass local
    times for local calendar days). ``now`` (default: the current time) only
    serves to ignore future snapshots when finding the newest for the
    ``keep_within*`` rules.
    """
    order = sorted(range(len(times)), key=lambda i: times[i], reverse=True)
    if policy.is_empty:
        return PolicyResult(tuple(Decision(i, times[i], True, ("policy is empty",)) for i in order))
    now = now or utcnow()
    latest = _latest(times, now)

    counted: list[list] = [
        [policy.keep_last, _always, -1, "last snapshot"],
        [policy.keep_hourly, _hour, -1, "hourly snapshot"],
        [policy.keep_daily, _day, -1, "daily snapshot"],
        [policy.keep_weekly, _week, -1, "weekly snapshot"],
        [policy.keep_monthly, _month, -1, "monthly snapshot"],
        [policy.keep_yearly, _year, -1, "yearly snapshot"],
    ]
    within_rules: list[list] = [
        [policy.keep_within_hourly, _hour, -1, "hourly within"],
        [policy.keep_within_daily, _day, -1, "daily within"],
        [policy.keep_within_weekly, _week, -1, "weekly within"],
        [policy.keep_within_monthly, _month, -1, "monthly within"],
        [policy.keep_within_yearly, _year, -1, "yearly within"],
    ]
    within_all = _within(policy.keep_within)
    last_nr = len(order) - 1
    decisions: list[Decision] = []
    for nr, index in enumerate(order):
        when = times[index]
        reasons: list[str] = []
        if within_all is not None:
            limit = _threshold(latest, within_all)
            if limit is None or when > limit:
                reasons.append(f"within {_fmt(within_all)}")
        for rule in counted:
            count, bucket, last, reason = rule
            if count > 0 or count == -1:
                value = bucket(when, nr)
                if value != last or nr == last_nr:
                    if value == last:
                        reason = f"oldest {reason}"
                    rule[2] = value
                    if count > 0:
                        rule[0] = count - 1
                    reasons.append(reason)
        for rule in within_rules:
            within, bucket, last, reason = rule
            duration = _within(within)
            if duration is None:
                continue
            limit = _threshold(latest, duration)
            if limit is None or when > limit:
                value = bucket(when, nr)
                if value != last or nr == last_nr:
                    if value == last:
                        reason = f"oldest {reason}"
                    rule[2] = value
                    reasons.append(f"{reason} {_fmt(duration)}")
        decisions.append(Decision(index, when, bool(reasons), tuple(reasons)))
    return PolicyResult(tuple(decisions))


def _within(duration: Duration | None) -> Duration | None:
    """None for an unset or zero duration (restic treats ``0h`` as not given)."""
    if duration is None or duration == Duration():
        return None
    return duration


def _fmt(duration: Duration) -> str:
    """restic's rendering of a duration in reasons: ``1y2m3d4h``, zero parts left out."""
    return str(duration)
