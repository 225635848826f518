"""Running external tools: lines, cancel, and the last-resort Finished."""

from __future__ import annotations

import threading

from tui_backup.engines.common import crash_finished
from tui_backup.engines.process import run_tool
from tui_backup.model import Status


def test_lines_are_delivered_and_carriage_returns_split() -> None:
    lines: list[str] = []
    result = run_tool(["printf", "a\\rb\\nc\\n"], on_line=lines.append, split_cr=True)
    assert result.returncode == 0 and not result.cancelled
    assert lines == ["a", "b", "c"]


def test_cancel_interrupts_a_running_tool_quickly() -> None:
    cancel = threading.Event()
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    # A tool that would outlive the test's timeout: only the cancel can end it.
    result = run_tool(["sleep", "100000"], on_line=lambda _l: None, cancel=cancel)
    assert result.cancelled


def test_a_cancelled_run_never_starts_the_tool(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cancel = threading.Event()
    cancel.set()
    marker = tmp_path / "ran"
    result = run_tool(["touch", str(marker)], on_line=lambda _l: None, cancel=cancel)
    assert result.cancelled and not marker.exists()


def test_crash_finished_carries_the_stack_trace() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        fin = crash_finished("rsync", exc)
    assert fin.status is Status.FAILED
    assert fin.error == "the rsync engine failed unexpectedly: RuntimeError: boom"
    assert fin.error_type == "engine_crashed"
    assert "RuntimeError: boom" in fin.details
