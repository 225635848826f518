"""One directory of a backup walk, on three sides: the source, the new snapshot, the previous.

While a directory is walked its source, new and previous directories are
held open (``*_fd``): lstat, link and mkdir then work relative to them
instead of resolving a long path for every file. ``*_at`` is what to prefix
a name with for those calls: ``""`` with a descriptor, the directory's path
and ``/`` without one (very deep trees, the virtual root of several sources,
a directory missing from the previous snapshot).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from tui_backup.engines.snapshot import xattrs


class DirFrame:
    """A directory being walked (a plain slotted class: dataclasses cost start-up)."""

    __slots__ = (
        "dst",
        "dst_at",
        "dst_fd",
        "entries",
        "prev_at",
        "prev_fd",
        "rel",
        "sources",
        "src",
        "src_at",
        "src_fd",
        "src_rel",
        "st",
        "xattrs",
    )

    def __init__(
        self,
        entries: Iterator[tuple[str, bool]],
        src: str,
        dst: str,
        rel: str,
        src_rel: str,
        st: os.stat_result,
        sources: dict[str, str] | None = None,
    ) -> None:
        self.entries = entries
        """The sorted ``(name, is_file)`` entries, resumed after a subdirectory."""
        self.src = src
        """The source directory's path."""
        self.dst = dst
        """The new directory's path in the partial snapshot."""
        self.rel = rel
        """Its path in the snapshot (the manifest's)."""
        self.src_rel = src_rel
        """Its path relative to its source's root (what excludes match; "" without excludes)."""
        self.st = st
        """The source directory's lstat (the new one gets its metadata when done)."""
        self.sources = sources
        """Only for the virtual root of a multi-source snapshot: prefix -> source path."""
        self.src_fd: int | None = None
        self.dst_fd: int | None = None
        self.prev_fd: int | None = None
        self.src_at = src + "/"
        self.dst_at = dst + "/"
        self.prev_at = ""
        self.xattrs: xattrs.Items = []
        """The directory's kept xattrs/ACLs, set on its copy once its children are in."""

    def close(self) -> None:
        for fd in (self.src_fd, self.dst_fd, self.prev_fd):
            if fd is not None:
                os.close(fd)
        self.src_fd = self.dst_fd = self.prev_fd = None
