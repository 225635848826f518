"""Where everything lives inside a tui-backup home directory.

One home may be shared by any number of TUIs, daemons and CLI calls, so all
coordination happens through files under it (docs/configuration.md, "The home directory").
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

HOME_ENV = "TUI_BACKUP_HOME"
DIR_MODE = 0o700
FILE_MODE = 0o600


def default_home() -> Path:
    """``$TUI_BACKUP_HOME``, else the platform's user data dir (platformdirs)."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    # Only when no home is given: platformdirs costs ~15 ms of start-up.
    from platformdirs import user_data_path  # noqa: PLC0415

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
        """Create the directory tree, private to the user (0700), and tighten it.

        ``mkdir``'s mode can only lose bits to the umask, so a new directory is
        0700 under any umask. One that already exists with group or other
        access (a home made by hand, or by an older version, at 0755) is
        tightened to 0700 with a log line: it holds job definitions (hook
        commands, environment), run history and error messages. The home
        itself is left alone when it is the user's own home directory or ``/``
        (``--home ~`` must not change who may enter ``~``).
        """
        for d in (
            self.root,
            self.jobs_dir,
            self.state_dir,
            self.locks_dir,
            self.write_locks_dir,
            self.themes_dir,
        ):
            d.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            if d == self.root and d.resolve() in (Path.home().resolve(), Path("/")):
                continue
            tighten(d)


def tighten(path: Path, *, quiet: bool = False) -> bool:
    """Remove group and other access from ``path`` when it is ours and has any
    (0755 becomes 0700, 0644 becomes 0600; no bit is ever added).

    Returns True when it changed the mode (and says so in the log, unless
    ``quiet``: a caller tightening many files logs one line for all). A path
    owned by someone else, or a symbolic link, is left as it is.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    current = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid() or not current & 0o077:
        return False
    mode = current & ~0o077
    os.chmod(path, mode)
    log.log(
        logging.DEBUG if quiet else logging.WARNING,
        "%s was open to other users (mode %04o); tightened to %04o",
        path,
        current,
        mode,
    )
    return True
