"""A lock held by another real process: a clear StoreError naming the lock and its holder."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui_backup.core.errors import log_failure
from tui_backup.store.errors import LockTimeout, StoreError
from tui_backup.store.locking import file_lock

HOLDER = """
import sys
from tui_backup.store.locking import file_lock
with file_lock(__import__("pathlib").Path(sys.argv[1]), 5):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    path = tmp_path / "locks" / "docs.lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), "holder-marker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield path, proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)


def test_lock_timeout_names_the_lock_and_the_process_holding_it(
    held: tuple[Path, subprocess.Popen[str]],
) -> None:
    path, proc = held
    with pytest.raises(LockTimeout) as info, file_lock(path, timeout=0.2, what="job docs"):
        pass
    exc = info.value
    assert isinstance(exc, StoreError)
    assert exc.path == path
    assert exc.holder is not None and exc.holder.startswith(f"pid {proc.pid} ")
    assert "holder-marker" in exc.holder  # its command line, so a person knows what it is
    assert str(path) in str(exc) and f"pid {proc.pid}" in str(exc)


def test_a_background_step_logs_it_as_one_line_without_a_traceback(
    held: tuple[Path, subprocess.Popen[str]], caplog: pytest.LogCaptureFixture
) -> None:
    path, proc = held
    log = logging.getLogger("tui_backup.core.test")
    caplog.set_level(logging.DEBUG, logger="tui_backup.core.test")
    try:
        with file_lock(path, timeout=0.1):
            pass
    except LockTimeout as exc:
        log_failure(log, "scheduler tick failed", exc)
    try:
        raise ValueError("a bug")
    except ValueError as exc:
        log_failure(log, "scheduler tick failed", exc)
    lock_record, bug_record = caplog.records
    assert lock_record.exc_info is None and f"pid {proc.pid}" in lock_record.getMessage()
    assert bug_record.exc_info is not None  # a real bug keeps its traceback
