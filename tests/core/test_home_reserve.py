"""The home's reserve (core/reserve.py): laid down while there is room, released on a full home.

The real full home (a 4 MiB tmpfs, needs root) is tests/faults/test_full_disk.py's
``test_full_home_never_blocks_a_backup_with_room``; here the free space the
start-up sees is set through ``reserve.free_bytes``, the one place it is measured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from tui_backup.core import reserve
from tui_backup.core.manager import JobManager
from tui_backup.store.paths import Home


def test_start_up_lays_down_a_real_reserve(
    make_manager: Callable[..., JobManager], home: Home
) -> None:
    make_manager()
    path = home.root / reserve.RESERVE_NAME
    st = path.stat()
    assert st.st_size == reserve.RESERVE_BYTES
    assert st.st_blocks * 512 >= reserve.RESERVE_BYTES  # real blocks: a sparse file frees nothing
    assert st.st_mode & 0o777 == 0o600


def test_a_full_home_releases_the_reserve_and_says_so_once(
    make_manager: Callable[..., JobManager],
    home: Home,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_manager()
    path = home.root / reserve.RESERVE_NAME
    assert path.exists()
    monkeypatch.setattr(reserve, "free_bytes", lambda _home: 0)
    with caplog.at_level(logging.WARNING):
        manager = make_manager()
        make_manager()  # a second process on the same full home: nothing left to release
    assert not path.exists()
    said = [r.getMessage() for r in caplog.records if "reserve was released" in r.getMessage()]
    assert len(said) == 1, said
    events = [e for e in manager.errors(unresolved=True) if e.error_type == "home_full"]
    assert len(events) == 1, events
    assert "space" in events[0].message and str(home.root) in events[0].message

    monkeypatch.undo()  # room again: the next start-up lays it down anew
    make_manager()
    assert path.stat().st_size == reserve.RESERVE_BYTES
