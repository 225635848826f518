"""Validation problems that name the file and the field, reported all at once.

A user who hand-edits a job wants every mistake listed in one go, not one per
attempt, so validators collect :class:`Problem` values instead of raising at
the first one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one field of one file."""

    source: str
    """The file, as a person would name it (``jobs/web.yaml``); empty if none."""
    field: str
    """The dotted field (``retention.keep_daily``, ``sources[1]``); empty for the whole file."""
    message: str

    @property
    def file(self) -> str:
        """Alias of ``source``: the brief and the docs call it the file."""
        return self.source

    def __str__(self) -> str:
        prefix = f"{self.source}: " if self.source else ""
        field = f"{self.field}: " if self.field else ""
        return f"{prefix}{field}{self.message}"


class ValidationError(ValueError):
    """Raised with every problem found; ``str()`` lists them one per line."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
