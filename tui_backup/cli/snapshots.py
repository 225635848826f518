"""``tui-backup snapshots|restore|verify|forget``: a job's snapshots, from the command line.

Data goes to stdout (a table, or JSON with ``--json``), messages and
progress to stderr: a rich bar on a terminal, a plain line per second
otherwise. Exit codes: 0 done, 1 failed (verify found damage, restore could
not write), 2 bad input (unknown job or snapshot, a path escaping the
snapshot, no retention policy), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tui_backup.cli import exit_codes, main
from tui_backup.cli.context import CliContext
from tui_backup.cli.table import humanize_bytes
from tui_backup.core import snapshots as ops
from tui_backup.core.events import EngineEvent, FileWarning
from tui_backup.model.clock import to_iso
from tui_backup.model.progress import Progress

USAGE_ERRORS = frozenset(
    {"invalid_path", "snapshot_not_found", "no_snapshots", "no_policy", "invalid_target"}
)


class _IntermixedParser(argparse.ArgumentParser):
    """Parses positionals wherever they appear between options."""

    _inside = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def, override]
        if self._inside:  # parse_known_intermixed_args calls back into us
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


def register(sub: argparse._SubParsersAction) -> None:
    p = main.add_parser(
        sub, "snapshots", "a job's complete snapshots, newest first", json_flag=True
    )
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_snapshots)

    p = main.add_parser(sub, "restore", "restore a snapshot (or some paths of it) into DIR")
    p.add_argument("name", metavar="NAME")
    p.add_argument("paths", nargs="*", metavar="PATH", help="paths inside the snapshot")
    p.add_argument("--snapshot", default="latest", metavar="ID", help="snapshot id or 'latest'")
    p.add_argument("--target", required=True, metavar="DIR", help="directory to restore into")
    p.add_argument("--dry-run", action="store_true", help="list what would be restored")
    p.add_argument("--overwrite", action="store_true", help="replace files that exist in DIR")
    p.set_defaults(func=cmd_restore)
    # PATHs may follow the options (``restore NAME --target DIR a b``); plain argparse
    # binds all positionals at their first occurrence, the intermixed parser does not.
    p.__class__ = _IntermixedParser

    p = main.add_parser(sub, "verify", "re-hash snapshot files against their manifest")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--snapshot", default="latest", metavar="ID", help="an id, 'latest' or 'all'")
    p.set_defaults(func=cmd_verify)

    p = main.add_parser(sub, "forget", "apply the job's retention policy now", json_flag=True)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--dry-run", action="store_true", help="only show what would be removed")
    p.set_defaults(func=cmd_forget)


def _fail(ctx: CliContext, exc: ops.SnapshotOperationFailed) -> int:
    ctx.err(f"error: {exc}")
    return exit_codes.USAGE if exc.error_type in USAGE_ERRORS else exit_codes.FAILED


# -- progress ------------------------------------------------------------------


@contextmanager
def _progress(ctx: CliContext, label: str) -> Iterator[Any]:
    """An ``emit`` for engines: rich bar on a terminal, plain lines once a second otherwise."""
    if sys.stdout.isatty() and sys.stderr.isatty():
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as Bar

        bar = Bar(
            TextColumn(f"{label} {{task.fields[files]}}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            transient=True,
        )
        task = bar.add_task(label, total=None, files="")

        def emit_rich(event: EngineEvent) -> None:
            if isinstance(event, Progress):
                bar.update(
                    task,
                    completed=event.bytes_done,
                    total=event.bytes_total or None,
                    files=f"{event.files_done}/{event.files_total or '?'} files",
                )
            elif isinstance(event, FileWarning):
                bar.console.print(f"warning: {event.path}: {event.reason}", style="yellow")

        with bar:
            yield emit_rich
        return
    last = [0.0]

    def emit_plain(event: EngineEvent) -> None:
        if isinstance(event, FileWarning):
            ctx.err(f"warning: {event.path}: {event.reason}")
        elif isinstance(event, Progress) and time.monotonic() - last[0] >= 1.0:
            last[0] = time.monotonic()
            total = f"/{event.files_total}" if event.files_total else ""
            ctx.err(
                f"{label}: {event.files_done}{total} files, {humanize_bytes(event.bytes_done)}"
                f", {humanize_bytes(int(event.rate))}/s"
            )

    yield emit_plain


# -- commands ------------------------------------------------------------------


def cmd_snapshots(args: argparse.Namespace, ctx: CliContext) -> int:
    spec = ctx.manager.get_spec(args.name)
    try:
        found = ops.list_snapshots(spec)
    except ops.SnapshotOperationFailed as exc:
        return _fail(ctx, exc)
    if ctx.json:
        ctx.emit_json([s.to_json() for s in found])
        return exit_codes.OK
    if not found:
        ctx.err(f"job {spec.name!r} has no snapshots yet")
        return exit_codes.OK
    ctx.out(f"{'ID':<22} {'TIME':<21} {'FILES':>9} {'SIZE':>10}")
    for s in found:
        ctx.out(f"{s.id:<22} {to_iso(s.time):<21} {s.files:>9} {humanize_bytes(s.bytes):>10}")
    return exit_codes.OK


def cmd_restore(args: argparse.Namespace, ctx: CliContext) -> int:
    ctx.manager.get_spec(args.name)  # an unknown job is bad input (exit 2), not a failure
    cancel = threading.Event()
    try:
        with _progress(ctx, "restore") as emit:
            report = ctx.manager.restore(
                args.name,
                args.target,
                snapshot=args.snapshot,
                paths=args.paths,
                dry_run=args.dry_run,
                overwrite=args.overwrite,
                cancel=cancel,
                emit=emit,
            )
    except ops.SnapshotOperationFailed as exc:
        return _fail(ctx, exc)
    except KeyboardInterrupt:
        cancel.set()
        ctx.err("interrupted")
        return exit_codes.INTERRUPTED
    if args.dry_run:
        for path in report.planned:
            ctx.out(path)
        ctx.err(
            f"dry run: would restore {report.files} files ({humanize_bytes(report.bytes)}) "
            f"from {report.snapshot_id} into {report.target}"
        )
    else:
        ctx.err(
            f"restored {report.files} files ({humanize_bytes(report.bytes)}) from "
            f"{report.snapshot_id} into {report.target}"
            + (f", {report.warnings} warnings" if report.warnings else "")
        )
    return exit_codes.OK


def cmd_verify(args: argparse.Namespace, ctx: CliContext) -> int:
    manager = ctx.manager
    spec = manager.get_spec(args.name)
    snapshot = None if args.snapshot == "all" else args.snapshot
    try:
        with _progress(ctx, "verify") as emit:
            report = ops.verify(spec, snapshot, record_error=manager.record_error, emit=emit)
    except ops.SnapshotOperationFailed as exc:
        return _fail(ctx, exc)
    for problem in report.problems:
        ctx.out(f"{problem.snapshot_id}\t{problem.path or '(manifest)'}\t{problem.reason}")
    if report.ok:
        ctx.err(
            f"ok: {len(report.snapshots)} snapshot(s), {report.files_checked} files "
            f"({humanize_bytes(report.bytes_checked)}) match their manifests"
        )
        return exit_codes.OK
    ctx.err(f"error: verify found {len(report.problems)} problem(s) in {spec.name}")
    return exit_codes.FAILED


def cmd_forget(args: argparse.Namespace, ctx: CliContext) -> int:
    spec = ctx.manager.get_spec(args.name)
    try:
        decisions = ops.forget(spec, dry_run=args.dry_run)
    except ops.SnapshotOperationFailed as exc:
        return _fail(ctx, exc)
    if ctx.json:
        ctx.emit_json(
            [
                {
                    "id": d.snapshot_id,
                    "time": to_iso(d.time),
                    "keep": d.keep,
                    "reasons": list(d.reasons),
                }
                for d in decisions
            ]
        )
    else:
        for d in decisions:
            action = "keep" if d.keep else ("would remove" if args.dry_run else "removed")
            ctx.out(f"{d.snapshot_id:<22} {action:<12} {', '.join(d.reasons)}")
    removed = sum(not d.keep for d in decisions)
    verb = "would remove" if args.dry_run else "removed"
    ctx.err(f"{spec.name}: {verb} {removed} of {len(decisions)} snapshot(s)")
    return exit_codes.OK
