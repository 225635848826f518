"""This job's snapshots in a restic repository, and what each one holds.

A snapshot is this job's only when it carries the tag ``tui-backup:<job>``
AND was made on this host: restic filters by both, and the answer is
filtered again here, so a repository shared with other jobs (or other
machines, or people using restic by hand) never shows or loses theirs.

restic 0.14's ``snapshots --json`` has no summary, so file counts and sizes
come from the snapshot's own tree (``restic ls --json``): regular files and
their sizes (what the contract suite compares with the source, and what
restic's own backup summary counts). A snapshot is immutable, so its counts are cached
for the life of the process; a count that cannot be read is ``None``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from datetime import datetime

from tui_backup.engines.api import EngineError, ErrorType, SnapshotInfo
from tui_backup.engines.restic.command import Restic, hostname, tag
from tui_backup.model.clock import from_iso

log = logging.getLogger(__name__)

_counts: dict[str, tuple[int, int]] = {}
_counts_lock = threading.Lock()
COUNT_WORKERS = 4


@dataclass(frozen=True, slots=True)
class ResticSnapshot:
    """One of this job's snapshots as restic lists it."""

    id: str
    """The full id: what forget and restore are given, never a prefix."""
    short_id: str
    time: datetime
    paths: tuple[str, ...]
    hostname: str
    tags: tuple[str, ...]


def list_own(restic: Restic) -> list[ResticSnapshot]:
    """This job's snapshots on this host, newest first.

    No repository at all is ``NO_REPOSITORY`` (not an empty list: a job
    whose repository vanished must not look like one that never ran).
    """
    if restic.local and not _has_config(restic):
        raise no_repository(restic)
    mine, host = tag(restic.spec), hostname()
    result, lines = restic.call(["snapshots", "--json", "--tag", mine, "--host", host])
    try:
        restic.check(result, "cannot list the restic snapshots")
    except EngineError as exc:
        if exc.error_type == ErrorType.NO_REPOSITORY:
            raise no_repository(restic) from None
        raise
    try:
        data = json.loads("".join(lines) or "[]")
    except json.JSONDecodeError as exc:
        raise EngineError(
            f"restic printed an unreadable snapshot list: {exc}", ErrorType.REPOSITORY_ERROR
        ) from exc
    out: list[ResticSnapshot] = []
    for raw in data if isinstance(data, list) else []:
        tags = tuple(str(t) for t in raw.get("tags") or ())
        if raw.get("hostname") != host or mine not in tags:
            continue  # restic filtered already; an ownership check is never delegated
        when = from_iso(_trim_nanos(str(raw.get("time"))))
        full = str(raw.get("id") or "")
        if when is None or not full:
            continue
        out.append(
            ResticSnapshot(
                id=full,
                short_id=str(raw.get("short_id") or full[:8]),
                time=when,
                paths=tuple(str(p) for p in raw.get("paths") or ()),
                hostname=host,
                tags=tags,
            )
        )
    out.sort(key=lambda s: s.time, reverse=True)
    return out


def infos(
    restic: Restic, snaps: list[ResticSnapshot], *, counts: bool = True
) -> list[SnapshotInfo]:
    """``SnapshotInfo`` for each snapshot, with true counts when ``counts`` (else None)."""
    if not counts or not snaps:
        return [SnapshotInfo(s.short_id, s.time) for s in snaps]
    missing = [s for s in snaps if _key(restic, s) not in _counts]
    if missing:
        # Only listings run restic ls in parallel.
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

        env = restic.env()
        with ThreadPoolExecutor(max_workers=min(COUNT_WORKERS, len(missing))) as pool:
            list(pool.map(lambda s: _count(restic, s, env), missing))
    out = []
    for s in snaps:
        files, nbytes = _counts.get(_key(restic, s), (None, None))
        out.append(SnapshotInfo(s.short_id, s.time, files, nbytes))
    return out


def walk_nodes(restic: Restic, snapshot_id: str, env: dict[str, str] | None = None):
    """Every node of a snapshot as restic's ``ls --json`` gives it (dicts with path, type, size)."""
    nodes: list[dict] = []

    def on_line(line: str) -> None:
        try:
            node = json.loads(line)
        except json.JSONDecodeError:
            return
        if isinstance(node, dict) and node.get("struct_type") == "node":
            nodes.append(node)

    result, _ = restic.call(["ls", "--json", snapshot_id], on_line=on_line, env=env)
    restic.check(result, "cannot list the snapshot's files")
    return nodes


def _count(restic: Restic, snap: ResticSnapshot, env: dict[str, str]) -> None:
    try:
        nodes = walk_nodes(restic, snap.id, env)
    except EngineError as exc:
        log.warning("cannot count the files of restic snapshot %s: %s", snap.short_id, exc)
        return
    files = nbytes = 0
    for node in nodes:
        if node.get("type") == "file":
            files += 1
            nbytes += int(node.get("size") or 0)
    with _counts_lock:
        _counts[_key(restic, snap)] = (files, nbytes)


def no_repository(restic: Restic) -> EngineError:
    return EngineError(
        f"there is no restic repository at {restic.shown} yet: "
        f"run `tui-backup init {restic.spec.name}` to create it",
        ErrorType.NO_REPOSITORY,
    )


def _key(restic: Restic, snap: ResticSnapshot) -> str:
    return f"{restic.repository}\0{snap.id}"


def _has_config(restic: Restic) -> bool:
    return os.path.exists(os.path.join(restic.local_path, "config"))


def _trim_nanos(text: str) -> str:
    """restic prints nanoseconds; Python's fromisoformat takes at most micro."""
    return re.sub(r"(\.\d{6})\d+", r"\1", text)
