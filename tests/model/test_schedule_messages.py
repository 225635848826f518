"""A bad cron line says which field, what it holds, what it takes, and gives an example
(issue 10: "Bad minute" alone did not say which of five numbers was wrong)."""

from __future__ import annotations

import pytest

from tui_backup.model.schedule import EXAMPLE, check


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("61 * * * *", "minute '61': 61 is out of range (the minute takes 0-59)"),
        ("0 24 * * *", "hour '24': 24 is out of range (the hour takes 0-23)"),
        ("0 2 0 * *", "day-of-month '0': 0 is out of range (the day-of-month takes 1-31)"),
        ("0 2 * 13 *", "month '13': 13 is out of range (the month takes 1-12 or jan-dec)"),
        ("0 2 * * 8", "day-of-week '8': 8 is out of range"),
        ("*/0 * * * *", "minute '*/0': '*/0' has a step of '0'"),
        ("5-1 * * * *", "the range '5-1' runs backwards (write 1-5?)"),
        ("0,,5 * * * *", "an empty item between commas"),
        ("0 2 * foo *", "month 'foo': 'foo' is not understood"),
        ("0 2,3,99 * * *", "hour '2,3,99': 99 is out of range"),
        ("0 2 31 2 *", "never happens (day-of-month '31' does not occur in month '2')"),
        ("0 2 * *", "it has 4 fields, and a schedule has 5"),
        ("0 2 * * * *", "it has 6 fields"),
    ],
)
def test_bad_schedules_say_which_field_and_why(expression: str, says: str) -> None:
    reason = check(expression)
    assert reason is not None
    assert says in reason, reason
    assert reason.startswith(f"{expression!r} is not a cron expression")
    assert reason.endswith(EXAMPLE)


@pytest.mark.parametrize("good", ["0 2 * * *", "@daily", "*/15 * * * 1-5", "0 2 * * mon-fri"])
def test_good_schedules_pass(good: str) -> None:
    assert check(good) is None


def test_a_hostile_schedule_is_shown_short_and_escaped() -> None:
    reason = check("\x1b]0;x\x07" + "9" * 5000 + " * * * *")
    assert reason is not None and "\x1b" not in reason and len(reason) < 400
