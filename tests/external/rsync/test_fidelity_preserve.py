"""Issue 9: the rsync engine keeps what ``rsync -aHAX --sparse`` keeps, unless ``preserve`` says.

And a destination that cannot hold ACLs or extended attributes fails the
run with a sentence naming the setting, instead of "succeeded, N warnings"
with every ACL gone (rsync itself exits 23 and copies the files).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.events import FileWarning
from tui_backup.engines.rsync import RsyncEngine

from .conftest import Where, backup, finished, run

pytestmark = pytest.mark.skipif(
    shutil.which("setfacl") is None or shutil.which("getfacl") is None,
    reason="setfacl/getfacl not installed",
)

NONE_KEPT = {"xattrs": False, "acls": False, "hard_links": False, "sparse": False}


def getfacl(path: Path) -> str:
    return subprocess.run(
        ["getfacl", "-cp", str(path)], capture_output=True, check=True, text=True
    ).stdout


def make_tree(src: Path) -> None:
    """xattrs, an access and a default ACL, a hard link and a 16 MiB sparse file."""
    (src / "dir").mkdir(parents=True)
    (src / "a").write_text("shared\n")
    os.link(src / "a", src / "dir" / "b")
    os.setxattr(src / "a", "user.colour", b"blue")
    subprocess.run(["setfacl", "-m", "u:nobody:r", str(src / "a")], check=True)
    subprocess.run(["setfacl", "-d", "-m", "u:nobody:rx", str(src / "dir")], check=True)
    with open(src / "sparse", "wb") as fh:
        fh.truncate(16 << 20)
        fh.seek(8 << 20)
        fh.write(b"data")


def assert_kept(src: Path, copy: Path) -> None:
    assert os.getxattr(copy / "a", "user.colour") == b"blue"
    assert getfacl(copy / "a") == getfacl(src / "a")
    assert "default:user:nobody:r-x" in getfacl(copy / "dir")
    assert os.stat(copy / "a").st_ino == os.stat(copy / "dir" / "b").st_ino
    st = os.stat(copy / "sparse")
    assert st.st_size == 16 << 20 and st.st_blocks * 512 < 1 << 20
    assert (copy / "sparse").read_bytes()[8 << 20 : (8 << 20) + 4] == b"data"


def test_xattrs_acls_hard_links_and_holes_are_kept_and_restored(
    where: Where, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_tree(src)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    sid = backup(spec)
    assert_kept(src, dest / sid)
    out = tmp_path / "out"
    report = RsyncEngine().restore(spec, sid, str(out))
    assert report.warnings == 0
    assert_kept(src, out)


def test_each_can_be_left_out(local: Where, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    dest = tmp_path / "dest"
    sid = backup(local.spec(src, dest, preserve=NONE_KEPT))
    snap = dest / sid
    assert "user.colour" not in os.listxattr(snap / "a")
    assert "nobody" not in getfacl(snap / "a") and "default" not in getfacl(snap / "dir")
    assert os.stat(snap / "a").st_ino != os.stat(snap / "dir" / "b").st_ino
    assert os.stat(snap / "sparse").st_blocks * 512 >= 16 << 20


@pytest.fixture
def ramfs(tmp_path: Path) -> Iterator[Path]:
    """A filesystem without ACLs or user xattrs (ramfs), mounted for the test (root only)."""
    mnt = tmp_path / "ramfs"
    mnt.mkdir()
    got = subprocess.run(
        ["mount", "-t", "ramfs", "none", str(mnt)], capture_output=True, check=False
    )
    if got.returncode:
        pytest.skip(f"cannot mount a ramfs here: {got.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_a_destination_without_acl_support_is_a_clear_error_not_silent_loss(
    where: Where, tmp_path: Path, ramfs: Path
) -> None:
    src = tmp_path / "src"
    make_tree(src)
    dest = ramfs / "dest"
    fin = finished(run(where.spec(src, dest)))
    assert fin.status == "failed"
    assert fin.error_type == ErrorType.DESTINATION_ERROR
    assert "cannot hold ACLs or extended attributes" in (fin.error or "")
    assert "preserve.acls: false and preserve.xattrs: false" in (fin.error or "")
    assert [n for n in os.listdir(dest) if not n.startswith(".")] == []  # nothing half-kept
    # Told to leave them out, the same job backs up.
    spec = where.spec(src, dest, preserve={"acls": False, "xattrs": False})
    sid = backup(spec)
    assert (dest / sid / "a").read_text() == "shared\n"


def test_a_restore_target_without_acl_support_says_so(tmp_path: Path, ramfs: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    spec = Where("local").spec(src, tmp_path / "dest")
    sid = backup(spec)
    events: list[object] = []
    report = RsyncEngine().restore(
        spec,
        sid,
        str(ramfs / "out"),
        emit=events.append,
    )
    assert report.files == 3 and report.warnings >= 1
    warned = [e.reason for e in events if isinstance(e, FileWarning)]
    assert any("cannot hold ACLs and extended attributes" in w for w in warned), warned


@pytest.mark.skipif(os.geteuid() != 0, reason="giving the target to nobody needs root")
def test_restore_into_a_shared_1777_directory_of_another_user_keeps_it(
    where: Where, tmp_path: Path
) -> None:
    """rsync alone gives the target the snapshot root's mode, owner and times."""
    import pwd

    src = tmp_path / "src"
    make_tree(src)
    spec = where.spec(src, tmp_path / "dest")
    sid = backup(spec)
    shared = tmp_path / "shared"
    shared.mkdir()
    nobody = pwd.getpwnam("nobody")
    os.chown(shared, nobody.pw_uid, nobody.pw_gid)
    os.chmod(shared, 0o1777)
    subprocess.run(["setfacl", "-m", "u:daemon:rwx", str(shared)], check=True)
    os.utime(shared, ns=(123_000_000_007, 456_000_000_009))
    acl = getfacl(shared)
    report = RsyncEngine().restore(spec, sid, str(shared), overwrite=True)
    assert report.files == 3
    st = os.stat(shared)
    assert stat.S_IMODE(st.st_mode) == 0o1777
    assert (st.st_uid, st.st_gid) == (nobody.pw_uid, nobody.pw_gid)
    assert st.st_mtime_ns == 456_000_000_009
    assert getfacl(shared) == acl
    assert_kept(src, shared)  # and what is inside is the snapshot's


@pytest.mark.parametrize("inside", ["SID", "SID/dir/new", "latest/x", ".tui-backup/x", ""])
def test_a_restore_target_inside_the_destination_is_refused(
    local: Where, tmp_path: Path, inside: str
) -> None:
    src = tmp_path / "src"
    (src / "dir").mkdir(parents=True)
    (src / "a").write_text("a\n")
    dest = tmp_path / "dest"
    spec = local.spec(src, dest)
    sid = backup(spec)
    if not (dest / "latest").exists():
        os.symlink(sid, dest / "latest")
    target = dest / inside.replace("SID", sid) if inside else dest
    before = sorted(str(p) for p in dest.rglob("*"))
    with pytest.raises(EngineError) as err:
        RsyncEngine().restore(spec, sid, str(target), overwrite=True)
    assert err.value.error_type == ErrorType.INVALID_TARGET
    assert sorted(str(p) for p in dest.rglob("*")) == before
