"""Issue 8: rsync retention counts local calendar days, and forget keeps the newest.

Before: the rsync engine bucketed snapshots by UTC day where the docs promise
local days.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tui_backup.engines import layout
from tui_backup.engines.rsync import RsyncEngine
from tui_backup.model import RetentionPolicy

from .conftest import Where, backup, settle


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_days_are_local_days(local: Where, tmp_path: Path, new_york: None) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / ".tui-backup").mkdir()
    (dest / ".tui-backup" / "owner.json").write_text(json.dumps({"job": "r"}))
    times = [
        datetime(2026, 1, 2, 3, 0, tzinfo=UTC),  # Jan 1, 22:00 in New York
        datetime(2026, 1, 1, 23, 0, tzinfo=UTC),  # Jan 1, 18:00: the same local day
        datetime(2025, 12, 30, 12, 0, tzinfo=UTC),  # Dec 30
    ]
    ids = [layout.format_id(t) for t in times]
    for sid in ids:
        (dest / sid).mkdir()
    (tmp_path / "src").mkdir()
    spec = local.spec(tmp_path / "src", dest)
    decisions = RsyncEngine().forget(
        spec, RetentionPolicy(keep_daily=2), now=datetime(2026, 1, 3, tzinfo=UTC)
    )
    assert [(d.snapshot_id, d.keep) for d in decisions] == [
        (ids[0], True),
        (ids[1], False),
        (ids[2], True),
    ]
    assert sorted(os.listdir(dest)) == sorted([ids[0], ids[2], ".tui-backup", "latest"])


def test_forget_keeps_the_newest_and_removes_metadata(where: Where, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("f\n")
    settle(src)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    ids = [backup(spec) for _ in range(3)]
    deleted: list[str] = []
    decisions = RsyncEngine().forget(spec, RetentionPolicy(keep_last=1), on_delete=deleted.append)
    assert [d.keep for d in decisions] == [True, False, False]
    assert sorted(deleted) == sorted(ids[:2])
    assert sorted(os.listdir(dest)) == sorted([ids[2], ".tui-backup", "latest"])
    assert os.readlink(dest / "latest") == ids[2]
    meta = sorted(os.listdir(dest / ".tui-backup"))
    assert meta == sorted(["owner.json", f"{ids[2]}.json", f"{ids[2]}.manifest"])
    dry = RsyncEngine().forget(spec, RetentionPolicy(keep_last=0), dry_run=True)
    assert [d.keep for d in dry] == [True], "the newest is never forgotten"
