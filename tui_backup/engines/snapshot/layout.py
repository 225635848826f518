"""Where each source goes inside a snapshot, and the exclude matcher.

Layout rule (documented in docs/engines.md):

- one source that is a real directory: its *contents* are the snapshot root,
  exactly like ``rsync -a SRC/ SNAPSHOT/``, so a snapshot compares 1:1 with
  its source;
- otherwise (several sources, or a source that is a file or a symlink): each
  source is stored under its basename; a basename used twice gets ``-2``,
  ``-3``... in the order the job lists the sources.

Sources are never followed when they are symlinks: such a source is stored as
a symlink.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SourcePlan:
    path: str
    """Absolute source path, as the job names it (not resolved)."""
    prefix: str
    """Name inside the snapshot root; empty when the source *is* the root."""


def plan_sources(sources: Sequence[str]) -> list[SourcePlan]:
    """The layout for ``sources``, sorted by prefix (the walk's order)."""
    roots = [os.path.abspath(os.path.expanduser(s)) for s in sources]
    if len(roots) == 1:
        try:
            st = os.lstat(roots[0])
        except OSError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            return [SourcePlan(roots[0], "")]
    used: set[str] = set()
    plans: list[SourcePlan] = []
    for root in roots:
        base = os.path.basename(root.rstrip("/")) or "root"
        name, n = base, 2
        while name in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name)
        plans.append(SourcePlan(root, name))
    plans.sort(key=lambda p: p.prefix)
    return plans


class Excluder:
    """gitignore-style patterns matched against paths relative to each source root."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self._spec = None
        if patterns:
            import pathspec  # imported only when needed: it costs 12 ms of start-up

            self._spec = pathspec.GitIgnoreSpec.from_lines(list(patterns))

    @property
    def active(self) -> bool:
        return self._spec is not None

    def excluded(self, rel: str, is_dir: bool) -> bool:
        if self._spec is None:
            return False
        return self._spec.match_file(rel + "/" if is_dir else rel)
