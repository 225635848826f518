"""Issue 8: corruption does not spread, and full compares happen when asked or due.

A snapshot file whose bytes rotted without a change of size or mtime looks
unchanged to rsync's quick check, so the next run hard-links the damaged
inode again. ``run --checksum`` (``RunOptions.checksum``), a due
``checksum_every`` and a verify that found damage make the next run compare
contents instead; the summary records whether a run did and when the last one was.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tui_backup.engines.api import RunOptions
from tui_backup.engines.rsync import RsyncEngine

from .conftest import Where, backup, settle


def _flip(path: Path) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "data.bin").write_bytes(b"good data " * 100)
    (src / "other.txt").write_text("other\n")
    settle(src)
    return src


def _summary(dest: Path, sid: str) -> dict[str, object]:
    data = json.loads((dest / ".tui-backup" / f"{sid}.json").read_text())
    assert isinstance(data, dict)
    return data


def test_a_quick_run_links_a_damaged_file_a_checksum_run_does_not(
    where: Where, tmp_path: Path
) -> None:
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    first = backup(spec)
    _flip(dest / first / "data.bin")
    quick = backup(spec)
    assert (dest / quick / "data.bin").stat().st_ino == (dest / first / "data.bin").stat().st_ino
    assert _summary(dest, quick)["checksum"] is False

    full = backup(spec, options=RunOptions(checksum=True))
    assert (dest / full / "data.bin").read_bytes() == (src / "data.bin").read_bytes()
    assert (dest / full / "other.txt").stat().st_ino == (dest / quick / "other.txt").stat().st_ino
    summary = _summary(dest, full)
    assert summary["checksum"] is True
    assert summary["last_checksum"] == summary["time"]
    report = RsyncEngine().verify(spec, full)
    assert report.ok


def test_a_failed_verify_makes_the_next_run_compare_contents(where: Where, tmp_path: Path) -> None:
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    first = backup(spec)
    _flip(dest / first / "data.bin")
    assert RsyncEngine().verify(spec).outcome == "damaged"
    fixed = backup(spec)
    assert (dest / fixed / "data.bin").read_bytes() == (src / "data.bin").read_bytes()
    assert _summary(dest, fixed)["checksum_reason"] == "the last verify found damage"
    assert RsyncEngine().verify(spec, fixed).ok
    after = backup(spec)
    assert _summary(dest, after)["checksum"] is False, "the damage record is cleared"


class _Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def test_checksum_every_is_honoured(local: Where, tmp_path: Path) -> None:
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    spec = local.spec(src, dest, checksum_every="7d")
    clock = _Clock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    engine = RsyncEngine(clock=clock)
    first = backup(spec, engine)
    assert _summary(dest, first)["checksum"] is True  # the first run reads everything
    assert _summary(dest, first)["last_checksum"] == clock.now.isoformat()
    clock.now += timedelta(days=3)
    second = backup(spec, engine)
    assert _summary(dest, second)["checksum"] is False
    assert _summary(dest, second)["last_checksum"] == _summary(dest, first)["time"]
    clock.now += timedelta(days=5)
    third = backup(spec, engine)
    assert _summary(dest, third)["checksum"] is True
    assert _summary(dest, third)["checksum_reason"] == "checksum_every 7d"
    assert _summary(dest, third)["last_checksum"] == clock.now.isoformat()


def test_a_source_that_changed_since_is_not_damage(local: Where, tmp_path: Path) -> None:
    """``verify --deep`` counts a newer source apart from damage, and the next run stays quick."""
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    spec = local.spec(src, dest)
    backup(spec)
    (src / "other.txt").write_text("edited since the backup\n")
    deep = RsyncEngine().verify(spec, deep=True)
    assert deep.outcome == "ok" and deep.changed_since == 1
    after = backup(spec)
    assert _summary(dest, after)["checksum"] is False
