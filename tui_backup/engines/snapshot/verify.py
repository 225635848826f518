"""Re-reading snapshots and comparing them with their manifests (and, deep, the source).

Files hard-linked across snapshots are one inode: when several snapshots are
verified in one go, an inode is hashed once and its digest reused.

Nothing is opened that is not a regular file inside the snapshot: an entry
is ``lstat``-ed first, so a FIFO, socket or device planted in a snapshot is
reported ("not a regular file") and never opened (opening a FIFO blocks, a
tape device rewinds); a manifest path with ``..`` or a leading ``/``, or
below something that is not a real directory of the snapshot, is reported
and never followed.

Extended attributes and ACLs: an entry whose manifest line records their
hash (``x:``, written when the run kept any) has the kept ones read back
from the snapshot (by the policy the run recorded in its summary) and
hashed; a difference is a problem ("extended attributes or ACLs differ"),
and for a file it is recorded as damage so the next run copies it fresh.
An entry without a recorded hash costs nothing (no ``listxattr``).

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
from tui_backup.engines.snapshot import xattrs
from tui_backup.engines.snapshot.damage import Damage
from tui_backup.engines.snapshot.dirstack import DIR_FLAGS, DirStack, open_parent
from tui_backup.engines.snapshot.manifest import (
    ManifestEntry,
    ManifestError,
    parse_line,
    read_lines,
)
from tui_backup.engines.snapshot.store import SnapshotStore
from tui_backup.engines.throttle import ProgressReporter

MAX_PROBLEMS = 10000
SEEN_LIMIT = 65_536
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
    share_inodes: bool = True
    """Several snapshots in one go: an inode linked between them is hashed once."""
    _seen: dict[tuple[int, int], str] = field(default_factory=dict)
    """Digests of linked inodes already read, at most :data:`SEEN_LIMIT` (oldest dropped):
    memory stays bounded whatever the size of the tree."""
    _sources: list[tuple[str, str]] = field(default_factory=list)
    xattrs_checked: int = 0
    """Entries whose extended attributes/ACLs were compared with the manifest's hash."""
    _xpolicy: xattrs.Policy = field(default_factory=lambda: _ALL)
    """What the snapshot being verified kept (its summary's ``xattrs_policy``)."""

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
        summary = self.store.summary(snapshot_id)
        self._xpolicy = _policy(summary.get("xattrs_policy"))
        if self.deep:
            self._sources = [
                (str(s.get("path", "")), str(s.get("prefix", "")))
                for s in summary.get("sources", [])
                if isinstance(s, dict) and s.get("path")
            ]
        try:
            root_fd = os.open(root, DIR_FLAGS)
        except OSError as exc:
            self._problem(snapshot_id, "", f"snapshot unreadable: {exc.strerror}")
            return
        walk = _ManifestWalk(DirStack(root_fd))
        cancelled = self.cancel.is_set
        try:
            for line in read_lines(manifest):
                if cancelled():
                    raise VerifyCancelled
                # Most lines are plain regular files (8 fields, no escape, no xattrs):
                # they are checked from the split fields, without building an entry
                # (a full parse was ~15 % of a small-file verify's CPU).
                parts = line.split("\t")
                entry = None
                try:
                    if len(parts) == 8 and parts[0] == "f" and "\\" not in parts[7]:
                        rel = parts[7]
                        # Mode and owner are not compared for a file, but a line whose
                        # numbers do not parse is malformed, as parse_line would say.
                        int(parts[1], 8), int(parts[2]), int(parts[3])
                        size, mtime_ns = int(parts[4]), int(parts[5])
                    else:
                        entry = parse_line(line)
                        rel = entry.path
                except ValueError:
                    # A tampered number: this line is reported, the others still checked.
                    shown = _short(parts[7] if len(parts) > 7 else line)
                    self._problem(snapshot_id, shown, "malformed manifest line; not checked")
                    continue
                if not _inside(rel):
                    self._problem(snapshot_id, _short(rel), "path leaves the snapshot; not opened")
                    continue
                parent, _, name = rel.rpartition("/")
                if not walk.enter(parent):
                    self._problem(
                        snapshot_id,
                        _short(rel),
                        "parent is not a directory in the snapshot; not opened",
                    )
                    continue
                dfd = walk.stack.fd
                if entry is None:
                    self._file(snapshot_id, dfd, name, rel, size, parts[6], "", mtime_ns)
                elif entry.kind == "f":
                    self._file(snapshot_id, dfd, name, rel, entry.size, entry.digest,
                               entry.xattrs, entry.mtime_ns)  # fmt: skip
                elif entry.kind == "l":
                    try:
                        target = os.readlink(name, dir_fd=dfd)
                    except FileNotFoundError:
                        self._problem(snapshot_id, _short(rel), "missing")
                        continue
                    except OSError:
                        self._problem(snapshot_id, _short(rel), "not a symlink")
                        continue
                    if target != entry.target:
                        self._problem(snapshot_id, _short(rel), "symlink target mismatch")
                    elif entry.xattrs:
                        self._check_xattrs(snapshot_id, dfd, name, rel, entry.xattrs)
                elif entry.kind == "d":
                    try:
                        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                    except OSError:
                        self._problem(snapshot_id, _short(rel), "missing")
                        continue
                    if not stat.S_ISDIR(st.st_mode):
                        self._problem(snapshot_id, _short(rel), "not a directory")
                        continue
                    if entry.xattrs:
                        self._check_xattrs(snapshot_id, dfd, name, rel, entry.xattrs)
                elif entry.kind == "n":
                    self._node(snapshot_id, dfd, name, entry)
        except ManifestError as exc:
            self._problem(snapshot_id, "", f"manifest unreadable: {exc}")
        finally:
            walk.stack.close()
            os.close(root_fd)

    def _node(self, snapshot_id: str, dfd: int, name: str, entry: ManifestEntry) -> None:
        """A FIFO, socket or device: its type, mode and device number; never opened."""
        shown = _short(entry.path)
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            self._problem(snapshot_id, shown, "missing")
            return
        except OSError as exc:
            self._problem(snapshot_id, shown, f"unreadable: {exc.strerror}")
            return
        if stat.S_IFMT(st.st_mode) != stat.S_IFMT(entry.mode):
            self._problem(snapshot_id, shown, "not the kind of node the manifest says; not opened")
            return
        device = stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
        if device and st.st_rdev != entry.size:
            self._problem(snapshot_id, shown, "device number mismatch")
        elif stat.S_IMODE(st.st_mode) != stat.S_IMODE(entry.mode):
            self._problem(snapshot_id, shown, "mode mismatch")
        elif entry.xattrs:  # read by path, never opened
            self._check_xattrs(snapshot_id, dfd, name, entry.path, entry.xattrs)

    def _file(
        self,
        snapshot_id: str,
        dfd: int,
        name: str,
        rel: str,
        size: int,
        digest: str,
        xh: str,
        mtime_ns: int,
    ) -> None:
        """Check one regular file: its size, its content's digest, its kept xattrs."""
        try:
            lst = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            self._problem(snapshot_id, _short(rel), "missing")
            return
        except OSError as exc:
            self._problem(snapshot_id, _short(rel), f"unreadable: {exc.strerror}")
            return
        if not stat.S_ISREG(lst.st_mode):
            self._problem(snapshot_id, _short(rel), "not a regular file; not opened")
            return
        key = (lst.st_dev, lst.st_ino)
        if lst.st_size != size:
            self._problem(snapshot_id, _short(rel), "size mismatch")
            self.damaged.append((key[0], key[1], digest, snapshot_id, rel))
            return
        got = self._seen.get(key) if self.share_inodes else None
        if got is None:
            got = self._hash(dfd, name, lst, snapshot_id, rel)
            if got is None:
                return
            if self.share_inodes and lst.st_nlink > 1:
                if len(self._seen) >= SEEN_LIMIT:
                    self._seen.pop(next(iter(self._seen)))
                self._seen[key] = got
        self.files += 1
        self.bytes += size
        self.reporter.advance(1, size, rel)
        if got != digest:
            self._problem(snapshot_id, _short(rel), "checksum mismatch")
            self.damaged.append((key[0], key[1], digest, snapshot_id, rel))
            return
        if xh and not self._check_xattrs(snapshot_id, dfd, name, rel, xh):
            self.damaged.append((key[0], key[1], digest, snapshot_id, rel))
            return
        if self.deep:
            self._compare_source(snapshot_id, rel, size, mtime_ns, digest, key, got)

    def _check_xattrs(self, snapshot_id: str, dfd: int, name: str, rel: str, xh: str) -> bool:
        """Compare an entry's kept xattrs/ACLs in the snapshot with the manifest's hash."""
        self.xattrs_checked += 1
        if xattrs.current(name, dfd, self._xpolicy) == xh:
            return True
        self._problem(snapshot_id, _short(rel),
                      "extended attributes or ACLs differ from the manifest")  # fmt: skip
        return False

    def _hash(
        self, dfd: int, name: str, lst: os.stat_result, snapshot_id: str, rel: str
    ) -> str | None:
        """The file's BLAKE2b-256, reading the very inode ``lst`` described; None on a problem."""
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=dfd)
        except OSError as exc:
            self._problem(snapshot_id, _short(rel), f"unreadable: {exc.strerror}")
            return None
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != (lst.st_dev, lst.st_ino) or not stat.S_ISREG(st.st_mode):
                self._problem(snapshot_id, _short(rel), "replaced while being verified")
                return None
            return _digest(fd, self.cancel, st.st_size)
        except OSError as exc:
            self._problem(snapshot_id, _short(rel), f"unreadable: {exc.strerror}")
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
        self,
        snapshot_id: str,
        rel: str,
        size: int,
        mtime_ns: int,
        digest: str,
        key: tuple[int, int],
        got: str,
    ) -> None:
        """Deep: a source file unchanged by size and mtime must hash to the snapshot's content."""
        src = self._source_path(rel)
        if src is None:
            self.changed += 1
            return
        try:
            dfd, name = _source_at(src)
        except OSError:
            self.changed += 1  # a directory on the way is gone (or unreadable) since
            return
        try:
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except OSError:
                self.changed += 1  # deleted (or unreadable) since the snapshot
                return
            if not stat.S_ISREG(st.st_mode) or st.st_size != size or st.st_mtime_ns != mtime_ns:
                self.changed += 1
                return
            try:
                fd = os.open(name, _READ_FLAGS, dir_fd=dfd)
            except OSError as exc:
                self._problem(snapshot_id, _short(rel), f"source unreadable: {exc.strerror}")
                return
        finally:
            if dfd is not None:
                os.close(dfd)
        try:
            fst = os.fstat(fd)
            if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
                self.changed += 1
                return
            source_digest = _digest(fd, self.cancel)
        except OSError as exc:
            self._problem(snapshot_id, _short(rel), f"source unreadable: {exc.strerror}")
            return
        finally:
            os.close(fd)
        self.bytes += size
        if source_digest != got:
            self._problem(
                snapshot_id,
                rel,
                "differs from the source although size and modification time are the same",
            )
            self.damaged.append((key[0], key[1], digest, snapshot_id, rel))


