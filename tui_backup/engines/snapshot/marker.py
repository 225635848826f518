"""The owner marker: which job a destination belongs to.

Two jobs writing snapshots into one directory would rotate each other's
backups away through retention, so the first run writes
``<dest>/.tui-backup/owner.json`` naming its job and every later run (and
every forget) refuses a destination that names another job.
"""

from __future__ import annotations

import json
import os

from tui_backup.engines.layout import META_DIR
from tui_backup.engines.snapshot.syncio import write_atomic

MARKER_NAME = "owner.json"


class UnsafeMetadata(Exception):
    """``<dest>/.tui-backup`` is not a directory of ours (a symlink, a file): nothing is written."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(
            f"{path} is {what}, not the engine's own directory; refusing to write through it. "
            "Remove it (the snapshots next to it are not affected) and run again."
        )


def ensure_meta(dest: str) -> str:
    """Create ``<dest>/.tui-backup`` private (0700), or make an existing one so; its path.

    A symlink (or anything but a directory) in its place is refused with
    :class:`UnsafeMetadata`: manifests written through it would land wherever it points.
    """
    path = os.path.join(dest, META_DIR)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    fd = None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if os.path.islink(path):
            raise UnsafeMetadata(path, "a symbolic link") from exc
        if os.path.lexists(path) and not os.path.isdir(path):
            raise UnsafeMetadata(path, "not a directory") from exc
        raise
    try:
        if os.fstat(fd).st_mode & 0o7777 != 0o700:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return path


class DestinationOwned(Exception):
    """The destination's marker names another job."""

    def __init__(self, dest: str, owner: str) -> None:
        super().__init__(
            f"Destination {dest} belongs to job {owner!r}; "
            "choose another destination or remove that job's snapshots."
        )
        self.owner = owner


def marker_path(dest: str) -> str:
    return os.path.join(dest, META_DIR, MARKER_NAME)


def read_owner(dest: str) -> str | None:
    """The job named by the marker, or None when there is none (or it is unreadable)."""
    try:
        with open(marker_path(dest), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    job = data.get("job") if isinstance(data, dict) else None
    return job if isinstance(job, str) else None


def check_owner(dest: str, job: str) -> None:
    """Raise :class:`DestinationOwned` when ``dest`` belongs to another job."""
    owner = read_owner(dest)
    if owner is not None and owner != job:
        raise DestinationOwned(dest, owner)


def claim(dest: str, job: str) -> None:
    """Mark ``dest`` as ``job``'s (idempotent); raise if another job owns it."""
    ensure_meta(dest)
    check_owner(dest, job)
    if read_owner(dest) == job:
        return
    payload = json.dumps({"job": job, "engine": "snapshot", "format": 1}, indent=2) + "\n"
    write_atomic(marker_path(dest), payload.encode("utf-8"), mode=0o600)
