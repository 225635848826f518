"""Issue 8: one restore behaviour for rsync snapshots (layout, non-empty target, dry runs,
mistyped paths), locally and over ssh.

Before: a non-empty target silently restored 0 files (``--ignore-existing``),
a dry run created the target directory (the TUI's browsing wrote), and a
mistyped path said "restored 0 files".
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.rsync import RsyncEngine

from .conftest import Where, backup


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "docs" / "deep").mkdir(parents=True)
    (src / "docs" / "deep" / "notes.md").write_text("hello\n")
    (src / "docs" / "a.bin").write_bytes(os.urandom(3000))
    (src / "top.txt").write_text("top\n")
    (src / "link").symlink_to("docs/deep/notes.md")
    return src


def _files(root: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = Path(dirpath) / n
            rel = str(p.relative_to(root))
            out[rel] = os.readlink(p) if p.is_symlink() else p.read_bytes()
    return out


def test_restore_everything_puts_the_source_at_the_target_root(
    where: Where, tmp_path: Path
) -> None:
    src = _source(tmp_path)
    spec = where.spec(src, tmp_path / "dest")
    sid = backup(spec)
    target = tmp_path / "restored"
    report = RsyncEngine().restore(spec, sid, str(target))
    assert _files(target) == _files(src)
    assert (report.files, report.bytes) == (3, 6 + 3000 + 4)
    assert report.summary().startswith("restored 3 files")


def test_restore_one_path_relative_or_absolute(where: Where, tmp_path: Path) -> None:
    src = _source(tmp_path)
    spec = where.spec(src, tmp_path / "dest")
    backup(spec)
    for i, path in enumerate(["docs/deep/notes.md", str(src / "docs" / "deep" / "notes.md")]):
        target = tmp_path / f"one-{i}"
        report = RsyncEngine().restore(spec, "latest", str(target), [path])
        assert _files(target) == {"docs/deep/notes.md": b"hello\n"}
        assert (report.files, report.bytes) == (1, 6)


def test_a_non_empty_target_is_refused_unless_overwrite(where: Where, tmp_path: Path) -> None:
    src = _source(tmp_path)
    spec = where.spec(src, tmp_path / "dest")
    backup(spec)
    target = tmp_path / "restored"
    target.mkdir()
    (target / "top.txt").write_text("mine\n")
    with pytest.raises(EngineError) as err:
        RsyncEngine().restore(spec, "latest", str(target))
    assert err.value.error_type == ErrorType.TARGET_NOT_EMPTY
    assert (target / "top.txt").read_text() == "mine\n"
    assert os.listdir(target) == ["top.txt"]

    report = RsyncEngine().restore(spec, "latest", str(target), overwrite=True)
    assert (target / "top.txt").read_text() == "top\n"
    assert report.files == 3


def test_a_dry_run_writes_nothing_not_even_the_target(where: Where, tmp_path: Path) -> None:
    src = _source(tmp_path)
    spec = where.spec(src, tmp_path / "dest")
    backup(spec)
    target = tmp_path / "browse" / "here"
    report = RsyncEngine().restore(spec, "latest", str(target), dry_run=True)
    assert not (tmp_path / "browse").exists()
    assert report.dry_run
    assert report.files == 3
    assert set(report.planned) == {"docs/deep/notes.md", "docs/a.bin", "top.txt", "link"}


def test_a_mistyped_or_escaping_path_is_an_error(where: Where, tmp_path: Path) -> None:
    src = _source(tmp_path)
    spec = where.spec(src, tmp_path / "dest")
    backup(spec)
    target = tmp_path / "restored"
    cases = {
        "docs/deep/notes.txt": ErrorType.PATH_NOT_IN_SNAPSHOT,
        "../etc/passwd": ErrorType.BAD_PATH,
        "/etc/passwd": ErrorType.BAD_PATH,
    }
    for path, error_type in cases.items():
        with pytest.raises(EngineError) as err:
            RsyncEngine().restore(spec, "latest", str(target), [path])
        assert err.value.error_type == error_type, path
    assert not target.exists()
    with pytest.raises(EngineError) as err:
        RsyncEngine().restore(spec, "2001-01-01T000000Z", str(target))
    assert err.value.error_type == ErrorType.SNAPSHOT_NOT_FOUND