_ALL = xattrs.Policy(xattrs=True, acls=True)


def _policy(word: object) -> xattrs.Policy:
    """What a run kept, from its summary's ``xattrs_policy`` (``xattrs=True,acls=False``).

    Unknown (an older summary, or "none", whose lines record no hash to check):
    everything, as the runs before the policy existed kept everything.
    """
    if not isinstance(word, str) or "=" not in word:
        return _ALL
    return xattrs.Policy(xattrs="xattrs=True" in word, acls="acls=True" in word)


def _digest(fd: int, cancel: threading.Event, size: int = -1) -> str:
    """BLAKE2b-256 of an open regular file.

    ``size`` is its size as ``fstat`` gave it: a short read that reaches it
    is the end, which spares the read that would return nothing (a third of
    the system calls of verifying a small file).
    """
    h = hashlib.blake2b(digest_size=32)
    done = 0
    while True:
        if cancel.is_set():
            raise VerifyCancelled
        data = os.read(fd, _CHUNK)
        if not data:
            return h.hexdigest()
        h.update(data)
        done += len(data)
        if done == size and len(data) < _CHUNK:
            return h.hexdigest()


def _inside(rel: str) -> bool:
    """A manifest path that stays inside the snapshot: relative, no ``..``, no empty part."""
    if not rel or rel[0] == "/" or rel[-1] == "/" or "//" in rel:
        return False
    if "/." not in "/" + rel:  # the common case: no part starts with "."
        return True
    return not any(part in (".", "..") for part in rel.split("/"))


