"""A gated engine for TUI tests: runs stay ``running`` until the test opens the gate.

A mock only where a real engine cannot be steered: the snapshot engine on a
small tree finishes in milliseconds, too fast to look at a running card.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_backup.engines.api import RunOptions
from tui_backup.engines.events import Emit, Finished
from tui_backup.model.job import JobSpec
from tui_backup.model.progress import Progress
from tui_backup.model.status import Status


@dataclass
class Gate:
    opened: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)
    fail: str | None = None
    gate_file: Path | None = None


class GatedEngine:
    """Emits one progress event, waits for its job's gate, then finishes."""

    name = "snapshot"

    def __init__(self, gates: dict[str, Gate]) -> None:
        self.gates = gates

    def run(
        self,
        spec: JobSpec,
        cancel: threading.Event,
        emit: Emit,
        options: RunOptions | None = None,
    ) -> None:
        gate = self.gates.setdefault(spec.name, Gate())
        gate.started.set()
        emit(
            Progress(
                phase="copy",
                files_total=300,
                files_done=120,
                bytes_total=9_800_000,
                bytes_done=4_100_000,
                rate=2_000_000.0,
                eta_seconds=12,
            )
        )
        while not gate.opened.is_set():
            if gate.gate_file is not None and gate.gate_file.exists():
                break
            if cancel.wait(0.01):
                emit(Finished(Status.STOPPED, files=120))
                return
        if gate.fail:
            emit(Finished(Status.FAILED, error=gate.fail, error_type="test_failure"))
            return
        emit(Finished(Status.SUCCEEDED, files=300, bytes=9_800_000, snapshot_id="snap-1"))

    def __getattr__(self, operation: str) -> Any:
        """Everything but ``run`` is the real engine's: the core's snapshot door goes
        through this factory too, and browsing, restore and verify are tested for real."""
        if operation.startswith("_"):
            raise AttributeError(operation)
        from tui_backup.engines.registry import get_engine

        return getattr(get_engine(self.name), operation)


def factory(gates: dict[str, Gate]) -> Callable[[str], GatedEngine]:
    engine = GatedEngine(gates)
    return lambda _name: engine
