"""The ``tui-backup`` command: argparse front end over the core.

Each command group lives in its own module with a ``register(sub)`` function;
handlers take ``(args, ctx)`` and return an exit code (see ``exit_codes``).
With no command, the TUI opens.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from tui_backup import __version__
from tui_backup.cli import exit_codes
from tui_backup.cli.context import CliContext
from tui_backup.cli.tui_cmd import open_tui
from tui_backup.core import errors
from tui_backup.core.home import HOME_ENV, Home

log = logging.getLogger("tui_backup")

COMMANDS = {
    "job": "tui_backup.cli.jobs",
    "errors": "tui_backup.cli.errors_cmd",
    "run": "tui_backup.cli.run_cmd",
    "stop": "tui_backup.cli.run_cmd",
    "history": "tui_backup.cli.run_cmd",
    "snapshots": "tui_backup.cli.snapshots",
    "restore": "tui_backup.cli.snapshots",
    "verify": "tui_backup.cli.snapshots",
    "forget": "tui_backup.cli.snapshots",
    "init": "tui_backup.cli.snapshots",
    "daemon": "tui_backup.cli.daemon_cmd",
    "health": "tui_backup.cli.daemon_cmd",
    "demo": "tui_backup.cli.demo",
}
"""Each command and the module that registers it (tests check this table is complete)."""
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))


def common_options() -> argparse.ArgumentParser:
    """Options accepted both before and after the command name."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--home",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help=f"the tui-backup home directory (default: ${HOME_ENV} or the user data dir)",
    )
    parent.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more log output on stderr (-vv for debug)",
    )
    return parent


def command_word(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (skipping the common options), if any."""
    args = iter(argv)
    for arg in args:
        if arg == "--home":
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser, or only the named command's part of it.

    Importing a command module imports what its handlers need; a cron line
    running ``tui-backup run JOB`` should not pay for the daemon's, the
    restore's and the demo's imports. Without a known command word (``--help``,
    a typo) every module is registered, so help and errors list them all.
    """
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="tui-backup",
        description="A keyboard-driven terminal backup manager. "
        "Run without a command to open the TUI.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"tui-backup {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.common = common  # type: ignore[attr-defined]  # for modules' sub-parsers
    word = command_word(argv) if argv is not None else None
    modules = (COMMANDS[word],) if word in COMMANDS else COMMAND_MODULES
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # a command group not built yet
            raise
        module.register(sub)
    return parser


def add_parser(
    sub: argparse._SubParsersAction, name: str, help_text: str, *, json_flag: bool = False
) -> argparse.ArgumentParser:
    """A sub-command parser with the common options (and ``--json`` when it lists)."""
    parser = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        parents=[sub.common],  # type: ignore[attr-defined]
    )
    if json_flag:
        parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
    return parser


def configure_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * verbosity
    logging.basicConfig(
        level=max(level, logging.DEBUG),
        format="tui-backup: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    configure_logging(getattr(args, "verbose", 0) or 0)
    home = Home.resolve(getattr(args, "home", None) or os.environ.get(HOME_ENV))
    ctx = CliContext(args=args, home=home)
    handler = getattr(args, "func", None)
    if handler is None:
        if args.command is not None:
            parser.parse_args([args.command, "--help"])
        handler = open_tui
    try:
        return int(handler(args, ctx))
    except KeyboardInterrupt:
        ctx.err("interrupted")
        return exit_codes.INTERRUPTED
    except BrokenPipeError:
        # `tui-backup job list --json | head`: the reader left, which is not an
        # error. Point stdout at /dev/null so the final flush stays quiet too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return exit_codes.OK
    except Exception as exc:  # noqa: BLE001 - every failure becomes one readable line
        return report(ctx, exc)
    finally:
        try:
            ctx.close()
        except Exception:
            log.debug("closing failed", exc_info=True)


def report(ctx: CliContext, exc: BaseException) -> int:
    """Print ``exc`` for a person and choose the exit code."""
    if isinstance(exc, errors.ValidationError):
        for problem in exc.problems:
            ctx.err(f"error: {problem}")
        return exit_codes.USAGE
    if isinstance(exc, errors.AlreadyRunning):
        ctx.err(f"error: {exc}")
        return exit_codes.ALREADY_RUNNING
    if isinstance(exc, errors.JobNotFound | errors.JobExists):
        ctx.err(f"error: {exc}")
        return exit_codes.USAGE
    if isinstance(exc, errors.StoreError | errors.OperationFailed | OSError):
        ctx.err(f"error: {exc}")
        return exit_codes.FAILED
    log.debug("unexpected error", exc_info=True)
    ctx.err(f"error: {type(exc).__name__}: {exc} (run with -vv for details)")
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        traceback.print_exception(exc)
    return exit_codes.FAILED


if __name__ == "__main__":
    sys.exit(main())
