"""``tui-backup health``: one verdict for monitoring, with the reasons behind it.

``healthy`` (exit 0), ``degraded`` (1: works, but someone should look) or
``unhealthy`` (2: backups are not happening or not trustworthy). Each check
says which it contributes and why, so an alert can quote it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from tui_backup.core.breaker import BreakerState
from tui_backup.core.coordination import scheduler_lock_path
from tui_backup.core.snapshots import SnapshotOps
from tui_backup.engines.api import SnapshotInfo
from tui_backup.model import schedule as cron
from tui_backup.model.clock import from_iso, to_iso
from tui_backup.model.job import JobSpec
from tui_backup.model.records import ErrorEvent, RunRecord
from tui_backup.model.secrets import mask_url
from tui_backup.model.state import JobState, LastVerify
from tui_backup.model.status import Severity, Status
from tui_backup.model.units import human_bytes, plural
from tui_backup.store import safefile, yamlio
from tui_backup.store.db import ErrorStats
from tui_backup.store.locking import is_locked
from tui_backup.store.paths import Home


class HealthStatus(StrEnum):
    """A verdict; its ``exit_code`` is what ``tui-backup health`` exits with."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    """Works, but someone should look."""
    UNHEALTHY = "unhealthy"
    """Backups are not happening or not trustworthy."""

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self]


_EXIT_CODES = {HealthStatus.HEALTHY: 0, HealthStatus.DEGRADED: 1, HealthStatus.UNHEALTHY: 2}
HEALTHY, DEGRADED, UNHEALTHY = HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.UNHEALTHY
DEFAULT_MAX_AGE = timedelta(hours=48)
LISTING_TIMEOUT = 60.0
"""Seconds ``health`` waits for all snapshot listings (remote ones may be slow)."""


class HealthInputs(Protocol):
    """What ``health`` reads (``JobManager`` has it): queries only, nothing it could change."""

    @property
    def home(self) -> Home: ...
    @property
    def snapshots(self) -> SnapshotOps: ...
    def clock(self) -> datetime: ...
    def job_specs(self) -> tuple[JobSpec, ...]: ...
    def state(self, name: str) -> JobState: ...
    def last_run(self, name: str, status: Status | None = None) -> RunRecord | None: ...
    def errors(self, **filters: object) -> list[ErrorEvent]: ...
    def error_stats(self) -> ErrorStats: ...
    def database_status(self) -> tuple[str | None, int]: ...
    def open_breakers(self) -> list[BreakerState]: ...
    def scheduler_active(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: HealthStatus
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
    def status(self) -> HealthStatus:
        return _worst(c.status for c in self.checks)

    @property
    def exit_code(self) -> int:
        return self.status.exit_code

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


def check_health(inputs: HealthInputs, *, listing_timeout: float = LISTING_TIMEOUT) -> HealthReport:
    """Every check, judged on what is on disk now (listings, last verify), not beliefs.

    Jobs that have succeeded before get their snapshots listed (in parallel,
    bounded by ``listing_timeout``: a remote that does not answer is "could
    not check", which is not healthy).
    """
    now = inputs.clock()
    checks: list[Check] = [_check_home(inputs), _check_database(inputs)]
    everyone = inputs.job_specs()
    jobs = [j for j in everyone if j.enabled]
    scheduler, sched_check = _check_scheduler(inputs, any(j.schedule for j in jobs))
    checks.append(sched_check)
    facts = {spec.name: _facts(inputs, spec) for spec in jobs}
    listings = _list_snapshots(
        inputs, [spec for spec in jobs if facts[spec.name].succeeded], listing_timeout
    )
    for spec in jobs:
        checks.append(_check_job(inputs, spec, now, facts[spec.name], listings.get(spec.name)))
    for breaker in inputs.open_breakers():
        checks.append(
            Check(
                "circuit",
                DEGRADED,
                f"circuit open for {mask_url(breaker.destination)} "
                f"since {to_iso(breaker.opened_at)} "
                f"after {breaker.failures} failures (last: {mask_url(breaker.last_error or '?')})",
            )
        )
    stats = inputs.error_stats()
    checks.append(_check_errors(inputs, {spec.name for spec in everyone}))
    return HealthReport(tuple(checks), scheduler, stats.to_json(), now)


def _check_errors(inputs: HealthInputs, names: set[str]) -> Check:
    """Unresolved errors, not counting those of jobs that no longer exist."""
    try:
        events = inputs.errors(unresolved=True, limit=100_000)
    except Exception as exc:  # noqa: BLE001 - the database check says what is wrong
        return Check("errors", DEGRADED, f"could not read the error log: {exc}")
    live = [e for e in events if e.job_name is None or e.job_name in names]
    critical = sum(1 for e in live if e.severity == Severity.CRITICAL)
    high = sum(1 for e in live if e.severity == Severity.HIGH)
    if critical:
        return Check("errors", UNHEALTHY, f"{plural(critical, 'unresolved CRITICAL error')}")
    if live:
        return Check(
            "errors",
            DEGRADED if high else HEALTHY,
            f"{plural(len(live), 'unresolved error')} ({high} HIGH); "
            "see `tui-backup errors --unresolved`",
        )
    return Check("errors", HEALTHY, "no unresolved errors")


def _check_home(inputs: HealthInputs) -> Check:
    try:
        fd, path = tempfile.mkstemp(prefix=".health-", dir=inputs.home.root)
        os.close(fd)
        os.unlink(path)
    except OSError as exc:
        return Check("home", UNHEALTHY, f"{inputs.home.root} is not writable: {exc}")
    return Check("home", HEALTHY, f"{inputs.home.root} is writable")


def _check_database(inputs: HealthInputs) -> Check:
    problem, pending = inputs.database_status()
    if problem is None:
        if pending:
            return Check(
                "database", DEGRADED, f"database works; {pending} fallback entries not yet merged"
            )
        return Check("database", HEALTHY, f"{inputs.home.db_path.name} works")
    return Check(
        "database",
        DEGRADED,
        f"database unavailable ({problem}); history and errors go to "
        f"{inputs.home.fallback_log.name}",
    )


def _check_scheduler(inputs: HealthInputs, needed: bool) -> tuple[dict[str, Any] | None, Check]:
    owner: dict[str, Any] | None = None
    path = inputs.home.root / "scheduler.yaml"
    # read_bounded: a FIFO or a huge file planted as scheduler.yaml must never
    # hang or swamp `health`; UnsafeFile is an OSError, ValueError covers
    # yamlio's size and depth limits.
    with contextlib.suppress(OSError, ValueError, yamlio.YAMLError):
        data = yamlio.loads(safefile.read_bounded(path))
        if isinstance(data, dict):
            owner = data
    held = is_locked(scheduler_lock_path(inputs.home))
    if inputs.scheduler_active():
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


@dataclass(frozen=True, slots=True)
class _Facts:
    """What history and state say about a job's last success."""

    state: JobState
    last_success: datetime | None
    run_id: str | None
    snapshot_id: str | None

    @property
    def succeeded(self) -> bool:
        return self.last_success is not None


def _facts(inputs: HealthInputs, spec: JobSpec) -> _Facts:
    state = inputs.state(spec.name)
    record = inputs.last_run(spec.name, Status.SUCCEEDED)
    last_success = state.last_success or (record.finished_at if record else None)
    last = state.last_result
    if last is not None and last.status == Status.SUCCEEDED and last.snapshot_id:
        return _Facts(state, last_success, last.run_id, last.snapshot_id)
    if record is not None:
        return _Facts(state, last_success, record.run_id, record.snapshot_id)
    return _Facts(state, last_success, None, None)


_TIMED_OUT = object()


def _list_snapshots(inputs: HealthInputs, specs: list[JobSpec], timeout: float) -> dict[str, Any]:
    """``name -> [SnapshotInfo] | Exception | _TIMED_OUT``, listed in parallel.

    Daemon threads, so a remote that never answers cannot keep the process
    alive; whatever has not answered by the deadline counts as timed out.
    """
    results: dict[str, Any] = {}
    lock = threading.Lock()

    def work(spec: JobSpec) -> None:
        try:
            found: Any = inputs.snapshots.list(spec)
        except Exception as exc:  # noqa: BLE001 - reported as "could not check"
            found = exc
        with lock:
            results[spec.name] = found

    threads = [
        threading.Thread(target=work, args=(spec,), name=f"health-list-{spec.name}", daemon=True)
        for spec in specs
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        return {spec.name: results.get(spec.name, _TIMED_OUT) for spec in specs}


def _worst(statuses: Iterable[HealthStatus]) -> HealthStatus:
    return max(statuses, key=lambda status: status.exit_code, default=HEALTHY)


def _check_job(
    inputs: HealthInputs, spec: JobSpec, now: datetime, facts: _Facts, listing: Any
) -> Check:
    """One check per job: its runs, its snapshots on disk now, its last verify."""
    reasons = [_runs_reason(inputs, spec, now, facts)]
    if facts.succeeded:
        reasons.append(_snapshots_reason(spec, now, facts, listing))
    verify = _verify_reason(facts.state.last_verify, now)
    if verify is not None:
        reasons.append(verify)
    overdue = _verify_overdue(inputs, spec, facts.state.last_verify, now)
    if overdue is not None:
        reasons.append(overdue)
    status = _worst(s for s, _ in reasons)
    # The reasons that make the verdict come first; what is fine follows.
    ordered = [text for s, text in reasons if s != HEALTHY] + [
        text for s, text in reasons if s == HEALTHY
    ]
    return Check("job", status, f"{spec.name}: " + "; ".join(ordered), spec.name)


def _snapshots_reason(
    spec: JobSpec, now: datetime, facts: _Facts, listing: Any
) -> tuple[HealthStatus, str]:
    if listing is _TIMED_OUT or listing is None:
        return DEGRADED, "could not check its snapshots: the listing did not answer in time"
    if isinstance(listing, BaseException):
        return DEGRADED, f"could not check its snapshots: {mask_url(str(listing))}"
    snaps: list[SnapshotInfo] = list(listing)
    if not snaps:
        when = _age_text(now - facts.last_success) if facts.last_success else "?"
        run = f"run {facts.run_id}" if facts.run_id else "a run"
        return (
            UNHEALTHY,
            f"the destination holds no snapshots although {run} succeeded {when} ago "
            "(deleted, or the disk is not mounted?)",
        )
    newest = max(snaps, key=lambda s: s.time)
    age = now - newest.time.astimezone()
    limit = max_age(spec, now)
    count = plural(len(snaps), "snapshot")
    if age > limit:
        return (
            UNHEALTHY,
            f"newest snapshot {newest.id} is {_age_text(age)} old, older than its max age "
            f"of {_age_text(limit)} ({count})",
        )
    if facts.snapshot_id and not any(_same_id(facts.snapshot_id, s.id) for s in snaps):
        return (
            DEGRADED,
            f"snapshot {facts.snapshot_id} of the last successful run is missing from the "
            f"destination ({count} left)",
        )
    return HEALTHY, f"{count}, newest {_age_text(age)} old"


def _same_id(a: str, b: str) -> bool:
    """Snapshot ids match, also a short id against a long one (restic)."""
    return a == b or (min(len(a), len(b)) >= 8 and (a.startswith(b) or b.startswith(a)))


def _verify_overdue(
    inputs: HealthInputs, spec: JobSpec, last: LastVerify | None, now: datetime
) -> tuple[HealthStatus, str] | None:
    """A ``verify.schedule`` whose verifies stopped happening (more than two intervals)."""
    schedule = spec.verify.schedule
    if not schedule:
        return None
    try:
        limit = timedelta(hours=2 * cron.interval_hours(schedule, now))
    except Exception:  # noqa: BLE001 - validated on load; never break health
        return None
    since = last.time if last is not None else _defined_at(inputs, spec)
    if since is None or now - since <= limit:
        return None
    what = f"last verify {_age_text(now - last.time)} ago" if last else "never verified"
    return (
        DEGRADED,
        f"{what}, although its verify schedule expects one every "
        f"{_age_text(limit / 2)} (is the scheduler running?)",
    )


def _defined_at(inputs: HealthInputs, spec: JobSpec) -> datetime | None:
    try:
        return datetime.fromtimestamp(inputs.home.job_file(spec.name).stat().st_mtime).astimezone()
    except OSError:
        return None


def _verify_reason(last: LastVerify | None, now: datetime) -> tuple[HealthStatus, str] | None:
    if last is None:
        return None
    age = _age_text(now - last.time)
    if last.outcome == "damaged":
        return DEGRADED, f"last verify ({age} ago) found damage: {last.detail or '?'}"
    if last.outcome == "unchecked":
        return DEGRADED, f"last verify ({age} ago) could not check: {last.detail or '?'}"
    size = human_bytes(last.bytes) if last.bytes_known else "bytes unknown"
    return HEALTHY, f"verified ok {age} ago ({plural(last.files, last.unit)}, {size})"


def _runs_reason(
    inputs: HealthInputs, spec: JobSpec, now: datetime, facts: _Facts
) -> tuple[HealthStatus, str]:
    state = facts.state
    limit = max_age(spec, now)
    last_success = facts.last_success
    if last_success is not None:
        age = now - last_success
        if age > limit:
            return (
                UNHEALTHY,
                f"last success {_age_text(age)} ago, older than its max age of {_age_text(limit)}",
            )
        if state.status in (Status.FAILED, Status.INTERRUPTED):
            return DEGRADED, f"last run {state.status}; last success {_age_text(age)} ago"
        return HEALTHY, f"last success {_age_text(age)} ago"
    # Never succeeded: judge by how long the job has existed.
    created = None
    with contextlib.suppress(OSError):
        created = datetime.fromtimestamp(
            inputs.home.job_file(spec.name).stat().st_mtime
        ).astimezone()
    created = from_iso(created) if created else None
    if created is not None and now - created <= limit:
        if state.status in (Status.FAILED, Status.INTERRUPTED):
            # A new job that has only ever failed is not healthy, merely not stale yet.
            return DEGRADED, f"no successful run yet; last run {state.status}"
        return HEALTHY, "no successful run yet (new job)"
    return UNHEALTHY, f"no successful run within its max age of {_age_text(limit)}"
