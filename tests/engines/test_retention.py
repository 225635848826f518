"""Retention: restic ``forget`` semantics, from its documentation and against restic itself."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tui_backup.engines.retention import apply_policy
from tui_backup.model.duration import Duration
from tui_backup.model.retention import RetentionPolicy

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# restic doc/060_forget.rst: weekday backups for two weeks, Friday extra, a missed Wednesday.
DOC_TIMES = [
    t("2025-04-21 11:00"),
    t("2025-04-22 11:00"),
    t("2025-04-23 11:00"),
    t("2025-04-24 11:00"),
    t("2025-04-25 11:00"),
    t("2025-04-25 23:00"),
    t("2025-04-28 11:00"),
    t("2025-04-29 11:00"),
    t("2025-05-01 11:00"),
    t("2025-05-02 11:00"),
    t("2025-05-02 23:00"),
]


def kept(times: list[datetime], policy: RetentionPolicy) -> list[datetime]:
    return sorted(d.time for d in apply_policy(times, policy, now=NOW).keep)


def test_doc_example_keep_daily_5() -> None:
    result = apply_policy(DOC_TIMES, RetentionPolicy(keep_daily=5), now=NOW)
    assert sorted(d.time for d in result.keep) == [
        t("2025-04-25 23:00"),
        t("2025-04-28 11:00"),
        t("2025-04-29 11:00"),
        t("2025-05-01 11:00"),
        t("2025-05-02 23:00"),
    ]
    assert {d.reasons for d in result.keep} == {("daily snapshot",)}
    assert len(result.remove) == 6


def test_doc_example_keep_within_daily_7d() -> None:
    result = apply_policy(DOC_TIMES, RetentionPolicy(keep_within_daily=Duration(days=7)), now=NOW)
    assert sorted(d.time for d in result.keep) == [
        t("2025-04-28 11:00"),
        t("2025-04-29 11:00"),
        t("2025-05-01 11:00"),
        t("2025-05-02 23:00"),
    ]
    assert {d.reasons for d in result.keep} == {("daily within 7d",)}


def test_doc_example_hundred_years_of_dailies() -> None:
    """ "keep 7 daily, 4 more weekly (7 dailies include 1 weekly), 12 or 11 monthly..."."""
    start = datetime(1930, 1, 1, 12, tzinfo=UTC)
    times = [start + timedelta(days=i) for i in range(365 * 100 + 24)]
    policy = RetentionPolicy(keep_daily=7, keep_weekly=5, keep_monthly=12, keep_yearly=75)
    result = apply_policy(times, policy, now=NOW)
    reasons = [d.reasons for d in result.keep]
    assert sum("daily snapshot" in r for r in reasons) == 7
    assert sum("weekly snapshot" in r for r in reasons) == 5
    assert sum(r == ("weekly snapshot",) for r in reasons) == 4
    assert sum("monthly snapshot" in r for r in reasons) == 12
    assert sum("yearly snapshot" in r for r in reasons) == 75
    assert len(result.keep) <= 7 + 4 + 12 + 75


def test_keep_last_and_ties_keep_input_order() -> None:
    same = t("2024-01-01 10:00")
    times = [same, same, same, t("2023-01-01 10:00")]
    result = apply_policy(times, RetentionPolicy(keep_last=2), now=NOW)
    assert result.keep_indices == [0, 1]
    assert result.remove_indices == [2, 3]
    assert result.keep[0].reasons == ("last snapshot",)


def test_iso_weeks_span_years() -> None:
    # 2020-12-31 (Thu) and 2021-01-03 (Sun) are both ISO week 2020-W53.
    times = [t("2020-12-31 10:00"), t("2021-01-03 10:00"), t("2021-01-04 10:00")]
    result = apply_policy(times, RetentionPolicy(keep_weekly=2), now=NOW)
    assert sorted(d.time for d in result.keep) == [t("2021-01-03 10:00"), t("2021-01-04 10:00")]
    # keep_yearly counts calendar years, not ISO years.
    result = apply_policy(times, RetentionPolicy(keep_yearly=2), now=NOW)
    assert sorted(d.time for d in result.keep) == [t("2020-12-31 10:00"), t("2021-01-04 10:00")]


def test_unlimited_keeps_one_per_bucket_forever() -> None:
    times = [t(f"2024-01-{d:02d} {h:02d}:00") for d in range(1, 29) for h in (1, 13)]
    result = apply_policy(times, RetentionPolicy(keep_daily=-1), now=NOW)
    # One per day (the newest of each), plus the very oldest: -1 never runs out.
    assert len(result.keep) == 29
    assert all(d.time.hour == 13 for d in result.keep[:-1])
    assert result.keep[-1].reasons == ("oldest daily snapshot",)


def test_oldest_snapshot_kept_while_counts_remain() -> None:
    times = [t("2024-01-01 01:00"), t("2024-01-01 05:00"), t("2024-01-02 05:00")]
    result = apply_policy(times, RetentionPolicy(keep_daily=5), now=NOW)
    by_time = {d.time: d for d in result.decisions}
    assert by_time[t("2024-01-01 01:00")].reasons == ("oldest daily snapshot",)
    assert len(result.keep) == 3


def test_keep_within_is_measured_from_the_newest_not_now() -> None:
    times = [t("2010-06-10 00:00"), t("2010-06-05 00:01"), t("2010-06-03 00:00")]
    result = apply_policy(times, RetentionPolicy(keep_within=Duration(days=5)), now=NOW)
    assert sorted(d.time for d in result.keep) == [t("2010-06-05 00:01"), t("2010-06-10 00:00")]
    assert result.keep[0].reasons == ("within 5d",)


def test_keep_within_is_strict_and_calendar_based() -> None:
    # 1m before 2024-03-31 is "2024-02-31", which Go normalises to 2024-03-02.
    times = [t("2024-03-31 00:00"), t("2024-03-02 00:00"), t("2024-03-02 00:01")]
    result = apply_policy(times, RetentionPolicy(keep_within=Duration(months=1)), now=NOW)
    assert sorted(d.time for d in result.keep) == [t("2024-03-02 00:01"), t("2024-03-31 00:00")]


def test_future_snapshots_are_ignored_for_within_but_kept() -> None:
    now = t("2024-01-10 00:00")
    times = [t("2024-06-01 00:00"), t("2024-01-09 00:00"), t("2024-01-01 00:00")]
    result = apply_policy(times, RetentionPolicy(keep_within=Duration(days=2)), now=now)
    assert sorted(d.time for d in result.keep) == [t("2024-01-09 00:00"), t("2024-06-01 00:00")]


def test_empty_policy_keeps_everything() -> None:
    result = apply_policy(DOC_TIMES, RetentionPolicy(), now=NOW)
    assert len(result.keep) == len(DOC_TIMES)
    assert result.keep[0].reasons == ("policy is empty",)


def test_reasons_combine_like_restic() -> None:
    times = [t("2024-05-02 10:00"), t("2024-05-01 10:00")]
    policy = RetentionPolicy(keep_last=1, keep_daily=1, keep_within_hourly=Duration(hours=30))
    result = apply_policy(times, policy, now=NOW)
    assert result.decisions[0].reasons == (
        "last snapshot",
        "daily snapshot",
        "hourly within 30h",
    )
    assert result.decisions[1].reasons == ("hourly within 30h",)


def test_calendar_buckets_use_each_times_zone() -> None:
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    # 23:30 UTC is already the next day in Berlin.
    times = [t("2024-01-01 23:30").astimezone(berlin), t("2024-01-01 22:00").astimezone(berlin)]
    assert len(apply_policy(times, RetentionPolicy(keep_daily=5), now=NOW).keep) == 2
    utc_times = [x.astimezone(UTC) for x in times]
    result = apply_policy(utc_times, RetentionPolicy(keep_daily=5), now=NOW)
    assert [d.reasons for d in result.decisions] == [
        ("daily snapshot",),
        ("oldest daily snapshot",),
    ]


# -- against the real restic ---------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("restic") is None, reason="restic not installed")
def test_matches_restic_forget_on_random_histories(tmp_path: Path) -> None:
    """restic 0.14 here predates "-1" and the "oldest" rule: cases using them are skipped."""
    env = {**os.environ, "RESTIC_PASSWORD": "x", "RESTIC_REPOSITORY": str(tmp_path / "repo")}
    subprocess.run(["restic", "init", "-q"], env=env, check=True, capture_output=True)
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("x")
    rng = random.Random(7)
    base = datetime(2023, 11, 20, 0, 0, tzinfo=UTC)
    times: list[datetime] = []
    for _ in range(30):
        base += timedelta(hours=rng.choice([1, 3, 7, 20, 26, 50, 24 * 9, 24 * 33]))
        times.append(base)
    for when in times:
        subprocess.run(
            ["restic", "backup", "-q", "--host", "h", "--time", when.strftime("%Y-%m-%d %H:%M:%S"),
             str(data)],
            env={**env, "TZ": "UTC"}, check=True, capture_output=True,
        )  # fmt: skip
    policies = [
        {"keep_last": 3},
        {"keep_hourly": 5},
        {"keep_daily": 4, "keep_weekly": 3},
        {"keep_weekly": 6},
        {"keep_monthly": 2, "keep_yearly": 1},
        {"keep_within": "20d"},
        {"keep_within": "1m2d"},
        {"keep_within_daily": "30d"},
        {"keep_within_weekly": "2m", "keep_last": 2},
        {"keep_within_monthly": "1y", "keep_hourly": 2},
        {"keep_daily": 3, "keep_within": "5d3h"},
    ]
    compared = 0
    for raw in policies:
        policy, problems = RetentionPolicy.parse(raw, "test")
        assert policy is not None, problems
        ours = apply_policy(times, policy)
        if any(r.startswith("oldest") for d in ours.keep for r in d.reasons):
            continue  # restic 0.14 has no "oldest" rule
        args = []
        for key, value in raw.items():
            args += ["--" + key.replace("_", "-"), str(value)]
        out = subprocess.run(
            ["restic", "forget", "--dry-run", "--json", "--group-by", "", *args],
            env={**env, "TZ": "UTC"}, check=True, capture_output=True, text=True,
        )  # fmt: skip
        group = json.loads(out.stdout)[0]
        restic_keep = sorted(
            datetime.fromisoformat(s["time"][:19]).replace(tzinfo=UTC) for s in group["keep"]
        )
        assert sorted(d.time.replace(microsecond=0) for d in ours.keep) == restic_keep, raw
        restic_reasons = {
            datetime.fromisoformat(r["snapshot"]["time"][:19]).replace(tzinfo=UTC): r["matches"]
            for r in group["reasons"]
        }
        for d in ours.keep:
            assert list(d.reasons) == restic_reasons[d.time], (raw, d)
        compared += 1
    assert compared >= 8
