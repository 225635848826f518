"""Snapshot ids and the names that live in a destination directory.

An id is the UTC start time of its run, ``YYYY-MM-DDTHHMMSSZ``, with ``-2``,
``-3``... appended when two runs start within the same second. Ids sort by
time, so a directory listing reads as a history. Only names matching
:data:`ID_RE` exactly are snapshots: ``<id>.partial`` (a run in progress or a
crash's leftover), ``latest`` and the metadata directory never are.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

ID_RE = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{6}Z)(?:-(\d+))?")
PARTIAL_SUFFIX = ".partial"
LATEST = "latest"
META_DIR = ".tui-backup"
"""Per-destination metadata: owner marker, manifests, summaries."""


def format_id(when: datetime) -> str:
    """The base id for a run started at ``when`` (converted to UTC)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H%M%SZ")


def parse_id(snapshot_id: str) -> datetime | None:
    """The time an id names, or None when ``snapshot_id`` is not an id."""
    match = ID_RE.fullmatch(snapshot_id)
    if match is None:
        return None
    t = match.group(1)  # YYYY-MM-DDTHHMMSSZ; no strptime (its import costs start-up)
    try:
        return datetime(
            int(t[0:4]), int(t[5:7]), int(t[8:10]), int(t[11:13]), int(t[13:15]), int(t[15:17]),
            tzinfo=UTC,
        )  # fmt: skip
    except ValueError:
        return None


def sort_key(snapshot_id: str) -> tuple[str, int]:
    """Order ids by time, then by collision suffix (``-2`` after the bare id)."""
    match = ID_RE.fullmatch(snapshot_id)
    if match is None:
        return (snapshot_id, 0)
    return (match.group(1), int(match.group(2) or 1))


def new_id(dest: str, when: datetime) -> str:
    """A fresh id for ``when`` that no complete, partial or metadata entry uses."""
    base = format_id(when)
    taken = set(os.listdir(dest)) if os.path.isdir(dest) else set()
    meta = os.path.join(dest, META_DIR)
    taken_meta = set(os.listdir(meta)) if os.path.isdir(meta) else set()
    n = 1
    while True:
        candidate = base if n == 1 else f"{base}-{n}"
        if (
            candidate not in taken
            and candidate + PARTIAL_SUFFIX not in taken
            and not any(name.startswith(candidate + ".") for name in taken_meta)
        ):
            return candidate
        n += 1


def complete_ids(dest: str) -> list[str]:
    """Ids of complete snapshots in ``dest``, newest first.

    A complete snapshot is a real directory (not a symlink) whose name is an
    id; ``.partial`` directories are never listed.
    """
    try:
        entries = list(os.scandir(dest))
    except FileNotFoundError:
        return []
    ids = [
        e.name for e in entries if parse_id(e.name) is not None and e.is_dir(follow_symlinks=False)
    ]
    ids.sort(key=sort_key, reverse=True)
    return ids
