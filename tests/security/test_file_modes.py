"""Job, state, lock and database files are 0600 and directories 0700 under any umask;
an existing home or jobs/ open to others is tightened, with a log line.

Each scenario runs in a subprocess: the umask belongs to the whole process, and
the other tests in this one must not run under umask 000.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tui_backup.store.paths import Home

WRITER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    os.umask(int(sys.argv[2], 8))
    from tui_backup.model.job import JobSpec
    from tui_backup.model.records import ErrorEvent, RunRecord
    from tui_backup.model.state import JobState
    from tui_backup.model.status import Severity
    from tui_backup.store.db import Database
    from tui_backup.store.jobs import JobStore
    from tui_backup.store.locking import file_lock, try_lock
    from tui_backup.store.paths import Home
    from tui_backup.store.state import StateStore

    home = Home(Path(sys.argv[1]))
    home.ensure()
    jobs = JobStore(home)
    spec = jobs.create(JobSpec("web", ("/srv/www",), "/mnt/backup/web"))
    jobs.modify("web", lambda s: s)
    states = StateStore(home)
    states.write(JobState(name="web"))
    states.request_stop("web")
    with file_lock(home.run_lock("web")):
        pass
    held = try_lock(home.run_lock("other"))
    held.release()
    db = Database(home.db_path, home.fallback_log)
    event = ErrorEvent(severity=Severity.LOW, component="store", error_type="t", message="m")
    db.record_error(event)
    db.close()
    # A database that cannot be opened: the events go to the fallback journal.
    (home.root / "broken.db").mkdir()
    Database(home.root / "broken.db", home.fallback_log).record_error(event)
    print("ok")
    """
)


def _modes(root: Path) -> dict[str, str]:
    """Every path under ``root`` (and ``root``) with its mode in octal."""
    out = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for path in sorted(root.rglob("*")):
        out[str(path.relative_to(root))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return out


@pytest.mark.parametrize("umask", ["022", "000"])
def test_every_file_private_under_any_umask(tmp_path: Path, umask: str) -> None:
    root = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-c", WRITER, str(root), umask],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    modes = _modes(root)
    for name in ("jobs/web.yaml", "jobs/web.yaml.bak", "state/web.yaml", "state/web.stop"):
        assert modes[name] == "0o600", (name, modes)
    for name in ("locks/web.lock", "locks/other.lock", "tui-backup.db", "events-fallback.jsonl"):
        assert modes[name] == "0o600", (name, modes)
    assert any(name.startswith("locks/write/") for name in modes)
    wrong = {
        name: mode
        for name, mode in modes.items()
        if mode != ("0o700" if (root / name).is_dir() else "0o600")
    }
    assert wrong == {}


def test_an_open_home_and_jobs_dir_are_tightened(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "home"
    (root / "jobs").mkdir(parents=True)
    os.chmod(root, 0o755)
    os.chmod(root / "jobs", 0o755)
    home = Home(root)
    with caplog.at_level("WARNING", logger="tui_backup.store.paths"):
        home.ensure()
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE(home.jobs_dir.stat().st_mode) == 0o700
    logged = [r.getMessage() for r in caplog.records]
    assert any("jobs" in m and "0755" in m and "0700" in m for m in logged), logged


def test_an_old_lock_and_database_file_are_tightened(tmp_path: Path) -> None:
    from tui_backup.store.db import Database
    from tui_backup.store.locking import file_lock

    home = Home(tmp_path / "home")
    home.ensure()
    lock = home.run_lock("web")
    lock.write_text("")
    os.chmod(lock, 0o644)
    home.db_path.write_bytes(b"")
    os.chmod(home.db_path, 0o644)
    with file_lock(lock):
        pass
    db = Database(home.db_path, home.fallback_log)
    db.runs()
    db.close()
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.db_path.stat().st_mode) == 0o600


def test_a_hand_made_job_file_is_made_private_by_the_repair_step(home: Home) -> None:
    from tui_backup.store.jobs import JobStore

    path = home.job_file("hand")
    path.write_text("name: hand\nsources: [/srv]\ndestination: /mnt/b/hand\n")
    os.chmod(path, 0o644)
    JobStore(home).list()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # a read changes nothing
    JobStore(home).repair()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_link_planted_as_a_stop_file_is_not_followed(home: Home, tmp_path: Path) -> None:
    from tui_backup.store.state import StateStore

    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.symlink(victim, home.stop_file("web"))
    with pytest.raises(OSError):
        StateStore(home).request_stop("web")
    assert victim.read_text() == "precious"
