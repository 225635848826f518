"""A job's details: spec, run history with sparklines, snapshots, recent errors.

Nothing is read until the screen opens, and then in one worker thread: the
main screen never pays for history it does not show.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    DataTable,
    Footer,
    Label,
    Sparkline,
    Static,
    TabbedContent,
    TabPane,
)

from tui_backup.core.manager import JobManager
from tui_backup.core.views import JobView
from tui_backup.model.records import RunRecord
from tui_backup.model.secrets import redact
from tui_backup.model.state import LastVerify
from tui_backup.model.status import Status
from tui_backup.model.units import plural
from tui_backup.tui.bridge import PendingChanges
from tui_backup.tui.formatting import (
    bytes_or_unknown,
    count_or_unknown,
    human_ago,
    human_bytes,
    human_duration,
    human_when,
    local_stamp,
    tilde,
)
from tui_backup.tui.keymap import DETAILS_BINDINGS
from tui_backup.tui.messages import (
    DetailsLoaded,
    EditRequested,
    RestoreRequested,
    RunRequested,
    StopRequested,
    VerifyRequested,
)
from tui_backup.tui.snapshot_access import list_snapshots
from tui_backup.tui.widgets.header import AppHeader

SPARK_RUNS = 30

TAB_IDS = ("tab-history", "tab-snapshots", "tab-errors", "tab-spec")


def verify_line(last: LastVerify, now: datetime) -> str:
    """``last verify 5m ago: ok, 1 snapshot, 12 packs read, bytes unknown (restic check)``.

    Says what was counted: restic's check reads pack files and cannot tell how
    many bytes, so "1 file" and "0 B" would both be untrue (issue 10). The unit
    and whether bytes are known come from the verify's report (``LastVerify``
    reads a state file written before it kept them by its method).
    """
    snaps = plural(last.snapshots, "snapshot")
    read = f"{plural(last.files, last.unit)} read, "
    read += human_bytes(last.bytes) if last.bytes_known else "bytes unknown"
    text = f"last verify {human_ago(last.time, now)}: {last.outcome}, {snaps}, {read}"
    if last.method:
        text += f" ({last.method})"
    if last.problems:
        text += f", {plural(last.problems, 'problem')}"
    if last.detail:
        text += f" — {last.detail}"
    return text


def summary(view: JobView, now: datetime) -> str:
    """Two or three lines: status, last result, next run; console markup."""
    state = view.state
    status = str(state.status)
    lines = [f"[b]{escape(view.name)}[/b]  [b $status-{status}]{status}[/]"]
    if view.spec.description:
        lines[0] += f"  [dim]{escape(view.spec.description)}[/dim]"
    last = state.last_result
    if last is not None:
        text = (
            f"last run {human_ago(last.finished_at or last.started_at, now)}: {last.status}, "
            f"{human_duration(last.duration)}, {last.files} files, {human_bytes(last.bytes)}"
        )
        if last.error:
            text += f" — {last.error}"
        lines.append(escape(text))
    else:
        lines.append("never run")
    if view.next_run is not None:
        lines.append(f"next run {human_when(view.next_run, now)}  [dim]{view.spec.schedule}[/dim]")
    if state.last_verify is not None:
        lines.append(escape(verify_line(state.last_verify, now)))
    if view.issue:
        lines.append(f"[b]⚠ {escape(view.issue)}[/b]")
    return "\n".join(lines)


SPARK_STATUSES = frozenset({Status.SUCCEEDED})
"""Runs that made a backup. A stopped or interrupted run's duration and size say
when someone pressed ``x`` or a machine went down, and a failed one's where it
broke: none of them says how long a backup takes or how big it is."""


def spark_series(runs: list[RunRecord]) -> tuple[list[float], list[float]]:
    """Durations (s) and sizes (bytes) of the last successful runs, oldest first."""
    finished = [
        r for r in reversed(runs) if r.finished_at is not None and str(r.status) in SPARK_STATUSES
    ][-SPARK_RUNS:]
    return [r.duration or 0.0 for r in finished], [float(r.bytes) for r in finished]


class DetailsScreen(Screen[None]):
    BINDINGS = DETAILS_BINDINGS
    AUTO_FOCUS = "#history"

    def __init__(
        self,
        name: str,
        view: JobView | None,
        manager: JobManager,
        *,
        now: Callable[[], datetime],
        job_file: Path,
    ) -> None:
        super().__init__(classes="details-screen")
        self.job_name = name
        self.view = view
        self.manager = manager
        self.now = now
        self.job_file = job_file
        self._last_run_id: str | None = None

    def compose(self) -> ComposeResult:
        yield AppHeader()  # every screen shows the header (issue 10)
        with Vertical(id="details-top"):
            yield Static("", id="details-summary")
            with Horizontal(id="sparks"):
                with Vertical(classes="spark-box"):
                    yield Label("duration", id="spark-duration-label", classes="spark-label")
                    yield Sparkline([], id="spark-duration")
                with Vertical(classes="spark-box"):
                    yield Label("size", id="spark-size-label", classes="spark-label")
                    yield Sparkline([], id="spark-size")
        with TabbedContent(id="details-tabs"):
            with TabPane("History", id="tab-history"):
                yield DataTable(id="history", cursor_type="row")
            with TabPane("Snapshots", id="tab-snapshots"):
                yield DataTable(id="snapshots", cursor_type="row")
            with TabPane("Errors", id="tab-errors"):
                yield DataTable(id="job-errors", cursor_type="row")
            with TabPane("Spec", id="tab-spec"), VerticalScroll(id="spec-scroll"):
                yield Static("", id="spec")
        yield Footer()

    def on_mount(self) -> None:
        history = self.query_one("#history", DataTable)
        history.add_columns("Started", "Status", "Took", "Files", "Size", "Warn", "Trigger")
        snaps = self.query_one("#snapshots", DataTable)
        snaps.add_columns("Snapshot", "Time", "Files", "Size")
        errors = self.query_one("#job-errors", DataTable)
        errors.add_columns("When", "Severity", "What")
        history.add_row("loading…", "", "", "", "", "", "")
        view = self.view
        if view is not None and view.state.last_result is not None:
            self._last_run_id = view.state.last_result.run_id
        self._show_view()
        self.load()

    def _show_view(self) -> None:
        view = self.view
        if view is None:
            self.query_one("#details-summary", Static).update(
                f"[b]{escape(self.job_name)}[/b] no longer exists."
            )
            return
        self.query_one("#details-summary", Static).update(summary(view, self.now()))
        spec_yaml = yaml.safe_dump(redact(view.spec.to_dict()), sort_keys=False, allow_unicode=True)
        self.query_one("#spec", Static).update(Text(f"# {tilde(str(self.job_file))}\n{spec_yaml}"))

    def apply_job_changes(self, pending: PendingChanges) -> None:
        """Keep the summary live; reload history when a run just ended."""
        view = pending.updated.get(self.job_name)
        if view is None:
            if self.job_name in pending.removed:
                self.view = None
                self._show_view()
            return
        self.view = view
        self._show_view()
        last = view.state.last_result
        if last is not None and last.run_id != self._last_run_id:
            self._last_run_id = last.run_id
            self.load()  # a run just ended: its record is in the history now

    @work(thread=True, exclusive=True, exit_on_error=False, group="details-load")
    def load(self) -> None:
        manager = self.manager
        runs = manager.history(self.job_name, limit=100)
        errors = manager.errors(job=self.job_name, limit=50)
        snapshots: list[Any] = []
        snapshot_error: str | None = None
        try:
            snapshots = list_snapshots(manager, self.job_name)
        except Exception as exc:  # noqa: BLE001 - an unreachable destination is normal
            snapshot_error = " ".join(str(exc).split()) or type(exc).__name__
        self.post_message(DetailsLoaded(self.job_name, runs, snapshots, snapshot_error, errors))

    def on_details_loaded(self, message: DetailsLoaded) -> None:
        now = self.now()
        history = self.query_one("#history", DataTable)
        history.clear()
        for run in message.runs:
            history.add_row(
                local_stamp(run.started_at),
                str(run.status),
                human_duration(run.duration),
                str(run.files),
                human_bytes(run.bytes),
                str(run.warnings or ""),
                run.trigger,
                key=run.run_id,
            )
        if not message.runs:
            history.add_row("no runs yet", "", "", "", "", "", "")
        durations, sizes = spark_series(message.runs)
        self.query_one("#spark-duration", Sparkline).data = durations or [0]
        self.query_one("#spark-size", Sparkline).data = sizes or [0]
        self.query_one("#spark-duration-label", Label).update(
            # Short enough for half of an 80-column screen ("…max 20" lost its "s").
            f"duration, last {len(durations)} backups · max {human_duration(max(durations))}"
            if durations
            else "duration: no successful runs yet"
        )
        self.query_one("#spark-size-label", Label).update(
            f"size, last {len(sizes)} backups · max {human_bytes(max(sizes))}"
            if sizes
            else "size: no successful runs yet"
        )
        snaps = self.query_one("#snapshots", DataTable)
        snaps.clear()
        for snap in message.snapshots:
            snaps.add_row(
                snap.id,
                local_stamp(snap.time),
                count_or_unknown(snap.files),
                bytes_or_unknown(snap.bytes),
            )
        if message.snapshot_error:
            snaps.add_row("cannot list snapshots", message.snapshot_error, "", "")
        elif not message.snapshots:
            snaps.add_row("no snapshots yet", "", "", "")
        errors = self.query_one("#job-errors", DataTable)
        errors.clear()
        for event in message.errors:
            errors.add_row(
                human_ago(event.timestamp, now),
                str(event.severity),
                " ".join(event.message.split()),
                key=str(event.id),
            )
        if not message.errors:
            errors.add_row("", "", "no errors recorded for this job")

    def action_run(self) -> None:
        self.app.post_message(RunRequested(self.job_name))

    def action_stop(self) -> None:
        self.app.post_message(StopRequested(self.job_name))

    def action_edit(self) -> None:
        self.app.post_message(EditRequested(self.job_name))

    def action_restore(self) -> None:
        self.app.post_message(RestoreRequested(self.job_name))

    def action_verify(self) -> None:
        self.app.post_message(VerifyRequested(self.job_name))

    def action_next_tab(self) -> None:
        self._switch_tab(+1)

    def action_previous_tab(self) -> None:
        self._switch_tab(-1)

    def _switch_tab(self, step: int) -> None:
        """Tab and the arrow keys move between the tabs; the tab's table gets the focus."""
        tabs = self.query_one("#details-tabs", TabbedContent)
        index = TAB_IDS.index(tabs.active) if tabs.active in TAB_IDS else 0
        tab_id = TAB_IDS[(index + step) % len(TAB_IDS)]
        tabs.active = tab_id
        target = {
            "tab-history": "#history",
            "tab-snapshots": "#snapshots",
            "tab-errors": "#job-errors",
            "tab-spec": "#spec-scroll",
        }[tab_id]
        self.set_focus(self.query_one(target))
