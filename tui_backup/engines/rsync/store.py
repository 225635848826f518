"""The destination directory of an rsync job, local or on a host reached by ssh.

Both kinds offer the same small set of operations (list, read and write
metadata, remove, commit, walk and hash a snapshot), so the rest of the engine
never asks where the destination is. A remote destination is resolved once,
over ssh, to an absolute path (``~/x`` and paths relative to the login
directory included): ``--link-dest`` then names the previous snapshot by an
absolute path, which is the only way rsync finds it.

Layout (the same as the snapshot engine's)::

    <dest>/<id>/                  complete snapshots
    <dest>/<id>.partial/          a run in progress or a crash's leftover
    <dest>/latest -> <id>
    <dest>/.tui-backup/owner.json which job owns the destination
    <dest>/.tui-backup/<id>.json  summary: files, bytes, sources, time, checksum run
    <dest>/.tui-backup/<id>.manifest  path, size and digest of every file
    <dest>/.tui-backup/<id>.racy  files too new to trust by size+mtime: the next run recopies them
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tui_backup.engines import layout
from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.rsync.location import SshSettings

META = layout.META_DIR
OWNER_FILE = "owner.json"
SUMMARY_SUFFIX = ".json"
MANIFEST_SUFFIX = ".manifest"
RACY_SUFFIX = ".racy"
"""Paths the snapshot cannot vouch for by size and mtime (:mod:`.racy`)."""
DELETING_SUFFIX = ".deleting" + layout.PARTIAL_SUFFIX
DAMAGED_FILE = "verify-failed.json"
"""Written by a verify that found damage: the next run compares contents
(``--checksum``), so a damaged file is never hard-linked into the next snapshot."""

OnHashed = Callable[[str, int], None]


@dataclass(slots=True)
class Tree:
    """The regular files and symlinks of one snapshot, by path relative to its root."""

    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    """path -> (inode, size)"""
    links: dict[str, str] = field(default_factory=dict)
    """path -> symlink target"""
    specials: dict[str, str] = field(default_factory=dict)
    """path -> type letter of each FIFO (``p``), socket (``s``) or device (``c``, ``b``)"""
    mtimes: dict[str, int] = field(default_factory=dict)
    """path -> mtime in ns of each regular file (rsync sets it to the source's as listed)"""


class Store:
    """Operations shared by both kinds; subclasses do the I/O."""

    host: str | None = None
    ssh: SshSettings | None = None
    """How to reach the host (None for a local destination)."""

    def __init__(self, path: str, entries: dict[str, str], owner: dict[str, Any] | None) -> None:
        self.path = path
        """Absolute path of the destination (on its host)."""
        self.entries = entries
        """Names in the destination -> kind (``d`` directory, ``l`` symlink, ``f``...)."""
        self.owner = owner
        """The owner marker's content, or None when there is none."""
        self.summaries: dict[str, dict[str, Any] | None] = {}
        self.damaged = False
        """A verify found damage since the last successful run."""

    _exists = False

    @property
    def exists(self) -> bool:
        """False when the destination directory is not there (no snapshots yet)."""
        return self._exists

    @property
    def label(self) -> str:
        return f"{self.host}:{self.path}" if self.host else self.path

    def url(self, *parts: str) -> str:
        """An rsync argument naming ``parts`` inside the destination."""
        joined = "/".join([self.path.rstrip("/"), *parts])
        return f"{self.host}:{joined}" if self.host else joined

    def abs(self, *parts: str) -> str:
        """The absolute path of ``parts`` on the destination's host."""
        return "/".join([self.path.rstrip("/"), *parts])

    def ids(self) -> list[str]:
        """Complete snapshot ids, newest first: real directories named like an id."""
        ids = [n for n, kind in self.entries.items() if kind == "d" and layout.parse_id(n)]
        ids.sort(key=layout.sort_key, reverse=True)
        return ids

    def leftovers(self) -> list[str]:
        """``<id>.partial`` and ``<id>.deleting.partial``: what interrupted runs left."""
        out = []
        for name in self.entries:
            if name.endswith(layout.PARTIAL_SUFFIX):
                stem = name.removesuffix(layout.PARTIAL_SUFFIX).removesuffix(".deleting")
                if layout.parse_id(stem) is not None:
                    out.append(name)
        return out

    # -- owner marker ------------------------------------------------------

    @property
    def owner_job(self) -> str | None:
        job = self.owner.get("job") if isinstance(self.owner, dict) else None
        return job if isinstance(job, str) else None

    def check_owner(self, job: str) -> None:
        """Refuse a destination whose marker names another job."""
        owner = self.owner_job
        if owner is not None and owner != job:
            raise EngineError(
                f"destination {self.label} belongs to job {owner!r}; choose another "
                "destination or remove that job's snapshots",
                ErrorType.DESTINATION_OWNED,
            )

    def claim(self, job: str) -> None:
        """Write the owner marker (idempotent); refuse if another job owns the destination."""
        self.check_owner(job)
        if self.owner_job == job:
            return
        payload = {"job": job, "engine": "rsync", "format": 1}
        self.write_meta(OWNER_FILE, (json.dumps(payload, indent=2) + "\n").encode())
        self.owner = payload

    # -- metadata ----------------------------------------------------------

    def summary(self, sid: str) -> dict[str, Any] | None:
        """The summary written at commit; None for a snapshot without one."""
        if sid not in self.summaries:
            self.cache_summary(sid, self.read_meta(sid + SUMMARY_SUFFIX))
        return self.summaries[sid]

    def cache_summary(self, sid: str, raw: bytes | None) -> None:
        data = None
        if raw is not None:
            with contextlib.suppress(ValueError):
                data = json.loads(raw)
        self.summaries[sid] = data if isinstance(data, dict) else None

    def after_copy(
        self, partial: str, previous: str | None, cancel: threading.Event | None = None
    ) -> tuple[Tree, Tree | None, bytes | None]:
        """The new snapshot's files, the previous snapshot's, and its manifest."""
        if previous is None:
            return self.tree(partial, cancel), None, None
        return (
            self.tree(partial, cancel),
            self.tree(previous, cancel),
            self.read_meta(previous + MANIFEST_SUFFIX),
        )

    def finish(
        self, partial: str, sid: str, manifest: bytes, summary: bytes, *, clear_damage: bool
    ) -> None:
        """Write the metadata, then commit: rename the partial, point ``latest`` at it."""
        self.write_meta(sid + MANIFEST_SUFFIX, manifest)
        self.write_meta(sid + SUMMARY_SUFFIX, summary)
        self.commit(partial, sid)
        if clear_damage:
            self.remove([f"{META}/{DAMAGED_FILE}"])

    def read_meta(self, name: str) -> bytes | None:
        raise NotImplementedError

    def write_meta(self, name: str, data: bytes) -> None:
        """Write ``.tui-backup/<name>`` atomically (temp file, then rename)."""
        raise NotImplementedError

    def remove(self, names: Sequence[str]) -> None:
        """Remove ``names`` (relative to the destination) and everything under them."""
        raise NotImplementedError

    def commit(self, partial: str, sid: str) -> None:
        """Make ``partial`` the complete snapshot ``sid`` and point ``latest`` at it."""
        raise NotImplementedError

    def set_latest(self, sid: str | None) -> None:
        """Point ``latest`` at ``sid`` (remove it when None)."""
        raise NotImplementedError

    def delete_snapshot(self, sid: str) -> None:
        """Hide a snapshot first (rename to a non-id name), then remove it and its metadata."""
        raise NotImplementedError

    def tree(self, rel: str, cancel: threading.Event | None = None) -> Tree:
        """The regular files and symlinks under ``rel`` (a snapshot or partial)."""
        raise NotImplementedError

    def hash(
        self,
        rel: str,
        paths: Iterable[str],
        cancel: threading.Event | None = None,
        on_hashed: OnHashed | None = None,
        algorithm: str = "md5",
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Digests (``algorithm``: md5 or sha256) of regular files ``paths`` under
        ``rel``: (digests, problems by path).

        Never opens anything but a regular file: a FIFO or device found where
        a file was expected is a problem, not a read that blocks.
        """
        raise NotImplementedError

    def missing(self, rel: str, paths: Sequence[str]) -> list[str]:
        """Those of ``paths`` under ``rel`` that do not exist (symlinks count as existing)."""
        raise NotImplementedError

    def purge(self) -> None:
        """Remove the metadata directory and the destination itself if nothing else is left."""
        raise NotImplementedError
