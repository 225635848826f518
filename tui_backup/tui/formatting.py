"""Short, human readings of sizes, durations, times and paths for narrow screens.

Everything here is pure so the job table, the details screen and the tests
agree on one wording, and a card at 80 columns never wraps unexpectedly.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from tui_backup.model.units import (
    human_bytes,  # re-exported: the TUI's one spelling
)


def count_or_unknown(value: int | None) -> str:
    """A snapshot's file count; ``unknown`` when the engine cannot know (never a fake 0)."""
    return "unknown" if value is None else str(value)


def bytes_or_unknown(value: int | None) -> str:
    """A snapshot's size; ``unknown`` when the engine cannot know (never a fake 0 B)."""
    return "unknown" if value is None else human_bytes(value)


def files_and_size(files: int | None, size: int | None) -> str:
    """``12 files · 3.4 KB``; each part says ``unknown`` on its own when it is."""
    if files is None and size is None:
        return "files and size unknown"
    count = "unknown number of files" if files is None else f"{files} file" + "s" * (files != 1)
    return f"{count} · {'size unknown' if size is None else human_bytes(size)}"


def human_count(value: int) -> str:
    """``1.2k`` for large file counts so two counters fit on one short line."""
    if value < 10_000:
        return str(value)
    if value < 1_000_000:
        return f"{value / 1000:.1f}k"
    return f"{value / 1_000_000:.1f}M"


def human_duration(seconds: float | None) -> str:
    """``3s``, ``4m 05s``, ``2h 10m``; an em dash when unknown."""
    if seconds is None or seconds < 0:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def human_ago(when: datetime | None, now: datetime) -> str:
    """``5m ago``; the clock is injected so snapshots of the screen are stable."""
    if when is None:
        return "never"
    delta = (now - when).total_seconds()
    if delta < 5:
        return "just now"
    if delta < 60:
        return f"{int(delta)}s ago"
    if delta < 3600:
        return f"{int(delta // 60)}m ago"
    if delta < 86400 * 2:
        return f"{int(delta // 3600)}h ago"
    return f"{int(delta // 86400)}d ago"


def human_when(when: datetime | None, now: datetime) -> str:
    """A future time as the shortest unambiguous local reading: ``14:05``, ``Tue 02:00``."""
    if when is None:
        return "—"
    local = when.astimezone()
    today = now.astimezone()
    if local.date() == today.date():
        return local.strftime("%H:%M")
    if local - today < timedelta(days=6):
        return local.strftime("%a %H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def local_stamp(when: datetime | None) -> str:
    """A full local timestamp for detail views and the error log."""
    if when is None:
        return "—"
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def tilde(path: str) -> str:
    """Replace the user's home with ``~`` (shorter, and stable across test machines)."""
    home = os.path.expanduser("~")
    if home not in ("", "/") and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home) :]
    return path


def shorten_path(path: str, width: int) -> str:
    """Fit ``path`` into ``width`` cells keeping its head and its last components.

    The end of a path names what is backed up, so we drop the middle:
    ``~/projects/…/site/static``.
    """
    return elide_path(tilde(path), width)


def elide_path(text: str, width: int) -> str:
    """``text`` (a path, local or remote) cut in the middle to ``width`` cells."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    parts = text.split(os.sep)
    tail: list[str] = []
    used = 0
    for part in reversed(parts[1:]):
        if used + len(part) + 1 > width - len(parts[0]) - 2:
            break
        tail.insert(0, part)
        used += len(part) + 1
    if tail:
        candidate = f"{parts[0]}{os.sep}…{os.sep}{os.sep.join(tail)}"
        if len(candidate) <= width:
            return candidate
    last = parts[-1] or text
    if len(last) + 2 <= width:
        return f"…{os.sep}{last}"
    return "…" + text[-(width - 1) :]


def split_location(destination: str) -> tuple[str, str]:
    """``(where, path)`` of a destination: ``("backup@host:", "/srv/x")``.

    ``where`` is empty for a local path; for ``user@host:path`` (rsync) and
    restic repositories (``sftp:user@host:/p``, ``rest:https://host:8000/p``,
    ``s3:host/bucket/p``, ``rclone:remote:p``) it is everything up to the path.
    """
    if not destination or destination.startswith(("/", "~")):
        return "", destination
    if "://" in destination:
        start = destination.index("://") + 3
        slash = destination.find("/", start)
        return (destination, "") if slash == -1 else (destination[:slash], destination[slash:])
    first_slash = destination.find("/")
    head = destination if first_slash == -1 else destination[:first_slash]
    colon = head.rfind(":")
    if colon == -1:
        return "", destination  # a relative local path
    where, path = destination[: colon + 1], destination[colon + 1 :]
    if where.count(":") == 1 and where[:-1] in {"s3", "swift"} and "/" in path:
        # s3:host/bucket/path: the host is the first component
        host, _, rest = path.partition("/")
        return where + host, "/" + rest
    return where, path


def _where_forms(where: str) -> list[str]:
    """``where`` from the fullest to the shortest reading that still names the host."""
    forms = [where]
    at = where.find("@")
    if at != -1:
        start = where.index("://") + 3 if "://" in where[:at] else where.rfind(":", 0, at) + 1
        forms.append(where[:start] + where[at + 1 :])
    bare = forms[-1]
    if "://" in bare:
        bare = bare.split("://", 1)[1]
    elif not (bare.endswith(":") and bare.count(":") == 1) and ":" in bare:
        bare = bare.split(":", 1)[1]  # sftp:host: -> host:, s3:host -> host
    forms.append(bare)
    return list(dict.fromkeys(forms))


def location_need(destination: str) -> int:
    """Cells a remote destination needs to show its host and its last component."""
    where, path = split_location(destination)
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return min(len(destination), len(_where_forms(where)[-1]) + len("…/") + len(last))


def shorten_location(destination: str, width: int) -> str:
    """A destination in ``width`` cells that keeps its host: ``backup@host:…/x``.

    A remote destination without its host reads like a local path, so the
    host stays (its user and scheme go first when room is short) and the
    middle of the path is elided, as for local paths.
    """
    where, path = split_location(destination)
    if not where:
        return shorten_path(destination, width)
    if len(destination) <= width:
        return destination
    forms = _where_forms(where)
    for form in forms:
        room = width - len(form)
        if room >= min(len(path), 8):
            return form + elide_path(path, room)
    host = forms[-1]
    sep = ":" if host.endswith(":") else ""
    tail = min(len(path), max(6, width // 2))
    return (
        clip(host.removesuffix(sep), max(1, width - tail - len(sep))) + sep + elide_path(path, tail)
    )


def clip(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` cells with an ellipsis."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
