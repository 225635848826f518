"""The ordered window: what the walk produced, finalized strictly in walk order.

Copies run on worker threads and finish in any order, but the manifest must
be written in walk order (the next run merge-joins it) and a directory's
mode and times may be set only once all its children are in. So everything
the walk produces goes through :class:`OrderedWindow` as one of three small
items:

- :class:`Copy`: a file handed to a copy batch, ready when its batch is done;
- :class:`Line`: a manifest line already complete (a link, a symlink, a directory);
- :class:`DirDone`: a directory whose children are all walked: set its metadata.

An item is finalized (by the builder's callback) once every item before it
is; while the oldest copy is still running, at most :data:`WINDOW` items
wait behind it, so memory stays bounded whatever the size of the tree.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

from tui_backup.engines.snapshot import xattrs
from tui_backup.engines.snapshot.copy import CopyBatch

WINDOW = 4096
"""Walk entries that may be in flight (waiting for a copy) at once."""


class Copy(NamedTuple):
    """A file being copied: job ``index`` of ``batch``."""

    batch: CopyBatch
    index: int
    rel: str
    """Its path in the snapshot (the manifest's)."""
    src: str
    """Its source path (for warnings)."""


class Line(NamedTuple):
    """A manifest line (built by :mod:`~tui_backup.engines.snapshot.manifest`), written as is."""

    line: str


class DirDone(NamedTuple):
    """A copied directory whose children are all in place: its metadata can be set now."""

    path: str
    st: os.stat_result
    """The source directory's stat: owner, mode and times to set."""
    fd: int | None
    """The new directory's own descriptor (closed once used), None: by ``path``."""
    xattrs: xattrs.Items


Item = Copy | Line | DirDone


class OrderedWindow:
    """Items in walk order; each is handed to ``finalize`` once all before it were.

    ``submit`` hands the builder's batch being filled to the workers (the
    head may be waiting in it); ``wait`` blocks until a submitted batch is
    done (and raises on cancel).
    """

    __slots__ = ("_finalize", "_submit", "_wait", "items")

    def __init__(
        self,
        finalize: Callable[[Item], None],
        submit: Callable[[], None],
        wait: Callable[[CopyBatch], None],
    ) -> None:
        self.items: deque[Item] = deque()
        """Waiting items, oldest first. Empty: a new non-copy item is finalized at once
        (the walk checks this itself to skip a call for a linked file)."""
        self._finalize = finalize
        self._submit = submit
        self._wait = wait

    def push(self, item: Item) -> None:
        items = self.items
        if not items and type(item) is not Copy:
            self._finalize(item)
            return
        items.append(item)
        head = items[0]
        if type(head) is Copy and head.batch.results is None and len(items) <= WINDOW:
            return  # the common case: the oldest entry's batch is still running
        self.drain(everything=False)

    def drain(self, *, everything: bool) -> None:
        """Finalize what is ready; with ``everything``, wait for the rest too."""
        items = self.items
        finalize = self._finalize
        while items:
            head = items[0]
            if type(head) is Copy:
                batch = head.batch
                if batch.results is None:
                    if not everything and len(items) <= WINDOW:
                        return
                    if not batch.submitted:
                        self._submit()
                    if batch.results is None:
                        self._wait(batch)
            items.popleft()
            finalize(head)

    def discard(self) -> None:
        """Drop everything waiting (the run is thrown away), closing the descriptors held."""
        items = self.items
        while items:
            item = items.popleft()
            if type(item) is DirDone and item.fd is not None:
                os.close(item.fd)
