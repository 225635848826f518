"""How one job reads as a two-line card in the job table.

Pure functions from a :class:`~tui_backup.core.views.JobView` to Rich text,
so the layout is tested without an app and the table only decides widths
and styles. Line one is what a person scans for (name, status, timing);
line two the detail (paths, counters, last result).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rich.style import Style
from rich.text import Text

from tui_backup.core.views import JobView
from tui_backup.model.progress import Progress
from tui_backup.model.secrets import mask_url
from tui_backup.model.status import Status
from tui_backup.tui.formatting import (
    clip,
    human_ago,
    human_bytes,
    human_count,
    human_duration,
    human_when,
    location_need,
    shorten_location,
    shorten_path,
    split_location,
    tilde,
)

StyleFor = Callable[[str], Style]
"""Looks up a component style by short name (``status-running``, ``dim``, ``bar``...)."""


@dataclass(frozen=True, slots=True)
class CardWidths:
    job: int
    status: int
    when: int


def widths_for(total: int) -> CardWidths:
    """Split the table's content width: paths need most, timing least."""
    content = max(40, total)
    job = int(content * (0.36 if content < 100 else 0.40))
    status = int(content * (0.38 if content < 100 else 0.36))
    return CardWidths(job, status, content - job - status)


def job_cell(view: JobView, width: int, style: StyleFor) -> Text:
    """Line one: name (and a warning), engine at the right; line two: source → destination."""
    spec = view.spec
    first = Text(no_wrap=True, overflow="ellipsis")
    first.append(clip(spec.name, width), style("name"))
    verify = view.state.last_verify
    if view.issue:
        first.append(" ⚠ file invalid", style("status-failed"))
    elif verify is not None and verify.outcome == "damaged":
        first.append(" ⚠ damaged", style("status-failed"))  # the last verify found damage
    elif verify is not None and verify.outcome == "unchecked":
        first.append(" ⚠ unchecked", style("status-stopping"))
    elif not spec.enabled:
        first.append(" (disabled)", style("dim"))
    gap = width - first.cell_len - len(spec.engine)
    if gap >= 2:
        first.append(" " * gap)
        first.append(spec.engine, style("dim"))
    room = max(8, width - 3)
    src = spec.sources[0] if spec.sources else "?"
    more = f" +{len(spec.sources) - 1}" if len(spec.sources) > 1 else ""
    dest = mask_url(spec.destination)
    if split_location(dest)[0]:
        src_w, dst_w = remote_room(len(tilde(src)), dest, room - len(more))
    else:
        src_w, dst_w = split_room(len(tilde(src)), len(tilde(dest)), room - len(more))
    second = Text(no_wrap=True, overflow="ellipsis")
    second.append(shorten_path(src, max(4, src_w)) + more)
    second.append(" → ", style("dim"))
    second.append(shorten_location(dest, max(4, dst_w)))
    second.truncate(width, overflow="ellipsis")
    return Text("\n").join([first, second])


def bytes_pair(done: int, total: int) -> str:
    """``42.0/98.0 MB`` when both share a unit, else ``980 KB/1.2 MB``."""
    a, b = human_bytes(done), human_bytes(total)
    unit_a, unit_b = a.rsplit(" ", 1)[-1], b.rsplit(" ", 1)[-1]
    if unit_a == unit_b:
        return f"{a.rsplit(' ', 1)[0]}/{b}"
    return f"{a}/{b}"


