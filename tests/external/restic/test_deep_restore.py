"""A restore over an existing deep tree merges it at any depth (no recursion limit)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui_backup.engines.restic import ResticEngine

from .conftest import MakeRepo
from .helpers import backup

DEPTH = 1500


@pytest.fixture
def cleanup(tmp_path: Path) -> Iterator[None]:
    yield
    subprocess.run(["rm", "-rf", "--", str(tmp_path)], check=False)


def _chain(root: Path, leaf: bytes) -> None:
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_DIRECTORY)
    for _ in range(DEPTH):
        try:
            os.mkdir("d", dir_fd=fd)
        except FileExistsError:
            pass
        nfd = os.open("d", os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    out = os.open("leaf", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=fd)
    os.write(out, leaf)
    os.close(out)
    os.close(fd)


def _leaf(root: Path) -> bytes:
    fd = os.open(root, os.O_DIRECTORY)
    for _ in range(DEPTH):
        nfd = os.open("d", os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        os.close(fd)
        fd = nfd
    out = os.open("leaf", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    try:
        return os.read(out, 100)
    finally:
        os.close(out)


@pytest.mark.timeout(600)
def test_a_restore_with_overwrite_merges_a_deep_existing_tree(
    restic: ResticEngine, make_repo: MakeRepo, tmp_path: Path, cleanup: None
) -> None:
    src = tmp_path / "src"
    _chain(src, b"from the snapshot\n")
    spec = make_repo("local").spec(src)
    restic.init(spec)
    sid = backup(restic, spec)
    target = tmp_path / "t"
    _chain(target, b"old\n")  # the same deep branch is already there
    report = restic.restore(spec, sid, str(target), overwrite=True)
    assert report.files == 1 and report.skipped == ()
    assert _leaf(target) == b"from the snapshot\n"
