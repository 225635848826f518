"""``?``: every key the app binds, with its id for remapping in ``config.yaml``."""

from __future__ import annotations

from typing import cast

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui_backup.tui.keymap import APP_BINDINGS, DESCRIPTIONS, MAIN_BINDINGS
from tui_backup.tui.widgets.error_log import ErrorLog
from tui_backup.tui.widgets.job_table import JobTable

EXTRA_KEYS = (
    ("↑ ↓ / j k", "move between jobs or errors"),
    ("enter", "in the error log: open the event with its stack trace"),
    ("escape", "close a screen or dialog; clear the job filter"),
    ("tab / shift+tab", "next / previous field in forms"),
    ("→", "in a path field: accept the completion"),
    ("ctrl+s", "in the editor: save"),
    ("space", "in the restore browser: mark a file or folder"),
)


def key_table(keymap: dict[str, str]) -> Table:
    table = Table(box=None, expand=True, padding=(0, 1))
    table.add_column("Key", style="bold", no_wrap=True)
    table.add_column("What it does", ratio=1)
    table.add_column("Id (config.yaml keymap)", style="dim", no_wrap=True)
    groups: list[list[Binding]] = [
        MAIN_BINDINGS,
        APP_BINDINGS,
        cast(list[Binding], JobTable.BINDINGS),
        cast(list[Binding], ErrorLog.BINDINGS),
    ]
    for group in groups:
        for binding in group:
            bid = binding.id or ""
            keys = keymap.get(bid) or binding.key_display or binding.key
            table.add_row(keys, DESCRIPTIONS.get(bid, binding.description), bid)
    for keys, text in EXTRA_KEYS:
        table.add_row(keys, text, "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss(None)", "Close", id="help.close"),
    ]

    def __init__(self) -> None:
        super().__init__(classes="dialog-screen")

    def compose(self) -> ComposeResult:
        keymap = getattr(self.app, "user_keymap", {})
        with VerticalScroll(classes="dialog", id="help-dialog") as scroll:
            scroll.border_title = "Keys"
            scroll.border_subtitle = "escape closes"
            yield Static(key_table(keymap))
