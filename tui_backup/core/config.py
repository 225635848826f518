"""Typed settings from ``<home>/config.yaml`` (theme, concurrency, key map).

Written through the same locked atomic writer as jobs, so the TUI saving a
theme choice never races a hand edit into a half-written file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from tui_backup.model.problems import Problem, ValidationError
from tui_backup.store import safefile
from tui_backup.store.paths import Home

DEFAULT_THEME = "backup-dark"


@dataclass(frozen=True, slots=True)
class Settings:
    theme: str = DEFAULT_THEME
    max_concurrent_jobs: int = 2
    keymap: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    """Binding id -> comma-separated keys, e.g. ``("run", "ctrl+r")``."""

    @property
    def keymap_dict(self) -> dict[str, str]:
        return dict(self.keymap)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "theme": self.theme,
            "max_concurrent_jobs": self.max_concurrent_jobs,
        }
        if self.keymap:
            out["keymap"] = dict(self.keymap)
        return out

    @classmethod
    def parse(cls, data: Any, source: str = "config.yaml") -> Settings:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValidationError([Problem(source, "", "must be a mapping")])
        problems: list[Problem] = []
        theme = data.get("theme", DEFAULT_THEME)
        if not isinstance(theme, str) or not theme:
            problems.append(Problem(source, "theme", "must be a theme name"))
            theme = DEFAULT_THEME
        mcj = data.get("max_concurrent_jobs", 2)
        if isinstance(mcj, bool) or not isinstance(mcj, int) or not 1 <= mcj <= 64:
            problems.append(Problem(source, "max_concurrent_jobs", "must be an integer 1-64"))
            mcj = 2
        keymap_raw = data.get("keymap") or {}
        if not isinstance(keymap_raw, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in keymap_raw.items()
        ):
            problems.append(Problem(source, "keymap", "must map binding ids to keys"))
            keymap_raw = {}
        for key in data:
            if key not in ("theme", "max_concurrent_jobs", "keymap"):
                problems.append(Problem(source, str(key), "unknown setting"))
        if problems:
            raise ValidationError(problems)
        return cls(theme, mcj, tuple(sorted(keymap_raw.items())))


class SettingsStore:
    def __init__(self, home: Home, lock_timeout: float = 5.0) -> None:
        self.home = home
        self.lock_timeout = lock_timeout
        self.problem: str | None = None

    def load(self) -> Settings:
        """The settings; defaults (and ``problem`` set) when the file is wrong."""
        path = self.home.config_path
        loaded = safefile.load(
            path,
            self.home.write_lock("config", "config"),
            lambda d: Settings.parse(d, self.home.relative(path)),
            self.home.relative(path),
            timeout=self.lock_timeout,
        )
        self.problem = loaded.problem
        return loaded.value if loaded.value is not None else Settings()

    def save(self, settings: Settings) -> None:
        self.home.ensure()
        safefile.write(
            self.home.config_path,
            self.home.write_lock("config", "config"),
            settings.to_dict(),
            self.lock_timeout,
        )

    def update(self, **changes: Any) -> Settings:
        new = replace(self.load(), **changes)
        self.save(new)
        return new
