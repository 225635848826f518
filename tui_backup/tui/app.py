"""The Textual application: wires the core to the screens.

The app owns the :class:`~tui_backup.core.manager.JobManager`, subscribes to
it through a :class:`~tui_backup.tui.bridge.CoreBridge`, loads themes and the
key map, and runs every blocking call on the core in a thread worker (see
``actions.py``). Screens only ask the app; they never import the store.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import events, work
from textual.app import App, SystemCommand
from textual.screen import Screen
from textual.theme import Theme
from textual.worker import Worker, WorkerState

from tui_backup.core.config import DEFAULT_THEME
from tui_backup.core.events import WatchMode
from tui_backup.core.home import Home
from tui_backup.core.manager import JobManager
from tui_backup.core.views import JobView
from tui_backup.model.clock import Clock, utcnow
from tui_backup.model.job import JobSpec
from tui_backup.model.records import ErrorEvent
from tui_backup.model.secrets import mask_url
from tui_backup.model.status import Severity, Status
from tui_backup.model.units import plural
from tui_backup.tui.actions import JobActions, readable
from tui_backup.tui.bridge import CoreBridge, LiveView
from tui_backup.tui.formatting import tilde
from tui_backup.tui.keymap import APP_BINDINGS, check_keymap, known_ids
from tui_backup.tui.messages import (
    ActionFailed,
    ActionSucceeded,
    DeleteRequested,
    DetailsRequested,
    EditRequested,
    ErrorDetailsRequested,
    ErrorRecorded,
    ErrorsLoaded,
    ErrorsReloadRequested,
    HeaderMounted,
    InitOffered,
    JobsChanged,
    JobsLoaded,
    ResolveRequested,
    RestoreRequested,
    RunFinished,
    RunRequested,
    ServicesStopped,
    StopRequested,
    VerifyRequested,
    ViewsRefreshed,
    ViewsRefreshRequested,
    WatchChanged,
)
from tui_backup.tui.screens.confirm import ConfirmScreen
from tui_backup.tui.screens.delete import DeleteJobScreen
from tui_backup.tui.screens.details import DetailsScreen
from tui_backup.tui.screens.editor import JobEditorScreen
from tui_backup.tui.screens.error_detail import ErrorDetailScreen
from tui_backup.tui.screens.help import HelpScreen
from tui_backup.tui.screens.main import MainScreen
from tui_backup.tui.screens.quit import QuitScreen
from tui_backup.tui.screens.restore import RestoreScreen
from tui_backup.tui.themes import load_themes, next_theme, variable_defaults
from tui_backup.tui.typeahead import KeyGate
from tui_backup.tui.widgets.header import AppHeader

log = logging.getLogger(__name__)

MIN_REDRAW_INTERVAL = 0.1
"""At most ten job-table updates per second, however many jobs run."""


class BackupApp(JobActions, App[int]):
    """tui-backup's TUI over one home directory."""

    TITLE = "tui-backup"
    CSS_PATH = "app.tcss"
    BINDINGS = APP_BINDINGS
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        home: Home,
        *,
        clock: Clock | None = None,
        watch: bool = True,
        scheduler: bool = True,
        manager: JobManager | None = None,
        start_jobs: Iterable[str] = (),
        home_label: str | None = None,
    ) -> None:
        self.home = home
        self.clock: Clock = clock or utcnow
        self.manager = manager or JobManager(home, runner="tui", clock=self.clock)
        self.home_label = home_label or tilde(str(home.root))
        self.use_watch = watch
        self.use_scheduler = scheduler
        self.start_jobs = tuple(start_jobs)
        self.bridge = CoreBridge(self.post_message)
        self._unsubscribe: Callable[[], None] | None = None
        self._last_redraw = 0.0
        self._redraw_pending = False
        self.quit_when_idle = False
        self.theme_load = load_themes(home.themes_dir)
        self.user_keymap = dict(self.manager.settings.keymap_dict)
        self._startup_problems: list[str] = []
        super().__init__()
        for theme in self.theme_load.themes:
            self.register_theme(theme)
        self.theme = self._initial_theme()
        self.set_keymap(self.user_keymap)
        self.typeahead = KeyGate(self)
        self.error_query: dict[str, Any] = {"unresolved": True}
        """The error log's filters, as the main screen last asked for them."""

    # -- keys ------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        """Keys from the terminal go through the type-ahead gate (``typeahead.py``)."""
        if not isinstance(event, events.Key):
            await super().on_event(event)
            return
        if event.is_forwarded:  # back from the focused widget: bindings run now
            try:
                await super().on_event(event)
            finally:
                self.typeahead.returned(event)
            return
        if not self.typeahead.admit(event):
            return  # waits behind the key in front of it
        target = self.focused or self.screen
        try:
            await super().on_event(event)
        finally:
            self.typeahead.dispatched(event, target)

    # -- start-up and shut-down ------------------------------------------------

    def _initial_theme(self) -> str:
        wanted = self.manager.settings.theme
        problems = list(self.theme_load.problems)
        if wanted not in self.available_themes:
            fallback = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
            problems.append(f"theme {wanted!r} is not available; using {fallback}")
            wanted = fallback
        if problems:
            self._startup_problems.append("Theme problems:\n" + "\n".join(problems))
        return wanted

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return variable_defaults()

    async def on_mount(self) -> None:
        self._startup_problems += check_keymap(self.user_keymap, known_ids())
        if self.manager.settings_store.problem:
            self._startup_problems.append(self.manager.settings_store.problem)
        self._unsubscribe = self.manager.subscribe(self.bridge)
        self.theme_changed_signal.subscribe(self, self._mark_ansi_theme)
        self._mark_ansi_theme(self.current_theme)
        # Mounted before the job list is read: a fast read must find the table there.
        await self.push_screen(MainScreen(self.home_label, self.now, self.is_here))
        for problem in self._startup_problems:
            self.notify(problem, severity="error", timeout=10)
        self.load_jobs()
        self._start_core_services()

    @work(thread=True, exit_on_error=False, group="core-services")
    def _start_core_services(self) -> None:
        """Watch the home and run the scheduler (both may take a moment to start)."""
        if self.use_watch:
            self.manager.start_watching()
        else:
            self.post_message(WatchChanged("off", "watching disabled"))
        if self.use_scheduler:
            self.manager.start_scheduler()
        for name in self.start_jobs:
            self.post_message(RunRequested(name))

    def _stop_core_services(self, stop_running: bool) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.manager.shutdown(stop_running=stop_running)

    async def action_quit(self) -> None:
        """``ctrl+q`` and the palette's Quit go through the same question as ``q``."""
        self.action_request_quit()

    def action_request_quit(self) -> None:
        running = self.running_here()
        if not running:
            self.exit(0)
            return

        def chosen(choice: str | None) -> None:
            if choice == "stop":
                self.notify(f"Stopping {len(running)} run(s)…", timeout=3)
                self._stop_all_and_exit()
            elif choice == "wait":
                self.quit_when_idle = True
                self.notify(
                    "tui-backup will close when the running jobs finish. "
                    "Press q again to change your mind.",
                    timeout=6,
                )

        self.quit_when_idle = False
        self.push_screen(QuitScreen(running), chosen)

    @work(thread=True, exit_on_error=False, group="quit")
    def _stop_all_and_exit(self) -> None:
        self._stop_core_services(stop_running=True)
        self.post_message(ServicesStopped())

    def on_services_stopped(self, _: ServicesStopped) -> None:
        self.exit(0)

    def on_unmount(self) -> None:
        self._stop_core_services(stop_running=True)

    # -- what screens ask ------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    def running_here(self) -> tuple[str, ...]:
        return self.manager.running_here()

    def is_here(self, name: str) -> bool:
        return self.manager.is_local(name)

    @property
    def main_screen(self) -> MainScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    def view(self, name: str) -> JobView | None:
        main = self.main_screen
        return main.jobs.views.get(name) if main else None

    # -- core events -----------------------------------------------------------

    def on_jobs_changed(self, _: JobsChanged) -> None:
        """Drain the bridge, at most ten times a second."""
        wait = MIN_REDRAW_INTERVAL - (time.monotonic() - self._last_redraw)
        if wait > 0:
            if not self._redraw_pending:
                self._redraw_pending = True
                self.set_timer(wait, self._redraw_jobs)
            return
        self._redraw_jobs()

    def _redraw_jobs(self) -> None:
        self._redraw_pending = False
        self._last_redraw = time.monotonic()
        pending = self.bridge.drain()
        if not pending:
            return
        with self.batch_update():
            for screen in self.screen_stack:
                if isinstance(screen, LiveView):
                    screen.apply_job_changes(pending)
            self.sync_headers()
        if self.quit_when_idle and not self.running_here():
            self.exit(0)

    def on_jobs_loaded(self, message: JobsLoaded) -> None:
        main = self.main_screen
        if main is not None:
            main.show_jobs(message.views)
            self.sync_headers()
        for issue in message.issues:
            self.notify(issue, severity="warning", timeout=8)
        self._last_redraw = time.monotonic()

    def on_errors_loaded(self, message: ErrorsLoaded) -> None:
        main = self.main_screen
        if main is not None:
            main.on_errors_loaded(message)
            self.sync_headers()

    def on_header_mounted(self, _: HeaderMounted) -> None:
        self.sync_headers()

    def sync_headers(self) -> None:
        """Every other screen's header shows what the main screen's shows (attributes down)."""
        main = self.main_screen
        if main is None or len(self.screen_stack) <= 2 or not main.query(AppHeader):
            return
        source = main.header
        for screen in self.screen_stack:
            if screen is not main:
                for header in screen.query(AppHeader):
                    header.copy_values(source)

    def on_run_finished(self, message: RunFinished) -> None:
        run = message.run
        if run.status == Status.SUCCEEDED:
            self.notify(
                f"{run.job_name}: backup done, {plural(run.files, 'file')}"
                + (f", {plural(run.warnings, 'warning')}" if run.warnings else ""),
                title="Backup finished",
                timeout=4,
            )
        elif run.status == Status.FAILED:
            self.notify(
                f"{run.job_name}: {run.error or 'failed'}",
                title="Backup failed",
                severity="error",
                timeout=10,
            )
        elif run.status in (Status.STOPPED, Status.INTERRUPTED):
            self.notify(f"{run.job_name}: {run.status}", severity="warning", timeout=5)

    def on_error_recorded(self, message: ErrorRecorded) -> None:
        event = message.event
        if event.error_type == "invalid_job_file":
            # Someone just saved a bad job file by hand: say so where they look.
            self.notify(event.message, title="Job file not accepted", severity="warning", timeout=8)
        # A failed or interrupted run already has its own toast (RunFinished); repeat
        # only other failures.
        elif (
            event.severity.rank >= Severity.HIGH.rank
            and not event.component.startswith(("engine", "verify"))
            and event.error_type != "run_interrupted"
        ):
            self.notify(
                f"{event.job_name + ': ' if event.job_name else ''}{event.message}",
                title=f"{event.severity} · {event.component}",
                severity="error",
                timeout=8,
            )
        if not self.use_watch:
            # Without watching there is no error feed (core/error_feed.py) to send the
            # counts; with it, the main screen applies the event itself (bridge).
            self.load_errors(self.error_query)

    def on_watch_changed(self, message: WatchChanged) -> None:
        main = self.main_screen
        if main is not None:
            main.header.watch_mode = message.mode
            self.sync_headers()
        if message.mode == WatchMode.UNREACHABLE:
            self.notify(
                f"The home directory is unreachable: {message.detail}",
                severity="error",
                timeout=10,
            )

    def on_action_succeeded(self, message: ActionSucceeded) -> None:
        if not message.quiet:
            self.notify(message.text, timeout=3)
        if message.action == "resolve":
            self.load_errors(self.error_query)

    def on_action_failed(self, message: ActionFailed) -> None:
        if message.title:
            # A finding rather than a failed command (verify: damaged, unchecked).
            self.notify(message.text, title=message.title, severity=message.severity, timeout=10)
            return
        if message.severity == "warning":
            self.notify(message.text, severity="warning", timeout=3)
            return
        self.notify(message.text, title=f"Could not {message.action}", severity="error", timeout=8)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place an unexpected failure in any thread worker surfaces.

        Workers run with ``exit_on_error=False`` so one bad call never closes
        the app; instead the person gets a toast and the error log an event
        with the stack trace.
        """
        if event.state is not WorkerState.ERROR:
            return
        worker = event.worker
        error = worker.error
        what = worker.group or worker.name or "background task"
        self.notify(
            f"{what}: {readable(error) if error else 'failed'}",
            title="Something went wrong",
            severity="error",
            timeout=10,
        )
        if error is not None:
            self._record_tui_error(what, error)

    @work(thread=True, exit_on_error=False, group="record-error")
    def _record_tui_error(self, what: str, error: BaseException) -> None:
        trace = "".join(traceback.format_exception(error))
        try:
            self.manager.record_error(
                ErrorEvent(
                    Severity.MEDIUM,
                    "tui",
                    type(error).__name__,
                    f"{what}: {readable(error)}",
                    stack_trace=trace,
                )
            )
        except Exception:  # the toast already told the person
            log.exception("could not record a TUI error")

    # -- themes ----------------------------------------------------------------

    def _mark_ansi_theme(self, theme: Theme) -> None:
        """ANSI themes have no panel colour ("transparent"): fields need another background."""
        self.set_class(bool(theme.ansi), "-ansi-theme")

    def action_next_theme(self) -> None:
        self.theme = next_theme(self.theme_load.names, self.theme)
        self.notify(f"Theme: {self.theme}", timeout=2)
        self.save_theme(self.theme)

    # -- requests from the screens ------------------------------------------------

    def on_edit_requested(self, message: EditRequested) -> None:
        self.open_editor(message.name)

    def on_details_requested(self, message: DetailsRequested) -> None:
        self.open_details(message.name)

    def on_delete_requested(self, message: DeleteRequested) -> None:
        self.open_delete(message.name)

    def on_restore_requested(self, message: RestoreRequested) -> None:
        self.open_restore(message.name)

    def on_run_requested(self, message: RunRequested) -> None:
        self.run_job(message.name)

    def on_stop_requested(self, message: StopRequested) -> None:
        self.stop_job(message.name)

    def on_verify_requested(self, message: VerifyRequested) -> None:
        self.verify_job(message.name)

    def on_error_details_requested(self, message: ErrorDetailsRequested) -> None:
        self.open_error(message.event_id)

    def on_resolve_requested(self, message: ResolveRequested) -> None:
        self.resolve_error(message.event_id)

    def on_errors_reload_requested(self, message: ErrorsReloadRequested) -> None:
        self.error_query = dict(message.query)
        self.load_errors(self.error_query)

    def on_views_refresh_requested(self, message: ViewsRefreshRequested) -> None:
        self.refresh_views(message.names)

    def on_views_refreshed(self, message: ViewsRefreshed) -> None:
        main = self.main_screen
        if main is not None:
            main.apply_views(message.views)

    def on_init_offered(self, message: InitOffered) -> None:
        self.ask_init(message.spec)

    # -- screens ---------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.user_keymap))

    def open_editor(self, name: str | None) -> None:
        def saved(job_name: str | None) -> None:
            if job_name is None:
                return
            main = self.main_screen
            if main is not None:
                main.jobs.select(job_name)
            self.offer_init(job_name)  # a missing repository: offer to create it

        # The spec the table shows is current (the bridge keeps it so): the form opens
        # filled, with no read in a worker; a stale one is refused at save (version).
        view = self.view(name) if name is not None else None
        spec = view.spec if view is not None else None
        self.push_screen(JobEditorScreen(self.manager, name, clock=self.clock, spec=spec), saved)

    def open_details(self, name: str) -> None:
        self.push_screen(
            DetailsScreen(
                name,
                self.view(name),
                self.manager,
                now=self.now,
                job_file=self.home.job_file(name),
            )
        )

    def open_delete(self, name: str) -> None:
        view = self.view(name)
        if view is None:
            return

        def chosen(purge: bool | None) -> None:
            if purge is not None:
                self.delete_job(name, purge_data=purge, version=view.spec.version)

        self.push_screen(DeleteJobScreen(view.spec), chosen)

    def ask_init(self, spec: JobSpec) -> None:
        """Offer to create a missing repository; declining leaves the command to use later."""

        dest = mask_url(spec.destination)

        def chosen(create: bool | None) -> None:
            if create:
                self.init_job(spec.name)
            else:
                self.notify(
                    f"{spec.name}: runs fail until the repository exists; create it later "
                    f"with: tui-backup init {spec.name}",
                    severity="warning",
                    timeout=10,
                )

        self.push_screen(
            ConfirmScreen(
                f"Create the repository for {spec.name}?",
                escape(
                    f"There is no repository at {dest} yet. Create it now (the same as "
                    f"`tui-backup init {spec.name}`)? Runs do not create a remote one on "
                    "their own, so a mistyped location does not become a new, empty "
                    "repository."
                ),
                "Create repository",
                "Not now [esc]",
            ),
            chosen,
        )

    def open_restore(self, name: str) -> None:
        self.push_screen(RestoreScreen(name, self.view(name), self.manager))

    def open_error(self, event_id: int) -> None:
        self.push_screen(ErrorDetailScreen(event_id, self.manager))

    # -- command palette -------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action, and every action on every job, reachable by typing."""
        yield SystemCommand("New job", "Create a job in the editor", lambda: self.open_editor(None))
        yield SystemCommand("Next theme", "Cycle the colour theme", self.action_next_theme)
        yield SystemCommand("Help", "Every key", self.action_help)
        yield SystemCommand("Quit", "Quit tui-backup", self.action_request_quit)
        main = self.main_screen
        if main is not None:
            yield SystemCommand("Filter jobs", "Filter by name or status", main.action_filter)
            yield SystemCommand("Error log", "Focus the error log", main.action_focus_errors)
            for name in sorted(main.jobs.views):
                yield from self._job_commands(name)
        yield from super().get_system_commands(screen)

    def _job_commands(self, name: str) -> Iterable[SystemCommand]:
        def bind(fn: Callable[[str], object]) -> Callable[[], object]:
            return lambda: fn(name)

        for verb, help_text, fn in (
            ("Run", "run now", self.run_job),
            ("Stop", "stop its run", self.stop_job),
            ("Details", "spec, history, snapshots, errors", self.open_details),
            ("Edit", "open in the editor", self.open_editor),
            ("Restore", "restore files from a snapshot", self.open_restore),
            ("Verify", "check the newest snapshot", self.verify_job),
            ("Delete", "delete the job (asks)", self.open_delete),
        ):
            yield SystemCommand(f"{verb} {name}", f"{name}: {help_text}", bind(fn))


def run_app(home: Home | Path | str, *, start_jobs: Iterable[str] = ()) -> int:
    """Open the TUI on ``home``; returns the process exit code."""
    if not isinstance(home, Home):
        home = Home.resolve(home)
    app = BackupApp(home, start_jobs=start_jobs)
    result = app.run()
    return int(result or 0)
