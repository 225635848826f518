"""A job's definition, as written in ``jobs/<name>.yaml``, and its validation.

Validation collects every problem before failing so that a person editing
the YAML by hand sees all their mistakes at once, each naming file and field.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Any

from tui_backup.model import schedule as cron
from tui_backup.model.duration import Duration
from tui_backup.model.problems import Problem, ValidationError
from tui_backup.model.retention import RetentionPolicy
from tui_backup.model.text import has_controls, printable

NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
ENGINES = ("snapshot", "rsync", "restic")


@dataclass(frozen=True, slots=True)
class DestinationRule:
    """Which destination spellings an engine accepts, and what to say otherwise.

    A table instead of per-engine branches: the model may not import the
    engines (layers), yet a hand-written job file must be checked when it is
    read, long before any engine runs. A new engine adds one row.
    """

    remote: bool
    """True when ``host:path`` or ``scheme:...`` spellings are accepted."""
    message: str
    """The problem's text; ``{!r}`` is the destination as written."""


DESTINATION_RULES = {
    "snapshot": DestinationRule(
        remote=False, message="must be an absolute local path for the snapshot engine, found {!r}"
    ),
    "rsync": DestinationRule(
        remote=True, message="must be an absolute path or user@host:path for rsync, found {!r}"
    ),
    "restic": DestinationRule(
        remote=True,
        message="must be an absolute path or a restic repository such as sftp:host:/path, "
        "s3:host/bucket, rest:https://host/ or rclone:remote:path, found {!r}",
    ),
}
HOOK_STAGES = ("before", "after", "on_success", "on_failure")
MISSED_CHOICES = ("run", "skip")
DEFAULT_RETRIES = 2
DEFAULT_HOOK_TIMEOUT = 300
MAX_RETRIES = 20
MAX_VERSION = 2**53
"""Versions beyond this are not counted by anyone (and lose precision in JSON)."""
MAX_PATH_CHARS = 4096
"""A path or pattern longer than Linux's PATH_MAX is not one."""
MAX_TEXT_CHARS = 10_000
"""Description, hook argument, SSH command or environment value."""
MAX_ITEMS = {"sources": 1000, "exclude": 10_000}
"""How many entries a list may hold: a job file is written by a person."""
MAX_HOOK_COMMANDS = 100
MAX_ENV = 1000
MAX_UNKNOWN_SHOWN = 10
"""Unknown fields named one by one; past this, one line says how many more."""
NO_CONTROLS = "must not contain control or escape characters (found {shown})"

KNOWN_FIELDS = (
    "name",
    "description",
    "sources",
    "destination",
    "engine",
    "schedule",
    "missed",
    "exclude",
    "retention",
    "retries",
    "enabled",
    "hooks",
    "hook_timeout",
    "max_age",
    "env",
    "ssh_port",
    "ssh_identity",
    "ssh_command",
    "verify",
    "checksum_every",
    "preserve",
    "version",
)
PRESERVE_FIELDS = ("xattrs", "acls", "hard_links", "sparse")
VERIFY_FIELDS = ("schedule", "read_data_subset", "deep")
SUBSET_RE = re.compile(r"(?:[1-9]\d?(?:\.\d+)?%|100%|[1-9]\d*/[1-9]\d*|\d+[KMGT])")
"""restic's ``--read-data-subset``: ``10%``, ``1/5`` or a size such as ``500M``."""


@dataclass(frozen=True, slots=True)
class Hooks:
    """Commands run around a job; each is an argv list, run without a shell."""

    before: tuple[tuple[str, ...], ...] = ()
    after: tuple[tuple[str, ...], ...] = ()
    on_success: tuple[tuple[str, ...], ...] = ()
    on_failure: tuple[tuple[str, ...], ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.before or self.after or self.on_success or self.on_failure)

    def to_dict(self) -> dict[str, list[list[str]]]:
        return {
            stage: [list(argv) for argv in getattr(self, stage)]
            for stage in HOOK_STAGES
            if getattr(self, stage)
        }