def remote_room(src: int, dest: str, room: int) -> tuple[int, int]:
    """Share ``room`` with a remote destination: it gets at least what its host and
    last component need (else all but 8 cells), the source the rest."""
    if src + len(dest) <= room:
        return src, len(dest)
    dst_w = min(len(dest), max(room // 2, min(location_need(dest), room - 8)))
    src_w = min(src, room - dst_w)
    return src_w, room - src_w


def split_room(a: int, b: int, room: int) -> tuple[int, int]:
    """Share ``room`` between two paths: each gets what it needs, else a fair half."""
    if a + b <= room:
        return a, b
    half = room // 2
    if a <= half:
        return a, room - a
    if b <= half:
        return room - b, b
    return half, room - half


def progress_bar(fraction: float | None, width: int, style: StyleFor) -> Text:
    """A bar of ``width`` cells; an unknown total shows an empty track."""
    bar = Text(no_wrap=True)
    if width <= 0:
        return bar
    if fraction is None:
        bar.append("╌" * width, style("bar-back"))
        return bar
    filled = fraction * width
    whole = int(filled)
    bar.append("━" * whole, style("bar"))
    if whole < width:
        bar.append("╸" if filled - whole >= 0.5 else " ", style("bar"))
        bar.append("━" * (width - whole - 1), style("bar-back"))
    return bar


def status_cell(view: JobView, width: int, now: datetime, style: StyleFor) -> Text:
    state = view.state
    status = state.status
    first = Text(no_wrap=True, overflow="ellipsis")
    first.append(str(status), style(f"status-{status}"))
    progress = state.progress
    if status.is_active and progress is not None and status is not Status.QUEUED:
        if progress.counting:
            return counting_cell(str(status), progress, width, style)
        fraction = progress.fraction
        pct = f" {int(fraction * 100):3d}%" if fraction is not None else " …"
        bar_w = max(0, width - len(str(status)) - 1 - len(pct))
        first.append(" ")
        first.append_text(progress_bar(fraction, bar_w, style))
        first.append(pct)
        second = Text(no_wrap=True, overflow="ellipsis")
        if progress.phase == "scan" and not progress.files_total:
            second.append(f"scanning… {human_count(progress.files_done)} files", style("dim"))
        else:
            files = f"{human_count(progress.files_done)}/{human_count(progress.files_total)}"
            size = bytes_pair(progress.bytes_done, progress.bytes_total)
            label = " files" if len(files) + len(size) + 9 <= width else ""
            second.append(files + label)
            second.append(" · ", style("dim"))
            second.append(size)
            if progress.warnings:
                second.append(f" · {progress.warnings} warn", style("status-stopping"))
        second.truncate(width, overflow="ellipsis")
        return Text("\n").join([first, second])
    return Text("\n").join([first, last_result_line(view, width, now, style)])


def counting_cell(status: str, progress: Progress, width: int, style: StyleFor) -> Text:
    """A run whose scan is still ahead of the copy: what is done and what is found so far.

    No bar, percentage or ETA: a share of a total that is still growing would
    run backwards (issue 10: a first run read ``0%`` for most of its time).
    """
    first = Text(no_wrap=True, overflow="ellipsis")
    first.append(status, style(f"status-{status}"))
    room = width - len(status) - 1
    found = human_count(progress.files_total)
    # Shorter forms before "counting…": a count that is known is always shown (issue 10:
    # "123.5k found so far" is 19 cells, one more than a running card has at 80 columns).
    choices = (
        (f"{found} files found so far", f"{found} found so far", f"{found} found", f"{found}+")
        if progress.files_total
        else ()
    )
    label = next((c for c in choices if len(c) <= room), choices[-1] if choices else "counting…")
    first.append(" ")
    first.append(label, style("dim"))
    second = Text(no_wrap=True, overflow="ellipsis")
    files = f"{human_count(progress.files_done)} file" + "s" * (progress.files_done != 1)
    second.append(f"{files} · {human_bytes(progress.bytes_done)}")
    if len(second.plain) + 5 <= width:
        second.append(" done", style("dim"))
    if progress.warnings:
        second.append(f" · {progress.warnings} warn", style("status-stopping"))
    first.truncate(width, overflow="ellipsis")
    second.truncate(width, overflow="ellipsis")
    return Text("\n").join([first, second])


def failure_split(view: JobView, width: int, now: datetime) -> tuple[str, str]:
    """A failed run's ``"5m ago: reason"`` cut at a word (or ``/``) near ``width``.

    The head goes on the status cell's second line, the rest continues on the
    next column's second line (which is empty, or only repeats the schedule), so
    a reason gets both columns at 80 cells instead of ~25 characters.
    """
    last = view.state.last_result
    if last is None or last.status is not Status.FAILED or view.state.status.is_active:
        return "", ""
    text = f"{human_ago(last.finished_at or last.started_at, now)}: "
    text += " ".join((last.error or str(last.status)).split())
    if len(text) <= width:
        return text, ""
    cut = max(text.rfind(" ", 0, width + 1), text.rfind("/", 0, width) + 1)
    if cut < width * 0.6:
        cut = width  # no word boundary near the edge: cut inside the word
    return text[:cut].rstrip(), text[cut:].lstrip()


def last_result_line(view: JobView, width: int, now: datetime, style: StyleFor) -> Text:
    """``last 2h ago · 3s · 12 MB``, what a stopped run left, or the failure's reason."""
    line = Text(no_wrap=True, overflow="ellipsis")
    last = view.state.last_result
    if last is None:
        line.append("never run", style("dim"))
        return line
    when = last.finished_at or last.started_at
    ago = human_ago(when, now)
    if last.status is Status.FAILED:
        # The reason is what a person needs (every cell counts at 80 columns).
        head, _rest = failure_split(view, width, now)
        stamp, _, reason = head.partition(": ")
        line.append(stamp, style("dim"))
        line.append(": ")
        line.append(reason, style(f"status-{last.status}"))
    elif last.status in (Status.STOPPED, Status.INTERRUPTED) and not last.snapshot_id:
        # A run that ended early commits nothing: its bytes are not a snapshot.
        line.append(f"{ago} · ", style("dim"))
        line.append("no snapshot made")
        if last.bytes and len(line.plain) + len(human_bytes(last.bytes)) + 10 <= width:
            line.append(f" · {human_bytes(last.bytes)} copied", style("dim"))
    else:
        line.append(ago if ago == "just now" else f"last {ago}", style("dim"))
        line.append(f" · {human_duration(last.duration)} · {human_bytes(last.bytes)}")
        if last.warnings:
            line.append(f" · {last.warnings} warn", style("status-stopping"))
    line.truncate(width, overflow="ellipsis")
    return line


def when_cell(
    view: JobView, width: int, now: datetime, here: bool, style: StyleFor, overflow: str = ""
) -> Text:
    """Line one: next run or rate; line two: the schedule, the runner, or ``overflow``
    (the rest of a failure's reason, which matters more than the cron text)."""
    state = view.state
    first = Text(no_wrap=True, overflow="ellipsis")
    second = Text(no_wrap=True, overflow="ellipsis")
    if state.status.is_active:
        progress = state.progress
        if progress is not None and state.status is not Status.QUEUED:
            first.append(f"{human_bytes(progress.rate)}/s")
            eta = progress.eta_seconds
            if progress.counting:
                first.append(" counting…", style("dim"))  # no ETA for a growing total
            else:
                first.append(f" ETA {human_duration(eta)}" if eta is not None else " ETA …")
        elif state.status is Status.QUEUED:
            first.append("waiting for a slot", style("dim"))
        else:
            # Running (or stopping) before its first progress report (a run in another
            # process writes its state once a second): it has its slot (issue 10).
            word = "starting…" if state.status is Status.RUNNING else "stopping…"
            first.append(word, style("dim"))
        if here:
            second.append("in this window", style("dim"))
        else:
            who = state.runner or "process"
            second.append(f"{who} pid {state.pid or '?'}", style("dim"))
            if state.host:
                second.append(f"@{state.host}", style("dim"))
    else:
        spec = view.spec
        if not spec.schedule:
            first.append("manual only", style("dim"))
        elif not spec.enabled:
            first.append("schedule off", style("dim"))
        else:
            first.append("next ", style("dim"))
            first.append(human_when(view.next_run, now))
        if overflow:
            second.append(overflow, style("status-failed"))
        elif spec.schedule:
            second.append(spec.schedule, style("dim"))
    first.truncate(width, overflow="ellipsis")
    second.truncate(width, overflow="ellipsis")
    return Text("\n").join([first, second])
