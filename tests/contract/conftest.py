"""Fixtures for the contract suite: real destinations for every engine.

Servers (sshd, ``rclone serve restic``, moto S3) are session-scoped: each starts once
per pytest process (once per pytest-xdist worker) the first time a test asks for it,
and stops at the end of the session. Starting them costs about a second each, so a
test that does not need a server never starts one. Per-test state (a repository
path, a bucket) comes from function-scoped fixtures so tests never share a repository.

The machinery lives in ``servers.py`` (importable from test modules as ``servers``);
see its docstring for what "started" means and when a missing server skips or fails.

Usage::

    def test_rsync_over_ssh(sshd, tmp_path):
        dest = sshd.remote(tmp_path / "dest")
        subprocess.run(["rsync", "-a", "-e", sshd.ssh_command, "src/", dest], check=True)

    @pytest.mark.parametrize("destination", DESTINATION_KINDS, indirect=True)
    def test_contract(destination): ...
"""

from __future__ import annotations

from collections.abc import Iterator
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
    start_rest_server,
    start_s3_server,
    start_sshd,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under ``tests/contract`` with ``contract`` (``-m "not contract"``)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.contract)


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """A real sshd on 127.0.0.1 for the current user, reachable as ``tui-backup-test``.

    Yields an ``SshServer``: ``host_alias``, ``host``, ``port``, ``user``, ``identity``,
    ``ssh_config_path``, ``known_hosts``, ``log_path``; ``ssh_command`` (``ssh -F
    <config>``), ``sftp_command`` and ``restic_options`` (for restic's sftp backend),
    ``env`` (``RSYNC_RSH``), ``remote(path)`` and ``run(cmd)``.
    """
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def rest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestServer]:
    """``rclone serve restic`` on 127.0.0.1 with basic auth (user and random password)."""
    server = start_rest_server(tmp_path_factory.mktemp("rest"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A moto S3 server on 127.0.0.1 (in-memory; any credentials accepted)."""
    server = start_s3_server(tmp_path_factory.mktemp("s3"))
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- per test


@pytest.fixture
def rest_repo(rest_server: RestServer) -> RestRepo:
    """A fresh ``rest:http://user:pass@127.0.0.1:port/<unique>/`` repository (not initialised).

    More in one test: ``rest_server.new_repo()``.
    """
    return rest_server.new_repo()


@pytest.fixture
def s3_repo(s3_server: S3Server) -> S3Repo:
    """A fresh bucket and its ``s3:http://127.0.0.1:port/<bucket>/restic`` repository.

    Pass ``s3_repo.env`` (the AWS variables) to restic. More: ``s3_server.new_repo()``.
    """
    return s3_server.new_repo()


@pytest.fixture
def sftp_repo(sshd: SshServer, tmp_path: Path) -> str:
    """``sftp:tui-backup-test:<tmp>/sftp-repo``; restic needs ``sshd.restic_options``."""
    return f"sftp:{sshd.host_alias}:{tmp_path / 'sftp-repo'}"


@pytest.fixture
def restic_password_file(tmp_path: Path) -> Path:
    """A 0600 file holding a restic repository password (``RESTIC_PASSWORD_FILE``)."""
    path = tmp_path / "restic-password"
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("correct horse battery staple\n")
    return path


# --------------------------------------------------------------------------- destinations


@pytest.fixture
def destination(request: pytest.FixtureRequest, tmp_path: Path) -> Destination:
    """A fresh destination of kind ``request.param`` (one of ``DESTINATION_KINDS``).

    Use with ``@pytest.mark.parametrize("destination", DESTINATION_KINDS, indirect=True)``.
    Only the server a kind needs is started, on first use.
    """
    kind: str = getattr(request, "param", "snapshot")
    path = tmp_path / "destination"
    if kind == "snapshot":
        return Destination(kind, "snapshot", str(path), local_path=path)
    if kind == "rsync-local":
        return Destination(kind, "rsync", str(path), local_path=path)
    if kind == "restic-local":
        return Destination(kind, "restic", str(path), local_path=path)
    if kind in ("rsync-ssh", "restic-sftp"):
        ssh: SshServer = request.getfixturevalue("sshd")
        engine, target = (
            ("rsync", ssh.remote(path))
            if kind == "rsync-ssh"
            else ("restic", f"sftp:{ssh.remote(path)}")
        )
        return Destination(kind, engine, target, ssh.env, ssh.ssh_command, path, ssh)
    if kind == "restic-rest":
        repo = request.getfixturevalue("rest_server").new_repo()
        return Destination(kind, "restic", repo.url, local_path=repo.path)
    if kind == "restic-s3":
        s3 = request.getfixturevalue("s3_server").new_repo()
        return Destination(kind, "restic", s3.url, env=s3.env)
    raise ValueError(f"unknown destination kind {kind!r}; known: {', '.join(DESTINATION_KINDS)}")
