"""Completes existing paths in an ``Input`` (press → to accept).

For comma-separated lists (several sources) only the last item is completed.
Listing one directory is cheap enough for the UI thread; we cap the scan so a
huge directory never stalls typing.
"""

from __future__ import annotations

import os

from textual.suggester import Suggester

MAX_ENTRIES = 2000


class PathSuggester(Suggester):
    def __init__(self, *, separator: str | None = ",") -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.separator = separator

    async def get_suggestion(self, value: str) -> str | None:
        head, sep, last = ("", "", value)
        if self.separator and self.separator in value:
            head, sep, last = value.rpartition(self.separator)
        leading = last[: len(last) - len(last.lstrip())]
        partial = last.strip()
        if not partial or not (partial.startswith(("/", "~"))):
            return None
        completed = complete_path(partial)
        if completed is None or completed == partial:
            return None
        return f"{head}{sep}{leading}{completed}"


def complete_path(partial: str) -> str | None:
    """The first existing path extending ``partial`` (directories get a trailing /)."""
    expanded = os.path.expanduser(partial)
    directory, prefix = os.path.split(expanded)
    try:
        with os.scandir(directory or "/") as entries:
            names = []
            for i, entry in enumerate(entries):
                if i >= MAX_ENTRIES:
                    break
                if entry.name.startswith(prefix) and not (
                    entry.name.startswith(".") and not prefix.startswith(".")
                ):
                    names.append((entry.name, entry.is_dir(follow_symlinks=True)))
    except OSError:
        return None
    if not names:
        return None
    name, is_dir = sorted(names)[0]
    suffix = name[len(prefix) :] + ("/" if is_dir else "")
    return partial + suffix
