"""Every message the TUI's own code posts, each named for what happened.

Messages that arrive from the core's thread are posted with ``post_message``
(thread-safe); widgets never get touched from another thread. Progress floods
are coalesced: :class:`JobsChanged` is a doorbell whose payload waits in the
:class:`~tui_backup.tui.bridge.CoreBridge` buffer, so a newer one may replace
an unhandled older one without losing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message

from tui_backup.core.views import JobView
from tui_backup.model.job import JobSpec
from tui_backup.model.problems import Problem
from tui_backup.model.records import ErrorEvent, RunRecord


@dataclass
class JobsChanged(Message):
    """Job views or removals are waiting in the bridge; drain them now."""

    def can_replace(self, message: Message) -> bool:
        """One pending doorbell is enough: the buffer holds every change."""
        return isinstance(message, JobsChanged)


@dataclass
class RunFinished(Message):
    """A run finished in this or another process (toast and history)."""

    run: RunRecord


@dataclass
class ErrorRecorded(Message):
    """The core recorded an error event."""

    event: ErrorEvent


@dataclass
class WatchChanged(Message):
    """How this process learns of other processes' changes: live, polling, unreachable."""

    mode: str
    detail: str = ""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, WatchChanged)


@dataclass
class JobsLoaded(Message):
    """The full job list, read in a worker at start-up or after a filter change."""

    views: tuple[JobView, ...]
    issues: tuple[str, ...] = ()


@dataclass
class ErrorsLoaded(Message):
    """The error log's rows and its counters, read in a worker."""

    events: list[ErrorEvent]
    unresolved: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ErrorsLoaded)


@dataclass
class ActionSucceeded(Message):
    """A command on the core worked; ``text`` is a short toast (none when ``quiet``).

    Run and stop are quiet: the card itself changes at once, and a toast
    over the error log would only hide what the person came to read.
    """

    action: str
    job_name: str | None
    text: str
    quiet: bool = False


@dataclass
class ActionFailed(Message):
    """A command on the core was refused or failed; ``text`` says why.

    ``severity`` is ``warning`` for a harmless refusal (stopping a job that
    is not running), ``error`` otherwise.
    """

    action: str
    job_name: str | None
    text: str
    severity: str = "error"
    title: str = ""
    """The toast's title when it is a finding, not a failure (``Verify: damaged``)."""


@dataclass
class DetailsLoaded(Message):
    """History, snapshots and errors for the details screen, read lazily."""

    name: str
    runs: list[RunRecord]
    snapshots: list[Any] = field(default_factory=list)
    snapshot_error: str | None = None
    errors: list[ErrorEvent] = field(default_factory=list)


@dataclass
class RestoreProgressed(Message):
    """Counters of a running restore."""

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RestoreProgressed)


@dataclass
class RestoreFinished(Message):
    """A restore ended; ``error`` is None when it worked."""

    target: str
    files: int
    bytes: int
    error: str | None = None
    summary: str = ""
    """The core's one line (``restored 1 file (401 B) into …``), shown as is."""


class HeaderMounted(Message):
    """A screen's header appeared: the app gives it the current counts and watch mode."""


@dataclass
class JobsShown(Message):
    """The job table now shows ``shown`` of ``total`` jobs (empty-state hint, filter)."""

    shown: int
    total: int


@dataclass
class ResolveRequested(Message):
    """The person pressed ``space`` on an error event."""

    event_id: int


@dataclass
class ErrorFilterRequested(Message):
    """The person asked to change the error log's filters."""


@dataclass
class MarkToggled(Message):
    """``space`` in the restore browser's tree: mark or unmark the node under the cursor."""


# -- requests: what a screen asks the app to do -------------------------------------
#
# Screens post these to the app itself (``self.app.post_message``), not up their
# own queue: the request is then queued on the app before any key typed after
# the one that asked, so typed-ahead keys meet the screen the request opens.


@dataclass
class EditRequested(Message):
    """Open the editor on a job; ``name`` None creates one."""

    name: str | None


@dataclass
class DetailsRequested(Message):
    name: str


@dataclass
class DeleteRequested(Message):
    name: str


@dataclass
class RestoreRequested(Message):
    name: str


@dataclass
class RunRequested(Message):
    name: str


@dataclass
class StopRequested(Message):
    name: str


@dataclass
class VerifyRequested(Message):
    name: str


@dataclass
class ErrorDetailsRequested(Message):
    """Open one error event in full."""

    event_id: int


@dataclass
class ErrorsReloadRequested(Message):
    """Read the error log again with these filters (a dict for ``manager.errors``)."""

    query: dict[str, Any]


@dataclass
class ViewsRefreshRequested(Message):
    """Ask the core again for these jobs' views (a next run that has gone by)."""

    names: tuple[str, ...]


# -- results of thread workers ----------------------------------------------------------


@dataclass
class ViewsRefreshed(Message):
    """Fresh views of some jobs, read from the core (``ViewsRefreshRequested``)."""

    views: tuple[JobView, ...]


@dataclass
class InitOffered(Message):
    """A saved job's repository does not exist yet: ask whether to create it."""

    spec: JobSpec


@dataclass
class ServicesStopped(Message):
    """Every run here was stopped and the core shut down: the app may exit now."""


@dataclass
class EditorLoaded(Message):
    """The job the editor opened on, read in a worker (``spec`` None: ``error`` says why)."""

    spec: JobSpec | None
    error: str = ""


@dataclass
class EditorSaved(Message):
    """The editor's job was written; the form closes with its name."""

    name: str


@dataclass
class EditorSaveRefused(Message):
    """The core refused the save; ``conflict``: another process changed the job."""

    text: str
    conflict: bool = False
    problems: tuple[Problem, ...] = ()


@dataclass
class EditorDestinationShared(Message):
    """Another job uses this destination: saving needs the person's yes."""

    spec: JobSpec
    others: tuple[str, ...]
    text: str


@dataclass
class EditorConflict(Message):
    """The job as it is on disk now (None: deleted) after a refused save."""

    theirs: JobSpec | None


@dataclass
class SnapshotsListed(Message):
    """The restore browser's snapshot list (``error`` when it could not be read)."""

    snapshots: list[Any]
    error: str = ""


@dataclass
class SnapshotTreeLoaded(Message):
    """One snapshot's file tree for the restore browser (``tree`` None: ``error``)."""

    snapshot_id: str
    tree: Any
    error: str = ""


@dataclass
class ErrorEventLoaded(Message):
    """One error event in full (None: it no longer exists)."""

    event: ErrorEvent | None
