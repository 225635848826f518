"""Helpers for Pilot tests: wait for a condition (never a fixed time), read toasts.

Toasts are read through :func:`toasts` only: it records what the app passes to
the public ``App.notify`` (and what ``clear_notifications`` took away), so no
test depends on where Textual keeps its notifications.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.app import App
from textual.pilot import Pilot


async def until(pilot: Pilot, condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Let the app process messages until ``condition()`` holds (or fail after ``timeout``).

    Background threads (the core's runs) finish on their own schedule, so we
    poll the condition between message-queue drains rather than sleeping.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(0.02)


async def validated(pilot: Pilot, editor: Any) -> None:
    """Wait until the editor has checked what was typed (it waits for a pause in typing)."""
    await pilot.pause()
    await until(pilot, lambda: editor.settled)


@dataclass(frozen=True)
class Toast:
    message: str
    title: str
    severity: str


class ToastLog:
    """Every toast an app raised, in order; ``shown`` drops those cleared since."""

    def __init__(self, app: App[Any]) -> None:
        self.raised: list[Toast] = []
        self._cleared = 0
        notify, clear = app.notify, app.clear_notifications

        def recording_notify(
            message: str, *, title: str = "", severity: Any = "information", **kwargs: Any
        ) -> None:
            self.raised.append(Toast(str(message), str(title or ""), str(severity)))
            notify(message, title=title, severity=severity, **kwargs)

        def recording_clear() -> None:
            self._cleared = len(self.raised)
            clear()

        app.notify = recording_notify  # type: ignore[method-assign]
        app.clear_notifications = recording_clear  # type: ignore[method-assign]

    @property
    def shown(self) -> list[Toast]:
        """Toasts raised since the last ``clear_notifications`` (timeouts aside)."""
        return self.raised[self._cleared :]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.shown)


_LOGS: weakref.WeakKeyDictionary[App[Any], ToastLog] = weakref.WeakKeyDictionary()


def record_toasts(app: App[Any]) -> ToastLog:
    """Start recording ``app``'s toasts (the ``make_app`` fixture does this for every app)."""
    log = _LOGS.get(app)
    if log is None:
        log = _LOGS[app] = ToastLog(app)
    return log


def toasts(app: App[Any]) -> ToastLog:
    """The toasts ``app`` raised and still shows: iterate it, or read ``.raised``/``.shown``."""
    log = _LOGS.get(app)
    if log is None:
        raise AssertionError("toasts are recorded for apps made by the make_app fixture")
    return log


KEY_NAMES = {"/": "slash", " ": "space", "?": "question_mark"}
KEY_CHARS = {"enter": "\r", "escape": "\x1b", "tab": "\t", "shift+tab": None}


def burst(app: App[Any], *keys: str) -> None:
    """Queue keys all at once, as the terminal driver does for ``tmux send-keys a b c``."""
    from textual import events

    for key in keys:
        char = KEY_CHARS.get(key, key if len(key) == 1 else None)
        app.post_message(events.Key(KEY_NAMES.get(key, key), char))
