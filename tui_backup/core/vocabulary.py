"""The core's typed words: why a run started, and which part of the program an error
event comes from. StrEnums, so records, YAML and ``--json`` keep the same strings."""

from __future__ import annotations

from enum import StrEnum


class Trigger(StrEnum):
    """Why a run (or a verify) started; kept in its history row."""

    MANUAL = "manual"
    SCHEDULE = "schedule"
    CATCH_UP = "catch-up"
    """A scheduled slot that passed while no scheduler ran (machine asleep, daemon down)."""
    PROBE = "probe"
    """A scheduled run let through a half-open circuit breaker to test the destination."""
    RESTORE = "restore"


class Component(StrEnum):
    """Where an error event comes from (besides :func:`engine_component`)."""

    RUNNER = "runner"
    COORDINATION = "coordination"
    SCHEDULER = "scheduler"
    RETENTION = "retention"
    HOOKS = "hooks"
    BREAKER = "breaker"
    VERIFY = "verify"
    STORE = "store"
    JOBS = "jobs"
    RESTORE = "restore"
    RESOLUTION = "resolution"


ENGINE_PREFIX = "engine:"


def engine_component(engine: str) -> str:
    """The component of an engine's errors: ``engine:<name>``."""
    return f"{ENGINE_PREFIX}{engine}"


def is_engine_component(component: str) -> bool:
    return component.startswith(ENGINE_PREFIX)
