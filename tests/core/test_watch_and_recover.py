"""Other processes' runs and hand edits reach subscribers; dead runs become interrupted once."""

from __future__ import annotations

import threading
from pathlib import Path

from corehelpers import Recorder, add_job
from testengine import Plan

from tui_backup.core.events import JobsChanged, JobsRemoved, WatchChanged
from tui_backup.core.manager import JobManager
from tui_backup.core.watcher import Watcher
from tui_backup.model.clock import utcnow
from tui_backup.model.state import JobState
from tui_backup.model.status import Status
from tui_backup.store.yamlio import dumps


def test_runs_elsewhere_and_hand_edits_arrive(
    make_manager,
    plan: Plan,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    runner: JobManager = make_manager()
    viewer: JobManager = make_manager(runner="tui")
    add_job(runner, tmp_path, "docs")
    rec = Recorder()
    viewer.subscribe(rec)
    viewer.start_watching()
    rec.wait_for(lambda e: isinstance(e, WatchChanged) and e.mode == "live")
    plan["docs"].gate = threading.Event()
    runner.start("docs")
    rec.wait_for(
        lambda e: (
            isinstance(e, JobsChanged)
            and any(v.name == "docs" and v.status == Status.RUNNING for v in e.views)
        )
    )
    # Within a second by design (200 ms debounce): a latency, measured in benchmarks/,
    # not bounded here (a busy CI machine makes time bounds flaky).
    plan["docs"].gate.set()
    runner.wait("docs", timeout=10)
    rec.wait_for(
        lambda e: (
            isinstance(e, JobsChanged)
            and any(v.name == "docs" and v.status == Status.SUCCEEDED for v in e.views)
        )
    )
    # A hand edit of a job file, then its removal.
    path = viewer.home.job_file("hand")
    (tmp_path / "hand-src").mkdir()
    path.write_text(
        dumps({"name": "hand", "sources": [str(tmp_path / "hand-src")], "destination": "/tmp/x"})
    )
    rec.wait_for(lambda e: isinstance(e, JobsChanged) and any(v.name == "hand" for v in e.views))
    path.unlink()
    rec.wait_for(lambda e: isinstance(e, JobsRemoved) and "hand" in e.names)


def test_polling_fallback_reports_changes(home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    changes: list[frozenset[str]] = []
    statuses: list[WatchChanged] = []
    seen = threading.Event()

    def on_change(names: frozenset[str], definitions: bool) -> None:
        changes.append(names)
        seen.set()

    watcher = Watcher(home, on_change, statuses.append, force_polling=True, poll_interval=0.1)
    scanned = threading.Event()  # the first scan is the baseline: write only after it
    real_scan = watcher._scan

    def scan() -> dict[str, tuple[int, int, int]]:
        result = real_scan()
        scanned.set()
        return result

    watcher._scan = scan  # type: ignore[method-assign]
    watcher.start()
    try:
        assert scanned.wait(5)
        home.state_file("web").write_text("status: idle\n")
        assert seen.wait(5)
    finally:
        watcher.stop()
    assert statuses[0].mode == "polling"
    assert frozenset({"web"}) in changes


def test_dead_runner_recorded_interrupted_exactly_once(
    make_manager,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    first: JobManager = make_manager()
    add_job(first, tmp_path, "docs")
    # A runner that died: its state says running, nobody holds the lock.
    first.states.write(
        JobState(
            name="docs",
            status=Status.RUNNING,
            run_id="deadbeef",
            pid=999999,
            host="gone",
            runner="daemon",
            started_at=utcnow(),
        )
    )
    managers = [make_manager(recover=False) for _ in range(4)]
    barrier = threading.Barrier(len(managers))
    found: list[list[str]] = []

    def notice(m: JobManager) -> None:
        barrier.wait()
        found.append(m.recover_interrupted())

    threads = [threading.Thread(target=notice, args=(m,)) for m in managers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(f) for f in found) == [0, 0, 0, 1]
    assert first.state("docs").status == Status.INTERRUPTED
    runs = first.history("docs")
    assert [(r.run_id, r.status) for r in runs] == [("deadbeef", Status.INTERRUPTED)]
    events = [e for e in first.errors(job="docs") if e.error_type == "run_interrupted"]
    assert len(events) == 1 and events[0].component == "coordination"


def test_startup_recovery(make_manager, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first: JobManager = make_manager()
    add_job(first, tmp_path, "docs")
    first.states.write(JobState(name="docs", status=Status.QUEUED, run_id="q1", pid=999999))
    second: JobManager = make_manager()  # recovers at start-up
    assert second.state("docs").status == Status.INTERRUPTED
    assert second.start("docs")
    assert second.wait("docs", timeout=10).status == Status.SUCCEEDED  # type: ignore[union-attr]


def test_watching_process_sees_a_killed_runner_as_interrupted(
    make_manager,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    import signal
    import subprocess
    import sys

    viewer: JobManager = make_manager(runner="tui")
    add_job(viewer, tmp_path, "docs")
    rec = Recorder()
    viewer.subscribe(rec)
    viewer.start_watching()
    runner = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).parent / "gated_runner.py"),
            str(viewer.home.root),
            "docs",
            str(tmp_path / "never"),
        ]
    )
    try:
        rec.wait_for(
            lambda e: (
                isinstance(e, JobsChanged)
                and any(v.name == "docs" and v.state.progress for v in e.views)
            ),
            timeout=15,
        )
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
        rec.wait_for(
            lambda e: (
                isinstance(e, JobsChanged)
                and any(v.name == "docs" and v.status == Status.INTERRUPTED for v in e.views)
            ),
            timeout=30,
        )
    finally:
        if runner.poll() is None:
            runner.kill()
    assert viewer.history("docs")[0].status == Status.INTERRUPTED
