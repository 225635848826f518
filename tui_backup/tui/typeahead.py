"""Keys typed ahead are handled in the order they were typed: one at a time.

Why this module exists (a workaround, tested with the Textual versions pinned
in ``pyproject.toml``): Textual hands each key to the widget focused *when the
key is read*, and runs a non-priority binding only once the key has bubbled
back up to the app. Keys that arrive together (a paste, ``tmux send-keys l
Enter``, a fast typist over a slow SSH link) therefore reach the old widget
before the binding of the key in front of them has moved the focus or opened
a screen: ``/ r s Enter R`` typed ``rsR`` into the filter. Upstream this is the
family of Textualize/textual#1199 (a key whose handling moves the focus and
the next input lands in the wrong widget); Textual has no "key settled" hook.

What this gate does, with public API only (``App.on_event``,
``Key.is_forwarded``, ``DOMNode.parent``, ``MessagePump.call_later``,
``post_message``): a key read from the terminal waits, in order, until the key
in front of it has been handled all the way (back at the app with its binding
run, or consumed by a widget on the way up) and until what that key queued on
the app (``focus()`` calls, a pushed screen's mount) has run. The rest of the
TUI keeps type-ahead order by public means of its own: keys whose effect
travels in a widget message (``enter`` on a table or in the filter) are
priority bindings, and each screen has its focus (``AUTO_FOCUS``) before it
accepts a key.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import TYPE_CHECKING

from textual import events

if TYPE_CHECKING:
    from textual.app import App
    from textual.message_pump import MessagePump

log = logging.getLogger(__name__)

GIVE_UP_SECONDS = 5.0
"""A key still in flight after this long no longer holds the next one back.

Only a bug gets here (every key either comes back or is consumed); the next
key typed then goes through, so the keyboard can never stay dead.
"""


class KeyGate:
    """Holds each key from the terminal until the one in front of it has settled."""

    def __init__(self, app: App[object]) -> None:
        self._app = app
        self._held: deque[events.Key] = deque()
        self._in_flight: events.Key | None = None
        self._since = 0.0
        self._settled = False
        self._resending: events.Key | None = None

    # -- what the app calls --------------------------------------------------------

    def admit(self, key: events.Key) -> bool:
        """A key read from the terminal: True to handle it now, False when it waits."""
        if key is self._resending:
            self._resending = None
            self._start(key)
            return True
        if self._in_flight is not None and time.monotonic() - self._since > GIVE_UP_SECONDS:
            log.warning("key %r never settled; letting the next keys through", self._in_flight.key)
            self._in_flight = None
        if self._in_flight is not None or self._resending is not None or self._held:
            self._held.append(key)
            return False
        self._start(key)
        return True

    def dispatched(self, key: events.Key, target: MessagePump) -> None:
        """The app handed ``key`` on (to ``target``) or a priority binding took it."""
        if not key.is_forwarded:
            self._settle(key)
            return
        self._follow(key, self._chain(target), 0)

    def returned(self, key: events.Key) -> None:
        """``key`` came back up to the app and its bindings ran."""
        self._settle(key)

    @property
    def waiting(self) -> int:
        """Keys held back right now."""
        return len(self._held)

    # -- the way a key travels -------------------------------------------------------

    def _start(self, key: events.Key) -> None:
        self._in_flight = key
        self._since = time.monotonic()
        self._settled = False

    def _chain(self, target: MessagePump) -> list[MessagePump]:
        """``target`` and its ancestors below the app: the queues a key bubbles through."""
        chain: list[MessagePump] = []
        node: MessagePump | None = target
        while node is not None and node is not self._app:
            chain.append(node)
            node = getattr(node, "parent", None)
        return chain

    def _follow(self, key: events.Key, chain: list[MessagePump], index: int) -> None:
        """Queue a callback behind the key at each node on its way up.

        Queues are first in, first out: when the callback at a node runs, the
        key was handled there and, unless stopped, posted to the next node.
        After the last node the app checks whether the key came back.
        """
        while index < len(chain):
            if chain[index].call_later(self._follow, key, chain, index + 1):
                return
            index += 1  # that node has closed: nothing waits there
        self._app.call_later(self._consumed, key)

    def _consumed(self, key: events.Key) -> None:
        """Behind everything the key left in the app's queue: it did not come back."""
        self._settle(key)

    def _settle(self, key: events.Key) -> None:
        """The key is done; let the next one go once what it queued on the app ran."""
        if key is not self._in_flight or self._settled:
            return
        self._settled = True
        self._app.call_later(self._release, key)

    def _release(self, key: events.Key) -> None:
        if key is self._in_flight:
            self._in_flight = None
        self._next()

    def _next(self) -> None:
        if self._in_flight is not None or self._resending is not None:
            return
        if self._held:
            key = self._held.popleft()
            self._resending = key
            self._app.post_message(key)
