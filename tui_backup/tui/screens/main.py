"""The main screen: header, job cards, error log, footer.

The screen owns no data source of its own: the app drains the core's
changes and hands them down (attributes down, messages up). Key actions ask
the app, which talks to the core in worker threads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from tui_backup.tui.bridge import PendingChanges
from tui_backup.tui.keymap import MAIN_BINDINGS
from tui_backup.tui.messages import (
    ErrorFilterRequested,
    ErrorsLoaded,
    JobsShown,
    ResolveRequested,
)
from tui_backup.tui.widgets.error_log import ErrorFilter, ErrorLog
from tui_backup.tui.widgets.header import AppHeader
from tui_backup.tui.widgets.job_table import JobTable

if TYPE_CHECKING:
    from tui_backup.tui.app import BackupApp


class MainScreen(Screen[None]):
    """Jobs on top, errors below; everything reachable from the keyboard."""

    BINDINGS = [*MAIN_BINDINGS, Binding("escape", "clear_filter", show=False)]

    def __init__(self) -> None:
        super().__init__(id="main")
        self.error_filter = ErrorFilter()

    @property
    def backup_app(self) -> BackupApp:
        return cast("BackupApp", self.app)

    def compose(self) -> ComposeResult:
        app = self.backup_app
        yield AppHeader(app.home_label, id="header")
        with Vertical(id="jobs-pane"):
            yield Input(placeholder="filter: name or status (failed, running…)", id="job-filter")
            yield JobTable(app.now, app.is_here, id="jobs")
            yield Static(
                "No jobs yet. Press [b]n[/b] to create one, or run [b]tui-backup demo[/b].",
                id="empty-hint",
            )
        with Vertical(id="errors-pane"):
            yield ErrorLog(app.now, id="errors")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#jobs-pane").border_title = "Jobs"
        self._title_errors(0)
        self.query_one(JobTable).focus()
        self.set_interval(30, self._tick)

    def _tick(self) -> None:
        """Relative times ("5m ago") move on even when nothing else changes."""
        self.jobs.refresh_all()
        self.errors.refresh_times()

    # -- data from the app ---------------------------------------------------

    @property
    def jobs(self) -> JobTable:
        return self.query_one(JobTable)

    @property
    def errors(self) -> ErrorLog:
        return self.query_one(ErrorLog)

    @property
    def header(self) -> AppHeader:
        return self.query_one(AppHeader)

    def apply_job_changes(self, pending: PendingChanges) -> None:
        self.jobs.apply_changes(pending.updated, pending.removed)
        self.update_counts()
        # Error events of any process: apply their payloads; read the log only on a reset.
        if not (pending.errors or pending.errors_stale or pending.unresolved is not None):
            return
        if not self.query(ErrorLog):
            if not self.is_mounted:
                self.backup_app.load_errors()  # not composed yet: read once it is
            return  # closing
        if pending.errors_stale:
            self.errors.expect_read()
            self.backup_app.load_errors()
        elif pending.errors:
            self.errors.apply_events(pending.errors.values(), self.error_filter)
        if pending.unresolved is not None:
            self.header.unresolved = pending.unresolved
            self._title_errors(pending.unresolved)
            if not pending.errors_stale and self.errors.misses_events(
                pending.unresolved, self.error_filter
            ):
                self.errors.expect_read()
                self.backup_app.load_errors()  # the rows drifted: read the log once

    def update_counts(self) -> None:
        views = self.jobs.views.values()
        here = sum(1 for v in views if v.status.is_active and self.backup_app.is_here(v.name))
        active = sum(1 for v in views if v.status.is_active)
        self.header.running_here = here
        self.header.running_elsewhere = active - here

    def on_errors_loaded(self, message: ErrorsLoaded) -> None:
        self.errors.set_events(message.events)
        self.header.unresolved = message.unresolved
        self._title_errors(message.unresolved)

    def _title_errors(self, unresolved: int) -> None:
        pane = self.query_one("#errors-pane")
        pane.border_title = f"Errors · {unresolved} unresolved"
        pane.border_subtitle = f"{self.error_filter.describe()} · f filter · space resolve"

    def on_jobs_shown(self, message: JobsShown) -> None:
        hint = self.query_one("#empty-hint", Static)
        hint.display = message.shown == 0
        self.jobs.display = message.shown > 0
        if message.shown and self.focused is None:
            self.jobs.focus()
        if message.total and not message.shown:
            hint.update("No job matches the filter. Press [b]escape[/b] to clear it.")
        elif not message.total:
            hint.update("No jobs yet. Press [b]n[/b] to create one, or run [b]tui-backup demo[/b].")
        pane = self.query_one("#jobs-pane")
        query = self.jobs.query_text
        pane.border_title = (
            f"Jobs · {message.shown} of {message.total} · filter '{query}'"
            if query
            else f"Jobs · {message.total}"
        )
        self.update_counts()

    # -- selection -------------------------------------------------------------

    def selected_job(self, *, quiet: bool = False) -> str | None:
        name = self.jobs.selected_name
        if name is None and not quiet:
            self.notify("No job selected. Press n to create one.", severity="warning", timeout=3)
        return name

    @on(DataTable.RowSelected, "#jobs")
    def _job_chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    @on(DataTable.RowSelected, "#errors")
    def _error_chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        selected = self.errors.selected_event
        if selected is not None and selected.id is not None:
            self.backup_app.open_error(selected.id)

    def on_resolve_requested(self, message: ResolveRequested) -> None:
        self.backup_app.resolve_error(message.event_id)

    def on_error_filter_requested(self, _: ErrorFilterRequested) -> None:
        from tui_backup.tui.screens.error_filter import ErrorFilterScreen

        names = sorted(self.jobs.views)

        def chosen(result: ErrorFilter | None) -> None:
            if result is not None:
                self.error_filter = result
                self._title_errors(self.header.unresolved)
                self.backup_app.load_errors()

        self.app.push_screen(ErrorFilterScreen(self.error_filter, names), chosen)

    # -- actions ---------------------------------------------------------------

    def action_new_job(self) -> None:
        self.backup_app.open_editor(None)

    def action_edit_job(self) -> None:
        if name := self.selected_job():
            self.backup_app.open_editor(name)

    def action_details(self) -> None:
        if name := self.selected_job():
            self.backup_app.open_details(name)

    def action_run_job(self) -> None:
        if name := self.selected_job():
            self.backup_app.run_job(name)

    def action_stop_job(self) -> None:
        if name := self.selected_job():
            self.backup_app.stop_job(name)

    def action_delete_job(self) -> None:
        if name := self.selected_job():
            self.backup_app.open_delete(name)

    def action_restore(self) -> None:
        if name := self.selected_job():
            self.backup_app.open_restore(name)

    def action_verify(self) -> None:
        if name := self.selected_job():
            self.backup_app.verify_job(name)

    def action_filter(self) -> None:
        box = self.query_one("#job-filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#job-filter", Input)
        if box.display or self.jobs.query_text:
            box.value = ""
            box.display = False
            self.jobs.set_query("")
            self.jobs.focus()

    def action_focus_errors(self) -> None:
        self.errors.focus()
        # Toasts sit over the log's bottom right: out of the way of what is read now.
        self.app.clear_notifications()

    def action_toggle_pane(self) -> None:
        if self.errors.has_focus:
            self.jobs.focus()
        else:
            self.action_focus_errors()

    @on(Input.Changed, "#job-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.jobs.set_query(event.value)

    @on(Input.Submitted, "#job-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.display = False
        self.jobs.focus()
