"""``tui-backup`` with no command: open the TUI on the home directory."""

from __future__ import annotations

import argparse

from tui_backup.cli import exit_codes
from tui_backup.cli.context import CliContext
from tui_backup.cli.tui_log import log_to_file


def open_tui(args: argparse.Namespace, ctx: CliContext) -> int:
    try:
        from tui_backup.tui.app import run_app
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("tui_backup.tui"):
            ctx.err("the TUI is not built yet; see `tui-backup --help` for the commands")
            return exit_codes.FAILED
        raise
    log_to_file(ctx.home.root / "tui.log")
    return int(run_app(ctx.home))
