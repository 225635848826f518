"""The error-log pane: events newest first, coloured by severity.

Keyed by event id so a refresh keeps the cursor on the event a person was
reading. Filters live in :class:`ErrorFilter` (a plain value the main screen
owns and passes down).

Rows come two ways: a full read (``set_events``: at start, after a filter
change, when the core says the log was reset) and the payloads of error
events from any process (``apply_events``), which never re-read the log. A
read that was under way while events arrived must not undo them, so events
applied in the last ``DELTA_KEEP_SECONDS`` are laid over every full read (a
resolution always wins over an older unresolved state).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from tui_backup.model.records import ErrorEvent
from tui_backup.model.status import Severity
from tui_backup.tui.formatting import clip, human_ago
from tui_backup.tui.messages import ErrorFilterRequested, ResolveRequested

ROW_LIMIT = 300
"""Rows the pane keeps (the full read asks for as many)."""
DELTA_KEEP_SECONDS = 5.0
"""How long an applied event is laid over full reads (a read takes milliseconds)."""
AGE_REFRESH_SECONDS = 1.0
"""How often the "When" ages are checked; a minute's change shows within a second."""


@dataclass(frozen=True, slots=True)
class ErrorFilter:
    """What the pane shows; empty fields mean "any"."""

    unresolved_only: bool = True
    min_severity: str = ""
    component: str = ""
    job: str = ""

    def query(self) -> dict[str, object]:
        """Keyword arguments for ``JobManager.errors``."""
        out: dict[str, object] = {"limit": ROW_LIMIT}
        if self.unresolved_only:
            out["unresolved"] = True
        if self.min_severity:
            out["min_severity"] = self.min_severity
        if self.component:
            out["component"] = self.component
        if self.job:
            out["job"] = self.job
        return out

    def matches(self, event: ErrorEvent) -> bool:
        """The same test :meth:`query` asks of the database, for one event in hand."""
        if self.unresolved_only and event.resolved:
            return False
        if self.min_severity and event.severity.rank < Severity(self.min_severity.upper()).rank:
            return False
        if self.component and event.component != self.component:
            return False
        return not (self.job and event.job_name != self.job)

    def describe(self) -> str:
        parts = ["unresolved" if self.unresolved_only else "all"]
        if self.min_severity:
            parts.append(f"≥{self.min_severity}")
        if self.component:
            parts.append(f"component {self.component}")
        if self.job:
            parts.append(f"job {self.job}")
        return ", ".join(parts)

    def with_changes(self, **changes: object) -> ErrorFilter:
        return replace(self, **changes)  # type: ignore[arg-type]


def what_text(event: ErrorEvent) -> str:
    """The message on one line, without the ``job: `` prefix the Job column already shows."""
    text = " ".join(event.message.split())
    if event.job_name and text.startswith(f"{event.job_name}: "):
        text = text[len(event.job_name) + 2 :]
    return text


