"""A yes/no question whose buttons say what they do; escape always means no."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from tui_backup.tui.keymap import CONFIRM_BINDINGS
from tui_backup.tui.widgets.header import AppHeader


class ConfirmScreen(ModalScreen[bool]):
    """Returns True only for an explicit yes; the safe answer has the focus."""

    BINDINGS = CONFIRM_BINDINGS
    AUTO_FOCUS = "#no"

    def __init__(self, title: str, text: str, yes: str, no: str = "Cancel [esc]") -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.text = text
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        yield AppHeader()  # every screen shows the header (issue 10)
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.text, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Content(self.yes), id="yes", variant="error")
                yield Button(Content(self.no), id="no", variant="primary")
        # The keys of this dialog, not those of the screen underneath.
        yield Footer(compact=True)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")
