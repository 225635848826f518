"""Where everything lives inside a tui-backup home directory.

One home may be shared by any number of TUIs, daemons and CLI calls, so all
coordination happens through files under it (see DESIGN.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "TUI_BACKUP_HOME"
DIR_MODE = 0o700
FILE_MODE = 0o600


def default_home() -> Path:
    """``$TUI_BACKUP_HOME``, else the platform's user data dir (platformdirs)."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_path

    return user_data_path("tui-backup", appauthor=False)


@dataclass(frozen=True, slots=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, explicit: str | os.PathLike[str] | None = None) -> Home:
        root = Path(explicit).expanduser() if explicit else default_home()
        return cls(root.absolute())

    @property
    def jobs_dir(self) -> Path:
        return self.root / "jobs"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def locks_dir(self) -> Path:
        return self.root / "locks"

    @property
    def write_locks_dir(self) -> Path:
        """Short-lived locks around file writes, apart from the run locks."""
        return self.locks_dir / "write"

    @property
    def themes_dir(self) -> Path:
        return self.root / "themes"

    @property
    def db_path(self) -> Path:
        return self.root / "tui-backup.db"

    @property
    def fallback_log(self) -> Path:
        """Append-only JSONL used while SQLite cannot be written."""
        return self.root / "events-fallback.jsonl"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    def job_file(self, name: str) -> Path:
        return self.jobs_dir / f"{name}.yaml"

    def state_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.yaml"

    def stop_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.stop"

    def run_lock(self, name: str) -> Path:
        return self.locks_dir / f"{name}.lock"

    def write_lock(self, kind: str, name: str) -> Path:
        return self.write_locks_dir / f"{kind}.{name}.lock"

    def relative(self, path: Path) -> str:
        """``jobs/web.yaml`` for messages; the full path when outside the home."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def ensure(self) -> None:
        """Create the directory tree, private to the user (0700)."""
        for d in (
            self.root,
            self.jobs_dir,
            self.state_dir,
            self.locks_dir,
            self.write_locks_dir,
            self.themes_dir,
        ):
            d.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
