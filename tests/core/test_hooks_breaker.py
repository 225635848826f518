"""Hooks (argv, no shell, env, timeout, failures) and the circuit breaker's states."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from corehelpers import add_job
from testengine import Plan

from tui_backup.core.breaker import CircuitBreakers
from tui_backup.core.hooks import run_hook
from tui_backup.core.manager import JobManager
from tui_backup.model.status import Status
from tui_backup.store.paths import Home

SLEEP = 86_413
"""Seconds no test waits for; an odd number so the processes are ours to find."""


def _sleepers(seconds: int) -> list[int]:
    """Pids of ``sleep SECONDS`` processes still running."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[:2] == [b"sleep", str(seconds).encode()]:
            found.append(int(pid))
    return found


def _wait_for(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll ``check`` until true or ``timeout`` (a hang guard, not a speed bound)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_failing_before_hook_fails_the_run(manager: JobManager, plan: Plan, tmp_path: Path) -> None:
    marker = tmp_path / "on_failure-ran"
    add_job(
        manager,
        tmp_path,
        "docs",
        hooks={
            "before": [["sh", "-c", "echo cannot mount >&2; exit 4"]],
            "on_failure": [["sh", "-c", f'echo "$TUI_BACKUP_STATUS $TUI_BACKUP_ERROR" > {marker}']],
        },
    )
    manager.start("docs")
    record = manager.wait("docs", timeout=10)
    assert record is not None and record.status == Status.FAILED
    assert "before hook" in (record.error or "") and "exited 4" in (record.error or "")
    assert "cannot mount" in (record.error or "")
    assert plan["docs"].attempts == 0  # the engine never ran
    assert marker.read_text().startswith("failed the run did not start")
    events = manager.errors(job="docs")
    assert [(e.component, e.error_type) for e in events] == [("hooks", "hook_failed")]


def test_failing_after_hook_is_a_warning(manager: JobManager, tmp_path: Path) -> None:
    add_job(manager, tmp_path, "docs", hooks={"after": [["false"]], "on_success": [["true"]]})
    manager.start("docs")
    record = manager.wait("docs", timeout=10)
    assert record is not None and record.status == Status.SUCCEEDED
    events = manager.errors(job="docs")
    assert len(events) == 1 and events[0].severity == "LOW" and "after hook" in events[0].message


def test_hooks_get_the_run_in_their_environment(manager: JobManager, tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    add_job(
        manager,
        tmp_path,
        "docs",
        env={"EXTRA": "from-job"},
        hooks={"on_success": [["sh", "-c", f"env | grep -E '^(TUI_BACKUP_|EXTRA)' > {out}"]]},
    )
    run_id = manager.start("docs")
    manager.wait("docs", timeout=10)
    env = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert env["TUI_BACKUP_JOB"] == "docs"
    assert env["TUI_BACKUP_STATUS"] == "succeeded"
    assert env["TUI_BACKUP_SNAPSHOT"] == "snap-1"
    assert env["TUI_BACKUP_FILES"] == "3" and env["TUI_BACKUP_BYTES"] == "30"
    assert env["TUI_BACKUP_RUN_ID"] == run_id
    assert env["TUI_BACKUP_WARNINGS"] == "0" and env["TUI_BACKUP_ERROR"] == ""
    assert env["EXTRA"] == "from-job"


def test_hook_runs_without_a_shell_and_times_out(tmp_path: Path) -> None:
    result = run_hook("after", ["echo", "$HOME; rm -rf /"], {"PATH": "/usr/bin:/bin"}, 5)
    assert result.ok and result.output.strip() == "$HOME; rm -rf /"
    # Sleeps that outlive the test's timeout (no time bound here: a busy machine makes
    # those flaky): only killing the hook's whole process group lets run_hook return.
    slow = run_hook(
        "after", ["sh", "-c", f"sleep {SLEEP} & sleep {SLEEP}"], {"PATH": "/usr/bin:/bin"}, 0.3
    )
    assert not slow.ok and "timed out" in (slow.problem or "")
    gone = _wait_for(lambda: _sleepers(SLEEP) == [])  # SIGKILLed: gone once the kernel reaps
    assert gone, "the hook's background child outlived its timeout"
    # A background process left holding the hook's stdout does not keep us waiting: were
    # it waited for, the hook would time out (not ok) instead of reporting "mounted".
    bg_sleep = SLEEP + 1
    bg = run_hook(
        "before", ["sh", "-c", f"sleep {bg_sleep} & echo mounted"], {"PATH": "/usr/bin:/bin"}, 5
    )
    try:
        assert bg.ok and bg.output.strip() == "mounted", bg
    finally:
        for pid in _sleepers(bg_sleep):
            os.kill(pid, signal.SIGKILL)
    chatty = run_hook(
        "after", ["sh", "-c", "yes | head -c 1000000; echo last"], {"PATH": "/usr/bin:/bin"}, 5
    )
    assert chatty.ok and chatty.output.endswith("last\n") and len(chatty.output) <= 2000
    missing = run_hook("after", ["/nonexistent/notify"], {}, 5)
    assert not missing.ok and "could not start" in (missing.problem or "")


def test_breaker_opens_cools_off_probes_and_closes(home: Home) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    a = CircuitBreakers(home, threshold=5, cool_off=timedelta(minutes=30), clock=lambda: now[0])
    b = CircuitBreakers(home, threshold=5, cool_off=timedelta(minutes=30), clock=lambda: now[0])
    dest = "/mnt/nas"
    for i in range(4):
        a.record(dest, False, "unreachable")
        assert b.allow_scheduled(dest).allowed, i
    a.record(dest, False, "unreachable")
    decision = b.allow_scheduled(dest)  # another process agrees: it is persisted
    assert not decision.allowed and "5 failures" in decision.reason
    now[0] += timedelta(minutes=31)
    probe = b.allow_scheduled(dest)
    assert probe.allowed and probe.probe
    assert not a.allow_scheduled(dest).allowed  # only one probe at a time
    a.record(dest, False, "still down")  # failed probe: a new cool-off
    assert not a.allow_scheduled(dest).allowed
    now[0] += timedelta(minutes=31)
    assert a.allow_scheduled(dest).probe
    a.record(dest, True)
    assert b.allow_scheduled(dest).allowed and not b.get(dest).is_open
    assert b.get(dest).failures == 0


def test_success_resets_the_failure_count(home: Home) -> None:
    breakers = CircuitBreakers(home)
    for _ in range(4):
        breakers.record("/d", False, "x")
    breakers.record("/d", True)
    for _ in range(4):
        breakers.record("/d", False, "x")
    assert not breakers.get("/d").is_open


def test_backoff_doubles_with_jitter_and_a_cap() -> None:
    import random

    from tui_backup.core.retry import RetryPolicy

    policy = RetryPolicy(base=5, factor=2, cap=60, jitter=0.5)
    rng = random.Random(7)
    for attempt, full in ((1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (9, 60)):
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(full * 0.5 <= d <= full for d in delays), attempt
        assert max(delays) - min(delays) > full * 0.3  # really jittered
