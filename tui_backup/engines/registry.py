"""The only module that knows the concrete engines.

Front ends and the core name an engine by the job's ``engine`` field and get
an object that speaks :class:`~tui_backup.engines.api.Engine`; nothing
outside this module imports ``snapshot``, ``rsync`` or ``restic`` directly,
and no module outside it compares ``spec.engine`` with a name. Engines are
imported lazily: a run of one engine does not load the others.
"""

from __future__ import annotations

from tui_backup.engines.api import Capabilities, Engine, EngineError, ErrorType
from tui_backup.model.job import ENGINES, JobSpec

ENGINE_NAMES: tuple[str, ...] = ENGINES


def get_engine(name: str) -> Engine:
    """A fresh engine object for a job's ``engine`` field.

    Each engine package is imported on first use: a process that runs only
    snapshot jobs never loads the rsync and restic wrappers (and ``job list``
    loads none).
    """
    if name == "snapshot":
        from tui_backup.engines.snapshot import SnapshotEngine  # noqa: PLC0415 - see get_engine

        return SnapshotEngine()
    if name == "rsync":
        from tui_backup.engines.rsync import RsyncEngine  # noqa: PLC0415 - see get_engine

        return RsyncEngine()
    if name == "restic":
        from tui_backup.engines.restic import ResticEngine  # noqa: PLC0415 - see get_engine

        return ResticEngine()
    raise EngineError(f"unknown engine {name!r}", ErrorType.UNKNOWN_ENGINE)


def capabilities(spec: JobSpec) -> Capabilities:
    """What the job's engine can do for it (front ends hide what it cannot)."""
    return get_engine(spec.engine).capabilities(spec)