@dataclass(frozen=True, slots=True)
class VerifySettings:
    """When and how deeply ``verify`` checks this job's backups (``verify:`` block)."""

    schedule: str | None = None
    """A cron expression: the daemon verifies the job then (like a backup schedule)."""
    read_data_subset: str | None = None
    """restic only: how much pack data ``restic check`` re-reads (``10%``, ``1/5``, ``2G``)."""
    deep: bool = False
    """Compare the newest snapshot with the source byte for byte (engines that can)."""

    @property
    def is_empty(self) -> bool:
        return self.schedule is None and self.read_data_subset is None and not self.deep

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.schedule is not None:
            out["schedule"] = self.schedule
        if self.read_data_subset is not None:
            out["read_data_subset"] = self.read_data_subset
        if self.deep:
            out["deep"] = True
        return out


@dataclass(frozen=True, slots=True)
class Preserve:
    """What a backup keeps beyond contents, modes, owners and times (``preserve:`` block).

    Everything is kept by default, like ``rsync -aHAX`` with ``--sparse``;
    each can be turned off where it costs more than it is worth (docs/configuration.md).
    """

    xattrs: bool = True
    acls: bool = True
    hard_links: bool = True
    sparse: bool = True

    @property
    def is_default(self) -> bool:
        return self.xattrs and self.acls and self.hard_links and self.sparse

    def to_dict(self) -> dict[str, bool]:
        return {name: getattr(self, name) for name in PRESERVE_FIELDS if not getattr(self, name)}


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What to back up, where to, how and when. Immutable: edit with ``replace``."""

    name: str
    sources: tuple[str, ...]
    destination: str
    engine: str = "snapshot"
    schedule: str | None = None
    exclude: tuple[str, ...] = ()
    retention: RetentionPolicy | None = None
    retries: int = DEFAULT_RETRIES
    enabled: bool = True
    version: int = 0
    description: str = ""
    missed: str = "run"
    hooks: Hooks = field(default_factory=Hooks)
    hook_timeout: int = DEFAULT_HOOK_TIMEOUT
    max_age: Duration | None = None
    env: tuple[tuple[str, str], ...] = ()
    ssh_port: int | None = None
    """Port of a remote destination's SSH server (rsync ``host:path``, restic ``sftp:``)."""
    ssh_identity: str | None = None
    """Private key file for that SSH connection."""
    ssh_command: str | None = None
    """The whole SSH command (``ssh -F /etc/backup/ssh_config``), split like a shell
    would but never run through one; ``ssh_port``/``ssh_identity`` are appended."""
    verify: VerifySettings = field(default_factory=VerifySettings)
    checksum_every: Duration | None = None
    """Re-read every source file (not only changed ones) when the last full
    compare is older than this: catches silent corruption of unchanged files."""
    preserve: Preserve = field(default_factory=Preserve)

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    @property
    def is_remote(self) -> bool:
        """True when the destination is not a local path (rsync host, restic URL)."""
        return not os.path.isabs(self.destination)

    def with_version(self, version: int) -> JobSpec:
        return replace(self, version=version)

    def to_dict(self) -> dict[str, Any]:
        """The YAML form, in a stable order a person can read and edit."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["sources"] = list(self.sources)
        out["destination"] = self.destination
        out["engine"] = self.engine
        out["schedule"] = self.schedule
        if self.missed != "run":
            out["missed"] = self.missed
        out["exclude"] = list(self.exclude)
        if self.retention is not None:
            out["retention"] = self.retention.to_dict()
        out["retries"] = self.retries
        out["enabled"] = self.enabled
        if not self.hooks.is_empty:
            out["hooks"] = self.hooks.to_dict()
        if self.hook_timeout != DEFAULT_HOOK_TIMEOUT:
            out["hook_timeout"] = self.hook_timeout
        if self.max_age is not None:
            out["max_age"] = str(self.max_age)
        if self.env:
            out["env"] = dict(self.env)
        if self.ssh_port is not None:
            out["ssh_port"] = self.ssh_port
        if self.ssh_identity is not None:
            out["ssh_identity"] = self.ssh_identity
        if self.ssh_command is not None:
            out["ssh_command"] = self.ssh_command
        if not self.verify.is_empty:
            out["verify"] = self.verify.to_dict()
        if self.checksum_every is not None:
            out["checksum_every"] = str(self.checksum_every)
        if not self.preserve.is_default:
            out["preserve"] = self.preserve.to_dict()
        out["version"] = self.version
        return out


def is_valid_name(name: object) -> bool:
    return isinstance(name, str) and NAME_RE.fullmatch(name) is not None


def _is_remote_spec(path: str) -> bool:
    """``host:path`` / ``user@host:path`` (rsync) or ``scheme:...`` (restic)."""
    return not os.path.isabs(path) and ":" in path


def _destination_allowed(engine: str, destination: str) -> bool:
    """``destination`` is a spelling ``engine`` accepts (an unknown engine is reported apart)."""
    rule = DESTINATION_RULES.get(engine)
    if rule is None or os.path.isabs(os.path.expanduser(destination)):
        return True
    return rule.remote and _is_remote_spec(destination)


def _norm(path: str) -> str:
    """Resolve what exists of ``path`` so nested-path checks see through links."""
    return os.path.realpath(os.path.abspath(os.path.expanduser(path)))


def _inside(child: str, parent: str) -> bool:
    child, parent = _norm(child), _norm(parent)
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


NOT_TEXT = "must be valid UTF-8 text (a job file is text; rename paths with undecodable bytes)"


def _is_text(value: str) -> bool:
    """False for strings holding lone surrogates (undecodable bytes from argv or a path)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _plain(
    value: str,
    source: str,
    field_name: str,
    problems: list[Problem],
    limit: int,
    *,
    multiline: bool = False,
) -> bool:
    """True when ``value`` is at most ``limit`` characters without control characters.

    Escape sequences in a name, path or hook would reach terminals and logs
    (``ESC ] 0 ;`` retitles a pane); a newline in a path forges a log line.
    """
    if len(value) > limit:
        problems.append(Problem(source, field_name, f"must be at most {limit} characters"))
        return False
    if has_controls(value, multiline=multiline):
        bad = sorted({ch for ch in value if printable(ch, multiline=multiline) != ch})
        shown = ", ".join(printable(ch) for ch in bad[:5])
        problems.append(Problem(source, field_name, NO_CONTROLS.format(shown=shown)))
        return False
    return True


