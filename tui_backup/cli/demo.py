"""``tui-backup demo``: a demo home with sample files and three jobs, then the TUI.

The three jobs show every kind of card at once: ``documents`` runs (and
finishes quickly), ``photos`` waits for its nightly schedule, and
``old-laptop`` fails with a clear reason (its source disk is not mounted).
Running the command again refreshes the sample files and job definitions
and keeps the history, so it is safe to repeat.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tui_backup.cli import exit_codes
from tui_backup.cli.context import CliContext
from tui_backup.cli.main import add_parser
from tui_backup.cli.tui_log import log_to_file
from tui_backup.core.errors import JobNotFound
from tui_backup.core.home import Home
from tui_backup.core.manager import JobManager
from tui_backup.model.job import parse_job

if TYPE_CHECKING:
    from tui_backup.model.job import JobSpec

START_ON_OPEN = ("documents", "old-laptop")

DOCUMENTS = {
    "notes/todo.md": "# To do\n\n- renew the domain\n- test a restore of the photos\n",
    "notes/ideas.md": "# Ideas\n\nA backup that is never restored is only a hope.\n",
    "letters/2025-03-landlord.txt": "Dear Ms. Novak,\n\nthe heating works again.\n",
    "letters/2025-06-bank.txt": "Account statement request, June.\n",
    "recipes/bread.txt": "500 g flour, 350 g water, 10 g salt, 3 g yeast.\n",
    "recipes/soup.txt": "Leek, potato, stock, pepper. 40 minutes.\n",
    "taxes/2024/summary.csv": "month,income,expenses\n01,3100,2200\n02,3100,2350\n",
    "README.txt": "Sample files made by `tui-backup demo`. Edit them and run the job again.\n",
}


def default_demo_home() -> Path:
    """A per-user folder in the temp dir: never the real home, the same on every run."""
    return Path(tempfile.gettempdir()) / f"tui-backup-demo-{os.getuid()}"


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_parser(
        sub,
        "demo",
        "open the TUI on a demo home with sample files and three jobs "
        f"(default home: {default_demo_home()}; --home DIR to choose)",
    )
    parser.add_argument(
        "--no-open",
        action="store_true",
        help="only create the demo home and print its path (for scripts and tests)",
    )
    parser.set_defaults(func=run_demo)


def _write_samples(root: Path) -> None:
    docs = root / "sample" / "documents"
    for rel, text in DOCUMENTS.items():
        path = docs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(text, encoding="utf-8")
    photos = root / "sample" / "photos"
    rng = random.Random(20250101)
    for album in ("2024-summer", "2025-winter"):
        folder = photos / album
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(1, 7):
            path = folder / f"IMG_{i:04d}.jpg"
            if not path.exists():
                path.write_bytes(rng.randbytes(40_000 + 20_000 * i))


def demo_specs(root: Path) -> list[JobSpec]:
    sample = root / "sample"
    backups = root / "backups"
    raw = [
        {
            "name": "documents",
            "description": "runs quickly; press r to run it again",
            "sources": [str(sample / "documents")],
            "destination": str(backups / "documents"),
            "exclude": ["*.tmp"],
            "retention": {"keep_last": 5, "keep_daily": 7},
        },
        {
            "name": "photos",
            "description": "waits for its nightly schedule",
            "sources": [str(sample / "photos")],
            "destination": str(backups / "photos"),
            "schedule": "0 2 * * *",
            "retention": {"keep_daily": 14, "keep_weekly": 8, "keep_monthly": 12},
        },
        {
            "name": "old-laptop",
            "description": "fails: its source disk is not mounted",
            "sources": [str(root / "mnt" / "old-laptop" / "home")],
            "destination": str(backups / "old-laptop"),
            "retries": 0,
        },
    ]
    return [parse_job(data, f"jobs/{data['name']}.yaml") for data in raw]


def prepare_demo(home: Home, manager: JobManager) -> list[str]:
    """Create or refresh the demo; returns the job names. Safe to call repeatedly."""
    root = home.root
    _write_samples(root)
    (root / "backups").mkdir(exist_ok=True)
    names = []
    for spec in demo_specs(root):
        names.append(spec.name)
        try:
            current = manager.get_spec(spec.name)
        except JobNotFound:
            manager.create(spec)
            continue
        if replace(current, version=0) != replace(spec, version=0):
            manager.update(spec.with_version(current.version))
    return names


def run_demo(args: argparse.Namespace, ctx: CliContext) -> int:
    explicit = getattr(args, "home", None)
    home = Home.resolve(explicit) if explicit else Home.resolve(default_demo_home())
    manager = JobManager(home, runner="cli")
    try:
        prepare_demo(home, manager)
    finally:
        manager.shutdown()
    if args.no_open:
        ctx.out(str(home.root))
        return exit_codes.OK
    # textual is loaded only when the demo opens (`demo --no-open` prints its home).
    from tui_backup.tui.app import run_app  # noqa: PLC0415

    ctx.err(f"demo home: {home.root}")
    log_to_file(home.root / "tui.log")
    return int(run_app(home, start_jobs=START_ON_OPEN))
