"""Sizes in decimal units, one wording for every front end.

Decimal like ``du --si`` and rsync's progress output, so a run reads the
same size on its TUI card, in ``tui-backup run`` and in ``history``.
"""

from __future__ import annotations

_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def human_bytes(value: float) -> str:
    """``1.2 MB``; decimal units like ``du --si`` and rsync's progress output."""
    size = float(value)
    for unit in _UNITS:
        if abs(size) < 1000 or unit == _UNITS[-1]:
            if unit == "B":
                return f"{int(size)} B"
            return f"{size:.1f} {unit}" if size < 100 else f"{size:.0f} {unit}"
        size /= 1000
    return f"{size:.0f} PB"  # pragma: no cover - loop always returns


def plural(count: int, word: str) -> str:
    """``1 file``, ``2 files``, ``0 warnings``: counts read as English in every front end."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
