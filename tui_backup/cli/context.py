"""What every command handler gets: parsed args, the home, output helpers, the manager."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tui_backup.core.home import Home
from tui_backup.model.secrets import mask_url, redact
from tui_backup.model.text import printable

if TYPE_CHECKING:
    from rich.console import Console

    from tui_backup.core.manager import JobManager


@dataclass
class CliContext:
    args: argparse.Namespace
    home: Home
    runner: str = "cli"
    _manager: JobManager | None = field(default=None, repr=False)

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @property
    def manager(self) -> JobManager:
        """Opened on first use, so ``--version`` and ``--help`` stay instant."""
        if self._manager is None:
            # --help and the demo's set-up need no manager: ~60 ms of start-up saved.
            from tui_backup.core.manager import JobManager  # noqa: PLC0415

            self._manager = self._make_manager(JobManager)
        return self._manager

    def _make_manager(self, cls: Any) -> JobManager:
        return cls(self.home, runner=self.runner)

    def close(self) -> None:
        if self._manager is not None:
            close = getattr(self._manager, "shutdown", None) or self._manager.close
            close()

    # -- output --------------------------------------------------------------

    def out(self, text: str = "") -> None:
        """A line of data on stdout, terminal controls escaped (names and paths come from files)."""
        sys.stdout.write(printable(text, multiline=True) + "\n")

    def out_fields(self, *fields: str) -> None:
        """A tab-separated line of data (for ``cut -f``): each field escaped, the tabs kept."""
        sys.stdout.write("\t".join(printable(f) for f in fields) + "\n")

    def err(self, text: str) -> None:
        """A message for the person, on stderr (a URL's password shown as ``***``)."""
        sys.stderr.write(printable(mask_url(text), multiline=True).rstrip("\n") + "\n")

    def emit_json(self, data: Any) -> None:
        """``data`` as JSON on stdout, secrets masked (:func:`redact`)."""
        json.dump(redact(data), sys.stdout, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write("\n")

    def console(self) -> Console:
        from rich.console import Console  # noqa: PLC0415 - rich only on a terminal

        return Console(highlight=False)
