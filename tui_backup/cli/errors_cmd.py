"""``tui-backup errors [resolve|show]``: the error log, from SQLite or its fallback.

Listing works even while the database is unavailable: events still waiting in
the fallback file are shown too, and a warning says so.
"""

from __future__ import annotations

import argparse

from tui_backup.cli import exit_codes, main
from tui_backup.cli.context import CliContext
from tui_backup.cli.table import local_time, render
from tui_backup.model.records import ErrorEvent
from tui_backup.model.status import Severity

SEVERITIES = [str(s) for s in Severity]


def _severity(text: str) -> str:
    value = text.upper()
    if value not in SEVERITIES:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(SEVERITIES)}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    errors = main.add_parser(sub, "errors", "the error log (newest first)", json_flag=True)
    errors.add_argument("--unresolved", action="store_true", help="only events not yet resolved")
    errors.add_argument("--job", metavar="NAME", help="only this job's events")
    errors.add_argument(
        "--severity", type=_severity, metavar="S", help="only LOW, MEDIUM, HIGH or CRITICAL"
    )
    errors.add_argument("--limit", type=_positive, default=50, metavar="N", help="at most N (50)")
    errors.set_defaults(func=cmd_list)
    actions = errors.add_subparsers(dest="errors_command", metavar="ACTION")
    actions.common = sub.common  # type: ignore[attr-defined]  # lets add_parser nest

    resolve = main.add_parser(actions, "resolve", "mark events resolved")
    resolve.add_argument("ids", metavar="ID", type=int, nargs="+")
    resolve.set_defaults(func=cmd_resolve)

    show = main.add_parser(actions, "show", "one event with its details", json_flag=True)
    show.add_argument("id", metavar="ID", type=int)
    show.set_defaults(func=cmd_show)


def _warn_degraded(ctx: CliContext) -> None:
    degraded = ctx.manager.degraded_database()
    if degraded is not None:
        reason, journal = degraded
        ctx.err(
            f"warning: the database is unavailable ({reason}); "
            f"events waiting in {journal} are shown too and will be written back"
        )


def cmd_list(args: argparse.Namespace, ctx: CliContext) -> int:
    events = ctx.manager.errors(
        unresolved=args.unresolved or None,
        job=args.job,
        severity=args.severity,
        limit=args.limit,
    )
    _warn_degraded(ctx)
    if ctx.json:
        ctx.emit_json([e.to_json() for e in events])
        return exit_codes.OK
    if not events:
        ctx.err("no error events" + (" unresolved" if args.unresolved else ""))
        return exit_codes.OK
    rows = [
        [
            str(e.id) if e.id is not None else "-",
            local_time(e.timestamp, ""),
            str(e.severity),
            "yes" if e.resolved else "no",
            e.job_name or "-",
            f"{e.component}/{e.error_type}",
            e.message,
        ]
        for e in events
    ]
    render(["ID", "TIME", "SEVERITY", "RESOLVED", "JOB", "WHERE", "MESSAGE"], rows)
    return exit_codes.OK


def cmd_resolve(args: argparse.Namespace, ctx: CliContext) -> int:
    code = exit_codes.OK
    for event_id in args.ids:
        if ctx.manager.resolve_error(event_id):
            ctx.err(f"resolved #{event_id}")
            continue
        if ctx.manager.degraded_database() is not None:
            ctx.err(
                f"#{event_id}: the database is unavailable; the resolution is kept "
                "and applied when it is back"
            )
            continue
        event = ctx.manager.error(event_id)
        if event is None:
            ctx.err(f"error: no error event #{event_id}")
            code = exit_codes.USAGE
        else:
            ctx.err(f"#{event_id} was already resolved at {local_time(event.resolved_at)}")
    return code


def cmd_show(args: argparse.Namespace, ctx: CliContext) -> int:
    event = ctx.manager.error(args.id)
    if event is None:
        ctx.err(f"error: no error event #{args.id}")
        return exit_codes.USAGE
    if ctx.json:
        ctx.emit_json(event.to_json())
        return exit_codes.OK
    _print_event(ctx, event)
    return exit_codes.OK


def _print_event(ctx: CliContext, e: ErrorEvent) -> None:
    ctx.out(f"#{e.id}  {local_time(e.timestamp)}  {e.severity}")
    ctx.out(f"where:    {e.component}/{e.error_type}")
    ctx.out(f"job:      {e.job_name or '-'}")
    resolved = f"yes, at {local_time(e.resolved_at)}" if e.resolved else "no"
    ctx.out(f"resolved: {resolved}")
    ctx.out(f"message:  {e.message}")
    if e.details and e.details != e.message:
        ctx.out("details:")
        for line in e.details.splitlines():
            ctx.out(f"  {line}")
    if e.stack_trace:
        ctx.out("stack trace:")
        for line in e.stack_trace.splitlines():
            ctx.out(f"  {line}")
