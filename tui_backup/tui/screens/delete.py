"""Delete a job: a modal whose sentence always agrees with its checkbox."""

from __future__ import annotations

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Footer, Label, Static

from tui_backup.model.job import JobSpec
from tui_backup.model.secrets import mask_url
from tui_backup.tui.formatting import tilde
from tui_backup.tui.keymap import DELETE_BINDINGS
from tui_backup.tui.widgets.header import AppHeader

DELETE_LABELS = {False: "Delete job", True: "Delete job and backups"}
"""The button's label for each state of the "also delete backup data" box."""


def consequence(spec: JobSpec, purge: bool) -> str:
    """What pressing Delete will do, in words; derived from the checkbox only."""
    dest = escape(tilde(mask_url(spec.destination)))
    if purge:
        return (
            f"Deletes the job [b]{escape(spec.name)}[/b] [b]and every backup it made at "
            f"{dest}[/b] (another job's backups there are kept; if the engine cannot tell "
            "them apart, nothing is deleted). The backups cannot be recovered."
        )
    return (
        f"Deletes the job [b]{escape(spec.name)}[/b] only. "
        f"Its backups at {dest} are kept and can still be restored by hand."
    )


class DeleteJobScreen(ModalScreen[bool | None]):
    """Returns the purge choice, or None when cancelled."""

    BINDINGS = DELETE_BINDINGS
    AUTO_FOCUS = "#cancel"

    def __init__(self, spec: JobSpec) -> None:
        super().__init__(classes="dialog-screen")
        self.spec = spec

    def compose(self) -> ComposeResult:
        yield AppHeader()  # every screen shows the header (issue 10)
        with Vertical(classes="dialog", id="delete-dialog"):
            yield Label(f"Delete job {self.spec.name}?", classes="dialog-title")
            yield Checkbox(
                f"also delete backup data at {tilde(mask_url(self.spec.destination))}",
                False,
                id="purge",
            )
            yield Static(consequence(self.spec, False), id="consequence")
            with Horizontal(classes="dialog-buttons"):
                yield Button(DELETE_LABELS[False], id="delete", variant="error")
                yield Button(Content("Cancel [esc]"), id="cancel", variant="primary")
        # The keys of this dialog, not those of the screen underneath.
        yield Footer(compact=True)

    @on(Checkbox.Changed, "#purge")
    def _purge_changed(self, event: Checkbox.Changed) -> None:
        self.query_one("#consequence", Static).update(consequence(self.spec, event.value))
        button = self.query_one("#delete", Button)
        button.label = DELETE_LABELS[event.value]
        # Button.label repaints without a layout: the button kept the width of the
        # short label and showed the long one cut off (issue 10). Size it anew.
        button.refresh(layout=True)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "delete":
            self.dismiss(self.query_one("#purge", Checkbox).value)
        else:
            self.dismiss(None)
