"""The job list: a keyed live table of two-line cards.

A Line-API ``DataTable`` rather than one widget per job, so 200 jobs with 50
running cost only the visible rows (measured in docs/benchmarks.md). Updates
are diffs by row key (dolphie's approach): a changed job has the cells whose
text changed replaced; the cursor and scroll position stay where the person
left them. Rows out of view (after a fill, or changed while scrolled away) are
rendered when they come into view; a cursor move redraws only the two rows it
touches (docs/benchmarks.md, "Load").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from tui_backup.core.views import JobView
from tui_backup.model.status import Status
from tui_backup.tui.messages import JobsShown
from tui_backup.tui.widgets.job_cells import (
    CardWidths,
    failure_split,
    job_cell,
    status_cell,
    when_cell,
    widths_for,
)

COLUMNS = ("job", "status", "when")
ROW_HEIGHT = 2
NOWHERE = Coordinate(-2, -2)
"""A cursor position no row (nor the header, row -1) is at."""


def matches(view: JobView, query: str) -> bool:
    """Filter by name or status: every word must match one or the other.

    ``web running`` shows running jobs whose name contains ``web``;
    ``failed`` shows failed ones. A status may be typed in part (``fail``,
    ``run``), so the list narrows as the word is typed instead of going
    empty until it is complete.
    """
    for word in query.lower().split():
        if word in {str(s) for s in Status}:
            if str(view.status) != word:
                return False
        elif word not in view.name and not str(view.status).startswith(word):
            return False
    return True


class JobTable(DataTable[Text]):
    """Job cards keyed by job name."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="cursor.down"),
        Binding("k", "cursor_up", "Up", show=False, id="cursor.up"),
        # DataTable's own home/end scroll sideways, which a row table never needs.
        Binding("home,g", "scroll_top", "First job", show=False, id="cursor.first"),
        Binding("end,G", "scroll_bottom", "Last job", show=False, id="cursor.last"),
    ]

    COMPONENT_CLASSES = {
        "job-table--name",
        "job-table--dim",
        "job-table--bar",
        "job-table--bar-back",
        *(f"job-table--status-{s}" for s in Status),
    }

    def __init__(
        self,
        clock: Callable[[], datetime],
        is_here: Callable[[str], bool],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cell_padding=1)
        self._clock = clock
        self._is_here = is_here
        self._views: dict[str, JobView] = {}
        self._query = ""
        self._widths: CardWidths | None = None
        self._styles: dict[str, Style] = {}
        self._order: list[str] = []
        """Shown job names in row order (index = row)."""
        self._stale: set[str] = set()
        self._shown_set: set[str] = set()
        self._loaded = False
        self._want: str | None = None
        """Rows whose job changed while scrolled out of view; rendered when they come back."""
        self._frame_style: Style | None = None
        self._rebuilding = False
        """True while ``_rebuild`` empties and refills the table: ``clear()`` scrolls to
        the top, and a scroll renders stale rows, which would then address rows and
        columns that are gone (issue 10's ``CellDoesNotExist``)."""

    # -- public API ------------------------------------------------------------

    @property
    def selected_name(self) -> str | None:
        """The job under the cursor, or None when the table is empty."""
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 - an empty or reshaped table has no cursor row
            return None
        return str(key.value) if key.value is not None else None

    @property
    def views(self) -> dict[str, JobView]:
        return self._views

    @property
    def shown_names(self) -> list[str]:
        return list(self._order)

    def set_views(self, views: Iterable[JobView]) -> None:
        """Replace everything (start-up, filter change); the cursor stays on its job."""
        self._views = {v.name: v for v in views}
        self._loaded = True
        self._rebuild()

    def select(self, name: str) -> None:
        """Put the cursor on ``name`` now, or as soon as it appears (a job just created)."""
        if name in self._order:
            self.move_cursor(row=self._order.index(name), animate=False)
            self._want = None
        else:
            self._want = name

    def set_query(self, query: str) -> None:
        self._query = query.strip()
        self._rebuild()

    @property
    def query_text(self) -> str:
        return self._query

    def apply_changes(self, updated: dict[str, JobView], removed: set[str]) -> None:
        """Diff in the newest views: replace changed cells, add or drop rows.

        Only rows on screen are rendered now; a changed row scrolled out of
        view is marked stale and rendered when it scrolls back (so 50 running
        jobs cost what the dozen visible ones cost).
        """
        if not self._loaded:
            # The first full listing is on its way; it will show these jobs too.
            for name in removed:
                self._views.pop(name, None)
            self._views.update(updated)
            return
        structural = bool(removed & set(self._views))
        for name in removed:
            self._views.pop(name, None)
        shown = self._shown_set
        changed: dict[str, JobView] = {}
        for name, view in updated.items():
            old = self._views.get(name)
            if old is None:
                structural = True
            self._views[name] = view
            visible = not self._query or matches(view, self._query)
            if (name in shown) != visible:
                structural = True
            if old != view:
                changed[name] = view
        if structural:
            self._rebuild()
            return
        on_screen = self._on_screen()
        for name, view in changed.items():
            if name not in shown:
                continue
            if name in on_screen:
                self._update_row(view)
            else:
                self._stale.add(name)

    def refresh_all(self) -> None:
        """Re-render every row (theme change, the clock moved on)."""
        self._styles.clear()
        self._stale.update(self._order)
        self._render_stale()

    def _on_screen(self, scroll_y: float | None = None) -> set[str]:
        """Names of the rows inside the viewport (plus one row either side)."""
        # Not laid out yet (hidden while the list was empty, or mid-layout): the view
        # is at most the terminal's height; its Resize renders what else comes into view.
        height = self.size.height if self.size.height > 1 else self.app.size.height
        top = self.scroll_y if scroll_y is None else scroll_y
        first = max(0, int(top) // ROW_HEIGHT - 1)
        count = height // ROW_HEIGHT + 3
        return set(self._order[first : first + count])

    def _render_stale(self) -> None:
        if self._rebuilding or not self._stale:
            return
        for name in self._on_screen() & self._stale:
            self._stale.discard(name)
            view = self._views.get(name)
            if view is not None:
                self._update_row(view)

    # -- scrolling by whole cards ------------------------------------------------
    # A scroll offset between two card tops shows half a card at the top (the
    # cursor scrolling down to a card aligns its bottom with the viewport's, and
    # a viewport of odd height makes that offset odd). Offsets are kept on card
    # tops: rounded in the direction of travel, and the end rounded up so the
    # last card's top can still land on the first line (a blank line below it).

    @property
    def max_scroll_y(self) -> int:
        most = super().max_scroll_y
        return most + (-most % ROW_HEIGHT)

    def _on_card(self, value: float) -> float:
        down = value >= self.scroll_y
        cards = value / ROW_HEIGHT
        snapped = (math.ceil(cards) if down else math.floor(cards)) * ROW_HEIGHT
        return max(0, min(self.max_scroll_y, snapped))

    def validate_scroll_y(self, value: float) -> float:
        return self._on_card(super().validate_scroll_y(value))

    def validate_scroll_target_y(self, value: float) -> float:
        return self._on_card(super().validate_scroll_target_y(value))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._render_stale()

    # -- rendering -------------------------------------------------------------
    # DataTable caches each rendered row under the cursor's position, so moving the
    # cursor by one row re-rendered every visible row, and looked the widget's style
    # up again for every line (cProfile of benchmarks/load.py: drawing the table was
    # over half of the event loop's CPU while keys were pressed over 50 running jobs).
    # A row cursor only changes the row it leaves and the row it reaches: the others
    # are rendered as if the cursor were nowhere, so their cached lines stay valid.

    def _render_line_in_row(
        self,
        row_key: Any,
        line_no: int,
        base_style: Style,
        cursor_location: Coordinate,
        hover_location: Coordinate,
    ) -> tuple[Any, Any]:
        if self.cursor_type == "row":
            row = self._row_locations.get(row_key)
            row = -1 if row is None else row  # the header row
            if cursor_location.row != row:
                cursor_location = NOWHERE
            if hover_location.row != row:
                hover_location = NOWHERE
        return super()._render_line_in_row(
            row_key, line_no, base_style, cursor_location, hover_location
        )

    def render_lines(self, crop: Region) -> list[Strip]:
        self._frame_style = self.rich_style  # once per frame, not once per line
        try:
            return super().render_lines(crop)
        finally:
            self._frame_style = None

    def render_line(self, y: int) -> Strip:
        style = self._frame_style
        if style is None:
            return super().render_line(y)
        # DataTable.render_line with the frame's style (no fixed rows in this table).
        if self.fixed_rows:
            return super().render_line(y)
        header = self.get_row_height(self._header_row_key) if self.show_header else 0
        scroll_x, scroll_y = self.scroll_offset
        if y >= header:
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + self.size.width, style)

    def _style(self, short: str) -> Style:
        style = self._styles.get(short)
        if style is None:
            style = self.get_component_rich_style(f"job-table--{short}", partial=True)
            self._styles[short] = style
        return style

    def _cells(self, view: JobView) -> tuple[Text, Text, Text]:
        widths = self._widths or widths_for(self.size.width - 8)
        now = self._clock()
        _head, rest = failure_split(view, widths.status, now)
        return (
            job_cell(view, widths.job, self._style),
            status_cell(view, widths.status, now, self._style),
            when_cell(view, widths.when, now, self._is_here(view.name), self._style, rest),
        )

    def _update_row(self, view: JobView) -> None:
        """Replace the cells whose text changed, and only those.

        Any ``update_cell`` makes DataTable render every visible row again, so a
        view that changed only where the card does not show it (a heartbeat, the
        clock tick of a card whose "5m ago" still reads the same) costs nothing.
        """
        try:
            cells = self._cells(view)
            row = self.get_row(view.name)
            for column, cell, old in zip(COLUMNS, cells, row, strict=True):
                if cell != old:
                    self.update_cell(view.name, column, cell)
        except (RowDoesNotExist, CellDoesNotExist, KeyError):
            if not self._rebuilding:
                self._rebuild()

    def _rebuild(self) -> None:
        self._rebuilding = True
        try:
            self._refill()
        finally:
            self._rebuilding = False
        self._render_stale()  # the view may have moved (fewer rows, a kept cursor)

    def _refill(self) -> None:
        """Every shown row afresh (those in view rendered, the rest when they come into
        view), cursor and scroll kept."""
        keep = self._want if self._want in self._views else self.selected_name
        if keep == self._want:
            self._want = None
        keep_row = self.cursor_row
        scroll_y = self.scroll_y
        self._widths = widths_for(self.size.width - 8)
        self._stale.clear()
        self.clear(columns=True)
        labels = ("Job", "Status", "Next / rate")
        for key, label, width in zip(
            COLUMNS,
            labels,
            (self._widths.job, self._widths.status, self._widths.when),
            strict=True,
        ):
            self.add_column(label, key=key, width=width)
        names = sorted(
            n for n, v in self._views.items() if not self._query or matches(v, self._query)
        )
        self._order = names
        self._shown_set = set(names)
        self._stale.clear()
        # Only the cards in view are rendered now; the others get blank cells and are
        # rendered when they scroll into view (2,000 jobs: ~2,000 cards not built, and
        # DataTable does not measure their text).
        in_view = self._on_screen(scroll_y)
        for name in names:
            if name in in_view:
                cells = self._cells(self._views[name])
            else:
                cells = (Text(), Text(), Text())
                self._stale.add(name)
            self.add_row(*cells, key=name, height=ROW_HEIGHT)
        if keep is not None and keep in names:
            self.move_cursor(row=names.index(keep), animate=False, scroll=False)
        elif names:
            self.move_cursor(row=min(keep_row, len(names) - 1), animate=False, scroll=False)
        self.scroll_to(y=scroll_y, animate=False, immediate=True)
        self.post_message(JobsShown(len(names), len(self._views)))

    def on_resize(self, event: events.Resize) -> None:
        if widths_for(event.size.width - 8) != self._widths:
            self._rebuild()
        else:
            self._render_stale()  # a taller table shows rows that changed out of view

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        """Our cached component styles belong to the old theme; re-render once CSS applied."""
        self._styles.clear()
        self.call_after_refresh(self.refresh_all)
