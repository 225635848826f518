"""Restoring a snapshot (or parts of it) into a target directory, safely.

Everything below the target is reached through directory file descriptors
opened with ``O_NOFOLLOW``, and every name is created with ``O_EXCL`` or
``mkdir``/``symlink`` relative to such a descriptor. So a restore can never
leave the target: requested paths with ``..`` or absolute paths outside the
sources are refused, a symlink inside the snapshot is restored as a symlink
and never descended into, and a symlink planted in the target is never
written through (with ``overwrite`` the link itself is replaced by rename,
its target untouched).

One behaviour for every engine (docs/engines.md): everything that would
refuse the restore is checked before anything is written (a target that is
not empty without ``overwrite``, a requested path not in the snapshot), and
a dry run writes nothing anywhere. Entries that cannot be restored (a special
file planted in the snapshot, something in the way in the target) are
skipped and reported as ``path: reason``.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tui_backup.engines import layout
from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.snapshot import xattrs
from tui_backup.engines.snapshot.copy import IS_ROOT
from tui_backup.engines.snapshot.dirstack import DirStack, open_parent
from tui_backup.engines.throttle import ProgressReporter

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_tmp_counter = itertools.count()


class RestoreCancelled(Exception):
    pass


def normalize_request(path: str, sources: Sequence[tuple[str, str]]) -> list[str]:
    """Components of a requested path inside the snapshot; refuse escapes.

    ``path`` is relative to the snapshot root, or an absolute path under one of
    the job's sources (``sources`` holds ``(source path, prefix)`` pairs).
    """
    if os.path.isabs(path):
        norm = os.path.normpath(path)
        for source, prefix in sources:
            src = os.path.normpath(source)
            if norm == src or norm.startswith(src.rstrip("/") + "/"):
                rest = norm[len(src) :].lstrip("/")
                path = "/".join(p for p in (prefix, rest) if p)
                break
        else:
            raise EngineError(
                f"{path} is not inside any source of this job; give a path relative "
                "to the snapshot instead",
                ErrorType.BAD_PATH,
            )
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise EngineError(
            f"{path!r} climbs out of the snapshot with '..'; refused", ErrorType.BAD_PATH
        )
    return parts


def locate(snap_root: str, parts: list[str], snapshot_id: str) -> None:
    """Refuse (``path_not_in_snapshot``) a request that names nothing in the snapshot.

    Every component but the last must be a real directory of the snapshot
    (a symlink in the snapshot is never descended into). Walked one name at a
    time from the snapshot's descriptor, so a request may be of any length.
    """
    if not parts:
        return
    root = os.open(snap_root, _DIR_FLAGS)
    walk = DirStack(root)
    try:
        for i, name in enumerate(parts):
            try:
                st: os.stat_result | None = os.stat(name, dir_fd=walk.fd, follow_symlinks=False)
            except OSError:
                st = None
            last = i == len(parts) - 1
            if st is None or (not last and not stat.S_ISDIR(st.st_mode)):
                what = "/".join(parts)
                why = (
                    "" if st is None else f" ({'/'.join(parts[: i + 1])} is not a directory there)"
                )
                raise EngineError(
                    f"{_short(what)} is not in snapshot {snapshot_id}{why}",
                    ErrorType.PATH_NOT_IN_SNAPSHOT,
                )
            if not last:
                walk.down(name)
    finally:
        walk.close()
        os.close(root)


def check_outside_destination(dest: str, target: str) -> None:
    """Refuse a restore target inside a snapshot of ``dest``, its metadata, or ``dest`` itself.

    Restoring into a committed snapshot would change what it holds (a restore
    into itself nests copies without end) while verify keeps trusting it. The
    check compares device and inode numbers of the target's existing
    ancestors with the destination's snapshot directories, so no symlink,
    bind mount or ``latest`` alias gets around it.
    """
    guarded: dict[tuple[int, int], str] = {}
    try:
        st = os.stat(dest)
        guarded[(st.st_dev, st.st_ino)] = dest
        with os.scandir(dest) as it:
            for entry in it:
                name = entry.name
                stem = name.removesuffix(layout.PARTIAL_SUFFIX).removesuffix(".deleting")
                if name != layout.META_DIR and layout.parse_id(stem) is None:
                    continue
                try:
                    est = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(est.st_mode):
                    guarded[(est.st_dev, est.st_ino)] = os.path.join(dest, name)
    except OSError:
        return  # no destination to protect
    path = os.path.abspath(target)
    while not os.path.lexists(path) and path != "/":
        path = os.path.dirname(path)
    path = os.path.realpath(path)
    while True:
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if st is not None and (st.st_dev, st.st_ino) in guarded:
            where = guarded[(st.st_dev, st.st_ino)]
            what = "the backup destination" if where == dest else f"{where} of the destination"
            raise EngineError(
                f"the restore target {target} is inside {what}; restoring there would "
                "change the backups themselves. Choose a directory outside "
                f"{dest}",
                ErrorType.INVALID_TARGET,
            )
        if path == "/":
            return
        path = os.path.dirname(path)


def _short(path: str, limit: int = 200) -> str:
    """A path cut for a message: a 5,000-byte path would drown the sentence."""
    return path if len(path) <= limit else f"{path[:80]}...{path[-80:]}"


def check_target(target: str, *, overwrite: bool, dry_run: bool) -> None:
    """Refuse a target that is not a directory, or (without ``overwrite``) not empty.

    A dry run only lists what the snapshot holds, so it refuses nothing here
    and never creates the target.
    """
    if dry_run:
        return
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return  # created (with its parents) when the restore starts writing
    except OSError as exc:
        raise EngineError(
            f"cannot use the restore target {target}: {exc.strerror}", ErrorType.INVALID_TARGET
        ) from exc
    if not stat.S_ISDIR(st.st_mode):
        raise EngineError(
            f"the restore target {target} exists and is not a directory", ErrorType.INVALID_TARGET
        )
    if overwrite:
        return
    with os.scandir(target) as it:
        if next(it, None) is not None:
            raise EngineError(
                f"the restore target {target} is not empty; choose an empty directory "
                "or restore with overwrite",
                ErrorType.TARGET_NOT_EMPTY,
            )


@dataclass(slots=True)
class _Frame:
    """One directory being restored: its remaining names and what to apply when done."""

    names: list[str]
    rel: str
    """Its path relative to the snapshot root ("" at the root)."""
    st: os.stat_result | None
    """The snapshot directory's stat, applied to the restored one when it is done;
    None for the level a walk starts in (never ours to change)."""
    xattrs: dict[str, bytes] = field(default_factory=dict)
    """The snapshot directory's extended attributes (ACLs included)."""
    index: int = 0


