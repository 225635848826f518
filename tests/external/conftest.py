"""Fixtures for the engines that drive external programs (rsync, restic)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small source tree with nested dirs, a symlink, an empty dir and odd names."""
    src = tmp_path / "src"
    (src / "docs" / "deep").mkdir(parents=True)
    (src / "empty").mkdir()
    for i in range(30):
        (src / "docs" / f"file {i}.txt").write_bytes(os.urandom(500 + i * 37))
    (src / "docs" / "deep" / "notes.md").write_text("hello\n")
    (src / "skip.tmp").write_text("excluded\n")
    (src / "link").symlink_to("docs/deep/notes.md")
    # Written an hour ago, as far as mtimes tell: a file written the moment before a
    # run is "racy" and the rsync engine's next run copies it again instead of linking.
    old = time.time() - 3600
    for path in src.rglob("*"):
        os.utime(path, (old, old), follow_symlinks=False)
    return src
