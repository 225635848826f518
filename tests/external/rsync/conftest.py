"""Fixtures for the rsync engine's own tests: real rsync, real files, a real sshd.

``where`` is parametrized over ``local`` and ``ssh``: a test written once runs
against a local destination and against ``tui-backup-test:<path>`` on the test
sshd (``tests/contract/servers.py``), reached only through the job's own
``ssh_command``. The sshd runs on this machine as the same user, so a test
can look at the remote destination's files directly on disk.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tui_backup.engines.events import EngineEvent, Finished
from tui_backup.engines.rsync import RsyncEngine
from tui_backup.model import parse_job
from tui_backup.model.job import JobSpec

_ROOT = Path(__file__).resolve().parents[3]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.contract.servers import SshServer, start_sshd  # noqa: E402


@pytest.fixture(autouse=True)
def _need_rsync() -> None:
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed (.ci/run installs it)")


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """A real sshd on 127.0.0.1 (skips with the reason when it cannot start)."""
    server = start_sshd(tmp_path_factory.mktemp("rsync-sshd"))
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Where:
    """Where a test's destinations live: on this machine or behind the test sshd."""

    kind: str
    sshd: SshServer | None = None

    @property
    def remote(self) -> bool:
        return self.sshd is not None

    def dest(self, path: Path | str) -> str:
        """The job's ``destination`` for ``path`` (a local path either way)."""
        return self.sshd.remote(path) if self.sshd is not None else str(path)

    def spec(self, sources: list[Path] | Path, dest: Path | str, **extra: Any) -> JobSpec:
        """A job backing ``sources`` up to ``dest`` (a path, or a ready destination string)."""
        if isinstance(sources, Path):
            sources = [sources]
        destination = dest if isinstance(dest, str) else self.dest(dest)
        data: dict[str, Any] = {
            "name": extra.pop("name", "r"),
            "sources": [str(s) for s in sources],
            "destination": destination,
            "engine": "rsync",
        }
        if self.sshd is not None:
            data.setdefault("ssh_command", self.sshd.ssh_command)
        data.update(extra)
        return parse_job(data, f"jobs/{data['name']}.yaml", data["name"])


@pytest.fixture(params=["local", "ssh"])
def where(request: pytest.FixtureRequest) -> Where:
    if request.param == "ssh":
        return Where("ssh", request.getfixturevalue("sshd"))
    return Where("local")


@pytest.fixture
def local() -> Where:
    return Where("local")


@pytest.fixture
def remote(sshd: SshServer) -> Where:
    return Where("ssh", sshd)


def run(spec: JobSpec, engine: RsyncEngine | None = None, **kwargs: Any) -> list[EngineEvent]:
    """Run ``spec`` to its end; exactly one ``Finished``, last."""
    events: list[EngineEvent] = []
    (engine or RsyncEngine()).run(
        spec, kwargs.pop("cancel", None) or threading.Event(), events.append, **kwargs
    )
    assert sum(isinstance(e, Finished) for e in events) == 1, events
    assert isinstance(events[-1], Finished)
    return events


def backup(spec: JobSpec, engine: RsyncEngine | None = None, **kwargs: Any) -> str:
    """Run ``spec``, insist it succeeded, return the snapshot id."""
    fin = run(spec, engine, **kwargs)[-1]
    assert isinstance(fin, Finished)
    assert fin.status == "succeeded", (fin.error, fin.details)
    assert fin.snapshot_id is not None
    return fin.snapshot_id


def finished(events: list[EngineEvent]) -> Finished:
    fin = events[-1]
    assert isinstance(fin, Finished)
    return fin


def settle(*roots: Path) -> None:
    """Date every file and symlink under ``roots`` (or ``roots`` themselves) an hour back.

    A file written the moment before a run is *racy* (its mtime could be kept by a
    same-size rewrite on a coarse clock) and the next run copies it again rather
    than link it; tests about linking mean files that were written long before.
    """
    old = time.time() - 3600
    for root in roots:
        paths = [root] if not root.is_dir() or root.is_symlink() else list(root.rglob("*"))
        for path in paths:
            if not path.is_dir() or path.is_symlink():
                os.utime(path, (old, old), follow_symlinks=False)