@dataclass(slots=True)
class RestoreRun:
    """One restore: counters, options and the callbacks it reports through.

    The walk is iterative (an explicit stack of :class:`_Frame`) and goes by
    directory descriptors on both sides (:class:`DirStack`), so neither the
    depth of a tree nor the length of its paths has a limit. The target
    directory itself is never changed: only what is created inside it gets
    the snapshot's metadata.
    """

    overwrite: bool
    dry_run: bool
    cancel: threading.Event
    reporter: ProgressReporter
    warn: Callable[[str, str], None]
    link_groups: list[list[str]] = field(default_factory=list)
    """Paths that are one inode in the source (``<id>.hardlinks.json``): restored as links."""
    nodes: dict[str, tuple[int, int]] = field(default_factory=dict)
    """FIFOs, sockets and devices the manifest lists: path -> (file type bits, device
    number). Only these are re-created; any other node in the snapshot was planted."""
    files: int = 0
    """Regular files restored (hard links included); symlinks are counted apart."""
    bytes: int = 0
    symlinks: int = 0
    nodes_restored: int = 0
    planned: list[str] = field(default_factory=list)
    _group_of: dict[str, str] = field(default_factory=dict)
    _restored: dict[str, tuple[str, tuple[int, int]]] = field(default_factory=dict)
    """Group -> (its path restored in this run, relative to the target; the snapshot inode)."""
    _root: int = -1

    def restore(self, snap_root: str, target: str, requests: list[list[str]]) -> None:
        check_outside_destination(os.path.dirname(snap_root), target)
        sfd = os.open(snap_root, _DIR_FLAGS)
        tfd = -1
        try:
            made_target = False
            if not self.dry_run:
                try:
                    made_target = not os.path.lexists(target)
                    os.makedirs(target, exist_ok=True)
                    tfd = os.open(os.path.realpath(target), _DIR_FLAGS)
                except OSError as exc:
                    raise EngineError(
                        f"cannot write to the restore target {target}: {exc.strerror}",
                        ErrorType.INVALID_TARGET,
                    ) from exc
            self._root = tfd
            own = os.fstat(tfd) if tfd >= 0 else None
            self._group_of = {p: g[0] for g in self.link_groups for p in g}
            try:
                for parts in requests or [[]]:
                    self._restore_request(sfd, tfd, parts)
            finally:
                if made_target and not requests:
                    # A target this restore made for the whole snapshot is the snapshot's
                    # root, as ``rsync -a SNAP/ TARGET/`` would make it.
                    root = os.fstat(sfd)
                    self._dir_metadata(tfd, root, _xattrs(sfd), "")
                elif own is not None:
                    # An existing target is not ours: creating entries inside it moved
                    # its mtime, so its own times go back.
                    _put_back_times(tfd, own)
        finally:
            os.close(sfd)
            if tfd >= 0:
                os.close(tfd)

    def _restore_request(self, sfd: int, tfd: int, parts: list[str]) -> None:
        """Descend to the requested entry on both sides, then restore it.

        Directories on the way that the restore creates get the snapshot's
        metadata once the entry is restored; existing ones are left alone.
        """
        s = DirStack(sfd)
        t = DirStack(tfd) if tfd >= 0 else None
        # Per level entered: the snapshot's metadata to apply (a directory made
        # now), or the existing directory's own stat (only its times to put back).
        created: list[tuple[os.stat_result, dict[str, bytes] | None]] = []
        try:
            for i, name in enumerate(parts[:-1]):
                rel = "/".join(parts[: i + 1])
                st = os.stat(name, dir_fd=s.fd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    self.warn("/".join(parts), f"{_short(rel)} is not a directory in the snapshot")
                    return
                if t is not None:
                    made = self._ensure_dir(t.fd, name, rel)
                    if made is None:
                        return
                    try:
                        own = t.down(name)
                    except OSError as exc:
                        # ELOOP: something swapped in a symlink since we looked; never follow it.
                        self.warn(rel, f"cannot open directory in target: {exc.strerror}; skipped")
                        return
                    created.append((own, None))
                s.down(name)
                if t is not None and made:
                    created[-1] = (st, _xattrs(s.fd))
            if parts:
                names, base = [parts[-1]], "/".join(parts[:-1])
            else:
                names, base = sorted(os.listdir(s.fd)), ""
            self._walk(s, t, names, base)
        finally:
            if t is not None:
                while t.depth:
                    child = t.up(keep=True)
                    try:
                        # Only the request's own levels (a failed walk may leave t deeper).
                        level = created.pop() if t.depth == len(created) - 1 else None
                        if level is not None and level[1] is not None:
                            rel = "/".join(parts[: t.depth + 1])
                            self._dir_metadata(child, level[0], level[1], rel)
                        elif level is not None:
                            _put_back_times(child, level[0])
                    finally:
                        os.close(child)
                t.close()
            s.close()

    def _walk(self, s: DirStack, t: DirStack | None, names: list[str], base: str) -> None:
        """Restore ``names`` of the current directory, and everything below them."""
        frames = [_Frame(names, base, None)]
        while frames:
            if self.cancel.is_set():
                raise RestoreCancelled
            frame = frames[-1]
            if frame.index == len(frame.names):
                frames.pop()
                if frame.st is None:
                    continue
                s.up()
                if t is not None:
                    child = t.up(keep=True)
                    try:
                        self._dir_metadata(child, frame.st, frame.xattrs, frame.rel)
                    finally:
                        os.close(child)
                continue
            name = frame.names[frame.index]
            frame.index += 1
            rel = frame.rel + "/" + name if frame.rel else name
            st = os.stat(name, dir_fd=s.fd, follow_symlinks=False)
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                if self._enter(s, t, name, rel):
                    attrs = _xattrs(s.fd) if t is not None else {}
                    frames.append(_Frame(sorted(os.listdir(s.fd)), rel, st, attrs))
                continue
            if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                recorded = self.nodes.get(rel)
                if recorded is None or recorded != (stat.S_IFMT(mode), _rdev(st)):
                    self.warn(rel, f"{_kind(mode)} in the snapshot that its manifest does "
                                   "not list; not restored")  # fmt: skip
                elif self.dry_run or t is None:
                    self.planned.append(rel)
                else:
                    self._node(s.fd, t.fd, name, rel, st)
                continue
            if self.dry_run or t is None:
                self.planned.append(rel)
                if stat.S_ISREG(mode):
                    self._count(rel, st.st_size)
                else:
                    self.symlinks += 1
                continue
            if stat.S_ISREG(mode):
                self._file(s.fd, t.fd, name, rel, st)
            else:
                self._symlink(s.fd, t.fd, name, rel, st)

    def _enter(self, s: DirStack, t: DirStack | None, name: str, rel: str) -> bool:
        """Go down into directory ``name`` on both sides; False (warned) to skip it."""
        if t is not None:
            if self._ensure_dir(t.fd, name, rel) is None:
                return False
            try:
                t.down(name)
            except OSError as exc:
                # ELOOP: something swapped in a symlink since we looked; never follow it.
                self.warn(rel, f"cannot open directory in target: {exc.strerror}; skipped")
                return False
        try:
            s.down(name)
        except OSError as exc:
            self.warn(rel, f"cannot read directory in the snapshot: {exc.strerror}; skipped")
            if t is not None:
                t.up()
            return False
        return True

    def _count(self, rel: str, size: int) -> None:
        self.files += 1
        self.bytes += size
        self.reporter.advance(1, size, rel)

    def _existing(self, tdir: int, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=tdir, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def _ensure_dir(self, tdir: int, name: str, rel: str) -> bool | None:
        """Directory ``name`` in ``tdir``: True if created now, False if it was there,
        None (warned) to skip it."""
        existing = self._existing(tdir, name)
        if existing is not None and not stat.S_ISDIR(existing.st_mode):
            if not self.overwrite:  # appeared after the target was found empty
                self.warn(rel, "something else appeared in the target; not replaced")
                return None
            os.unlink(name, dir_fd=tdir)
            existing = None
        if existing is None:
            os.mkdir(name, 0o700, dir_fd=tdir)
            return True
        return False

    def _dir_metadata(self, fd: int, st: os.stat_result, attrs: dict[str, bytes], rel: str) -> None:
        """Owner, extended attributes (ACLs), mode and times of a restored directory."""
        if IS_ROOT:
            os.fchown(fd, st.st_uid, st.st_gid)
        problem = _copy_xattrs_from(attrs, fd)
        if problem:
            self.warn(rel, f"restored without some extended attributes: {problem}")
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))

    def _file(self, sdir: int, tdir: int, name: str, rel: str, st: os.stat_result) -> None:
        group = self._group_of.get(rel) if self._group_of else None
        if group is not None:
            first = self._restored.get(group)
            # Linked only if the snapshot holds them as one inode too: a tampered
            # hardlinks.json cannot make one restored file stand for another.
            if first is not None and first[1] == (st.st_dev, st.st_ino):
                self._link(tdir, name, rel, st, first[0])
                return
        # Without overwrite the target was found empty: O_EXCL below refuses whatever
        # appeared since, so only an overwrite looks first (one stat less per file).
        existing = self._existing(tdir, name) if self.overwrite else None
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            self.warn(rel, "a directory is in the way in the target; not replaced")
            return
        create = _tmp_name() if existing else name
        try:
            src = os.open(name, _READ_FLAGS, dir_fd=sdir)
        except OSError as exc:
            self.warn(rel, f"cannot read from snapshot: {exc.strerror}")
            return
        try:
            try:
                dst = os.open(create, _CREATE_FLAGS, 0o600, dir_fd=tdir)
            except FileExistsError:
                self.warn(rel, "appeared in the target during the restore; not replaced")
                return
            problem = None
            try:
                if st.st_blocks * 512 < st.st_size:
                    _copy_sparse(src, dst, st.st_size, self.cancel)
                else:
                    _pump(src, dst, self.cancel, st.st_size)
                if IS_ROOT:
                    os.fchown(dst, st.st_uid, st.st_gid)
                problem = _copy_xattrs_from(_xattrs(src), dst)
                os.fchmod(dst, stat.S_IMODE(st.st_mode))
                os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
            except BaseException:
                os.unlink(create, dir_fd=tdir)
                raise
            finally:
                os.close(dst)
        finally:
            os.close(src)
        if create != name:
            # rename replaces the name itself: a planted symlink is swapped out, not followed.
            os.rename(create, name, src_dir_fd=tdir, dst_dir_fd=tdir)
        if problem:
            self.warn(rel, f"restored without some extended attributes: {problem}")
        self._count(rel, st.st_size)
        if group is not None and group not in self._restored:
            self._restored[group] = (rel, (st.st_dev, st.st_ino))

    def _link(self, tdir: int, name: str, rel: str, st: os.stat_result, first: str) -> None:
        """Restore ``rel`` as a hard link of ``first``, restored earlier in this run."""
        existing = self._existing(tdir, name)
        if existing is not None:
            if not self.overwrite:
                self.warn(rel, "appeared in the target during the restore; not replaced")
                return
            if stat.S_ISDIR(existing.st_mode):
                self.warn(rel, "a directory is in the way in the target; not replaced")
                return
        create = _tmp_name() if existing else name
        try:
            pfd, pname = open_parent(self._root, first)
        except OSError as exc:
            self.warn(rel, f"cannot link to {_short(first)}: {exc.strerror}")
            return
        try:
            os.link(pname, create, src_dir_fd=pfd, dst_dir_fd=tdir, follow_symlinks=False)
        except OSError as exc:
            self.warn(rel, f"cannot link to {_short(first)}: {exc.strerror}")
            return
        finally:
            if pfd != self._root:
                os.close(pfd)
        if create != name:
            os.rename(create, name, src_dir_fd=tdir, dst_dir_fd=tdir)
            try:  # rename does nothing when both names already are one inode
                os.unlink(create, dir_fd=tdir)
            except FileNotFoundError:
                pass
        self._count(rel, st.st_size)

    def _node(self, sdir: int, tdir: int, name: str, rel: str, st: os.stat_result) -> None:
        """Re-create a FIFO, socket or device node (``mknod``); never opened on either side."""
        existing = self._existing(tdir, name)
        if existing is not None:
            if not self.overwrite:  # appeared after the target was found empty
                self.warn(rel, "appeared in the target during the restore; not replaced")
                return
            if stat.S_ISDIR(existing.st_mode):
                self.warn(rel, "a directory is in the way in the target; not replaced")
                return
        create = _tmp_name() if existing else name
        try:
            os.mknod(create, stat.S_IFMT(st.st_mode) | 0o600, _rdev(st), dir_fd=tdir)
        except FileExistsError:
            self.warn(rel, "appeared in the target during the restore; not replaced")
            return
        except PermissionError as exc:  # a device without CAP_MKNOD
            self.warn(rel, f"{_kind(st.st_mode)} not restored: {exc.strerror}")
            return
        if IS_ROOT:
            os.chown(create, st.st_uid, st.st_gid, dir_fd=tdir, follow_symlinks=False)
        os.chmod(create, stat.S_IMODE(st.st_mode), dir_fd=tdir)
        # ACLs (system.posix_acl_*) may sit on a node; read and written by name, not opened.
        kept = xattrs.read(xattrs.at(name, sdir), _ALL)
        refused = xattrs.write(xattrs.at(create, tdir), kept) if kept else []
        os.utime(create, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=tdir, follow_symlinks=False)
        if create != name:
            os.rename(create, name, src_dir_fd=tdir, dst_dir_fd=tdir)
        if refused:
            what = ", ".join(f"{n} ({why})" for n, why in refused)
            self.warn(rel, f"restored without some extended attributes: {what}")
        self.nodes_restored += 1
        self.reporter.advance(0, 0, rel)

    def _symlink(self, sdir: int, tdir: int, name: str, rel: str, st: os.stat_result) -> None:
        link_target = os.readlink(name, dir_fd=sdir)
        existing = self._existing(tdir, name)
        if existing is not None:
            if not self.overwrite:  # appeared after the target was found empty
                self.warn(rel, "appeared in the target during the restore; not replaced")
                return
            if stat.S_ISDIR(existing.st_mode):
                self.warn(rel, "a directory is in the way in the target; not replaced")
                return
        create = _tmp_name() if existing else name
        try:
            os.symlink(link_target, create, dir_fd=tdir)
        except FileExistsError:
            self.warn(rel, "appeared in the target during the restore; not replaced")
            return
        if IS_ROOT:
            os.chown(create, st.st_uid, st.st_gid, dir_fd=tdir, follow_symlinks=False)
            # A symlink may carry trusted.*/security.* xattrs (user.* never): root's only.
            kept = xattrs.read(xattrs.at(name, sdir), _ALL)
            refused = xattrs.write(xattrs.at(create, tdir), kept) if kept else []
            if refused:
                what = ", ".join(f"{n} ({why})" for n, why in refused)
                self.warn(rel, f"restored without some extended attributes: {what}")
        os.utime(create, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=tdir, follow_symlinks=False)
        if create != name:
            os.rename(create, name, src_dir_fd=tdir, dst_dir_fd=tdir)
        self.symlinks += 1
        self.reporter.advance(0, 0, rel)


