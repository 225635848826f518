"""Removing snapshot trees of any depth, even ones with read-only directories.

A snapshot keeps the source's directory modes, so as an ordinary user a copy
of a ``0555`` (or ``0000``) directory cannot be emptied until it is made
writable again. And a snapshot may be thousands of levels deep, deeper than
Python's recursion limit (``shutil.rmtree`` recurses) and than ``PATH_MAX``:
the removal is iterative and goes by directory descriptors, one held at a
time (:class:`~tui_backup.engines.snapshot.dirstack.DirStack`), never
following a symlink.
"""

from __future__ import annotations

import logging
import os
import stat

from tui_backup.engines.snapshot.dirstack import DIR_FLAGS, DirStack

log = logging.getLogger(__name__)

_OWNER_RWX = stat.S_IRWXU


def remove_tree(path: str) -> None:
    """``rm -rf path`` that fixes directory permissions it trips over; never follows links."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    _writable(path, None, st)
    root = os.open(path, DIR_FLAGS)
    try:
        _empty(root)
    finally:
        os.close(root)
    os.rmdir(path)


def _writable(name: str, dir_fd: int | None, st: os.stat_result) -> None:
    """Give a directory's owner rwx on it if it lacks any (to list and empty it)."""
    if st.st_mode & _OWNER_RWX != _OWNER_RWX:
        os.chmod(name, stat.S_IMODE(st.st_mode) | _OWNER_RWX, dir_fd=dir_fd)


def _empty(root: int) -> None:
    """Remove everything below the directory ``root``, depth first, without recursion.

    Per level entered, only the names of its subdirectories still to remove
    are held: memory grows with depth and width, never with the file count.
    """
    walk = DirStack(root)
    try:
        todo = [_remove_entries(root)]
        while todo:
            if todo[-1]:
                sub = todo[-1].pop()
                _writable(sub, walk.fd, os.stat(sub, dir_fd=walk.fd, follow_symlinks=False))
                walk.down(sub)
                todo.append(_remove_entries(walk.fd))
                continue
            todo.pop()
            if todo:
                done = walk.names[-1]
                walk.up()
                os.rmdir(done, dir_fd=walk.fd)
    finally:
        walk.close()


def _remove_entries(fd: int) -> list[str]:
    """Unlink every non-directory in ``fd``; return the names of its subdirectories."""
    subdirs: list[str] = []
    with os.scandir(fd) as it:
        for entry in it:
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(entry.name)
                continue
            try:
                os.unlink(entry.name, dir_fd=fd)
            except FileNotFoundError:
                pass
    return subdirs
