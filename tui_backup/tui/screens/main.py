"""The main screen: header, job cards, error log, footer.

The screen owns no data source of its own: the app drains the core's
changes and hands them down (attributes down, messages up). Key actions ask
the app with request messages (``messages.py``); the app talks to the core in
worker threads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from tui_backup.core.views import JobView
from tui_backup.tui.bridge import PendingChanges
from tui_backup.tui.keymap import MAIN_BINDINGS
from tui_backup.tui.messages import (
    DeleteRequested,
    DetailsRequested,
    EditRequested,
    ErrorDetailsRequested,
    ErrorFilterRequested,
    ErrorsLoaded,
    ErrorsReloadRequested,
    JobsShown,
    RestoreRequested,
    RunRequested,
    StopRequested,
    VerifyRequested,
    ViewsRefreshRequested,
)
from tui_backup.tui.screens.error_filter import ErrorFilterScreen
from tui_backup.tui.widgets.error_log import ErrorFilter, ErrorLog
from tui_backup.tui.widgets.header import AppHeader
from tui_backup.tui.widgets.job_table import JobTable

NO_JOBS = "No jobs yet. Press [b]n[/b] to create one, or run [b]tui-backup demo[/b]."
LOADING = "Loading…"

TYPING_ACTIONS = frozenset(
    {"new_job", "edit_job", "run_job", "stop_job", "delete_job", "restore", "verify", "filter"}
    | {"focus_errors"}
)
"""Letter-key actions: while the filter box has the focus, its letters are text."""


class MainScreen(Screen[None]):
    """Jobs on top, errors below; everything reachable from the keyboard."""

    BINDINGS = MAIN_BINDINGS
    AUTO_FOCUS = "#jobs"

    def __init__(
        self,
        home_label: str,
        now: Callable[[], datetime],
        is_here: Callable[[str], bool],
    ) -> None:
        super().__init__(id="main")
        self.home_label = home_label
        self.now = now
        self.is_here = is_here
        self.error_filter = ErrorFilter()
        self.loaded = False
        """False until the app handed down the first job list: the hint says Loading…"""

    def compose(self) -> ComposeResult:
        yield AppHeader(self.home_label, id="header")
        with Vertical(id="jobs-pane"):
            yield Input(placeholder="filter: name or status (failed, running…)", id="job-filter")
            yield JobTable(self.now, self.is_here, id="jobs")
            yield Static(LOADING, id="empty-hint")
        with Vertical(id="errors-pane"):
            yield ErrorLog(self.now, id="errors")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#jobs-pane").border_title = "Jobs"
        self._title_errors(0)
        self.set_interval(30, self._tick)
        self.reload_errors()

    def ask(self, message: Message) -> None:
        """Post a request to the app itself, ahead of any key typed after this one."""
        self.app.post_message(message)

    def reload_errors(self) -> None:
        self.ask(ErrorsReloadRequested(self.error_filter.query()))

    def _tick(self) -> None:
        self.refresh_times()

    def refresh_times(self) -> None:
        """Relative times ("5m ago") on the cards move on even when nothing else changes.

        A card's next run that has gone by without a run (a circuit breaker
        skipping slots, a daemon's scheduler elsewhere: nothing changed in any
        file) is asked of the core again instead of showing a time in the past
        (issue 10). The error log refreshes its own ages, every second.
        """
        now = self.now()
        passed = tuple(
            name
            for name, view in self.jobs.views.items()
            if view.next_run is not None and view.next_run <= now and not view.status.is_active
        )
        if passed:
            self.ask(ViewsRefreshRequested(passed))
        self.jobs.refresh_all()

    def apply_views(self, views: tuple[JobView, ...]) -> None:
        """Views the app read again (``refresh_times``): diffed in like any change."""
        known = {v.name: v for v in views if v.name in self.jobs.views}
        if known:
            self.jobs.apply_changes(known, set())

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
        if not self.query(JobTable):
            return  # the app is closing: the panes are gone (a run's last event came late)
        self.jobs.apply_changes(pending.updated, pending.removed)
        self.update_counts()
        # Error events of any process: apply their payloads; read the log only on a reset.
        if not (pending.errors or pending.errors_stale or pending.unresolved is not None):
            return
        if not self.query(ErrorLog):
            if not self.is_mounted:
                self.reload_errors()  # not composed yet: read once it is
            return  # closing
        if pending.errors_stale:
            self.errors.expect_read()
            self.reload_errors()
        elif pending.errors:
            self.errors.apply_events(pending.errors.values(), self.error_filter)
        if pending.unresolved is not None:
            self.header.unresolved = pending.unresolved
            self._title_errors(pending.unresolved)
            if not pending.errors_stale and self.errors.misses_events(
                pending.unresolved, self.error_filter
            ):
                self.errors.expect_read()
                self.reload_errors()  # the rows drifted: read the log once

    def show_jobs(self, views: tuple[JobView, ...]) -> None:
        """The whole job list, read by the app (start-up, reconcile)."""
        self.loaded = True
        self.jobs.set_views(views)
        self.update_counts()

    def update_counts(self) -> None:
        views = self.jobs.views.values()
        here = sum(1 for v in views if v.status.is_active and self.is_here(v.name))
        active = sum(1 for v in views if v.status.is_active)
        self.header.running_here = here
        self.header.running_elsewhere = active - here

    def on_errors_loaded(self, message: ErrorsLoaded) -> None:
        if not self.query(ErrorLog):
            return  # a read that ends while the app closes: the panes are gone
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
        # An empty list folds to no height instead of leaving the layout: a hidden table
        # has no width, so the next cards were cut to a guessed 40 columns and showed so
        # until its resize redrew them (CI's narrow columns, issue 10; a filter cleared).
        was_hidden = self.jobs.has_class("-empty")
        self.jobs.set_class(message.shown == 0, "-empty")
        box = self.query_one("#job-filter", Input)
        if message.shown and (self.focused is None or (was_hidden and not box.has_focus)):
            # The first job appeared (saved in the editor, or from another process): the
            # list takes the focus, so ``r`` runs it instead of landing elsewhere.
            self.set_focus(self.jobs)
        if not self.loaded:
            hint.update(LOADING)
        elif message.total and not message.shown:
            hint.update("No job matches the filter. Press [b]escape[/b] to clear it.")
        elif not message.total:
            hint.update(NO_JOBS)
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
        """A click on a row (``enter`` is the screen's own priority binding)."""
        event.stop()
        self.action_details()

    @on(DataTable.RowSelected, "#errors")
    def _error_chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open_error()

    def _open_error(self) -> None:
        selected = self.errors.selected_event
        if selected is not None and selected.id is not None:
            self.ask(ErrorDetailsRequested(selected.id))

    def on_error_filter_requested(self, _: ErrorFilterRequested) -> None:
        names = sorted(self.jobs.views)

        def chosen(result: ErrorFilter | None) -> None:
            if result is not None:
                self.error_filter = result
                self._title_errors(self.header.unresolved)
                self.reload_errors()

        self.app.push_screen(ErrorFilterScreen(self.error_filter, names), chosen)

    # -- actions ---------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While the filter box has the focus, letter keys type into it."""
        return not (action in TYPING_ACTIONS and isinstance(self.focused, Input))

    def action_open(self) -> None:
        """``enter``: what the focused pane means by it, done now (a priority binding)."""
        focused = self.focused
        if isinstance(focused, Input) and focused.id == "job-filter":
            self._filter_done(focused.value)
        elif focused is self.jobs:
            self.action_details()
        elif focused is self.errors:
            self._open_error()
        else:
            raise SkipAction()

    def action_new_job(self) -> None:
        self.ask(EditRequested(None))

    def action_edit_job(self) -> None:
        if name := self.selected_job():
            self.ask(EditRequested(name))

    def action_details(self) -> None:
        if name := self.selected_job():
            self.ask(DetailsRequested(name))

    def action_run_job(self) -> None:
        if name := self.selected_job():
            self.ask(RunRequested(name))

    def action_stop_job(self) -> None:
        if name := self.selected_job():
            self.ask(StopRequested(name))

    def action_delete_job(self) -> None:
        if name := self.selected_job():
            self.ask(DeleteRequested(name))

    def action_restore(self) -> None:
        if name := self.selected_job():
            self.ask(RestoreRequested(name))

    def action_verify(self) -> None:
        if name := self.selected_job():
            self.ask(VerifyRequested(name))

    def action_filter(self) -> None:
        box = self.query_one("#job-filter", Input)
        box.display = True
        self.set_focus(box)

    def action_clear_filter(self) -> None:
        box = self.query_one("#job-filter", Input)
        if box.display or self.jobs.query_text:
            box.value = ""
            box.display = False
            self.jobs.set_query("")
            self.set_focus(self.jobs)

    def action_focus_errors(self) -> None:
        self.set_focus(self.errors)
        # Toasts sit over the log's bottom right: out of the way of what is read now.
        self.app.clear_notifications()

    def action_toggle_pane(self) -> None:
        if self.errors.has_focus:
            self.set_focus(self.jobs)
        else:
            self.action_focus_errors()

    @on(Input.Changed, "#job-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.jobs.set_query(event.value)

    def _filter_done(self, value: str) -> None:
        if not value.strip():
            self.query_one("#job-filter", Input).display = False
        self.set_focus(self.jobs)
