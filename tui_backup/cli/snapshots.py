"""``tui-backup snapshots|restore|verify|forget|init``: a job's snapshots, from the command line.

Every operation goes through the core's one door (``manager.snapshots``),
so the CLI never asks which engine a job uses. Data goes to stdout (a
table, or JSON with ``--json``), messages and progress to stderr: a rich bar
on a terminal, a plain line per second otherwise. Exit codes (docs/cli.md):
0 done (verify: ``ok``), 1 failed (verify: ``damaged`` or ``unchecked``, a
restore that could not write, an engine refusal), 2 bad input (unknown job or
snapshot, a path not in the snapshot or escaping it, a non-empty target
without ``--overwrite``, no retention policy), 3 the job is running,
130 interrupted.
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
from tui_backup.cli.table import humanize_bytes, local_time
from tui_backup.core.events import EngineEvent, FileWarning
from tui_backup.core.reports import verify_sentence
from tui_backup.core.snapshots import BAD_INPUT, SnapshotOperationFailed, VerifyReport
from tui_backup.model.clock import to_iso
from tui_backup.model.progress import Progress
from tui_backup.model.text import printable

JOB_RUNNING = "job_running"


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
    p.add_argument(
        "--dry-run", action="store_true", help="list what would be restored; write nothing"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="restore into a non-empty DIR, replacing files that exist there",
    )
    p.set_defaults(func=cmd_restore)
    # PATHs may follow the options (``restore NAME --target DIR a b``); plain argparse
    # binds all positionals at their first occurrence, the intermixed parser does not.
    p.__class__ = _IntermixedParser

    p = main.add_parser(
        sub, "verify", "check a job's snapshots and say what was read", json_flag=True
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--snapshot", default="latest", metavar="ID", help="an id, 'latest' or 'all'")
    p.add_argument(
        "--deep",
        action="store_true",
        help="also compare with the source, byte for byte (engines that can)",
    )
    p.set_defaults(func=cmd_verify)

    p = main.add_parser(sub, "forget", "apply the job's retention policy now", json_flag=True)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--dry-run", action="store_true", help="only show what would be removed")
    p.set_defaults(func=cmd_forget)

    p = main.add_parser(
        sub,
        "init",
        "create the job's destination (restic: the repository) before its first run",
        json_flag=True,
    )
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_init)


def _fail(ctx: CliContext, exc: SnapshotOperationFailed) -> int:
    ctx.err(f"error: {exc}")
    if exc.error_type == JOB_RUNNING:
        return exit_codes.ALREADY_RUNNING
    return exit_codes.USAGE if exc.error_type in BAD_INPUT else exit_codes.FAILED


def _unknown(value: int | None, text: str) -> str:
    """``unknown`` where an engine cannot know a count (never a fake 0)."""
    return "unknown" if value is None else text


# -- progress ------------------------------------------------------------------


@contextmanager
def _progress(ctx: CliContext, label: str) -> Iterator[Any]:
    """An ``emit`` for engines: rich bar on a terminal, plain lines once a second otherwise."""
    if sys.stdout.isatty() and sys.stderr.isatty():
        # rich (~50 ms of imports) only for a person at a terminal, not for pipes and cron.
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as Bar  # noqa: PLC0415

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
                bar.console.print(
                    f"warning: {printable(event.path)}: {printable(event.reason, multiline=True)}",
                    style="yellow",
                    markup=False,
                )

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
        found = ctx.manager.snapshots.list(spec)
    except SnapshotOperationFailed as exc:
        return _fail(ctx, exc)
    if ctx.json:
        ctx.emit_json([s.to_json() for s in found])
        return exit_codes.OK
    if not found:
        ctx.err(f"job {spec.name!r} has no snapshots yet")
        return exit_codes.OK
    ctx.out(f"{'ID':<22} {'TIME':<23} {'FILES':>9} {'SIZE':>10}")
    for s in found:
        files = _unknown(s.files, str(s.files))
        size = _unknown(s.bytes, humanize_bytes(s.bytes or 0))
        ctx.out(f"{s.id:<22} {local_time(s.time):<23} {files:>9} {size:>10}")
    return exit_codes.OK


def cmd_restore(args: argparse.Namespace, ctx: CliContext) -> int:
    ctx.manager.get_spec(args.name)  # an unknown job is bad input (exit 2), not a failure
    cancel = threading.Event()
    try:
        with _progress(ctx, "restore") as emit:
            # Through the manager: the door restores, the manager keeps it in history.
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
    except SnapshotOperationFailed as exc:
        return _fail(ctx, exc)
    except KeyboardInterrupt:
        cancel.set()
        ctx.err("interrupted")
        return exit_codes.INTERRUPTED
    if args.dry_run:
        for path in report.planned:
            ctx.out(path)
    line = f"{report.summary()} from {report.snapshot_id}"
    if report.warnings:
        line += f", {report.warnings} warning" + "s" * (report.warnings != 1)
    ctx.err(("dry run: " if args.dry_run else "") + line)
    return exit_codes.OK


def verify_json(report: VerifyReport) -> dict[str, Any]:
    return {
        "outcome": report.outcome,
        "snapshots": list(report.snapshots),
        "files_checked": report.files_checked,
        "unit": report.unit,
        "bytes_checked": report.bytes_checked if report.bytes_known else None,
        "method": report.method,
        "unchecked": report.unchecked,
        "problems": [
            {"snapshot": p.snapshot_id, "path": p.path, "reason": p.reason} for p in report.problems
        ],
    }


def cmd_verify(args: argparse.Namespace, ctx: CliContext) -> int:
    manager = ctx.manager
    spec = manager.get_spec(args.name)
    cancel = threading.Event()
    try:
        if args.deep and not manager.snapshots.capabilities(spec).deep_verify:
            ctx.err(
                f"error: the {spec.engine} engine cannot compare a snapshot with the source "
                f"(--deep); run `tui-backup verify {spec.name}` for the check it has"
            )
            return exit_codes.USAGE
        with _progress(ctx, "verify") as emit:
            report = manager.snapshots.verify(
                spec, args.snapshot, deep=args.deep, cancel=cancel, emit=emit
            )
    except SnapshotOperationFailed as exc:
        return _fail(ctx, exc)
    except KeyboardInterrupt:
        cancel.set()
        ctx.err("interrupted")
        return exit_codes.INTERRUPTED
    if ctx.json:
        ctx.emit_json(verify_json(report))
    else:
        for problem in report.problems:
            ctx.out_fields(problem.snapshot_id, problem.path or "(manifest)", problem.reason)
    ctx.err(verify_sentence(report))
    # Only a check that read and found everything intact passes: "unchecked" is not ok.
    return exit_codes.OK if report.outcome == "ok" else exit_codes.FAILED


def cmd_forget(args: argparse.Namespace, ctx: CliContext) -> int:
    spec = ctx.manager.get_spec(args.name)
    try:
        decisions = ctx.manager.snapshots.forget(spec, dry_run=args.dry_run)
    except SnapshotOperationFailed as exc:
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


def cmd_init(args: argparse.Namespace, ctx: CliContext) -> int:
    spec = ctx.manager.get_spec(args.name)
    try:
        done = ctx.manager.snapshots.init(spec)
    except SnapshotOperationFailed as exc:
        return _fail(ctx, exc)
    if ctx.json:
        ctx.emit_json({"name": spec.name, "engine": spec.engine, "result": done})
    else:
        ctx.err(f"{spec.name}: {done}")
    return exit_codes.OK
