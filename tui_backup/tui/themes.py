"""Themes from YAML files, checked through one validated model.

Built-in themes ship as YAML in ``themes/`` (inside the wheel as
``tui_backup/themes``); users add their own in ``<home>/themes/``. Every
colour goes through ``Color.parse``; a bad file is reported (all bad files in
one toast) and skipped, never half-applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from textual.color import Color, ColorParseError
from textual.theme import Theme

from tui_backup.core.config import DEFAULT_THEME

BASE_KEYS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "success",
    "warning",
    "error",
)
STATUS_KEYS = (
    "idle",
    "queued",
    "running",
    "stopping",
    "succeeded",
    "failed",
    "stopped",
    "interrupted",
)
SEVERITY_KEYS = ("low", "medium", "high", "critical")
TOP_KEYS = {
    "name",
    "dark",
    "ansi",
    "status",
    "severity",
    "progress_track",
    "variables",
    *BASE_KEYS,
}


def variable_defaults() -> dict[str, str]:
    """Our CSS variables, for themes that do not set them (Textual's own themes)."""
    out = {
        "status-idle": "#8a93a3",
        "status-queued": "#b48ead",
        "status-running": "#4a9fd8",
        "status-stopping": "#e8b04a",
        "status-succeeded": "#57b26a",
        "status-failed": "#e0605a",
        "status-stopped": "#e8b04a",
        "status-interrupted": "#e07a3a",
        "severity-low": "#8a93a3",
        "severity-medium": "#e8b04a",
        "severity-high": "#e07a3a",
        "severity-critical": "#ff4d6d",
        "progress-track": "#5c6675",
        "pane-border": "#5c6675",
    }
    return out


@dataclass(frozen=True)
class ThemeLoad:
    """The themes that loaded, in cycling order, and one line per bad file."""

    themes: tuple[Theme, ...]
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.themes)


def _color(value: Any, where: str, problems: list[str]) -> str | None:
    if not isinstance(value, str):
        problems.append(f"{where}: must be a colour string")
        return None
    try:
        Color.parse(value)
    except ColorParseError as exc:
        problems.append(f"{where}: {value!r} is not a colour ({exc})")
        return None
    return value


def parse_theme(data: Any, source: str) -> tuple[Theme | None, list[str]]:
    """Validate one theme mapping; the Theme, or None and every problem found."""
    problems: list[str] = []
    if not isinstance(data, dict):
        return None, [f"{source}: must be a mapping of theme fields"]
    for key in data:
        if key not in TOP_KEYS:
            problems.append(f"{source}: {key}: unknown field")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{source}: name: must be a theme name")
    if "primary" not in data:
        problems.append(f"{source}: primary: is required")
    base: dict[str, str] = {}
    for key in BASE_KEYS:
        if key in data:
            value = _color(data[key], f"{source}: {key}", problems)
            if value is not None:
                base[key] = value
    for flag in ("dark", "ansi"):
        if flag in data and not isinstance(data[flag], bool):
            problems.append(f"{source}: {flag}: must be true or false")
    variables: dict[str, str] = {}
    for group, keys, fallback in (
        ("status", STATUS_KEYS, _status_fallback(base)),
        ("severity", SEVERITY_KEYS, _severity_fallback(base)),
    ):
        raw = data.get(group) or {}
        if not isinstance(raw, dict):
            problems.append(f"{source}: {group}: must be a mapping")
            raw = {}
        for key in raw:
            if key not in keys:
                problems.append(f"{source}: {group}.{key}: unknown (allowed: {', '.join(keys)})")
        for key in keys:
            value = raw.get(key, fallback.get(key))
            if value is None:
                continue
            checked = _color(value, f"{source}: {group}.{key}", problems)
            if checked is not None:
                variables[f"{group}-{key}"] = checked
    if "progress_track" in data:
        track = _color(data["progress_track"], f"{source}: progress_track", problems)
        if track is not None:
            variables["progress-track"] = track
            # Pane borders: the panel colour is too faint on light themes and
            # "transparent" (invisible) in ANSI themes; the track colour is made
            # to be seen against the background. ``variables`` may override it.
            variables["pane-border"] = track
    extra = data.get("variables") or {}
    if not isinstance(extra, dict):
        problems.append(f"{source}: variables: must be a mapping")
    else:
        for key, value in extra.items():
            if isinstance(value, str):
                variables[str(key)] = value
            else:
                problems.append(f"{source}: variables.{key}: must be a string")
    if problems:
        return None, problems
    return (
        Theme(
            name=str(name),
            dark=bool(data.get("dark", True)),
            ansi=bool(data.get("ansi", False)),
            variables=variables,
            **base,  # type: ignore[arg-type]
        ),
        [],
    )


def _status_fallback(base: dict[str, str]) -> dict[str, str]:
    """Status colours default to the theme's own success/warning/error."""
    out: dict[str, str] = {}
    for key, role in (
        ("running", "primary"),
        ("succeeded", "success"),
        ("failed", "error"),
        ("stopping", "warning"),
        ("stopped", "warning"),
        ("interrupted", "warning"),
    ):
        if role in base:
            out[key] = base[role]
    return out


def _severity_fallback(base: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, role in (("medium", "warning"), ("high", "warning"), ("critical", "error")):
        if role in base:
            out[key] = base[role]
    return out


def builtin_theme_dir() -> Traversable | Path:
    """``tui_backup/themes`` when installed from a wheel, else the repo's ``themes/``."""
    packaged = resources.files("tui_backup") / "themes"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "themes"


def _theme_files(folder: Traversable | Path) -> list[Traversable | Path]:
    if not folder.is_dir():
        return []
    return sorted(
        (f for f in folder.iterdir() if f.name.endswith((".yaml", ".yml"))),
        key=lambda f: f.name,
    )


def load_themes(user_dir: Path | None) -> ThemeLoad:
    """Built-in themes first (the default leading), then the user's.

    A user theme with a built-in's name replaces it: that is how a person
    tweaks the default without renaming it everywhere.
    """
    found: dict[str, Theme] = {}
    problems: list[str] = []
    sources: list[tuple[str, Traversable | Path]] = [
        (f"themes/{f.name}", f) for f in _theme_files(builtin_theme_dir())
    ]
    if user_dir is not None:
        sources += [(str(f), f) for f in _theme_files(user_dir)]
    for label, file in sources:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.append(f"{label}: cannot be read ({_one_line(exc)})")
            continue
        theme, theme_problems = parse_theme(data, label)
        if theme is None:
            problems.extend(theme_problems)
            continue
        found[theme.name] = theme
    ordered = sorted(found.values(), key=lambda t: (t.name != DEFAULT_THEME, t.name))
    return ThemeLoad(tuple(ordered), tuple(problems))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160]


def next_theme(names: tuple[str, ...], current: str) -> str:
    """The theme after ``current`` in cycling order (wrapping round)."""
    if not names:
        return current
    try:
        return names[(names.index(current) + 1) % len(names)]
    except ValueError:
        return names[0]
