"""rsync's ``--info=progress2`` lines as progress from the first second of a run.

rsync (incremental recursion, its default) starts copying while it is still
building the file list and says so on every progress line::

         20,000   0%   19.07MB/s    0:00:00 (xfr#2, ir-chk=1078/1131)
     60,000,000 100%   77.83MB/s    0:00:00 (xfr#3000, to-chk=0/3051)

``ir-chk=R/T``: T entries found so far, R of them still to check; the list
is still growing. ``to-chk``: the list is complete, T is the final count.
So files done (T - R), bytes transferred, a rate and the entries found so
far are known at once, with ``counting`` on until rsync's scan is finished
(the first ``to-chk`` of the last source).

Bytes found so far: the percentage is the bytes transferred out of the total
size of the files listed so far, truncated to an integer, so that total is
just above ``done * 100 / (pct + 1)``. The running maximum of that lower
bound never decreases and never passes the real total; at 100 % it is exact.
When the job has excludes, the source is walked before rsync starts (to
turn gitignore rules into exact rsync rules); that walk reports what it
finds too (entries, and bytes of regular files), so a large tree shows a
growing total before the first byte is copied. It only means "found" on a
first run: with ``--link-dest`` the files linked
from the previous snapshot are never transferred, so the bytes an
incremental transfers are no share of the tree and its byte total is
reported unknown (0); its progress is told by files (``to-chk``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from tui_backup.engines.common import CountingReporter

PROGRESS_RE = re.compile(
    r"^\s*([\d,]+)\s+(\d+)%\s+\S+\s+\d+:\d+:\d+"
    r"(?:\s+\(xfr#\d+,\s*(ir|to)-chk=(\d+)/(\d+)\))?\s*$"
)


@dataclass(slots=True)
class CopyProgress:
    """Folds the progress2 lines of one run's rsync calls (one per source) into a reporter."""

    reporter: CountingReporter
    first_run: bool
    """No ``--link-dest``: every byte found is transferred, so a byte total means something."""
    files_base: int = 0
    """Entries of the sources already copied by earlier calls of this run."""
    bytes_base: int = 0
    """Bytes transferred by earlier calls."""
    found_base: int = 0
    """Bytes found by earlier calls (first run only)."""
    last: bool = True
    files_found: int = 0
    files_checked: int = 0
    bytes_done: int = 0
    bytes_found: int = 0
    walked_files: int = 0
    """Entries found by the walk that applies the excludes before rsync starts (+1: the root)."""
    walked_bytes: int = 0
    interval: float = 0.0
    """Parse at most one progress line per this many seconds (the newest is kept
    and parsed at the end of the call): rsync prints one per file, and parsing
    20,000 of them cost a first backup ~5 % of rsync's own CPU. 0: every line."""
    _pending: str | None = None
    _parsed_at: float = 0.0

    def start(self, *, last: bool) -> None:
        """A new source; ``last`` when no other source follows it."""
        self.last = last
        self.files_found = self.files_checked = self.bytes_done = self.bytes_found = 0
        self.walked_files, self.walked_bytes = 1, 0
        self.reporter.counting = True

    def walked(self, size: int) -> None:
        """One entry kept by the exclude walk (its size if a regular file): found so far."""
        self.walked_files += 1
        self.walked_bytes += size
        self._report()

    def line(self, line: str) -> None:
        if "%" not in line:
            return  # not a progress line (stats, messages)
        if self.interval > 0:
            now = time.monotonic()
            if now - self._parsed_at < self.interval:
                self._pending = line
                return
            self._parsed_at = now
        self._pending = None
        self._parse(line)

    def _parse(self, line: str) -> None:
        m = PROGRESS_RE.match(line)
        if m is None:
            return
        r = self.reporter
        done = int(m.group(1).replace(",", ""))
        pct = int(m.group(2))
        self.bytes_done = max(self.bytes_done, done)
        if pct >= 100:
            found = done
        elif done > 0:
            found = done * 100 // (pct + 1) + 1
        else:
            found = 0
        self.bytes_found = max(self.bytes_found, found, self.bytes_done)
        if m.group(3) is not None:
            remaining, total = int(m.group(4)), int(m.group(5))
            self.files_found = max(self.files_found, total)
            self.files_checked = max(self.files_checked, total - remaining)
            if m.group(3) == "to" and self.last:
                r.counting = False
        self._report()

    def _report(self) -> None:
        r = self.reporter
        found = max(self.bytes_found, self.walked_bytes)
        r.bytes_done = self.bytes_base + self.bytes_done
        r.bytes_total = self.found_base + found if self.first_run else 0
        r.files_done = self.files_base + self.files_checked
        r.files_total = self.files_base + max(self.files_found, self.walked_files)
        r.tick()

    def end(self) -> None:
        """The call is over: its counts become the next call's base."""
        if self._pending is not None:
            line, self._pending = self._pending, None
            self._parse(line)
        self.files_base += max(self.files_found, self.files_checked, self.walked_files)
        self.bytes_base += self.bytes_done
        self.found_base += max(self.bytes_found, self.walked_bytes)
        self.files_found = self.files_checked = self.bytes_done = self.bytes_found = 0
        self.walked_files = self.walked_bytes = 0
        if self.last:
            self.reporter.counting = False
