"""Copying one regular file while hashing it, and the batches worker threads run.

The data has to pass through user space anyway to be hashed, so we read and
write with plain ``os.read``/``os.write`` (warm, this performs like
copy_file_range or sendfile, see BENCHMARKING.md) and feed BLAKE2b on the way;
hashlib releases the GIL for large updates, so two copy threads overlap well.
Metadata (owner when root, mode, times) is set on the open descriptor, which
never follows a symlink.

Hard links of unchanged files are made by the walk itself: tried on worker
threads, they gained nothing (the GIL hand-offs around each short syscall ate
the overlap), see docs/benchmarks.md.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import stat
import threading
from queue import Empty, SimpleQueue
from typing import Any

from tui_backup.engines.snapshot import xattrs
from tui_backup.engines.snapshot.errors import Cancelled, DestError, SourceSkip, source_reason

CHUNK = 1 << 20
SMALL = 256 << 10
# O_NONBLOCK: a file swapped for a FIFO after the listing must not block the open
# (it is then skipped as "changed type"); regular files ignore the flag.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_buffers = threading.local()
IS_ROOT = os.geteuid() == 0
_EGID = os.getegid()


def _read_umask() -> int | None:
    """The process umask without changing it (``os.umask`` would race other threads)."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


_UMASK = _read_umask()


def refresh_umask() -> None:
    """Re-read the umask (once per run: a process may change it between runs)."""
    global _UMASK
    _UMASK = _read_umask()


def _buffer() -> bytearray:
    buf: bytearray | None = getattr(_buffers, "buf", None)
    if buf is None:
        buf = bytearray(CHUNK)
        _buffers.buf = buf
    return buf


def _write_all(fd: int, data: bytes | memoryview) -> None:
    n = os.write(fd, data)
    if n < len(data):
        view = memoryview(data)[n:]
        while view:
            view = view[os.write(fd, view) :]


def apply_metadata(fd: int, st: os.stat_result, *, mode_set: bool = False) -> None:
    """Owner (root only, as ``rsync -a``), then mode (chown clears set-id bits), then times.

    ``mode_set``: the file was created with its final mode already (see
    :func:`copy_file`), so no ``fchmod`` is needed unless ``fchown`` ran.
    """
    chowned = False
    if IS_ROOT and (st.st_uid != 0 or st.st_gid != _EGID):
        os.fchown(fd, st.st_uid, st.st_gid)
        chowned = True
    if chowned or not mode_set:
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


class CopyOptions:
    """What a run keeps beyond content, mode, owner and times (from ``spec.preserve``).

    Handed to the copy threads on the run's cancel flag (``cancel.copy_options``),
    the one object every copy of a run already receives.
    """

    __slots__ = ("policy", "sparse")

    def __init__(self, policy: xattrs.Policy | None, sparse: bool) -> None:
        self.policy = policy if policy is not None and policy.active else None
        self.sparse = sparse


DEFAULT_OPTIONS = CopyOptions(xattrs.Policy(True, True), sparse=True)


