"""Small helpers shared by the restic engine tests."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from tui_backup.engines.events import Finished
from tui_backup.engines.restic import ResticEngine
from tui_backup.model import JobSpec, Status


def run(engine: ResticEngine, spec: JobSpec, cancel: threading.Event | None = None) -> Finished:
    """One run; checks it emitted exactly one ``Finished`` and returns it."""
    events: list[object] = []
    engine.run(spec, cancel or threading.Event(), events.append)
    finished = [e for e in events if isinstance(e, Finished)]
    assert len(finished) == 1, events
    assert events[-1] is finished[0]
    return finished[0]


def backup(engine: ResticEngine, spec: JobSpec) -> str:
    fin = run(engine, spec)
    assert fin.status == Status.SUCCEEDED, fin
    assert fin.snapshot_id
    return fin.snapshot_id


def listing(root: Path) -> dict[str, object]:
    """Every entry under ``root``: file -> bytes, symlink -> ('->', target), dir -> 'dir'."""
    out: dict[str, object] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = ("->", os.readlink(path))
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = path.read_bytes()
    return out


def regular_files(root: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            if path.is_file() and not path.is_symlink():
                files += 1
                size += path.stat().st_size
    return files, size
