"""The job's gitignore-style excludes, translated into paths restic understands.

restic 0.14's own patterns are not gitignore: ``/build`` is absolute from the
filesystem root and ``!keep.tmp`` negation does not exist. Rather than
translate pattern by pattern (which cannot express negation), each source is
walked with the shared :class:`~tui_backup.engines.excludes.Excluder` — the
same rules the snapshot engine applies — and the top-most excluded paths are
handed to restic as exact absolute patterns. An excluded directory is not
entered (as git does), so its contents cost nothing.

restic reads ``--exclude-file`` lines trimmed and with ``$VAR`` expanded;
paths that would be changed by that (a ``$``, a trailing space, a newline)
go on the command line as ``--exclude`` instead, which restic takes verbatim.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from tui_backup.engines.excludes import Excluder

_GLOB_RE = re.compile(r"([*?\[\\])")


def escape(path: str) -> str:
    """``path`` as a restic pattern that matches exactly it (``*?[\\`` escaped)."""
    return _GLOB_RE.sub(r"\\\1", path)


def excluded_paths(sources: Sequence[str], patterns: Sequence[str]) -> list[str]:
    """Absolute paths of the top-most entries the patterns exclude, source by source.

    Patterns are matched relative to each directory source's root. A source
    that is a file or a symlink is never excluded: the job names it itself.
    """
    excluder = Excluder(patterns)
    if not excluder.active:
        return []
    out: list[str] = []
    for source in sources:
        root = os.path.abspath(os.path.expanduser(source))
        if os.path.isdir(root) and not os.path.islink(root):
            out.extend(_walk(root, excluder))
    return out


def _walk(root: str, excluder: Excluder) -> Iterator[str]:
    stack = [(root, "")]
    excluded = excluder.excluded
    while stack:
        path, rel = stack.pop()
        try:
            entries = list(os.scandir(path))
        except OSError:
            continue  # restic reports the unreadable directory itself
        for entry in entries:
            name_rel = f"{rel}{entry.name}"
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if excluded(name_rel, is_dir):
                yield entry.path
            elif is_dir:
                stack.append((entry.path, name_rel + "/"))


def _safe_in_file(path: str) -> bool:
    return "$" not in path and "\n" not in path and "\r" not in path and path == path.strip()


@contextmanager
def exclude_args(sources: Sequence[str], patterns: Sequence[str]) -> Iterator[list[str]]:
    """restic arguments excluding what the job's patterns exclude; a temp file while open."""
    paths = excluded_paths(sources, patterns)
    if not paths:
        yield []
        return
    args: list[str] = []
    in_file = [escape(p) for p in paths if _safe_in_file(p)]
    for p in paths:
        if not _safe_in_file(p):
            args += ["--exclude", escape(p)]
    if not in_file:
        yield args
        return
    fd, name = tempfile.mkstemp(prefix="tui-backup-restic-exclude-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write("\n".join(in_file) + "\n")
        yield [*args, "--exclude-file", name]
    finally:
        try:
            os.unlink(name)
        except OSError:
            pass
