"""Every remappable key in one place, with the ids ``config.yaml`` uses.

A person remaps a key with, e.g.::

    keymap:
      job.run: ctrl+r
      job.stop: x,ctrl+x

Textual's ``App.set_keymap`` applies the ids below. The help screen reads
this module too, so what it lists is what the app binds.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding

from tui_backup.tui.widgets.error_log import ErrorLog
from tui_backup.tui.widgets.job_table import JobTable

MAIN_BINDINGS: list[Binding] = [
    # ``enter`` is a priority binding: its effect used to travel in a widget message
    # (a table's RowSelected, the filter's Submitted) and so came after a key typed
    # behind it. The screen's action does what the focused widget means at once.
    Binding("n", "new_job", "New", id="job.new"),
    Binding("e", "edit_job", "Edit", id="job.edit"),
    Binding("enter", "open", "Details", id="job.details", priority=True, show=False),
    Binding("r", "run_job", "Run", id="job.run"),
    Binding("x", "stop_job", "Stop", id="job.stop"),
    Binding("d", "delete_job", "Delete", id="job.delete"),
    Binding("R", "restore", "Restore", id="job.restore", key_display="R"),
    Binding("v", "verify", "Verify", id="job.verify", show=False),
    Binding("slash", "filter", "Filter", id="jobs.filter", key_display="/"),
    Binding("l", "focus_errors", "Errors", id="errors.focus", show=False),
    Binding("tab", "toggle_pane", "Pane", id="pane.toggle", show=False),
    Binding("t", "app.next_theme", "Theme", id="app.theme", show=False),
    Binding("escape", "clear_filter", show=False, id="jobs.clear_filter"),
]

APP_BINDINGS: list[Binding] = [
    Binding("question_mark", "app.help", "Help", id="app.help", key_display="?"),
    Binding("q", "app.request_quit", "Quit", id="app.quit"),
    Binding(
        "ctrl+p", "app.command_palette", "Commands", id="app.palette", show=False, priority=True
    ),
]

DESCRIPTIONS: dict[str, str] = {
    "job.new": "create a job in the editor",
    "job.edit": "edit the selected job",
    "job.details": "open the job's details: spec, history, snapshots, errors",
    "job.run": "run the selected job now (in this window)",
    "job.stop": "stop the selected job's run, wherever it runs",
    "job.delete": "delete the selected job (asks; backup data kept unless ticked)",
    "job.restore": "restore files from one of the job's snapshots",
    "job.verify": "verify the newest snapshot: says ok, damaged or unchecked",
    "jobs.filter": "filter jobs by name or status (e.g. 'failed', 'web running')",
    "errors.focus": "move to the error log",
    "jobs.clear_filter": "clear the job filter",
    "details.next_tab": "next tab (History, Snapshots, Errors, Spec)",
    "details.previous_tab": "previous tab",
    "pane.toggle": "switch between the job list and the error log",
    "app.theme": "next theme (saved in config.yaml)",
    "app.help": "this help",
    "app.quit": "quit (asks first while jobs run in this window)",
    "app.palette": "command palette: every action and every job",
    "cursor.down": "next job",
    "cursor.up": "previous job",
    "error.resolve": "mark the selected error resolved",
    "error.filter": "filter the error log by severity, component, job",
    "error.down": "next error",
    "error.up": "previous error",
}


EDITOR_BINDINGS: list[Binding] = [
    Binding("ctrl+s", "save", "Save", id="editor.save", priority=True),
    Binding("escape", "cancel", "Cancel", id="editor.cancel"),
    # Priority, so the focus moves before the next key is handed out: keys
    # that arrive together (a paste, tmux send-keys, a fast typist over a
    # slow link) otherwise all land in the field the tab should have left.
    Binding("tab", "app.focus_next", "Next field", show=False, priority=True, id="editor.next"),
    Binding(
        "shift+tab",
        "app.focus_previous",
        "Previous field",
        show=False,
        priority=True,
        id="editor.previous",
    ),
]

DETAILS_BINDINGS: list[Binding] = [
    Binding("escape,q", "app.pop_screen", "Back", id="details.back"),
    Binding("r", "run", "Run", id="details.run"),
    Binding("x", "stop", "Stop", id="details.stop"),
    Binding("e", "edit", "Edit", id="details.edit"),
    Binding("R", "restore", "Restore", id="details.restore", key_display="R"),
    Binding("v", "verify", "Verify", id="details.verify"),
    # The tabs switch from anywhere on the screen (a table inside a tab would
    # otherwise keep left/right and tab for itself); the footer says so.
    Binding("tab,right", "next_tab", "Next tab", id="details.next_tab", priority=True),
    Binding("shift+tab,left", "previous_tab", "Prev tab", id="details.previous_tab", priority=True),
]

RESTORE_BINDINGS: list[Binding] = [
    Binding("escape", "back", "Back", id="restore.back"),
    Binding("ctrl+s", "start", "Restore", id="restore.start", priority=True),
]

FILE_TREE_BINDINGS: list[Binding] = [Binding("space", "mark", "Mark", id="restore.mark")]

ERROR_DETAIL_BINDINGS: list[Binding] = [
    Binding("escape,q", "dismiss(None)", "Close", id="error_detail.close"),
    Binding("space", "resolve", "Resolve", id="error_detail.resolve"),
]

ERROR_FILTER_BINDINGS: list[Binding] = [
    Binding("escape", "dismiss(None)", "Cancel", id="filter.cancel"),
    Binding("ctrl+s", "apply", "Apply", id="filter.apply"),
]

QUIT_BINDINGS: list[Binding] = [
    Binding("escape", "dismiss(None)", "Stay", id="quit.cancel"),
    Binding("w", "choose('wait')", "Wait, then quit", id="quit.wait"),
    Binding("s", "choose('stop')", "Stop them and quit", id="quit.stop"),
]

DELETE_BINDINGS: list[Binding] = [
    Binding("escape", "dismiss(None)", "Cancel", id="delete.cancel"),
]

CONFIRM_BINDINGS: list[Binding] = [
    Binding("escape", "dismiss(False)", "Cancel", id="confirm.cancel"),
]

HELP_BINDINGS: list[Binding] = [
    Binding("escape,q,question_mark", "dismiss(None)", "Close", id="help.close"),
]


def binding_groups() -> list[tuple[str, list[Binding]]]:
    """Every screen's bindings, in the order a person meets them (help, keymap check).

    The dialogs' ``escape`` is listed once: every dialog closes with it.
    """

    def of(*classes: type) -> list[Binding]:
        return [b for c in classes for b in c.BINDINGS if isinstance(b, Binding)]

    dialogs = [*QUIT_BINDINGS, *DELETE_BINDINGS, *ERROR_FILTER_BINDINGS, *CONFIRM_BINDINGS]
    return [
        ("Main screen", [*MAIN_BINDINGS, *APP_BINDINGS]),
        ("Job list", of(JobTable)),
        ("Error log", of(ErrorLog)),
        ("Job editor", EDITOR_BINDINGS),
        ("Details", DETAILS_BINDINGS),
        ("Restore browser", [*RESTORE_BINDINGS, *FILE_TREE_BINDINGS]),
        ("Error event", ERROR_DETAIL_BINDINGS),
        ("Dialogs", [*dialogs, *HELP_BINDINGS]),
    ]


def known_ids() -> set[str]:
    """Every binding id ``config.yaml`` may remap."""
    return binding_ids(bindings for _title, bindings in binding_groups())


def binding_ids(groups: Iterable[Iterable[Binding]]) -> set[str]:
    return {b.id for group in groups for b in group if b.id}


def check_keymap(keymap: dict[str, str], known: set[str]) -> list[str]:
    """Readable complaints about ids in ``config.yaml`` that bind nothing."""
    return [
        f"config.yaml: keymap.{bid}: unknown key binding id (known: {', '.join(sorted(known))})"
        for bid in keymap
        if bid not in known
    ]
