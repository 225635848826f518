"""Asked on ``q`` while jobs run in this window: leave them to finish, or stop them."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label

from tui_backup.tui.keymap import QUIT_BINDINGS
from tui_backup.tui.widgets.header import AppHeader


class QuitScreen(ModalScreen[str | None]):
    """Returns ``wait``, ``stop`` or None (stay)."""

    BINDINGS = QUIT_BINDINGS
    AUTO_FOCUS = "#wait"

    def __init__(self, running: tuple[str, ...]) -> None:
        super().__init__(classes="dialog-screen")
        self.running = running

    def compose(self) -> ComposeResult:
        names = ", ".join(self.running[:5]) + (" …" if len(self.running) > 5 else "")
        yield AppHeader()  # every screen shows the header (issue 10)
        with Vertical(classes="dialog", id="quit-dialog"):
            yield Label("Quit tui-backup?", classes="dialog-title")
            yield Label(
                f"{len(self.running)} job(s) run in this window: {names}.\n"
                "Closing the window would end them.",
                classes="dialog-text",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button(Content("Wait, then quit [w]"), id="wait", variant="primary")
                yield Button(Content("Stop them and quit [s]"), id="stop", variant="error")
                yield Button(Content("Stay [esc]"), id="stay")
        # The keys of this dialog, not those of the screen underneath.
        yield Footer(compact=True)

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "stay" else event.button.id)
