"""A TUI stays live across a daemon that is SIGKILLed and started again (issue 10).

QA once saw a TUI stop updating after a daemon restart (not reproduced). Here a
real app (Pilot, watchers on) is open on a home while a real ``tui-backup
daemon`` runs a job scheduled ``* * * * *``. The daemon is killed with
SIGKILL in the middle of a run (held in a ``before`` hook until a gate file
exists), the card must then say the run was interrupted, a new daemon is
started, and two runs of the new daemon must show on the card, so the TUI is
not left on what the first daemon wrote.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_tui_soak import _rewind_slots
from tui_helpers import until

from tui_backup.core.manager import JobManager
from tui_backup.model.job import parse_job
from tui_backup.model.status import Status
from tui_backup.store.paths import HOME_ENV, Home
from tui_backup.tui.app import BackupApp

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

WAIT = 90.0
"""A generous wait for a run the daemon starts at its next wake (not a threshold)."""


class Daemons:
    """Real daemons on one home; every one started is killed at the end."""

    def __init__(self, home: Home, log: Path) -> None:
        self.env = {**os.environ, HOME_ENV: str(home.root)}
        self.log = log
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tui_backup", "daemon", "-v"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[tuple[Home, Daemons]]:
    home = Home(tmp_path / "home")
    home.ensure()
    src = tmp_path / "src"
    src.mkdir()
    for i in range(50):
        (src / f"f{i}.txt").write_text("x" * 1000)
    gate = tmp_path / "gate"
    wait_for_gate = f"import os, time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.05)"
    setup = JobManager(home, runner="cli", recover=False)
    setup.create(
        parse_job(
            {
                "name": "tick",
                "sources": [str(src)],
                "destination": str(tmp_path / "dest"),
                "schedule": "* * * * *",
                "hooks": {"before": [[sys.executable, "-c", wait_for_gate]]},
            }
        )
    )
    setup.shutdown()
    group = Daemons(home, tmp_path / "daemon.log")
    try:
        yield home, group
    finally:
        group.close()


def _status(app: BackupApp) -> Status | None:
    main = app.main_screen
    view = main.jobs.views.get("tick") if main is not None else None
    return view.status if view is not None else None


def _run_id(app: BackupApp) -> str | None:
    main = app.main_screen
    view = main.jobs.views.get("tick") if main is not None else None
    last = view.state.last_result if view is not None else None
    return last.run_id if last is not None else None


async def test_runs_of_a_restarted_daemon_show_on_an_open_tui(
    daemons: tuple[Home, Daemons],
) -> None:
    home, group = daemons
    app = BackupApp(home, watch=True, scheduler=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            main = app.main_screen
            assert main is not None
            await until(pilot, lambda: main.jobs.row_count == 1, timeout=30)
            await until(pilot, lambda: main.header.watch_mode in ("live", "polling"))

            first = group.start()
            _rewind_slots(home)
            # the first daemon's run, held in its before hook, shows as running
            await until(pilot, lambda: _status(app) is Status.RUNNING, timeout=WAIT)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
            (home.root.parent / "gate").touch()  # the orphaned hook ends; later runs pass
            await until(pilot, lambda: _status(app) is Status.INTERRUPTED, timeout=WAIT)
            seen = {_run_id(app)}

            for _ in range(2):  # two runs of the new daemon, each seen by the TUI
                if len(group.started) == 1:
                    group.start()
                _rewind_slots(home)
                await until(pilot, lambda: _run_id(app) not in seen, timeout=WAIT)
                seen.add(_run_id(app))
            assert group.started[-1].poll() is None, "the new daemon ended"
    finally:
        app.manager.shutdown()
