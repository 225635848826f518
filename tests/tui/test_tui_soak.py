"""A TUI left open while a daemon and the CLI change everything (issue 10, item 5).

A real app (Pilot, watchers on, at 80x24 so the list scrolls) on a real home,
while a real ``tui-backup daemon`` runs 20 jobs scheduled ``* * * * *`` (the
test also moves the scheduler's remembered slots back now and then, so every
idle job is due again at the daemon's next wake instead of once a minute), and
the CLI, in other processes, adds, edits and removes jobs, runs jobs that fail
(each records an error) and resolves errors. Keys move the cursor meanwhile.

At the end the daemon is stopped and, after waiting on conditions, every
card, the error pane and the header must equal what ``job list --json`` and
``errors --json`` say; the TUI must never have raised.

Each change the CLI makes must also show while everything runs (an add, an
edit, a removal, an error recorded or resolved elsewhere), waited for as it
happens.

Duration: ``TUI_BACKUP_SOAK_SECONDS`` (default 60, what CI runs; try 600+
locally). ``TUI_BACKUP_SOAK_SEED`` repeats a run's choices;
``TUI_BACKUP_SOAK_SIZE`` (default ``80x24``) sets the terminal.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tui_backup.model.job import parse_job
from tui_backup.model.status import Status
from tui_backup.store import safefile
from tui_backup.store.locking import file_lock
from tui_backup.store.paths import HOME_ENV, Home
from tui_backup.tui.app import BackupApp
from tui_backup.tui.screens.main import MainScreen

DURATION = float(os.environ.get("TUI_BACKUP_SOAK_SECONDS", "60"))
SEED = int(os.environ.get("TUI_BACKUP_SOAK_SEED", str(random.randrange(1 << 30))))
JOBS = 20
BROKEN = 4
"""Of the 20 jobs, these many have a source that does not exist: every run fails."""
_WIDTH, _HEIGHT = os.environ.get("TUI_BACKUP_SOAK_SIZE", "80x24").split("x")
SIZE = (int(_WIDTH), int(_HEIGHT))
"""The terminal: 80x24 (the list scrolls, the footer overflows) or e.g. 120x40."""
LIVE = 30.0
"""How long one change made elsewhere may take to show (a wait, not a threshold:
the issue asks for about a second; this only fails when it never comes)."""
SETTLE = 60.0
"""How long the TUI may take to agree with the CLI once everything stopped."""

pytestmark = [pytest.mark.slow, pytest.mark.timeout(int(DURATION) + 600)]


class Cli:
    """The real CLI in other processes; awaited so the app keeps running meanwhile."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.env = {**os.environ, HOME_ENV: str(home.root), "COLUMNS": "200"}
        self.calls = 0

    async def __call__(self, *args: str) -> tuple[int, str, str]:
        self.calls += 1
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tui_backup",
            *args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def json(self, *args: str) -> Any:
        code, out, err = await self(*args, "--json")
        assert code == 0, err
        return json.loads(out)


def _tree(root: Path, rng: random.Random) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(rng.randint(2, 6)):
        (root / f"f{i}.txt").write_text("x" * rng.randint(10, 4000))


def _rewind_slots(home: Home) -> None:
    """Every job's last handled slot an hour back: each idle job is due at the next wake.

    Written under the scheduler's own lock for that file, as the daemon writes it.
    """
    names = [p.stem for p in home.jobs_dir.glob("*.yaml")]
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with file_lock(home.write_lock("scheduler", "slots"), 10.0, what="scheduler-slots.yaml"):
        safefile.write_locked(
            home.root / "scheduler-slots.yaml",
            safefile.dump({name: hour_ago for name in sorted(names)}),
        )


