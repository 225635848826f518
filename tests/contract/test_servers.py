"""Self-tests of the contract fixtures: each server really works with the real clients.

If these fail, the contract tests' failures say nothing about the engines; run these
first (``pytest tests/contract/test_servers.py``) when a contract test misbehaves.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from servers import (
    DESTINATION_KINDS,
    Destination,
    RestRepo,
    RestServer,
    S3Repo,
    S3Server,
    SshServer,
    require_program,
    restic_env,
)


def _tree(root: Path) -> Path:
    """A small source directory with a nested file, a binary file and a symlink."""
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b.bin").write_bytes(os.urandom(4096))
    (root / "link").symlink_to("a.txt")
    return root


def _restic(
    repo: str,
    password_file: Path,
    *args: str,
    options: list[str] | None = None,
    extra: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    require_program("restic", "the restic backends' client")
    proc = subprocess.run(
        ["restic", "--no-cache", "-r", repo, *(options or []), *args],
        env=restic_env(password_file, extra),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"restic {' '.join(args)} -> {proc.returncode}\n{proc.stderr}"
    return proc


def _init_backup_list(
    repo: str,
    password_file: Path,
    src: Path,
    options: list[str] | None = None,
    extra: dict[str, str] | None = None,
) -> list[dict[str, object]]:
    """``restic init`` + ``backup`` + ``snapshots --json``; the snapshots listed."""
    _restic(repo, password_file, "init", options=options, extra=extra)
    _restic(repo, password_file, "backup", str(src), options=options, extra=extra)
    out = _restic(repo, password_file, "snapshots", "--json", options=options, extra=extra)
    snapshots: list[dict[str, object]] = json.loads(out.stdout)
    assert len(snapshots) == 1
    assert snapshots[0]["paths"] == [str(src)]
    return snapshots


# --------------------------------------------------------------------------- sshd


def test_sshd_runs_commands_as_the_test_user(sshd: SshServer) -> None:
    result = sshd.run("id -un && printf '%s' \"$SSH_CONNECTION\"")
    assert result.returncode == 0, result.stderr
    user, connection = result.stdout.splitlines()
    assert user == sshd.user
    assert connection.split()[2:] == ["127.0.0.1", str(sshd.port)]


def test_plain_ssh_with_the_ssh_command_reaches_the_alias(sshd: SshServer) -> None:
    """What any subprocess does with a job's ``ssh_command``: ``<ssh_command> alias cmd``."""
    result = subprocess.run(
        f"{sshd.ssh_command} {sshd.host_alias} echo hello",
        shell=True,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr


def test_sshd_pins_its_host_key(sshd: SshServer) -> None:
    """A different key on the port must be refused, not silently accepted."""
    original = sshd.known_hosts.read_text()
    try:
        sshd.known_hosts.write_text(original.replace(sshd.host_alias, "someone-else"))
        assert sshd.run("true").returncode != 0
    finally:
        sshd.known_hosts.write_text(original)
    assert sshd.run("true").returncode == 0


def test_rsync_over_ssh_round_trip(sshd: SshServer, tmp_path: Path) -> None:
    require_program("rsync", "the rsync engine's client")
    src = _tree(tmp_path / "src")
    remote = tmp_path / "remote"
    back = tmp_path / "back"
    up = ["rsync", "-a", "-e", sshd.ssh_command, f"{src}/", sshd.remote(f"{remote}/")]
    subprocess.run(up, check=True, capture_output=True, timeout=60)
    # Back again without -e: RSYNC_RSH from sshd.env carries the ssh command.
    down = ["rsync", "-a", sshd.remote(f"{remote}/"), f"{back}/"]
    subprocess.run(
        down, check=True, capture_output=True, timeout=60, env={**os.environ, **sshd.env}
    )
    assert (back / "a.txt").read_text() == "alpha\n"
    assert (back / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()
    assert os.readlink(back / "link") == "a.txt"
    assert sshd.run(f"test -f {remote}/sub/b.bin").returncode == 0


def test_restic_over_sftp(
    sshd: SshServer, sftp_repo: str, restic_password_file: Path, tmp_path: Path
) -> None:
    src = _tree(tmp_path / "src")
    _init_backup_list(sftp_repo, restic_password_file, src, options=sshd.restic_options)
    repo_dir = Path(sftp_repo.split(":", 2)[2])
    assert (repo_dir / "config").is_file()


# --------------------------------------------------------------------------- rest


def test_restic_rest_with_credentials(
    rest_repo: RestRepo, restic_password_file: Path, tmp_path: Path
) -> None:
    src = _tree(tmp_path / "src")
    assert f"{rest_repo.user}:{rest_repo.password}@" in rest_repo.url
    assert rest_repo.password not in rest_repo.public_url
    _init_backup_list(rest_repo.url, restic_password_file, src)
    assert (rest_repo.path / "config").is_file()


def test_rest_server_refuses_a_wrong_password(
    rest_server: RestServer, restic_password_file: Path
) -> None:
    require_program("restic", "the restic backends' client")
    repo = rest_server.new_repo()
    wrong = repo.url.replace(repo.password, "wrong-password")
    proc = subprocess.run(
        ["restic", "--no-cache", "-r", wrong, "init"],
        env=restic_env(restic_password_file),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert not repo.path.exists()


def test_rest_repos_are_fresh_per_call(rest_server: RestServer) -> None:
    assert rest_server.new_repo().url != rest_server.new_repo().url


# --------------------------------------------------------------------------- s3


def test_restic_s3(s3_repo: S3Repo, restic_password_file: Path, tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    _init_backup_list(s3_repo.url, restic_password_file, src, extra=s3_repo.env)


def test_s3_repos_get_their_own_bucket(s3_server: S3Server) -> None:
    first, second = s3_server.new_repo(), s3_server.new_repo()
    assert first.bucket != second.bucket
    assert first.url == f"s3:{s3_server.endpoint}/{first.bucket}/restic"


# --------------------------------------------------------------------------- misc


def test_restic_password_file_is_private(restic_password_file: Path) -> None:
    assert restic_password_file.stat().st_mode & 0o777 == 0o600
    assert restic_password_file.read_text().strip()


@pytest.mark.parametrize("destination", DESTINATION_KINDS, indirect=True)
def test_every_destination_kind_is_provided(destination: Destination) -> None:
    assert destination.kind in DESTINATION_KINDS
    assert destination.engine == destination.kind.split("-")[0]
    if destination.kind in ("rsync-ssh", "restic-sftp"):
        assert destination.sshd is not None
        assert destination.ssh_command == destination.sshd.ssh_command
        assert destination.sshd.host_alias in destination.target
    if destination.kind == "restic-s3":
        assert destination.env["AWS_ACCESS_KEY_ID"]


def _listening(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on ``port``, from ``/proc/net/tcp*``."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            addr, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                if len(addr) == 8:  # IPv4, little-endian hex
                    found.add(".".join(str(b) for b in reversed(bytes.fromhex(addr))))
                else:
                    found.add(f"ipv6:{addr}")
    return found


def test_servers_listen_on_loopback_only(
    sshd: SshServer, rest_server: RestServer, s3_server: S3Server
) -> None:
    """Each port is bound to 127.0.0.1, never to all interfaces."""
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp (not Linux)")
    for port in (sshd.port, rest_server.port, s3_server.port):
        assert _listening(port) == {"127.0.0.1"}, port