def _rdev(st: os.stat_result) -> int:
    """A device's number; 0 for FIFOs and sockets (as the manifest records them)."""
    return st.st_rdev if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else 0


def _put_back_times(fd: int, st: os.stat_result) -> None:
    """Restore a directory's own times (not ours to change); silently when not permitted."""
    try:
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    except OSError:
        pass  # not its owner (a shared 1777 directory as another user): nothing we may do


def _tmp_name() -> str:
    return f".tui-restore-{os.getpid()}-{next(_tmp_counter)}"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


_ACLS = ("system.posix_acl_access", "system.posix_acl_default")
_ALL = xattrs.Policy(xattrs=True, acls=True)
"""A restore gives back whatever the snapshot holds; the backup chose what to keep."""


def _xattrs(fd: int) -> dict[str, bytes]:
    """The extended attributes (ACLs included) of an open file; {} where unsupported."""
    try:
        names = os.listxattr(fd)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise
    out: dict[str, bytes] = {}
    for name in names:
        try:
            out[name] = os.getxattr(fd, name)
        except OSError as exc:
            if exc.errno != errno.ENODATA:  # removed since it was listed
                raise
    return out


def _copy_xattrs_from(attrs: dict[str, bytes], dst: int) -> str:
    """Set ``attrs`` on ``dst``; drop ACLs it inherited that the snapshot entry lacks.

    A file created in a directory with a default ACL inherits it; the
    snapshot says what the entry had, so an inherited ACL it did not have is
    removed (as ``rsync -A`` does). Returns the attributes that could not be
    set (e.g. ``user.*`` on a filesystem without xattrs), "" when all were.
    """
    failed: list[str] = []
    for name, value in attrs.items():
        try:
            os.setxattr(dst, name, value)
        except OSError as exc:
            failed.append(f"{name} ({exc.strerror})")
    try:
        present = os.listxattr(dst)
    except OSError:
        present = []
    for name in present:
        if name in _ACLS and name not in attrs:
            try:
                os.removexattr(dst, name)
            except OSError as exc:
                failed.append(f"removing inherited {name} ({exc.strerror})")
    return ", ".join(failed)