def copy_file(
    src: str,
    dst: str,
    cancel: Any,
    src_dir: int | None = None,
    dst_dir: int | None = None,
) -> tuple[Any, ...]:
    """Copy ``src`` to the new file ``dst``; return its BLAKE2b-256 and the stat it had.

    ``src_dir``/``dst_dir``: directory descriptors ``src``/``dst`` are names in
    (``openat``), else they are paths. A name under a descriptor costs one
    component lookup; the ``/proc/self/fd/<fd>/<name>`` paths used before cost
    ~7x as much per open (14 vs 1.9 µs measured), twice per copied file.

    The result is ``(digest, stat)`` when the bytes written are the ``stat``'s
    size and nothing else needs saying (the common case, kept cheap), else
    ``(digest, stat, written, changed, xattr_hash, refused)``: ``written`` the
    bytes actually copied (what digest covers), ``changed`` whether the source
    changed while it was copied (size or mtime moved), ``xattr_hash`` the
    short hash of the kept xattrs/ACLs and ``refused`` the ``(name, reason)``
    of attributes the destination would not take.

    Raises :class:`SourceSkip` when the source cannot be read (``dst`` removed),
    :class:`DestError` when the destination cannot be written, :class:`Cancelled`.
    """
    opts: CopyOptions = getattr(cancel, "copy_options", None) or DEFAULT_OPTIONS
    try:
        fsrc = os.open(src, _READ_FLAGS, dir_fd=src_dir)
    except OSError as exc:
        raise SourceSkip(source_reason(exc)) from exc
    try:
        st = os.fstat(fsrc)
        if not stat.S_ISREG(st.st_mode):
            raise SourceSkip("changed type during backup")
        # Create with the final permission bits when the umask keeps them all
        # (saves an fchmod per file); set-id/sticky bits always go through fchmod.
        mode = st.st_mode & 0o777
        mode_set = _UMASK is not None and not (mode & _UMASK) and not (st.st_mode & 0o7000)
        try:
            fdst = os.open(dst, _WRITE_FLAGS, mode if mode_set else 0o600, dir_fd=dst_dir)
        except OSError as exc:
            raise DestError(exc) from exc
        ok = False
        try:
            size = st.st_size
            if opts.sparse and size > SMALL and st.st_blocks * 512 < size:
                digest, written = _pump_sparse(fsrc, fdst, cancel)
            else:
                digest, written = _pump(fsrc, fdst, size, cancel)
            after = os.fstat(fsrc)
            changed = (
                written != size or after.st_size != size or after.st_mtime_ns != st.st_mtime_ns
            )
            items = xattrs.read(fsrc, opts.policy) if opts.policy is not None else None
            try:
                apply_metadata(fdst, st, mode_set=mode_set)
                refused = xattrs.write(fdst, items) if items else []
            except OSError as exc:
                raise DestError(exc) from exc
            ok = True
        finally:
            os.close(fdst)
            if not ok:
                try:
                    os.unlink(dst, dir_fd=dst_dir)
                except OSError:
                    pass
        if changed or items:
            return digest, st, written, changed, xattrs.digest(items or []), refused
        return digest, st
    finally:
        os.close(fsrc)


def _pump(fsrc: int, fdst: int, size: int, cancel: Any) -> tuple[str, int]:
    """Copy to the end of the source, hashing on the way; the digest and bytes written."""
    if size < SMALL:
        # One read of the whole file (plus one byte, to notice growth): a
        # read that returns exactly the size fstat reported ends the copy.
        try:
            data = os.read(fsrc, size + 1)
        except OSError as exc:
            raise SourceSkip(source_reason(exc)) from exc
        h = hashlib.blake2b(data, digest_size=32)
        written = len(data)
        if data:
            try:
                _write_all(fdst, data)
            except OSError as exc:
                raise DestError(exc) from exc
        if written == size:
            return h.hexdigest(), written
        while True:
            try:
                data = os.read(fsrc, CHUNK)
            except OSError as exc:
                raise SourceSkip(source_reason(exc)) from exc
            if not data:
                break
            h.update(data)
            written += len(data)
            try:
                _write_all(fdst, data)
            except OSError as exc:
                raise DestError(exc) from exc
        return h.hexdigest(), written
    h = hashlib.blake2b(digest_size=32)
    buf = _buffer()
    view = memoryview(buf)
    written = 0
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
        written += n
        try:
            _write_all(fdst, view[:n])
        except OSError as exc:
            raise DestError(exc) from exc
    return h.hexdigest(), written


_ZEROS = bytes(CHUNK)


def _hash_zeros(h: Any, n: int) -> None:
    while n > 0:
        step = min(n, CHUNK)
        h.update(_ZEROS[:step] if step < CHUNK else _ZEROS)
        n -= step


