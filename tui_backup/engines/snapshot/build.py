"""One backup run: walk the sources, hard-link or copy, write the manifest, commit.

The walk is depth-first with each directory's entries sorted, which is also
the manifest's order, so the previous snapshot's manifest is consulted by a
forward-only merge (:class:`~tui_backup.engines.snapshot.manifest.PreviousCursor`)
and memory stays bounded whatever the tree's size. Unchanged files (size,
mtime_ns, mode, owner) are hard-linked to the previous snapshot and keep its
checksum; the rest are copied in batches by copy threads while the walk goes
on. Each directory being walked is a :class:`~tui_backup.engines.snapshot.frame.DirFrame`
on a stack; what the walk produces (a copy, a manifest line, a finished
directory) is consumed strictly in walk order through the bounded
:class:`~tui_backup.engines.snapshot.window.OrderedWindow`, so the manifest
stays sorted and a directory's mode and times are set only after all its
children are in place. Manifest lines are built by
:mod:`~tui_backup.engines.snapshot.manifest` alone.

Two things make the walk distrust a link candidate (``careful``): a file
recorded damaged by verify (:mod:`~tui_backup.engines.snapshot.damage`) is
copied fresh, and a checksum run (``RunOptions(checksum=True)``, or the job's
``checksum_every`` come due) re-reads every source file and links it only if
its content still has the previous manifest's checksum. Without either, the
no-change path costs nothing more than before.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import resource
import stat
import threading
import time
from datetime import datetime
from typing import NamedTuple

from tui_backup.engines import layout
from tui_backup.engines.events import Emit, FileWarning
from tui_backup.engines.excludes import Excluder
from tui_backup.engines.layout import SourcePlan, plan_sources
from tui_backup.engines.snapshot import marker, xattrs
from tui_backup.engines.snapshot.copy import (
    IS_ROOT,
    CopyBatch,
    CopyOptions,
    WorkerPool,
    refresh_umask,
)
from tui_backup.engines.snapshot.count import RunReporter, TreeCounter
from tui_backup.engines.snapshot.errors import (
    DESTINATION_ERROR,
    DESTINATION_OWNED,
    Cancelled,
    DestError,
    Fatal,
    SourceSkip,
    dest_fatal,
    is_fatal_link_error,
    source_reason,
)
from tui_backup.engines.snapshot.frame import DirFrame
from tui_backup.engines.snapshot.manifest import (
    FLUSH_LINES,
    ManifestWriter,
    PreviousCursor,
    file_key,
    format_line,
    line_digest,
    read_lines,
    recorded_xattrs,
)
from tui_backup.engines.snapshot.store import SnapshotStore
from tui_backup.engines.snapshot.syncio import fsync_dir, replace_symlink, write_atomic
from tui_backup.engines.snapshot.window import Copy, DirDone, Item, Line, OrderedWindow
from tui_backup.model.job import JobSpec

log = logging.getLogger(__name__)

BATCH_FILES = 512
"""Copies per batch at most (a batch never spans two directories)."""
BATCH_BYTES = 8 << 20
MIN_FD_DEPTH = 128
MAX_FD_DEPTH: int | None = None
"""Directories deeper than this are reached by path (a run holds ~3 fds a level);
None: as deep as the descriptor limit allows (:func:`max_fd_depth`)."""
CHANGED_MTIME = -1
"""The mtime recorded for a file that changed while it was copied: matches no source file,
so the next run copies it again instead of linking the bytes this run caught."""
CTIME_MARGIN_NS = 1_000_000_000
"""Slack for the kernel's coarse timestamps: a file changed up to this long before the
previous run started still has its xattrs compared."""
UNHOLDABLE = frozenset({errno.ENAMETOOLONG, errno.EILSEQ})
"""Destination errors that concern one name only: a warning and that entry skipped."""
DAMAGED_NAME = "damaged.json"
"""The damage record (``damage.DAMAGED_NAME``; that module is loaded only when it exists)."""
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
MAX_WARNING_EVENTS = 1000
"""Beyond this many, warnings are counted and logged but not emitted one by one."""

_S_IFMT = 0o170000
_S_IFREG = stat.S_IFREG
_S_IFDIR = stat.S_IFDIR
_S_IFLNK = stat.S_IFLNK
_SPECIAL = frozenset({stat.S_IFIFO, stat.S_IFSOCK, stat.S_IFCHR, stat.S_IFBLK})
"""Node types kept as nodes, like ``rsync -a`` (its ``-D``): never opened, only re-created."""
_EGID = os.getegid()


def max_fd_depth() -> int:
    """How deep the walk holds directory descriptors: as deep as the fd limit allows.

    The soft limit is raised to the hard one (at most 65536) first, so a deep
    tree is walked by descriptors (no path length limit) wherever the system
    allows; below the returned depth, paths are the fallback.
    """
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
        if soft != resource.RLIM_INFINITY and soft < want:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
                soft = want
            except (OSError, ValueError):
                pass
        if soft == resource.RLIM_INFINITY:
            soft = 65536
    except (ImportError, OSError, ValueError):
        return MIN_FD_DEPTH
    return max(MIN_FD_DEPTH, (soft - 1024) // 4)


class HaltFlag:
    """Set by the user's cancel or by a fatal error; copy threads poll it.

    It is also the run's context for the copy threads: ``copy_options``
    says what the run keeps (xattrs, ACLs, sparseness).
    """

    def __init__(self, cancel: threading.Event, copy_options: CopyOptions | None = None) -> None:
        self._cancel = cancel
        self._halt = threading.Event()
        self.copy_options = copy_options

    def set(self) -> None:
        self._halt.set()

    def is_set(self) -> bool:
        return self._halt.is_set() or self._cancel.is_set()


class BuildResult(NamedTuple):
    snapshot_id: str
    files: int
    bytes: int
    copied: int
    linked: int
    warnings: int
    checksum: bool


class SnapshotBuilder:
    """Builds one snapshot; raises :class:`Fatal` or :class:`Cancelled`, cleaning up first."""

    def __init__(
        self,
        spec: JobSpec,
        cancel: threading.Event,
        emit: Emit,
        reporter: RunReporter,
        now: datetime,
        workers: int = 2,
        checksum: bool = False,
    ) -> None:
        self.spec = spec
        self.dest = os.path.abspath(os.path.expanduser(spec.destination))
        self.cancel = cancel
        preserve = spec.preserve
        policy = xattrs.Policy(preserve.xattrs, preserve.acls)
        self.xpolicy: xattrs.Policy | None = policy if policy.active else None
        """What of the xattrs/ACLs is kept (None: nothing, and nothing is read)."""
        self.halt = HaltFlag(cancel, CopyOptions(self.xpolicy, preserve.sparse))
        self._refused_names: set[str] = set()
        self.keep_links = preserve.hard_links
        """Keep paths that are one inode in the source one inode in the snapshot."""
        self._batch_frame: DirFrame | None = None
        """The directory the batch being filled copies into (a batch never spans two)."""
        self._cur_frame: DirFrame | None = None
        """The directory the walk is in (whose descriptors a copy batch duplicates)."""
        self._started_ns = 0
        self._xattrs_trusted_before = -1
        """Files whose ctime is older had their xattrs read by the previous run: not re-read.
        -1 (no previous run that read them, or another policy): every link candidate's are."""
        self.max_fd_depth = MIN_FD_DEPTH
        self.emit = emit
        self.reporter = reporter
        self.now = now
        self.workers = workers
        self.store = SnapshotStore(self.dest)
        self.excluder = Excluder(spec.exclude)
        self.files = 0
        """Regular files (what a listing counts); symlinks are counted apart."""
        self.symlinks = 0
        self._inodes: dict[tuple[int, int], str] = {}
        """Source (dev, ino) of a file with several links -> its first path in the new tree."""
        self._groups: dict[str, list[str]] = {}
        """First path -> the paths of its source hard-link group (``<id>.hardlinks.json``)."""
        self.bytes = 0
        self.copied = 0
        self.linked = 0
        self.warnings = 0
        self.checksum = checksum
        """Re-read sources instead of trusting size and mtime (asked for, or come due)."""
        self.full_read = checksum
        """Every file of this snapshot was read from the source (a checksum run or no links)."""
        self._last_checksum: str | None = None
        self._suspects: frozenset[str] = frozenset()
        self._window = OrderedWindow(self._finalize, self._submit, self._wait)
        self._batch = CopyBatch()
        self._pool: WorkerPool | None = None
        self._counter: TreeCounter | None = None
        self._excluded = self.excluder.excluded if self.excluder.active else None
        self._careful = False
        """Link candidates are checked beyond size and mtime (checksum run, damaged files)."""
        self._writer: ManifestWriter | None = None
        self._cursor = PreviousCursor(None)
        self._prev_root = ""
        self.snapshot_id = ""
        self._partial = ""
        self._manifest_partial = ""

    # -- the run -------------------------------------------------------------

    def build(self) -> BuildResult:
        self._started_ns = time.time_ns()
        plans = self._check_sources()
        self._prepare_destination()
        self.store.cleanup_stale()
        prev_id = self.store.newest()
        self.snapshot_id = layout.new_id(self.dest, self.now)
        self._partial = self.store.partial_path(self.snapshot_id)
        self._manifest_partial = self.store.manifest_partial_path(self.snapshot_id)
        try:
            os.mkdir(self._partial, 0o700)
            self._writer = ManifestWriter(self._manifest_partial, background=self.workers > 0)
            self.max_fd_depth = MAX_FD_DEPTH or max_fd_depth()
        except OSError as exc:
            self._discard()
            raise dest_fatal(exc, self.dest) from exc
        try:
            self._open_previous(prev_id)
            if prev_id is None:
                self._start_count(plans)
            self.reporter.set_phase("copy")
            refresh_umask()
            if self.workers > 0:
                self._pool = WorkerPool(self.workers, self.halt)
            self._walk(plans)
            self._window.drain(everything=True)
            self._end_count()
            self._commit(plans)
        except BaseException:
            self.halt.set()
            # Workers stop at their next file; wait for them before removing
            # the .partial so nothing is written into it while it goes.
            self._stop_pool()
            self._discard()
            raise
        finally:
            self._end_count()
            self._stop_pool()
        return BuildResult(
            self.snapshot_id,
            self.files,
            self.bytes,
            self.copied,
            self.linked,
            self.warnings,
            self.full_read,
        )

    def _start_count(self, plans: list[SourcePlan]) -> None:
        """First snapshot: totals are counted by a thread running ahead of the copy."""
        excl = self.excluder.excluded if self.excluder.active else None
        self._counter = TreeCounter(plans, excl, self.halt.is_set)
        self.reporter.counter = self._counter
        self._counter.start()

    def _end_count(self) -> None:
        """Stop and join the counting thread (if any); the totals become final."""
        counter, self._counter = self._counter, None
        if counter is not None:
            counter.stop()
            self.reporter.end_count(counter)

    def _stop_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown()

    def _check_sources(self) -> list[SourcePlan]:
        """The plan, once every source exists; a failure is worded by ``engines.common``.

        The cheap check comes first so a run that succeeds never imports
        ``engines.common`` (and ``engines.api``, ~8 ms of start-up).
        """
        try:
            ok = bool(self.spec.sources)
            for source in self.spec.sources:
                os.lstat(os.path.abspath(os.path.expanduser(source)))
        except OSError:
            ok = False
        if not ok:
            # Only on the error path: a run that succeeds never loads engines.common
            # and the API types behind it (tests/engines/test_snapshot_contract.py).
            from tui_backup.engines.common import check_sources  # noqa: PLC0415

            check_sources(self.spec)  # raises the EngineError that says which and why
        return plan_sources(self.spec.sources)

    def _prepare_destination(self) -> None:
        if not os.path.isdir(os.path.dirname(self.dest.rstrip("/")) or "/"):
            # Only on the error path, as above.
            from tui_backup.engines.common import check_local_parent  # noqa: PLC0415

            check_local_parent(self.dest)  # raises destination_missing
        try:
            os.makedirs(self.dest, exist_ok=True)
            marker.claim(self.dest, self.spec.name)  # makes .tui-backup private, refuses a link
        except marker.DestinationOwned as exc:
            raise Fatal(str(exc), DESTINATION_OWNED) from exc
        except marker.UnsafeMetadata as exc:
            raise Fatal(str(exc), DESTINATION_ERROR) from exc
        except OSError as exc:
            raise dest_fatal(exc, self.dest) from exc

    def _open_previous(self, prev_id: str | None) -> None:
        if prev_id is None:
            self.full_read = True  # nothing to link: every file is read and hashed
            return
        path = self.store.manifest_path(prev_id)
        if not os.path.exists(path):
            log.warning("snapshot %s has no manifest; every file will be copied", prev_id)
            self.full_read = True
            return
        self._prev_root = self.store.snapshot_path(prev_id)
        self._cursor = PreviousCursor(read_lines(path))
        summary = self.store.summary(prev_id)
        # The previous snapshot's size is the best cheap estimate of this one's.
        self.reporter.files_total = int(summary.get("files", 0) or 0)
        self.reporter.bytes_total = int(summary.get("bytes", 0) or 0)
        self.reporter.totals_are_estimates = True
        since = summary.get("xattrs_read_after_ns")
        if (
            self.xpolicy is not None
            and isinstance(since, int)
            and summary.get("xattrs_policy") == self._policy_word()
        ):
            self._xattrs_trusted_before = since - CTIME_MARGIN_NS
        last = summary.get("last_checksum")
        self._last_checksum = last if isinstance(last, str) else None
        if not self.checksum and self._checksum_due():
            log.info("%s: last full compare %s; this run re-reads every file",
                     self.spec.name, self._last_checksum or "never")  # fmt: skip
            self.checksum = self.full_read = True
        if os.path.exists(os.path.join(self.store.meta, DAMAGED_NAME)):
            # Damage records are read only when something was recorded.
            from tui_backup.engines.snapshot import damage  # noqa: PLC0415

            records = damage.load(self.dest)
            self._suspects = damage.suspects(records, prev_id, self._prev_root)
            damage.prune(self.dest, records, set(self.store.ids()), self._suspects)
            if self._suspects:
                log.info("%s: %d damaged file(s) will be copied fresh, not linked",
                         self.spec.name, len(self._suspects))  # fmt: skip

    def _policy_word(self) -> str:
        pol = self.xpolicy
        return "none" if pol is None else f"xattrs={pol.xattrs},acls={pol.acls}"

    def _checksum_due(self) -> bool:
        """The job's ``checksum_every`` has passed since the last full compare."""
        every = self.spec.checksum_every
        if every is None:
            return False
        if self._last_checksum is None:
            return True
        try:
            last = datetime.fromisoformat(self._last_checksum)
        except ValueError:
            return True
        return every.subtract_from(self.now) >= last

    def _distrust(
        self, rel: str, line: str, sname: str, s_fd: int | None, pname: str, p_fd: int | None
    ) -> bool:
        """Whether a file unchanged by size and mtime must be copied instead of linked.

        Only called on a careful run: a file recorded damaged always is; on a
        checksum run, so is a file whose source content, or whose copy in the
        previous snapshot, no longer hashes to the previous manifest's
        checksum (or that cannot be read to tell): a changed-behind-the-mtime
        source and a copy damaged in place both reach the new snapshot intact.
        """
        if rel in self._suspects:
            return True
        if not self.checksum:
            return False
        digest = line_digest(line)
        return _hash_at(sname, s_fd, self.cancel) != digest or (
            _hash_at(pname, p_fd, self.cancel) != digest
        )

    # -- walk -------------------------------------------------------------
    #
    # Depth first, one DirFrame per directory on the stack. _walk_entries goes
    # through the top frame's entries until it enters a subdirectory (pushed
    # on the stack: the walk continues there, and comes back to the rest of
    # the parent's entries later) or runs out of them (the frame is closed).

    def _walk(self, plans: list[SourcePlan]) -> None:
        stack: list[DirFrame] = []
        self._careful = self.checksum or bool(self._suspects)
        try:
            stack.append(self._root_frame(plans))
            while stack:
                frame = self._cur_frame = stack[-1]
                if not self._walk_entries(frame, stack):
                    stack.pop()
                    self._close_dir(frame)
        finally:
            for frame in stack:
                frame.close()

    def _root_frame(self, plans: list[SourcePlan]) -> DirFrame:
        """The snapshot root: one directory source, or a virtual root holding each source."""
        if len(plans) == 1 and plans[0].prefix == "":
            root = plans[0].path
            fd = None
            try:
                st = os.lstat(root)
                fd = os.open(root, _DIR_FLAGS)
                entries = _list(fd)
            except OSError as exc:
                if fd is not None:
                    os.close(fd)
                raise Fatal(
                    f"Source {root} cannot be read: {exc.strerror}.", "source_unreadable"
                ) from exc
            frame = DirFrame(iter(entries), root, self._partial, "", "", st)
            frame.src_fd, frame.src_at = fd, ""
            try:
                if self.xpolicy is not None:
                    frame.xattrs = xattrs.read(fd, self.xpolicy)
                self._open_dirs(frame, None, "")
            except BaseException:
                frame.close()
                raise
            return frame
        sources = {p.prefix: p.path for p in plans}
        entries = [(prefix, False) for prefix in sorted(sources)]
        frame = DirFrame(iter(entries), "", self._partial, "", "", os.lstat(self._partial), sources)
        frame.prev_at = self._prev_at("")
        return frame

    def _open_dirs(self, frame: DirFrame, parent: DirFrame | None, name: str) -> None:
        """Open the frame's new and previous directories (best effort: paths are the fallback).

        The source directory's descriptor is the one its listing was read from.
        """
        frame.prev_at = self._prev_at(frame.rel)
        if frame.src_fd is None:
            return  # too deep, or reached by path: stay with paths below it
        try:
            if parent is None or parent.dst_fd is None:
                frame.dst_fd = os.open(frame.dst, _DIR_FLAGS)
            else:
                frame.dst_fd = os.open(name, _DIR_FLAGS, dir_fd=parent.dst_fd)
            frame.dst_at = ""
        except OSError:
            pass
        if self._prev_root:
            try:
                if parent is None or parent.prev_fd is None:
                    frame.prev_fd = os.open(frame.prev_at, _DIR_FLAGS)
                else:
                    frame.prev_fd = os.open(name, _DIR_FLAGS, dir_fd=parent.prev_fd)
                frame.prev_at = ""
            except OSError:
                pass  # a new directory, or a damaged previous snapshot: links just fail

    def _prev_at(self, rel: str) -> str:
        if not self._prev_root:
            return ""
        return self._prev_root + "/" + rel + "/" if rel else self._prev_root + "/"

    def _walk_entries(self, frame: DirFrame, stack: list[DirFrame]) -> bool:
        """Back up ``frame``'s entries from where it stopped.

        Returns True after entering a subdirectory (pushed on ``stack``: its
        entries come next), False once every entry is done. This is the
        per-file path of a run: what the loop needs is read once per call.
        """
        excl = self._excluded
        cancelled = self.cancel.is_set
        cursor = self._cursor
        sources = frame.sources
        src_pre = frame.src + "/"
        dst_pre = frame.dst + "/"
        rel_pre = frame.rel + "/" if frame.rel else ""
        src_rel_pre = frame.src_rel + "/" if frame.src_rel else ""
        src_fd, src_at = frame.src_fd, frame.src_at
        lstat = os.lstat
        for name, is_file in frame.entries:
            if cancelled():
                raise Cancelled
            if sources is not None:
                # The virtual root of several sources: names map to absolute paths.
                src = sname = sources[name]
                src_rel = ""
            else:
                src = src_pre + name
                sname = src_at + name
                src_rel = src_rel_pre + name if excl else ""
            rel = rel_pre + name
            line = None
            if is_file:
                # A regular file (the directory entry's type says so): only one
                # that was in the previous snapshot needs an lstat here; a new
                # one is stat'ed by the copy itself (fstat).
                if excl and excl(src_rel, False):
                    continue
                if cursor.path == rel:  # the common case: the very next entry
                    line = cursor.line
                    cursor.advance()
                elif cursor.path is not None:
                    line = cursor.find(rel)
                if line is None:
                    self._file(src, dst_pre + name, rel, None)
                    continue
            try:
                st = lstat(sname, dir_fd=src_fd)
            except OSError as exc:
                self._warn(src, source_reason(exc))
                continue
            fmt = st.st_mode & _S_IFMT
            if fmt == _S_IFREG:
                if not is_file:
                    if excl and src_rel and excl(src_rel, False):
                        continue
                    if cursor.path is not None:
                        line = cursor.find(rel)
                if line is None or not self._link_unchanged(frame, name, rel, st, line, sname):
                    self._file(src, dst_pre + name, rel, st)
            elif fmt == _S_IFDIR:
                if excl and src_rel and excl(src_rel, True):
                    continue
                if self._enter_dir(frame, stack, name, src, sname, rel, src_rel, st):
                    return True
            elif fmt == _S_IFLNK:
                if excl and src_rel and excl(src_rel, False):
                    continue
                self._symlink(src, rel, st, sname, src_fd, frame.dst_at + name, frame.dst_fd)
            elif fmt in _SPECIAL:
                if excl and src_rel and excl(src_rel, False):
                    continue
                self._special(src, rel, st, sname, src_fd, frame.dst_at + name, frame.dst_fd)
            else:
                self._warn(src, f"skipped: {_kind(st.st_mode)} cannot be backed up")
        return False

    def _link_unchanged(
        self, frame: DirFrame, name: str, rel: str, st: os.stat_result, line: str, sname: str
    ) -> bool:
        """Hard-link a file unchanged since the previous snapshot and reuse its line verbatim
        (checksum included); False when it changed or cannot be linked (then it is copied)."""
        size = st.st_size
        if not line.startswith(file_key(st.st_mode, st.st_uid, st.st_gid, size, st.st_mtime_ns)):
            return False
        xpol = self.xpolicy
        # A ctime newer than the previous run's reading of the xattrs: the inode changed
        # since (any xattr or ACL change moves the ctime), compare them; an older ctime
        # cannot hide a change (no listxattr).
        if (
            xpol is not None
            and st.st_ctime_ns >= self._xattrs_trusted_before
            and recorded_xattrs(line) != xattrs.current(sname, frame.src_fd, xpol)
        ):
            return False
        prev_name = frame.prev_at + name
        if self._careful and self._distrust(rel, line, sname, frame.src_fd, prev_name,
                                            frame.prev_fd):  # fmt: skip
            return False
        try:
            os.link(prev_name, frame.dst_at + name, src_dir_fd=frame.prev_fd,
                    dst_dir_fd=frame.dst_fd, follow_symlinks=False)  # fmt: skip
        except OSError as exc:
            if is_fatal_link_error(exc):
                raise dest_fatal(exc, self.dest) from exc
            return False  # missing in the old snapshot, too many links...: copy it
        if st.st_nlink > 1 and self.keep_links:  # linked in the source too
            self._hardlink(st, frame.dst + "/" + name, rel, linked=True)
        self.linked += 1
        self.files += 1
        self.bytes += size
        if self._window.items:
            self._window.push(Line(line))
        else:  # nothing waits before it: straight to the manifest (one call less)
            assert self._writer is not None
            lines = self._writer.lines
            lines.append(line)
            if len(lines) >= FLUSH_LINES:
                self._flush_manifest()
        self.reporter.advance(1, size, rel)
        return True

    def _enter_dir(
        self,
        frame: DirFrame,
        stack: list[DirFrame],
        name: str,
        src: str,
        sname: str,
        rel: str,
        src_rel: str,
        st: os.stat_result,
    ) -> bool:
        """List a subdirectory, create its copy and push its frame; False (warned) to skip it."""
        fd = None
        try:
            if frame.sources is not None or (
                frame.src_fd is not None and len(stack) < self.max_fd_depth
            ):
                # O_NOFOLLOW: a directory swapped for a symlink is not entered.
                fd = os.open(sname, _DIR_FLAGS, dir_fd=frame.src_fd)
                entries = _list(fd)
            else:
                entries = _list(src)
        except OSError as exc:
            if fd is not None:
                os.close(fd)
            self._warn(src, f"directory skipped: {source_reason(exc)}")
            return False
        try:
            os.mkdir(frame.dst_at + name, 0o700, dir_fd=frame.dst_fd)
        except OSError as exc:
            if fd is not None:
                os.close(fd)
            if exc.errno in UNHOLDABLE:
                self._warn(src, _unholdable(exc))
                return False
            raise dest_fatal(exc, self.dest) from exc
        child = DirFrame(iter(entries), src, frame.dst + "/" + name, rel, src_rel, st)
        if fd is not None:
            child.src_fd, child.src_at = fd, ""
        stack.append(child)  # from here on, _walk closes its descriptors
        xh = ""
        if self.xpolicy is not None:
            child.xattrs = xattrs.read(fd if fd is not None else src, self.xpolicy)
            xh = xattrs.digest(child.xattrs)
        self._window.push(
            Line(format_line("d", st.st_mode, st.st_uid, st.st_gid, 0, st.st_mtime_ns, "-", rel,
                             "", xh))
        )  # fmt: skip
        self._open_dirs(child, frame if frame.sources is None else None, name)
        if self._batch.jobs:
            self._submit()  # leaving this directory's files for a while
        return True

    def _close_dir(self, frame: DirFrame) -> None:
        """Every entry of ``frame`` walked: release it; its metadata is set in walk order."""
        dfd = None
        if frame.sources is None and frame.dst_fd is not None:
            try:
                dfd = os.dup(frame.dst_fd)  # the directory's metadata is set through it
            except OSError:
                dfd = None
        frame.close()
        if self._batch.jobs:
            self._submit()  # its copies need not wait for the next directory's
        if frame.sources is None:
            self._window.push(DirDone(frame.dst, frame.st, dfd, frame.xattrs))

    def _hardlink(self, st: os.stat_result, dst: str, rel: str, *, linked: bool) -> None:
        """Keep a source hard link one inode in the snapshot.

        The first path of a source inode is remembered; a later path of the
        same inode is made a link to it: linked from the previous snapshot
        (``linked``) or freshly copied, it is replaced. The first path is
        always complete here (a copy is remembered only once finalized).
        """
        key = (st.st_dev, st.st_ino)
        first = self._inodes.get(key)
        if first is None:
            self._inodes[key] = dst
            return
        # The new link is made in the metadata directory (a name no source can
        # have), then renamed over the path; rename is a no-op if both already
        # are the same inode (an unchanged group linked from the last snapshot).
        tmp = os.path.join(self.store.meta, f"{self.snapshot_id}.link.tmp-{os.getpid()}")
        try:
            if os.lstat(first).st_ino != os.lstat(dst).st_ino:
                os.link(first, tmp, follow_symlinks=False)
                os.replace(tmp, dst)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if is_fatal_link_error(exc):
                raise dest_fatal(exc, self.dest) from exc
            log.warning("cannot keep %s a hard link of %s: %s", dst, first, exc)
            return
        group = self._groups.setdefault(first, [os.path.relpath(first, self._partial)])
        group.append(rel)

    def _flush_manifest(self) -> None:
        assert self._writer is not None
        self._writer.flush()

    def _file(self, src: str, dst: str, rel: str, st: os.stat_result | None) -> None:
        """Copy one new or changed file (in a batch, on a worker thread).

        ``st`` is the walk's lstat, or None when the walk did not need one
        (the copy fstat's the file it opened, which is what gets recorded).
        A batch holds the files of one directory: two threads creating files
        in the same directory contend for its lock, in different ones they do not.
        The batch holds its own duplicates of the directory's descriptors and
        the copies open the names in them (``openat``): any depth, valid however
        long the walk has moved on.
        """
        frame = self._cur_frame
        batch = self._batch
        if batch.jobs and (
            len(batch.jobs) >= BATCH_FILES
            or batch.nbytes >= BATCH_BYTES
            or frame is not self._batch_frame
        ):
            self._submit()
            batch = self._batch
        if not batch.jobs:
            self._batch_frame = frame
            if frame is not None:
                for fd in (frame.src_fd, frame.dst_fd):
                    batch.fds.append(os.dup(fd) if fd is not None else -1)
        self._window.push(Copy(batch, len(batch.jobs), rel, src))
        if batch.fds:
            s_fd, d_fd = batch.fds
            name = dst[dst.rfind("/") + 1 :]
            batch.jobs.append(
                (
                    name if s_fd >= 0 else src,
                    name if d_fd >= 0 else dst,
                    s_fd if s_fd >= 0 else None,
                    d_fd if d_fd >= 0 else None,
                )
            )
        else:
            batch.jobs.append((src, dst))
        if st is not None:
            batch.nbytes += st.st_size

    def _symlink(
        self,
        src: str,
        rel: str,
        st: os.stat_result,
        sname: str,
        s_fd: int | None,
        dname: str,
        d_fd: int | None,
    ) -> None:
        """Recreate a symlink (never followed) with its owner, times and xattrs.

        ``sname``/``dname`` are relative to ``s_fd``/``d_fd`` when those are set.
        """
        try:
            target = os.readlink(sname, dir_fd=s_fd)
        except OSError as exc:
            self._warn(src, source_reason(exc))
            return
        items = xattrs.read(xattrs.at(sname, s_fd), self.xpolicy) if self.xpolicy else []
        try:
            os.symlink(target, dname, dir_fd=d_fd)
        except OSError as exc:
            if exc.errno in UNHOLDABLE:
                self._warn(src, _unholdable(exc))
                return
            raise dest_fatal(exc, self.dest) from exc
        try:
            if IS_ROOT and (st.st_uid != 0 or st.st_gid != _EGID):
                os.chown(dname, st.st_uid, st.st_gid, dir_fd=d_fd, follow_symlinks=False)
            if items:
                self._refused(src, xattrs.write(xattrs.at(dname, d_fd), items))
            os.utime(dname, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=d_fd,
                     follow_symlinks=False)  # fmt: skip
        except OSError as exc:
            raise dest_fatal(exc, self.dest) from exc
        self.symlinks += 1
        self._window.push(
            Line(format_line("l", st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns,
                             "-", rel, target, xattrs.digest(items)))
        )  # fmt: skip

    def _special(
        self,
        src: str,
        rel: str,
        st: os.stat_result,
        sname: str,
        s_fd: int | None,
        dname: str,
        d_fd: int | None,
    ) -> None:
        """Re-create a FIFO, socket or device node with its owner, mode, times and xattrs.

        ``rsync -a`` keeps these (``-D``); so does the snapshot. A node is made
        with ``mknod`` and never opened (a FIFO would block, a device would
        read the hardware). The manifest line (type ``n``) records the node's
        type in its mode and a device's number in the size field, which is
        what ``verify`` checks and what lets ``restore`` re-create only nodes
        this engine made. Making a device needs ``CAP_MKNOD``: without it the
        device is one warning, and the run goes on.
        """
        items = xattrs.read(xattrs.at(sname, s_fd), self.xpolicy) if self.xpolicy else []
        rdev = st.st_rdev if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else 0
        try:
            os.mknod(dname, stat.S_IFMT(st.st_mode) | 0o600, rdev, dir_fd=d_fd)
        except OSError as exc:
            if exc.errno in UNHOLDABLE or exc.errno in (errno.EPERM, errno.EOPNOTSUPP):
                why = _unholdable(exc) if exc.errno in UNHOLDABLE else source_reason(exc)
                self._warn(src, f"skipped: {_kind(st.st_mode)} could not be made: {why}")
                return
            raise dest_fatal(exc, self.dest) from exc
        try:
            if IS_ROOT and (st.st_uid != 0 or st.st_gid != _EGID):
                os.chown(dname, st.st_uid, st.st_gid, dir_fd=d_fd, follow_symlinks=False)
            # chmod and utime act on the node's inode; neither opens it.
            os.chmod(dname, stat.S_IMODE(st.st_mode), dir_fd=d_fd)
            if items:
                self._refused(src, xattrs.write(xattrs.at(dname, d_fd), items))
            os.utime(dname, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=d_fd,
                     follow_symlinks=False)  # fmt: skip
        except OSError as exc:
            raise dest_fatal(exc, self.dest) from exc
        self._window.push(
            Line(format_line("n", st.st_mode, st.st_uid, st.st_gid, rdev, st.st_mtime_ns,
                             "-", rel, "", xattrs.digest(items)))
        )  # fmt: skip

    def _refused(self, path: str, refused: list[tuple[str, str]]) -> None:
        """One warning per attribute name the destination refuses, the first time only."""
        for name, reason in refused:
            if name not in self._refused_names:
                self._refused_names.add(name)
                self._warn(path, f"extended attribute {name} not kept: {reason} "
                                 "(not reported again for other files)")  # fmt: skip

    # -- the ordered window ----------------------------------------------------

    def _submit(self) -> None:
        batch = self._batch
        if not batch.jobs:
            return
        self._batch = CopyBatch()
        if self._pool is None:
            batch.results = batch.run(self.halt)
        else:
            self._pool.submit(batch)

    def _wait(self, batch: CopyBatch) -> None:
        assert batch.done is not None
        while not batch.done.acquire(timeout=0.1):
            if self.cancel.is_set():
                raise Cancelled from None
            self.reporter.tick()  # a large file: the totals found so far still move
        batch.done.release()

    def _finalize(self, item: Item) -> None:
        """Act on a window item whose turn has come (every item before it is done)."""
        if isinstance(item, Copy):
            self._finalize_copy(item)
        elif isinstance(item, Line):
            assert self._writer is not None
            self._writer.add_line(item.line)
        else:
            self._set_dir_metadata(item)

    def _finalize_copy(self, item: Copy) -> None:
        """Record a finished copy in the manifest (or its failure as a warning / the end)."""
        batch, idx, rel, src = item
        assert batch.results is not None
        result = batch.results[idx]
        batch.results[idx] = None
        if isinstance(result, tuple):
            st = result[1]
            size, mtime, xh = st.st_size, st.st_mtime_ns, ""
            if len(result) > 2:
                _, _, size, changed, xh, refused = result
                if changed:
                    mtime = CHANGED_MTIME
                    self._warn(src, "changed while it was copied: stored as read, "
                                    "copied again next run")  # fmt: skip
                if refused:
                    self._refused(src, refused)
            if st.st_nlink > 1 and self.keep_links:  # linked in the source: one inode
                self._hardlink(st, self._dst_path(batch, idx, rel), rel, linked=False)
            assert self._writer is not None
            self._writer.add("f", st.st_mode, st.st_uid, st.st_gid, size, mtime, result[0], rel,
                             "", xh)  # fmt: skip
            self.files += 1
            self.copied += 1
            self.bytes += size
            self.reporter.advance(1, size, rel)
        elif isinstance(result, SourceSkip):
            self._warn(src, result.reason)
        elif isinstance(result, DestError):
            if result.exc.errno in UNHOLDABLE:
                self._warn(src, _unholdable(result.exc))
                return
            raise dest_fatal(result.exc, self.dest) from result.exc
        elif isinstance(result, Cancelled) or result is None:
            raise Cancelled
        else:
            raise result

    def _set_dir_metadata(self, item: DirDone) -> None:
        """Owner, mode, xattrs and times of a copied directory, once its children are in."""
        path, st, fd, items = item
        # Through the directory's own descriptor when the walk had one (any depth).
        target: int | str = fd if fd is not None else path
        try:
            if IS_ROOT and (st.st_uid != 0 or st.st_gid != _EGID):
                os.chown(target, st.st_uid, st.st_gid)
            os.chmod(target, stat.S_IMODE(st.st_mode))
            if items:
                self._refused(path, xattrs.write(target, items))
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        except OSError as exc:
            raise dest_fatal(exc, self.dest) from exc
        finally:
            if fd is not None:
                os.close(fd)

    def _dst_path(self, batch: CopyBatch, idx: int, rel: str) -> str:
        """The new file's path in the partial snapshot (a job may hold only its name)."""
        job = batch.jobs[idx]
        return job[1] if len(job) < 4 or job[3] is None else os.path.join(self._partial, rel)

    def _warn(self, path: str, reason: str) -> None:
        self.warnings += 1
        self.reporter.warnings = self.warnings
        if self.warnings <= MAX_WARNING_EVENTS:
            self.emit(FileWarning(path=path, reason=reason))
        else:
            log.warning("%s: %s", path, reason)

    # -- commit / discard ------------------------------------------------------

    def _commit(self, plans: list[SourcePlan]) -> None:
        self.reporter.set_phase("commit")
        assert self._writer is not None
        try:
            self._writer.close(sync=True)
            self._writer = None
            summary = {
                "id": self.snapshot_id,
                "job": self.spec.name,
                "time": self.now.isoformat(),
                "files": self.files,
                "bytes": self.bytes,
                "symlinks": self.symlinks,
                "copied": self.copied,
                "linked": self.linked,
                "warnings": self.warnings,
                "checksum": self.full_read,
                "last_checksum": self.now.isoformat() if self.full_read else self._last_checksum,
                "sources": [{"path": p.path, "prefix": p.prefix} for p in plans],
                "finished": time.time(),
                # Xattrs/ACLs were read after this instant, under this policy: the next
                # run trusts them for files whose ctime is older (CTIME_MARGIN_NS).
                "xattrs_read_after_ns": self._started_ns if self.xpolicy is not None else None,
                "xattrs_policy": self._policy_word(),
            }
            if self._groups:
                write_atomic(
                    self.store.hardlinks_path(self.snapshot_id),
                    (json.dumps(list(self._groups.values())) + "\n").encode("utf-8"),
                )
            write_atomic(
                self.store.summary_path(self.snapshot_id),
                (json.dumps(summary, indent=1) + "\n").encode("utf-8"),
            )
            os.rename(self._manifest_partial, self.store.manifest_path(self.snapshot_id))
            fsync_dir(self.store.meta)
            # The commit point: from here on the snapshot exists.
            os.rename(self._partial, self.store.snapshot_path(self.snapshot_id))
            fsync_dir(self.dest)
        except OSError as exc:
            raise dest_fatal(exc, self.dest) from exc
        try:
            replace_symlink(os.path.join(self.dest, layout.LATEST), self.snapshot_id)
        except OSError as exc:
            self._warn(os.path.join(self.dest, layout.LATEST), f"cannot update: {exc.strerror}")

    def _discard(self) -> None:
        """Throw away this run's partial snapshot and manifest (best effort)."""
        self._batch.close_fds()
        self._window.discard()  # closes the descriptors held for directories' metadata
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        if not self.snapshot_id or os.path.exists(self.store.snapshot_path(self.snapshot_id)):
            return
        for path in (
            self._manifest_partial,
            self.store.summary_path(self.snapshot_id),
            self.store.hardlinks_path(self.snapshot_id),
        ):
            if path:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        if self._partial:
            self.store.remove_partial(self._partial)


def _unholdable(exc: OSError) -> str:
    return f"skipped: the destination cannot hold this name ({exc.strerror or exc})"


def _hash_at(name: str, dir_fd: int | None, cancel: threading.Event) -> str | None:
    """BLAKE2b-256 of the regular file ``name`` (relative to ``dir_fd``); None if unreadable.

    Never follows a symlink and never blocks on a FIFO swapped in for the file.
    """
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        h = hashlib.blake2b(digest_size=32)
        while data := os.read(fd, 1 << 20):
            h.update(data)
            if cancel.is_set():
                raise Cancelled
        return h.hexdigest()
    except OSError:
        return None
    finally:
        os.close(fd)


def _list(path: str | int) -> list[tuple[str, bool]]:
    """A directory's names, sorted, each with whether its entry type says regular file."""
    with os.scandir(path) as it:
        return sorted([(entry.name, entry.is_file(follow_symlinks=False)) for entry in it])


def _kind(mode: int) -> str:
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISBLK(mode) or stat.S_ISCHR(mode):
        return "a device"
    return "a special file"
