"""The one-line header: home, runs here and elsewhere, watch mode, open errors.

Always visible, so the unresolved-error counter and the watch indicator are
never scrolled away, and on every screen (issue 10: details, restore and the
editor hid it): each screen composes its own, and the app copies the main
screen's values into the others (``BackupApp.sync_headers``). State is shown
with classes (``-live``, ``-polling``, ``-unreachable``, ``-has-errors``)
styled in ``app.tcss``.
"""

from __future__ import annotations

from textual.app import ComposeResult, RenderResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Label

from tui_backup.tui.formatting import elide_path
from tui_backup.tui.messages import HeaderMounted

WATCH_LABELS = {
    "live": "● live",
    "polling": "● polling",
    "unreachable": "● home unreachable",
    "off": "○ not watching",
}


class HomeLabel(Label):
    """The home path, cut in the middle to the width it gets (its end names the home)."""

    def __init__(self, path: str, *, id: str | None = None) -> None:
        super().__init__(path, id=id)
        self._path = path

    def render(self) -> RenderResult:
        width = self.content_region.width or len(self._path)
        return elide_path(self._path, width)


class AppHeader(Horizontal):
    """Title, home path and live counters."""

    DEFAULT_CSS = """
    AppHeader { height: 1; dock: top; }
    AppHeader Label { padding: 0 1; }
    AppHeader #home { width: 1fr; }
    """

    running_here: reactive[int] = reactive(0)
    running_elsewhere: reactive[int] = reactive(0)
    watch_mode: reactive[str] = reactive("off")
    unresolved: reactive[int] = reactive(0)

    def __init__(self, home_label: str | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._home_label = home_label

    def compose(self) -> ComposeResult:
        home = self._home_label
        if home is None:  # a screen other than the main one: the app's home
            home = str(getattr(self.app, "home_label", ""))
        yield Label("tui-backup", id="title")
        yield HomeLabel(home, id="home")
        yield Label("", id="runs")
        yield Label("", id="watch")
        yield Label("", id="unresolved")

    def on_mount(self) -> None:
        self._show_runs()
        self._show_watch(self.watch_mode)
        self._show_unresolved(self.unresolved)
        self.post_message(HeaderMounted())  # the app sets the current values

    def _label(self, name: str) -> Label | None:
        """One of the header's labels, or None while they are not there (being removed
        as the app closes, when a late count still arrives)."""
        found = self.query(f"#{name}")
        return found.first(Label) if found else None

    def copy_values(self, other: AppHeader) -> None:
        """Show what ``other`` (the main screen's header) shows."""
        self.running_here = other.running_here
        self.running_elsewhere = other.running_elsewhere
        self.watch_mode = other.watch_mode
        self.unresolved = other.unresolved

    def _show_runs(self) -> None:
        runs = self._label("runs")
        if runs is None:
            return
        text = f"▶ {self.running_here} here · {self.running_elsewhere} elsewhere"
        # A new layout of the whole screen costs ~11 ms; a count of the same width
        # ("▶ 3 here" -> "▶ 4 here") only needs the label repainted.
        runs.update(text, layout=len(text) != len(str(runs.content)))
        runs.set_class(self.running_here + self.running_elsewhere > 0, "-active")

    def watch_running_here(self, _: int) -> None:
        if self.is_mounted:
            self._show_runs()

    def watch_running_elsewhere(self, _: int) -> None:
        if self.is_mounted:
            self._show_runs()

    def watch_watch_mode(self, mode: str) -> None:
        if self.is_mounted:
            self._show_watch(mode)

    def _show_watch(self, mode: str) -> None:
        label = self._label("watch")
        if label is None:
            return
        label.update(WATCH_LABELS.get(mode, f"● {mode}"))
        for known in WATCH_LABELS:
            label.set_class(mode == known, f"-{known}")

    def watch_unresolved(self, count: int) -> None:
        if self.is_mounted:
            self._show_unresolved(count)

    def _show_unresolved(self, count: int) -> None:
        label = self._label("unresolved")
        if label is None:
            return
        label.update(f"⚠ {count} unresolved" if count else "✓ no open errors")
        label.set_class(count > 0, "-has-errors")
