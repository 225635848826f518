"""The manifest of an rsync snapshot: what verify compares the stored files with.

Written at commit as ``.tui-backup/<id>.manifest`` (gzip, UTF-8 text)::

    # tui-backup rsync manifest 1
    f <TAB> <size> <TAB> <sha256 hex> <TAB> <path>
    l <TAB> 0 <TAB> - <TAB> <path> <TAB> <symlink target>

Paths are relative to the snapshot root. File names on Linux are bytes, so
``\\``, tab, newline and carriage return are escaped, and every byte that is
not UTF-8 is written as ``\\xHH`` (:func:`encode`): any name round-trips.

A file that rsync hard-linked from the previous snapshot (``--link-dest``) is
the previous snapshot's inode: its digest is taken from the previous manifest,
so an incremental run reads only the data it copied.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from typing import NamedTuple

from tui_backup.engines.pathcodec import decode, encode

HEADER = "# tui-backup rsync manifest 1"


class Entry(NamedTuple):
    """One manifest line (a tuple: a 100k-file manifest loads in a fraction of a second)."""

    kind: str
    """``f`` regular file, ``l`` symlink."""
    path: str
    size: int = 0
    digest: str = "-"
    target: str = ""


class ManifestError(Exception):
    """A manifest that cannot be read (truncated, not ours)."""


def dump(entries: list[Entry]) -> bytes:
    """The gzip-compressed manifest for ``entries`` (sorted by path for stable output)."""
    lines = [HEADER]
    for e in sorted(entries, key=lambda e: e.path):
        line = f"{e.kind}\t{e.size}\t{e.digest}\t{encode(e.path)}"
        if e.kind == "l":
            line += "\t" + encode(e.target)
        lines.append(line)
    return gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), compresslevel=1, mtime=0)


def load(data: bytes) -> dict[str, Entry]:
    """The entries of a manifest by path; :class:`ManifestError` when it is damaged."""
    try:
        text = gzip.decompress(data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise ManifestError(f"unreadable manifest: {exc}") from exc
    lines = iter(text.split("\n"))
    if next(lines, None) != HEADER:
        raise ManifestError("not a tui-backup rsync manifest")
    out: dict[str, Entry] = {}
    for line in _entries(lines):
        parts = line.split("\t")
        try:
            if parts[0] == "f" and len(parts) == 4:
                entry = Entry("f", decode(parts[3]), int(parts[1]), parts[2])
            elif parts[0] == "l" and len(parts) == 5:
                entry = Entry("l", decode(parts[3]), 0, "-", decode(parts[4]))
            else:
                raise ValueError
        except ValueError:
            raise ManifestError(f"malformed manifest line {line[:80]!r}") from None
        out[entry.path] = entry
    return out


def _entries(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if line and not line.startswith("#"):
            yield line
