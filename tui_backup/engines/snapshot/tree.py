"""Removing snapshot trees, even ones with read-only directories.

A snapshot keeps the source's directory modes, so as an ordinary user a copy
of a ``0555`` directory cannot be emptied until it is made writable again.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def remove_tree(path: str) -> None:
    """``rm -rf path`` that fixes directory permissions it trips over; never follows links."""

    def retry(func: Callable[..., Any], failed: str, exc_info: Any) -> None:
        parent = os.path.dirname(failed)
        try:
            os.chmod(parent, stat.S_IRWXU)
            if func in (os.rmdir, os.unlink) or os.path.isdir(failed):
                os.chmod(failed, stat.S_IRWXU) if os.path.isdir(failed) else None
            func(failed)
        except FileNotFoundError:
            pass
        except OSError:
            # scandir on an unreadable directory: open it up and restart on it.
            try:
                os.chmod(failed, stat.S_IRWXU)
                shutil.rmtree(failed, onerror=retry)
            except FileNotFoundError:
                pass

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    shutil.rmtree(path, onerror=retry)
