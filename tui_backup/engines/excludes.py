"""Exclude rules: gitignore semantics, the same for every engine.

Patterns are matched against paths relative to each source root, exactly as
git matches ``.gitignore`` lines against paths relative to the repository:
``/build`` is anchored at the source root, ``build/`` matches directories
only, ``*.tmp`` matches at any depth, ``!keep.tmp`` re-includes. The snapshot
engine asks :class:`Excluder` entry by entry; rsync and restic are given the
list of paths it excludes (docs/engines.md).
"""

from __future__ import annotations

from collections.abc import Sequence


class Excluder:
    """gitignore-style patterns matched against paths relative to each source root."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self._spec = None
        if patterns:
            # Pathspec costs 12 ms of start-up; only jobs with excludes need it.
            import pathspec  # noqa: PLC0415

            self._spec = pathspec.GitIgnoreSpec.from_lines(list(patterns))

    @property
    def active(self) -> bool:
        return self._spec is not None

    def excluded(self, rel: str, is_dir: bool) -> bool:
        if self._spec is None:
            return False
        return self._spec.match_file(rel + "/" if is_dir else rel)
