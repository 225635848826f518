"""Crash-safe file replacement: a file is never half-written (docs/configuration.md).

The sequence is: write a temp file in the same directory, fsync it, keep the
previous good file as ``.bak`` (a separate *copy*, never a hard link: an
editor or ``echo > file`` that rewrites the file in place would otherwise
rewrite the backup with it), ``os.replace`` the temp file over the original,
fsync the directory. A crash at any point leaves either the old or the new
content under the original name, and a complete file under ``.bak``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from tui_backup.store.locking import fsync_dir
from tui_backup.store.paths import FILE_MODE


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def atomic_write(path: Path, data: bytes, *, keep_backup: bool = True, sync: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically; the caller holds the write lock.

    ``sync=False`` skips both fsyncs: for a copy whose original is still on
    disk (a ``.bak`` refreshed by the repair step), where a crash may at worst
    lose the copy, and 2,000 of them must not cost 4,000 fsyncs.
    """
    directory = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), FILE_MODE)
            if sync:
                os.fsync(fh.fileno())
        if keep_backup and path.exists():
            _link_backup(path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if sync:
        fsync_dir(directory)


def _link_backup(path: Path) -> None:
    """Make ``path.bak`` a copy of the current ``path``, itself written atomically."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return
    atomic_write(backup_path(path), raw, keep_backup=False)


def quarantine(path: Path) -> Path:
    """Move a bad file aside as ``<name>.corrupt-<UTC time>``; never delete it."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    os.replace(path, target)
    fsync_dir(path.parent)
    return target


def keep_aside(path: Path) -> Path:
    """Give the current ``path`` a second name, ``<name>.corrupt-<UTC time>``.

    Unlike :func:`quarantine`, ``path`` never stops existing: the caller then
    replaces it atomically with the good version, so a concurrent reader sees
    the bad file or the good one, never none (which it would take for a job
    removed). A hard link keeps the very inode, so an editor still writing in
    place writes into the kept copy; without hard links, a copy.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        os.link(path, target)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.EEXIST):
            raise
        atomic_write(target, path.read_bytes(), keep_backup=False)
    fsync_dir(path.parent)
    return target
