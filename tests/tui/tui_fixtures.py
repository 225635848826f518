"""Helpers shared by the TUI tests (a module of its own: ``from conftest import``
is ambiguous when tests/core and tests/tui are collected in one run)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tui_doubles import Gate, factory

from tui_backup.core.manager import JobManager
from tui_backup.store.paths import Home
from tui_backup.tui.app import BackupApp

FIXED_NOW = datetime(2026, 1, 15, 10, 30, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return FIXED_NOW


def job_data(tmp: Path, name: str, **extra: object) -> dict[str, object]:
    src = tmp / "data" / name
    src.mkdir(parents=True, exist_ok=True)
    (src / "a.txt").write_text("hello\n")
    data: dict[str, object] = {
        "name": name,
        "sources": [str(src)],
        "destination": str(tmp / "backups" / name),
    }
    data.update(extra)
    return data


def make_manager(home: Home, gates: dict[str, Gate] | None = None) -> JobManager:
    return JobManager(
        home,
        runner="tui",
        clock=fixed_clock,
        engine_factory=factory(gates) if gates is not None else None,
        recover=False,
    )


AppFactory = Callable[..., BackupApp]
