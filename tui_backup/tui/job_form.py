"""The job editor's form values <-> the job YAML mapping.

The form never validates on its own: it turns what was typed into the same
mapping a person would write in ``jobs/<name>.yaml`` and hands it to the
model's ``parse_job``, so the editor, the CLI and hand edits share one set of
rules and messages. Only shapes the YAML cannot express in one text box
(lists, argv lists, ``NAME=value`` pairs) are split here.
"""

from __future__ import annotations

import csv
import shlex
from dataclasses import dataclass
from typing import Any

from tui_backup.model.job import HOOK_STAGES, JobSpec
from tui_backup.model.problems import Problem
from tui_backup.model.retention import COUNT_KEYS, WITHIN_KEYS
from tui_backup.model.secrets import MASK, is_secret_name, mask_url
from tui_backup.tui.formatting import tilde

RETENTION_FIELDS = (*COUNT_KEYS, *WITHIN_KEYS)

TEXT_FIELDS = (
    "name",
    "description",
    "sources",
    "destination",
    "schedule",
    "exclude",
    *RETENTION_FIELDS,
    "retries",
    "hook_timeout",
    "max_age",
    "env",
    *(f"hooks_{s}" for s in HOOK_STAGES),
)


@dataclass
class FormValues:
    """What the widgets hold, as text (plus the two choices and the switch)."""

    text: dict[str, str]
    engine: str = "snapshot"
    missed: str = "run"
    enabled: bool = True


def split_list(text: str) -> list[str]:
    """``a, "b,c", d`` -> ``["a", "b,c", "d"]``: a part with a comma is written in quotes."""
    try:
        parts = next(csv.reader([text], skipinitialspace=True), [])
    except csv.Error:
        parts = text.split(",")
    return [part.strip() for part in parts if part.strip()]


def join_list(items: tuple[str, ...] | list[str]) -> str:
    """The inverse of :func:`split_list`: items with a comma or a quote are quoted."""
    out = []
    for item in items:
        quote = "," in item or '"' in item or item != item.strip()
        out.append('"' + item.replace('"', '""') + '"' if quote else item)
    return ", ".join(out)


def _path(text: str) -> str:
    """Drop a trailing ``/`` left by path completion (``/srv/www/`` -> ``/srv/www``)."""
    text = text.strip()
    return text.rstrip("/") if len(text) > 1 and text.startswith(("/", "~")) else text


def _destination(text: str, saved: str | None) -> str:
    """The typed destination; the saved one when it is still shown masked."""
    value = _path(text)
    if saved is not None and mask_url(saved) != saved and value == mask_url(saved):
        return saved
    return value


def _number(text: str) -> int | str:
    """An integer when it is one; otherwise the text, for parse_job to refuse."""
    try:
        return int(text.strip())
    except ValueError:
        return text.strip()