def _duration_field(
    data: dict[str, Any], key: str, example: str, source: str, problems: list[Problem]
) -> Duration | None:
    """A duration such as ``2d``, range-checked now (see Duration.MAX_YEARS)."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        problems.append(Problem(source, key, f"must be a duration like {example}"))
        return None
    try:
        return Duration.parse(str(value))
    except ValueError as exc:
        problems.append(Problem(source, key, f"must be a duration like {example} ({exc})"))
        return None


def _str_list(
    value: Any, source: str, name: str, problems: list[Problem], *, allow_empty: bool
) -> tuple[str, ...]:
    if value is None:
        value = []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        problems.append(Problem(source, name, "must be a list of strings"))
        return ()
    limit = MAX_ITEMS.get(name, MAX_ITEMS["exclude"])
    if len(value) > limit:
        problems.append(Problem(source, name, f"must list at most {limit} entries"))
        return ()
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            problems.append(Problem(source, f"{name}[{i}]", "must be a non-empty string"))
        elif not _is_text(item):
            problems.append(Problem(source, f"{name}[{i}]", NOT_TEXT))
        elif not _plain(item, source, f"{name}[{i}]", problems, MAX_PATH_CHARS):
            pass
        else:
            out.append(item)
    if not out and not allow_empty and not any(p.field.startswith(name) for p in problems):
        problems.append(Problem(source, name, "must list at least one path"))
    return tuple(out)


def _parse_hooks(value: Any, source: str, problems: list[Problem]) -> Hooks:
    if value is None:
        return Hooks()
    if not isinstance(value, dict):
        problems.append(Problem(source, "hooks", f"must be a mapping of {', '.join(HOOK_STAGES)}"))
        return Hooks()
    stages: dict[str, tuple[tuple[str, ...], ...]] = {}
    for stage, commands in value.items():
        fname = f"hooks.{stage}"
        if stage not in HOOK_STAGES:
            problems.append(
                Problem(source, fname, f"unknown stage (allowed: {', '.join(HOOK_STAGES)})")
            )
            continue
        if commands is None:
            continue
        if not isinstance(commands, list):
            problems.append(Problem(source, fname, "must be a list of commands (argv lists)"))
            continue
        if len(commands) > MAX_HOOK_COMMANDS:
            problems.append(
                Problem(source, fname, f"must list at most {MAX_HOOK_COMMANDS} commands")
            )
            continue
        parsed: list[tuple[str, ...]] = []
        for i, argv in enumerate(commands):
            if (
                not isinstance(argv, list)
                or not argv
                or not all(
                    isinstance(a, str | int | float) and not isinstance(a, bool) for a in argv
                )
            ):
                problems.append(
                    Problem(
                        source,
                        f"{fname}[{i}]",
                        'must be an argv list such as ["curl", "-fsS", "URL"] '
                        '(for a shell, write ["sh", "-c", "..."])',
                    )
                )
                continue
            words = tuple(str(a) for a in argv)
            # A script given to ``sh -c`` may span lines (and be indented with tabs).
            if all(
                _plain(
                    w.replace("\t", " "),
                    source,
                    f"{fname}[{i}][{j}]",
                    problems,
                    MAX_TEXT_CHARS,
                    multiline=True,
                )
                for j, w in enumerate(words)
            ):
                parsed.append(words)
        stages[stage] = tuple(parsed)
    return Hooks(**stages)


def _int_field(
    data: dict[str, Any],
    key: str,
    default: int,
    lo: int,
    hi: int | None,
    source: str,
    problems: list[Problem],
) -> int:
    value = data.get(key, default)
    if value is None:
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < lo
        or (hi is not None and value > hi)
    ):
        rng = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        problems.append(Problem(source, key, f"must be an integer {rng}"))
        return default
    return value


def _opt_text(data: dict[str, Any], key: str, source: str, problems: list[Problem]) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or not _is_text(value):
        problems.append(Problem(source, key, "must be non-empty text"))
        return None
    if not _plain(value.strip(), source, key, problems, MAX_TEXT_CHARS):
        return None
    return value.strip()


def _parse_preserve(value: Any, source: str, problems: list[Problem]) -> Preserve:
    if value is None:
        return Preserve()
    if not isinstance(value, dict):
        problems.append(
            Problem(source, "preserve", f"must be a mapping of {', '.join(PRESERVE_FIELDS)}")
        )
        return Preserve()
    flags: dict[str, bool] = {}
    for key, flag in value.items():
        if key not in PRESERVE_FIELDS:
            problems.append(
                Problem(
                    source,
                    f"preserve.{key}",
                    f"unknown field (allowed: {', '.join(PRESERVE_FIELDS)})",
                )
            )
        elif not isinstance(flag, bool):
            problems.append(Problem(source, f"preserve.{key}", "must be true or false"))
        else:
            flags[str(key)] = flag
    return Preserve(**flags)


def _parse_verify(value: Any, source: str, problems: list[Problem]) -> VerifySettings:
    if value is None:
        return VerifySettings()
    if not isinstance(value, dict):
        problems.append(
            Problem(source, "verify", f"must be a mapping of {', '.join(VERIFY_FIELDS)}")
        )
        return VerifySettings()
    for key in value:
        if key not in VERIFY_FIELDS:
            problems.append(
                Problem(
                    source, f"verify.{key}", f"unknown field (allowed: {', '.join(VERIFY_FIELDS)})"
                )
            )
    schedule = value.get("schedule")
    if schedule is not None:
        reason = cron.check(schedule) if isinstance(schedule, str) else "must be a cron expression"
        if reason:
            problems.append(Problem(source, "verify.schedule", reason))
            schedule = None
        else:
            schedule = " ".join(schedule.split())
    subset = value.get("read_data_subset")
    if subset is not None:
        subset = str(subset).strip()
        if not SUBSET_RE.fullmatch(subset):
            problems.append(
                Problem(
                    source,
                    "verify.read_data_subset",
                    "must be a percentage (10%), a fraction (1/5) or a size (500M)",
                )
            )
            subset = None
    deep = value.get("deep", False)
    if not isinstance(deep, bool):
        problems.append(Problem(source, "verify.deep", "must be true or false"))
        deep = False
    return VerifySettings(schedule=schedule, read_data_subset=subset, deep=deep)


def parse_job(data: Any, source: str = "", expected_name: str | None = None) -> JobSpec:
    """Build a :class:`JobSpec` from loaded YAML, or raise with every problem.

    ``source`` names the file in messages (e.g. ``jobs/web.yaml``);
    ``expected_name`` is the file's stem, which must match ``name``.
    """
    problems: list[Problem] = []
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise ValidationError(
            [Problem(source, "", f"must be a YAML mapping of job fields, found {kind}")]
        )
    unknown = [key for key in data if key not in KNOWN_FIELDS]
    for key in unknown[:MAX_UNKNOWN_SHOWN]:
        # Shown escaped and cut short: the key is whatever the file holds.
        shown = printable(str(key))
        shown = shown if len(shown) <= 64 else shown[:61] + "..."
        problems.append(
            Problem(source, shown, f"unknown field (allowed: {', '.join(KNOWN_FIELDS)})")
        )
    if len(unknown) > MAX_UNKNOWN_SHOWN:
        more = len(unknown) - MAX_UNKNOWN_SHOWN
        problems.append(Problem(source, "", f"and {more} more unknown fields"))

    name = data.get("name", expected_name)
    if not is_valid_name(name):
        problems.append(
            Problem(
                source,
                "name",
                "must match [a-z0-9][a-z0-9._-]{0,63} "
                "(lower-case letters, digits, '.', '_', '-'; at most 64)",
            )
        )
    elif expected_name is not None and name != expected_name:
        problems.append(
            Problem(source, "name", f"must equal the file name {expected_name!r}, found {name!r}")
        )

    engine = data.get("engine", "snapshot")
    if engine not in ENGINES:
        problems.append(Problem(source, "engine", f"must be one of {', '.join(ENGINES)}"))

    sources = _str_list(data.get("sources"), source, "sources", problems, allow_empty=False)
    for i, src in enumerate(sources):
        if not os.path.isabs(os.path.expanduser(src)):
            problems.append(
                Problem(source, f"sources[{i}]", f"must be an absolute path, found {src!r}")
            )

    destination = data.get("destination")
    if not isinstance(destination, str) or not destination.strip():
        problems.append(Problem(source, "destination", "must be a non-empty path"))
        destination = ""
    elif not _is_text(destination):
        problems.append(Problem(source, "destination", NOT_TEXT))
        destination = ""
    elif not _destination_allowed(engine, destination):
        rule = DESTINATION_RULES.get(engine)
        if rule is not None:
            problems.append(Problem(source, "destination", rule.message.format(destination)))

    if destination and not _is_remote_spec(destination):
        for i, src in enumerate(sources):
            if not os.path.isabs(os.path.expanduser(src)):
                continue
            if _inside(destination, src):
                problems.append(
                    Problem(
                        source,
                        "destination",
                        f"must not be inside source {src!r} (the backup would back itself up)",
                    )
                )
            elif _inside(src, destination):
                problems.append(
                    Problem(
                        source,
                        f"sources[{i}]",
                        f"must not be inside the destination {destination!r}",
                    )
                )

    schedule = data.get("schedule")
    if schedule is not None:
        if not isinstance(schedule, str) or not schedule.strip():
            problems.append(
                Problem(
                    source, "schedule", "must be a cron expression such as '0 2 * * *' or @daily"
                )
            )
            schedule = None
        else:
            reason = cron.check(schedule)
            if reason:
                problems.append(Problem(source, "schedule", reason))
            schedule = " ".join(schedule.split())

    missed = data.get("missed", "run")
    if missed not in MISSED_CHOICES:
        problems.append(Problem(source, "missed", "must be 'run' or 'skip'"))
        missed = "run"

    exclude = _str_list(data.get("exclude"), source, "exclude", problems, allow_empty=True)
    retention, retention_problems = RetentionPolicy.parse(data.get("retention"), source)
    problems.extend(retention_problems)

    retries = _int_field(data, "retries", DEFAULT_RETRIES, 0, MAX_RETRIES, source, problems)
    hook_timeout = _int_field(
        data, "hook_timeout", DEFAULT_HOOK_TIMEOUT, 1, 86400, source, problems
    )
    version = _int_field(data, "version", 0, 0, MAX_VERSION, source, problems)

    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(Problem(source, "enabled", "must be true or false"))
        enabled = True

    description = data.get("description")
    if description is None:
        description = ""
    elif not isinstance(description, str) or not _is_text(description):
        problems.append(Problem(source, "description", "must be text"))
        description = ""
    elif not _plain(description, source, "description", problems, MAX_TEXT_CHARS, multiline=True):
        description = ""

    hooks = _parse_hooks(data.get("hooks"), source, problems)

    max_age = _duration_field(data, "max_age", "2d or 36h", source, problems)

    env_raw = data.get("env") or {}
    env: tuple[tuple[str, str], ...] = ()
    if (
        not isinstance(env_raw, dict)
        or len(env_raw) > MAX_ENV
        or not all(
            isinstance(k, str)
            and _is_text(k)
            and isinstance(v, str | int)
            and not isinstance(v, bool)
            and _is_text(str(v))
            for k, v in env_raw.items()
        )
    ):
        problems.append(
            Problem(source, "env", f"must be a mapping of at most {MAX_ENV} NAME: value strings")
        )
    elif all(
        _plain(k, source, "env", problems, 256)
        and _plain(str(v), source, f"env.{k}", problems, MAX_TEXT_CHARS)
        for k, v in env_raw.items()
    ):
        env = tuple(sorted((k, str(v)) for k, v in env_raw.items()))

    ssh_port: int | None = None
    if data.get("ssh_port") is not None:
        ssh_port = _int_field(data, "ssh_port", 22, 1, 65535, source, problems)
    ssh_identity = _opt_text(data, "ssh_identity", source, problems)
    if ssh_identity is not None and not os.path.isabs(os.path.expanduser(ssh_identity)):
        problems.append(Problem(source, "ssh_identity", "must be an absolute path to a key file"))
    ssh_command = _opt_text(data, "ssh_command", source, problems)
    verify = _parse_verify(data.get("verify"), source, problems)
    checksum_every = _duration_field(data, "checksum_every", "30d or 1m", source, problems)
    if destination:
        _plain(destination, source, "destination", problems, MAX_PATH_CHARS)

    preserve = _parse_preserve(data.get("preserve"), source, problems)

    if problems:
        raise ValidationError(problems)
    return JobSpec(
        name=name,
        sources=tuple(os.path.expanduser(s) for s in sources),
        destination=os.path.expanduser(destination)
        if not _is_remote_spec(destination)
        else destination,
        engine=engine,
        schedule=schedule,
        exclude=exclude,
        retention=retention,
        retries=retries,
        enabled=enabled,
        version=version,
        description=description,
        missed=missed,
        hooks=hooks,
        hook_timeout=hook_timeout,
        max_age=max_age,
        env=env,
        ssh_port=ssh_port,
        ssh_identity=os.path.expanduser(ssh_identity) if ssh_identity else None,
        ssh_command=ssh_command,
        verify=verify,
        checksum_every=checksum_every,
        preserve=preserve,
    )


def validate(spec: JobSpec, source: str = "") -> JobSpec:
    """Re-validate a spec built in code (CLI, editor) through the same rules."""
    return parse_job(spec.to_dict(), source, expected_name=spec.name)
