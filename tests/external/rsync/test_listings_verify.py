"""Issue 8: true listings and a verify that checks, for rsync snapshots (local and ssh).

Before: ``snapshots`` showed 0 files and 0 B; verify over ssh printed "ok, 0
files" having checked nothing; a local verify opened a FIFO in the snapshot
and blocked forever, and had no checksums to compare with.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tui_backup.engines.rsync import RsyncEngine

from .conftest import Where, backup, settle


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(5):
        (src / "d" / f"f{i}.bin").write_bytes(os.urandom(1000 + i))
    (src / "small.txt").write_text("small\n")
    (src / "link").symlink_to("small.txt")
    settle(src)
    return src


def _counts(root: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = Path(dirpath) / n
            if p.is_file() and not p.is_symlink():
                files += 1
                size += p.stat().st_size
    return files, size


def _flip(path: Path) -> None:
    """Change one byte in place, keeping size and mtime (silent corruption)."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_listings_have_true_counts_and_none_without_a_summary(where: Where, tmp_path: Path) -> None:
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    first = backup(spec)
    (src / "d" / "new.bin").write_bytes(b"x" * 77)
    second = backup(spec)
    infos = {s.id: s for s in RsyncEngine().snapshots(spec)}
    assert (infos[second].files, infos[second].bytes) == _counts(src)
    assert (infos[first].files, infos[first].bytes) == (6, _counts(src)[1] - 77)
    (dest / ".tui-backup" / f"{first}.json").unlink()
    infos = {s.id: s for s in RsyncEngine().snapshots(spec)}
    assert (infos[first].files, infos[first].bytes) == (None, None)


def test_verify_reads_every_file_and_says_so(where: Where, tmp_path: Path) -> None:
    src = _source(tmp_path)
    spec = where.spec(src, tmp_path / "dest")
    backup(spec)
    report = RsyncEngine().verify(spec)
    assert report.outcome == "ok", report
    assert (report.files_checked, report.bytes_checked) == _counts(src)
    assert report.method == "manifest"


def test_verify_finds_a_flipped_byte_a_deleted_file_and_a_changed_link(
    where: Where, tmp_path: Path
) -> None:
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    sid = backup(spec)
    _flip(dest / sid / "d" / "f1.bin")
    (dest / sid / "d" / "f2.bin").unlink()
    (dest / sid / "link").unlink()
    (dest / sid / "link").symlink_to("elsewhere")
    report = RsyncEngine().verify(spec, sid)
    assert report.outcome == "damaged"
    found = {(p.path, p.reason) for p in report.problems}
    assert found == {
        ("d/f1.bin", "checksum mismatch"),
        ("d/f2.bin", "missing"),
        ("link", "symlink target mismatch"),
    }


@pytest.mark.timeout(60)
def test_verify_never_opens_a_fifo(where: Where, tmp_path: Path) -> None:
    src = _source(tmp_path)
    os.mkfifo(src / "pipe")
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    sid = backup(spec)
    assert RsyncEngine().verify(spec).ok
    # A FIFO where the manifest has a file: reported, never read (a read would block).
    (dest / sid / "small.txt").unlink()
    os.mkfifo(dest / sid / "small.txt")
    report = RsyncEngine().verify(spec)
    assert [(p.path, p.reason) for p in report.problems] == [("small.txt", "a FIFO; never opened")]


def test_a_snapshot_without_manifest_is_unchecked_not_ok(where: Where, tmp_path: Path) -> None:
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    sid = backup(spec)
    (dest / ".tui-backup" / f"{sid}.manifest").unlink()
    report = RsyncEngine().verify(spec)
    assert report.outcome == "unchecked"
    assert sid in (report.unchecked or "")


def test_deep_verify_compares_with_the_source(where: Where, tmp_path: Path) -> None:
    src = _source(tmp_path)
    spec = where.spec(src, tmp_path / "dest")
    backup(spec)
    deep = RsyncEngine().verify(spec, "latest", deep=True)
    assert deep.ok, deep.problems
    assert deep.method == "manifest+source"
    assert deep.files_checked == 2 * _counts(src)[0]  # the manifest, then the source
    _flip(src / "d" / "f3.bin")  # same size and mtime: only a content compare sees it
    assert RsyncEngine().verify(spec).ok
    deep = RsyncEngine().verify(spec, "latest", deep=True)
    assert [(p.path, p.reason) for p in deep.problems] == [
        ("d/f3.bin", "differs from the source although size and modification time agree")
    ]
    (src / "d" / "new.txt").write_text("added since")  # a change in the source is not damage
    deep = RsyncEngine().verify(spec, "latest", deep=True)
    assert deep.changed_since == 1 and len(deep.problems) == 1


ODD_NAMES = ["tab\there", "new\nline", "back\\slash", "star*[x]?", " lead", "é-utf8"]


def test_any_file_name_survives_the_manifest(where: Where, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    names = [*ODD_NAMES, os.fsdecode(b"latin1-\xe9")]
    for i, name in enumerate(names):
        (src / name).write_bytes(f"{i}\n".encode())
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    sid = backup(spec)
    assert RsyncEngine().verify(spec).files_checked == len(names)
    _flip(dest / sid / "new\nline")
    report = RsyncEngine().verify(spec)
    assert [p.path for p in report.problems] == ["new\nline"]
    target = tmp_path / "restored"
    RsyncEngine().restore(spec, sid, str(target), ["back\\slash", os.fsdecode(b"latin1-\xe9")])
    assert sorted(os.listdir(target)) == sorted(["back\\slash", os.fsdecode(b"latin1-\xe9")])


def test_a_backup_never_reads_its_copy_again(where: Where, tmp_path: Path) -> None:
    """The manifest's digests are rsync's own (its md5 of what it sent) or the
    previous manifest's for linked files: no run re-reads a file to hash it."""
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    first = backup(spec)
    (src / "d" / "f0.bin").write_bytes(b"changed")
    second = backup(spec)
    meta = dest / ".tui-backup"
    hashed = [json.loads((meta / f"{s}.json").read_text())["hashed"] for s in (first, second)]
    assert hashed == [0, 0]
    assert RsyncEngine().verify(spec).ok


def test_verify_of_all_snapshots_hashes_a_shared_inode_once(where: Where, tmp_path: Path) -> None:
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    first, second = backup(spec), backup(spec)
    report = RsyncEngine().verify(spec, "all")
    assert report.snapshots == (second, first)
    assert report.ok
    _flip(dest / first / "small.txt")  # one inode, in both snapshots
    report = RsyncEngine().verify(spec, "all")
    assert sorted((p.snapshot_id, p.path) for p in report.problems) == sorted(
        [(first, "small.txt"), (second, "small.txt")]
    )
