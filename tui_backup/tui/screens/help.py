"""``?``: every key the app binds, with its id for remapping in ``config.yaml``."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from tui_backup.tui.keymap import APP_BINDINGS, DESCRIPTIONS, MAIN_BINDINGS
from tui_backup.tui.widgets.error_log import ErrorLog
from tui_backup.tui.widgets.job_table import JobTable

EXTRA_KEYS = (
    ("↑ ↓", "move between jobs or errors (as j k)"),
    ("enter", "in the error log: open the event with its stack trace"),
    ("escape", "close a screen or dialog; clear the job filter"),
    ("tab / shift+tab", "next / previous field in forms"),
    ("→", "in a path field: accept the completion"),
)


def binding_groups() -> list[tuple[str, list[Binding]]]:
    """Every screen's bindings, in the order a person meets them."""
    from tui_backup.tui.screens.confirm import ConfirmScreen
    from tui_backup.tui.screens.delete import DeleteJobScreen
    from tui_backup.tui.screens.details import DetailsScreen
    from tui_backup.tui.screens.editor import JobEditorScreen
    from tui_backup.tui.screens.error_detail import ErrorDetailScreen
    from tui_backup.tui.screens.error_filter import ErrorFilterScreen
    from tui_backup.tui.screens.quit import QuitScreen
    from tui_backup.tui.screens.restore import FileTree, RestoreScreen

    def of(*classes: type) -> list[Binding]:
        return [b for c in classes for b in c.BINDINGS if isinstance(b, Binding)]

    return [
        ("Main screen", [*MAIN_BINDINGS, *APP_BINDINGS]),
        ("Job list", of(JobTable)),
        ("Error log", of(ErrorLog)),
        ("Job editor", of(JobEditorScreen)),
        ("Details", of(DetailsScreen)),
        ("Restore browser", of(RestoreScreen, FileTree)),
        ("Error event", of(ErrorDetailScreen)),
        ("Dialogs", of(QuitScreen, DeleteJobScreen, ErrorFilterScreen, ConfirmScreen, HelpScreen)),
    ]


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
    table.add_column("Keymap id", style="dim", no_wrap=True)
    for title, bindings in binding_groups():
        table.add_row(f"[b]{title}[/b]", "", "")
        for binding in bindings:
            bid = binding.id or ""
            keys = key_display(keymap.get(bid) or binding.key_display or binding.key)
            table.add_row(keys, DESCRIPTIONS.get(bid, binding.description), bid)
        table.add_row("", "", "")
    table.add_row("[b]Everywhere[/b]", "", "")
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
        from tui_backup.tui.app import BackupApp

        keymap = self.app.user_keymap if isinstance(self.app, BackupApp) else {}
        with VerticalScroll(classes="dialog", id="help-dialog") as scroll:
            scroll.border_title = "Keys"
            scroll.border_subtitle = "escape closes"
            yield Static(key_table(keymap))
        # The keys of this dialog, not those of the screen underneath.
        yield Footer(compact=True)
