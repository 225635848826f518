"""The options of ``job add`` and ``job edit``, and how they change a job's fields.

Both commands build the YAML mapping a person would write and hand it to the
model's ``parse_job``, so the CLI reports exactly the problems a hand edit
would get (every one, each naming the file and the field), and nothing else
decides what a valid job is.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from tui_backup.model.job import ENGINES
from tui_backup.model.problems import Problem, ValidationError
from tui_backup.model.retention import COUNT_KEYS


def int_or_text(value: str) -> int | str:
    """An int when it is one; otherwise the text, for the model to reject by field name."""
    try:
        return int(value)
    except ValueError:
        return value


def resolve_path(path: str) -> str:
    """An absolute local path, or a remote spec (``host:path``, ``s3:...``) as given."""
    expanded = os.path.expanduser(path)
    if not os.path.isabs(expanded) and ":" in path and not path.startswith("."):
        return path
    return os.path.abspath(expanded)


def add_definition_options(parser: argparse.ArgumentParser, *, editing: bool) -> None:
    """The field options; on ``edit`` each one replaces that field only."""
    fields = parser.add_argument_group("job fields")
    fields.add_argument(
        "--source",
        dest="sources",
        action="append",
        metavar="PATH",
        help="a directory to back up (repeat for several"
        + ("; replaces all sources)" if editing else ")"),
    )
    fields.add_argument(
        "--dest",
        "--destination",
        dest="destination",
        metavar="PATH",
        help="where backups go: a local directory, user@host:path (rsync) or a restic repository",
    )
    fields.add_argument(
        "--engine", metavar="{" + ",".join(ENGINES) + "}", help="the backup engine (snapshot)"
    )
    fields.add_argument(
        "--schedule", metavar="CRON", help="when to run, e.g. '0 2 * * *' or @daily"
    )
    fields.add_argument(
        "--exclude",
        dest="excludes",
        action="append",
        metavar="PATTERN",
        help="a gitignore-style pattern to skip (repeat"
        + ("; replaces all excludes)" if editing else ")"),
    )
    for key in COUNT_KEYS:
        fields.add_argument(
            "--" + key.replace("_", "-"),
            dest=key,
            type=int_or_text,
            metavar="N",
            help=f"retention: {key.replace('_', ' ')} snapshots (-1 = unlimited, 0 = rule off)",
        )
    fields.add_argument(
        "--keep-within",
        dest="keep_within",
        metavar="DURATION",
        help="retention: keep every snapshot newer than this, e.g. 7d or 1y6m (0 = rule off)",
    )
    fields.add_argument(
        "--retries", type=int_or_text, metavar="N", help="retries after a failed run (0-20)"
    )
    fields.add_argument("--description", metavar="TEXT", help="a note shown with the job")
    add_engine_options(parser, editing=editing)
    if not editing:
        fields.add_argument(
            "--disabled",
            action="store_true",
            help="create it disabled (it never runs on schedule)",
        )
        return
    edits = parser.add_argument_group("changes to lists and switches")
    edits.add_argument("--add-source", dest="add_sources", action="append", metavar="PATH")
    edits.add_argument("--remove-source", dest="remove_sources", action="append", metavar="PATH")
    edits.add_argument("--add-exclude", dest="add_excludes", action="append", metavar="PATTERN")
    edits.add_argument(
        "--remove-exclude", dest="remove_excludes", action="append", metavar="PATTERN"
    )
    edits.add_argument("--clear-excludes", action="store_true", help="remove every exclude")
    edits.add_argument("--clear-schedule", action="store_true", help="run only when asked")
    edits.add_argument("--clear-retention", action="store_true", help="keep every snapshot")
    switch = edits.add_mutually_exclusive_group()
    switch.add_argument("--enable", dest="enabled", action="store_const", const=True)
    switch.add_argument("--disable", dest="enabled", action="store_const", const=False)
    edits.add_argument(
        "--if-version",
        type=int,
        metavar="N",
        help="refuse the edit unless the job is still at version N (optimistic concurrency)",
    )


PASSWORD_ENV = {
    "password_file": "RESTIC_PASSWORD_FILE",
    "password_command": "RESTIC_PASSWORD_COMMAND",
}
"""Each password option and the restic variable that stores it (the secret itself never)."""
PASSWORD_VARIABLES = ("RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND")
ENGINE_FIELDS = ("ssh_port", "ssh_identity", "ssh_command", "checksum_every")
VERIFY_OPTIONS = {"verify_schedule": "schedule", "read_data_subset": "read_data_subset"}


def add_engine_options(parser: argparse.ArgumentParser, *, editing: bool) -> None:
    """Passwords (restic), SSH settings (rsync, restic sftp), verify and checksum schedules."""
    clear = " ('' removes it)" if editing else ""
    group = parser.add_argument_group("engine settings")
    password = group.add_mutually_exclusive_group()
    password.add_argument(
        "--password-file",
        metavar="PATH",
        help="restic: a file holding the repository password; stored as "
        "env RESTIC_PASSWORD_FILE, never the password itself" + clear,
    )
    password.add_argument(
        "--password-command",
        metavar="CMD",
        help="restic: a command that prints the password (e.g. 'pass show backup'); "
        "stored as env RESTIC_PASSWORD_COMMAND" + clear,
    )
    group.add_argument(
        "--ssh-port", type=int_or_text, metavar="N", help="SSH port for remote destinations" + clear
    )
    group.add_argument(
        "--ssh-identity",
        metavar="PATH",
        help="SSH private key file for remote destinations" + clear,
    )
    group.add_argument(
        "--ssh-command",
        metavar="CMD",
        help="the whole SSH command, e.g. 'ssh -F ~/.ssh/backup_config'" + clear,
    )
    group.add_argument(
        "--verify-schedule",
        metavar="CRON",
        help="when the daemon verifies this job's backups, e.g. '0 4 * * 0'" + clear,
    )
    group.add_argument(
        "--read-data-subset",
        metavar="X",
        help="restic: how much data each verify re-reads (10%%, 1/5, 2G)" + clear,
    )
    group.add_argument(
        "--checksum-every",
        metavar="DURATION",
        help="re-read every source file (not just size and mtime) this often, e.g. 30d" + clear,
    )
    group.add_argument(
        "--force",
        action="store_true",
        help="accept a destination another job already uses (prints a warning)",
    )


def _apply_engine_options(out: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """Set the engine fields of ``out`` from ``args``; returns notes for the person."""
    notes: list[str] = []
    env = dict(out.get("env") or {})
    for option, variable in PASSWORD_ENV.items():
        value = getattr(args, option, None)
        if value is None:
            continue
        if value == "":
            if env.pop(variable, None) is not None:
                notes.append(f"removed env {variable}")
            continue
        for other in PASSWORD_VARIABLES:
            if other != variable and env.pop(other, None) is not None:
                notes.append(f"removed env {other} (replaced by {variable})")
        env[variable] = resolve_path(value) if option == "password_file" else value
    if env:
        out["env"] = env
    else:
        out.pop("env", None)
    for key in ENGINE_FIELDS:
        value = getattr(args, key, None)
        if value is None:
            continue
        if value == "":
            out.pop(key, None)
        elif key == "ssh_identity":
            out[key] = os.path.abspath(os.path.expanduser(value))
        else:
            out[key] = value
    verify = dict(out.get("verify") or {})
    for option, key in VERIFY_OPTIONS.items():
        value = getattr(args, option, None)
        if value is None:
            continue
        if value == "":
            verify.pop(key, None)
        else:
            verify[key] = value
    if verify:
        out["verify"] = verify
    else:
        out.pop("verify", None)
    return notes


def has_changes(args: argparse.Namespace) -> bool:
    """True when ``job edit`` was given anything to change."""
    names = (
        "sources",
        "destination",
        "engine",
        "schedule",
        "excludes",
        *COUNT_KEYS,
        "keep_within",
        "retries",
        "description",
        *PASSWORD_ENV,
        *ENGINE_FIELDS,
        *VERIFY_OPTIONS,
    )
    flags = ("clear_excludes", "clear_schedule", "clear_retention")
    lists = ("add_sources", "remove_sources", "add_excludes", "remove_excludes")
    return any(getattr(args, n, None) is not None for n in (*names, *lists, "enabled")) or any(
        getattr(args, n, False) for n in flags
    )


def apply(
    data: dict[str, Any],
    args: argparse.Namespace,
    label: str,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """``data`` (a job's YAML mapping) with the options of ``args`` applied.

    ``notes`` collects what a person should hear about (a password variable
    replaced by another one), printed by the command as it saves.
    """
    out = dict(data)
    problems: list[Problem] = []
    if args.sources is not None:
        out["sources"] = [resolve_path(p) for p in args.sources]
    sources = list(out.get("sources") or [])
    for path in getattr(args, "add_sources", None) or []:
        if resolve_path(path) not in sources:
            sources.append(resolve_path(path))
    for path in getattr(args, "remove_sources", None) or []:
        if resolve_path(path) in sources:
            sources.remove(resolve_path(path))
        else:
            problems.append(Problem(label, "sources", f"{resolve_path(path)!r} is not a source"))
    out["sources"] = sources
    if args.destination is not None:
        out["destination"] = resolve_path(args.destination)
    if args.engine is not None:
        out["engine"] = args.engine
    if getattr(args, "clear_schedule", False):
        out["schedule"] = None
    if args.schedule is not None:
        out["schedule"] = args.schedule
    excludes = list(out.get("exclude") or [])
    if getattr(args, "clear_excludes", False):
        excludes = []
    if args.excludes is not None:
        excludes = list(args.excludes)
    for pattern in getattr(args, "add_excludes", None) or []:
        if pattern not in excludes:
            excludes.append(pattern)
    for pattern in getattr(args, "remove_excludes", None) or []:
        if pattern in excludes:
            excludes.remove(pattern)
        else:
            problems.append(Problem(label, "exclude", f"{pattern!r} is not an exclude"))
    out["exclude"] = excludes
    retention = dict(out.get("retention") or {})
    if getattr(args, "clear_retention", False):
        retention = {}
    for key in (*COUNT_KEYS, "keep_within"):
        value = getattr(args, key, None)
        if value is None:
            continue
        if value == 0 or value in ("0", ""):
            retention.pop(key, None)  # 0 means "this rule is off"
        else:
            retention[key] = value
    if retention:
        out["retention"] = retention
    else:
        out.pop("retention", None)
    if args.retries is not None:
        out["retries"] = args.retries
    if args.description is not None:
        out["description"] = args.description
    if getattr(args, "disabled", False):
        out["enabled"] = False
    if getattr(args, "enabled", None) is not None:
        out["enabled"] = args.enabled
    said = _apply_engine_options(out, args)
    if notes is not None:
        notes.extend(said)
    engine = out.get("engine", "snapshot")
    for option, variable in PASSWORD_ENV.items():
        if getattr(args, option, None) and engine != "restic":
            problems.append(
                Problem(
                    label,
                    f"env.{variable}",
                    f"only the restic engine uses a password, not {engine}",
                )
            )
    if problems:
        raise ValidationError(problems)
    return out
