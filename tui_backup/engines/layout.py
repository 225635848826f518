"""The layout shared by engines that keep snapshots as directory trees (snapshot, rsync).

Snapshot ids and the names that live in a destination directory, and where
each source goes inside a snapshot.

An id is the UTC start time of its run, ``YYYY-MM-DDTHHMMSSZ``, with ``-2``,
``-3``... appended when two runs start within the same second. Ids sort by
time, so a directory listing reads as a history. Only names matching
:data:`ID_RE` exactly are snapshots: ``<id>.partial`` (a run in progress or a
crash's leftover), ``latest`` and the metadata directory never are.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
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


# -- where sources go -------------------------------------------------------
#
# Layout rule (documented in docs/engines.md):
#
# - one source that is a real directory: its *contents* are the snapshot root,
#   exactly like ``rsync -a SRC/ SNAPSHOT/``, so a snapshot compares 1:1 with
#   its source;
# - otherwise (several sources, or a source that is a file or a symlink): each
#   source is stored under its basename; a basename used twice gets ``-2``,
#   ``-3``... in the order the job lists the sources.
#
# Sources are never followed when they are symlinks: such a source is stored as
# a symlink.


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
