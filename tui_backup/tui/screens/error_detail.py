"""One error event in full: what, where, when, details and the stack trace."""

from __future__ import annotations

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from tui_backup.core.manager import JobManager
from tui_backup.model.records import ErrorEvent
from tui_backup.tui.formatting import local_stamp
from tui_backup.tui.keymap import ERROR_DETAIL_BINDINGS
from tui_backup.tui.messages import ErrorEventLoaded, ResolveRequested
from tui_backup.tui.widgets.header import AppHeader


def describe_event(event: ErrorEvent) -> str:
    """Console markup for the header block of an event."""
    rows = [
        ("Severity", f"[b]{event.severity}[/b]"),
        ("When", local_stamp(event.timestamp)),
        ("Job", escape(event.job_name or "—")),
        ("Component", escape(event.component)),
        ("Type", escape(event.error_type)),
        (
            "Status",
            f"resolved {local_stamp(event.resolved_at)}" if event.resolved else "unresolved",
        ),
    ]
    head = "\n".join(f"[dim]{k:<10}[/dim] {v}" for k, v in rows)
    return f"{head}\n\n[b]{escape(event.message)}[/b]"


class ErrorDetailScreen(ModalScreen[None]):
    BINDINGS = ERROR_DETAIL_BINDINGS

    def __init__(self, event_id: int, manager: JobManager) -> None:
        super().__init__(classes="dialog-screen")
        self.event_id = event_id
        self.manager = manager
        self.event: ErrorEvent | None = None

    def compose(self) -> ComposeResult:
        yield AppHeader()  # every screen shows the header (issue 10)
        with VerticalScroll(classes="dialog", id="error-detail-dialog") as box:
            box.border_title = f"Error #{self.event_id}"
            box.border_subtitle = "space resolve · escape close"
            yield Static("Loading…", id="error-head")
            yield Static("", id="error-details", classes="section")
            yield Static("", id="error-trace", classes="trace")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="error-detail")
    def load(self) -> None:
        self.post_message(ErrorEventLoaded(self.manager.error(self.event_id)))

    def on_error_event_loaded(self, message: ErrorEventLoaded) -> None:
        self.show(message.event)

    def show(self, event: ErrorEvent | None) -> None:
        self.event = event
        if event is None:
            self.query_one("#error-head", Static).update("This event no longer exists.")
            return
        self.query_one("#error-head", Static).update(describe_event(event))
        self.query_one("#error-details", Static).update(
            f"[dim]Details[/dim]\n{escape(event.details)}" if event.details else ""
        )
        self.query_one("#error-trace", Static).update(
            f"[dim]Stack trace[/dim]\n{escape(event.stack_trace)}"
            if event.stack_trace
            else "[dim]No stack trace was recorded.[/dim]"
        )

    def action_resolve(self) -> None:
        if self.event is not None and not self.event.resolved:
            self.app.post_message(ResolveRequested(self.event_id))
        self.dismiss(None)
