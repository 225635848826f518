"""``tui-backup job add|list|show|edit|rm``: job definitions from the command line.

Every change goes through the manager (locked, atomic, versioned); every
definition is validated by the model exactly as a hand-edited file would be,
so invalid input exits 2 with each problem on stderr and writes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from tui_backup.cli import exit_codes, job_options, main
from tui_backup.cli.context import CliContext
from tui_backup.cli.table import humanize_bytes, local_time, render
from tui_backup.core.destinations import DestinationInUse
from tui_backup.core.errors import VersionConflict
from tui_backup.core.home import Home, yaml_text
from tui_backup.model.job import JobSpec, parse_job
from tui_backup.model.problems import ValidationError
from tui_backup.model.secrets import mask_url, redact
from tui_backup.model.units import plural


def register(sub: argparse._SubParsersAction) -> None:
    job = main.add_parser(sub, "job", "define, list, show, edit and remove backup jobs")
    actions = job.add_subparsers(dest="job_command", metavar="ACTION", required=True)
    actions.common = sub.common  # type: ignore[attr-defined]  # lets add_parser nest

    add = main.add_parser(actions, "add", "define a new job", json_flag=True)
    add.add_argument("name", metavar="NAME", help="[a-z0-9][a-z0-9._-]{0,63}")
    job_options.add_definition_options(add, editing=False)
    add.set_defaults(func=cmd_add)

    lst = main.add_parser(actions, "list", "every job with its status", json_flag=True)
    lst.set_defaults(func=cmd_list)

    show = main.add_parser(actions, "show", "one job's definition and state", json_flag=True)
    show.add_argument("name", metavar="NAME")
    show.set_defaults(func=cmd_show)

    edit = main.add_parser(
        actions, "edit", "change some fields of a job (others stay)", json_flag=True
    )
    edit.add_argument("name", metavar="NAME")
    job_options.add_definition_options(edit, editing=True)
    edit.set_defaults(func=cmd_edit)

    rm = main.add_parser(actions, "rm", "remove a job (its backups stay unless --purge-data)")
    rm.add_argument("name", metavar="NAME")
    rm.add_argument(
        "--purge-data",
        action="store_true",
        help="also delete every backup the job made (asks first on a terminal)",
    )
    rm.add_argument("-y", "--yes", action="store_true", help="do not ask; needed without a TTY")
    rm.set_defaults(func=cmd_rm)


def _label(home: Home, name: str) -> str:
    return home.relative(home.job_file(name))


# -- add ---------------------------------------------------------------------


def cmd_add(args: argparse.Namespace, ctx: CliContext) -> int:
    label = _label(ctx.home, args.name)
    notes: list[str] = []
    data = job_options.apply({"name": args.name}, args, label, notes)
    spec = parse_job(data, label, expected_name=args.name)
    _say(ctx, notes)
    _warn_missing_sources(ctx, spec)
    try:
        created = ctx.manager.create(spec, force=args.force)
    except DestinationInUse as exc:
        return _refused(ctx, exc)
    _warn_shared(ctx, created, args.force)
    _say_what_it_needs(ctx, created)
    if ctx.json:
        ctx.emit_json(ctx.manager.job(created.name).to_json())
    else:
        ctx.err(f"added job {created.name} (version {created.version}): {label}")
    return exit_codes.OK


def _refused(ctx: CliContext, exc: DestinationInUse) -> int:
    """Another job uses the destination: bad input (exit 2), nothing written."""
    ctx.err(f"error: {exc}")
    return exit_codes.USAGE


def _warn_shared(ctx: CliContext, spec: JobSpec, forced: bool) -> None:
    """Saved with ``--force`` onto a destination another job uses: say so, every time."""
    if not forced:
        return
    conflict = ctx.manager.destination_conflict(spec)
    if conflict is not None:
        ctx.err(f"warning: {conflict.warning}")


PASSWORD_SOURCES = ("RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND", "RESTIC_PASSWORD")


def _say_what_it_needs(ctx: CliContext, spec: JobSpec) -> None:
    """After ``add``: what the engine needs before a first run (from its Capabilities)."""
    try:
        caps = ctx.manager.snapshots.capabilities(spec)
    except Exception:  # noqa: BLE001 - only a hint; the run reports real trouble
        return
    env = spec.env_dict
    if caps.encryption and not any(env.get(k) for k in PASSWORD_SOURCES):
        ctx.err(
            f"warning: a {spec.engine} job needs a password source: "
            f"tui-backup job edit {spec.name} --password-file PATH (or --password-command CMD)"
        )
    if caps.needs_init:
        ctx.err(f"next: create the repository once with: tui-backup init {spec.name}")


def _say(ctx: CliContext, notes: list[str]) -> None:
    for note in dict.fromkeys(notes):
        ctx.err(f"note: {note}")


def _warn_missing_sources(ctx: CliContext, spec: JobSpec) -> None:
    """Not an error (a disk may be mounted later), but worth saying now."""
    for source in spec.sources:
        if not os.path.exists(source):
            ctx.err(f"warning: source {source} does not exist (yet); runs will fail until it does")
    password_file = spec.env_dict.get("RESTIC_PASSWORD_FILE") if spec.env else None
    if password_file and not os.path.exists(os.path.expanduser(password_file)):
        ctx.err(f"warning: password file {password_file} does not exist (yet)")


# -- list --------------------------------------------------------------------


def cmd_list(args: argparse.Namespace, ctx: CliContext) -> int:
    views = ctx.manager.list_jobs()
    for issue in ctx.manager.job_issues():
        for line in issue.message.splitlines():
            ctx.err(f"warning: {line}")
    if ctx.json:
        ctx.emit_json([v.to_json() for v in views])
        return exit_codes.OK
    if not views:
        ctx.err(f"no jobs yet in {ctx.home.jobs_dir}; add one with `tui-backup job add`")
        return exit_codes.OK
    rows = []
    for view in views:
        data = view.to_json()
        last = data["last_run"]
        status = data["status"] + ("" if view.spec.enabled else " (disabled)")
        rows.append(
            [
                view.name,
                status,
                view.spec.engine,
                view.spec.schedule or "-",
                local_time(view.next_run),
                f"{last['status']} {local_time(last['finished_at'], '')}".strip()
                if last
                else "never run",
                str(view.spec.version),
            ]
        )
    render(["NAME", "STATUS", "ENGINE", "SCHEDULE", "NEXT RUN", "LAST RUN", "VERSION"], rows)
    return exit_codes.OK


# -- show --------------------------------------------------------------------


def cmd_show(args: argparse.Namespace, ctx: CliContext) -> int:
    view = ctx.manager.job(args.name)
    label = _label(ctx.home, view.name)
    issue = next((i.message for i in ctx.manager.job_issues() if i.name == view.name), None)
    if issue:
        for line in issue.splitlines():
            ctx.err(f"warning: {line}")
    if ctx.json:
        out: dict[str, Any] = view.to_json()
        out["issue"] = issue
        out["file"] = str(ctx.home.job_file(view.name))
        out["definition"] = view.spec.to_dict()
        out["state"] = view.state.to_dict()
        ctx.emit_json(out)
        return exit_codes.OK
    ctx.out(f"# {label} (version {view.spec.version})")
    # Shown, not saved: secret env values and URL passwords appear as ***.
    sys.stdout.write(yaml_text(redact(view.spec.to_dict())))
    ctx.out("# state")
    ctx.out(f"#   status:   {view.status}")
    last = view.state.last_result
    if last is not None:
        ctx.out(
            f"#   last run: {last.status} at {local_time(last.finished_at, '?')}"
            f" ({plural(last.files, 'file')}, {humanize_bytes(last.bytes)}"
            + (f", {last.warnings} warnings" if last.warnings else "")
            + ")"
            + (f": {mask_url(last.error)}" if last.error else "")
        )
    else:
        ctx.out("#   last run: never")
    if view.state.last_success is not None:
        ctx.out(f"#   last success: {local_time(view.state.last_success)}")
    verify = view.state.last_verify
    if verify is not None:
        # restic checks packs and cannot say how many bytes it read (LastVerify.unit,
        # .bytes_known): "1 files, 0 B read" would claim what nobody counted.
        count = f"{plural(verify.snapshots, 'snapshot')}, {plural(verify.files, verify.unit)}"
        read = (
            f"{count}, {humanize_bytes(verify.bytes)} read"
            if verify.bytes_known
            else f"{count} read, bytes unknown"
        )
        ctx.out(
            f"#   last verify: {verify.outcome} at {local_time(verify.time)} ({read})"
            + (f": {mask_url(verify.detail)}" if verify.detail else "")
        )
    ctx.out(f"#   next run: {local_time(view.next_run)}")
    return exit_codes.OK


# -- edit --------------------------------------------------------------------


def cmd_edit(args: argparse.Namespace, ctx: CliContext) -> int:
    if not job_options.has_changes(args):
        ctx.err("error: nothing to change; see `tui-backup job edit --help`")
        return exit_codes.USAGE
    label = _label(ctx.home, args.name)
    notes: list[str] = []

    def change(current: JobSpec) -> JobSpec:
        # Runs under the job's lock, on the version on disk right now.
        if args.if_version is not None and current.version != args.if_version:
            raise VersionConflict(current.name, args.if_version, current.version)
        notes.clear()
        data = job_options.apply(current.to_dict(), args, label, notes)
        return parse_job(data, label, expected_name=current.name)

    try:
        new = ctx.manager.modify(args.name, change, force=args.force)
    except DestinationInUse as exc:
        return _refused(ctx, exc)
    _warn_shared(ctx, new, args.force)
    _say(ctx, notes)
    _warn_missing_sources(ctx, new)
    if ctx.json:
        ctx.emit_json(ctx.manager.job(new.name).to_json())
    else:
        ctx.err(f"changed job {new.name} (now version {new.version})")
    return exit_codes.OK


# -- rm ----------------------------------------------------------------------


def cmd_rm(args: argparse.Namespace, ctx: CliContext) -> int:
    try:
        spec = ctx.manager.get_spec(args.name)
    except ValidationError:
        return _rm_invalid(args, ctx)
    if args.purge_data and not args.yes:
        if not sys.stdin.isatty():
            ctx.err(
                "error: --purge-data deletes every backup of the job; "
                "add --yes to do that without a terminal"
            )
            return exit_codes.USAGE
        answer = input(
            f"Delete job {spec.name} AND all its backups in {mask_url(spec.destination)}? [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            ctx.err("nothing removed")
            return exit_codes.OK
    removed = ctx.manager.delete(
        args.name, purge_data=args.purge_data, expected_version=spec.version
    )
    what = (
        " and its backups"
        if args.purge_data
        else f" ({mask_url(removed.destination)} was not touched; --purge-data deletes its backups)"
    )
    ctx.err(f"removed job {removed.name}{what}")
    return exit_codes.OK


def _rm_invalid(args: argparse.Namespace, ctx: CliContext) -> int:
    """A job file that was never valid: move it aside (it is the user's text)."""
    if args.purge_data:
        ctx.err(
            f"error: job {args.name!r} has no valid definition, so its backups cannot be "
            "found; fix the file, or remove the job without --purge-data"
        )
        return exit_codes.USAGE
    moved = ctx.manager.discard_invalid_job(args.name)
    ctx.err(
        f"removed job {args.name}: its file was not a valid job and was kept "
        f"as {ctx.home.relative(moved)}"
    )
    return exit_codes.OK
