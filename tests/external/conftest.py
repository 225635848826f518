"""Fixtures for the engines that drive external programs (rsync, restic)."""

from __future__ import annotations

import os
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
    return src
