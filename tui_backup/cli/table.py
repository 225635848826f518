"""Tables for listing commands: rich on a terminal, plain aligned text in a pipe.

A pipe gets plain columns (no colour, no box characters, nothing truncated)
so that ``grep``/``awk`` work; a person at a terminal gets a rich table.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime

from tui_backup.model.clock import from_iso
from tui_backup.model.text import printable
from tui_backup.model.units import human_bytes


def humanize_bytes(n: int | None) -> str:
    """``1.5 MB`` for tables (``-`` when unknown); JSON always carries the exact number."""
    return "-" if n is None else human_bytes(n)


def local_time(when: datetime | str | None, missing: str = "-") -> str:
    """``2026-11-30 15:04:05 CET``: a time for a person, in the machine's zone.

    Schedules are cron lines in local time, so a table that showed UTC beside
    them ("next run 01:00Z" for "0 2 * * *") made every reader convert. JSON
    keeps ISO 8601 in UTC, which is what scripts compare.
    """
    parsed = from_iso(when) if isinstance(when, str) else when
    if parsed is None:
        return missing
    return parsed.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def render(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    tty: bool | None = None,
    title: str | None = None,
) -> None:
    """Print ``rows`` under ``headers`` on stdout.

    Cells hold names, paths and messages from files: their terminal controls
    are escaped, and on a terminal rich's ``[markup]`` in them is shown as
    text (a file named ``[red]x`` must not colour the table).
    """
    rows = [[printable(cell) for cell in row] for row in rows]
    if tty is None:
        tty = sys.stdout.isatty()
    if tty:
        # rich (~50 ms of imports) only for a person at a terminal, not for pipes.
        from rich.console import Console  # noqa: PLC0415
        from rich.markup import escape  # noqa: PLC0415
        from rich.table import Table  # noqa: PLC0415

        table = Table(title=title, header_style="bold", show_edge=False, pad_edge=False)
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        Console(highlight=False).print(table)
        return
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))
    lines = [headers, *rows]
    for line in lines:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])]
        sys.stdout.write("  ".join([*cells, line[-1]]).rstrip() + "\n")
