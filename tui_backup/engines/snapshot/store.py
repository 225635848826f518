"""The snapshots of one destination directory, as the engine sees them on disk.

Layout::

    <dest>/<id>/                      complete snapshots (the only thing listed)
    <dest>/<id>.partial/              a run in progress, or a crash's leftover
    <dest>/latest -> <id>             symlink to the newest complete snapshot
    <dest>/.tui-backup/owner.json     which job owns the destination
    <dest>/.tui-backup/<id>.manifest.gz   one manifest per snapshot
    <dest>/.tui-backup/<id>.json      summary: files, bytes, sources, counts
    <dest>/.tui-backup/<id>.hardlinks.json  groups of paths that are one inode in the source
    <dest>/.tui-backup/damaged.json   files verify found damaged (never linked again)

A snapshot becomes visible by the rename of ``<id>.partial`` to ``<id>``,
which happens after its manifest and summary are durable; anything left over
from a run that never got there is removed by :meth:`SnapshotStore.cleanup_stale`.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from tui_backup.engines import layout
from tui_backup.engines.snapshot.marker import marker_path
from tui_backup.engines.snapshot.syncio import replace_symlink
from tui_backup.engines.snapshot.tree import remove_tree

log = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".manifest.gz"
SUMMARY_SUFFIX = ".json"
PARTIAL_MANIFEST_SUFFIX = ".partial.manifest.gz"
HARDLINKS_SUFFIX = ".hardlinks.json"


class SnapshotStore:
    def __init__(self, dest: str) -> None:
        self.dest = dest
        self.meta = os.path.join(dest, layout.META_DIR)

    def snapshot_path(self, snapshot_id: str) -> str:
        return os.path.join(self.dest, snapshot_id)

    def partial_path(self, snapshot_id: str) -> str:
        return os.path.join(self.dest, snapshot_id + layout.PARTIAL_SUFFIX)

    def manifest_path(self, snapshot_id: str) -> str:
        return os.path.join(self.meta, snapshot_id + MANIFEST_SUFFIX)

    def manifest_partial_path(self, snapshot_id: str) -> str:
        return os.path.join(self.meta, snapshot_id + PARTIAL_MANIFEST_SUFFIX)

    def summary_path(self, snapshot_id: str) -> str:
        return os.path.join(self.meta, snapshot_id + SUMMARY_SUFFIX)

    def hardlinks_path(self, snapshot_id: str) -> str:
        return os.path.join(self.meta, snapshot_id + HARDLINKS_SUFFIX)

    def hardlinks(self, snapshot_id: str) -> list[list[str]]:
        """Groups of paths that were one inode in the source (and are in the snapshot)."""
        try:
            with open(self.hardlinks_path(snapshot_id), encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return []
        if not isinstance(data, list):
            return []
        return [[str(p) for p in g] for g in data if isinstance(g, list) and len(g) > 1]

    def ids(self) -> list[str]:
        """Complete snapshot ids, newest first."""
        return layout.complete_ids(self.dest)

    def newest(self) -> str | None:
        found = self.ids()
        return found[0] if found else None

    def summary(self, snapshot_id: str) -> dict[str, Any]:
        try:
            with open(self.summary_path(snapshot_id), encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def remove_partial(self, path: str) -> None:
        try:
            remove_tree(path)
        except OSError as exc:
            log.warning("could not remove %s: %s", path, exc)

    def cleanup_stale(self) -> list[str]:
        """Remove what crashed runs left: ``.partial`` trees, half-written metadata.

        Only called by the job's runner (who holds the job's lock), so nothing
        removed here can belong to a run in progress.
        """
        removed: list[str] = []
        try:
            names = os.listdir(self.dest)
        except FileNotFoundError:
            return removed
        complete = set()
        for name in names:
            path = os.path.join(self.dest, name)
            if name.endswith(layout.PARTIAL_SUFFIX) and _is_partial_name(name):
                self.remove_partial(path)
                removed.append(name)
            elif name.startswith(layout.LATEST + ".tmp-"):
                _unlink(path)
            elif layout.parse_id(name) is not None and os.path.isdir(path):
                complete.add(name)
        try:
            meta_names = os.listdir(self.meta)
        except FileNotFoundError:
            meta_names = []
        for name in meta_names:
            snap = _meta_owner(name)
            if snap is None:
                if ".tmp-" in name:
                    _unlink(os.path.join(self.meta, name))
                continue
            if name.endswith(PARTIAL_MANIFEST_SUFFIX) or snap not in complete:
                _unlink(os.path.join(self.meta, name))
                removed.append(os.path.join(layout.META_DIR, name))
        self.fix_latest()
        if removed:
            log.info("removed leftovers of interrupted runs in %s: %s", self.dest, removed)
        return removed

    def fix_latest(self) -> None:
        """Point ``latest`` at the newest complete snapshot (or remove it when none)."""
        link = os.path.join(self.dest, layout.LATEST)
        newest = self.newest()
        try:
            current = os.readlink(link)
        except OSError:
            current = None
        if newest is None:
            if current is not None:
                _unlink(link)
            return
        if current != newest:
            try:
                replace_symlink(link, newest)
            except OSError as exc:
                log.warning("cannot update %s: %s", link, exc)

    def delete(self, snapshot_id: str) -> None:
        """Remove one complete snapshot: first make it invisible, then free it."""
        path = self.snapshot_path(snapshot_id)
        doomed = path + ".deleting" + layout.PARTIAL_SUFFIX
        # Renamed to a non-id name first, so an interrupted delete never leaves
        # a half-empty tree that looks like a snapshot.
        os.rename(path, doomed)
        for meta in (
            self.manifest_path(snapshot_id),
            self.summary_path(snapshot_id),
            self.hardlinks_path(snapshot_id),
        ):
            _unlink(meta)
        remove_tree(doomed)

    def remove_metadata(self) -> None:
        """After every snapshot is gone: drop ``latest``, the damage record and the marker.

        The metadata directory and the destination go only when that leaves
        them empty: anything a person put there stays.
        """
        # Damage records matter only to purge and verify; a backup run never loads them.
        from tui_backup.engines.snapshot.damage import damaged_path  # noqa: PLC0415

        self.fix_latest()
        for path in (damaged_path(self.dest), marker_path(self.dest)):
            _unlink(path)
        for path in (self.meta, self.dest):
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                return  # not empty: someone else's files live here


def _meta_owner(name: str) -> str | None:
    """The snapshot id a metadata file belongs to, or None (owner.json...)."""
    for suffix in (PARTIAL_MANIFEST_SUFFIX, MANIFEST_SUFFIX, HARDLINKS_SUFFIX, SUMMARY_SUFFIX):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            return stem if layout.parse_id(stem) is not None else None
    return None


def _is_partial_name(name: str) -> bool:
    """``<id>.partial`` (an unfinished run) or ``<id>.deleting.partial`` (an unfinished delete)."""
    stem = name.removesuffix(layout.PARTIAL_SUFFIX).removesuffix(".deleting")
    return layout.parse_id(stem) is not None


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
