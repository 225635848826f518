"""A full home makes every spill to the fallback journal fail: said once, not per spill."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest

from tui_backup.store.journal import Journal

FULL = Path("/dev/full")
"""Every write to it fails with ENOSPC: a real full filesystem, without mounting one."""


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full")
def test_enospc_is_logged_once_per_streak_and_once_on_recovery(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fd = os.open(FULL, os.O_WRONLY)
    try:
        with pytest.raises(OSError) as info:
            os.write(fd, b"x")
    finally:
        os.close(fd)
    assert info.value.errno == errno.ENOSPC  # the device still behaves as assumed

    journal = Journal(tmp_path / "events-fallback.jsonl", lock_timeout=1.0)
    journal.path = FULL  # appends now fail as on a full home (the lock lives in tmp_path)
    caplog.set_level(logging.DEBUG, logger="tui_backup.store.journal")
    for i in range(5):
        journal.spill({"kind": "error", "uid": f"e{i}"})
    said = [r for r in caplog.records if r.name == "tui_backup.store.journal"]
    assert len(said) == 1, [r.getMessage() for r in said]
    assert said[0].levelno == logging.ERROR and "No space left" in said[0].getMessage()
    assert len(journal.buffered()) == 5  # nothing lost: every entry kept in memory

    caplog.clear()
    journal.path = tmp_path / "events-fallback.jsonl"  # space again
    journal.spill({"kind": "error", "uid": "e5"})
    journal.spill({"kind": "error", "uid": "e6"})
    said = [r for r in caplog.records if r.name == "tui_backup.store.journal"]
    assert len(said) == 1 and "can be written again" in said[0].getMessage(), said
    assert os.path.getsize(journal.path) > 0

    caplog.clear()
    journal.path = FULL  # a second streak is said again
    journal.spill({"kind": "error", "uid": "e7"})
    journal.spill({"kind": "error", "uid": "e8"})
    said = [r for r in caplog.records if r.name == "tui_backup.store.journal"]
    assert len(said) == 1 and said[0].levelno == logging.ERROR
