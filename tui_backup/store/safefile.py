"""Reading and writing one YAML file so that nothing is ever half-written or lost.

``<file>.bak`` is a separate copy of the *last version known good*: written
after every successful write, and refreshed when a valid hand edit is first
seen. When the file is unreadable or invalid the reader falls back to it,
moves the bad file aside (``*.corrupt-<time>``, never deleted), puts the good
version back, and tells the caller what happened so it can record an error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from tui_backup.model.problems import ValidationError
from tui_backup.store import yamlio
from tui_backup.store.atomic import atomic_write, backup_path, quarantine
from tui_backup.store.errors import LockTimeout
from tui_backup.store.locking import file_lock

log = logging.getLogger(__name__)

T = TypeVar("T")

FRESH_WRITE_GRACE = 1.0
"""A file modified this recently may still be being written in place by an
editor; wait for it to settle before calling it corrupt."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    mtime_ns: int
    size: int
    ino: int

    @classmethod
    def of(cls, path: Path) -> Fingerprint | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return cls(st.st_mtime_ns, st.st_size, st.st_ino)


@dataclass(frozen=True, slots=True)
class Loaded(Generic[T]):
    """What a read found. ``value`` is None only when nothing valid exists."""

    value: T | None
    problem: str | None = None
    """Why the file itself was rejected (all validation problems, one per line)."""
    quarantined: Path | None = None
    from_backup: bool = False


def dump(data: dict[str, Any]) -> bytes:
    return yamlio.dumps(data).encode("utf-8")


def _parse_bytes(raw: bytes, parse: Callable[[Any], T]) -> T:
    try:
        data = yamlio.loads(raw)
    except yamlio.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValueError(f"not valid YAML ({where}{problem})") from exc
    return parse(data)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return str(exc)
    return str(exc)


def write(path: Path, lock: Path, data: dict[str, Any], timeout: float) -> None:
    """Write ``data`` atomically under ``lock``, then refresh the ``.bak`` copy."""
    raw = dump(data)
    with file_lock(lock, timeout, what=path.name):
        write_locked(path, raw)


def write_locked(path: Path, raw: bytes) -> None:
    """The write itself; the caller holds the lock."""
    atomic_write(path, raw, keep_backup=False)
    atomic_write(backup_path(path), raw, keep_backup=False)


def load(
    path: Path,
    lock: Path,
    parse: Callable[[Any], T],
    label: str,
    *,
    timeout: float,
    repair: bool = True,
) -> Loaded[T]:
    """Read and validate ``path``, falling back to ``.bak`` as described above.

    ``parse`` raises ValidationError/ValueError for invalid content. ``label``
    (e.g. ``jobs/web.yaml``) is what messages call the file.
    """
    try:
        raw = _read_settled(path)
    except FileNotFoundError:
        return Loaded(None)
    except OSError as exc:
        return _fallback(
            path,
            lock,
            parse,
            label,
            f"{label}: cannot read ({exc.strerror})",
            timeout,
            repair=False,
        )
    try:
        value = _parse_bytes(raw, parse)
    except (ValidationError, ValueError) as exc:
        message = _describe(exc)
        if not isinstance(exc, ValidationError):
            message = f"{label}: {message}"
        return _fallback(path, lock, parse, label, message, timeout, repair=repair)
    if repair:
        _refresh_backup(path, lock, raw, timeout)
    return Loaded(value)


def _read_settled(path: Path) -> bytes:
    """Read a file, giving an editor that is mid-write a moment to finish."""
    raw = path.read_bytes()
    deadline = time.monotonic() + FRESH_WRITE_GRACE
    while True:
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return raw
        if age >= FRESH_WRITE_GRACE or time.monotonic() >= deadline:
            return raw
        try:
            yamlio.loads(raw)
            return raw
        except yamlio.YAMLError:
            time.sleep(0.1)
            raw = path.read_bytes()


def _refresh_backup(path: Path, lock: Path, raw: bytes, timeout: float) -> None:
    bak = backup_path(path)
    try:
        if bak.exists() and bak.read_bytes() == raw:
            return
        with file_lock(lock, timeout, what=path.name):
            if path.read_bytes() == raw:
                atomic_write(bak, raw, keep_backup=False)
    except (OSError, LockTimeout) as exc:
        log.debug("could not refresh %s: %s", bak, exc)


def _fallback(
    path: Path,
    lock: Path,
    parse: Callable[[Any], T],
    label: str,
    problem: str,
    timeout: float,
    *,
    repair: bool,
) -> Loaded[T]:
    bak = backup_path(path)
    try:
        good_raw = bak.read_bytes()
        good = _parse_bytes(good_raw, parse)
    except (OSError, ValidationError, ValueError):
        return Loaded(None, problem=problem)
    if not repair:
        return Loaded(good, problem=problem, from_backup=True)
    moved: Path | None = None
    try:
        with file_lock(lock, timeout, what=path.name):
            # Re-check under the lock: a writer may have fixed it meanwhile.
            with contextlib.suppress(FileNotFoundError):
                current = path.read_bytes()
                try:
                    return Loaded(_parse_bytes(current, parse))
                except (ValidationError, ValueError):
                    pass
                moved = quarantine(path)
            atomic_write(path, good_raw, keep_backup=False)
    except (OSError, LockTimeout) as exc:
        log.warning("could not repair %s: %s", path, exc)
    if moved is not None:
        log.warning(
            "%s was invalid; kept it as %s and restored the last good version", path, moved.name
        )
    return Loaded(good, problem=problem, quarantined=moved, from_backup=True)


def remove(path: Path) -> None:
    for p in (path, backup_path(path)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)
