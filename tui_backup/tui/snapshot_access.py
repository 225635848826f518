"""The TUI's one door to ``tui_backup.core.snapshots`` (list, browse, restore, verify).

Kept in one module so the screens do not care how the core spells these
calls; every function blocks and is called from thread workers only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tui_backup.core.errors import OperationFailed
from tui_backup.core.manager import JobManager


@dataclass(frozen=True, slots=True)
class Entry:
    """One file or folder inside a snapshot, relative to the snapshot's root."""

    path: str
    name: str
    is_dir: bool
    size: int = 0


def _core() -> Any:
    try:
        from tui_backup.core import snapshots
    except ImportError as exc:  # the core module lands separately
        raise OperationFailed("snapshots are not available in this build yet") from exc
    return snapshots


def list_snapshots(manager: JobManager, name: str) -> list[Any]:
    """Complete snapshots of ``name``, newest first (``SnapshotInfo``)."""
    return list(_core().list_snapshots(manager, name))


def list_dir(manager: JobManager, name: str, snapshot_id: str, path: str) -> list[Entry]:
    """Entries directly under ``path`` (``""`` is the snapshot root), folders first."""
    raw = _core().list_dir(manager, name, snapshot_id, path)
    entries = [
        Entry(
            path=getattr(e, "path", ""),
            name=getattr(e, "name", ""),
            is_dir=bool(getattr(e, "is_dir", False)),
            size=int(getattr(e, "size", 0) or 0),
        )
        for e in raw
    ]
    return sorted(entries, key=lambda e: (not e.is_dir, e.name))


def restore(
    manager: JobManager,
    name: str,
    snapshot_id: str,
    target: str,
    paths: Sequence[str],
    *,
    overwrite: bool,
    cancel: threading.Event,
    on_progress: Callable[[Any], None],
) -> Any:
    """Restore ``paths`` (all when empty) into ``target``; the engine's report."""
    return _core().restore(
        manager,
        name,
        snapshot_id,
        target,
        list(paths),
        overwrite=overwrite,
        cancel=cancel,
        emit=on_progress,
    )
