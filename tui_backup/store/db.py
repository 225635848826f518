"""The history database's old address, kept so existing imports work.

The code lives in store/history.py (queries and commands, the fallback merged
in), store/journal.py (the fallback), store/sqlite_file.py (the file) and
store/event_mapper.py / store/run_mapper.py (one record type each).
"""

from tui_backup.store.history import (
    DEFAULT_BUSY_TIMEOUT,
    DEFAULT_RETRY_INTERVAL,
    Database,
    ErrorMarks,
    ErrorStats,
)
from tui_backup.store.sqlite_file import DatabaseUnavailable

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "DEFAULT_RETRY_INTERVAL",
    "Database",
    "DatabaseUnavailable",
    "ErrorMarks",
    "ErrorStats",
]
