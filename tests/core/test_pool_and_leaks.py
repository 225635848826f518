"""The bounded pool under load, update ordering and rate, and no leaks over many runs."""

from __future__ import annotations

import gc
import itertools
import os
import pathlib
import threading
import time
import tracemalloc
from pathlib import Path

from corehelpers import Recorder, add_job
from testengine import Plan, ScriptedEngine

from tui_backup.core.events import JobsChanged, ManagerEvent
from tui_backup.core.manager import JobManager
from tui_backup.model.status import Status
from tui_backup.store.state import StateStore

ORDER = {Status.QUEUED: 0, Status.RUNNING: 1, Status.SUCCEEDED: 2}


def test_fifty_jobs_through_a_pool_of_four(make_manager, plan: Plan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manager: JobManager = make_manager()
    manager.set_max_concurrent_jobs(4)
    names = [f"job{i:02d}" for i in range(50)]
    for name in names:
        add_job(manager, tmp_path, name)
    plan.default.steps = 5
    plan.default.step_delay = 0.002
    plan.default.gate = threading.Event()
    rec = Recorder()
    manager.subscribe(rec)
    for name in names:
        manager.start(name)
    statuses = [manager.state(n).status for n in names]
    assert statuses.count(Status.QUEUED) == 46 and statuses.count(Status.RUNNING) == 4
    assert manager.running_here() == tuple(names)
    plan.default.gate.set()
    for name in names:
        record = manager.wait(name, timeout=60)
        assert record is not None and record.status == Status.SUCCEEDED, name
    assert manager.drain_events()
    assert plan.max_active == 4

    updates = [
        (t, e) for t, e in zip(rec.times, rec.events, strict=True) if isinstance(e, JobsChanged)
    ]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(updates)]
    # The consumer spaces batches >= 0.1 s apart; delivery jitter on a loaded
    # machine can shift single callbacks a little, the overall rate cannot.
    span = updates[-1][0] - updates[0][0]
    assert len(updates) <= 10 * span + 2, "more than 10 JobsChanged per second"
    assert min(gaps) >= 0.05
    assert rec.threads == {"tui-backup-events"}, "callbacks must run on the manager's thread"
    for name in names:
        seen = [v for _, e in updates for v in e.views if v.name == name]  # type: ignore[union-attr]
        ranks = [ORDER[v.status] for v in seen]
        assert ranks == sorted(ranks), (name, [v.status for v in seen])
        assert seen[-1].status == Status.SUCCEEDED and ranks.count(2) == 1
        done = [v.state.progress.files_done for v in seen if v.state.progress]
        assert done == sorted(done), (name, done)
    states = StateStore(manager.home)
    assert all(states.read(n).status == Status.SUCCEEDED for n in names)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


FRESH_PROCESS = "TUI_BACKUP_LEAK_TEST_CHILD"
"""Set in the child pytest that runs the leak test alone in a fresh interpreter."""


def test_threads_objects_memory_flat_after_200_runs(
    make_manager,
    plan: Plan,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Measured in a fresh interpreter, so no earlier test (paths, caches) moves the figure."""
    if os.environ.get(FRESH_PROCESS) != "1":
        import subprocess
        import sys

        node = f"{__file__}::test_threads_objects_memory_flat_after_200_runs"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                node,
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:xdist",
            ],
            env={**os.environ, FRESH_PROCESS: "1"},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout[-4000:]
        return
    manager: JobManager = make_manager()
    add_job(manager, tmp_path, "docs")
    count = [0]

    def counter(event: ManagerEvent) -> None:
        count[0] += 1

    manager.subscribe(counter)

    def cycle() -> None:
        manager.start("docs")
        record = manager.wait("docs", timeout=10)
        assert record is not None and record.status == Status.SUCCEEDED

    tracemalloc.start()
    try:
        for _ in range(20):  # warm up caches, the db connection, the consumer thread
            cycle()
        gc.collect()
        threads0, fds0 = threading.active_count(), _fds()
        before = tracemalloc.take_snapshot()
        for _ in range(200):
            cycle()
        deadline = time.monotonic() + 5
        while threading.active_count() > threads0 and time.monotonic() < deadline:
            time.sleep(0.01)  # a run thread may still be returning after its last post
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    # pathlib interns path strings; the interpreter-wide intern table may resize
    # once (a single ~2 MB block) as the runs make paths.
    ignore = [tracemalloc.Filter(False, pathlib.__file__), tracemalloc.Filter(False, "<unknown>")]
    growth = sum(
        s.size_diff
        for s in after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "filename")
    )
    assert threading.active_count() == threads0, [t.name for t in threading.enumerate()]
    assert _fds() == fds0
    assert [o for o in gc.get_objects() if isinstance(o, ScriptedEngine)] == []
    assert growth < 256 * 1024, f"memory grew by {growth} bytes over 200 runs"
    assert len(manager.history("docs", limit=500)) == 220
    assert count[0] > 0
