"""The SQLite file of a home: opened private and in WAL mode, migrated forward,
reopened when another process replaced it, and replaced when it is corrupt.

A corrupt database is moved aside (``*.corrupt-<time>``, with its ``-wal`` and
``-shm``), a fresh one is created, and the new one's first row says so (an
error event), so nobody wonders where the history went.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from tui_backup.model.records import ErrorEvent
from tui_backup.model.status import Severity
from tui_backup.store import event_mapper
from tui_backup.store.atomic import quarantine
from tui_backup.store.paths import DIR_MODE, FILE_MODE, tighten
from tui_backup.store.schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""


class DatabaseUnavailable(Exception):
    """Raised internally when SQLite cannot serve a request."""


class SqliteFile:
    """One shared connection to ``path``, guarded by :attr:`lock` (thread-safe)."""

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._conn_ino: int | None = None
        self._wal_ino: int | None = None
        self._notices: list[ErrorEvent] = []

    def close(self) -> None:
        with self.lock:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """The open connection, opening (or replacing a corrupt file) as needed."""
        with self.lock:
            if self._conn is not None:
                why = self._tampered()
                if why:
                    # Writing on through the old handle would write into a file no one
                    # will read again: reopen (a corrupt file is then moved aside and
                    # a new one started, and the write goes there). A new -wal is also
                    # what every other process's last close leaves (SQLite deletes the
                    # WAL when it closes between our transactions; a TUI's reads do so
                    # several times a second), so this is routine: debug, not info.
                    log.debug("%s %s; reopening it", self.path, why)
                    self.close()
            if self._conn is None:
                try:
                    self._conn = self._open()
                except sqlite3.DatabaseError as exc:
                    if not is_corrupt(exc):
                        raise
                    self._replace_corrupt(exc)
                    self._conn = self._open()
                self._insert_notices(self._conn)
            try:
                yield self._conn
            except sqlite3.DatabaseError as exc:
                if is_corrupt(exc):
                    self._replace_corrupt(exc)
                raise

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        # Create the file ourselves, 0600: SQLite gives its -wal and -shm files
        # the main file's mode, and they hold the same data.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        tighten(self.path)  # one made by an older version, or by hand
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            if version < SCHEMA_VERSION:
                _migrate(conn)
            elif version > SCHEMA_VERSION:
                raise DatabaseUnavailable(
                    f"{self.path} has schema version {version}, newer than this tui-backup "
                    f"understands ({SCHEMA_VERSION}); upgrade tui-backup"
                )
        except BaseException:
            conn.close()
            raise
        self._conn_ino = _inode(self.path)
        self._wal_ino = _inode(self._wal)
        return conn

    @property
    def _wal(self) -> Path:
        return Path(str(self.path) + "-wal")

    def _tampered(self) -> str | None:
        """Why the open connection no longer writes where readers look, if it does not.

        Another process may have moved a corrupt file aside (a new inode), or
        someone overwrote the file in place and deleted its ``-wal``: SQLite
        would go on writing into the unlinked WAL it holds, and a run's final
        record would be lost with it (issue 12). Checked before every use:
        a stat of each file and a 16-byte read of the header.
        """
        if _inode(self.path) != self._conn_ino:
            return "was replaced"
        wal = _inode(self._wal)
        if self._wal_ino is None:
            self._wal_ino = wal  # created by the first transaction after the open
        elif wal != self._wal_ino:
            return "lost its write-ahead log"
        try:
            with open(self.path, "rb") as fh:
                header = fh.read(16)
        except OSError:
            return "cannot be read"
        if header and header != SQLITE_HEADER:
            return "was overwritten"
        return None

    def _replace_corrupt(self, exc: Exception) -> None:
        self.close()
        kept: list[str] = []
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                kept.append(quarantine(p).name)
        log.error(
            "database %s is corrupt (%s); kept as %s, starting a new one",
            self.path,
            exc,
            ", ".join(kept),
        )
        self._notices.append(
            ErrorEvent(
                severity=Severity.HIGH,
                component="database",
                error_type="database_corrupt",
                message=f"{self.path.name} was corrupt ({exc}); it was kept as "
                f"{kept[0] if kept else '?'} and a new database was started",
            )
        )

    def _insert_notices(self, conn: sqlite3.Connection) -> None:
        """Record what happened to the previous database file in the new one."""
        while self._notices:
            try:
                event_mapper.insert(conn, self._notices[0])
            except sqlite3.Error:
                log.debug("could not record the database notice yet", exc_info=True)
                return
            self._notices.pop(0)


def _migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations not applied yet, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        for number in range(current, SCHEMA_VERSION):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def fetch_rows(conn: sqlite3.Connection, sql: str, args: list[object]) -> list[sqlite3.Row]:
    """``conn.execute(sql, args)`` as rows addressable by column name."""
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.row_factory = None
