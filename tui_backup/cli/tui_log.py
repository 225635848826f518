"""While the TUI owns the terminal, log lines go to a file in the home.

A log line written to stderr lands in the middle of the TUI's screen (seen
with 2,000 jobs: warnings printed over the cards). The TUI shows what matters
in its error pane; the log keeps the rest in ``<home>/tui.log``, private
(0600) and bounded (1 MB, one old file kept).
"""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

MAX_BYTES = 1_000_000
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A rotating log whose files are created 0600 whatever the umask."""

    def _open(self):  # type: ignore[no-untyped-def]  # stdlib's signature
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding or "utf-8", errors=self.errors)


def log_to_file(path: Path) -> logging.Handler:
    """Send the root logger's output to ``path`` instead of the terminal."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        stream = getattr(handler, "stream", None)
        if stream in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__):
            root.removeHandler(handler)
    handler = PrivateRotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=1)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    return handler
