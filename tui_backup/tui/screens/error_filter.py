"""``f`` in the error log: choose severity, component, job and unresolved-only."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select

from tui_backup.model.status import Severity
from tui_backup.tui.keymap import ERROR_FILTER_BINDINGS
from tui_backup.tui.widgets.error_log import ErrorFilter
from tui_backup.tui.widgets.header import AppHeader


class ErrorFilterScreen(ModalScreen[ErrorFilter | None]):
    BINDINGS = ERROR_FILTER_BINDINGS

    def __init__(self, current: ErrorFilter, job_names: list[str]) -> None:
        super().__init__(classes="dialog-screen")
        self.current = current
        self.job_names = job_names

    def compose(self) -> ComposeResult:
        yield AppHeader()  # every screen shows the header (issue 10)
        with Vertical(classes="dialog", id="error-filter-dialog"):
            yield Label("Filter the error log", classes="dialog-title")
            yield Checkbox("unresolved only", self.current.unresolved_only, id="unresolved-only")
            yield Label("At least this severity")
            yield Select(
                [(str(s), str(s)) for s in Severity],
                value=self.current.min_severity or Select.NULL,
                prompt="any severity",
                id="severity",
            )
            yield Label("Component (engine, store, scheduler, run…)")
            yield Input(self.current.component, placeholder="any component", id="component")
            yield Label("Job")
            yield Select(
                [(n, n) for n in self.job_names],
                value=self.current.job if self.current.job in self.job_names else Select.NULL,
                prompt="any job",
                id="job",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button(Content("Apply [ctrl+s]"), id="apply", variant="primary")
                yield Button(Content("Cancel [esc]"), id="cancel")
        # The keys of this dialog, not those of the screen underneath.
        yield Footer(compact=True)

    def action_apply(self) -> None:
        severity = self.query_one("#severity", Select).value
        job = self.query_one("#job", Select).value
        self.dismiss(
            ErrorFilter(
                unresolved_only=self.query_one("#unresolved-only", Checkbox).value,
                min_severity=str(severity) if severity is not Select.NULL else "",
                component=self.query_one("#component", Input).value.strip(),
                job=str(job) if job is not Select.NULL else "",
            )
        )

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_apply()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self.action_apply()
        else:
            self.dismiss(None)
