"""The contract for fidelity (issue 9): a restore gives back what the source held.

One tree with what a Linux filesystem keeps beyond bytes: ``user.*`` extended
attributes, an access and a default ACL, hard links inside the source, a
sparse file, a file owned by another user, non-UTF-8 names, odd modes and
times, a 300-level deep branch, and (where the engine can) a path longer than
PATH_MAX. It is backed up and restored by each engine on each destination
kind and compared with the source entry by entry: content, type, mode, owner,
mtime (files and directories), xattrs, ACLs (``getfacl``), link counts, and
allocated blocks of the sparse file.

A check is skipped only where the engine's documented capabilities say it
cannot keep that piece (docs/engines.md), with the reason, never because it
fails:

- restic 0.14 restores holes as zeros (no ``restore --sparse`` before 0.15);
- paths longer than 4096 bytes: rsync 3.5 (MAXPATHLEN) and restic 0.14
  (full-path system calls) skip such an entry with a warning and keep the
  rest; only the snapshot engine walks by directory descriptors.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest
from destinations import BASE_MTIME, Dest
from servers import DESTINATION_KINDS, Destination

pytestmark = [
    pytest.mark.contract,
    pytest.mark.parametrize("destination", DESTINATION_KINDS, indirect=True),
    pytest.mark.skipif(
        shutil.which("setfacl") is None or shutil.which("getfacl") is None,
        reason="setfacl/getfacl not installed",
    ),
]

DEEP = 300
LONG_DEPTH = 1100  # 1,100 x "dddd/" = 5,500 bytes: longer than PATH_MAX
SPARSE_SIZE = 32 << 20
IS_ROOT = os.geteuid() == 0
NON_UTF8 = os.fsdecode(b"caf\xe9-\xff.txt")


def _skip_reason(dest: Dest, what: str) -> str | None:
    """Why this engine cannot keep ``what``, from its documented capabilities; None if it can."""
    engine = dest.kind.engine
    if what == "sparse" and engine == "restic":
        from tui_backup.engines.restic.restore import restore_options

        if "--sparse" not in restore_options("restic"):
            return "restic before 0.15 has no `restore --sparse`: holes come back as zeros"
    if what == "long-path" and engine == "rsync":
        return "rsync skips a path over 4096 bytes ('File name too long', exit 23): its MAXPATHLEN"
    if what == "long-path" and engine == "restic":
        return "restic skips a path over 4096 bytes ('file name too long', exit 3): full-path lstat"
    return None


@pytest.fixture
def dest(destination: Destination, tmp_path: Path) -> Dest:
    return Dest(destination, tmp_path)


def _acl(path: Path, *args: str) -> None:
    subprocess.run(["setfacl", *args, str(path)], check=True)


def make_fidelity_tree(root: Path) -> Path:
    """The tree this module backs up (see the module docstring), but the sparse file
    and the long path, which have tests of their own."""
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"linked content\n")
    os.link(root / "a.txt", root / "dir" / "sub" / "a-link.txt")
    (root / "xattr.txt").write_bytes(b"with attributes\n")
    os.setxattr(root / "xattr.txt", "user.colour", b"blue")
    os.setxattr(root / "xattr.txt", "user.binary", bytes(range(256)))
    os.setxattr(root / "dir", "user.kind", b"folder")
    (root / "acl.txt").write_bytes(b"with an access ACL\n")
    _acl(root / "acl.txt", "-m", "u:nobody:rw,g:daemon:r")
    _acl(root / "dir", "-d", "-m", "u:nobody:rx")
    (root / "dir" / "inherits.txt").write_bytes(b"got the default ACL\n")  # inherits it
    (root / NON_UTF8).write_bytes(b"latin-1 name\n")
    (root / "dir" / os.fsdecode(b"\xfe\xfd")).mkdir()
    (root / "odd.sh").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "odd.sh", 0o4751)
    os.symlink("a.txt", root / "link")
    if IS_ROOT:
        nobody = pwd.getpwnam("nobody")
        (root / "theirs.txt").write_bytes(b"not root's\n")
        os.chown(root / "theirs.txt", nobody.pw_uid, nobody.pw_gid)
    fd = os.open(root, os.O_DIRECTORY)
    for _ in range(DEEP):
        os.mkdir("d", dir_fd=fd)
        nfd = os.open("d", os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    _write_at(fd, "bottom.txt", b"deep\n")
    os.close(fd)
    # Times last (creating entries moves the parents' mtimes), bottom up.
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in [*filenames, *dirnames, ""]:
            path = os.path.join(dirpath, name) if name else dirpath
            os.utime(path, (BASE_MTIME, BASE_MTIME + 7), follow_symlinks=False)
    return root


def _write_at(dir_fd: int, name: str, data: bytes) -> None:
    out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dir_fd)
    os.write(out, data)
    os.close(out)


class Meta(NamedTuple):
    kind: str
    mode: int
    uid: int
    gid: int
    mtime_ns: int | None
    nlink: int | None
    digest: str | None
    xattrs: tuple[tuple[str, bytes], ...]
    acl: str


def _getfacl(path: str) -> str:
    got = subprocess.run(["getfacl", "-cp", "--", path], capture_output=True, check=True)
    return got.stdout.decode("utf-8", "backslashreplace")


def describe(root: Path) -> dict[str, Meta]:
    """Every entry under ``root`` (the root itself excluded) with its metadata."""
    out: dict[str, Meta] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            kind = "d" if stat.S_ISDIR(st.st_mode) else "f" if stat.S_ISREG(st.st_mode) else "l"
            digest = None
            if kind == "f":
                with open(path, "rb") as fh:
                    digest = hashlib.blake2b(fh.read(), digest_size=16).hexdigest()
            attrs: tuple[tuple[str, bytes], ...] = ()
            if kind != "l":
                attrs = tuple(
                    sorted(
                        (n, os.getxattr(path, n))
                        for n in os.listxattr(path)
                        if n.startswith("user.")
                    )
                )
            out[rel] = Meta(
                kind,
                stat.S_IMODE(st.st_mode),
                st.st_uid,
                st.st_gid,
                st.st_mtime_ns if kind != "l" else None,
                st.st_nlink if kind == "f" else None,
                digest,
                attrs,
                _getfacl(path) if kind != "l" else "",
            )
    return out


def _deep_read(root: Path, depth: int, name: str) -> bytes:
    fd = os.open(root, os.O_DIRECTORY)
    try:
        for _ in range(depth):
            nfd = os.open("dddd", os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nfd
        f = os.open(name, os.O_RDONLY, dir_fd=fd)
        try:
            return os.read(f, 1 << 16)
        finally:
            os.close(f)
    finally:
        os.close(fd)


def _rm(path: Path) -> None:
    if path.exists():
        subprocess.run(["rm", "-rf", str(path)], check=True)  # any depth


@pytest.fixture
def cleanup(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Deep trees go with ``rm -rf`` (pytest's own clean-up recurses and gives up)."""
    yield
    for name in ("src", "restored", "destination"):
        _rm(tmp_path / name)


