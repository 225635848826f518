"""Snapshot verify compares the kept xattrs/ACLs with the hash the manifest records."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.engines.conftest import make_spec, run, snapshot_dirs, write
from tui_backup.engines.snapshot import SnapshotEngine
from tui_backup.model.status import Status


def _user_xattrs_work(path: Path) -> bool:
    probe = write(path / ".probe", b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
        return True
    except OSError:
        return False
    finally:
        probe.unlink()


def test_verify_finds_xattrs_changed_in_the_snapshot(tmp_path: Path) -> None:
    if not _user_xattrs_work(tmp_path):
        pytest.skip(f"{tmp_path} does not support user xattrs")
    src = tmp_path / "src"
    tagged = write(src / "tagged.txt", "content")
    write(src / "plain.txt", "no attributes")
    os.setxattr(tagged, "user.color", b"blue")
    os.setxattr(src, "user.dir", b"root")
    (src / "sub").mkdir()
    os.setxattr(src / "sub", "user.dir", b"sub")
    spec = make_spec(src, tmp_path / "dest")
    engine = SnapshotEngine()
    assert run(spec, engine=engine).finished.status == Status.SUCCEEDED
    clean = engine.verify(spec)
    assert clean.ok, clean.problems

    snap = tmp_path / "dest" / snapshot_dirs(tmp_path / "dest")[-1]
    os.setxattr(snap / "tagged.txt", "user.color", b"red")  # content and size untouched
    os.removexattr(snap / "sub", "user.dir")
    os.setxattr(snap / "plain.txt", "user.new", b"x")  # no recorded hash: not checked
    report = engine.verify(spec)
    assert not report.ok
    found = {(p.path, p.reason) for p in report.problems}
    assert found == {
        ("tagged.txt", "extended attributes or ACLs differ from the manifest"),
        ("sub", "extended attributes or ACLs differ from the manifest"),
    }
    # The damaged file is copied fresh by the next run, with the source's attributes.
    assert run(spec, engine=engine).finished.status == Status.SUCCEEDED
    newest = tmp_path / "dest" / snapshot_dirs(tmp_path / "dest")[-1]
    assert os.getxattr(newest / "tagged.txt", "user.color") == b"blue"
