"""Issue 8: what an rsync snapshot keeps (hard links in the source, single-file sources).

Before: no ``-H`` (hard links inside the source became copies), and a source
that is a single file was never hard-linked to the previous snapshot
(``--link-dest`` pointed one directory too deep).
"""

from __future__ import annotations

import os
from pathlib import Path

from .conftest import Where, backup


def test_hard_links_inside_the_source_are_kept(where: Where, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("shared\n")
    os.link(src / "a", src / "b")
    dest = tmp_path / "dest"
    sid = backup(where.spec(src, dest))
    assert (dest / sid / "a").stat().st_ino == (dest / sid / "b").stat().st_ino


def test_a_single_file_source_is_hard_linked_next_time(where: Where, tmp_path: Path) -> None:
    src = tmp_path / "notes.txt"
    src.write_text("notes\n")
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    first, second = backup(spec), backup(spec)
    a, b = dest / first / "notes.txt", dest / second / "notes.txt"
    assert b.read_text() == "notes\n"
    assert a.stat().st_ino == b.stat().st_ino


def test_file_and_directory_sources_together_are_linked(where: Where, tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "in.txt").write_text("in\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "dir").write_text("a file with the same basename\n")
    sources = [tmp_path / "dir", tmp_path / "other" / "dir"]
    dest = tmp_path / "dest"
    spec = where.spec(sources, dest)
    first, second = backup(spec), backup(spec)
    for rel in ("dir/in.txt", "dir-2"):
        assert (dest / first / rel).stat().st_ino == (dest / second / rel).stat().st_ino, rel
    assert (dest / second / "dir-2").read_text() == "a file with the same basename\n"
