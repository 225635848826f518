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

import itertools
import os
import stat
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.snapshot.copy import IS_ROOT
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
    (a symlink in the snapshot is never descended into).
    """
    if not parts:
        return
    path = snap_root
    for i, name in enumerate(parts):
        path = path + "/" + name
        try:
            st = os.lstat(path)
        except OSError:
            st = None
        last = i == len(parts) - 1
        if st is None or (not last and not stat.S_ISDIR(st.st_mode)):
            what = "/".join(parts)
            why = "" if st is None else f" ({'/'.join(parts[: i + 1])} is not a directory there)"
            raise EngineError(
                f"{what} is not in snapshot {snapshot_id}{why}", ErrorType.PATH_NOT_IN_SNAPSHOT
            )


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
class RestoreRun:
    """One restore: counters, options and the callbacks it reports through."""

    overwrite: bool
    dry_run: bool
    cancel: threading.Event
    reporter: ProgressReporter
    warn: Callable[[str, str], None]
    link_groups: list[list[str]] = field(default_factory=list)
    """Paths that are one inode in the source (``<id>.hardlinks.json``): restored as links."""
    files: int = 0
    """Regular files restored (hard links included); symlinks are counted apart."""
    bytes: int = 0
    symlinks: int = 0
    planned: list[str] = field(default_factory=list)
    _group_of: dict[str, str] = field(default_factory=dict)
    _restored: dict[str, str] = field(default_factory=dict)
    """Group -> the path of it already restored in this run (relative to the target)."""
    _root: int = -1

    def restore(self, snap_root: str, target: str, requests: list[list[str]]) -> None:
        sfd = os.open(snap_root, _DIR_FLAGS)
        tfd = -1
        try:
            if not self.dry_run:
                try:
                    os.makedirs(target, exist_ok=True)
                    tfd = os.open(os.path.realpath(target), _DIR_FLAGS)
                except OSError as exc:
                    raise EngineError(
                        f"cannot write to the restore target {target}: {exc.strerror}",
                        ErrorType.INVALID_TARGET,
                    ) from exc
            self._root = tfd
            self._group_of = {p: g[0] for g in self.link_groups for p in g}
            for parts in requests or [[]]:
                self._restore_request(sfd, tfd, parts)
        finally:
            os.close(sfd)
            if tfd >= 0:
                os.close(tfd)

    def _restore_request(self, sfd: int, tfd: int, parts: list[str]) -> None:
        """Descend to the requested entry on both sides, then restore it."""
        if not parts:
            for name in sorted(os.listdir(sfd)):
                self._entry(sfd, tfd, name, name)
            if tfd >= 0:
                _apply_dir_metadata(tfd, os.fstat(sfd))
            return
        opened: list[int] = []
        try:
            s_cur, t_cur = sfd, tfd
            for i, name in enumerate(parts[:-1]):
                rel = "/".join(parts[: i + 1])
                st = os.stat(name, dir_fd=s_cur, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    self.warn("/".join(parts), f"{rel} is not a directory in the snapshot")
                    return
                s_cur = os.open(name, _DIR_FLAGS, dir_fd=s_cur)
                opened.append(s_cur)
                if tfd >= 0:
                    t_next = self._ensure_dir(t_cur, name, rel, st)
                    if t_next is None:
                        return
                    t_cur = t_next
                    opened.append(t_cur)
            self._entry(s_cur, t_cur, parts[-1], "/".join(parts))
        finally:
            for fd in opened:
                os.close(fd)

    def _entry(self, sdir: int, tdir: int, name: str, rel: str) -> None:
        if self.cancel.is_set():
            raise RestoreCancelled
        st = os.stat(name, dir_fd=sdir, follow_symlinks=False)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            child_s = os.open(name, _DIR_FLAGS, dir_fd=sdir)
            try:
                child_t = -1
                if tdir >= 0:
                    got = self._ensure_dir(tdir, name, rel, st)
                    if got is None:
                        return
                    child_t = got
                try:
                    for child in sorted(os.listdir(child_s)):
                        self._entry(child_s, child_t, child, rel + "/" + child)
                    if child_t >= 0:
                        _apply_dir_metadata(child_t, st)
                finally:
                    if child_t >= 0:
                        os.close(child_t)
            finally:
                os.close(child_s)
            return
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            self.warn(rel, f"{_kind(mode)} in the snapshot; not restored")
            return
        if self.dry_run:
            self.planned.append(rel)
            if stat.S_ISREG(mode):
                self._count(rel, st.st_size)
            else:
                self.symlinks += 1
            return
        if stat.S_ISREG(mode):
            self._file(sdir, tdir, name, rel, st)
        else:
            self._symlink(sdir, tdir, name, rel, st)

    def _count(self, rel: str, size: int) -> None:
        self.files += 1
        self.bytes += size
        self.reporter.advance(1, size, rel)

    def _existing(self, tdir: int, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=tdir, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def _ensure_dir(self, tdir: int, name: str, rel: str, st: os.stat_result) -> int | None:
        """An fd for directory ``name`` in ``tdir`` (created if needed), or None to skip."""
        existing = self._existing(tdir, name)
        if existing is not None and not stat.S_ISDIR(existing.st_mode):
            if not self.overwrite:  # appeared after the target was found empty
                self.warn(rel, "something else appeared in the target; not replaced")
                return None
            os.unlink(name, dir_fd=tdir)
            existing = None
        if existing is None:
            os.mkdir(name, 0o700, dir_fd=tdir)
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=tdir)
        except OSError as exc:
            # ELOOP: something swapped in a symlink since we looked; never follow it.
            self.warn(rel, f"cannot open directory in target: {exc.strerror}; skipped")
            return None

    def _file(self, sdir: int, tdir: int, name: str, rel: str, st: os.stat_result) -> None:
        group = self._group_of.get(rel) if self._group_of else None
        if group is not None and group in self._restored:
            self._link(tdir, name, rel, st, self._restored[group])
            return
        existing = self._existing(tdir, name)
        if existing is not None:
            if not self.overwrite:  # appeared after the target was found empty
                self.warn(rel, "appeared in the target during the restore; not replaced")
                return
            if stat.S_ISDIR(existing.st_mode):
                self.warn(rel, "a directory is in the way in the target; not replaced")
                return
        create = f".tui-restore-{os.getpid()}-{next(_tmp_counter)}" if existing else name
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
            try:
                _pump(src, dst, self.cancel)
                if IS_ROOT:
                    os.fchown(dst, st.st_uid, st.st_gid)
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
        self._count(rel, st.st_size)
        if group is not None:
            self._restored[group] = rel

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
        create = f".tui-restore-{os.getpid()}-{next(_tmp_counter)}" if existing else name
        try:
            os.link(first, create, src_dir_fd=self._root, dst_dir_fd=tdir, follow_symlinks=False)
        except OSError as exc:
            self.warn(rel, f"cannot link to {first}: {exc.strerror}")
            return
        if create != name:
            os.rename(create, name, src_dir_fd=tdir, dst_dir_fd=tdir)
            try:  # rename does nothing when both names already are one inode
                os.unlink(create, dir_fd=tdir)
            except FileNotFoundError:
                pass
        self._count(rel, st.st_size)

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
        create = f".tui-restore-{os.getpid()}-{next(_tmp_counter)}" if existing else name
        try:
            os.symlink(link_target, create, dir_fd=tdir)
        except FileExistsError:
            self.warn(rel, "appeared in the target during the restore; not replaced")
            return
        if IS_ROOT:
            os.chown(create, st.st_uid, st.st_gid, dir_fd=tdir, follow_symlinks=False)
        os.utime(create, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=tdir, follow_symlinks=False)
        if create != name:
            os.rename(create, name, src_dir_fd=tdir, dst_dir_fd=tdir)
        self.symlinks += 1
        self.reporter.advance(0, 0, rel)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def _apply_dir_metadata(fd: int, st: os.stat_result) -> None:
    if IS_ROOT:
        os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def _pump(src: int, dst: int, cancel: threading.Event) -> None:
    while True:
        if cancel.is_set():
            raise RestoreCancelled
        data = os.read(src, 1 << 20)
        if not data:
            return
        view = memoryview(data)
        while view:
            view = view[os.write(dst, view) :]