@pytest.mark.timeout(600)
def test_a_restore_gives_back_content_and_every_piece_of_metadata(
    dest: Dest, tmp_path: Path, cleanup: None
) -> None:
    src = make_fidelity_tree(tmp_path / "src")
    spec = dest.spec(src)
    dest.prepare(spec)
    sid = dest.backup(spec)
    target = tmp_path / "restored"
    report = dest.engine.restore(spec, sid, str(target))
    assert report.skipped == ()
    want, got = describe(src), describe(target)
    assert sorted(got) == sorted(want)
    for rel, meta in want.items():
        assert got[rel] == meta, rel
    # Equal link counts are not enough: the pair must be one inode again.
    a, b = target / "a.txt", target / "dir" / "sub" / "a-link.txt"
    assert os.stat(a).st_ino == os.stat(b).st_ino
    assert "user:nobody:rw-" in _getfacl(str(target / "acl.txt"))
    assert "default:user:nobody:r-x" in _getfacl(str(target / "dir"))


@pytest.mark.timeout(300)
def test_a_sparse_file_comes_back_sparse(dest: Dest, tmp_path: Path, cleanup: None) -> None:
    reason = _skip_reason(dest, "sparse")
    if reason:
        pytest.skip(reason)
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "sparse.img", "wb") as fh:
        fh.truncate(SPARSE_SIZE)
        fh.seek(SPARSE_SIZE // 2)
        fh.write(b"middle")
    spec = dest.spec(src)
    dest.prepare(spec)
    sid = dest.backup(spec)
    target = tmp_path / "restored"
    dest.engine.restore(spec, sid, str(target))
    st = os.stat(target / "sparse.img")
    assert st.st_size == SPARSE_SIZE
    assert st.st_blocks * 512 < 1 << 20, f"{st.st_blocks * 512} bytes allocated for 6 of data"
    with open(target / "sparse.img", "rb") as fh:
        fh.seek(SPARSE_SIZE // 2)
        assert fh.read(6) == b"middle"


@pytest.mark.timeout(600)
def test_a_path_longer_than_path_max_backs_up_and_restores(
    dest: Dest, tmp_path: Path, cleanup: None
) -> None:
    reason = _skip_reason(dest, "long-path")
    if reason:
        pytest.skip(reason)
    src = tmp_path / "src"
    src.mkdir()
    fd = os.open(src, os.O_DIRECTORY)
    for _ in range(LONG_DEPTH):
        os.mkdir("dddd", dir_fd=fd)
        nfd = os.open("dddd", os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    _write_at(fd, "far.txt", b"beyond PATH_MAX\n")
    os.close(fd)
    spec = dest.spec(src)
    dest.prepare(spec)
    sid = dest.backup(spec)
    assert dest.engine.verify(spec, sid).outcome == "ok"
    target = tmp_path / "restored"
    assert dest.engine.restore(spec, sid, str(target)).files == 1
    assert _deep_read(target, LONG_DEPTH, "far.txt") == b"beyond PATH_MAX\n"
