"""Re-reading snapshots and comparing them with their manifests.

Files hard-linked across snapshots are one inode: when several snapshots are
verified in one go, an inode is hashed once and its digest reused.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from dataclasses import dataclass, field

from tui_backup.engines.api import VerifyProblem
from tui_backup.engines.snapshot.manifest import ManifestError, read_manifest
from tui_backup.engines.snapshot.store import SnapshotStore
from tui_backup.engines.throttle import ProgressReporter

MAX_PROBLEMS = 10000


class VerifyCancelled(Exception):
    pass


@dataclass(slots=True)
class Verifier:
    store: SnapshotStore
    cancel: threading.Event
    reporter: ProgressReporter
    files: int = 0
    bytes: int = 0
    problems: list[VerifyProblem] = field(default_factory=list)
    problem_count: int = 0
    _seen: dict[tuple[int, int], str] = field(default_factory=dict)

    def _problem(self, snapshot_id: str, path: str, reason: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(VerifyProblem(snapshot_id, path, reason))

    def verify(self, snapshot_id: str) -> None:
        root = self.store.snapshot_path(snapshot_id)
        manifest = self.store.manifest_path(snapshot_id)
        if not os.path.exists(manifest):
            self._problem(snapshot_id, "", "manifest missing")
            return
        try:
            for entry in read_manifest(manifest):
                if self.cancel.is_set():
                    raise VerifyCancelled
                path = root + "/" + entry.path
                if entry.kind == "f":
                    self._file(snapshot_id, path, entry.path, entry.size, entry.digest)
                elif entry.kind == "l":
                    try:
                        target = os.readlink(path)
                    except OSError:
                        self._problem(snapshot_id, entry.path, "missing")
                        continue
                    if target != entry.target:
                        self._problem(snapshot_id, entry.path, "symlink target mismatch")
                elif entry.kind == "d":
                    try:
                        st = os.lstat(path)
                    except OSError:
                        self._problem(snapshot_id, entry.path, "missing")
                        continue
                    if not stat.S_ISDIR(st.st_mode):
                        self._problem(snapshot_id, entry.path, "not a directory")
        except ManifestError as exc:
            self._problem(snapshot_id, "", f"manifest unreadable: {exc}")

    def _file(self, snapshot_id: str, path: str, rel: str, size: int, digest: str) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            self._problem(snapshot_id, rel, "missing")
            return
        except OSError as exc:
            self._problem(snapshot_id, rel, f"unreadable: {exc.strerror}")
            return
        try:
            st = os.fstat(fd)
            if st.st_size != size:
                self._problem(snapshot_id, rel, "size mismatch")
                return
            key = (st.st_dev, st.st_ino)
            got = self._seen.get(key)
            if got is None:
                h = hashlib.blake2b(digest_size=32)
                while True:
                    if self.cancel.is_set():
                        raise VerifyCancelled
                    data = os.read(fd, 1 << 20)
                    if not data:
                        break
                    h.update(data)
                got = h.hexdigest()
                self._seen[key] = got
        except OSError as exc:
            self._problem(snapshot_id, rel, f"unreadable: {exc.strerror}")
            return
        finally:
            os.close(fd)
        if got != digest:
            self._problem(snapshot_id, rel, "checksum mismatch")
        self.files += 1
        self.bytes += size
        self.reporter.advance(1, size, rel)
