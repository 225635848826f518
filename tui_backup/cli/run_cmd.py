"""``tui-backup run|stop|history``: run a job in the foreground, stop one anywhere, past runs.

``run`` goes through the job manager exactly like the TUI and the daemon
(run lock, state file, history, hooks, retry), so a run started here shows
up live in every TUI and ``job list`` over the same home. Its output comes
from the manager's events: a rich progress bar on a terminal, plain lines in
a pipe, one JSON object per line with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from tui_backup.cli import exit_codes, main
from tui_backup.cli.context import CliContext
from tui_backup.cli.table import humanize_bytes, local_time, render
from tui_backup.core.errors import AlreadyRunning, NotRunning
from tui_backup.core.events import (
    ErrorRecorded,
    JobsChanged,
    ManagerEvent,
    WarningRaised,
)
from tui_backup.model.clock import to_iso
from tui_backup.model.progress import Progress
from tui_backup.model.records import RunRecord
from tui_backup.model.secrets import redact
from tui_backup.model.status import Status
from tui_backup.model.text import printable
from tui_backup.model.units import plural

RUNNER_LOGGER = "tui_backup.core.runner"


def register(sub: argparse._SubParsersAction) -> None:
    run = main.add_parser(sub, "run", "run a job now, in the foreground", json_flag=True)
    run.add_argument("name", metavar="NAME")
    run.add_argument(
        "--checksum",
        action="store_true",
        help="re-read every source file instead of trusting size and mtime "
        "(finds silent changes; slower)",
    )
    run.set_defaults(func=cmd_run)

    stop = main.add_parser(sub, "stop", "stop a running job, in whichever process runs it")
    stop.add_argument("name", metavar="NAME")
    stop.add_argument(
        "--no-wait", action="store_true", help="only send the stop request; do not wait"
    )
    stop.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the run to end (default 30)",
    )
    stop.set_defaults(func=cmd_stop)

    history = main.add_parser(sub, "history", "a job's past runs, newest first", json_flag=True)
    history.add_argument("name", metavar="NAME")
    history.add_argument("-n", "--limit", type=int, default=50, help="at most this many runs")
    history.set_defaults(func=cmd_history)


# -- run ---------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, ctx: CliContext) -> int:
    manager = ctx.manager
    spec = manager.get_spec(args.name)  # unknown or invalid job: exit 2 before anything
    if ctx.json:
        output: _Output = _JsonOutput(spec.name)
    elif sys.stdout.isatty():
        output = _RichOutput(spec.name)
    else:
        output = _PlainOutput(spec.name)
    if not getattr(args, "verbose", 0):
        # The runner logs each retry for daemons' logs and also records it as a
        # LOW event, which this command shows as its one "note:" line; without
        # -v a person would read every retry twice.
        logging.getLogger(RUNNER_LOGGER).setLevel(logging.ERROR)
    got_signal: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        got_signal.append(signum)

    # SIGHUP too (the SSH session went away): stop cleanly, recorded "stopped".
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, on_signal) for sig in handled}
    unsubscribe = manager.subscribe(output.on_event)
    try:
        try:
            run_id = manager.start(spec.name, trigger="manual", checksum=args.checksum)
        except AlreadyRunning as exc:
            output.close()
            ctx.err(f"error: {exc}")
            return exit_codes.ALREADY_RUNNING
        stop_sent = False
        record: RunRecord | None = None
        while record is None or record.run_id != run_id:
            if got_signal and not stop_sent:
                stop_sent = True
                output.note("stopping (waiting for the engine to stop cleanly)...")
                reason = {signal.SIGINT: "Ctrl-C"}.get(got_signal[0])
                manager.stop(spec.name, reason=reason or signal.Signals(got_signal[0]).name)
            record = manager.wait(spec.name, timeout=0.2)
        manager.drain_events()
    finally:
        unsubscribe()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    output.finished(record)
    output.close()
    if record.status == Status.SUCCEEDED:
        return exit_codes.OK
    if got_signal and record.status == Status.STOPPED:
        return exit_codes.INTERRUPTED if got_signal[0] == signal.SIGINT else 128 + got_signal[0]
    return exit_codes.FAILED


class _Output:
    """How ``run`` shows one run; events arrive on the manager's thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.status: Status | None = None

    def on_event(self, event: ManagerEvent) -> None:
        with self.lock:
            if isinstance(event, JobsChanged):
                for view in event.views:
                    if view.name != self.name or not view.local:
                        continue
                    if self.status is None and view.state.run_id:
                        self.started(view.state.run_id)
                    if view.status != self.status:
                        self.status = view.status
                        self.status_changed(view.status, view.state.message)
                    if view.state.progress is not None:
                        self.progress(view.state.progress, view.state.message)
            elif isinstance(event, WarningRaised) and event.job_name == self.name:
                self.warning(event.warning.path, event.warning.reason)
            elif isinstance(event, ErrorRecorded) and event.event.job_name == self.name:
                self.error(event.event.to_json())

    def started(self, run_id: str) -> None: ...
    def status_changed(self, status: Status, message: str | None) -> None: ...
    def progress(self, p: Progress, message: str | None) -> None: ...
    def warning(self, path: str, reason: str) -> None: ...
    def error(self, data: dict[str, Any]) -> None: ...
    def note(self, text: str) -> None: ...
    def finished(self, record: RunRecord) -> None: ...
    def close(self) -> None: ...


