"""The job's exclude list, as rsync rules that select exactly what the snapshot engine does.

gitignore and rsync filter rules look alike and differ where it matters (the
first matching rsync rule wins, the last gitignore line does; a slash inside a
gitignore pattern anchors it, in rsync it does not; ``!`` negation does not
exist in rsync). So no pattern is translated: each source is walked with the
shared :class:`~tui_backup.engines.excludes.Excluder`, and every top-most
excluded path becomes one anchored, literal rsync rule (``/a/b``, wildcard
characters escaped). Nothing below an excluded directory is visited, as git
does: a file inside an excluded directory cannot be re-included.

The rules file is newline-separated: rsync 3.5.0 reads only the first rule of
an ``--exclude-from`` file given with ``--from0`` (seen here; checked by
tests/external/rsync/test_excludes.py). A name holding a newline or carriage
return is written as a wildcard rule with ``?`` in that place.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable

from tui_backup.engines.excludes import Excluder
from tui_backup.engines.rsync.location import Stopped

_WILDCARDS = re.compile(r"[*?\[\n\r]")
_SPECIAL = re.compile(r"([*?\[\\])")
_LINE_BREAKS = re.compile(r"[\n\r]")


OnKept = Callable[[int], None]
"""Called for each entry the walk keeps, with its size (0 unless a regular file)."""


def excluded_paths(
    root: str,
    patterns: tuple[str, ...],
    cancel: threading.Event | None = None,
    on_kept: OnKept | None = None,
) -> list[str]:
    """Top-most paths under directory ``root`` (relative, ``/``-joined) the patterns exclude.

    ``on_kept`` sees every entry that is backed up: the walk is a scan of the
    source anyway, and a run reports what it has found while it lasts.
    """
    excluder = Excluder(patterns)
    if not excluder.active:
        return []
    out: list[str] = []
    stack = [""]
    while stack:
        if cancel is not None and cancel.is_set():
            raise Stopped
        sub = stack.pop()
        try:
            it = os.scandir(os.path.join(root, sub) if sub else root)
        except OSError:
            continue  # unreadable: rsync reports it as a warning of its own
        with it:
            for entry in it:
                rel = sub + "/" + entry.name if sub else entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                    is_dir, size = stat.S_ISDIR(st.st_mode), st.st_size
                    if not stat.S_ISREG(st.st_mode):
                        size = 0
                except OSError:
                    is_dir, size = False, 0
                if excluder.excluded(rel, is_dir):
                    out.append(rel)
                    continue
                if on_kept is not None:
                    on_kept(size)
                if is_dir:
                    stack.append(rel)
    out.sort()
    return out


def rule(rel: str) -> bytes:
    """An anchored rsync rule matching exactly ``rel`` (relative to the transfer root).

    rsync treats a backslash as an escape only in a pattern that holds a
    wildcard character; in such a pattern every ``* ? [ \\`` is escaped. A
    line break cannot be written in a line-based file: ``?`` stands for it.
    """
    pattern = "/" + rel
    if _WILDCARDS.search(pattern):
        pattern = _LINE_BREAKS.sub("?", _SPECIAL.sub(r"\\\1", pattern))
    return os.fsencode(pattern)


def rules_file(paths: list[str], directory: str) -> str:
    """Write ``paths`` as rules, one a line (for ``--exclude-from=FILE``); its path."""

    fd, name = tempfile.mkstemp(prefix="tui-backup-rsync-excludes-", dir=directory)
    with os.fdopen(fd, "wb") as fh:
        for rel in paths:
            fh.write(rule(rel) + b"\n")
    return name
