"""Issue 8: remote rsync destinations (relative and ``~`` paths, ssh settings, unreachable
hosts) and the unmounted-disk refusal, against a real sshd.

Before: ``user@host:relative/path`` never hard-linked (``--link-dest`` was
resolved against the destination), a ``~`` path failed the commit and left a
partial, ``ssh_port``/``ssh_identity`` could not be given, and a missing
destination parent was created with ``mkdir -p``.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.servers import SshServer, free_port
from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.rsync import RsyncEngine

from .conftest import Where, backup, finished, run, settle


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "same.txt").write_text("unchanged\n")
    (src / "changes.txt").write_text("one\n")
    settle(src)
    return src


@pytest.fixture
def in_home() -> Iterator[str]:
    """A fresh directory in the ssh user's home, as a path relative to that home."""
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    rel = f".tui-backup-rsync-test-{secrets.token_hex(4)}"
    (home / rel).mkdir()
    try:
        yield rel
    finally:
        shutil.rmtree(home / rel, ignore_errors=True)


def _home() -> Path:
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


def _linked_twice(remote: Where, src: Path, destination: str, on_disk: Path) -> None:
    spec = remote.spec(src, destination)
    first = backup(spec)
    (src / "changes.txt").write_text("two\n")
    second = backup(spec)
    a, b = on_disk / first / "d" / "same.txt", on_disk / second / "d" / "same.txt"
    assert a.stat().st_ino == b.stat().st_ino, "an unchanged file is hard-linked"
    assert (on_disk / second / "changes.txt").read_text() == "two\n"
    assert not [n for n in os.listdir(on_disk) if n.endswith(".partial")]
    assert [s.id for s in RsyncEngine().snapshots(spec)] == [second, first]


def test_a_relative_remote_path_hard_links(remote: Where, tmp_path: Path, in_home: str) -> None:
    assert remote.sshd is not None
    _linked_twice(
        remote, _source(tmp_path), f"{remote.sshd.host_alias}:{in_home}/dest",
        _home() / in_home / "dest",
    )  # fmt: skip


def test_a_tilde_remote_path_commits_and_hard_links(
    remote: Where, tmp_path: Path, in_home: str
) -> None:
    assert remote.sshd is not None
    _linked_twice(
        remote, _source(tmp_path), f"{remote.sshd.host_alias}:~/{in_home}/dest",
        _home() / in_home / "dest",
    )  # fmt: skip


def test_a_missing_destination_parent_is_refused_never_created(
    where: Where, tmp_path: Path
) -> None:
    """An unmounted disk: the mount point's directory is missing, so nothing is made."""
    parent = tmp_path / "mnt" / "disk"
    spec = where.spec(_source(tmp_path), parent / "backups")
    fin = finished(run(spec))
    assert fin.status == "failed"
    assert fin.error_type == ErrorType.DESTINATION_MISSING
    assert "mounted" in (fin.error or "")
    assert not (tmp_path / "mnt").exists()
    with pytest.raises(EngineError) as err:
        RsyncEngine().init(spec)
    assert err.value.error_type == ErrorType.DESTINATION_MISSING
    assert not (tmp_path / "mnt").exists()


def test_an_unreachable_host_is_named_and_transient(remote: Where, tmp_path: Path) -> None:
    spec = remote.spec(_source(tmp_path), tmp_path / "dest", ssh_port=free_port())
    fin = finished(run(spec))
    assert fin.status == "failed"
    assert fin.error_type == ErrorType.DESTINATION_UNREACHABLE
    assert fin.transient
    assert "tui-backup-test" in (fin.error or "")
    with pytest.raises(EngineError) as err:
        RsyncEngine().snapshots(spec)
    assert err.value.error_type == ErrorType.DESTINATION_UNREACHABLE
    assert not (tmp_path / "dest").exists()


def _bare_config(sshd: SshServer, where: Path) -> Path:
    """The test sshd's client config without its Port and IdentityFile lines."""
    where.mkdir(parents=True)
    config = where / "ssh_config"
    lines = sshd.ssh_config_path.read_text().splitlines()
    kept = [line for line in lines if line.strip().split(" ")[0] not in ("Port", "IdentityFile")]
    config.write_text("\n".join(kept) + "\n")
    config.chmod(0o600)
    return config


def test_ssh_port_and_identity_are_used(remote: Where, tmp_path: Path) -> None:
    assert remote.sshd is not None
    sshd = remote.sshd
    # A directory with a space: ssh_command is split like a shell would, never run by one.
    config = _bare_config(sshd, tmp_path / "ssh config")
    command = f"ssh -F '{config}'"
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    spec = remote.spec(
        src, dest, ssh_command=command, ssh_port=sshd.port, ssh_identity=str(sshd.identity)
    )
    sid = backup(spec)
    assert (dest / sid / "d" / "same.txt").read_text() == "unchanged\n"
    assert RsyncEngine().verify(spec).ok

    no_key = remote.spec(src, dest, ssh_command=command, ssh_port=sshd.port)
    fin = finished(run(no_key))
    assert fin.error_type == ErrorType.DESTINATION_UNREACHABLE, fin.error
    no_port = remote.spec(src, dest, ssh_command=command, ssh_identity=str(sshd.identity))
    fin = finished(run(no_port))
    assert fin.error_type == ErrorType.DESTINATION_UNREACHABLE, fin.error
    assert [s.id for s in RsyncEngine().snapshots(spec)] == [sid]


def test_a_host_without_rsync_is_named(remote: Where, tmp_path: Path) -> None:
    assert remote.sshd is not None
    wrapper = tmp_path / "ssh-without-rsync"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        "args = ['no-such-rsync' if a == 'rsync' else a for a in sys.argv[1:]]\n"
        f"os.execvp('ssh', ['ssh', '-F', {str(remote.sshd.ssh_config_path)!r}, *args])\n"
    )
    wrapper.chmod(0o755)
    dest = tmp_path / "dest"
    spec = remote.spec(_source(tmp_path), dest, ssh_command=str(wrapper))
    fin = finished(run(spec))
    assert fin.error_type == ErrorType.TOOL_MISSING, fin.error
    assert "tui-backup-test" in (fin.error or "")
    assert not [n for n in os.listdir(dest) if n.endswith(".partial")]