async def _until(pilot: Pilot, condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        await pilot.pause(0.1)


async def _tui_jobs(
    pilot: Pilot, main: MainScreen
) -> dict[str, tuple[str, int, str | None, str | None]]:
    """What each card shows: status, version, schedule, last result.

    The status is read from the card's rendered cell, scrolled into view first as
    a person would (rows out of view are rendered when they come back).
    """
    out: dict[str, tuple[str, int, str | None, str | None]] = {}
    table = main.jobs
    for row, name in enumerate(table.shown_names):
        table.move_cursor(row=row, animate=False)
        await pilot.pause()
        view = table.views[name]
        status_line = str(table.get_cell(name, "status")).splitlines()[0]
        last = view.state.last_result
        out[name] = (
            status_line.split(" ", 1)[0],
            view.spec.version,
            view.spec.schedule,
            str(last.status) if last else None,
        )
    return out


def _cli_jobs(listing: list[dict[str, Any]]) -> dict[str, tuple[str, int, str | None, str | None]]:
    return {
        job["name"]: (
            job["status"],
            job["version"],
            job["schedule"],
            job["last_run"]["status"] if job.get("last_run") else None,
        )
        for job in listing
    }


def _tui_errors(main: MainScreen) -> tuple[set[int], int, str]:
    rows = {e.id for e in main.errors.shown_events if e.id is not None and not e.resolved}
    title = str(main.query_one("#errors-pane").border_title)
    return rows, main.header.unresolved, title


async def test_tui_stays_exact_while_a_daemon_and_the_cli_change_everything(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    print(f"soak: {DURATION:.0f}s, seed {SEED}")
    home = Home(tmp_path / "home")
    home.ensure()
    cli = Cli(home)
    from tui_backup.core.manager import JobManager

    setup = JobManager(home, runner="cli", recover=False)
    for i in range(JOBS):
        src = tmp_path / "src" / f"job-{i:02d}"
        if i >= BROKEN:
            _tree(src, rng)
        setup.create(
            parse_job(
                {
                    "name": f"job-{i:02d}",
                    "sources": [str(src)],
                    "destination": str(tmp_path / "dest" / f"job-{i:02d}"),
                    "schedule": "* * * * *",
                }
            )
        )
    setup.shutdown()
    (tmp_path / "dest").mkdir()

    daemon_log = (tmp_path / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "tui_backup", "daemon", "--max-concurrent", "4"],
        env=cli.env,
        stdin=subprocess.DEVNULL,
        stdout=daemon_log,
        stderr=subprocess.STDOUT,
    )
    app = BackupApp(home, watch=True, scheduler=False)
    added: list[str] = []
    counts: dict[str, int] = {}
    try:
        async with app.run_test(size=SIZE) as pilot:
            main = app.main_screen
            assert main is not None
            lags: list[float] = []

            async def live(condition: Callable[[], bool], what: str) -> None:
                """What another process just did shows without a restart (a wait, no limit)."""
                start = time.monotonic()
                await _until(pilot, condition, what, LIVE)
                lags.append(time.monotonic() - start)

            await _until(pilot, lambda: main.jobs.row_count == JOBS, "20 cards", 30)
            owner = home.root / "scheduler.yaml"
            await _until(pilot, owner.exists, "the daemon schedules", 30)
            _rewind_slots(home)
            next_id = 0
            deadline = time.monotonic() + DURATION
            while time.monotonic() < deadline:
                assert daemon.poll() is None, "the daemon ended early"
                action = rng.choice(
                    ["add", "edit", "remove", "fail", "resolve", "rewind", "keys", "keys"]
                )
                counts[action] = counts.get(action, 0) + 1
                if action == "add":
                    name = f"added-{next_id:03d}"
                    next_id += 1
                    src = tmp_path / "src" / name
                    _tree(src, rng)
                    code, _, err = await cli(
                        "job", "add", name, "--source", str(src),
                        "--dest", str(tmp_path / "dest" / name), "--schedule", "* * * * *",
                    )  # fmt: skip
                    assert code == 0, err
                    added.append(name)
                    await live(lambda name=name: name in main.jobs.views, f"{name} added")
                elif action == "edit":
                    name = f"job-{rng.randrange(JOBS):02d}"
                    text = f"edited {rng.random():.6f}"
                    code, _, err = await cli("job", "edit", name, "--description", text)
                    assert code in (0, 1), err  # 1: a concurrent write won (stale version)
                    if code == 0:
                        await live(
                            lambda name=name, text=text: (
                                main.jobs.views[name].spec.description == text
                            ),
                            f"{name} edited",
                        )
                elif action == "remove" and added:
                    name = added.pop(rng.randrange(len(added)))
                    code, _, _ = await cli("job", "rm", name)
                    if code != 0:  # running under the daemon: refused, try again later
                        added.append(name)
                    else:
                        await live(lambda name=name: name not in main.jobs.views, f"{name} gone")
                elif action == "fail":
                    # A run of a broken job from the CLI process records an error there.
                    name = f"job-{rng.randrange(BROKEN):02d}"
                    code, _, _ = await cli("run", name)
                    if code == 1:
                        (newest,) = await cli.json("errors", "--job", name, "--limit", "1")
                        await live(
                            lambda event_id=newest["id"]: (
                                event_id in {e.id for e in main.errors.shown_events}
                            ),
                            f"error {newest['id']} recorded by the CLI",
                        )
                elif action == "resolve":
                    open_errors = await cli.json("errors", "--unresolved", "--limit", "1000")
                    if open_errors:
                        picked = rng.sample(open_errors, k=min(len(open_errors), 3))
                        code, _, err = await cli(
                            "errors", "resolve", *(str(e["id"]) for e in picked)
                        )
                        assert code == 0, err
                        ids = {e["id"] for e in picked}
                        await live(
                            lambda ids=ids: not ids & _tui_errors(main)[0], f"{ids} resolved"
                        )
                elif action == "rewind":
                    _rewind_slots(home)
                else:
                    keys = ["j", "k", "down", "up", "pagedown", "pageup", "g", "G", "home", "end"]
                    await pilot.press(*rng.choices(keys, k=6))
                await pilot.pause()

            # Stop the daemon (its runs end stopped) and wait until nothing runs anywhere.
            daemon.send_signal(signal.SIGTERM)
            await _until(pilot, lambda: daemon.poll() is not None, "daemon exits", 120)
            assert daemon.returncode == 0, (tmp_path / "daemon.log").read_text()[-3000:]

            listing: list[dict[str, Any]] = []
            errors: list[dict[str, Any]] = []

            async def read_cli() -> None:
                nonlocal listing, errors
                listing = await cli.json("job", "list")
                errors = await cli.json("errors", "--unresolved", "--limit", "100000")

            await read_cli()
            active = {str(s) for s in Status if s.is_active}
            assert not [j["name"] for j in listing if j["status"] in active], listing

            async def agrees() -> bool:
                ids = {e["id"] for e in errors}
                rows, header, title = _tui_errors(main)
                return (
                    await _tui_jobs(pilot, main) == _cli_jobs(listing)
                    and rows == ids
                    and header == len(ids)
                    and f"{len(ids)} unresolved" in title
                    and main.header.running_here + main.header.running_elsewhere == 0
                )

            deadline = time.monotonic() + SETTLE
            while not await agrees() and time.monotonic() < deadline:
                await pilot.pause(0.2)
                await read_cli()  # nothing runs, but a last write may land meanwhile
            rows, header, title = _tui_errors(main)
            assert await _tui_jobs(pilot, main) == _cli_jobs(listing)
            assert rows == {e["id"] for e in errors}
            assert (header, title) == (len(errors), f"Errors · {len(errors)} unresolved")
            assert main.header.running_here + main.header.running_elsewhere == 0
            assert not [e for e in errors if e["component"].startswith("tui")], errors
            assert app.is_running
            print(f"soak: actions {counts}, {cli.calls} CLI calls, {len(listing)} jobs at the end")
            if lags:
                print(f"soak: shown live after {max(lags):.2f}s at most ({len(lags)} changes)")
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(timeout=30)
        daemon_log.close()
    assert app.return_code in (None, 0)  # run_test re-raises anything the app raised
