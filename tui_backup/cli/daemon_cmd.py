"""``tui-backup daemon`` (headless scheduler and runner) and ``tui-backup health``.

The daemon is the same job manager the TUI uses, with the scheduler and the
file watcher on and a logger subscribed: one stderr line per event, so
journald (or any supervisor) keeps a readable record. SIGTERM and SIGINT
stop it cleanly: running jobs are stopped and recorded ``stopped``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING

from tui_backup.cli import exit_codes, main
from tui_backup.cli.context import CliContext
from tui_backup.core.events import (
    ErrorRecorded,
    JobsChanged,
    JobsRemoved,
    ManagerEvent,
    RunFinished,
    WarningRaised,
    WatchChanged,
)
from tui_backup.model.status import Severity, Status

if TYPE_CHECKING:
    from tui_backup.core.manager import JobManager

log = logging.getLogger("tui_backup.daemon")


def register(sub: argparse._SubParsersAction) -> None:
    daemon = main.add_parser(
        sub, "daemon", "run scheduled jobs headless (logs to stderr; stop with SIGTERM)"
    )
    daemon.add_argument(
        "--max-concurrent",
        type=int,
        metavar="N",
        help="run at most N jobs at once (default: max_concurrent_jobs from config.yaml)",
    )
    daemon.add_argument(
        "--stop-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="on SIGTERM, how long to wait for running jobs to stop (default 60)",
    )
    daemon.set_defaults(func=cmd_daemon)

    health = main.add_parser(
        sub,
        "health",
        "healthy / degraded / unhealthy, for monitoring (exit 0 / 1 / 2)",
        json_flag=True,
    )
    health.set_defaults(func=cmd_health)


# -- daemon ------------------------------------------------------------------------


class EventLog:
    """Subscriber that turns manager events into one log line each."""

    def __init__(self) -> None:
        self.statuses: dict[str, Status] = {}

    def __call__(self, event: ManagerEvent) -> None:
        if isinstance(event, JobsChanged):
            for view in event.views:
                old = self.statuses.get(view.name)
                if old != view.status:
                    self.statuses[view.name] = view.status
                    if view.status.is_active:
                        # Final statuses are logged once, with their numbers, by RunFinished.
                        where = "" if view.local else f" (elsewhere: pid {view.state.pid})"
                        log.info("%s: %s%s", view.name, view.status, where)
        elif isinstance(event, RunFinished):
            r = event.run
            log.log(
                logging.INFO if r.status == Status.SUCCEEDED else logging.WARNING,
                "%s: run %s %s: %d files, %d bytes, %d warnings%s%s",
                r.job_name,
                r.run_id,
                r.status,
                r.files,
                r.bytes,
                r.warnings,
                f", snapshot {r.snapshot_id}" if r.snapshot_id else "",
                f": {r.error}" if r.error and r.status != Status.SUCCEEDED else "",
            )
        elif isinstance(event, ErrorRecorded):
            if event.elsewhere:
                return  # the process where it happened logged it already
            e = event.event
            level = logging.ERROR if e.severity.rank >= Severity.HIGH.rank else logging.WARNING
            log.log(level, "%s %s [%s]: %s", e.severity, e.component, e.error_type, e.message)
        elif isinstance(event, WarningRaised):
            log.warning("%s: %s: %s", event.job_name, event.warning.path, event.warning.reason)
        elif isinstance(event, JobsRemoved):
            for name in sorted(event.names):
                self.statuses.pop(name, None)
                log.info("%s: job removed", name)
        elif isinstance(event, WatchChanged):
            log.info(
                "watching the home: %s%s", event.mode, f" ({event.detail})" if event.detail else ""
            )


def _configure_daemon_logging(verbosity: int) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbosity else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


def cmd_daemon(args: argparse.Namespace, ctx: CliContext) -> int:
    _configure_daemon_logging(getattr(args, "verbose", 0) or 0)
    ctx.runner = "daemon"
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    reload = threading.Event()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        reload.set()
        stop.set()  # wake the main loop; it tells reload from stop

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    signal.signal(signal.SIGHUP, on_hup)
    manager = ctx.manager
    if args.max_concurrent:
        manager.set_max_concurrent_jobs(args.max_concurrent)
    manager.subscribe(EventLog())
    log.info(
        "daemon started: home %s, pid %d, at most %d jobs at once",
        ctx.home.root,
        manager.pid,
        manager.max_concurrent_jobs,
    )
    manager.start_watching()
    manager.start_scheduler()
    while True:
        stop.wait(1.0)
        if reload.is_set():
            reload.clear()
            if not received:
                stop.clear()
            _reload_settings(manager)
        if received:
            break
    running = manager.running_here()
    log.info(
        "%s received: stopping%s",
        received[0] if received else "signal",
        f" {len(running)} running job(s): {', '.join(running)}" if running else "",
    )
    manager.shutdown(stop_running=True, timeout=args.stop_timeout)
    log.info("daemon stopped")
    return exit_codes.OK


def _reload_settings(manager: JobManager) -> None:
    """SIGHUP: re-read config.yaml (jobs need no reload: they are watched live)."""
    problem = manager.reload_settings()
    if problem:
        log.error("config.yaml not reloaded: %s", problem)
        return
    log.info(
        "SIGHUP: settings reloaded (at most %d jobs at once)",
        manager.settings.max_concurrent_jobs,
    )


# -- health --------------------------------------------------------------------------


def cmd_health(args: argparse.Namespace, ctx: CliContext) -> int:
    report = ctx.manager.health()
    if ctx.json:
        ctx.emit_json(report.to_json())
        return report.exit_code
    ctx.out(report.status)
    for check in report.checks:
        marker = {"healthy": "ok", "degraded": "!!", "unhealthy": "XX"}[check.status]
        ctx.out(f"  [{marker}] {check.name}: {check.message}")
    return report.exit_code
