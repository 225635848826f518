"""Regression cases for the engine-level bugs of issue 8, on every destination kind.

Bugs already covered by a general contract case are not repeated here:
- a second rsync job on the same destination (test_contract_runs ownership),
- verify of restic / rsync over ssh that checked nothing (test_contract_verify),
- 0 files / 0 B listings (test_contract_runs counts),
- restores in three layouts, non-empty targets, dry runs that write
  (test_contract_restore), a restic path matched at any depth (ditto),
- an unmounted disk replaced by the root filesystem, unasked ``restic init``
  (test_contract_runs), a FIFO blocking verify, no ``-H`` (test_contract_trees),
- three exclude semantics (test_contract_trees).
Not here: the purge fallback to ``rmtree`` and health (core), rsync retention
in UTC days (the engines share ``common.decide_forget``; the run times of a
contract test cannot be placed around midnight), wrapper overhead (benchmarks/).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shlex
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from destinations import Dest, flip_byte, make_source, run_engine, tree
from servers import DESTINATION_KINDS, Destination, free_port

from tui_backup.engines.api import EngineError, ErrorType, RunOptions
from tui_backup.engines.restic import ResticEngine
from tui_backup.model.status import Status

pytestmark = [
    pytest.mark.contract,
    pytest.mark.parametrize("destination", DESTINATION_KINDS, indirect=True),
]


@pytest.fixture
def dest(destination: Destination, tmp_path: Path) -> Dest:
    return Dest(destination, tmp_path)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return make_source(tmp_path / "src")


# --------------------------------------------------------------------------- corruption


@pytest.mark.timeout(120)
def test_a_file_that_failed_verify_is_not_linked_into_the_next_snapshot(
    dest: Dest, src: Path
) -> None:
    """Issue 8: one flipped byte in a snapshot, verify finds it, and the next run
    hard-linked the same bad inode again. The next run must copy it fresh."""
    if not dest.kind.tree:
        pytest.skip("restic keeps content-addressed blobs, not hard-linked snapshot trees")
    spec = dest.spec(src)
    dest.prepare(spec)
    first = dest.backup(spec)
    bad = dest.snapshot_dir(first) / "sub" / "b.bin"
    flip_byte(bad)
    assert dest.engine.verify(spec, first).outcome == "damaged"

    second = dest.backup(spec)
    fresh = dest.snapshot_dir(second) / "sub" / "b.bin"
    assert fresh.read_bytes() == (src / "sub" / "b.bin").read_bytes()
    assert fresh.stat().st_ino != bad.stat().st_ino
    assert dest.engine.verify(spec, second).outcome == "ok"
    unchanged = ("a.txt", "sub/deeper/c.txt")
    for rel in unchanged:  # everything else is still linked, not copied
        assert (dest.snapshot_dir(second) / rel).stat().st_ino == (
            dest.snapshot_dir(first) / rel
        ).stat().st_ino, rel


@pytest.mark.timeout(120)
def test_run_with_checksum_rereads_the_sources(dest: Dest, src: Path, tmp_path: Path) -> None:
    """``run --checksum``: a source file changed without a size or mtime change, and a
    stored copy damaged in place, both reach the next snapshot intact."""
    spec = dest.spec(src)
    dest.prepare(spec)
    if not dest.capabilities(spec).checksum_run:
        pytest.skip("no checksum run (Capabilities.checksum_run)")
    first = dest.backup(spec)
    if dest.kind.tree:
        flip_byte(dest.snapshot_dir(first) / "sub" / "b.bin")
    silent = src / "a.txt"
    st = silent.stat()
    data = bytearray(silent.read_bytes())
    data[0] ^= 0x20  # "alpha" -> "Alpha": same size
    silent.write_bytes(bytes(data))
    os.utime(silent, ns=(st.st_atime_ns, st.st_mtime_ns))

    second = dest.backup(spec, options=RunOptions(checksum=True))
    target = tmp_path / "restored"
    dest.engine.restore(spec, second, str(target))
    assert tree(target) == tree(src)
    assert dest.engine.verify(spec, second).outcome == "ok"


# --------------------------------------------------------------------------- rsync paths


@pytest.fixture
def home_dir() -> Iterator[str]:
    """A unique directory in the sshd user's home (``host:relative`` and ``~`` paths
    land there; it is the destination's parent, so it exists, as a mounted disk would);
    removed afterwards, read-only snapshot directories included."""
    name = f".tui-backup-contract-{secrets.token_hex(6)}"
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    (home / name).mkdir(mode=0o700)
    try:
        yield name
    finally:
        path = home / name
        for dirpath, dirnames, _ in os.walk(path):
            for d in dirnames:
                full = Path(dirpath) / d
                if not full.is_symlink():
                    full.chmod(0o700)
        subprocess.run(["rm", "-rf", "--", str(path)], check=False)


def _hard_linked(a: Path, b: Path) -> bool:
    return a.stat().st_ino == b.stat().st_ino


@pytest.mark.timeout(120)
@pytest.mark.parametrize("form", ["relative", "tilde"])
def test_remote_rsync_paths_relative_to_home(
    dest: Dest, src: Path, home_dir: str, form: str
) -> None:
    """Issue 8: ``host:relative/path`` never hard-linked (``--link-dest`` resolved
    against the destination) and ``host:~/path`` failed the commit, leaving a partial."""
    if dest.kind.name != "rsync-ssh":
        pytest.skip("only rsync over ssh has host:relative and host:~ destinations")
    assert dest.server.sshd is not None
    rel = f"{home_dir}/dest" if form == "relative" else f"~/{home_dir}/dest"
    spec = dest.spec(src, destination=f"{dest.server.sshd.host_alias}:{rel}")
    dest.prepare(spec)
    first = dest.backup(spec)
    second = dest.backup(spec)
    assert dest.ids(spec) == [second, first]
    where = Path(pwd.getpwuid(os.getuid()).pw_dir) / home_dir / "dest"
    assert not [p for p in os.listdir(where) if p.endswith(".partial")]
    for rel_file in ("a.txt", "sub/b.bin"):
        assert _hard_linked(where / first / rel_file, where / second / rel_file), rel_file
    assert dest.engine.verify(spec, second).outcome == "ok"


@pytest.mark.timeout(120)
def test_a_single_file_source_is_hard_linked_between_snapshots(dest: Dest, tmp_path: Path) -> None:
    one = tmp_path / "settings.conf"
    one.write_bytes(os.urandom(3000))
    # Written an hour ago: a file written the moment before a run is "racy", and the
    # rsync engine copies it again next time instead of linking it (tests/external/
    # rsync/test_racy.py).
    os.utime(one, (time.time() - 3600,) * 2)
    spec = dest.spec(one)
    dest.prepare(spec)
    first = dest.backup(spec)
    second = dest.backup(spec)
    [newest, _] = dest.snapshots(spec)
    assert (newest.files, newest.bytes) == (1, 3000)
    target = tmp_path / "restored"
    dest.engine.restore(spec, second, str(target))
    assert (target / "settings.conf").read_bytes() == one.read_bytes()
    if dest.kind.tree:  # snapshot trees on this machine (rsync-ssh's too: its sshd is local)
        a = dest.snapshot_dir(first) / "settings.conf"
        assert _hard_linked(a, dest.snapshot_dir(second) / "settings.conf")


# --------------------------------------------------------------------------- ssh settings


@pytest.mark.timeout(120)
def test_ssh_port_and_identity_from_the_job(dest: Dest, src: Path, tmp_path: Path) -> None:
    """Issue 8: an SSH port or identity could not be given. Here the host is a plain
    ``user@127.0.0.1`` (no config alias): the port and key come only from the job."""
    if not dest.kind.over_ssh:
        pytest.skip("not an ssh destination")
    sshd = dest.server.sshd
    assert sshd is not None
    base = [
        "ssh",
        "-F",
        "/dev/null",
        "-o",
        f"UserKnownHostsFile={sshd.known_hosts}",
        "-o",
        f"HostKeyAlias={sshd.host_alias}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
    ]
    where = tmp_path / "by-port"
    remote = f"{sshd.user}@127.0.0.1:{where}"
    spec = dest.spec(
        src,
        destination=remote if dest.kind.engine == "rsync" else f"sftp:{remote}",
        ssh_command=shlex.join(base),
        ssh_port=sshd.port,
        ssh_identity=str(sshd.identity),
    )
    dest.prepare(spec)
    sid = dest.backup(spec)
    assert where.is_dir()
    restored = tmp_path / "restored"
    dest.engine.restore(spec, sid, str(restored))
    assert tree(restored) == tree(src)


# --------------------------------------------------------------------------- restic


@pytest.mark.timeout(300)
def test_a_locked_repository_names_the_holder(dest: Dest, src: Path) -> None:
    """Issue 8: a locked repository failed at once and lost the line naming the holder.
    The run is retried (backoff) and, while the lock stays, fails as REPOSITORY_LOCKED
    (transient) naming the PID that holds it."""
    if dest.kind.name != "restic-local":
        pytest.skip("the lock holder is a local restic process: restic-local only")
    spec = dest.spec(src)
    dest.prepare(spec)
    dest.backup(spec)
    env = {**os.environ, "RESTIC_PASSWORD_FILE": str(dest.password_file)}
    # `key passwd` takes the exclusive lock, then waits for the new password on stdin.
    holder = subprocess.Popen(
        ["restic", "--no-cache", "-r", dest.target, "key", "passwd"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        locks = Path(dest.target) / "locks"
        deadline = time.monotonic() + 30
        while not any(locks.iterdir()):
            assert holder.poll() is None, "the lock holder exited"
            assert time.monotonic() < deadline, "restic key passwd took no lock"
            time.sleep(0.05)
        # The default wait for a lock is two minutes; the behaviour is the same with 8 s.
        result = run_engine(ResticEngine(lock_timeout=8), spec)
        finished = result.finished
        assert finished.status == Status.FAILED, result.describe()
        assert finished.error_type == ErrorType.REPOSITORY_LOCKED, result.describe()
        assert finished.transient
        assert str(holder.pid) in (finished.error or ""), "the holder's PID is named"
    finally:
        holder.kill()
        holder.wait(timeout=30)
    stale = Path(dest.target) / "locks"
    for lock in stale.iterdir():  # the killed holder leaves its lock; restic unlock removes it
        lock.chmod(stat.S_IWUSR | stat.S_IRUSR)
        lock.unlink()
    dest.backup(spec)


def _unreachable(dest: Dest) -> tuple[str, str | None]:
    """The job's destination and ssh_command, pointed at a port nobody listens on."""
    closed = free_port()
    if dest.kind.over_ssh:
        return dest.target, f"{dest.server.ssh_command} -p {closed}"
    url = dest.target
    scheme, _, rest = url.partition(":")
    parts = urlsplit(rest)
    netloc = parts.netloc.rsplit(":", 1)[0] + f":{closed}"
    return f"{scheme}:{parts._replace(netloc=netloc).geturl()}", None


