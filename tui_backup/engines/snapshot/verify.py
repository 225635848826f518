"""Re-reading snapshots and comparing them with their manifests (and, deep, the source).

Files hard-linked across snapshots are one inode: when several snapshots are
verified in one go, an inode is hashed once and its digest reused.

Nothing is opened that is not a regular file inside the snapshot: an entry
is ``lstat``-ed first, so a FIFO, socket or device planted in a snapshot is
reported ("not a regular file") and never opened (opening a FIFO blocks, a
tape device rewinds); a manifest path with ``..`` or a leading ``/``, or
below something that is not a real directory of the snapshot, is reported
and never followed.

A deep verify also reads the source: a file whose size and mtime still equal
the manifest's must still have the same content, so a difference is damage
(of the snapshot, or silent corruption of the source); a file changed in the
source since the snapshot is counted (``changed_since``), not a problem.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from dataclasses import dataclass, field

from tui_backup.engines.api import VerifyProblem
from tui_backup.engines.snapshot.damage import Damage
from tui_backup.engines.snapshot.manifest import ManifestEntry, ManifestError, read_manifest
from tui_backup.engines.snapshot.store import SnapshotStore
from tui_backup.engines.throttle import ProgressReporter

MAX_PROBLEMS = 10000
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_CHUNK = 1 << 20


class VerifyCancelled(Exception):
    pass


@dataclass(slots=True)
class Verifier:
    store: SnapshotStore
    cancel: threading.Event
    reporter: ProgressReporter
    deep: bool = False
    files: int = 0
    bytes: int = 0
    changed: int = 0
    cancelled: bool = False
    problems: list[VerifyProblem] = field(default_factory=list)
    problem_count: int = 0
    no_manifest: list[str] = field(default_factory=list)
    damaged: list[Damage] = field(default_factory=list)
    """Inodes found bad: recorded so the next run does not link them."""
    _seen: dict[tuple[int, int], str] = field(default_factory=dict)
    _sources: list[tuple[str, str]] = field(default_factory=list)

    def unchecked_reason(self) -> str | None:
        if not self.no_manifest:
            return None
        names = ", ".join(self.no_manifest[:3]) + (" ..." if len(self.no_manifest) > 3 else "")
        return f"{len(self.no_manifest)} snapshot(s) have no manifest to check against: {names}"

    def _problem(self, snapshot_id: str, path: str, reason: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(VerifyProblem(snapshot_id, path, reason))

    def verify(self, snapshot_id: str) -> None:
        """Check one snapshot; sets :attr:`cancelled` and returns early on cancel."""
        try:
            self._verify(snapshot_id)
        except VerifyCancelled:
            self.cancelled = True

    def _verify(self, snapshot_id: str) -> None:
        root = self.store.snapshot_path(snapshot_id)
        manifest = self.store.manifest_path(snapshot_id)
        if not os.path.exists(manifest):
            self.no_manifest.append(snapshot_id)
            return
        if self.deep:
            summary = self.store.summary(snapshot_id)
            self._sources = [
                (str(s.get("path", "")), str(s.get("prefix", "")))
                for s in summary.get("sources", [])
                if isinstance(s, dict) and s.get("path")
            ]
        dirs = {""}
        try:
            for entry in read_manifest(manifest):
                if self.cancel.is_set():
                    raise VerifyCancelled
                rel = entry.path
                if not _inside(rel):
                    self._problem(snapshot_id, rel, "path leaves the snapshot; not opened")
                    continue
                if rel.rpartition("/")[0] not in dirs:
                    self._problem(
                        snapshot_id, rel, "parent is not a directory in the snapshot; not opened"
                    )
                    continue
                path = root + "/" + rel
                if entry.kind == "f":
                    self._file(snapshot_id, path, entry)
                elif entry.kind == "l":
                    try:
                        target = os.readlink(path)
                    except FileNotFoundError:
                        self._problem(snapshot_id, rel, "missing")
                        continue
                    except OSError:
                        self._problem(snapshot_id, rel, "not a symlink")
                        continue
                    if target != entry.target:
                        self._problem(snapshot_id, rel, "symlink target mismatch")
                elif entry.kind == "d":
                    try:
                        st = os.lstat(path)
                    except OSError:
                        self._problem(snapshot_id, rel, "missing")
                        continue
                    if not stat.S_ISDIR(st.st_mode):
                        self._problem(snapshot_id, rel, "not a directory")
                        continue
                    dirs.add(rel)
        except ManifestError as exc:
            self._problem(snapshot_id, "", f"manifest unreadable: {exc}")

    def _file(self, snapshot_id: str, path: str, entry: ManifestEntry) -> None:
        rel = entry.path
        try:
            lst = os.lstat(path)
        except FileNotFoundError:
            self._problem(snapshot_id, rel, "missing")
            return
        except OSError as exc:
            self._problem(snapshot_id, rel, f"unreadable: {exc.strerror}")
            return
        if not stat.S_ISREG(lst.st_mode):
            self._problem(snapshot_id, rel, "not a regular file; not opened")
            return
        key = (lst.st_dev, lst.st_ino)
        if lst.st_size != entry.size:
            self._problem(snapshot_id, rel, "size mismatch")
            self.damaged.append((key[0], key[1], entry.digest, snapshot_id, rel))
            return
        got = self._seen.get(key)
        if got is None:
            got = self._hash(path, lst, snapshot_id, rel)
            if got is None:
                return
            self._seen[key] = got
        self.files += 1
        self.bytes += entry.size
        self.reporter.advance(1, entry.size, rel)
        if got != entry.digest:
            self._problem(snapshot_id, rel, "checksum mismatch")
            self.damaged.append((key[0], key[1], entry.digest, snapshot_id, rel))
            return
        if self.deep:
            self._compare_source(snapshot_id, entry, key, got)

    def _hash(self, path: str, lst: os.stat_result, snapshot_id: str, rel: str) -> str | None:
        """The file's BLAKE2b-256, reading the very inode ``lst`` described; None on a problem."""
        try:
            fd = os.open(path, _READ_FLAGS)
        except OSError as exc:
            self._problem(snapshot_id, rel, f"unreadable: {exc.strerror}")
            return None
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != (lst.st_dev, lst.st_ino) or not stat.S_ISREG(st.st_mode):
                self._problem(snapshot_id, rel, "replaced while being verified")
                return None
            return _digest(fd, self.cancel)
        except OSError as exc:
            self._problem(snapshot_id, rel, f"unreadable: {exc.strerror}")
            return None
        finally:
            os.close(fd)

    def _source_path(self, rel: str) -> str | None:
        for source, prefix in self._sources:
            if not prefix:
                return source.rstrip("/") + "/" + rel
            if rel == prefix:
                return source
            if rel.startswith(prefix + "/"):
                return source.rstrip("/") + rel[len(prefix) :]
        return None

    def _compare_source(
        self, snapshot_id: str, entry: ManifestEntry, key: tuple[int, int], got: str
    ) -> None:
        """Deep: a source file unchanged by size and mtime must hash to the snapshot's content."""
        src = self._source_path(entry.path)
        if src is None:
            self.changed += 1
            return
        try:
            st = os.lstat(src)
        except OSError:
            self.changed += 1  # deleted (or unreadable) since the snapshot
            return
        if (
            not stat.S_ISREG(st.st_mode)
            or st.st_size != entry.size
            or st.st_mtime_ns != entry.mtime_ns
        ):
            self.changed += 1
            return
        try:
            fd = os.open(src, _READ_FLAGS)
        except OSError as exc:
            self._problem(snapshot_id, entry.path, f"source unreadable: {exc.strerror}")
            return
        try:
            fst = os.fstat(fd)
            if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
                self.changed += 1
                return
            source_digest = _digest(fd, self.cancel)
        except OSError as exc:
            self._problem(snapshot_id, entry.path, f"source unreadable: {exc.strerror}")
            return
        finally:
            os.close(fd)
        self.bytes += entry.size
        if source_digest != got:
            self._problem(
                snapshot_id,
                entry.path,
                "differs from the source although size and modification time are the same",
            )
            self.damaged.append((key[0], key[1], entry.digest, snapshot_id, entry.path))


def _digest(fd: int, cancel: threading.Event) -> str:
    h = hashlib.blake2b(digest_size=32)
    while True:
        if cancel.is_set():
            raise VerifyCancelled
        data = os.read(fd, _CHUNK)
        if not data:
            return h.hexdigest()
        h.update(data)


def _inside(rel: str) -> bool:
    """A manifest path that stays inside the snapshot: relative, no ``..``, no empty part."""
    if not rel or rel.startswith("/"):
        return False
    return not any(part in ("", ".", "..") for part in rel.split("/"))
