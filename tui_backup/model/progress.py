"""A point-in-time view of a run's progress, shared by engines, state and UI."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PHASES = ("scan", "copy", "commit", "prune", "restore", "verify")


@dataclass(frozen=True, slots=True)
class Progress:
    """Counters of a running operation; rate and ETA are derived by the emitter.

    ``files_total``/``bytes_total`` are 0 while still unknown. While
    ``counting`` is True they are what a scan running ahead of the copy has
    found so far (they only grow), so a first run shows files and bytes done,
    a rate and a running total from its first second instead of a flat 0 %;
    front ends show them as "found so far" and give no percentage or ETA
    until counting ends.
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
    counting: bool = False
    """True while the totals are still growing (scan not finished)."""

    @property
    def fraction(self) -> float | None:
        """Done share in [0, 1] by bytes, else by files; None when unknown.

        Unknown includes "still counting": a share of a total that is still
        growing would run backwards and promise an ETA it cannot keep.
        """
        if self.counting:
            return None
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
