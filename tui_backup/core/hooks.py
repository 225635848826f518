"""Hook commands run around a job: argv lists, no shell, a timeout, run facts in env.

Hooks are how people wire up notifications (mail, healthchecks.io, chat
webhooks), so they get everything about the run in ``TUI_BACKUP_*``
variables. They run in their own process group so a timeout or a stop kills
the whole command (``sh -c "curl ... | mail"`` included), and their output is
captured in a temporary file (the tail goes into the warning or error message).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

log = logging.getLogger(__name__)

OUTPUT_TAIL = 2000
"""Characters of a hook's output kept for messages."""


@dataclass(frozen=True, slots=True)
class HookResult:
    stage: str
    argv: tuple[str, ...]
    returncode: int | None
    """None when the command could not start, timed out or was stopped."""
    output: str = ""
    problem: str | None = None
    """Why it counts as failed: None when it exited 0."""

    @property
    def ok(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        text = f"{self.stage} hook {' '.join(self.argv)!r} {self.problem}"
        tail = self.output.strip()
        if tail:
            text += f": {tail.splitlines()[-1][:300]}"
        return text


def run_env(
    base: Mapping[str, str],
    job_env: Mapping[str, str],
    *,
    job: str,
    run_id: str,
    status: str,
    snapshot: str | None = None,
    files: int = 0,
    nbytes: int = 0,
    warnings: int = 0,
    error: str | None = None,
) -> dict[str, str]:
    """The environment a hook sees: ours, the job's ``env``, then the run's facts."""
    env = dict(base)
    env.update(job_env)
    env.update(
        {
            "TUI_BACKUP_JOB": job,
            "TUI_BACKUP_RUN_ID": run_id,
            "TUI_BACKUP_STATUS": status,
            "TUI_BACKUP_SNAPSHOT": snapshot or "",
            "TUI_BACKUP_FILES": str(files),
            "TUI_BACKUP_BYTES": str(nbytes),
            "TUI_BACKUP_WARNINGS": str(warnings),
            "TUI_BACKUP_ERROR": error or "",
        }
    )
    return env


def run_hook(
    stage: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    timeout: float,
    cancel: threading.Event | None = None,
    cwd: str | None = None,
) -> HookResult:
    """Run one hook to completion, timeout or cancel; never raises.

    Output goes to an unnamed temporary file, not a pipe: a hook that leaves
    a background process behind (``sshfs``, ``cmd &``) holding its stdout
    must not keep us waiting for an end-of-file that never comes.
    """
    argv = tuple(argv)
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            return HookResult(stage, argv, None, "", f"could not start ({exc.strerror or exc})")
        deadline = time.monotonic() + timeout
        problem: str | None = None
        while True:
            try:
                proc.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
            if cancel is not None and cancel.is_set():
                problem = "was stopped with the run"
                _kill_group(proc)
                break
            if time.monotonic() >= deadline:
                problem = f"timed out after {timeout:g}s"
                _kill_group(proc)
                break
        output = _tail(out)
    code = proc.returncode
    if problem is None and code != 0:
        problem = (
            f"was killed by signal {-code}" if code is not None and code < 0 else f"exited {code}"
        )
    return HookResult(stage, argv, None if problem and code is None else code, output, problem)


def _tail(fh: IO[bytes]) -> str:
    """The last OUTPUT_TAIL characters a hook wrote."""
    size = fh.seek(0, os.SEEK_END)
    fh.seek(max(0, size - 4 * OUTPUT_TAIL))
    return fh.read().decode("utf-8", "replace")[-OUTPUT_TAIL:]


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the hook's process group, then SIGKILL if it lingers."""
    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_stage(
    stage: str,
    commands: Sequence[Sequence[str]],
    env: Mapping[str, str],
    timeout: float,
    cancel: threading.Event | None = None,
    *,
    stop_at_failure: bool = False,
) -> list[HookResult]:
    """Run a stage's commands in order; ``before`` stops at its first failure."""
    results: list[HookResult] = []
    for argv in commands:
        result = run_hook(stage, argv, env, timeout, cancel)
        results.append(result)
        if result.ok:
            log.info("%s hook %s succeeded", stage, list(argv))
        elif cancel is not None and cancel.is_set():
            log.info("%s", result.describe())
            break
        else:
            log.warning("%s", result.describe())
            if stop_at_failure:
                break
    return results
