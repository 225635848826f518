"""The TUI's way to the core's snapshot door (``manager.snapshots``): list, browse, restore, verify.

Browsing uses the door's dry-run restore, which lists every path a restore of
the snapshot would write and writes nothing anywhere; we index it once per
snapshot and the tree widget reads folders from the index lazily. Every
function here blocks and is called from thread workers only.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tui_backup.core.manager import JobManager
from tui_backup.core.snapshots import Capabilities, RestoreReport, SnapshotInfo, VerifyReport
from tui_backup.model.job import JobSpec


@dataclass(frozen=True, slots=True)
class Entry:
    """One file or folder inside a snapshot, relative to the snapshot's root."""

    path: str
    name: str
    is_dir: bool


@dataclass
class SnapshotTree:
    """Children of every folder of one snapshot, from the dry-run listing."""

    snapshot_id: str
    files: int = 0
    bytes: int = 0
    children: dict[str, list[Entry]] = field(default_factory=dict)

    def list_dir(self, path: str) -> list[Entry]:
        """Entries directly under ``path`` ("" is the root), folders first."""
        return sorted(self.children.get(path, []), key=lambda e: (not e.is_dir, e.name))


def index_paths(snapshot_id: str, paths: Sequence[str]) -> SnapshotTree:
    tree = SnapshotTree(snapshot_id)
    seen_dirs: set[str] = {""}
    for rel in paths:
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder not in seen_dirs:
                seen_dirs.add(folder)
                parent = "/".join(parts[: depth - 1])
                tree.children.setdefault(parent, []).append(Entry(folder, parts[depth - 1], True))
        parent = "/".join(parts[:-1])
        tree.children.setdefault(parent, []).append(Entry(rel, parts[-1], False))
    return tree


def list_snapshots(manager: JobManager, name: str) -> list[SnapshotInfo]:
    """Complete snapshots of ``name``, newest first."""
    return manager.snapshots.list(manager.get_spec(name))


def capabilities(manager: JobManager, name: str) -> Capabilities:
    """What the job's engine can do for it: the TUI hides or explains what it cannot."""
    return manager.snapshots.capabilities(manager.get_spec(name))


def browse_target(name: str) -> str:
    """The target a browsing dry run names: never created, by the door's promise."""
    return os.path.join(tempfile.gettempdir(), f"tui-backup-browse-{os.getpid()}", name)


def load_tree(manager: JobManager, name: str, snapshot_id: str) -> SnapshotTree:
    """Everything in the snapshot, as a folder index (one dry-run restore, nothing written)."""
    spec = manager.get_spec(name)
    report = manager.snapshots.restore(
        spec, browse_target(name), snapshot=snapshot_id, dry_run=True
    )
    tree = index_paths(snapshot_id, report.planned)
    tree.files, tree.bytes = report.files, report.bytes
    return tree


def original_location(spec: JobSpec) -> str | None:
    """Where a whole-snapshot restore puts files back where they came from.

    One source directory is the snapshot root itself; several sources sit
    under their basenames, which maps back only when they share one parent
    and their names are unique. None when there is no such single place.
    """
    if len(spec.sources) == 1:
        return spec.sources[0] if os.path.isdir(spec.sources[0]) else None
    parents = {os.path.dirname(os.path.abspath(s)) for s in spec.sources}
    names = [os.path.basename(os.path.abspath(s)) for s in spec.sources]
    if len(parents) == 1 and len(set(names)) == len(names):
        return parents.pop()
    return None


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
) -> RestoreReport:
    """Restore ``paths`` (all when empty) into ``target``."""
    return manager.restore(
        name,
        target,
        snapshot=snapshot_id,
        paths=list(paths),
        overwrite=overwrite,
        cancel=cancel,
        emit=on_progress,
    )


def verify_latest(manager: JobManager, name: str) -> VerifyReport | None:
    """Verify the newest snapshot (deeply when the job asks and the engine can); None
    when there is none yet. The door keeps the outcome (an error event when not ok)."""
    spec = manager.get_spec(name)
    snaps = manager.snapshots.list(spec)
    if not snaps:
        return None
    deep = spec.verify.deep and manager.snapshots.capabilities(spec).deep_verify
    return manager.snapshots.verify(spec, snaps[0].id, deep=deep)
