"""``tui-backup errors ...`` through real processes, against a real database."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tui_backup.model.records import ErrorEvent
from tui_backup.model.status import Severity
from tui_backup.store.db import Database
from tui_backup.store.paths import Home
from tui_backup.store.schema import SCHEMA_VERSION

CliRunner = Callable[..., Any]
KEYS = {"id", "timestamp", "severity", "component", "error_type", "message", "job_name", "resolved"}


def seed(home: Home) -> list[ErrorEvent]:
    db = Database(home.db_path, home.fallback_log)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    made = [
        db.record_error(
            ErrorEvent(
                sev,
                "engine",
                "io_error",
                f"event {i}",
                job_name=job,
                details=f"d{i}",
                stack_trace="Traceback: here" if i == 0 else "",
                timestamp=start + timedelta(minutes=i),
            )
        )
        for i, (sev, job) in enumerate(
            [
                (Severity.LOW, "web"),
                (Severity.HIGH, "web"),
                (Severity.CRITICAL, "db"),
                (Severity.MEDIUM, None),
            ]
        )
    ]
    db.close()
    return made


def test_list_filter_resolve_show(cli: CliRunner, home: Home) -> None:
    made = seed(home)
    r = cli("errors", "--json")
    assert r.returncode == 0, r
    events = r.json()
    assert [e["message"] for e in events] == ["event 3", "event 2", "event 1", "event 0"]
    assert all(set(e) >= KEYS for e in events)

    assert [e["message"] for e in cli("errors", "--json", "--job", "web").json()] == [
        "event 1",
        "event 0",
    ]
    assert [e["message"] for e in cli("errors", "--json", "--severity", "critical").json()] == [
        "event 2"
    ]
    assert len(cli("errors", "--json", "--limit", "2").json()) == 2

    ids = [str(made[1].id), str(made[2].id)]
    r = cli("errors", "resolve", *ids)
    assert r.returncode == 0 and r.stderr.count("resolved #") == 2, r
    unresolved = cli("errors", "--json", "--unresolved").json()
    assert [e["message"] for e in unresolved] == ["event 3", "event 0"]
    r = cli("errors", "resolve", ids[0], "999")
    assert r.returncode == 2 and "already resolved" in r.stderr and "#999" in r.stderr, r

    r = cli("errors", "show", str(made[0].id), "--json")
    assert r.returncode == 0, r
    assert r.json()["stack_trace"] == "Traceback: here" and r.json()["details"] == "d0"
    r = cli("errors", "show", str(made[0].id))
    assert r.returncode == 0 and "Traceback: here" in r.stdout and "event 0" in r.stdout
    assert cli("errors", "show", "999").returncode == 2


def test_plain_table(cli: CliRunner, home: Home) -> None:
    seed(home)
    r = cli("errors")
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "TIME", "SEVERITY"]
    assert len(lines) == 5 and "event 3" in lines[1]


@pytest.mark.parametrize("args", [("--severity", "SEVERE"), ("--limit", "0"), ("resolve", "x")])
def test_bad_usage_exits_2(cli: CliRunner, args: tuple[str, ...]) -> None:
    assert cli("errors", *args).returncode == 2


def test_empty_log(cli: CliRunner) -> None:
    r = cli("errors", "--json")
    assert r.returncode == 0 and r.json() == []


def test_events_waiting_in_the_fallback_are_listed(cli: CliRunner, home: Home) -> None:
    """A database this version cannot use: events are kept in the JSONL and still shown."""
    conn = sqlite3.connect(home.db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    db = Database(home.db_path, home.fallback_log)
    db.record_error(ErrorEvent(Severity.HIGH, "store", "x", "kept in the fallback"))
    db.close()
    r = cli("errors", "--json")
    assert r.returncode == 0, r
    assert [e["message"] for e in r.json()] == ["kept in the fallback"]
    assert "database is unavailable" in r.stderr
