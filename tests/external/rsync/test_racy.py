"""The same-second rewrite (git's "racy" rule): a file rewritten in place with the
same size and, on a coarse clock, the same mtime right after rsync read it.

Seen in the changing-sources fault test: ``--link-dest`` trusted size and mtime
and the next snapshot linked the older content. A copy whose mtime is not older
than the run's start minus a margin is recorded as racy, and the next run copies
it again whatever size and mtime say. The clock's coarseness is reproduced
exactly by giving the rewritten file its old mtime back (``os.utime``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tui_backup.engines.rsync import RsyncEngine, racy

from .conftest import Where, backup


def _rewrite_same_size_same_mtime(path: Path, data: bytes) -> None:
    st = path.stat()
    assert len(data) == st.st_size
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_same_second_rewrite_is_in_the_next_snapshot(where: Where, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "hot").write_bytes(b"A" * 4000)
    (src / "cold").write_bytes(b"old and quiet")
    old = time.time_ns() - 3600 * 10**9
    os.utime(src / "cold", ns=(old, old))
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    first = backup(spec)
    record = dest / ".tui-backup" / f"{first}.racy"
    assert racy.load(record.read_bytes()) == ["d/hot"]  # cold is an hour old: trusted
    assert oct(record.stat().st_mode & 0o777) == "0o600"
    _rewrite_same_size_same_mtime(src / "d" / "hot", b"B" * 4000)
    second = backup(spec)
    assert (dest / second / "d" / "hot").read_bytes() == b"B" * 4000
    assert (dest / first / "d" / "hot").read_bytes() == b"A" * 4000  # the link was broken
    assert (dest / second / "cold").stat().st_ino == (dest / first / "cold").stat().st_ino
    assert RsyncEngine().verify(spec, "all").ok
    # Once a copy is older than the margin, nothing is recorded: size+mtime are trusted
    # (a rewrite now would get a later mtime on any real clock).
    os.utime(src / "d" / "hot", ns=(old, old))
    fourth = backup(spec)
    assert not (dest / ".tui-backup" / f"{fourth}.racy").exists()
    fifth = backup(spec)
    summary = json.loads((dest / ".tui-backup" / f"{fifth}.json").read_text())
    assert summary["files"] == 2
    assert (dest / fifth / "d" / "hot").stat().st_ino == (dest / fourth / "d" / "hot").stat().st_ino


def test_a_racy_single_file_source_and_a_vanished_racy_file(where: Where, tmp_path: Path) -> None:
    one = tmp_path / "one.txt"
    one.write_bytes(b"1" * 100)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "gone").write_bytes(b"soon gone")
    dest = tmp_path / "dest"
    spec = where.spec([one, tree], dest)
    first = backup(spec)
    assert sorted(racy.load((dest / ".tui-backup" / f"{first}.racy").read_bytes())) == [
        "one.txt",
        "tree/gone",
    ]
    _rewrite_same_size_same_mtime(one, b"2" * 100)
    (tree / "gone").unlink()
    second = backup(spec)
    assert (dest / second / "one.txt").read_bytes() == b"2" * 100
    assert not (dest / second / "tree" / "gone").exists()
    assert RsyncEngine().verify(spec).ok


def test_racy_files_and_excludes(where: Where, tmp_path: Path) -> None:
    """A job with excludes: its racy files are copied again (the second pass does not
    trip over rsync reading the rules file NUL-separated), and a racy file excluded
    since is not brought back by it."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"A" * 100)
    (src / "x.tmp").write_bytes(b"scratch")
    dest = tmp_path / "dest"
    first = backup(where.spec(src, dest, exclude=["/other", "*.bak"]))
    assert sorted(racy.load((dest / ".tui-backup" / f"{first}.racy").read_bytes())) == [
        "a.txt",
        "x.tmp",
    ]
    _rewrite_same_size_same_mtime(src / "a.txt", b"B" * 100)
    second = backup(where.spec(src, dest, exclude=["/other", "*.tmp"]))
    assert (dest / second / "a.txt").read_bytes() == b"B" * 100
    assert not (dest / second / "x.tmp").exists()
