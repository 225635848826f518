"""Running an external tool (rsync, restic) cooperatively from a worker thread.

The tool's stdout is read line by line on a helper thread and handed to a
callback; the calling thread watches the cancel flag and, when it is set,
asks the tool to stop with SIGINT (both rsync and restic clean up on it) and
kills it if it has not gone within a grace period.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

STOP_GRACE = 3.0
COALESCE_BELOW = 4096
"""A read shorter than this (bytes) is followed by :data:`COALESCE_PAUSE` (``on_lines`` only)."""
COALESCE_PAUSE = 0.01
"""Seconds the batched reader waits for more output after a short read."""
WATCH_INTERVAL = 1.0
"""Seconds between two calls of a ``watchdog``."""


@dataclass(frozen=True, slots=True)
class ToolResult:
    returncode: int
    stderr: str
    """The tail of stderr (last lines), for error messages and event details."""
    cancelled: bool
    stalled: str | None = None
    """What the ``watchdog`` saw when it stopped the tool (None: it did not)."""


def run_tool(
    argv: Sequence[str],
    *,
    on_line: Callable[[str], None] | None = None,
    on_lines: Callable[[list[str]], None] | None = None,
    cancel: threading.Event | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    split_cr: bool = False,
    on_stderr: Callable[[str], None] | None = None,
    watchdog: Callable[[int], str | None] | None = None,
) -> ToolResult:
    """Run ``argv``; call ``on_line`` per stdout line; honour ``cancel``.

    ``on_lines`` (instead of ``on_line``) is handed every complete line of one
    read at once: rsync prints two lines per file copied, and a call per line
    was a measurable share of the engine's own CPU on a first backup.

    ``on_stderr`` (optional) sees every stderr line as it comes, not only the
    kept tail: restic 0.14 writes its per-file ``--json`` errors there.

    With ``split_cr`` a carriage return also ends a line: rsync's progress2
    redraws its line with CR.

    ``watchdog(pid)`` (optional) is asked every :data:`WATCH_INTERVAL` seconds
    whether the tool is stuck where it will never get out by itself; when it
    answers twice in a row with the same reason, the tool is stopped as on a
    cancel and the result says ``stalled``.
    """
    if (on_line is None) == (on_lines is None):
        raise ValueError("run_tool needs exactly one of on_line and on_lines")
    if cancel is not None and cancel.is_set():
        return ToolResult(-1, "", True)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
        cwd=cwd,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    err_tail: deque[str] = deque(maxlen=40)

    def deliver(text: str) -> None:
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            return
        if on_lines is not None:
            try:
                on_lines(lines)
            except Exception:
                log.exception("progress line handler failed")
            return
        for line in lines:
            try:
                on_line(line)  # type: ignore[misc]
            except Exception:
                log.exception("progress line handler failed")

    def read_stdout() -> None:
        # Whole reads are decoded and split at once: a newline (ASCII) never falls
        # inside a UTF-8 sequence, so this is the same as decoding line by line.
        buf = b""
        assert proc.stdout is not None
        for chunk in iter(lambda: proc.stdout.read1(65536), b""):  # type: ignore[union-attr]
            buf += chunk.replace(b"\r", b"\n") if split_cr else chunk
            cut = buf.rfind(b"\n")
            if cut < 0:
                continue
            text, buf = buf[:cut].decode("utf-8", "replace"), buf[cut + 1 :]
            deliver(text)
            if on_lines is not None and len(chunk) < COALESCE_BELOW:
                # rsync writes a line at a time: without a pause every read returns
                # one line (a read per file copied). A pause lets the pipe gather a
                # batch; it never blocks the tool (the pipe holds 64 KiB).
                time.sleep(COALESCE_PAUSE)
        if buf.strip():
            deliver(buf.decode("utf-8", "replace"))

    def read_stderr() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            err_tail.append(line)
            if on_stderr is not None and line:
                try:
                    on_stderr(line)
                except Exception:
                    log.exception("stderr line handler failed")

    readers = [
        threading.Thread(target=read_stdout, name="tool-stdout", daemon=True),
        threading.Thread(target=read_stderr, name="tool-stderr", daemon=True),
    ]
    for t in readers:
        t.start()
    # A blocking wait on its own thread: the end is seen at once (Popen.wait with a
    # timeout polls with sleeps of up to 50 ms, a cost on every short rsync call).
    exited = threading.Event()
    waiter = threading.Thread(
        target=lambda: (proc.wait(), exited.set()), name="tool-wait", daemon=True
    )
    waiter.start()
    cancelled = False
    stalled: str | None = None
    seen: str | None = None
    next_watch = time.monotonic() + WATCH_INTERVAL
    try:
        while not exited.wait(0.1):
            if cancel is not None and cancel.is_set() and not cancelled:
                cancelled = True
                _interrupt(proc)
            if watchdog is not None and stalled is None and time.monotonic() >= next_watch:
                next_watch = time.monotonic() + WATCH_INTERVAL
                reason = watchdog(proc.pid)
                if reason is not None and reason == seen:
                    log.warning("%s is stuck (%s): stopping it", argv[0], reason)
                    stalled = reason
                    _interrupt(proc)
                seen = reason
        proc.wait()
    except BaseException:
        _kill(proc)
        raise
    finally:
        for t in readers:
            t.join(timeout=5)
        proc.stdout.close()
        proc.stderr.close()
    return ToolResult(proc.returncode, "\n".join(err_tail), cancelled, stalled)


def _interrupt(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        _kill(proc)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
