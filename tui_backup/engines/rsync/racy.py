"""Files a snapshot cannot vouch for by size and mtime: git's "racy" rule for rsync.

rsync (and ``--link-dest``) takes a file as unchanged when its size and mtime
match. Linux stamps mtimes from a coarse clock (a jiffy, 1-10 ms; FAT and
some network filesystems 1-2 s), so a file rewritten in place with the same
size right after rsync read it can keep the very mtime the copy has: the
next run would link the old copy forever. As git does for its index, a copy
whose mtime is not older than the run's start minus a margin (:data:`MARGIN_NS`)
is *racy*: its paths are recorded at commit in ``.tui-backup/<id>.racy``
(0600, like all the engine's metadata), and the next run copies exactly those
again with ``--ignore-times`` in a second rsync pass into its partial, which
replaces the hard link with a fresh copy. A file older than that margin
cannot be rewritten later without getting a different mtime, so everything
else keeps trusting size and mtime.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tui_backup.engines.pathcodec import decode, encode
from tui_backup.engines.rsync.store import RACY_SUFFIX

SUFFIX = RACY_SUFFIX
MARGIN_NS = 2_000_000_000
"""Above any mtime granularity a destination or source may have (FAT: 2 s)."""
HEADER = "# tui-backup rsync racy 1"


def racy_paths(mtimes: Mapping[str, int], start_ns: int) -> list[str]:
    """Paths whose copy's mtime (ns) is not older than ``start_ns`` minus the margin."""
    limit = start_ns - MARGIN_NS
    return sorted(p for p, m in mtimes.items() if m >= limit)


def dump(paths: Iterable[str]) -> bytes:
    return "\n".join([HEADER, *(encode(p) for p in paths), ""]).encode("utf-8")


def load(data: bytes | None) -> list[str]:
    """The recorded paths; none for a missing or foreign record (then nothing is redone)."""
    if not data:
        return []
    lines = data.decode("utf-8", "replace").split("\n")
    if lines[0] != HEADER:
        return []
    return [decode(line) for line in lines[1:] if line]


def for_source(paths: Iterable[str], prefix: str, single_file: bool) -> list[str]:
    """Those of snapshot ``paths`` under a source's ``prefix``, relative to the source
    (a single-file source: ``["."]`` when its file is among them)."""
    out: list[str] = []
    for path in paths:
        if single_file:
            if path == prefix:
                out.append(".")
        elif not prefix:
            out.append(path)
        elif path.startswith(prefix + "/"):
            out.append(path[len(prefix) + 1 :])
    return out
