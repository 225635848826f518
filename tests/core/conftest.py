"""Fixtures for the core: a manager over a temp home with the controllable engine."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tui_backup.core.manager import JobManager
from tui_backup.core.retry import RetryPolicy
from tui_backup.store.paths import Home

sys.path.insert(0, str(Path(__file__).parent))

from testengine import Plan


@pytest.fixture
def plan() -> Plan:
    return Plan()


@pytest.fixture
def make_manager(home: Home, plan: Plan) -> Iterator[Callable[..., JobManager]]:
    made: list[JobManager] = []

    def make(**options: object) -> JobManager:
        options.setdefault("engine_factory", plan.factory)
        options.setdefault("retry", RetryPolicy(base=0.01, cap=0.05))
        m = JobManager(home, **options)  # type: ignore[arg-type]
        made.append(m)
        return m

    yield make
    for m in made:
        m.shutdown(timeout=10)


@pytest.fixture
def manager(make_manager: Callable[..., JobManager]) -> JobManager:
    return make_manager()
