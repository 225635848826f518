"""The contract for what a backup holds: one exclude semantics, and special files,
hard links and symlinks handled alike by every engine.

Excludes are gitignore rules relative to each source root
(:class:`~tui_backup.engines.excludes.Excluder`); the tree each engine restores
must be exactly the one those rules give. Special files (FIFOs, sockets,
devices) are never opened: a run, a verify or a restore that opened a FIFO
would block, so those steps run under a pytest timeout.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from destinations import Dest, excluded_tree, make_fifo, make_socket, tree
from servers import DESTINATION_KINDS, Destination

from tui_backup.model.status import Status

pytestmark = [
    pytest.mark.contract,
    pytest.mark.parametrize("destination", DESTINATION_KINDS, indirect=True),
]

EXCLUDES = ("/build", "*.tmp", "!keep.tmp", "cache/", "a/**/b")


@pytest.fixture
def dest(destination: Destination, tmp_path: Path) -> Dest:
    return Dest(destination, tmp_path)


def _files(root: Path, names: list[str]) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{name}\n")


def _exclude_source(root: Path) -> Path:
    _files(
        root,
        [
            "plain.txt",
            "build/x.o",  # /build: anchored at the source root
            "build/deep/y.o",
            "sub/build/z.o",  # kept: /build does not match below the root
            "a.tmp",
            "keep.tmp",  # re-included by !keep.tmp
            "sub/keep.tmp",
            "sub/c.tmp",
            "cache/data.bin",  # cache/: directories named cache, at any depth
            "sub/cache/d.bin",
            "other/cache",  # a file named cache: kept (the rule is for directories)
            "a/b",  # a/**/b: a/b, a/x/b, a/x/y/b
            "a/x/b/deep.txt",
            "a/x/c.txt",
            "a/x/y/b",
            "b/plain.txt",  # not under a/: kept
        ],
    )
    return root


@pytest.mark.timeout(120)
def test_the_same_excludes_give_the_gitignore_tree(dest: Dest, tmp_path: Path) -> None:
    src = _exclude_source(tmp_path / "src")
    want = excluded_tree(src, EXCLUDES)
    # The expectation itself, so a change in Excluder cannot make this test vacuous.
    assert {"sub/build/z.o", "keep.tmp", "sub/keep.tmp", "other/cache", "a/x/c.txt"} <= want
    assert not {"build", "a.tmp", "sub/c.tmp", "cache", "sub/cache", "a/b", "a/x/b"} & want
    assert "a/x/y/b" not in want

    spec = dest.spec(src, exclude=EXCLUDES)
    dest.prepare(spec)
    sid = dest.backup(spec)
    target = tmp_path / "restored"
    dest.engine.restore(spec, sid, str(target))
    got = set(tree(target))
    assert got == want, f"missing {sorted(want - got)}, extra {sorted(got - want)}"
    [info] = dest.snapshots(spec)
    assert info.files == sum(1 for p in want if (src / p).is_file() and not (src / p).is_symlink())


@pytest.mark.timeout(120)
def test_excludes_apply_relative_to_each_source_root(dest: Dest, tmp_path: Path) -> None:
    """With several sources each is stored under its basename, yet ``/build`` still
    means ``build`` at the top of each source."""
    one = _exclude_source(tmp_path / "one")
    two = tmp_path / "two"
    _files(two, ["build/gone.o", "kept/build/stays.o", "x.tmp", "keep.tmp"])
    spec = dest.spec([one, two], exclude=EXCLUDES)
    dest.prepare(spec)
    sid = dest.backup(spec)
    target = tmp_path / "restored"
    dest.engine.restore(spec, sid, str(target))
    want = {"one", "two"}
    want |= {f"one/{p}" for p in excluded_tree(one, EXCLUDES)}
    want |= {f"two/{p}" for p in excluded_tree(two, EXCLUDES)}
    assert "two/kept/build/stays.o" in want and "two/build" not in want
    got = set(tree(target))
    assert got == want, f"missing {sorted(want - got)}, extra {sorted(got - want)}"


def _special_source(root: Path, outside: Path) -> dict[str, bool]:
    """A source with a FIFO, a socket and a device when possible, hard links and
    symlinks to a file and a directory outside it. Returns which specials exist."""
    root.mkdir(parents=True)
    (root / "regular.txt").write_text("regular\n")
    (root / "hard1").write_bytes(os.urandom(5000))
    os.link(root / "hard1", root / "hard2")
    (root / "dir").mkdir()
    os.link(root / "hard1", root / "dir" / "hard3")
    make_fifo(root / "fifo")
    made = {"fifo": True, "socket": make_socket(root / "sock"), "device": False}
    if os.geteuid() == 0:
        try:
            os.mknod(root / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
            made["device"] = True
        except OSError:
            pass
    outside.mkdir()
    (outside / "big.bin").write_bytes(os.urandom(30_000))
    (root / "to-dir").symlink_to(outside)
    (root / "to-file").symlink_to(outside / "big.bin")
    return made


@pytest.mark.timeout(120)
def test_special_files_hard_links_and_symlinks(dest: Dest, tmp_path: Path) -> None:
    src = tmp_path / "src"
    made = _special_source(src, tmp_path / "outside")
    spec = dest.spec(src)
    dest.prepare(spec)
    result = dest.run(spec)
    assert result.finished.status == Status.SUCCEEDED, result.describe()
    sid = result.finished.snapshot_id
    assert sid

    # Never opened, never followed: verify terminates (the test's timeout) and is clean.
    report = dest.engine.verify(spec, sid)
    assert report.outcome == "ok", report
    if dest.capabilities(spec).deep_verify:
        deep = dest.engine.verify(spec, sid, deep=True)
        assert deep.outcome == "ok", deep

    target = tmp_path / "restored"
    dest.engine.restore(spec, sid, str(target))
    got = tree(target)
    want = tree(src)
    assert got["regular.txt"] == want["regular.txt"]
    for link in ("to-dir", "to-file"):
        assert got[link] == want[link], f"{link} must be restored as the same symlink"
    assert "to-dir/big.bin" not in got, "a symlink to a directory was followed"

    # Hard links inside the source stay one inode (snapshot, rsync -H and restic all keep them).
    inodes = {os.lstat(target / p).st_ino for p in ("hard1", "hard2", "dir/hard3")}
    assert len(inodes) == 1, "hard links inside the source were restored as copies"
    assert got["hard2"] == want["hard2"]

    # Special files: restored as what they are, or left out; never as a regular file.
    for name, kind in (("fifo", "fifo"), ("sock", "socket"), ("null", "device")):
        if made[kind] and name in got:
            assert got[name].kind == kind, f"{name} restored as a {got[name].kind}"

    [info] = dest.snapshots(spec)
    assert info.bytes is None or info.bytes >= 5000 + len("regular\n")
    assert info.bytes is None or info.bytes < 30_000, "the symlinked file outside was counted"