@pytest.mark.timeout(180)
def test_an_unreachable_destination_is_named_unreachable(dest: Dest, src: Path) -> None:
    """Issue 8: an unreachable sftp/S3/REST repository read "EOF" or "create repository
    failed", and a failed ``cat config`` was taken for "no repository" (init tried)."""
    if dest.kind.name in ("snapshot", "rsync-local", "restic-local"):
        pytest.skip("a local destination has no network to be unreachable over")
    target, ssh_command = _unreachable(dest)
    spec = dest.spec(src, destination=target, ssh_command=ssh_command)
    secret = urlsplit(target.partition(":")[2]).password
    result = dest.run(spec)
    finished = result.finished
    assert finished.status == Status.FAILED, result.describe()
    assert finished.error_type == ErrorType.DESTINATION_UNREACHABLE, result.describe()
    assert finished.transient
    if secret:
        assert secret not in (finished.error or ""), "the repository password is shown"
    with pytest.raises(EngineError) as listing:
        dest.engine.snapshots(spec)
    assert listing.value.error_type == ErrorType.DESTINATION_UNREACHABLE
    if dest.capabilities(spec).needs_init:
        with pytest.raises(EngineError) as init:
            dest.engine.init(spec)
        assert init.value.error_type == ErrorType.DESTINATION_UNREACHABLE
