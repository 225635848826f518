"""The fallback journal: what the history could not store yet, kept until it can.

While SQLite cannot be written (locked past the timeout, read-only, corrupt,
on a full disk) every write becomes an *entry* (``{"kind": "error" | "run" |
"resolve", ...}``), kept in this process's memory and appended as one JSON
line to ``events-fallback.jsonl``. :meth:`Journal.replay` later hands every
entry to the database in one transaction and removes what it replayed.

Several processes share the file: an append and a replay both hold the
journal's lock, so a replay never deletes a line it did not read. Entries are
idempotent (events by uid, runs by run id), so a replay interrupted half-way,
or two processes replaying the same lines, does no harm. A line the database
refuses is moved to ``events-fallback.rejected.jsonl`` for a person, never
dropped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui_backup.store.errors import LockTimeout
from tui_backup.store.locking import file_lock
from tui_backup.store.paths import DIR_MODE, FILE_MODE

log = logging.getLogger(__name__)

Entry = dict[str, Any]
Apply = Callable[[list[Entry]], list[Entry]]
"""Writes entries to the database in one transaction; returns the ones it refused.
Raises when the database cannot be written (then nothing is removed)."""


class Journal:
    """The JSONL fallback and this process's in-memory copy of what it spilled."""

    def __init__(self, path: Path, lock_timeout: float) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self._buffer: list[Entry] = []
        self._mutex = threading.Lock()
        self._failing: str | None = None
        """The error of the current streak of failed appends (logged once), else None."""

    @property
    def rejected_path(self) -> Path:
        """Entries SQLite refused (kept for a person, never dropped)."""
        return self.path.with_name(self.path.stem + ".rejected.jsonl")

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def has_pending(self) -> bool:
        """True when something may be waiting (in memory or in the file)."""
        with self._mutex:
            buffered = bool(self._buffer)
        return buffered or self.path.exists()

    def buffered(self) -> list[Entry]:
        """This process's entries not replayed yet."""
        with self._mutex:
            return list(self._buffer)

    def spill(self, entry: Entry) -> None:
        """Keep ``entry`` in memory and append it to the file.

        If the lock cannot be had, append anyway: the in-memory copy still
        covers this process. A file that cannot be written (a full home) is
        logged once per streak of failures, and once when appends work again:
        a full home spills on every error event, and a line per spill would
        flood the log with the same Errno 28.
        """
        with self._mutex:
            self._buffer.append(entry)
        line = json.dumps(entry, default=str) + "\n"
        try:
            try:
                with file_lock(self.lock_path, self.lock_timeout + 1, what="the fallback log"):
                    _append_line(self.path, line)
            except LockTimeout:
                _append_line(self.path, line)
        except OSError as exc:
            self._append_failed(exc)
            return
        self._append_worked()

    def _append_failed(self, exc: OSError) -> None:
        with self._mutex:
            first, self._failing = self._failing is None, str(exc)
        if first:
            log.error(
                "cannot write the fallback log %s either: %s (kept in memory; said once "
                "until it can be written again)",
                self.path,
                exc,
            )

    def _append_worked(self) -> None:
        with self._mutex:
            was, self._failing = self._failing, None
        if was is not None:
            log.warning("the fallback log %s can be written again (it failed: %s)", self.path, was)

    def pending(self) -> list[Entry]:
        """Every entry waiting: the file's, then this process's not in it."""
        entries = _read_jsonl(self.path)
        buffered = self.buffered()
        entries.extend(e for e in buffered if e not in entries)
        return entries

    def replay(self, apply: Apply) -> int:
        """Hand every waiting entry to ``apply``; remove them once it succeeded.

        Returns how many were written. Raises what ``apply`` or the lock raise
        (LockTimeout, sqlite3.Error, ...): then everything stays waiting.
        """
        with file_lock(self.lock_path, timeout=self.lock_timeout, what="the fallback log"):
            entries = _read_jsonl(self.path)
            buffered = self.buffered()
            entries.extend(e for e in buffered if e not in entries)
            if not entries:
                return 0
            rejected = apply(entries)
            for entry in rejected:
                with contextlib.suppress(OSError):
                    _append_line(self.rejected_path, json.dumps(entry, default=str) + "\n")
            with self._mutex:
                self._buffer = [e for e in self._buffer if e not in buffered]
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        return len(entries) - len(rejected)


def _read_jsonl(path: Path) -> list[Entry]:
    """The entries of a JSONL file; a torn last line (crash mid-append) is skipped."""
    entries: list[Entry] = []
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(line)
                if isinstance(value, dict):
                    entries.append(value)
    return entries


def _append_line(path: Path, line: str) -> None:
    """Append and fsync one line, never through a link planted at ``path``."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