class ErrorLog(DataTable[Text]):
    """Error events; ``enter`` opens one, ``space`` resolves it."""

    BINDINGS = [
        Binding("space", "resolve", "Resolve", id="error.resolve"),
        Binding("f", "filter", "Filter", id="error.filter"),
        Binding("j", "cursor_down", "Down", show=False, id="error.down"),
        Binding("k", "cursor_up", "Up", show=False, id="error.up"),
        Binding("home,g", "scroll_top", "Newest error", show=False, id="error.first"),
        Binding("end,G", "scroll_bottom", "Oldest error", show=False, id="error.last"),
    ]

    COMPONENT_CLASSES = {
        "error-log--dim",
        "error-log--resolved",
        *(f"error-log--severity-{s.lower()}" for s in Severity),
    }

    def __init__(self, clock: Callable[[], datetime], *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", cell_padding=1)
        self._clock = clock
        self._events: dict[int, ErrorEvent] = {}
        self._what_width = 0
        self._filter: ErrorFilter | None = None
        self._deltas: dict[int, tuple[float, ErrorEvent]] = {}
        """Events applied lately: id -> (monotonic time applied, newest state)."""
        self._read_shown = False
        """A full read is shown and none is awaited (see :meth:`misses_events`)."""

    def on_mount(self) -> None:
        self._columns(self.size.width)
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        self.set_interval(AGE_REFRESH_SECONDS, self.refresh_times)

    def _columns(self, width: int) -> None:
        """Fixed widths, so a row's text never decides the layout (stable screenshots)."""
        self._what_width = max(20, width - 30 - 8 - 1)
        self.add_column("When", key="when", width=8)
        self.add_column("Severity", key="severity", width=8)
        self.add_column("Job", key="job", width=14)
        self.add_column("What", key="what", width=self._what_width)

    def on_resize(self, event: events.Resize) -> None:
        if max(20, event.size.width - 30 - 8 - 1) == self._what_width:
            return
        events_now = list(self._events.values())
        self.clear(columns=True)
        self._events = {}
        self._columns(event.size.width)
        self.set_events(events_now)

    @property
    def selected_event(self) -> ErrorEvent | None:
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 - empty table
            return None
        return self._events.get(int(str(key.value)))

    @property
    def shown_events(self) -> tuple[ErrorEvent, ...]:
        """The events the rows show, newest first (what a person sees, for checks)."""
        return tuple(self._events.values())

    def set_events(self, batch: list[ErrorEvent]) -> None:
        """Show a full read of the log (newest first), with events applied lately on top."""
        self._read_shown = True
        self._show(self._merged(batch))

    def expect_read(self) -> None:
        """A full read is on its way: until it is shown the rows may lag the counts."""
        self._read_shown = False

    def apply_events(self, events: Iterable[ErrorEvent], flt: ErrorFilter) -> None:
        """Apply the newest states of these events (any process) to the rows shown.

        New ones that pass ``flt`` appear in time order, resolved ones go (or
        show as resolved when the filter keeps them); the log is not read.
        """
        self._filter = flt
        now = time.monotonic()
        for event in events:
            if event.id is None:
                continue
            known = self._deltas.get(event.id)
            if known is not None and known[1].resolved and not event.resolved:
                continue  # a resolution never goes back
            self._deltas[event.id] = (now, event)
        self._show(self._merged(list(self._events.values())))

    def misses_events(self, unresolved: int, flt: ErrorFilter) -> bool:
        """True when the rows cannot be the core's ``unresolved`` count of events.

        Checked only where the rows must be exactly the unresolved events (the
        default filter, fewer rows than the limit): the pane's share of the
        core's periodic reconcile, so a lost event is read again, not kept lost.
        """
        if not self._read_shown or flt != ErrorFilter() or len(self._events) >= ROW_LIMIT:
            return False
        return sum(1 for e in self._events.values() if not e.resolved) != unresolved

    def _merged(self, batch: list[ErrorEvent]) -> list[ErrorEvent]:
        """``batch`` with the recent events laid over it, filtered, newest first."""
        cutoff = time.monotonic() - DELTA_KEEP_SECONDS
        self._deltas = {i: d for i, d in self._deltas.items() if d[0] >= cutoff}
        rows = {e.id: e for e in batch if e.id is not None}
        flt = self._filter
        for event_id, (_at, event) in self._deltas.items():
            shown = rows.get(event_id)
            if shown is not None and shown.resolved and not event.resolved:
                continue
            # Rows of the read passed the filter it was made with; applied ones pass this one.
            if flt is None or flt.matches(event):
                rows[event_id] = event
            else:
                rows.pop(event_id, None)
        kept = list(rows.values())
        kept.sort(key=lambda e: (e.timestamp, e.id or 0), reverse=True)
        return kept[:ROW_LIMIT]

    def _show(self, batch: list[ErrorEvent]) -> None:
        """Show ``batch`` (newest first); the cursor follows the newest event when it was
        on the newest one, else stays on the event a person was reading (issue 10: it
        stayed on an older error when new ones arrived above it)."""
        keep = self.selected_event
        keep_row = self.cursor_row
        if keep_row == 0:
            keep = None  # on the newest: stay on the newest, whichever event that is now
        new = {e.id: e for e in batch if e.id is not None}
        if list(new) == list(self._events):
            for event_id, event in new.items():
                if event != self._events[event_id]:
                    self._events[event_id] = event
                    for column, cell in zip(
                        ("when", "severity", "job", "what"), self._cells(event), strict=True
                    ):
                        self.update_cell(str(event_id), column, cell)
            return
        self._events = new
        self.clear()
        for event_id, event in new.items():
            self.add_row(*self._cells(event), key=str(event_id))
        ids = list(new)
        if keep is not None and keep.id in new:
            self.move_cursor(row=ids.index(keep.id), animate=False)
        elif ids:
            self.move_cursor(row=min(keep_row, len(ids) - 1), animate=False)

    def _cells(self, event: ErrorEvent) -> tuple[Text, Text, Text, Text]:
        sev = str(event.severity)
        style = self.get_component_rich_style(f"error-log--severity-{sev.lower()}", partial=True)
        dim = self.get_component_rich_style("error-log--dim", partial=True)
        if event.resolved:
            style = dim
        what = Text(no_wrap=True, overflow="ellipsis")
        if event.resolved:
            what.append("✓ resolved  ", dim)
        what.append(clip(what_text(event), 200))
        what.append(f" · {event.component}", dim)
        return (
            self._when(event),
            Text(sev, style),
            Text(clip(event.job_name or "—", 14)),
            what,
        )

    def _when(self, event: ErrorEvent) -> Text:
        dim = self.get_component_rich_style("error-log--dim", partial=True)
        return Text(human_ago(event.timestamp, self._clock()).replace(" ago", ""), dim)

    def refresh_times(self) -> None:
        """The clock moved on: "5m" becomes "6m" without touching anything else.

        Runs every ``AGE_REFRESH_SECONDS`` (it once ran every 30 s beside the job
        cards, so an age lagged by up to half a minute); only cells whose text
        changed are replaced, so a tick with nothing new costs a few string
        comparisons per row and no redraw.
        """
        for event_id, event in self._events.items():
            when = self._when(event)
            key = str(event_id)
            try:
                if self.get_cell(key, "when").plain == when.plain:
                    continue
                self.update_cell(key, "when", when)
            except (CellDoesNotExist, RowDoesNotExist):
                continue  # rows being replaced: the new ones are made with fresh ages

    def _theme_changed(self, _theme: object) -> None:
        """Severity colours come from the theme: re-render the rows once CSS applied."""
        self.call_after_refresh(self._restyle)

    def _restyle(self) -> None:
        kept = list(self._events.values())
        self._events = {}
        self.set_events(kept)

    def action_resolve(self) -> None:
        """Handled by the screen, which owns the manager; this only asks."""
        event = self.selected_event
        if event is not None and event.id is not None:
            self.post_message(ResolveRequested(event.id))

    def action_filter(self) -> None:
        self.post_message(ErrorFilterRequested())