def _summary(record: RunRecord) -> str:
    duration = f" in {record.duration:.1f}s" if record.duration is not None else ""
    text = (
        f"{record.job_name}: {record.status}{duration}: {plural(record.files, 'file')}, "
        f"{humanize_bytes(record.bytes)}, {plural(record.warnings, 'warning')}"
    )
    if record.snapshot_id:
        text += f", snapshot {record.snapshot_id}"
    if record.error and record.status != Status.SUCCEEDED:
        text += f"\n  {record.error}"
    return text


class _JsonOutput(_Output):
    """One JSON object per line: started, status, progress, warning, error, finished."""

    def _line(self, data: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(redact(data), ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()

    def started(self, run_id: str) -> None:
        self._line({"event": "started", "job": self.name, "run_id": run_id})

    def status_changed(self, status: Status, message: str | None) -> None:
        self._line({"event": "status", "job": self.name, "status": str(status), "message": message})

    def progress(self, p: Progress, message: str | None) -> None:
        self._line({"event": "progress", "job": self.name, **p.to_dict()})

    def warning(self, path: str, reason: str) -> None:
        self._line({"event": "warning", "job": self.name, "path": path, "reason": reason})

    def error(self, data: dict[str, Any]) -> None:
        self._line({"event": "error", **data})

    def note(self, text: str) -> None:
        with self.lock:
            self._line({"event": "note", "job": self.name, "message": text})

    def finished(self, record: RunRecord) -> None:
        self._line({"event": "finished", **record.to_json()})


class _PlainOutput(_Output):
    """Lines for logs and pipes: status changes, progress at most once a second."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._last_progress = 0.0

    def _print(self, text: str) -> None:
        sys.stdout.write(printable(text, multiline=True) + "\n")
        sys.stdout.flush()

    def started(self, run_id: str) -> None:
        self._print(f"{self.name}: run {run_id} started")

    def status_changed(self, status: Status, message: str | None) -> None:
        self._print(f"{self.name}: {status}" + (f" ({message})" if message else ""))

    def progress(self, p: Progress, message: str | None) -> None:
        if _nothing_yet(p):
            # "copy 0 files of 0 found so far, 0 B/s" tells a log reader nothing; the
            # status line already said the run started, and the next second has numbers.
            return
        now = time.monotonic()
        if now - self._last_progress < 1.0:
            return
        self._last_progress = now
        files, size = _done_of_total(p)
        eta = f", ETA {p.eta_seconds:.0f}s" if p.eta_seconds is not None and not p.counting else ""
        self._print(f"{self.name}: {p.phase} {files}, {size}, {humanize_bytes(int(p.rate))}/s{eta}")

    def warning(self, path: str, reason: str) -> None:
        sys.stderr.write(f"warning: {printable(path)}: {printable(reason, multiline=True)}\n")

    def error(self, data: dict[str, Any]) -> None:
        if data.get("severity") in ("LOW",):
            sys.stderr.write(f"note: {printable(str(data.get('message')), multiline=True)}\n")

    def note(self, text: str) -> None:
        sys.stderr.write(f"{printable(text, multiline=True)}\n")

    def finished(self, record: RunRecord) -> None:
        self._print(_summary(record))


def _nothing_yet(p: Progress) -> bool:
    """True for a progress event that knows nothing yet: no file found, none done."""
    return not (p.files_done or p.files_total or p.bytes_done or p.bytes_total)


def _done_of_total(p: Progress) -> tuple[str, str]:
    """``("120/20000 files", "4.1 MB/80 MB")``, or ``"120 files of 3400 found so far"``.

    A first run's totals grow while a scan runs ahead of the copy; printing
    them as a fixed total would promise a percentage the next line breaks.
    """
    if p.counting:
        files = f"{p.files_done} files of {p.files_total} found so far"
        size = f"{humanize_bytes(p.bytes_done)} of {humanize_bytes(p.bytes_total)} found"
        return files, size
    files = f"{p.files_done}/{p.files_total}" if p.files_total else f"{p.files_done}"
    files += " files"
    size = humanize_bytes(p.bytes_done)
    if p.bytes_total:
        size += f"/{humanize_bytes(p.bytes_total)}"
    return files, size


class _RichOutput(_Output):
    """A progress bar with files, bytes, rate and ETA, for a person at a terminal."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        # rich (~50 ms of imports) only for a person at a terminal, not for pipes and cron.
        from rich.console import Console  # noqa: PLC0415
        from rich.markup import escape  # noqa: PLC0415
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._escape = escape
        self.console = Console(highlight=False)
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[files]}"),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task(f"{name}: starting", total=None, files="0 files")

    def status_changed(self, status: Status, message: str | None) -> None:
        self.bar.update(self.task, description=f"{self.name}: {status}")

    def progress(self, p: Progress, message: str | None) -> None:
        files, _ = _done_of_total(p)
        self.bar.update(
            self.task,
            description=f"{self.name}: {p.phase}",
            # While a scan still counts, a bar against a growing total would run
            # backwards: rich shows a pulsing bar for an unknown total instead.
            total=None if p.counting else (p.bytes_total or None),
            completed=p.bytes_done,
            files=files,
        )

    def warning(self, path: str, reason: str) -> None:
        shown = f"{printable(path)}: {printable(reason, multiline=True)}"
        self.bar.console.print(f"[yellow]warning:[/] {self._escape(shown)}", markup=True)

    def note(self, text: str) -> None:
        with self.lock:
            self.bar.console.print(printable(text, multiline=True), markup=False)

    def finished(self, record: RunRecord) -> None:
        self.bar.stop()
        style = "green" if record.status == Status.SUCCEEDED else "red"
        self.console.print(printable(_summary(record), multiline=True), style=style, markup=False)

    def close(self) -> None:
        self.bar.stop()


# -- stop --------------------------------------------------------------------------


def cmd_stop(args: argparse.Namespace, ctx: CliContext) -> int:
    manager = ctx.manager
    try:
        manager.stop(args.name)
    except NotRunning:
        ctx.err(f"{args.name} is not running")
        return exit_codes.OK
    if args.no_wait:
        ctx.err(f"{args.name}: stop requested")
        return exit_codes.OK
    deadline = time.monotonic() + args.timeout
    while manager.is_running_anywhere(args.name):
        if time.monotonic() >= deadline:
            ctx.err(f"{args.name}: still running {args.timeout:g}s after the stop request")
            return exit_codes.FAILED
        time.sleep(0.1)
    state = manager.state(args.name)
    ctx.err(f"{args.name}: {state.status}")
    return exit_codes.OK


# -- history -----------------------------------------------------------------------


def history_json(record: RunRecord) -> dict[str, Any]:
    """The documented object of ``history --json``."""
    return {
        "run_id": record.run_id,
        "status": str(record.status),
        "started_at": to_iso(record.started_at),
        "finished_at": to_iso(record.finished_at),
        "files": record.files,
        "bytes": record.bytes,
        "warnings": record.warnings,
        "snapshot": record.snapshot_id,
        "duration": record.duration,
        "trigger": record.trigger,
        "error": record.error,
    }


def cmd_history(args: argparse.Namespace, ctx: CliContext) -> int:
    manager = ctx.manager
    manager.get_spec(args.name)
    runs = manager.history(args.name, limit=max(1, args.limit))
    if ctx.json:
        ctx.emit_json([history_json(r) for r in runs])
        return exit_codes.OK
    if not runs:
        ctx.err(f"{args.name} has not run yet")
        return exit_codes.OK
    rows = [
        [
            local_time(r.started_at, ""),
            str(r.status),
            f"{r.duration:.1f}s" if r.duration is not None else "-",
            str(r.files),
            humanize_bytes(r.bytes),
            str(r.warnings),
            r.snapshot_id or "-",
            r.trigger,
            r.run_id,
        ]
        for r in runs
    ]
    render(
        ["STARTED", "STATUS", "DURATION", "FILES", "BYTES", "WARN", "SNAPSHOT", "TRIGGER", "RUN"],
        rows,
    )
    return exit_codes.OK
