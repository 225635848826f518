"""Helpers for engine tests: run an engine on real files and collect its events."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tui_backup.engines.api import RunOptions
from tui_backup.engines.events import EngineEvent, FileWarning, Finished, Progress
from tui_backup.engines.snapshot import SnapshotEngine
from tui_backup.model.job import JobSpec
from tui_backup.model.retention import RetentionPolicy


@dataclass
class RunResult:
    events: list[EngineEvent] = field(default_factory=list)

    @property
    def finished(self) -> Finished:
        done = [e for e in self.events if isinstance(e, Finished)]
        assert len(done) == 1, f"expected exactly one Finished, got {done}"
        assert self.events[-1] is done[0], "Finished must be the last event"
        return done[0]

    @property
    def warnings(self) -> list[FileWarning]:
        return [e for e in self.events if isinstance(e, FileWarning)]

    @property
    def progress(self) -> list[Progress]:
        return [e for e in self.events if isinstance(e, Progress)]


def make_spec(
    sources: list[Path] | Path,
    dest: Path,
    *,
    name: str = "job",
    exclude: tuple[str, ...] = (),
    retention: RetentionPolicy | None = None,
) -> JobSpec:
    srcs = sources if isinstance(sources, list) else [sources]
    return JobSpec(
        name=name,
        sources=tuple(str(s) for s in srcs),
        destination=str(dest),
        exclude=exclude,
        retention=retention,
    )


def run(
    spec: JobSpec,
    cancel: threading.Event | None = None,
    engine: SnapshotEngine | None = None,
    on_event: Callable[[EngineEvent], None] | None = None,
    options: RunOptions | None = None,
) -> RunResult:
    result = RunResult()

    def emit(event: EngineEvent) -> None:
        result.events.append(event)
        if on_event is not None:
            on_event(event)

    (engine or SnapshotEngine()).run(
        spec, cancel or threading.Event(), emit, options or RunOptions()
    )
    return result


def rsync_diff(src: Path, snap: Path) -> str:
    """What rsync would still change to make ``snap`` equal ``src`` ('' = identical)."""
    out = subprocess.run(
        ["rsync", "-a", "--dry-run", "--itemize-changes", "--checksum", f"{src}/", f"{snap}/"],
        capture_output=True,
        check=True,
    )
    return out.stdout.decode("utf-8", "backslashreplace")


needs_rsync = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync not installed")


def snapshot_dirs(dest: Path) -> list[str]:
    return sorted(n for n in os.listdir(dest) if not n.startswith(".") and n != "latest")


def write(path: Path, data: bytes | str, mtime: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


class StepClock:
    """A clock that moves one minute per call, so run ids never collide in tests."""

    def __init__(self, start: str = "2024-03-01T10:00:00+00:00") -> None:
        from datetime import datetime

        self.now = datetime.fromisoformat(start)

    def __call__(self):  # type: ignore[no-untyped-def]
        from datetime import timedelta

        self.now = self.now + timedelta(minutes=1)
        return self.now
