"""Atomic writes, quarantine, locks and the home layout, on real files and processes."""

from __future__ import annotations

import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tui_backup.store.atomic import atomic_write, backup_path, quarantine
from tui_backup.store.errors import LockTimeout
from tui_backup.store.locking import file_lock, is_locked, try_lock
from tui_backup.store.paths import Home


def test_atomic_write_keeps_a_separate_backup_copy(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    atomic_write(path, b"one\n")
    atomic_write(path, b"two\n")
    assert path.read_bytes() == b"two\n"
    bak = backup_path(path)
    assert bak.read_bytes() == b"one\n"
    assert bak.stat().st_ino != path.stat().st_ino
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_quarantine_moves_aside_and_never_deletes(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("bad")
    kept = quarantine(path)
    assert not path.exists()
    assert kept.name.startswith("f.yaml.corrupt-") and kept.read_text() == "bad"


def test_home_layout(tmp_path: Path) -> None:
    home = Home.resolve(tmp_path / "h")
    home.ensure()
    for d in (home.jobs_dir, home.state_dir, home.locks_dir, home.themes_dir):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert home.job_file("web") == tmp_path / "h" / "jobs" / "web.yaml"
    assert home.relative(home.job_file("web")) == "jobs/web.yaml"
    assert home.db_path.name == "tui-backup.db"


def test_home_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUI_BACKUP_HOME", str(tmp_path / "envhome"))
    assert Home.resolve().root == tmp_path / "envhome"
    assert Home.resolve(tmp_path / "explicit").root == tmp_path / "explicit"


HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tui_backup.store.locking import file_lock

    with file_lock(Path(sys.argv[1]), timeout=5):
        print("held", flush=True)
        sys.stdin.readline()
    """
)


def test_lock_held_by_another_process_times_out_clearly(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "job.web.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert is_locked(lock)
        assert try_lock(lock) is None
        started = time.monotonic()
        with pytest.raises(LockTimeout) as info, file_lock(lock, timeout=0.3, what="job 'web'"):
            pass
        # It waited for the holder (a lower bound: a busy machine only makes it longer).
        assert time.monotonic() - started >= 0.25
        assert "job 'web'" in str(info.value) and "0.3s" in str(info.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=10)
    # Released with its process: we get it at once.
    with file_lock(lock, timeout=0.5):
        assert is_locked(lock) is True
    assert is_locked(lock) is False


def test_lock_excludes_threads_of_one_process(tmp_path: Path) -> None:
    """flock locks belong to open files, so two threads here exclude each other too."""
    import threading

    lock = tmp_path / "l.lock"
    inside = threading.Event()
    leave = threading.Event()

    def hold() -> None:
        with file_lock(lock, timeout=1):
            inside.set()
            leave.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    assert inside.wait(5)
    with pytest.raises(LockTimeout), file_lock(lock, timeout=0.05):
        pass
    leave.set()
    t.join()


def test_stale_temp_sweep_touches_only_its_own_file(tmp_path: Path) -> None:
    from tui_backup.store import safefile

    path = tmp_path / "web.yaml"
    own = [tmp_path / ".web.yaml.abcd1234.tmp", tmp_path / ".web.yaml.bak.abcd1234.tmp"]
    other = [tmp_path / ".web.yaml.yaml.abcd1234.tmp", tmp_path / ".web.yaml.bak.yaml.x1234567.tmp"]
    for p in own + other:
        p.write_text("x")
    safefile.write_locked(path, b"name: web\n")
    assert [p.exists() for p in own] == [False, False]
    assert [p.exists() for p in other] == [True, True]


def test_a_full_home_is_a_sentence_and_still_an_oserror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel's own ENOSPC, from /dev/full standing in for the temp file (a full
    filesystem needs a mount this test may not make; tests/faults does the real one)."""
    import errno
    import os
    import tempfile

    from tui_backup.model.state import JobState
    from tui_backup.store.errors import HomeFull, StoreError
    from tui_backup.store.state import StateStore

    home = Home(tmp_path / "home")
    home.ensure()
    real_mkstemp = tempfile.mkstemp

    def full_mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        fd, name = real_mkstemp(*args, **kwargs)  # type: ignore[call-overload]
        os.close(fd)
        return os.open("/dev/full", os.O_WRONLY), name

    monkeypatch.setattr(tempfile, "mkstemp", full_mkstemp)
    with pytest.raises(HomeFull) as info:
        StateStore(home).write(JobState(name="web"))
    assert isinstance(info.value, StoreError) and isinstance(info.value, OSError)
    assert info.value.errno == errno.ENOSPC
    text = str(info.value)
    assert "state/web.yaml" in text and "home is full" in text and "Errno" not in text
