"""The manifest takes rsync's own whole-file checksums (issue 8 item 7: wrapper overhead).

rsync prints the md5 it computed of every file it sent (``--checksum-choice=md5
--out-format=%C``); the manifest (version 3, ``md5`` in its header) is made from
those and from the previous manifest for linked files, so a backup never reads
its copy again. Names rsync escapes (newline, tab, non-UTF-8, a literal ``\\#``)
map back to the right file; older sha256 manifests are still verified.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import pytest

from tui_backup.engines.rsync import RsyncEngine, manifest
from tui_backup.engines.rsync.digests import CopyDigests, unescape
from tui_backup.engines.rsync.local import LocalStore
from tui_backup.engines.rsync.remote import RemoteStore

from .conftest import Where, backup, settle

NAMES = [
    "plain",
    "tab\there",
    "new\nline",
    "cr\rhere",
    "back\\slash",
    "hash\\#123",
    " lead",
    "é-utf8",
    os.fsdecode(b"latin1-\xe9"),
]


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _entries(dest: Path, sid: str) -> tuple[str, dict[str, manifest.Entry]]:
    raw = (dest / ".tui-backup" / f"{sid}.manifest").read_bytes()
    first = gzip.decompress(raw).split(b"\n", 1)[0].decode()
    return first, manifest.load(raw)


def test_rsyncs_checksums_are_the_manifest_for_any_name(where: Where, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for i, name in enumerate(NAMES):
        (src / "sub" / name).write_bytes(os.urandom(100 + i))
    (src / "big").write_bytes(os.urandom(3 << 20))
    os.link(src / "big", src / "big-again")  # a second name: rsync prints no checksum
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    sid = backup(spec)
    header, entries = _entries(dest, sid)
    assert header == "# tui-backup rsync manifest 3 md5"
    files = [p for p in Path(dest / sid).rglob("*") if p.is_file()]
    assert len(files) == len(NAMES) + 2
    for f in files:
        rel = os.fsdecode(f.relative_to(dest / sid))
        assert entries[rel].digest == _md5(f), rel
    summary = json.loads((dest / ".tui-backup" / f"{sid}.json").read_text())
    assert summary["hashed"] == 0 and summary["digest"] == "md5"
    assert RsyncEngine().verify(spec).files_checked == len(files)


def test_a_single_file_source_and_several_sources(where: Where, tmp_path: Path) -> None:
    one = tmp_path / "one.bin"
    one.write_bytes(os.urandom(5000))
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a").write_bytes(os.urandom(10))
    dest = tmp_path / "dest"
    spec = where.spec([one, tree], dest)
    sid = backup(spec)
    _header, entries = _entries(dest, sid)
    assert entries["one.bin"].digest == _md5(one)
    assert entries["tree/a"].digest == _md5(tree / "a")
    summary = json.loads((dest / ".tui-backup" / f"{sid}.json").read_text())
    assert summary["hashed"] == 0


def test_a_sha256_manifest_is_verified_and_then_replaced(where: Where, tmp_path: Path) -> None:
    """A version 2 manifest (sha256) still verifies, damage included; the next run
    cannot reuse its digests for linked files and hashes them with md5 once."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}").write_bytes(os.urandom(2000))
    settle(src)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    old = backup(spec)
    lines = [manifest.HEADER_V2]
    for i in range(3):
        digest = hashlib.sha256((src / f"f{i}").read_bytes()).hexdigest()
        lines.append(f"f\t2000\t{digest}\tf{i}")
    path = dest / ".tui-backup" / f"{old}.manifest"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    assert RsyncEngine().verify(spec, old).files_checked == 3
    new = backup(spec)  # every file linked from the sha256 snapshot
    header, entries = _entries(dest, new)
    assert header == manifest.HEADER
    assert all(entries[f"f{i}"].digest == _md5(src / f"f{i}") for i in range(3))
    summary = json.loads((dest / ".tui-backup" / f"{new}.json").read_text())
    assert summary["hashed"] == 3
    report = RsyncEngine().verify(spec, "all")  # one inode, two algorithms
    assert report.ok and report.files_checked == 6
    data = bytearray((dest / old / "f1").read_bytes())
    data[5] ^= 1
    st = (dest / old / "f1").stat()
    (dest / old / "f1").write_bytes(bytes(data))
    os.utime(dest / old / "f1", ns=(st.st_atime_ns, st.st_mtime_ns))
    report = RsyncEngine().verify(spec, "all")
    assert sorted((p.snapshot_id, p.path) for p in report.problems) == sorted(
        [(old, "f1"), (new, "f1")]
    )


def test_out_format_lines_are_parsed_exactly() -> None:
    seen = CopyDigests()
    seen.start("pre", single_file=False)
    digest = "7c9df801238abe28cae2675fd3166a1a"
    assert seen.line(f"@tbk@ {digest} 2 b\\#134#123")
    assert seen.line(f"@tbk@ {digest} 3 n\\#012l\tx ")
    assert seen.line("@tbk@ " + " " * 32 + " 4096 sub/")
    assert not seen.line("      3,145,744  99%   83.33MB/s    0:00:00 (xfr#6, to-chk=0/11)")
    assert seen.found == {"pre/b\\#123": (2, digest), "pre/n\nl\tx ": (3, digest)}
    assert unescape("latin1-\\#351") == os.fsdecode(b"latin1-\xe9")


def test_a_no_change_run_lists_neither_tree(
    where: Where, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rsync linked everything and counted as many entries as last time: the previous
    manifest is the new snapshot's, with no listing of either tree (the fixed cost of
    a no-change run). A deleted file changes rsync's count: then both are listed."""
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(5):
        (src / "d" / f"f{i}").write_bytes(os.urandom(300))
    (src / "link").symlink_to("d/f0")
    os.mkfifo(src / "pipe")
    settle(src)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    first = backup(spec)
    listed: list[str] = []
    real_tree = LocalStore.tree

    def tree(self: LocalStore, rel: str, cancel: object = None) -> object:
        listed.append(rel)
        return real_tree(self, rel, cancel)  # type: ignore[arg-type]

    monkeypatch.setattr(LocalStore, "tree", tree)
    monkeypatch.setattr(RemoteStore, "after_copy", _no_listing)
    second = backup(spec)
    assert listed == []
    assert _entries(dest, second) == _entries(dest, first)
    summary = json.loads((dest / ".tui-backup" / f"{second}.json").read_text())
    assert (summary["files"], summary["links"], summary["specials"]) == (5, 1, 1)
    monkeypatch.undo()
    (src / "d" / "f4").unlink()
    third = backup(spec)
    _header, entries = _entries(dest, third)
    assert "d/f4" not in entries and len(entries) == 6
    assert RsyncEngine().verify(spec, "all").ok


def _no_listing(*_args: object, **_kwargs: object) -> object:
    raise AssertionError("a no-change run listed the snapshot trees")
