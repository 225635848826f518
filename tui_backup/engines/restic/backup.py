"""One ``restic backup``: its JSON stream turned into our events, cheaply.

restic prints a status line up to 60 times a second; only as many as the
progress throttle forwards are parsed (a prefix test skips the rest), so the
wrapper's own work stays negligible next to restic's.

restic's scanner runs ahead of its archiver: ``total_files``/``total_bytes``
are what it has found so far and only grow, while ``files_done``/
``bytes_done`` count what is stored. restic 0.14 says when the scan has
finished only at ``-vv`` (a ``scan_finished`` line, next to one line per
file); without it, ``seconds_remaining`` is the sign: restic computes it
(internal/ui/backup/progress.go) only once the scanner has closed its totals
channel, on its next one-second tick, and omits it while it is 0. So the
totals are reported as still counting until a status line carries
``seconds_remaining`` or the summary arrives, and never decrease.

A source file restic cannot read is an ``{"message_type":"error"}`` line, which
restic 0.14 writes to stderr (not stdout): both streams are fed to
:meth:`BackupStream.on_line` (from two reader threads, hence the lock), and
each unreadable item becomes one :class:`FileWarning`, however many phases
(scan, archival) report it. The run then exits 3 and still succeeds, with
warnings.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from tui_backup.engines.common import CountingReporter
from tui_backup.engines.events import Emit, FileWarning

_STATUS_PREFIX = '{"message_type":"status"'
PARSE_INTERVAL = 0.1
"""Seconds between two status lines parsed (tests set 0: every line is read)."""
PROGRESS_INTERVAL = 0.1
"""Seconds between two Progress events (tests set 0: every parsed line reports)."""
EXIT_PARTIAL = 3
"""restic: the snapshot was made, but some source files could not be read."""


class BackupStream:
    """Consumes ``restic backup --json`` stdout: progress, per-file warnings, the summary."""

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.reporter = CountingReporter(emit, PROGRESS_INTERVAL)
        self.reporter.counting = True
        self.summary: dict[str, Any] = {}
        self.warnings = 0
        self._last_parse = 0.0
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def on_line(self, line: str) -> None:
        """One line of restic's stdout or stderr (thread-safe)."""
        if not line.startswith("{"):
            return  # stderr's plain text ("Warning: at least one source file ...")
        with self._lock:
            self._on_line(line)

    def _on_line(self, line: str) -> None:
        if line.startswith(_STATUS_PREFIX):
            now = time.monotonic()
            if now - self._last_parse < PARSE_INTERVAL:
                return
            self._last_parse = now
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            return
        if not isinstance(msg, dict):
            return
        kind = msg.get("message_type")
        if kind == "status":
            self._status(msg)
        elif kind == "error":
            self._error(msg)
        elif kind == "summary":
            self.summary.update(msg)
            self._finish()

    def _status(self, msg: dict[str, Any]) -> None:
        r = self.reporter
        r.phase = "copy"
        if "seconds_remaining" in msg:
            r.counting = False  # the scanner has finished: the totals are final
        r.files_total = max(r.files_total, int(msg.get("total_files") or 0))
        r.files_done = max(r.files_done, int(msg.get("files_done") or 0))
        r.bytes_total = max(r.bytes_total, int(msg.get("total_bytes") or 0))
        r.bytes_done = max(r.bytes_done, int(msg.get("bytes_done") or 0))
        current = msg.get("current_files") or []
        if current:
            r.current_path = str(current[0])
        r.tick()

    def _finish(self) -> None:
        """The backup is stored: what it processed is done, and the totals are final."""
        r = self.reporter
        r.counting = False
        r.files_done = max(r.files_done, self.files)
        r.bytes_done = max(r.bytes_done, self.bytes)
        r.files_total = max(r.files_total, r.files_done)
        r.bytes_total = max(r.bytes_total, r.bytes_done)

    def _error(self, msg: dict[str, Any]) -> None:
        item = str(msg.get("item") or "")
        if item in self._warned:
            return  # the scanner and the archiver may both report the same file
        self._warned.add(item)
        self.warnings += 1
        self.reporter.warnings = self.warnings
        self.emit(FileWarning(item, error_reason(msg.get("error"))))

    @property
    def files(self) -> int:
        return int(self.summary.get("total_files_processed") or 0)

    @property
    def bytes(self) -> int:
        return int(self.summary.get("total_bytes_processed") or 0)

    @property
    def snapshot_id(self) -> str | None:
        sid = self.summary.get("snapshot_id")
        return str(sid)[:8] if sid else None


def error_reason(err: object) -> str:
    """restic's JSON error as words: ``{"Op":"open","Err":13}`` is "open: permission denied".

    restic 0.14 serialises Go's ``*os.PathError`` as is, so the errno is a number.
    """
    if isinstance(err, dict):
        if err.get("message"):
            return str(err["message"])
        code, op = err.get("Err"), err.get("Op")
        why = os.strerror(code).lower() if isinstance(code, int) and code > 0 else code
        text = ": ".join(str(part) for part in (op, why) if part)
        return text or "unreadable"
    return str(err or "unreadable")
