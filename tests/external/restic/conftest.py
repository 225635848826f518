"""Fixtures for the restic engine's own tests: real restic, real repositories.

Local repositories live in ``tmp_path``; remote ones use the contract suite's
real servers (``tests/contract/servers.py``: an sshd on 127.0.0.1 for
``sftp:``, ``rclone serve restic`` with a user and password for ``rest:``,
moto for ``s3:``), started once per session and only when a test asks.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

try:
    from tests.contract import servers
except ImportError:  # run from another directory: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from tests.contract import servers

from tui_backup.engines.restic import ResticEngine
from tui_backup.model import JobSpec, parse_job

KINDS = ("local", "sftp", "rest", "s3")


@pytest.fixture
def restic() -> ResticEngine:
    if shutil.which("restic") is None:
        servers.missing("restic is not installed (.ci/run installs it)")
    return ResticEngine(lock_timeout=5.0)


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "restic-password"
    path.write_text("correct horse battery staple\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def restic_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.SshServer]:
    server = servers.start_sshd(tmp_path_factory.mktemp("restic-sshd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def restic_rest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.RestServer]:
    server = servers.start_rest_server(tmp_path_factory.mktemp("restic-rest"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def restic_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.S3Server]:
    server = servers.start_s3_server(tmp_path_factory.mktemp("restic-s3"))
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Repo:
    """One fresh repository of a kind, and how to make job specs that use it."""

    kind: str
    destination: str
    password_file: Path
    env: dict[str, str] = field(default_factory=dict)
    ssh_command: str | None = None
    local_path: Path | None = None
    secret: str | None = None
    """A password inside the URL, which no message may show."""

    def spec(self, sources: list[Path] | Path, name: str = "cloud", **fields: Any) -> JobSpec:
        srcs = [sources] if isinstance(sources, Path) else sources
        data: dict[str, Any] = {
            "name": name,
            "sources": [str(s) for s in srcs],
            "destination": self.destination,
            "engine": "restic",
            "env": {"RESTIC_PASSWORD_FILE": str(self.password_file), **self.env},
        }
        if self.ssh_command is not None:
            data["ssh_command"] = self.ssh_command
        data.update(fields)
        return parse_job(data, f"jobs/{name}.yaml", name)


MakeRepo = Callable[[str], Repo]


@pytest.fixture
def make_repo(request: pytest.FixtureRequest, tmp_path: Path, password_file: Path) -> MakeRepo:
    """``make_repo(kind)``: a fresh, not yet initialised repository of ``kind``."""
    counter = iter(range(1000))

    def make(kind: str) -> Repo:
        n = next(counter)
        if kind == "local":
            path = tmp_path / f"repo-{n}"
            return Repo(kind, str(path), password_file, local_path=path)
        if kind == "sftp":
            ssh: servers.SshServer = request.getfixturevalue("restic_sshd")
            path = tmp_path / f"sftp-repo-{n}"
            return Repo(
                kind,
                f"sftp:{ssh.host_alias}:{path}",
                password_file,
                ssh_command=ssh.ssh_command,
                local_path=path,
            )
        if kind == "rest":
            rest: servers.RestServer = request.getfixturevalue("restic_rest")
            repo = rest.new_repo()
            return Repo(kind, repo.url, password_file, local_path=repo.path, secret=repo.password)
        if kind == "s3":
            s3: servers.S3Server = request.getfixturevalue("restic_s3")
            bucket = s3.new_repo()
            return Repo(kind, bucket.url, password_file, env=bucket.env)
        raise ValueError(kind)

    return make


@pytest.fixture(params=KINDS)
def repo(request: pytest.FixtureRequest, make_repo: MakeRepo) -> Repo:
    """A fresh repository of each kind in turn (local, sftp, rest, s3)."""
    return make_repo(request.param)
