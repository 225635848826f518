"""A first run's totals, counted by a thread that runs ahead of the copy.

A first snapshot has no previous one to estimate its size from. Counting the
whole tree before copying (as the engine once did) left a user watching
"0 files, 0 %" for most of a large first run. Instead :class:`TreeCounter`
walks the sources on a thread of its own while the copy starts at once, and
:class:`RunReporter` reports what it has found so far with
``Progress.counting=True`` (no percentage, no ETA) until it is done; then the
totals are real and counting is off.

The counter walks by directory descriptors (:class:`~tui_backup.engines.snapshot.dirstack.DirStack`:
one descriptor at a time, any depth, any path length), applies the same
exclude rules as the walk, and holds only the names still to visit on the
current path: memory stays flat whatever the tree's size. It never outlives
the run: the builder stops and joins it on success, cancel and error alike.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from tui_backup.engines.snapshot.dirstack import DIR_FLAGS, DirStack
from tui_backup.engines.throttle import ProgressReporter

if TYPE_CHECKING:
    from collections.abc import Callable

    from tui_backup.engines.events import Emit
    from tui_backup.engines.layout import SourcePlan
    from tui_backup.model.progress import Progress

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.1
"""Seconds between two Progress events of a run (tests set 0: every file reports)."""


class CountStopped(Exception):
    """The run ended (done, cancelled or failed) before the count did."""


class TreeCounter:
    """Counts regular files and their bytes under the sources, on its own thread.

    :attr:`files` and :attr:`bytes` only grow; :attr:`finished` is set once the
    whole tree was counted (not when it was stopped early). Each is written by
    the counting thread alone and read by the walk (single attribute reads are
    atomic under the GIL; a pair read a moment apart differs by one directory).
    """

    def __init__(
        self,
        plans: list[SourcePlan],
        excluded: Callable[[str, bool], bool] | None,
        halted: Callable[[], bool],
    ) -> None:
        self._plans = plans
        self._excluded = excluded
        self._halted = halted
        self._stop = threading.Event()
        self.files = 0
        self.bytes = 0
        self.finished = False
        self._thread = threading.Thread(target=self._run, name="snapshot-count", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop counting (if it still is) and wait for the thread: it never outlives the run."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _check(self) -> None:
        if self._stop.is_set() or self._halted():
            raise CountStopped

    def _run(self) -> None:
        try:
            for plan in self._plans:
                self._count_source(plan.path)
        except CountStopped:
            return
        except Exception:  # a count is only a display: the copy goes on
            log.exception("counting the sources failed; the totals stay those found so far")
            return
        self.finished = True

    def _count_source(self, path: str) -> None:
        try:
            st = os.lstat(path)
        except OSError:
            return
        if stat.S_ISREG(st.st_mode):  # symlinks are not counted as files
            self.files += 1
            self.bytes += st.st_size
            return
        if not stat.S_ISDIR(st.st_mode):
            return
        try:
            root = os.open(path, DIR_FLAGS)
        except OSError:
            return
        try:
            self._count_tree(root)
        finally:
            os.close(root)

    def _count_tree(self, root: int) -> None:
        """Depth first through one source; per level only the subdirectories left to visit."""
        dirs = DirStack(root)
        try:
            todo: list[list[str]] = [self._count_dir(root, "")]
            rels = [""]
            while todo:
                self._check()
                names = todo[-1]
                if names:
                    name = names.pop()
                    try:
                        dirs.down(name)
                    except OSError:
                        continue  # gone or unreadable since it was listed: the walk will say
                    rel = rels[-1] + "/" + name if rels[-1] else name
                    todo.append(self._count_dir(dirs.fd, rel))
                    rels.append(rel)
                else:
                    todo.pop()
                    rels.pop()
                    if todo:
                        try:
                            dirs.up()
                        except OSError:
                            return  # a directory moved away: keep what was found
        finally:
            dirs.close()

    def _count_dir(self, fd: int, rel: str) -> list[str]:
        """Count one directory's regular files; return its subdirectories to visit."""
        self._check()
        excluded = self._excluded
        files = nbytes = 0
        subdirs: list[str] = []
        try:
            with os.scandir(fd) as it:
                for entry in it:
                    name = entry.name
                    if entry.is_dir(follow_symlinks=False):
                        if not (excluded and excluded(rel + "/" + name if rel else name, True)):
                            subdirs.append(name)
                    elif entry.is_file(follow_symlinks=False):
                        if excluded and excluded(rel + "/" + name if rel else name, False):
                            continue
                        try:
                            nbytes += entry.stat(follow_symlinks=False).st_size
                        except OSError:
                            continue
                        files += 1
        except OSError:
            pass  # unreadable: the walk warns about it
        self.files += files
        self.bytes += nbytes
        return subdirs


class RunReporter(ProgressReporter):
    """A run's reporter: while a :class:`TreeCounter` counts, totals are "found so far".

    Progress then carries ``counting=True`` and no ETA (a share of a total
    that still grows would promise what it cannot keep); once the count is
    finished the totals are the real ones, as if counted before the copy.
    """

    def __init__(self, emit: Emit, interval: float | None = None) -> None:
        super().__init__(emit, PROGRESS_INTERVAL if interval is None else interval)
        self.counter: TreeCounter | None = None

    def end_count(self, counter: TreeCounter) -> None:
        """Stop following ``counter``: its totals if it finished, else what was done."""
        self.counter = None
        if counter.finished:
            self.files_total, self.bytes_total = counter.files, counter.bytes
        else:  # stopped early (the walk finished first): done is the total
            self.files_total, self.bytes_total = self.files_done, self.bytes_done

    def _build(self, now: float) -> Progress:
        counter = self.counter
        if counter is None:
            return super()._build(now)
        self.files_total, self.bytes_total = counter.files, counter.bytes
        if counter.finished:
            self.counter = None
            return super()._build(now)
        return replace(super()._build(now), counting=True, eta_seconds=None)
