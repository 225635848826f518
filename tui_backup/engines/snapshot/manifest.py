"""The per-snapshot manifest: one line per entry, written while the snapshot is built.

Format (gzip, UTF-8, tab-separated, one entry per line, in walk order)::

    # tui-backup manifest 1
    <type> <mode-octal> <uid> <gid> <size> <mtime_ns> <blake2b-256-hex|-> <path> [<link target>]

``type`` is ``f`` (file), ``d`` (directory) or ``l`` (symlink); paths are
relative to the snapshot root with ``/`` separators and escaped by
:mod:`~tui_backup.engines.snapshot.pathcodec`. Entries appear in pre-order
with each directory's children sorted by name, i.e. sorted by the list of
path components. That order lets the next run *merge-join* its walk with the
previous manifest (:class:`PreviousCursor`) without loading it into memory.
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Iterator
from typing import NamedTuple

from tui_backup.engines.snapshot import pathcodec

HEADER = "# tui-backup manifest 1\n"
_FLUSH_LINES = 2048


class ManifestEntry(NamedTuple):
    kind: str
    """``f``, ``d`` or ``l``."""
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    digest: str
    """Hex BLAKE2b-256 for files, ``-`` otherwise."""
    path: str
    target: str = ""
    """A symlink's target."""


class ManifestError(Exception):
    """A manifest that cannot be read (missing, truncated, not ours)."""


class ManifestWriter:
    """Append entries in walk order; buffered so a 100k-file run stays cheap."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._raw = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=1, mtime=0)
        self._lines: list[str] = [HEADER]

    def add(
        self,
        kind: str,
        mode: int,
        uid: int,
        gid: int,
        size: int,
        mtime_ns: int,
        digest: str,
        path: str,
        target: str = "",
    ) -> None:
        tail = "\t" + pathcodec.encode(target) if kind == "l" else ""
        self._lines.append(
            f"{kind}\t{mode:o}\t{uid}\t{gid}\t{size}\t{mtime_ns}\t{digest}\t"
            f"{pathcodec.encode(path)}{tail}\n"
        )
        if len(self._lines) >= _FLUSH_LINES:
            self._flush()

    def add_line(self, line: str) -> None:
        """Append a line taken verbatim from the previous manifest (a linked file)."""
        self._lines.append(line)
        if len(self._lines) >= _FLUSH_LINES:
            self._flush()

    def _flush(self) -> None:
        if self._lines:
            self._gz.write("".join(self._lines).encode("utf-8"))
            self._lines = []

    def close(self, *, sync: bool = True) -> None:
        """Finish the gzip stream; fsync when the snapshot is being committed."""
        try:
            self._flush()
            self._gz.close()
            if sync:
                self._raw.flush()
                os.fsync(self._raw.fileno())
        finally:
            self._raw.close()

    def abort(self) -> None:
        """Close without caring about the content (the run is being thrown away)."""
        try:
            self._gz.close()
        except (OSError, ValueError):
            pass
        self._raw.close()


def parse_line(line: str) -> ManifestEntry:
    parts = line.rstrip("\n").split("\t")
    if len(parts) < 8:
        raise ManifestError(f"malformed manifest line: {line[:80]!r}")
    return ManifestEntry(
        parts[0],
        int(parts[1], 8),
        int(parts[2]),
        int(parts[3]),
        int(parts[4]),
        int(parts[5]),
        parts[6],
        pathcodec.decode(parts[7]),
        pathcodec.decode(parts[8]) if len(parts) > 8 else "",
    )


def read_manifest(path: str) -> Iterator[ManifestEntry]:
    """Stream the entries of a manifest; raise :class:`ManifestError` if unreadable."""
    for line in read_lines(path):
        yield parse_line(line)


def read_lines(path: str) -> Iterator[str]:
    """Stream the raw entry lines of a manifest (comments skipped)."""
    try:
        with (
            gzip.open(path, "rb") as raw,
            io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as fh,
        ):
            first = fh.readline()
            if first != HEADER:
                raise ManifestError(f"{path} is not a tui-backup manifest")
            for line in fh:
                if line.startswith("#"):
                    continue
                yield line
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, ManifestError):
            raise
        raise ManifestError(f"cannot read manifest {path}: {exc}") from exc


class PreviousCursor:
    """Forward-only lookup in the previous manifest, in walk order.

    The walk asks for paths in increasing component order; the cursor skips
    entries that are smaller (deleted since) and answers a match or None. Memory
    is one entry, whatever the size of the tree.
    """

    def __init__(self, lines: Iterator[str] | None) -> None:
        self._it = lines
        self._cur: str | None = None
        self._fields: list[str] = []
        self._key: list[str] = []
        self.broken: str | None = None
        self._advance()

    def _advance(self) -> None:
        if self._it is None:
            self._cur = None
            return
        try:
            self._cur = next(self._it, None)
        except ManifestError as exc:
            # A damaged previous manifest only costs us links: copy the rest.
            self.broken = str(exc)
            self._cur = None
            self._it = None
        if self._cur is not None:
            # Only the path is decoded here; the rest is parsed on a match.
            self._fields = self._cur.rstrip("\n").split("\t", 8)
            if len(self._fields) < 8:
                self.broken = f"malformed manifest line: {self._cur[:80]!r}"
                self._cur = None
                self._it = None
                return
            self._key = pathcodec.decode(self._fields[7]).split("/")

    def find(self, path: str) -> tuple[list[str], str] | None:
        """The previous entry at ``path``: its split fields and its raw line, or None."""
        key = path.split("/")
        while self._cur is not None and self._key < key:
            self._advance()
        if self._cur is not None and self._key == key:
            return self._fields, self._cur
        return None