def split_commands(text: str) -> list[list[str]]:
    """``curl -fsS URL ; sh -c 'echo hi'`` -> two argv lists (no shell involved)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token and set(token) == {";"}:
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def join_commands(commands: tuple[tuple[str, ...], ...]) -> str:
    return " ; ".join(shlex.join(argv) for argv in commands)


def to_mapping(
    values: FormValues,
    version: int,
    extra_retention: dict[str, Any],
    hidden_env: dict[str, str] | None = None,
    destination: str | None = None,
) -> tuple[dict[str, Any], list[Problem]]:
    """The YAML mapping for ``parse_job`` and the problems only the form can see.

    ``hidden_env`` holds the real values of the secrets the form shows as
    ``***``: a variable still reading ``***`` keeps its saved value, so
    masking never changes (or leaks) a password; typing a new value replaces it.
    ``destination`` is the saved destination, whose URL password the form
    shows as ``***`` too: left as shown, the saved one is kept.
    """
    t = {k: values.text.get(k, "") for k in TEXT_FIELDS}
    problems: list[Problem] = []
    data: dict[str, Any] = {
        "name": t["name"].strip(),
        "sources": [_path(p) for p in split_list(t["sources"])],
        "destination": _destination(t["destination"], destination),
        "engine": values.engine,
        "enabled": values.enabled,
        "version": version,
    }
    if t["description"].strip():
        data["description"] = t["description"].strip()
    if t["schedule"].strip():
        data["schedule"] = t["schedule"].strip()
    if values.missed != "run":
        data["missed"] = values.missed
    if t["exclude"].strip():
        data["exclude"] = split_list(t["exclude"])
    retention: dict[str, Any] = dict(extra_retention)
    for key in COUNT_KEYS:
        if t[key].strip():
            retention[key] = _number(t[key])
    for key in WITHIN_KEYS:
        if t[key].strip():
            retention[key] = t[key].strip()
    if retention:
        data["retention"] = retention
    for key in ("retries", "hook_timeout"):
        if t[key].strip():
            data[key] = _number(t[key])
    if t["max_age"].strip():
        data["max_age"] = t["max_age"].strip()
    if t["env"].strip():
        env: dict[str, str] = {}
        try:
            tokens = shlex.split(t["env"])
        except ValueError as exc:
            problems.append(Problem("", "env", f"cannot be read ({exc})"))
            tokens = []
        for token in tokens:
            key, eq, value = token.partition("=")
            if not eq or not key:
                problems.append(Problem("", "env", f"{token!r} must look like NAME=value"))
            elif value == MASK and key in (hidden_env or {}):
                env[key] = (hidden_env or {})[key]
            else:
                env[key] = value
        data["env"] = env
    hooks: dict[str, Any] = {}
    for stage in HOOK_STAGES:
        raw = t[f"hooks_{stage}"].strip()
        if not raw:
            continue
        try:
            hooks[stage] = split_commands(raw)
        except ValueError as exc:
            problems.append(Problem("", f"hooks.{stage}", f"cannot be read ({exc})"))
    if hooks:
        data["hooks"] = hooks
    return data, problems


def hidden_env(spec: JobSpec | None) -> dict[str, str]:
    """The secret env values of ``spec`` that the form shows as ``***``."""
    if spec is None:
        return {}
    return {k: v for k, v in spec.env if v and is_secret_name(k)}


def env_text(spec: JobSpec) -> str:
    """The env field: ``NAME=value`` pairs, each secret value shown as ``***``."""
    hidden = hidden_env(spec)
    return " ".join(f"{k}={MASK}" if k in hidden else shlex.quote(f"{k}={v}") for k, v in spec.env)


def from_spec(spec: JobSpec | None) -> tuple[FormValues, dict[str, Any]]:
    """Form values for ``spec`` (defaults for a new job) and retention keys not on the form."""
    if spec is None:
        return FormValues(text={"retries": "2"}), {}
    text: dict[str, str] = {
        "name": spec.name,
        "description": spec.description,
        "sources": join_list([tilde(s) for s in spec.sources]),
        "destination": tilde(mask_url(spec.destination)),
        "schedule": spec.schedule or "",
        "exclude": join_list(list(spec.exclude)),
        "retries": str(spec.retries),
        "hook_timeout": str(spec.hook_timeout) if spec.hook_timeout != 300 else "",
        "max_age": str(spec.max_age) if spec.max_age is not None else "",
        "env": env_text(spec),
    }
    extra: dict[str, Any] = {}
    if spec.retention is not None:
        for key, value in spec.retention.to_dict().items():
            if key in RETENTION_FIELDS:
                text[key] = str(value)
            else:
                extra[key] = value
    for stage in HOOK_STAGES:
        text[f"hooks_{stage}"] = join_commands(getattr(spec.hooks, stage))
    return (
        FormValues(text=text, engine=spec.engine, missed=spec.missed, enabled=spec.enabled),
        extra,
    )


def widget_for(field: str) -> str:
    """The form field that shows a problem of the YAML ``field``."""
    base = field.split("[", 1)[0]
    if base.startswith("retention."):
        key = base.split(".", 1)[1]
        return key if key in RETENTION_FIELDS else "keep_within"
    if base.startswith("hooks."):
        stage = base.split(".", 1)[1]
        return f"hooks_{stage}" if stage in HOOK_STAGES else "hooks_before"
    if base in ("retention", "hooks"):
        return "keep_last" if base == "retention" else "hooks_before"
    return base
