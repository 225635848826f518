"""One run of one job, from its worker thread: hooks, engine attempts, retention.

The worker never writes state, history or notifications itself; it posts
messages (below) onto the event pump's queue (``pump.py``), and the run
tracker (``runs.py``) does all of that in order on the pump's thread. That
keeps one writer per state file and lets the pump coalesce a flood of
progress into a few writes and updates.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import portalocker

from tui_backup.core import hooks as hookmod
from tui_backup.core.retry import RetryPolicy
from tui_backup.core.vocabulary import Component, Trigger, engine_component
from tui_backup.engines.api import RunOptions
from tui_backup.engines.events import EngineEvent, FileWarning, Finished, Progress
from tui_backup.model.job import JobSpec
from tui_backup.model.records import ErrorEvent, RunRecord
from tui_backup.model.secrets import mask_url
from tui_backup.model.state import JobState
from tui_backup.model.status import Severity, Status

log = logging.getLogger(__name__)

DEFAULT_OPTIONS = RunOptions()

EngineFactory = Callable[[str], Any]
"""``engine name -> engine object`` (the engine registry by default; tests inject doubles)."""


@dataclass(eq=False)
class ActiveRun:
    """A run this process owns, from ``start()`` until its final state is written."""

    name: str
    run_id: str
    spec: JobSpec
    trigger: Trigger
    lock: portalocker.Lock | None
    queued_at: datetime
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    status: Status = Status.QUEUED
    started_at: datetime | None = None
    progress: Progress | None = None
    warnings: int = 0
    message: str | None = None
    stop_reason: str | None = None
    record: RunRecord | None = None
    """The final record, set by the run tracker just before ``done``."""
    state_dirty: bool = False
    state_write_failing: bool = False
    """The last state write failed (a full home): the next failure is not logged again."""
    last_state_write: float = 0.0
    previous: JobState | None = None
    """The JobState before this run (its last result stays on the card meanwhile)."""
    next_run: datetime | None = None
    options: RunOptions = DEFAULT_OPTIONS
    """How this run differs from the job's defaults (``run --checksum``)."""
    owns_state: bool = True
    """False when the job's state file belongs to another process's run (this run,
    queued, lost its job to it): its end then writes history only."""
    errors_before: frozenset[int] = frozenset()
    """Ids of the job's unresolved errors when the run started: a success resolves them."""


# -- messages from workers (and the manager) to the run tracker ---------------------


@dataclass(frozen=True, slots=True)
class RunStarted:
    run: ActiveRun


@dataclass(frozen=True, slots=True)
class RunEvent:
    """What the run reports: the engine's Progress and FileWarning as they come, then
    exactly one Finished, the run's outcome (attempts, hooks and retention included)."""

    run: ActiveRun
    event: EngineEvent


@dataclass(frozen=True, slots=True)
class RunNote:
    """A line for the card (``retrying in 8s``); not an error."""

    run: ActiveRun
    message: str


@dataclass(frozen=True, slots=True)
class RunError:
    run: ActiveRun | None
    event: ErrorEvent


@dataclass(frozen=True, slots=True)
class RunStopping:
    run: ActiveRun


Post = Callable[[object], None]


@dataclass(frozen=True, slots=True)
class RunSettings:
    engine_factory: EngineFactory
    retry: RetryPolicy
    rng: random.Random | None = None


def execute(run: ActiveRun, post: Post, settings: RunSettings) -> None:
    """The body of a run thread. Always posts exactly one RunEvent(Finished), never raises."""
    finished: Finished
    try:
        post(RunStarted(run))
        finished = _run_stages(run, post, settings)
    except BaseException as exc:  # noqa: BLE001 - a run must always end in a record
        finished = Finished(
            Status.FAILED,
            error=f"internal error: {type(exc).__name__}: {exc}",
            error_type="internal_error",
            details=traceback.format_exc(),
        )
    post(RunEvent(run, finished))


def _env(run: ActiveRun, status: str, finished: Finished | None = None) -> dict[str, str]:
    f = finished
    return hookmod.run_env(
        os.environ,
        run.spec.env_dict,
        job=run.name,
        run_id=run.run_id,
        status=status,
        snapshot=f.snapshot_id if f else None,
        files=f.files if f else 0,
        nbytes=f.bytes if f else 0,
        warnings=f.warnings if f else run.warnings,
        error=f.error if f else None,
    )


def _run_stages(run: ActiveRun, post: Post, settings: RunSettings) -> Finished:
    spec = run.spec
    if run.cancel.is_set():
        return Finished(Status.STOPPED, error=run.stop_reason or "stopped before it started")
    if spec.hooks.before:
        post(RunNote(run, "running before hooks"))
        results = hookmod.run_stage(
            "before",
            spec.hooks.before,
            _env(run, "running"),
            spec.hook_timeout,
            run.cancel,
            stop_at_failure=True,
        )
        failed = next((r for r in results if not r.ok), None)
        if failed is not None:
            if run.cancel.is_set():
                # A stopped run is never silent: after and notification hooks still run.
                stopped = Finished(Status.STOPPED, error=run.stop_reason or "stopped")
                _after_hooks(run, post, stopped)
                return stopped
            finished = Finished(
                Status.FAILED,
                error=f"the run did not start: {failed.describe()}",
                error_type="hook_failed",
                details=failed.output,
            )
            _after_hooks(run, post, finished)
            return finished
    finished = _attempts(run, post, settings)
    if finished.status == Status.SUCCEEDED and spec.retention is not None:
        _apply_retention(run, post, settings)
    _after_hooks(run, post, finished)
    return finished


