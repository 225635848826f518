"""Reading and writing one YAML file so that nothing is ever half-written or lost.

``<file>.bak`` is a separate copy of the *last version known good*: written
after every successful write, and by :func:`refresh_backup` (an explicit
repair step) when a valid hand edit should become the new last good version.
A read of a valid file never writes anything. When the file is unreadable or
invalid the reader falls back to ``.bak``; with ``repair`` it also moves the
bad file aside (``*.corrupt-<time>``, never deleted), puts the good version
back, and tells the caller what happened so it can record an error.

Every read is bounded (:func:`read_bounded`): it never follows a symbolic
link, never opens a FIFO, device, socket or directory, and never reads more
than :data:`MAX_FILE_BYTES`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from tui_backup.model.problems import Problem, ValidationError
from tui_backup.store import yamlio
from tui_backup.store.atomic import atomic_write, backup_path, keep_aside
from tui_backup.store.errors import LockTimeout, raise_if_full
from tui_backup.store.locking import file_lock

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_FILE_BYTES = 1024 * 1024
"""A job, state or settings file larger than this (1 MiB) is refused unread:
a real one is a few hundred bytes, and a reader must never be made to hold a
link to ``/dev/zero`` or a 50 MB list in memory."""

FRESH_WRITE_GRACE = 1.0
"""A file modified this recently may still be being written in place by an
editor; wait for it to settle before calling it corrupt."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What changes whenever a file is rewritten: in place (mtime, size, ctime)
    or replaced by rename (inode)."""

    mtime_ns: int
    size: int
    ino: int
    ctime_ns: int = 0

    @classmethod
    def of(cls, path: Path) -> Fingerprint | None:
        """The file's own fingerprint (a symbolic link is not followed: a loop
        or a dangling link is a file like any other here, refused when read)."""
        try:
            st = path.lstat()
        except FileNotFoundError:
            return None
        return cls(st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)


class UnsafeFile(OSError):
    """The path is not a regular file of a sane size; nothing of it was read."""


_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def read_bounded(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Refused with :class:`UnsafeFile` (its message says why and never quotes
    content or a link's target): a symbolic link (even one pointing inside
    the home: a link is how ``jobs/x.yaml -> /etc/shadow`` would leak a file),
    a directory, FIFO, socket or device (checked with ``lstat`` before
    opening, so a device is never even opened, then again with ``fstat`` on
    the descriptor opened with ``O_NOFOLLOW | O_NONBLOCK``, so a swap in
    between changes nothing), or a file larger than ``limit``.
    FileNotFoundError passes through: a file that is not there is no error.
    """
    kind = _kind(os.lstat(path).st_mode)
    if kind is not None:
        raise UnsafeFile(errno.EINVAL, f"is {kind}, not a regular file; not read")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            why = "is a symbolic link, not a regular file; not read"
            raise UnsafeFile(errno.ELOOP, why) from None
        raise
    try:
        st = os.fstat(fd)
        kind = _kind(st.st_mode)
        if kind is not None:
            raise UnsafeFile(errno.EINVAL, f"is {kind}, not a regular file; not read")
        if st.st_size > limit:
            raise UnsafeFile(errno.EFBIG, _too_big(st.st_size, limit))
        chunks: list[bytes] = []
        got = 0
        while got <= limit:
            chunk = os.read(fd, min(65536, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:  # grew while we read it
            raise UnsafeFile(errno.EFBIG, _too_big(got, limit))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _too_big(size: int, limit: int) -> str:
    return (
        f"is larger than {limit // 1024} KiB ({size} bytes or more); "
        "a job file is a few hundred bytes; not read"
    )


@dataclass(frozen=True, slots=True)
class Loaded(Generic[T]):
    """What a read found. ``value`` is None only when nothing valid exists."""

    value: T | None
    problem: str | None = None
    """Why the file itself was rejected (all validation problems, one per line)."""
    problems: tuple[Problem, ...] = ()
    """The same, as structured problems (file, field, message)."""
    quarantined: Path | None = None
    from_backup: bool = False
    restored: Fingerprint | None = None
    """The fingerprint of the good version put back (taken under the lock), so
    a cache can key the repaired file without racing the next writer."""


def dump(data: dict[str, Any]) -> bytes:
    return yamlio.dumps(data).encode("utf-8")


def parse_bytes(raw: bytes, parse: Callable[[Any], T]) -> T:
    """Parse ``raw`` YAML strictly and validate it with ``parse``.

    Raises ValidationError, or ValueError with a message naming the line.
    """
    return _parse_bytes(raw, parse)


def _parse_bytes(raw: bytes, parse: Callable[[Any], T]) -> T:
    try:
        data = yamlio.loads(raw)
    except yamlio.ReaderError as exc:
        # Binary junk: PyYAML's own text for this is two lines and an odd code point.
        raise ValueError(
            f"not valid YAML (not UTF-8 text: {exc.reason} at byte {exc.position})"
        ) from exc
    except yamlio.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"not valid YAML ({where}{problem})") from exc
    except RecursionError as exc:
        raise ValueError("not valid YAML (nested too deeply)") from exc
    except (ValueError, OverflowError) as exc:
        # A scalar PyYAML could not build: a 5,000-digit integer, month 13 in a date.
        raise ValueError(f"not valid YAML (a value it cannot read: {exc})") from exc
    try:
        return parse(data)
    except (ValidationError, ValueError):
        raise
    except (TypeError, AttributeError, KeyError, RecursionError) as exc:
        # A validator tripping over a shape it did not expect still means "invalid".
        raise ValueError(f"unexpected content ({type(exc).__name__}: {exc})") from exc


def write(path: Path, lock: Path, data: dict[str, Any], timeout: float) -> None:
    """Write ``data`` atomically under ``lock``, then refresh the ``.bak`` copy."""
    raw = dump(data)
    with file_lock(lock, timeout, what=path.name):
        write_locked(path, raw)


def write_locked(path: Path, raw: bytes) -> None:
    """The write itself; the caller holds the lock.

    The file first, then its ``.bak`` copy: a crash between the two leaves the
    new version in the file and the previous one in ``.bak``, both valid.
    """
    _remove_stale_temps(path)
    try:
        atomic_write(path, raw, keep_backup=False)
        atomic_write(backup_path(path), raw, keep_backup=False)
    except OSError as exc:
        raise_if_full(path, exc)  # HomeFull: a sentence, and still an OSError
        raise


def _remove_stale_temps(path: Path) -> None:
    """Delete temp files a killed writer left behind: under the lock, none is live.

    The patterns match ``atomic_write``'s names exactly (``mkstemp``'s eight
    random characters), so job ``web`` never touches the temp file of a job
    called ``web.yaml`` that is being written under its own lock.
    """
    for pattern in (f".{path.name}.????????.tmp", f".{path.name}.bak.????????.tmp"):
        for tmp in path.parent.glob(pattern):
            with contextlib.suppress(OSError):
                tmp.unlink()


def _is_fresh(path: Path) -> bool:
    try:
        return time.time() - path.stat().st_mtime < FRESH_WRITE_GRACE
    except FileNotFoundError:
        return False


def load(
    path: Path,
    lock: Path,
    parse: Callable[[Any], T],
    label: str,
    *,
    timeout: float,
    repair: bool = True,
    locked: bool = False,
) -> Loaded[T]:
    """Read and validate ``path``, falling back to ``.bak`` as described above.

    ``parse`` raises ValidationError/ValueError for invalid content. ``label``
    (e.g. ``jobs/web.yaml``) is what messages call the file. With ``repair``
    an invalid file is quarantined and the good version put back; ``locked``
    says the caller already holds ``lock`` (a writer checking before it
    writes), so the repair must not take it again.
    """
    deadline = time.monotonic() + FRESH_WRITE_GRACE
    while True:
        try:
            raw = read_bounded(path)
        except FileNotFoundError:
            return Loaded(None)
        except UnsafeFile as exc:
            why = (Problem(label, "", str(exc.strerror)),)
            return _fallback(path, lock, parse, why, timeout, repair=False, locked=locked)
        except OSError as exc:
            why = (Problem(label, "", f"cannot read ({exc.strerror})"),)
            return _fallback(path, lock, parse, why, timeout, repair=False, locked=locked)
        try:
            value = _parse_bytes(raw, parse)
            break
        except (ValidationError, ValueError) as exc:
            # An editor may be writing the file in place right now: give a file
            # changed within the grace period a moment before calling it bad.
            if _is_fresh(path) and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            if isinstance(exc, ValidationError):
                why = exc.problems
            else:
                why = (Problem(label, "", str(exc)),)
            return _fallback(path, lock, parse, why, timeout, repair=repair, locked=locked)
    # A valid file is never written on read (not even its .bak): with 2,000 hand-made
    # job files, the first listing used to write 2,000 .bak copies, fsyncs and locks.
    return Loaded(value)


def refresh_backup(path: Path, parse: Callable[[Any], object]) -> bool:
    """Make ``.bak`` a copy of ``path`` when ``path`` is valid and ``.bak`` differs.

    The explicit step that makes a valid hand edit the new *last good
    version*; the caller holds the write lock. Returns True when it wrote.
    """
    try:
        raw = read_bounded(path)
        _parse_bytes(raw, parse)
    except (OSError, ValidationError, ValueError):
        return False
    return refresh_backup_raw(path, raw)


def refresh_backup_raw(path: Path, raw: bytes, *, sync: bool = True) -> bool:
    """:func:`refresh_backup` for ``raw``, bytes the caller read from ``path``
    under the write lock and found valid (``sync``: see ``atomic_write``)."""
    bak = backup_path(path)
    try:
        if read_bounded(bak) == raw:
            return False
    except OSError:
        pass
    atomic_write(bak, raw, keep_backup=False, sync=sync)
    return True


def _fallback(
    path: Path,
    lock: Path,
    parse: Callable[[Any], T],
    why: tuple[Problem, ...],
    timeout: float,
    *,
    repair: bool,
    locked: bool,
) -> Loaded[T]:
    problem = "\n".join(str(p) for p in why)
    bak = backup_path(path)
    try:
        good_raw = read_bounded(bak)
        good = _parse_bytes(good_raw, parse)
    except (OSError, ValidationError, ValueError):
        return Loaded(None, problem=problem, problems=why)
    if not repair:
        return Loaded(good, problem=problem, problems=why, from_backup=True)
    try:
        if locked:
            return _repair_locked(path, parse, good, good_raw, why)
        with file_lock(lock, timeout, what=path.name):
            return _repair_locked(path, parse, good, good_raw, why)
    except (OSError, LockTimeout) as exc:
        log.warning("could not repair %s: %s", path, exc)
    return Loaded(good, problem=problem, problems=why, from_backup=True)


def _repair_locked(
    path: Path, parse: Callable[[Any], T], good: T, good_raw: bytes, why: tuple[Problem, ...]
) -> Loaded[T]:
    """Quarantine the bad file and put the good version back; the caller holds the lock."""
    try:
        current = read_bounded(path)
    except FileNotFoundError:
        # Deleted while we looked (``job rm`` or by hand): never resurrect it.
        return Loaded(None)
    except OSError:
        # Swapped for something that is not a regular file meanwhile: leave it be.
        return Loaded(good, problem="\n".join(str(p) for p in why), problems=why, from_backup=True)
    try:
        # A writer (or the person editing) may have fixed it meanwhile.
        return Loaded(_parse_bytes(current, parse))
    except (ValidationError, ValueError):
        pass
    moved = keep_aside(path)
    atomic_write(path, good_raw, keep_backup=False)
    log.info("%s was invalid; kept it as %s and restored the last good version", path, moved.name)
    return Loaded(
        good,
        problem="\n".join(str(p) for p in why),
        problems=why,
        quarantined=moved,
        from_backup=True,
        restored=Fingerprint.of(path),
    )


def remove(path: Path) -> None:
    """Delete a file and its ``.bak`` (quarantined copies stay: they are the user's)."""
    for p in (path, backup_path(path)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)
