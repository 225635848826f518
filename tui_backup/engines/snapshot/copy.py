"""Copying one regular file while hashing it, and the batches copy threads work on.

The data has to pass through user space anyway to be hashed, so we read and
write with plain ``os.read``/``os.write`` (warm, this performs like
copy_file_range or sendfile, see BENCHMARKING.md) and feed BLAKE2b on the way;
hashlib releases the GIL for large updates, so two copy threads overlap well.
Metadata (owner when root, mode, times) is set on the open descriptor, which
never follows a symlink.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from dataclasses import dataclass, field
from typing import Any

from tui_backup.engines.snapshot.errors import Cancelled, DestError, SourceSkip, source_reason

CHUNK = 1 << 20
SMALL = 256 << 10
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_buffers = threading.local()
IS_ROOT = os.geteuid() == 0
_EGID = os.getegid()


def _buffer() -> bytearray:
    buf: bytearray | None = getattr(_buffers, "buf", None)
    if buf is None:
        buf = bytearray(CHUNK)
        _buffers.buf = buf
    return buf


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def apply_metadata(fd: int, st: os.stat_result) -> None:
    """Owner (root only, as ``rsync -a``), then mode (chown clears set-id bits), then times."""
    if IS_ROOT and (st.st_uid != 0 or st.st_gid != _EGID):
        os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def copy_file(src: str, dst: str, cancel: threading.Event) -> tuple[str, os.stat_result]:
    """Copy ``src`` to the new file ``dst``; return its BLAKE2b-256 and the stat it had.

    Raises :class:`SourceSkip` when the source cannot be read (``dst`` removed),
    :class:`DestError` when the destination cannot be written, :class:`Cancelled`.
    """
    try:
        fsrc = os.open(src, _READ_FLAGS)
    except OSError as exc:
        raise SourceSkip(source_reason(exc)) from exc
    try:
        st = os.fstat(fsrc)
        if not stat.S_ISREG(st.st_mode):
            raise SourceSkip("changed type during backup")
        try:
            fdst = os.open(dst, _WRITE_FLAGS, 0o600)
        except OSError as exc:
            raise DestError(exc) from exc
        ok = False
        try:
            digest = _pump(fsrc, fdst, st.st_size, cancel)
            try:
                apply_metadata(fdst, st)
            except OSError as exc:
                raise DestError(exc) from exc
            ok = True
        finally:
            os.close(fdst)
            if not ok:
                try:
                    os.unlink(dst)
                except OSError:
                    pass
        return digest, st
    finally:
        os.close(fsrc)


def _pump(fsrc: int, fdst: int, size: int, cancel: threading.Event) -> str:
    h = hashlib.blake2b(digest_size=32)
    if size < SMALL:
        while True:
            try:
                data = os.read(fsrc, CHUNK)
            except OSError as exc:
                raise SourceSkip(source_reason(exc)) from exc
            if not data:
                break
            h.update(data)
            try:
                _write_all(fdst, data)
            except OSError as exc:
                raise DestError(exc) from exc
        return h.hexdigest()
    buf = _buffer()
    view = memoryview(buf)
    while True:
        if cancel.is_set():
            raise Cancelled
        try:
            n = os.readv(fsrc, [buf])
        except OSError as exc:
            raise SourceSkip(source_reason(exc)) from exc
        if n == 0:
            break
        h.update(view[:n])
        try:
            _write_all(fdst, view[:n])
        except OSError as exc:
            raise DestError(exc) from exc
    return h.hexdigest()


@dataclass(slots=True)
class CopyBatch:
    """Files handed to a copy thread in one piece, to keep per-file overhead low."""

    jobs: list[tuple[str, str]] = field(default_factory=list)
    nbytes: int = 0
    results: list[Any] | None = None
    future: Any = None

    def run(self, cancel: threading.Event) -> list[Any]:
        """Copy every file; each result is ``(digest, stat)`` or the exception raised."""
        out: list[Any] = []
        for src, dst in self.jobs:
            if cancel.is_set():
                out.append(Cancelled())
                continue
            try:
                out.append(copy_file(src, dst, cancel))
            except (SourceSkip, DestError, Cancelled) as exc:
                out.append(exc)
            except OSError as exc:  # anything unforeseen on the source side
                out.append(SourceSkip(source_reason(exc)))
        return out
