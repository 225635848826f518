"""Restore browser: pick a snapshot, browse its tree, mark paths, choose a target.

The default target is a new folder, never the original location; restoring
over the original files needs the checkbox and a confirmation. The tree is
read one folder at a time, in a worker, when the folder is expanded.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Footer,
    Input,
    Label,
    ProgressBar,
    Static,
    Tree,
)
from textual.widgets.tree import TreeNode

from tui_backup.core.manager import JobManager
from tui_backup.core.views import JobView
from tui_backup.model.progress import Progress
from tui_backup.model.units import plural
from tui_backup.tui.actions import readable
from tui_backup.tui.formatting import files_and_size, human_bytes, local_stamp, tilde
from tui_backup.tui.keymap import FILE_TREE_BINDINGS, RESTORE_BINDINGS
from tui_backup.tui.messages import (
    MarkToggled,
    RestoreFinished,
    RestoreProgressed,
    SnapshotsListed,
    SnapshotTreeLoaded,
)
from tui_backup.tui.screens.confirm import ConfirmScreen
from tui_backup.tui.snapshot_access import (
    Entry,
    SnapshotTree,
    list_snapshots,
    load_tree,
    original_location,
    restore,
)
from tui_backup.tui.widgets.header import AppHeader
from tui_backup.tui.widgets.path_suggester import PathSuggester

RESTORES = os.path.join("~", "tui-backup-restores")
"""Where the browser offers new restore folders; created on the first restore."""


def default_target(job: str, snapshot_id: str) -> str:
    """A new folder under the user's home, named so it never collides with a source.

    When that folder already holds an earlier restore, the next free name
    (``-2``, ``-3``...) is offered, so a second restore just works.
    """
    base = os.path.join(RESTORES, f"{job}-{snapshot_id}")
    candidate, n = base, 1
    while _non_empty(os.path.expanduser(candidate)):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _non_empty(path: str) -> bool:
    try:
        return bool(os.listdir(path))
    except NotADirectoryError:
        return True
    except OSError:
        return False


class ConfirmOriginal(ConfirmScreen):
    """Restoring over the original location: say exactly what happens."""

    def __init__(self, text: str) -> None:
        super().__init__("Restore over the original files?", text, "Overwrite originals")


class FileTree(Tree[Entry]):
    """The snapshot's tree; ``space`` marks instead of expanding (enter expands)."""

    BINDINGS = FILE_TREE_BINDINGS

    def action_mark(self) -> None:
        self.post_message(MarkToggled())


