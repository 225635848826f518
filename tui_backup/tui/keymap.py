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

MAIN_BINDINGS: list[Binding] = [
    Binding("n", "new_job", "New", id="job.new"),
    Binding("e", "edit_job", "Edit", id="job.edit"),
    Binding("enter", "details", "Details", id="job.details"),
    Binding("r", "run_job", "Run", id="job.run"),
    Binding("x", "stop_job", "Stop", id="job.stop"),
    Binding("d", "delete_job", "Delete", id="job.delete"),
    Binding("R", "restore", "Restore", id="job.restore", key_display="R"),
    Binding("v", "verify", "Verify", id="job.verify", show=False),
    Binding("slash", "filter", "Filter", id="jobs.filter", key_display="/"),
    Binding("l", "focus_errors", "Errors", id="errors.focus", show=False),
    Binding("tab", "toggle_pane", "Pane", id="pane.toggle", show=False),
    Binding("t", "app.next_theme", "Theme", id="app.theme", show=False),
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


def binding_ids(groups: Iterable[Iterable[Binding]]) -> set[str]:
    return {b.id for group in groups for b in group if b.id}


def check_keymap(keymap: dict[str, str], known: set[str]) -> list[str]:
    """Readable complaints about ids in ``config.yaml`` that bind nothing."""
    return [
        f"config.yaml: keymap.{bid}: unknown key binding id (known: {', '.join(sorted(known))})"
        for bid in keymap
        if bid not in known
    ]
