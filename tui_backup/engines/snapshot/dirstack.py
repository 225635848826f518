"""A directory at any depth below a root, held as one open descriptor.

Restore and verify walk trees of any depth and any path length: a path is
never handed to the kernel whole (``PATH_MAX`` is 4096 bytes), every step is
one name opened relative to its parent's descriptor with ``O_NOFOLLOW``, so
a symlink planted in place of a directory is never followed.

Holding a descriptor per level would cap the depth at the open-files limit
(a 2,000-level tree needs 2,000 of them per side), so only the current level
is held: going back up opens ``..`` of the current directory and checks it is
the very directory (device and inode) we came down from. A directory moved
away during the walk is an error, never a silent walk somewhere else.
"""

from __future__ import annotations

import errno
import os

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _ident(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


class DirStack:
    """The current directory of a walk below ``root_fd`` (which the caller owns)."""

    __slots__ = ("_ids", "fd", "names", "root")

    def __init__(self, root_fd: int) -> None:
        self.root = root_fd
        self.fd = root_fd
        """The current directory (the root's descriptor at depth 0)."""
        self.names: list[str] = []
        """The names from the root down to the current directory."""
        self._ids: list[tuple[int, int]] = [_ident(os.fstat(root_fd))]

    @property
    def depth(self) -> int:
        return len(self.names)

    def down(self, name: str) -> os.stat_result:
        """Enter subdirectory ``name`` (never a symlink); its stat. Raises OSError."""
        fd = os.open(name, DIR_FLAGS, dir_fd=self.fd)
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        if self.fd != self.root:
            os.close(self.fd)
        self.fd = fd
        self.names.append(name)
        self._ids.append(_ident(st))
        return st

    def up(self, *, keep: bool = False) -> int:
        """Back to the parent. With ``keep`` the child's descriptor is returned, open,
        for the caller to use (set its metadata) and close; otherwise -1."""
        if not self.names:
            raise ValueError("already at the root")
        child = self.fd
        self.names.pop()
        self._ids.pop()
        if not self.names:
            parent = self.root
        else:
            try:
                parent = os.open("..", DIR_FLAGS, dir_fd=child)
                if _ident(os.fstat(parent)) != self._ids[-1]:
                    os.close(parent)
                    raise OSError(errno.ESTALE, "a directory was moved during the walk")
            except OSError:
                os.close(child)
                self.fd = self.root
                self.names.clear()
                del self._ids[1:]
                raise
        self.fd = parent
        if keep:
            return child
        os.close(child)
        return -1

    def close(self) -> None:
        """Release the current directory (the root stays the caller's)."""
        if self.fd != self.root:
            os.close(self.fd)
        self.fd = self.root
        self.names.clear()
        del self._ids[1:]


def open_parent(root_fd: int, rel: str) -> tuple[int, str]:
    """The directory holding ``rel`` (components from ``root_fd``) and the last name.

    The descriptor is the caller's to close unless it is ``root_fd`` itself.
    Every directory on the way is opened with ``O_NOFOLLOW``, one name at a
    time, so the path may be of any length.
    """
    parts = rel.split("/")
    fd = root_fd
    try:
        for name in parts[:-1]:
            nxt = os.open(name, DIR_FLAGS, dir_fd=fd)
            if fd != root_fd:
                os.close(fd)
            fd = nxt
    except OSError:
        if fd != root_fd:
            os.close(fd)
        raise
    return fd, parts[-1]
