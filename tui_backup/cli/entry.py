"""The process entry point: answers ``--version`` before importing the program.

``tui-backup --version`` is what scripts and package managers run to probe an
install, often in loops; it should cost about one bare interpreter start. The
full command line (argparse, the core, rich, yaml) costs ~0.1 s of imports, so
this module imports nothing of ours but the version string and hands every
other command line to :func:`tui_backup.cli.main.main`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tui_backup import __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tui-backup`` with ``argv`` (default: the process's arguments)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        sys.stdout.write(f"tui-backup {__version__}\n")
        return 0
    # The one lazy import that is this module's reason to exist: --version at interpreter speed.
    from tui_backup.cli.main import main as full_main  # noqa: PLC0415

    return full_main(args)
