"""Opening a job's destination: local or remote, created only when a run or init asks."""

from __future__ import annotations

import os

from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.common import check_local_parent
from tui_backup.engines.rsync.local import LocalStore
from tui_backup.engines.rsync.location import Location, SshSettings
from tui_backup.engines.rsync.remote import RemoteStore
from tui_backup.engines.rsync.store import Store


def open_store(
    destination: str, ssh: SshSettings | None, *, create: bool, summaries: bool = False
) -> Store:
    """The destination of a job; with ``create`` (a run, ``init``) it is made if missing.

    A local destination whose parent is missing is refused (an unmounted disk);
    the same holds remotely (``test -d`` on the parent, never ``mkdir -p``).
    """
    loc = Location.parse(destination)
    if loc.host is None:
        if create:
            check_local_parent(loc.path)
            try:
                os.makedirs(loc.path, exist_ok=True)
            except OSError as exc:
                raise EngineError(
                    f"cannot create the destination {loc.path}: {exc.strerror}",
                    ErrorType.DESTINATION_UNWRITABLE,
                ) from exc
        return LocalStore(loc.path)
    assert ssh is not None
    return RemoteStore.open(loc, ssh, create=create, summaries=summaries)
