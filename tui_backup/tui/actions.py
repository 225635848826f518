"""Commands on the core, each in its own thread worker ending in a typed message.

Every call here may block (file locks, SQLite, engines), so none runs on the
UI thread. Failures become :class:`ActionFailed` (an error toast); successes
a short :class:`ActionSucceeded`. The mixin is used by ``BackupApp`` only;
it is split out so the app module stays about wiring.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from textual import work

from tui_backup.core.errors import AlreadyRunning, NotRunning, VersionConflict
from tui_backup.core.reports import verify_sentence
from tui_backup.core.snapshots import SnapshotOperationFailed
from tui_backup.model.records import ErrorEvent
from tui_backup.model.status import Severity
from tui_backup.tui.messages import (
    ActionFailed,
    ActionSucceeded,
    ErrorsLoaded,
    InitOffered,
    JobsLoaded,
    ViewsRefreshed,
)
from tui_backup.tui.snapshot_access import capabilities, verify_latest

log = logging.getLogger(__name__)

NO_REPOSITORY = "no_repository"
"""The door's error type for a restic repository that does not exist yet."""


if TYPE_CHECKING:
    from textual.message import Message

    from tui_backup.core.manager import JobManager


def readable(exc: BaseException) -> str:
    """One line a person can act on; the class name only when the text is empty."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class JobActions:
    """Thread workers that talk to the manager; mixed into the app."""

    manager: JobManager

    if TYPE_CHECKING:

        def post_message(self, message: Message) -> bool: ...

    @work(thread=True, exclusive=True, exit_on_error=False, group="load-jobs")
    def load_jobs(self) -> None:
        views = self.manager.list_jobs()
        issues = tuple(f"{i.name}: {i.message}" for i in self.manager.job_issues())
        self.post_message(JobsLoaded(views, issues))

    @work(thread=True, exclusive=True, exit_on_error=False, group="refresh-views")
    def refresh_views(self, names: tuple[str, ...]) -> None:
        """The core's views of ``names`` now (its ``next_run`` is computed at the query)."""
        views = []
        for name in names:
            try:
                views.append(self.manager.job(name))
            except Exception:  # noqa: BLE001 - deleted meanwhile: the change feed says so
                continue
        self.post_message(ViewsRefreshed(tuple(views)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="load-errors")
    def load_errors(self, query: dict[str, Any]) -> None:
        """The error log's rows for ``query`` (the main screen's filters) and the counts."""
        events = self.manager.errors(**query)
        stats = self.manager.error_stats()
        self.post_message(ErrorsLoaded(events, stats.unresolved, stats.total))

    @work(thread=True, exit_on_error=False, group="job-command")
    def run_job(self, name: str) -> None:
        try:
            self.manager.start(name, trigger="manual")
        except AlreadyRunning as exc:
            self.post_message(ActionFailed("run", name, readable(exc)))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a toast
            self.post_message(ActionFailed("run", name, f"{name}: {readable(exc)}"))
        else:
            self.post_message(ActionSucceeded("run", name, f"{name}: started", quiet=True))

    @work(thread=True, exit_on_error=False, group="job-command")
    def stop_job(self, name: str) -> None:
        try:
            self.manager.stop(name)
        except NotRunning:
            self.post_message(
                ActionFailed("stop", name, f"{name} is not running", severity="warning")
            )
        except Exception as exc:  # noqa: BLE001 - NotRunning, JobNotFound, a store failure
            self.post_message(ActionFailed("stop", name, f"{name}: {readable(exc)}"))
        else:
            self.post_message(ActionSucceeded("stop", name, f"{name}: stop requested", quiet=True))

    @work(thread=True, exit_on_error=False, group="job-command")
    def delete_job(self, name: str, *, purge_data: bool, version: int) -> None:
        try:
            self.manager.delete(name, purge_data=purge_data, expected_version=version)
        except VersionConflict as exc:
            self.post_message(
                ActionFailed(
                    "delete", name, f"{readable(exc)} — it changed on disk; look again first"
                )
            )
        except Exception as exc:  # noqa: BLE001 - running, missing, or a purge that failed
            self.post_message(ActionFailed("delete", name, f"{name}: {readable(exc)}"))
            if purge_data:
                self._keep_refused_purge(name, exc)
        else:
            what = "job and its backup data" if purge_data else "job (backup data kept)"
            self.post_message(ActionSucceeded("delete", name, f"{name}: {what} deleted"))

    def _keep_refused_purge(self, name: str, exc: BaseException) -> None:
        """A refused purge stays in the error log: the toast goes, the job and data stay."""

        try:
            self.manager.record_error(
                ErrorEvent(
                    Severity.MEDIUM,
                    "jobs",
                    "purge_refused",
                    f"{name}: {readable(exc)}",
                    job_name=name,
                )
            )
        except Exception:  # the toast already told the person
            log.exception("could not record a refused purge")

    @work(thread=True, exit_on_error=False, group="job-command")
    def verify_job(self, name: str) -> None:
        try:
            caps = capabilities(self.manager, name)
        except Exception as exc:  # noqa: BLE001
            self.post_message(ActionFailed("verify", name, f"{name}: {readable(exc)}"))
            return
        if not (caps.manifest_verify or caps.repository_check or caps.deep_verify):
            self.post_message(
                ActionFailed(
                    "verify",
                    name,
                    f"{name}: its engine has no way to check backups (no manifest, no "
                    "repository check); restore a few files to test them instead",
                    severity="warning",
                    title="Verify: unchecked",
                )
            )
            return
        self.post_message(ActionSucceeded("verify", name, f"{name}: verifying…"))
        try:
            report = verify_latest(self.manager, name)
        except Exception as exc:  # noqa: BLE001
            self.post_message(ActionFailed("verify", name, readable(exc)))
            return
        if report is None:
            self.post_message(ActionFailed("verify", name, f"{name}: no snapshot to verify yet"))
            return

        text = f"{name}: {verify_sentence(report)}"
        if report.outcome == "ok":
            self.post_message(ActionSucceeded("verify", name, text))
        else:
            # damaged: an error; unchecked: a warning, never the green "ok" of a pass.
            severity = "error" if report.outcome == "damaged" else "warning"
            self.post_message(
                ActionFailed(
                    "verify", name, text, severity=severity, title=f"Verify: {report.outcome}"
                )
            )

    @work(thread=True, exit_on_error=False, group="job-command")
    def offer_init(self, name: str) -> None:
        """After a save: a job whose engine needs its repository created, and whose
        repository is missing, gets the offer to create it (never created unasked)."""

        try:
            spec = self.manager.get_spec(name)
            if not self.manager.snapshots.capabilities(spec).needs_init:
                return
            self.manager.snapshots.list(spec)
        except SnapshotOperationFailed as exc:
            if exc.error_type == NO_REPOSITORY:
                self.post_message(InitOffered(spec))
            else:
                self.post_message(
                    ActionFailed(
                        "reach the repository",
                        name,
                        f"{name}: {readable(exc)}",
                        severity="warning",
                        title="Repository not usable yet",
                    )
                )
        except Exception:  # noqa: BLE001 - the next run reports it with its context
            return

    @work(thread=True, exit_on_error=False, group="job-command")
    def init_job(self, name: str) -> None:
        """Create the job's destination (restic: the repository) through the core's door."""
        try:
            done = self.manager.snapshots.init(self.manager.get_spec(name))
        except Exception as exc:  # noqa: BLE001 - a refusal or failure becomes a toast
            self.post_message(ActionFailed("initialise", name, readable(exc)))
            return
        self.post_message(ActionSucceeded("init", name, f"{name}: {done}"))

    @work(thread=True, exit_on_error=False, group="error-command")
    def resolve_error(self, event_id: int) -> None:
        try:
            done = self.manager.resolve_error(event_id)
        except Exception as exc:  # noqa: BLE001
            self.post_message(ActionFailed("resolve", None, readable(exc)))
            return
        # Quiet when someone else resolved it first; the log is read again either way.
        self.post_message(
            ActionSucceeded("resolve", None, f"Error #{event_id} resolved", quiet=not done)
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="settings")
    def save_theme(self, theme: str) -> None:
        try:
            self.manager.save_settings(theme=theme)
        except Exception as exc:  # noqa: BLE001
            self.post_message(ActionFailed("save the theme", None, f"config.yaml: {readable(exc)}"))