_SHORT_PATH = 3072


def _source_at(path: str) -> tuple[int | None, str]:
    """``(directory descriptor or None, name)`` to reach a source path of any length.

    A short path is used as it is. A longer one is split: its first part (up
    to ~3 KiB, symlinks resolved as any path lookup would) is opened by path,
    the rest one name at a time with ``O_NOFOLLOW``, so PATH_MAX is no limit.
    The descriptor is the caller's to close.
    """
    if len(path) < _SHORT_PATH:
        return None, path
    cut = path.rfind("/", 0, _SHORT_PATH)
    head, rest = path[: cut or 1], path[cut + 1 :]
    root = os.open(head, DIR_FLAGS & ~os.O_NOFOLLOW)
    try:
        fd, name = open_parent(root, rest)
    except OSError:
        os.close(root)
        raise
    if fd != root:
        os.close(root)
    return fd, name


def _short(path: str, limit: int = 200) -> str:
    """A path cut for a report: a 5,000-byte path would drown the list of problems."""
    return path if len(path) <= limit else f"{path[:80]}...{path[-80:]}"


class _ManifestWalk:
    """Follows the manifest's pre-order through the snapshot by directory descriptors.

    Consecutive entries share their parent, so moving from one entry's
    directory to the next's costs a few ``..``/name steps, never a path
    lookup from the root: any depth, any path length, one descriptor, and
    memory proportional to the depth only (no set of directories seen).
    """

    __slots__ = ("_bad", "current", "stack")

    def __init__(self, stack: DirStack) -> None:
        self.stack = stack
        self.current = ""
        """The directory (relative path) the stack is in."""
        self._bad: str | None = None
        """A directory that could not be entered: its entries are reported, not opened."""

    def enter(self, parent: str) -> bool:
        """Move to directory ``parent``; False when it is not a real directory there."""
        if parent == self.current:
            return True
        if self._bad is not None and (parent == self._bad or parent.startswith(self._bad + "/")):
            return False
        want = parent.split("/") if parent else []
        have = self.stack.names
        common = 0
        for a, b in zip(have, want, strict=False):
            if a != b:
                break
            common += 1
        try:
            while self.stack.depth > common:
                self.stack.up()
        except OSError:
            self.current = ""
            return False  # a directory moved: what follows is reported, never followed
        for i in range(common, len(want)):
            try:
                self.stack.down(want[i])
            except OSError:
                self._bad = "/".join(want[: i + 1])
                self.current = "/".join(self.stack.names)
                return False
        self.current = parent
        self._bad = None
        return True
