"""``tui-backup`` with no command: open the TUI on the home directory."""

from __future__ import annotations

import argparse

from tui_backup.cli.context import CliContext
from tui_backup.cli.tui_log import log_to_file


def open_tui(args: argparse.Namespace, ctx: CliContext) -> int:
    # textual (~0.3 s of imports) is loaded only when the TUI opens, never for a command.
    from tui_backup.tui.app import run_app  # noqa: PLC0415

    log_to_file(ctx.home.root / "tui.log")
    return int(run_app(ctx.home))
