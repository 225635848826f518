"""Job definitions: ``<home>/jobs/<name>.yaml``, one file per job, hand-editable.

Reads are cached per file and re-validated whenever a file's mtime, size or
inode changes, so edits by another process or by hand are seen at the next
query. Writes are locked, atomic and versioned (optimistic concurrency).

A read of a valid file writes nothing. What a read may still do, and only
with ``repair_on_read`` (the default, for one-shot CLI calls): quarantine an
*invalid* file and put its last good version back, once, under the job's
write lock. :meth:`JobStore.repair` is the same as an explicit step, and also
makes a valid hand edit the new last good version (``.bak``); a long-running
owner (the daemon, the TUI) can turn ``repair_on_read`` off and call it
instead at start-up and when the watcher sees a job file change.

Job files are read through :func:`safefile.read_bounded` (never a symbolic
link, FIFO, device or directory; at most 1 MiB) and the strict YAML loader
(:mod:`tui_backup.store.yamlio`). A file name that cannot be a job (not UTF-8,
control characters, upper case) is reported once and skipped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tui_backup.model.job import JobSpec, is_valid_name, parse_job
from tui_backup.model.problems import Problem, ValidationError
from tui_backup.model.records import ErrorEvent
from tui_backup.model.status import Severity
from tui_backup.model.text import printable
from tui_backup.store import safefile
from tui_backup.store.atomic import quarantine
from tui_backup.store.errors import JobExists, JobNotFound, StoreError, VersionConflict
from tui_backup.store.locking import DEFAULT_TIMEOUT, file_lock, fsync_dir
from tui_backup.store.paths import Home, tighten

log = logging.getLogger(__name__)

ErrorSink = Callable[[ErrorEvent], None]


@dataclass(frozen=True, slots=True)
class JobIssue:
    """A job file that is wrong right now; ``in_effect`` says what still runs."""

    name: str
    file: str
    message: str
    quarantined: str | None = None
    in_effect: bool = False
    """True when the last good version (from ``.bak``) is still in effect."""
    problems: tuple[Problem, ...] = ()
    """What is wrong with the file, field by field."""


@dataclass(frozen=True, slots=True)
class JobListing:
    jobs: tuple[JobSpec, ...]
    issues: tuple[JobIssue, ...] = ()


@dataclass(slots=True)
class _Entry:
    fingerprint: safefile.Fingerprint
    spec: JobSpec | None
    issue: JobIssue | None


class JobStore:
    """Locked, atomic, versioned access to the job files of one home."""

    def __init__(
        self,
        home: Home,
        on_error: ErrorSink | None = None,
        lock_timeout: float = DEFAULT_TIMEOUT,
        *,
        repair_on_read: bool = True,
    ) -> None:
        self.home = home
        self.on_error = on_error
        self.lock_timeout = lock_timeout
        self.repair_on_read = repair_on_read
        """Quarantine an invalid file when a read finds it (see the module docstring)."""
        self._cache: dict[str, _Entry] = {}
        self._mutex = threading.RLock()

    # -- queries -------------------------------------------------------------

    def _paths(self) -> list[Path]:
        """The candidate job files: ``*.yaml`` in ``jobs/``, hidden files aside."""
        try:
            return sorted(
                p
                for p in self.home.jobs_dir.iterdir()
                if p.suffix == ".yaml" and not p.name.startswith(".")
            )
        except FileNotFoundError:
            return []

    def list(self) -> JobListing:
        """Every job, sorted by name, plus the files that are wrong."""
        with self._mutex:
            paths = self._paths()
            seen: set[str] = set()
            jobs: list[JobSpec] = []
            issues: list[JobIssue] = []
            for path in paths:
                name = path.stem
                seen.add(name)
                entry = self._entry(path)
                if entry is None:
                    continue
                if entry.spec is not None:
                    jobs.append(entry.spec)
                if entry.issue is not None:
                    issues.append(entry.issue)
            for stale in set(self._cache) - seen:
                del self._cache[stale]
            return JobListing(tuple(jobs), tuple(issues))

    def get(self, name: str) -> JobSpec:
        with self._mutex:
            entry = self._entry(self.home.job_file(name)) if is_valid_name(name) else None
            if entry is None or entry.spec is None:
                if entry is not None and entry.issue is not None:
                    raise ValidationError(_problems_of(entry.issue))
                raise JobNotFound(name)
            return entry.spec

    def exists(self, name: str) -> bool:
        return self.home.job_file(name).exists()

    # -- commands ------------------------------------------------------------

    def repair(self) -> tuple[JobIssue, ...]:
        """The explicit repair step for every job file; returns what is still wrong.

        For each file: an invalid one is quarantined and its last good version
        put back (as a read with ``repair_on_read`` does), a valid hand edit
        becomes the new last good version (``.bak``), and a file open to other
        users (made by hand under umask 022) is made 0600. A file with nothing
        to do is read once, without its lock, and nothing is written: only the
        first repair of a home of 2,000 hand-made jobs writes their ``.bak``
        copies, and later ones cost a listing. Idempotent and safe across
        processes (the work happens under each job's write lock). Problems are
        reported to ``on_error`` like a read's; the results fill the cache, so
        a listing right after reads nothing again.
        """
        issues: list[JobIssue] = []
        backed_up = tightened = 0
        with self._mutex:
            for path in self._paths():
                name = path.stem
                if not is_valid_name(name):
                    continue
                fp = safefile.Fingerprint.of(path)
                if fp is None:
                    continue
                entry = self._settled(path, fp)
                if entry is None:
                    try:
                        with self._lock(name):
                            entry, wrote, private = self._repair_locked(path)
                    except StoreError as exc:
                        log.warning("could not repair %s: %s", self._label(path), exc)
                        continue
                    backed_up += wrote
                    tightened += private
                if entry is None:
                    self._cache.pop(name, None)
                    continue
                self._cache[name] = entry
                if entry.issue is not None:
                    self._report(entry.issue, entry.spec)
                    issues.append(entry.issue)
        if backed_up:
            with contextlib.suppress(OSError):
                fsync_dir(self.home.jobs_dir)  # once for all the copies written
            log.info("kept %d hand-edited job files as their last good version", backed_up)
        if tightened:
            log.warning(
                "made %d job files private (mode 0600): they were open to others", tightened
            )
        return tuple(issues)

    def _settled(self, path: Path, fp: safefile.Fingerprint) -> _Entry | None:
        """The file's entry when repair has nothing to do (valid, private, same as
        its ``.bak``), found without the lock; None when there is work."""
        try:
            if os.lstat(path).st_mode & 0o077:
                return None
            raw = safefile.read_bounded(path)
            if safefile.read_bounded(safefile.backup_path(path)) != raw:
                return None
            spec = safefile.parse_bytes(raw, self._parser(path))
        except (OSError, ValidationError, ValueError):
            return None
        return _Entry(fp, spec, None)

    def _repair_locked(self, path: Path) -> tuple[_Entry | None, bool, bool]:
        """Repair one file under its lock: (its entry, wrote .bak, made private)."""
        name = path.stem
        fp = safefile.Fingerprint.of(path)
        if fp is None:
            return None, False, False
        private = tighten(path, quiet=True)
        try:
            raw = safefile.read_bounded(path)
            spec = safefile.parse_bytes(raw, self._parser(path))
        except FileNotFoundError:
            return None, False, private
        except (OSError, ValidationError, ValueError):
            loaded = safefile.load(
                path,
                self.home.write_lock("job", name),
                self._parser(path),
                self._label(path),
                timeout=self.lock_timeout,
                repair=True,
                locked=True,
            )
            issue = self._issue(name, path, loaded) if loaded.problem is not None else None
            return _Entry(loaded.restored or fp, loaded.value, issue), False, private
        wrote = safefile.refresh_backup_raw(path, raw, sync=False)
        return _Entry(safefile.Fingerprint.of(path) or fp, spec, None), wrote, private

    def create(self, spec: JobSpec) -> JobSpec:
        """Write a new job at version 1; refuses an existing name."""
        path = self.home.job_file(spec.name)
        self._validate(spec)
        self.home.ensure()
        with self._lock(spec.name):
            if path.exists():
                raise JobExists(spec.name)
            new = replace(spec, version=1)
            safefile.write_locked(path, safefile.dump(new.to_dict()))
        self._forget(spec.name)
        return new

    def update(self, spec: JobSpec) -> JobSpec:
        """Write ``spec`` if the file is still at ``spec.version``; bump the version."""
        self._check_name(spec.name)
        path = self.home.job_file(spec.name)
        self._validate(spec)
        with self._lock(spec.name):
            current = self._read_locked(path, spec.name)
            if current.version != spec.version:
                raise VersionConflict(spec.name, spec.version, current.version)
            new = replace(spec, version=current.version + 1)
            safefile.write_locked(path, safefile.dump(new.to_dict()))
        self._forget(spec.name)
        return new

    def modify(self, name: str, change: Callable[[JobSpec], JobSpec]) -> JobSpec:
        """Read-modify-write under the lock, so concurrent edits never get lost.

        ``change`` gets the current spec and returns the new one (its version is
        ignored and set to current + 1). It runs under the job's lock, so keep it
        quick and free of I/O.
        """
        self._check_name(name)
        path = self.home.job_file(name)
        with self._lock(name):
            current = self._read_locked(path, name)
            changed = change(current)
            if changed.name != name:
                raise ValidationError([Problem(self._label(path), "name", "cannot be changed")])
            self._validate(changed)
            new = replace(changed, version=current.version + 1)
            safefile.write_locked(path, safefile.dump(new.to_dict()))
        self._forget(name)
        return new

    def delete(self, name: str, expected_version: int | None = None) -> JobSpec:
        """Remove the job file and its ``.bak``; quarantined copies stay."""
        self._check_name(name)
        path = self.home.job_file(name)
        with self._lock(name):
            current = self._read_locked(path, name)
            if expected_version is not None and current.version != expected_version:
                raise VersionConflict(name, expected_version, current.version)
            safefile.remove(path)
        self._forget(name)
        return current

    def discard_invalid(self, name: str) -> Path:
        """Take a job file that has no valid version out of ``jobs/``.

        For ``job rm`` of a file that never was a valid job: its bytes are
        quarantined (``*.corrupt-<time>``), never deleted, since a person wrote
        them. A job with a valid version in effect is refused: use ``delete``.
        """
        self._check_name(name)
        path = self.home.job_file(name)
        with self._lock(name):
            if not path.exists():
                raise JobNotFound(name)
            loaded = safefile.load(
                path,
                self.home.write_lock("job", name),
                self._parser(path),
                self._label(path),
                timeout=self.lock_timeout,
                repair=False,
                locked=True,
            )
            if loaded.value is not None:
                raise StoreError(f"job {name!r} has a valid version in effect; delete it instead")
            moved = quarantine(path)
            safefile.remove(path)
        self._forget(name)
        return moved

    # -- internals -----------------------------------------------------------

    def _label(self, path: Path) -> str:
        """The file as messages name it, with control characters escaped."""
        return printable(self.home.relative(path))

    def _lock(self, name: str) -> Any:
        return file_lock(self.home.write_lock("job", name), self.lock_timeout, what=f"job {name!r}")

    @staticmethod
    def _check_name(name: str) -> None:
        """Refuse names that could never be a job (and paths like ``../x``)."""
        if not is_valid_name(name):
            raise JobNotFound(name)

    def _forget(self, name: str) -> None:
        with self._mutex:
            self._cache.pop(name, None)

    def _validate(self, spec: JobSpec) -> None:
        label = self._label(self.home.job_file(spec.name))
        parse_job(spec.to_dict(), label, expected_name=spec.name)

    def _parser(self, path: Path) -> Callable[[Any], JobSpec]:
        label = self._label(path)
        return lambda data: parse_job(data, label, expected_name=path.stem)

    def _read_locked(self, path: Path, name: str) -> JobSpec:
        """The current spec straight from disk (caller holds the write lock).

        An invalid file is quarantined and its last good version put back
        before anyone writes over it, so a hand edit is never overwritten
        unseen; the caller then works from that good version.
        """
        if not path.exists():
            raise JobNotFound(name)
        loaded = safefile.load(
            path,
            self.home.write_lock("job", name),
            self._parser(path),
            self._label(path),
            timeout=self.lock_timeout,
            repair=True,
            locked=True,
        )
        if loaded.problem is not None:
            self._report(self._issue(name, path, loaded), loaded.value)
        if loaded.value is None:
            if not path.exists():
                raise JobNotFound(name)
            raise ValidationError(
                loaded.problems or [Problem(self._label(path), "", loaded.problem or "unreadable")]
            )
        return loaded.value

    def _entry(self, path: Path) -> _Entry | None:
        name = path.stem
        fp = safefile.Fingerprint.of(path)
        if fp is None:
            self._cache.pop(name, None)
            return None
        cached = self._cache.get(name)
        if cached is not None and cached.fingerprint == fp:
            return cached
        # Keep the fingerprint taken *before* reading: if the file changes while
        # we read it, the next query sees a different one and reads again.
        entry = self._load(path, fp)
        self._cache[name] = entry
        return entry

    def _issue(self, name: str, path: Path, loaded: safefile.Loaded[JobSpec]) -> JobIssue:
        label = self._label(path)
        kept = self._label(loaded.quarantined) if loaded.quarantined else None
        msg = loaded.problem or "unreadable"
        if loaded.value is not None:
            tail = f"the last good version (version {loaded.value.version}) is in effect"
            if kept:
                tail = f"your file was kept as {kept}; " + tail
            msg = f"{msg}\n{tail}"
        return JobIssue(name, label, msg, kept, loaded.value is not None, loaded.problems)

    def _load(self, path: Path, fp: safefile.Fingerprint) -> _Entry:
        name = path.stem
        label = self._label(path)
        if not is_valid_name(name):
            # Reported once (the cache keeps the entry while the file is unchanged)
            # and never read; the name is shown escaped: it may hold anything.
            why = Problem(
                label,
                "",
                "file name is not a valid job name ([a-z0-9][a-z0-9._-]{0,63}.yaml); ignored",
            )
            issue = JobIssue(printable(name), label, str(why), problems=(why,))
            self._report(issue, None)
            return _Entry(fp, None, issue)
        loaded = safefile.load(
            path,
            self.home.write_lock("job", name),
            self._parser(path),
            label,
            timeout=self.lock_timeout,
            repair=self.repair_on_read,
        )
        issue: JobIssue | None = None
        if loaded.problem is not None:
            issue = self._issue(name, path, loaded)
            self._report(issue, loaded.value)
        # After a repair, key the entry by the restored file so the issue stays
        # visible to this process's queries until the file changes again.
        return _Entry(loaded.restored or fp, loaded.value, issue)

    def _report(self, issue: JobIssue, good: JobSpec | None) -> None:
        # INFO: callers get the issue (listing, event) and show it themselves.
        log.info("%s", issue.message.replace("\n", "; "))
        if self.on_error is None:
            return
        self.on_error(
            ErrorEvent(
                severity=Severity.MEDIUM if good is not None else Severity.HIGH,
                component="store",
                error_type="invalid_job_file",
                message="; ".join(issue.message.splitlines()),
                job_name=issue.name,
                details=issue.message,
            )
        )


def _problems_of(issue: JobIssue) -> list[Problem]:
    return list(issue.problems) or [Problem("", "", issue.message)]
