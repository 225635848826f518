"""Durations, schedules, states and records: parsing, round trips, JSON shapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_backup.model import schedule
from tui_backup.model.clock import from_iso, to_iso
from tui_backup.model.duration import Duration
from tui_backup.model.progress import Progress
from tui_backup.model.records import ErrorEvent, RunRecord
from tui_backup.model.state import JobState, LastResult
from tui_backup.model.status import Severity, Status

small = st.integers(min_value=0, max_value=500)


@settings(deadline=None)  # a busy CI machine: no timing in unit tests
@given(small, small, small, small)
def test_duration_round_trips(y: int, m: int, d: int, h: int) -> None:
    duration = Duration(y, m, d, h)
    assert Duration.parse(str(duration)) == duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [("7d", Duration(days=7)), ("1y2m3d4h", Duration(1, 2, 3, 4)), ("4h1y", Duration(1, 0, 0, 4))],
)
def test_duration_parse(text: str, expected: Duration) -> None:
    assert Duration.parse(text) == expected


@settings(deadline=None)  # a busy CI machine: no timing in unit tests
@given(st.text(max_size=10))
def test_duration_rejects_everything_else(text: str) -> None:
    import re

    if re.fullmatch(r"\s*(\d+[ymdh])+\s*", text):
        return
    with pytest.raises(ValueError):
        Duration.parse(text)


def test_duration_subtracts_like_restic() -> None:
    when = datetime(2026, 3, 31, 12, tzinfo=UTC)
    # Go's AddDate: 31 Feb normalises to 3 March, it is not clamped to 28 Feb.
    assert Duration(months=1).subtract_from(when) == datetime(2026, 3, 3, 12, tzinfo=UTC)
    assert Duration(days=1, hours=2).subtract_from(when) == when - timedelta(days=1, hours=2)
    assert Duration(years=99999).subtract_from(when).year == 1  # "everything", not a crash


def test_schedule_next_runs_and_nicknames() -> None:
    after = datetime(2026, 1, 1, 10, 30).astimezone()
    assert schedule.next_run("0 2 * * *", after) == after.replace(hour=2, minute=0) + timedelta(
        days=1
    )
    assert schedule.expand("@daily") == "0 0 * * *"
    assert schedule.check("@weekly") is None
    assert "5 fields" in (schedule.check("0 0 * * * *") or "")
    assert schedule.interval_hours("0 */6 * * *", after) == 6


def test_iso_times_are_utc_z() -> None:
    when = datetime(2026, 5, 1, 12, 0, 7, 999, tzinfo=UTC)
    assert to_iso(when) == "2026-05-01T12:00:07Z"
    assert from_iso("2026-05-01T12:00:07Z") == when.replace(microsecond=0)
    assert from_iso(None) is None and to_iso(None) is None


def test_job_state_round_trips_and_tolerates_junk() -> None:
    last = LastResult(Status.SUCCEEDED, from_iso("2026-01-01T00:00:00Z"), None, 3, 10, 0, "s1")
    state = JobState(
        "web",
        Status.RUNNING,
        run_id="r1",
        pid=42,
        host="h",
        runner="cli",
        progress=Progress(files_done=2, bytes_total=10),
        last_result=last,
    )
    assert JobState.from_dict(state.to_dict(), "web") == state
    lenient = JobState.from_dict({"status": "idle", "pid": "x", "last_result": 5}, "web")
    assert lenient.pid is None and lenient.last_result is None
    with pytest.raises(ValueError):
        JobState.from_dict({"status": "sleeping"}, "web")
    assert {str(s) for s in Status} == {
        "idle",
        "queued",
        "running",
        "stopping",
        "succeeded",
        "failed",
        "stopped",
        "interrupted",
    }


def test_error_event_json_has_the_documented_keys() -> None:
    e = ErrorEvent(Severity.HIGH, "store", "invalid_job_file", "bad", job_name="web")
    data = e.to_json()
    for key in (
        "id",
        "timestamp",
        "severity",
        "component",
        "error_type",
        "message",
        "details",
        "job_name",
        "stack_trace",
        "resolved",
        "resolved_at",
    ):
        assert key in data
    assert data["severity"] == "HIGH" and data["resolved"] is False
    assert Severity.CRITICAL.rank > Severity.HIGH.rank > Severity.MEDIUM.rank > Severity.LOW.rank
    with pytest.raises(AttributeError):
        e.message = "changed"  # type: ignore[misc]


def test_run_record_duration_and_json() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    r = RunRecord("r", "web", start, Status.SUCCEEDED, start + timedelta(seconds=90), files=3)
    assert r.duration == 90
    assert r.to_json()["finished_at"] == "2026-01-01T00:01:30Z"
    assert RunRecord("r", "web", start, Status.RUNNING).duration is None
