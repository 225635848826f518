"""The manifest of an rsync snapshot: what verify compares the stored files with.

Written at commit as ``.tui-backup/<id>.manifest`` (gzip, UTF-8 text)::

    # tui-backup rsync manifest 3 md5
    f <TAB> <size> <TAB> <digest hex> <TAB> <path>
    l <TAB> 0 <TAB> - <TAB> <path> <TAB> <symlink target>
    s <TAB> 0 <TAB> - <TAB> <path> <TAB> <p|s|c|b: FIFO, socket, device>

Version 3 names the digest's algorithm in its header: ``md5``, the
whole-file checksum rsync computes of every file it transfers anyway
(``--checksum-choice=md5``, printed by ``--out-format=%C``), so a backup
never reads its copy a second time to describe it (see
:mod:`~tui_backup.engines.rsync.digests`). Versions 1 and 2 hold sha256
digests and are still read (verify hashes their snapshots with sha256).

Version 2 also lists the special files rsync stored (FIFOs, sockets,
devices from the source), so a special file planted in a snapshot afterwards
is told apart from one the backup made: verify reports it, restore leaves
it out. Version 1 manifests (no ``s`` lines) are still read; for them
nothing is known of special files.

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

ALGORITHM = "md5"
"""The digest of manifests written now: rsync's own whole-file checksum."""
VERSION = 3
HEADER = f"# tui-backup rsync manifest {VERSION} {ALGORITHM}"
_HEADER_V3 = "# tui-backup rsync manifest 3 "
HEADER_V2 = "# tui-backup rsync manifest 2"
HEADER_V1 = "# tui-backup rsync manifest 1"
ALGORITHMS = frozenset({"md5", "sha256"})
"""Digests a manifest may name: each has a hashlib and a coreutils ``<name>sum``."""


class Header(NamedTuple):
    version: int
    algorithm: str


def parse_header(line: str) -> Header | None:
    """Version and digest algorithm from a manifest's first line; None if not ours."""
    if line == HEADER_V2:
        return Header(2, "sha256")
    if line == HEADER_V1:
        return Header(1, "sha256")
    if line.startswith(_HEADER_V3):
        algorithm = line[len(_HEADER_V3) :]
        if algorithm in ALGORITHMS:
            return Header(3, algorithm)
    return None


class Entry(NamedTuple):
    """One manifest line (a tuple: a 100k-file manifest loads in a fraction of a second)."""

    kind: str
    """``f`` regular file, ``l`` symlink, ``s`` special file (``target``: its type letter)."""
    path: str
    size: int = 0
    digest: str = "-"
    target: str = ""


class ManifestError(Exception):
    """A manifest that cannot be read (truncated, not ours)."""


def dump(entries: list[Entry]) -> bytes:
    """The gzip-compressed manifest for ``entries`` (sorted by path for stable output),
    their digests :data:`ALGORITHM`'s."""
    lines = [HEADER]
    for e in sorted(entries, key=lambda e: e.path):
        line = f"{e.kind}\t{e.size}\t{e.digest}\t{encode(e.path)}"
        if e.kind in ("l", "s"):
            line += "\t" + encode(e.target)
        lines.append(line)
    return gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), compresslevel=1, mtime=0)


class Loaded(NamedTuple):
    version: int
    """2 and later list special files, 1 does not."""
    entries: dict[str, Entry]
    algorithm: str
    """The digests' algorithm (a hashlib name): ``md5`` from version 3, ``sha256`` before."""


def load(data: bytes) -> dict[str, Entry]:
    """The entries of a manifest by path; :class:`ManifestError` when it is damaged."""
    return load_versioned(data).entries


def load_versioned(data: bytes) -> Loaded:
    """Version, entries and digest algorithm of a manifest."""
    try:
        text = gzip.decompress(data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise ManifestError(f"unreadable manifest: {exc}") from exc
    lines = iter(text.split("\n"))
    header = parse_header(next(lines, ""))
    if header is None:
        raise ManifestError("not a tui-backup rsync manifest")
    out: dict[str, Entry] = {}
    for line in _entries(lines):
        parts = line.split("\t")
        try:
            if parts[0] == "f" and len(parts) == 4:
                entry = Entry("f", decode(parts[3]), int(parts[1]), parts[2])
            elif parts[0] in ("l", "s") and len(parts) == 5:
                entry = Entry(parts[0], decode(parts[3]), 0, "-", decode(parts[4]))
            else:
                raise ValueError
        except ValueError:
            raise ManifestError(f"malformed manifest line {line[:80]!r}") from None
        out[entry.path] = entry
    return Loaded(header.version, out, header.algorithm)


def header_of(data: bytes) -> Header | None:
    """The manifest's version and algorithm from its first line alone (no full
    decompression): whether a previous manifest can be reused as it is."""
    try:
        head = zlib.decompressobj(wbits=31).decompress(data, 64)
    except zlib.error:
        return None
    return parse_header(head.split(b"\n", 1)[0].decode("utf-8", "replace"))


def _entries(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if line and not line.startswith("#"):
            yield line
