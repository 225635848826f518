"""The whole-file checksums rsync computes while it copies, as manifest digests.

rsync checks every file it transfers with a whole-file checksum (the
receiver compares it with the sender's and re-sends on a mismatch), and
``--out-format=%C`` prints it. Pinned to md5 (``--checksum-choice=md5``, the
same at both ends over ssh, and ``hashlib``/``md5sum`` can check it later),
that digest is the manifest's: a backup never reads its copy a second time
(that re-read cost +31 % CPU on a first backup of 20k files).

One line per item rsync creates or updates, after rsync's own escaping::

    @tbk@ 7c9df801238abe28cae2675fd3166a1a 2 b\\#134#123
    @tbk@                                  4096 sub/

(the checksum is blank for directories, symlinks, special files and a
second name of a hard-linked file). rsync writes every control byte of a
name as ``\\#ooo`` (octal; a newline or carriage return never ends a name
early), every byte not printable in the locale too, and a literal ``\\#``
followed by three digits as ``\\#134#...``; only a tab stays raw, and the
name is the rest of the line, so tabs are harmless. :func:`unescape` turns
it back into the name's bytes. A name that still does not match a file of
the snapshot (a locale that let a non-UTF-8 byte through raw) only means that
file is hashed afterwards, as a file rsync gave no checksum for is.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

CHECKSUM_CHOICE = "--checksum-choice=md5"
ALGORITHM = "md5"
PREFIX = "@tbk@ "
OUT_FORMAT = f"--out-format={PREFIX}%C %l %n"
_HEX = re.compile(r"[0-9a-f]{32}")
_ESCAPE = re.compile(rb"\\#([0-7]{3})")
_STATS = re.compile(r"Number of files: [\d,]+(?: \((.*)\))?")
_COUNT = re.compile(r"(\w+): ([\d,]+)")


def unescape(name: str) -> str:
    """The file name rsync printed as ``name`` (``\\#ooo`` escapes undone), as ``os``
    functions spell it (``surrogateescape``)."""
    if "\\#" not in name:
        return name  # no escapes: as printed (the common case, no byte round trip)
    raw = name.encode("utf-8", "surrogateescape")
    raw = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), raw)
    return os.fsdecode(raw)


@dataclass(slots=True)
class CopyDigests:
    """Digests rsync printed, by path in the snapshot: ``path -> (size, md5 hex)``."""

    found: dict[str, tuple[int, str]] = field(default_factory=dict)
    prefix: str = ""
    """The current source's place in the snapshot (``""``: the snapshot root)."""
    single_file: bool = False
    """The current source is one file: it is stored as ``prefix`` whatever its name."""
    lines: int = 0
    items: int = 0
    """Entries rsync created or updated other than directories (0: everything linked)."""
    counts: dict[str, int] = field(default_factory=dict)
    """rsync's ``Number of files`` by kind (``reg``, ``dir``, ``link``, ``special``,
    ``dev``), summed over the run's calls."""

    def start(self, prefix: str, *, single_file: bool) -> None:
        """The next rsync call copies a source to ``prefix`` in the snapshot."""
        self.prefix = prefix
        self.single_file = single_file

    def line(self, line: str) -> bool:
        """Take one stdout line; True when it was one of ours (not a progress line)."""
        if not line.startswith(PREFIX):
            if line.startswith("Number of files:"):
                self._stats(line)
            return False
        self.lines += 1
        # Fixed widths (a regex per file cost a first backup of 20k files ~1 %):
        # "@tbk@ " + 32 hex digits or spaces + " " + length + " " + name.
        digest, rest = line[6:38], line[39:]
        size, sep, name = rest.partition(" ")
        if not sep or not size.isdigit() or line[38:39] != " ":
            self.items += 1
            return True
        if not name.endswith("/"):
            self.items += 1
        if digest[0] == " " or _HEX.fullmatch(digest) is None:
            return True
        name = unescape(name)
        if self.single_file:
            path = self.prefix
        elif self.prefix:
            path = f"{self.prefix}/{name}"
        else:
            path = name
        self.found[path] = (int(size), digest)
        return True

    def _stats(self, line: str) -> None:
        m = _STATS.fullmatch(line.strip())
        if m is None:
            self.counts["unparsed"] = 1
            return
        for kind, n in _COUNT.findall(m.group(1) or ""):
            self.counts[kind] = self.counts.get(kind, 0) + int(n.replace(",", ""))

    def same_as(self, summary: dict[str, object] | None) -> bool:
        """Whether rsync linked every entry and listed exactly as many of each kind as
        the previous snapshot's ``summary`` records: then the new snapshot is the
        previous one, name for name (a name rsync cannot link it creates, and says
        so), and its manifest needs no listing of either tree."""
        if summary is None or self.items or "unparsed" in self.counts:
            return False
        want = (summary.get("files"), summary.get("links"), summary.get("specials"))
        got = (
            self.counts.get("reg", 0),
            self.counts.get("link", 0),
            self.counts.get("special", 0) + self.counts.get("dev", 0),
        )
        return want == got
