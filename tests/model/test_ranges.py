"""Every value is range-checked when the file is read, and text fields refuse control
characters: a value accepted at parse time must never raise OverflowError later."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tui_backup.model.duration import MAX_YEARS, Duration
from tui_backup.model.job import parse_job
from tui_backup.model.problems import ValidationError
from tui_backup.model.retention import WITHIN_KEYS
from tui_backup.model.state import JobState

FILE = "jobs/web.yaml"
HUGE = "9" * 4000


def base(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "web", "sources": ["/srv/www"], "destination": "/backup/web"}
    data.update(extra)
    return data


def fields(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        parse_job(data, FILE, expected_name="web")
    return {p.field: p.message for p in info.value.problems}


@pytest.mark.parametrize(
    "value", [f"{HUGE}d", "99999999999999999999h", f"{MAX_YEARS + 1}y", "1000y1d", 10**30, [1]]
)
@pytest.mark.parametrize("key", ["max_age", "checksum_every"])
def test_overlong_durations_are_refused(key: str, value: object) -> None:
    found = fields(base(**{key: value}))
    assert list(found) == [key]


@pytest.mark.parametrize("key", WITHIN_KEYS)
def test_overlong_keep_within_is_refused(key: str) -> None:
    found = fields(base(retention={key: f"{HUGE}d"}))
    assert list(found) == [f"retention.{key}"]


def test_the_longest_duration_accepted_is_usable_everywhere() -> None:
    """What parses must compute: health's timedelta, forget's date arithmetic."""
    spec = parse_job(
        base(max_age=f"{MAX_YEARS}y", retention={"keep_within": f"{MAX_YEARS}y"}), FILE, "web"
    )
    now = datetime.now(UTC)
    assert spec.max_age is not None and spec.retention is not None
    assert now - timedelta(hours=spec.max_age.approx_hours) < now
    assert now + timedelta(hours=spec.max_age.approx_hours) > now
    assert spec.retention.keep_within is not None
    assert spec.retention.keep_within.subtract_from(now) < now
    assert Duration.parse("1000y") == Duration(years=1000)


@pytest.mark.parametrize(
    ("key", "value"),
    [("version", 2**64), ("retries", 10**20), ("hook_timeout", 10**20), ("ssh_port", 2**70)],
)
def test_huge_integers_are_refused(key: str, value: int) -> None:
    assert key in fields(base(**{key: value}))


def test_huge_keep_counts_are_refused() -> None:
    assert "retention.keep_last" in fields(base(retention={"keep_last": 10**30}))


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"description": "nice\x1b]0;pwned\x07"}, "description"),
        ({"sources": ["/srv/\x1b[2Jwww"]}, "sources[0]"),
        ({"sources": ["/srv/new\nline"]}, "sources[0]"),
        ({"exclude": ["*.tmp\r"]}, "exclude[0]"),
        ({"destination": "/backup/\x1b[31mred"}, "destination"),
        ({"hooks": {"before": [["echo", "\x1b]0;x\x07"]]}}, "hooks.before[0][1]"),
        ({"ssh_command": "ssh\x1b -p 2"}, "ssh_command"),
        ({"ssh_identity": "/k/\x9bid"}, "ssh_identity"),
        ({"env": {"A": "b\x00c"}}, "env.A"),
        ({"description": "bidi \u202e evil"}, "description"),
    ],
)
def test_control_characters_are_refused_in_text_fields(extra: dict[str, Any], field: str) -> None:
    found = fields(base(**extra))
    assert field in found and "control or escape characters" in found[field]
    assert found[field].isprintable()


def test_multiline_text_where_it_makes_sense() -> None:
    spec = parse_job(
        base(
            description="first line\nsecond line",
            hooks={"before": [["sh", "-c", "set -e\n\tcd /srv\n"]]},
        ),
        FILE,
        "web",
    )
    assert spec.description == "first line\nsecond line"


def test_unknown_fields_are_shown_escaped_and_few() -> None:
    data = base(**{f"line{i}\x1b[2J": i for i in range(50)})
    with pytest.raises(ValidationError) as info:
        parse_job(data, FILE, "web")
    text = str(info.value)
    assert "\x1b" not in text and "\\x1b[2J" in text
    assert text.count("unknown field (allowed") == 10 and "and 40 more unknown fields" in text


def test_long_lists_are_refused() -> None:
    assert "sources" in fields(base(sources=[f"/s/{i}" for i in range(1001)]))
    assert "exclude" in fields(base(exclude=["x"] * 10_001))
    assert "sources[0]" in fields(base(sources=["/" + "a" * 5000]))


@pytest.mark.parametrize(
    "data",
    [
        {"status": "running", "pid": 10**30},
        {"status": "running", "pid": True},
        {"status": "idle", "last_result": {"status": "failed", "files": 10**30, "bytes": -5}},
        {"status": "idle", "host": ["not", "text"], "message": {"a": 1}},
    ],
)
def test_state_files_degrade_out_of_range_values(data: dict[str, Any]) -> None:
    state = JobState.from_dict(data, "web")
    assert state.pid is None or 0 < state.pid <= 2**22
    if state.last_result is not None:
        assert 0 <= state.last_result.files < 2**63 and state.last_result.bytes == 0
    assert isinstance(state.host, str | None) and isinstance(state.message, str | None)
    if state.pid is not None:
        os.kill(state.pid, 0)  # never an OverflowError
