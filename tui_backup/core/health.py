"""``tui-backup health``: one verdict for monitoring, with the reasons behind it.

``healthy`` (exit 0), ``degraded`` (1: works, but someone should look) or
``unhealthy`` (2: backups are not happening or not trustworthy). Each check
says which it contributes and why, so an alert can quote it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tui_backup.core.coordination import scheduler_lock_path
from tui_backup.model import schedule as cron
from tui_backup.model.clock import from_iso, to_iso
from tui_backup.model.status import Status
from tui_backup.store import yamlio
from tui_backup.store.locking import is_locked

if TYPE_CHECKING:
    from tui_backup.core.manager import JobManager
    from tui_backup.model.job import JobSpec

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
_RANK = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}
DEFAULT_MAX_AGE = timedelta(hours=48)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str
    message: str
    job: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "status": self.status, "message": self.message}
        if self.job is not None:
            out["job"] = self.job
        return out


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: tuple[Check, ...]
    scheduler: dict[str, Any] | None = None
    errors: dict[str, Any] = field(default_factory=dict)
    checked_at: datetime | None = None

    @property
    def status(self) -> str:
        worst = max((_RANK[c.status] for c in self.checks), default=0)
        return {v: k for k, v in _RANK.items()}[worst]

    @property
    def exit_code(self) -> int:
        return _RANK[self.status]

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checked_at": to_iso(self.checked_at),
            "checks": [c.to_json() for c in self.checks],
            "scheduler": self.scheduler,
            "errors": self.errors,
        }


def max_age(spec: JobSpec, now: datetime) -> timedelta:
    """The job's ``max_age``; else twice its schedule interval; else 48 hours."""
    if spec.max_age is not None:
        return timedelta(hours=spec.max_age.approx_hours)
    if spec.schedule:
        with contextlib.suppress(Exception):
            return timedelta(hours=2 * cron.interval_hours(spec.schedule, now))
    return DEFAULT_MAX_AGE


def _age_text(delta: timedelta) -> str:
    """``45s``, ``12m``, ``4h 17m``, ``2h``, ``3d 4h``: what a person reads at a glance."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def check_health(manager: JobManager) -> HealthReport:
    now = manager.clock()
    checks: list[Check] = [_check_home(manager), _check_database(manager)]
    jobs = [j for j in manager.jobs.list().jobs if j.enabled]
    scheduler, sched_check = _check_scheduler(manager, any(j.schedule for j in jobs))
    checks.append(sched_check)
    for spec in jobs:
        checks.append(_check_job(manager, spec, now))
    for breaker in manager.breakers.open_breakers():
        checks.append(
            Check(
                "circuit",
                DEGRADED,
                f"circuit open for {breaker.destination} since {to_iso(breaker.opened_at)} "
                f"after {breaker.failures} failures (last: {breaker.last_error})",
            )
        )
    stats = manager.error_stats()
    if stats.critical:
        checks.append(
            Check("errors", UNHEALTHY, f"{_plural(stats.critical, 'unresolved CRITICAL error')}")
        )
    elif stats.unresolved:
        high = stats.by_severity.get("HIGH", 0)
        checks.append(
            Check(
                "errors",
                DEGRADED if high else HEALTHY,
                f"{_plural(stats.unresolved, 'unresolved error')} ({high} HIGH); "
                "see `tui-backup errors --unresolved`",
            )
        )
    else:
        checks.append(Check("errors", HEALTHY, "no unresolved errors"))
    return HealthReport(tuple(checks), scheduler, stats.to_json(), now)


def _check_home(manager: JobManager) -> Check:
    try:
        fd, path = tempfile.mkstemp(prefix=".health-", dir=manager.home.root)
        os.close(fd)
        os.unlink(path)
    except OSError as exc:
        return Check("home", UNHEALTHY, f"{manager.home.root} is not writable: {exc}")
    return Check("home", HEALTHY, f"{manager.home.root} is writable")


def _check_database(manager: JobManager) -> Check:
    problem = manager.db.check()
    if problem is None:
        pending = len(manager.db.pending())
        if pending:
            return Check(
                "database", DEGRADED, f"database works; {pending} fallback entries not yet merged"
            )
        return Check("database", HEALTHY, f"{manager.home.db_path.name} works")
    return Check(
        "database",
        DEGRADED,
        f"database unavailable ({problem}); history and errors go to "
        f"{manager.home.fallback_log.name}",
    )


def _check_scheduler(manager: JobManager, needed: bool) -> tuple[dict[str, Any] | None, Check]:
    owner: dict[str, Any] | None = None
    path = manager.home.root / "scheduler.yaml"
    with contextlib.suppress(OSError, yamlio.YAMLError):
        data = yamlio.loads(path.read_bytes())
        if isinstance(data, dict):
            owner = data
    held = is_locked(scheduler_lock_path(manager.home))
    if manager.scheduler is not None and manager.scheduler.active:
        held = True
    if held:
        info = owner or {}
        who = f"{info.get('runner', '?')} pid {info.get('pid', '?')} on {info.get('host', '?')}"
        return (
            {**info, "alive": True},
            Check("scheduler", HEALTHY, f"scheduler running in {who}"),
        )
    status = DEGRADED if needed else HEALTHY
    message = (
        "no daemon or TUI is running the scheduler: scheduled jobs will not run "
        "(start `tui-backup daemon`)"
        if needed
        else "no scheduler running (no enabled job has a schedule)"
    )
    return ({**(owner or {}), "alive": False} if owner else None), Check(
        "scheduler", status, message
    )


def _check_job(manager: JobManager, spec: JobSpec, now: datetime) -> Check:
    state = manager.state(spec.name)
    limit = max_age(spec, now)
    last_success = state.last_success
    if last_success is None:
        record = manager.db.last_run(spec.name, Status.SUCCEEDED)
        last_success = record.finished_at if record else None
    if last_success is not None:
        age = now - last_success
        if age > limit:
            return Check(
                "job",
                UNHEALTHY,
                f"{spec.name}: last success {_age_text(age)} ago, older than its max age "
                f"of {_age_text(limit)}",
                spec.name,
            )
        if state.status in (Status.FAILED, Status.INTERRUPTED):
            return Check(
                "job",
                DEGRADED,
                f"{spec.name}: last run {state.status}; last success {_age_text(age)} ago",
                spec.name,
            )
        return Check("job", HEALTHY, f"{spec.name}: last success {_age_text(age)} ago", spec.name)
    # Never succeeded: judge by how long the job has existed.
    created = None
    with contextlib.suppress(OSError):
        created = datetime.fromtimestamp(
            manager.home.job_file(spec.name).stat().st_mtime
        ).astimezone()
    created = from_iso(created) if created else None
    if created is not None and now - created <= limit:
        if state.status in (Status.FAILED, Status.INTERRUPTED):
            # A new job that has only ever failed is not healthy, merely not stale yet.
            return Check(
                "job",
                DEGRADED,
                f"{spec.name}: no successful run yet; last run {state.status}",
                spec.name,
            )
        return Check("job", HEALTHY, f"{spec.name}: no successful run yet (new job)", spec.name)
    return Check(
        "job",
        UNHEALTHY,
        f"{spec.name}: no successful run within its max age of {_age_text(limit)}",
        spec.name,
    )
