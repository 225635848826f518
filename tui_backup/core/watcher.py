"""Watch ``jobs/`` and ``state/`` so other processes' runs and hand edits show up live.

watchfiles (inotify on Linux) reports changes within its debounce (200 ms
here). Where it cannot work (inotify watches exhausted, a filesystem without
notifications such as some network mounts) we fall back to polling the two
directories once a second and say so with ``WatchChanged(mode="polling")``,
so a person knows why updates may lag.

With ``on_database`` it also watches the home directory itself (not
recursively) for writes to the SQLite database and its ``-wal`` file, and
calls ``on_database()``: that is how error events recorded or resolved by
other processes are noticed (``error_feed.py`` reads what changed). Polling
mode stats those two files too.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from tui_backup.core.events import WatchChanged, WatchMode
from tui_backup.model.job import is_valid_name
from tui_backup.store.paths import Home

log = logging.getLogger(__name__)
# watchfiles logs every batch of changes at INFO; that is noise in the daemon's log.
logging.getLogger("watchfiles").setLevel(logging.WARNING)

POLL_INTERVAL = 1.0
DEBOUNCE_MS = 200

OnChange = Callable[[frozenset[str], bool], None]
"""``(job names whose files changed, whether any job definition changed)``."""
OnStatus = Callable[[WatchChanged], None]
OnDatabase = Callable[[], None]
"""The error database was written (by any process)."""


def database_files(home: Home) -> tuple[Path, Path]:
    """The files a commit writes: the database and its write-ahead log."""
    return home.db_path, home.db_path.with_name(home.db_path.name + "-wal")


def _kind(directory: Path, home: Home) -> str | None:
    """``jobs`` or ``state`` when ``directory`` is one of the home's, else None.

    Compared both as given and resolved: the notifier may report paths through
    a symlinked home either way.
    """
    for kind, d in (("jobs", home.jobs_dir), ("state", home.state_dir)):
        if directory == d:
            return kind
    try:
        resolved = directory.resolve()
    except OSError:
        return None
    for kind, d in (("jobs", home.jobs_dir), ("state", home.state_dir)):
        try:
            if resolved == d.resolve():
                return kind
        except OSError:
            continue
    return None


def job_name_for(path: Path, home: Home) -> str | None:
    """The job a changed file belongs to, or None for files we do not care about."""
    kind = _kind(path.parent, home)
    if kind is None:
        return None
    name = path.name
    if name.startswith("."):
        return None  # temp files of atomic writes
    if name.endswith(".yaml"):
        stem = name[: -len(".yaml")]
    elif kind == "state" and name.endswith(".stop"):
        stem = name[: -len(".stop")]
    else:
        return None  # .bak, .corrupt-*, anything else
    return stem if is_valid_name(stem) else None


class Watcher:
    def __init__(
        self,
        home: Home,
        on_change: OnChange,
        on_status: OnStatus,
        *,
        force_polling: bool = False,
        poll_interval: float = POLL_INTERVAL,
        on_database: OnDatabase | None = None,
    ) -> None:
        self.home = home
        self.on_change = on_change
        self.on_status = on_status
        self.on_database = on_database
        self._db_names = {p.name for p in database_files(home)}
        self.force_polling = force_polling
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.mode = WatchMode.STARTING

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tui-backup-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None

    def _status(self, mode: WatchMode, detail: str = "") -> None:
        if mode != self.mode:
            self.mode = mode
            self.on_status(WatchChanged(mode, detail))

    def _run(self) -> None:
        if not self.force_polling:
            try:
                while not self._stop.is_set():
                    if self._watch():
                        return
                    self._wait_readable()  # the home went away: watch again once it is back
                return
            except Exception as exc:  # noqa: BLE001 - any failure means: poll instead
                if self._stop.is_set():
                    return
                log.warning("file watching failed (%s); polling every second instead", exc)
                self._status(WatchMode.POLLING, f"file notifications unavailable: {exc}")
        else:
            self._status(WatchMode.POLLING, "polling was requested")
        self._poll()

    def _unreadable(self) -> str | None:
        """Why the home's watched directories cannot be read now, or None."""
        for d in (self.home.jobs_dir, self.home.state_dir):
            try:
                if not d.is_dir():
                    return f"cannot read {self.home.root}: {d.name}/ is missing"
                os.listdir(d)
            except OSError as exc:
                return f"cannot read {self.home.root}: {exc}"
        return None

    def _wait_readable(self) -> None:
        while not self._stop.is_set() and self._unreadable() is not None:
            self._stop.wait(self.poll_interval)

    def _watch(self) -> bool:
        """Watch until stopped (True) or until the home cannot be read (False)."""
        # Lazy: every CLI command imports the core, few watch; watchfiles costs about
        # 0.1 s of a 1.7 s start-up measured with -X importtime on a loaded machine.
        import watchfiles  # noqa: PLC0415

        dirs = [self.home.jobs_dir, self.home.state_dir]
        if self.mode == WatchMode.STARTING:
            for d in dirs:  # only at first: a home that went away is never re-created
                d.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.on_database is not None:
            dirs.append(self.home.root)
        back = self.mode == WatchMode.UNREACHABLE
        self._status(WatchMode.LIVE, "the home is readable again" if back else "")
        for changes in watchfiles.watch(
            *dirs,
            watch_filter=None,
            debounce=DEBOUNCE_MS,
            step=50,
            stop_event=self._stop,
            recursive=False,
            raise_interrupt=False,
            rust_timeout=1000,
            yield_on_timeout=True,
        ):
            if self._stop.is_set():
                return True
            if changes:
                self._report([Path(p) for _change, p in changes])
            problem = self._unreadable()
            if problem is not None:
                self._status(WatchMode.UNREACHABLE, problem)
                return False
        return True

    def _is_database(self, path: Path) -> bool:
        if path.name not in self._db_names:
            return False
        parent = path.parent
        if parent == self.home.root:
            return True
        try:
            return parent.resolve() == self.home.root.resolve()
        except OSError:
            return False

    def _report(self, paths: list[Path]) -> None:
        names: set[str] = set()
        definitions = False
        database = False
        for path in paths:
            if self.on_database is not None and self._is_database(path):
                database = True
                continue
            name = job_name_for(path, self.home)
            if name is not None:
                names.add(name)
                definitions = definitions or _kind(path.parent, self.home) == "jobs"
        if names:
            self.on_change(frozenset(names), definitions)
        if database and self.on_database is not None:
            self.on_database()

    def _scan(self) -> dict[str, tuple[int, int, int]]:
        seen: dict[str, tuple[int, int, int]] = {}
        for d in (self.home.jobs_dir, self.home.state_dir):
            for entry in d.iterdir():
                name = job_name_for(entry, self.home)
                if name is None:
                    continue
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                seen[f"{d.name}/{entry.name}"] = (st.st_mtime_ns, st.st_size, st.st_ino)
        if self.on_database is not None:
            for path in database_files(self.home):
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                seen[path.name] = (st.st_mtime_ns, st.st_size, st.st_ino)
        return seen

    def _poll(self) -> None:
        previous: dict[str, tuple[int, int, int]] | None = None
        while not self._stop.is_set():
            try:
                current = self._scan()
            except OSError as exc:
                self._status(WatchMode.UNREACHABLE, f"cannot read {self.home.root}: {exc}")
                self._stop.wait(self.poll_interval)
                continue
            if self.mode == WatchMode.UNREACHABLE:
                self._status(WatchMode.POLLING, "the home is readable again")
            if previous is not None:
                changed = [
                    self.home.root / k
                    for k in current.keys() | previous.keys()
                    if current.get(k) != previous.get(k)
                ]
                self._report(changed)
            previous = current
            self._stop.wait(self.poll_interval)
