"""Small durable-write helpers: atomic replace, directory fsync."""

from __future__ import annotations

import errno
import os
import threading


def fsync_dir(path: str) -> None:
    """Make a rename or create in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` via a temp file, fsync and rename.

    ``mode`` is the file's exact permission bits whatever the umask (the
    engine's metadata is private: 0600). The temp file is new (``O_EXCL``)
    and never reached through a symlink, nor is the directory: a
    ``.tui-backup`` replaced by a symlink is refused (``ELOOP``).
    """
    parent = os.path.dirname(path) or "."
    if os.path.islink(parent):
        raise OSError(errno.ELOOP, f"{parent} is a symbolic link; refusing to write through it")
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path) or ".")


def replace_symlink(link: str, target: str) -> None:
    """Point ``link`` at ``target`` atomically (a reader sees the old or the new)."""
    tmp = f"{link}.tmp-{os.getpid()}"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, link)
    fsync_dir(os.path.dirname(link) or ".")