class RestoreScreen(Screen[None]):
    BINDINGS = RESTORE_BINDINGS
    AUTO_FOCUS = "#snapshot-list"

    def __init__(self, name: str, view: JobView | None, manager: JobManager) -> None:
        super().__init__(classes="restore-screen")
        self.job_name = name
        self.view = view
        self.manager = manager
        self.snapshot_id: str | None = None
        self.marked: set[str] = set()
        self.cancel = threading.Event()
        self.running = False
        self.snapshot_tree: SnapshotTree | None = None

    def compose(self) -> ComposeResult:
        yield AppHeader()  # every screen shows the header (issue 10)
        yield Static(f"Restore from [b]{self.job_name}[/b]", id="restore-title")
        with Horizontal(id="restore-body"):
            with Vertical(id="snapshot-pane") as pane:
                pane.border_title = "Snapshots"
                yield DataTable(id="snapshot-list", cursor_type="row")
            with Vertical(id="tree-pane") as pane:
                pane.border_title = "Files · space marks · nothing marked = everything"
                tree = FileTree("(pick a snapshot)", id="snapshot-tree")
                tree.show_root = True
                yield tree
        with Vertical(id="restore-bottom"):
            with Horizontal(classes="field-row"):
                yield Label("Restore into", classes="field-label")
                yield Input(id="target", compact=True, suggester=PathSuggester(separator=None))
            yield Checkbox(
                "restore to the original location instead (overwrites files there)",
                False,
                id="original",
            )
            with Horizontal(id="restore-actions"):
                yield Static("", id="restore-status")
                yield Button(Content("Restore [ctrl+s]"), id="start", variant="primary")
            yield ProgressBar(id="restore-progress", show_eta=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#snapshot-list", DataTable)
        table.add_column("Snapshot", key="snapshot")
        table.loading = True
        self.query_one("#restore-progress").display = False
        self.load_snapshots()

    # -- loading -----------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="restore-load")
    def load_snapshots(self) -> None:
        try:
            snaps = list_snapshots(self.manager, self.job_name)
        except Exception as exc:  # noqa: BLE001
            self.post_message(SnapshotsListed([], readable(exc)))
            return
        self.post_message(SnapshotsListed(snaps))

    def on_snapshots_listed(self, message: SnapshotsListed) -> None:
        if message.error:
            self._snapshots_failed(message.error)
        else:
            self._show_snapshots(message.snapshots)

    def _snapshots_failed(self, text: str) -> None:
        table = self.query_one("#snapshot-list", DataTable)
        table.loading = False
        self.query_one("#restore-status", Static).update(f"Cannot list snapshots: {text}")

    def _show_snapshots(self, snaps: list[Any]) -> None:
        table = self.query_one("#snapshot-list", DataTable)
        table.loading = False
        table.clear()
        for snap in snaps:
            table.add_row(
                Text(f"{local_stamp(snap.time)}\n{files_and_size(snap.files, snap.bytes)}"),
                key=snap.id,
                height=2,
            )
        if not snaps:
            self.query_one("#restore-status", Static).update(
                "No snapshots yet: run the job first (r on the main screen)."
            )
            return
        table.move_cursor(row=0)
        self._choose(str(snaps[0].id))

    @on(DataTable.RowHighlighted, "#snapshot-list")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None and event.row_key.value != self.snapshot_id:
            self._choose(str(event.row_key.value))

    def _choose(self, snapshot_id: str) -> None:
        self.snapshot_id = snapshot_id
        self.snapshot_tree = None
        self.marked.clear()
        target = self.query_one("#target", Input)
        if not self.query_one("#original", Checkbox).value:
            target.value = default_target(self.job_name, snapshot_id)
        tree = self.query_one("#snapshot-tree", Tree)
        tree.clear()
        tree.root.set_label(f"{snapshot_id}/ (reading…)")
        tree.root.data = Entry("", snapshot_id, True)
        self.load_snapshot_tree(snapshot_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="restore-tree")
    def load_snapshot_tree(self, snapshot_id: str) -> None:
        try:
            index = load_tree(self.manager, self.job_name, snapshot_id)
        except Exception as exc:  # noqa: BLE001
            self.post_message(SnapshotTreeLoaded(snapshot_id, None, readable(exc)))
            return
        self.post_message(SnapshotTreeLoaded(snapshot_id, index))

    def on_snapshot_tree_loaded(self, message: SnapshotTreeLoaded) -> None:
        if message.tree is None:
            self.query_one("#restore-status", Static).update(
                escape(f"Cannot read: {message.error}")
            )
            return
        self._show_tree(message.tree)

    def _show_tree(self, index: SnapshotTree) -> None:
        if index.snapshot_id != self.snapshot_id:
            return
        self.snapshot_tree = index
        tree = self.query_one("#snapshot-tree", Tree)
        tree.root.set_label(
            f"{index.snapshot_id}/  {index.files} files, {human_bytes(index.bytes)}"
        )
        self._add_children(tree.root, index.list_dir(""))
        tree.root.expand()
        self._show_selection()

    @on(Tree.NodeExpanded, "#snapshot-tree")
    def _expanded(self, event: Tree.NodeExpanded[Entry]) -> None:
        entry = event.node.data
        index = self.snapshot_tree
        if index is None or entry is None or not entry.is_dir or event.node.children:
            return
        self._add_children(event.node, index.list_dir(entry.path))

    def _add_children(self, node: TreeNode[Entry], entries: list[Entry]) -> None:
        node.remove_children()
        for entry in entries:
            label = self._label(entry)
            if entry.is_dir:
                node.add(label, data=entry, allow_expand=True)
            else:
                node.add_leaf(label, data=entry)

    def _label(self, entry: Entry) -> Text:
        mark = "☑ " if entry.path in self.marked else "☐ "
        return Text(mark + entry.name + ("/" if entry.is_dir else ""))

    # -- marking and target --------------------------------------------------------

    def on_mark_toggled(self, _: MarkToggled) -> None:
        tree = self.query_one("#snapshot-tree", Tree)
        node = tree.cursor_node
        if node is None or node.data is None or node is tree.root:
            return
        entry: Entry = node.data
        if entry.path in self.marked:
            self.marked.discard(entry.path)
        else:
            self.marked.add(entry.path)
        node.set_label(self._label(entry))
        self._show_selection()

    def _show_selection(self) -> None:
        if not self.marked:
            index = self.snapshot_tree
            size = f" ({plural(index.files, 'file')}, {human_bytes(index.bytes)})" if index else ""
            what = f"everything{size}"
        else:
            names = sorted(self.marked)
            shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
            what = shown if len(names) == 1 else f"{len(names)} marked paths: {shown}"
        self.query_one("#restore-status", Static).update(escape(f"Will restore {what}."))

    @on(Checkbox.Changed, "#original")
    def _original_changed(self, event: Checkbox.Changed) -> None:
        target = self.query_one("#target", Input)
        if event.value:
            view = self.view
            original = original_location(view.spec) if view is not None else None
            if original is None:
                self.notify(
                    "This job's sources have no single original location; "
                    "restore into a folder and copy back by hand.",
                    severity="warning",
                )
                event.checkbox.value = False
                return
            target.value = tilde(original)
            target.disabled = True
        else:
            target.disabled = False
            if self.snapshot_id:
                target.value = default_target(self.job_name, self.snapshot_id)

    # -- restoring -------------------------------------------------------------------

    def action_start(self) -> None:
        if self.running or self.snapshot_id is None:
            return
        original = self.query_one("#original", Checkbox).value
        target = os.path.expanduser(self.query_one("#target", Input).value.strip())
        if not target or not os.path.isabs(target):
            self.notify("The target must be an absolute path.", severity="error")
            return
        paths = sorted(self.marked)
        if original:
            what = f"{len(paths)} marked path(s)" if paths else "every file of the snapshot"
            text = (
                f"{what} from {self.snapshot_id} will be written over the files at their "
                "original location. Files changed since then will be replaced."
            )

            def confirmed(ok: bool | None) -> None:
                if ok:
                    self._begin(target, paths, overwrite=True)

            self.app.push_screen(ConfirmOriginal(text), confirmed)
            return
        if os.path.exists(target) and os.listdir(target):
            self.notify(f"{tilde(target)} is not empty; choose a new folder.", severity="error")
            return
        self._begin(target, paths, overwrite=False)

    def _begin(self, target: str, paths: list[str], *, overwrite: bool) -> None:
        self.running = True
        self.cancel.clear()
        self.query_one("#start", Button).disabled = True
        bar = self.query_one("#restore-progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.query_one("#restore-status", Static).update(f"Restoring into {tilde(target)}…")
        assert self.snapshot_id is not None
        self.run_restore(self.snapshot_id, target, paths, overwrite)

    @work(thread=True, exclusive=True, exit_on_error=False, group="restore-run")
    def run_restore(self, snapshot_id: str, target: str, paths: list[str], overwrite: bool) -> None:
        def progress(event: Any) -> None:
            if isinstance(event, Progress):
                self.post_message(
                    RestoreProgressed(
                        event.files_done, event.files_total, event.bytes_done, event.bytes_total
                    )
                )

        try:
            # The folder this screen offers is ours to make; any other parent must
            # exist already (a missing one may be an unmounted disk).
            if os.path.dirname(target) == os.path.expanduser(RESTORES):
                os.makedirs(os.path.dirname(target), exist_ok=True)
            report = restore(
                self.manager,
                self.job_name,
                snapshot_id,
                target,
                paths,
                overwrite=overwrite,
                cancel=self.cancel,
                on_progress=progress,
            )
        except Exception as exc:  # noqa: BLE001
            self.post_message(RestoreFinished(target, 0, 0, readable(exc)))
            return
        self.post_message(
            RestoreFinished(target, report.files, report.bytes, summary=report.summary())
        )

    def on_restore_progressed(self, message: RestoreProgressed) -> None:
        bar = self.query_one("#restore-progress", ProgressBar)
        if message.bytes_total:
            bar.update(total=message.bytes_total, progress=message.bytes_done)
        elif message.files_total:
            bar.update(total=message.files_total, progress=message.files_done)

    def on_restore_finished(self, message: RestoreFinished) -> None:
        self.running = False
        self.query_one("#start", Button).disabled = False
        status = self.query_one("#restore-status", Static)
        bar = self.query_one("#restore-progress", ProgressBar)
        if message.error:
            status.update(f"Restore failed: {message.error}")
            bar.display = False
            self.notify(message.error, title="Restore failed", severity="error", timeout=10)
            return
        bar.display = False  # the sentence below says it all; a full bar is noise
        text = message.summary or (
            f"restored {plural(message.files, 'file')} ({human_bytes(message.bytes)}) "
            f"into {message.target}"
        )
        # The path as the target box shows it (``~/…``): shorter, so it fits 80 columns.
        if text.endswith(f" into {message.target}"):
            text = text[: -len(message.target)] + tilde(message.target)
        text = text[:1].upper() + text[1:]
        status.update(escape(text))
        self.notify(text, title="Restore done", timeout=6)
        target = self.query_one("#target", Input)
        if self.snapshot_id and not self.query_one("#original", Checkbox).value:
            # Ready for the next restore: the folder just filled is not offered again.
            target.value = default_target(self.job_name, self.snapshot_id)

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    def action_back(self) -> None:
        if self.running:
            self.cancel.set()
            self.notify("Stopping the restore…", timeout=3)
            return
        self.app.pop_screen()