def _pump_sparse(fsrc: int, fdst: int, cancel: Any) -> tuple[str, int]:
    """Copy only the data extents (SEEK_DATA/SEEK_HOLE); holes stay holes in the copy.

    The digest is that of the full logical content (holes hashed as the
    zeros they read as), so a sparse copy and a dense one hash alike. The
    copy ends where the source ends when the last extent is read; the
    destination is extended to that length with ``ftruncate`` (a trailing
    hole costs no block).
    """
    h = hashlib.blake2b(digest_size=32)
    buf = _buffer()
    view = memoryview(buf)
    pos = 0
    while True:
        if cancel.is_set():
            raise Cancelled
        try:
            start = os.lseek(fsrc, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise SourceSkip(source_reason(exc)) from exc
            # No data beyond pos: the rest is one hole up to the end of file.
            end = os.fstat(fsrc).st_size
            if end > pos:
                _hash_zeros(h, end - pos)
                pos = end
            break
        try:
            stop = os.lseek(fsrc, start, os.SEEK_HOLE)
        except OSError as exc:
            raise SourceSkip(source_reason(exc)) from exc
        _hash_zeros(h, start - pos)
        pos = start
        while pos < stop:
            if cancel.is_set():
                raise Cancelled
            try:
                n = os.preadv(fsrc, [view[: min(CHUNK, stop - pos)]], pos)
            except OSError as exc:
                raise SourceSkip(source_reason(exc)) from exc
            if n == 0:
                break  # shrank under us: what was read is what is stored
            h.update(view[:n])
            try:
                done = 0
                while done < n:
                    done += os.pwrite(fdst, view[done:n], pos + done)
            except OSError as exc:
                raise DestError(exc) from exc
            pos += n
        if pos < stop:
            break
    try:
        os.ftruncate(fdst, pos)
    except OSError as exc:
        raise DestError(exc) from exc
    return h.hexdigest(), pos


class CopyBatch:
    """Files handed to the worker threads in one piece, to keep per-file overhead low.

    Each job is ``(src, dst)`` (paths) or ``(src, dst, src_dir, dst_dir)`` (names in
    those directory descriptors, ``None`` for a path: :func:`copy_file`). A batch is
    taken by one worker; a worker that finds no batch waiting joins one in progress,
    taking the next job not yet taken, so a batch holding a few large files is shared
    instead of keeping one thread busy while the other idles (the walk does not stat
    new files, so batches cannot be balanced by size up front). ``results`` is set, and
    ``done`` released, by whoever finishes the last job.
    """

    __slots__ = (
        "_finished",
        "_out",
        "_take",
        "done",
        "fds",
        "jobs",
        "nbytes",
        "results",
        "submitted",
    )

    def __init__(self) -> None:
        self.jobs: list[tuple[Any, ...]] = []
        self.nbytes = 0
        self.results: list[Any] | None = None
        self.done: threading.Lock | None = None
        self.submitted = False
        self.fds: list[int] = []
        """Directory descriptors the jobs' names are in (duplicates owned by the batch,
        valid however far the walk has moved on); closed when the last job is done."""
        self._out: list[Any] = []
        self._take = itertools.count()
        self._finished = itertools.count(1)

    def prepare(self) -> None:
        """Freeze the job list before any worker sees the batch."""
        self._out = [None] * len(self.jobs)

    def work(self, cancel: Any) -> None:
        """Copy jobs until none is left to take (several threads may call this at once).

        Each result is what :func:`copy_file` returns or the exception raised. ``next()`` on
        an ``itertools.count`` is atomic under the GIL, so no job runs twice.
        """
        jobs = self.jobs
        n = len(jobs)
        out = self._out
        take = self._take
        finished = self._finished
        while (i := next(take)) < n:
            job = jobs[i]
            if cancel.is_set():
                result: Any = Cancelled()
            else:
                try:
                    result = copy_file(job[0], job[1], cancel, *job[2:])
                except (SourceSkip, DestError, Cancelled) as exc:
                    result = exc
                except OSError as exc:  # anything unforeseen on the source side
                    result = SourceSkip(source_reason(exc))
                except Exception as exc:  # noqa: BLE001 - re-raised by the walk, in order
                    result = exc
            out[i] = result
            if next(finished) == n:
                self.close_fds()
                self.results = out
                if self.done is not None:
                    self.done.release()

    def close_fds(self) -> None:
        fds, self.fds = self.fds, []
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass

    def run(self, cancel: Any) -> list[Any]:
        """Copy every job in this thread (no workers); return the results."""
        self.prepare()
        self.work(cancel)
        assert self.results is not None or not self.jobs
        return self.results if self.results is not None else []


class WorkerPool:
    """A few daemon threads running batches; lighter than ThreadPoolExecutor."""

    def __init__(self, workers: int, cancel: Any, name: str = "snapshot-copy") -> None:
        self._queue: SimpleQueue[CopyBatch | None] = SimpleQueue()
        self._active: list[CopyBatch] = []
        self._cancel = cancel
        self._threads = [
            threading.Thread(target=self._loop, name=f"{name}-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, batch: CopyBatch) -> None:
        done = threading.Lock()
        done.acquire()
        batch.done = done
        batch.submitted = True
        batch.prepare()
        self._queue.put(batch)

    def _loop(self) -> None:
        queue = self._queue
        active = self._active
        cancel = self._cancel
        while True:
            try:
                batch = queue.get_nowait()
            except Empty:
                # Nothing waiting: help with the batches in progress, then wait.
                for other in tuple(active):
                    other.work(cancel)
                batch = queue.get()
            if batch is None:
                return
            active.append(batch)
            batch.work(cancel)
            try:
                active.remove(batch)
            except ValueError:
                pass

    def shutdown(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