def _attempts(run: ActiveRun, post: Post, settings: RunSettings) -> Finished:
    """Run the engine, retrying transient failures with backoff and jitter."""
    attempt = 0
    while True:
        finished = _one_attempt(run, post, settings)
        if (
            finished.status != Status.FAILED
            or not finished.transient
            or attempt >= run.spec.retries
            or run.cancel.is_set()
        ):
            if finished.status == Status.FAILED and attempt:
                finished = _with_error(finished, f"{finished.error} (after {attempt + 1} attempts)")
            return finished
        attempt += 1
        delay = settings.retry.delay(attempt, settings.rng)
        note = (
            f"attempt {attempt} failed ({finished.error}); "
            f"retry {attempt} of {run.spec.retries} in {delay:.0f}s"
        )
        log.warning("%s: %s", run.name, note)
        post(RunNote(run, note))
        post(
            RunError(
                run,
                ErrorEvent(
                    severity=Severity.LOW,
                    component=engine_component(run.spec.engine),
                    error_type=finished.error_type or "transient_failure",
                    message=mask_url(f"{run.name}: {note}"),
                    job_name=run.name,
                    details=finished.details,
                ),
            )
        )
        if run.cancel.wait(delay):
            return Finished(Status.STOPPED, error=run.stop_reason or "stopped while waiting")


def _with_error(f: Finished, error: str) -> Finished:
    return Finished(
        f.status,
        f.files,
        f.bytes,
        f.warnings,
        f.snapshot_id,
        error,
        f.error_type,
        f.transient,
        f.details,
    )


def _one_attempt(run: ActiveRun, post: Post, settings: RunSettings) -> Finished:
    box: list[Finished] = []

    def emit(event: EngineEvent) -> None:
        if isinstance(event, Finished):
            if not box:
                box.append(event)
            return
        if isinstance(event, Progress | FileWarning):
            post(RunEvent(run, event))

    engine: Any = None
    try:
        engine = settings.engine_factory(run.spec.engine)
        engine.run(run.spec, run.cancel, emit, run.options)
    except Exception as exc:  # noqa: BLE001 - engines should not raise; if one does, fail
        if not box:
            box.append(
                Finished(
                    Status.FAILED,
                    error=f"the {run.spec.engine} engine failed: {type(exc).__name__}: {exc}",
                    error_type=getattr(exc, "error_type", "engine_crashed"),
                    details=traceback.format_exc(),
                )
            )
    finally:
        del engine  # no engine object outlives its attempt
    if not box:
        return Finished(
            Status.FAILED,
            error=f"the {run.spec.engine} engine ended without reporting a result",
            error_type="engine_no_result",
        )
    return box[0]


def _apply_retention(run: ActiveRun, post: Post, settings: RunSettings) -> None:
    """Forget old snapshots after a success; a failure here never fails the run."""
    engine: Any = None
    try:
        engine = settings.engine_factory(run.spec.engine)
        post(RunNote(run, "applying retention"))
        decisions = engine.forget(run.spec, run.spec.retention)
        removed = sum(1 for d in decisions or () if not d.keep)
        if removed:
            post(RunNote(run, f"retention removed {removed} snapshot(s)"))
    except Exception as exc:  # noqa: BLE001 - recorded as an error event below
        post(
            RunError(
                run,
                ErrorEvent(
                    severity=Severity.MEDIUM,
                    component=Component.RETENTION,
                    error_type=getattr(exc, "error_type", "retention_failed"),
                    message=f"{run.name}: retention could not be applied: {exc}",
                    job_name=run.name,
                    stack_trace=traceback.format_exc(),
                ),
            )
        )
    finally:
        del engine


def _after_hooks(run: ActiveRun, post: Post, finished: Finished) -> None:
    """``after`` always, then ``on_success`` or ``on_failure``; failures are warnings."""
    spec = run.spec
    stages: list[tuple[str, tuple[tuple[str, ...], ...]]] = [("after", spec.hooks.after)]
    if finished.status == Status.SUCCEEDED:
        stages.append(("on_success", spec.hooks.on_success))
    elif finished.status in (Status.FAILED, Status.INTERRUPTED):
        stages.append(("on_failure", spec.hooks.on_failure))
    env = _env(run, str(finished.status), finished)
    for stage, commands in stages:
        if not commands:
            continue
        # A stop request must not silence the failure notification: hooks after
        # the engine get a fresh cancel flag and only their own timeout.
        for result in hookmod.run_stage(stage, commands, env, spec.hook_timeout, None):
            if result.ok:
                continue
            post(
                RunError(
                    run,
                    ErrorEvent(
                        severity=Severity.LOW,
                        component=Component.HOOKS,
                        error_type="hook_failed",
                        message=f"{run.name}: {result.describe()}",
                        job_name=run.name,
                        details=result.output,
                    ),
                )
            )
