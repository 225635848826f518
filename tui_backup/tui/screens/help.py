"""``?``: every key the app binds, with its id for remapping in ``config.yaml``."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from tui_backup.tui.keymap import DESCRIPTIONS, HELP_BINDINGS, binding_groups
from tui_backup.tui.widgets.header import AppHeader

EXTRA_KEYS = (
    ("↑ ↓", "move between jobs or errors (as j k)"),
    ("enter", "in the error log: open the event with its stack trace"),
    ("escape", "close a screen or dialog; clear the job filter"),
    ("tab / shift+tab", "next / previous field in forms"),
    ("→", "in a path field: accept the completion"),
)


KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "escape": "esc",
    "up": "↑",
    "down": "↓",
    "left": "←",
    "right": "→",
}


def key_display(keys: str) -> str:
    """``escape,q,question_mark`` -> ``esc q ?``: what is printed on the keyboard."""
    return " ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in keys.split(",") if k.strip())


def key_table(keymap: dict[str, str]) -> Table:
    """Three columns that fit 80 columns: the key, what it does, the id to remap it."""
    table = Table(box=None, expand=True, padding=(0, 1))
    table.add_column("Key", style="bold", no_wrap=True, max_width=16)
    table.add_column("What it does", ratio=1)
    table.add_column("Keymap id", style="dim", max_width=24)
    for title, bindings in binding_groups():
        table.add_row(f"[b]{title}[/b]", "", "")
        for keys, text, ids in _rows(bindings, keymap):
            table.add_row(keys, text, ids)
        table.add_row("", "", "")
    table.add_row("[b]Everywhere[/b]", "", "")
    for keys, text in EXTRA_KEYS:
        table.add_row(keys, text, "")
    return table


def _rows(bindings: list[Binding], keymap: dict[str, str]) -> list[tuple[str, str, str]]:
    """One row per key and meaning: the dialogs' ``esc Cancel`` once, with every id."""
    rows: dict[tuple[str, str], list[str]] = {}
    for binding in bindings:
        bid = binding.id or ""
        keys = key_display(keymap.get(bid) or binding.key_display or binding.key)
        ids = rows.setdefault((keys, DESCRIPTIONS.get(bid, binding.description)), [])
        if bid:
            ids.append(bid)
    return [(keys, text, " ".join(ids)) for (keys, text), ids in rows.items()]


class HelpScreen(ModalScreen[None]):
    BINDINGS = HELP_BINDINGS

    def __init__(self, keymap: dict[str, str] | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.keymap = dict(keymap or {})

    def compose(self) -> ComposeResult:
        keymap = self.keymap
        yield AppHeader()  # every screen shows the header (issue 10)
        with VerticalScroll(classes="dialog", id="help-dialog") as scroll:
            scroll.border_title = "Keys"
            scroll.border_subtitle = "escape closes"
            yield Static(key_table(keymap))
        # The keys of this dialog, not those of the screen underneath.
        yield Footer(compact=True)
