"""A point-in-time view of a run's progress, shared by engines, state and UI."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PHASES = ("scan", "copy", "commit", "prune", "restore", "verify")


@dataclass(frozen=True, slots=True)
class Progress:
    """Counters of a running operation; rate and ETA are derived by the emitter.

    ``files_total``/``bytes_total`` are 0 while still unknown (during a scan).
    """

    phase: str = "scan"
    files_total: int = 0
    files_done: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    current_path: str = ""
    warnings: int = 0
    rate: float = 0.0
    """Bytes per second over the recent window."""
    eta_seconds: float | None = None
    elapsed: float = 0.0

    @property
    def fraction(self) -> float | None:
        """Done share in [0, 1] by bytes, else by files; None when unknown."""
        if self.bytes_total > 0:
            return min(1.0, self.bytes_done / self.bytes_total)
        if self.files_total > 0:
            return min(1.0, self.files_done / self.files_total)
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Progress | None:
        if not isinstance(data, dict):
            return None
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        try:
            return cls(**known)
        except TypeError:
            return None