def _copy_sparse(src: int, dst: int, size: int, cancel: threading.Event) -> None:
    """Copy only the data extents of a sparse snapshot file: holes stay holes."""
    pos = 0
    while pos < size:
        if cancel.is_set():
            raise RestoreCancelled
        try:
            data = os.lseek(src, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole up to the end
                break
            raise
        hole = os.lseek(src, data, os.SEEK_HOLE)
        os.lseek(src, data, os.SEEK_SET)
        os.lseek(dst, data, os.SEEK_SET)
        left = hole - data
        while left > 0:
            chunk = os.read(src, min(left, 1 << 20))
            if not chunk:
                break
            view = memoryview(chunk)
            while view:
                view = view[os.write(dst, view) :]
            left -= len(chunk)
        pos = hole
    os.ftruncate(dst, size)


def _pump(src: int, dst: int, cancel: threading.Event, size: int = -1) -> None:
    """Copy ``src`` to ``dst``; a short read that reaches ``size`` (its stat) is the end."""
    done = 0
    while True:
        if cancel.is_set():
            raise RestoreCancelled
        data = os.read(src, 1 << 20)
        if not data:
            return
        view = memoryview(data)
        while view:
            view = view[os.write(dst, view) :]
        done += len(data)
        if done == size and len(data) < 1 << 20:
            return
