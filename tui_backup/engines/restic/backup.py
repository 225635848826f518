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
"""

from __future__ import annotations

import json
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

    def on_line(self, line: str) -> None:
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
        self.warnings += 1
        self.reporter.warnings = self.warnings
        err = msg.get("error")
        if isinstance(err, dict):
            reason = err.get("message") or err.get("Err") or err.get("Op") or "unreadable"
        else:
            reason = err or "unreadable"
        self.emit(FileWarning(str(msg.get("item") or ""), str(reason)))

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
