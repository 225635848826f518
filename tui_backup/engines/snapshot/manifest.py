"""The per-snapshot manifest: one line per entry, written while the snapshot is built.

Format (gzip, UTF-8, tab-separated, one entry per line, in walk order)::

    # tui-backup manifest 1
    <type> <mode-octal> <uid> <gid> <size> <mtime_ns> <blake2b-256-hex|-> <path>
        [<link target>] [x:<hash>]

``type`` is ``f`` (file), ``d`` (directory), ``l`` (symlink) or ``n`` (a
node: FIFO, socket, character or block device, told apart by the file-type
bits of its mode; a device's number is in the size field); paths are
relative to the snapshot root with ``/`` separators and escaped by
:mod:`~tui_backup.engines.snapshot.pathcodec`. Entries appear in pre-order
with each directory's children sorted by name, i.e. sorted by the list of
path components. That order lets the next run *merge-join* its walk with the
previous manifest (:class:`PreviousCursor`) without loading it into memory.

An optional last field, ``x:<16 hex>``, is present only for an entry that
has kept extended attributes or ACLs: a short BLAKE2b of them
(:func:`~tui_backup.engines.snapshot.xattrs.digest`), which lets the next run
see a change of xattrs alone. The next run reads a file's xattrs only when
its ctime is newer than the previous run's start (every xattr or ACL change
moves the ctime; the summary's ``xattrs_read_after_ns``), so an unchanged
tree costs no ``listxattr``. Manifests written before the field existed have
none, and read as entries without xattrs. (A ``c:`` field, written by no
released version, is tolerated and ignored.)

A file that changed while it was copied is recorded with the size and hash
of the bytes actually stored and an mtime of ``-1``, which no source file
matches, so the next run copies it again.
"""

from __future__ import annotations

import gzip
import os
import threading
import zlib
from collections.abc import Iterator
from queue import Queue
from typing import NamedTuple

from tui_backup.engines import pathcodec

HEADER = "# tui-backup manifest 1\n"
FLUSH_LINES = 4096
_CHUNK = 1 << 20


class ManifestEntry(NamedTuple):
    kind: str
    """``f``, ``d``, ``l`` or ``n`` (a FIFO, socket or device node)."""
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
    xattrs: str = ""
    """Short hash of the entry's kept xattrs/ACLs ("" when it has none)."""


class ManifestError(Exception):
    """A manifest that cannot be read (missing, truncated, not ours)."""


def format_line(
    kind: str,
    mode: int,
    uid: int,
    gid: int,
    size: int,
    mtime_ns: int,
    digest: str,
    path: str,
    target: str = "",
    xattrs: str = "",
) -> str:
    """One manifest line (without its newline): the only place the format is written."""
    tail = "\t" + pathcodec.encode(target) if kind == "l" else ""
    if xattrs:
        tail += "\tx:" + xattrs
    return (
        f"{kind}\t{mode:o}\t{uid}\t{gid}\t{size}\t{mtime_ns}\t{digest}\t"
        f"{pathcodec.encode(path)}{tail}"
    )


def file_key(mode: int, uid: int, gid: int, size: int, mtime_ns: int) -> str:
    """The start of the line of a regular file with this mode, owner, size and mtime.

    A previous line that starts with it describes an unchanged file: the
    walk's link test is one ``str.startswith``, no parse.
    """
    return f"f\t{mode:o}\t{uid}\t{gid}\t{size}\t{mtime_ns}\t"


def line_digest(line: str) -> str:
    """The checksum field of a raw line."""
    return line.split("\t", 7)[6]


def recorded_xattrs(line: str) -> str:
    """The xattr hash a raw ``f`` line records ("" = none; older lines have none)."""
    if line.count("\t") == 7:
        return ""
    cut = line.rfind("\t")
    if line[cut + 1 : cut + 3] == "c:":  # tolerated: a field some test builds wrote
        line = line[:cut]
        if line.count("\t") == 7:
            return ""
        cut = line.rfind("\t")
    return line[cut + 3 :] if line[cut + 1 : cut + 3] == "x:" else ""


class ManifestWriter:
    """Append entries in walk order; buffered so a 100k-file run stays cheap.

    Lines are kept without their newline and joined per flush; the builder may
    append pre-formatted lines straight to :attr:`lines` (checking
    :data:`FLUSH_LINES` itself) to save a call per file. With ``background``,
    compressing and writing happen on a thread of their own (zlib releases the
    GIL), overlapping the walk; a write error is raised by :meth:`close`.
    """

    def __init__(self, path: str, *, background: bool = False) -> None:
        self.path = path
        # Private (0600 whatever the umask), new, and never through a symlink.
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        try:
            os.fchmod(fd, 0o600)
        except OSError:
            os.close(fd)
            raise
        self._raw = os.fdopen(fd, "wb")
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=1, mtime=0)
        self._gz.write(HEADER.encode("utf-8"))
        self.lines: list[str] = []
        self._error: BaseException | None = None
        self._queue: Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._queue = Queue(maxsize=8)  # bounded: at most a few MiB in flight
            self._thread = threading.Thread(
                target=self._write_loop, name="manifest-writer", daemon=True
            )
            self._thread.start()

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
        xattrs: str = "",
    ) -> None:
        self.lines.append(
            format_line(kind, mode, uid, gid, size, mtime_ns, digest, path, target, xattrs)
        )
        if len(self.lines) >= FLUSH_LINES:
            self.flush()

    def add_line(self, line: str) -> None:
        """Append a line (without newline) taken verbatim from the previous manifest."""
        self.lines.append(line)
        if len(self.lines) >= FLUSH_LINES:
            self.flush()

    def flush(self) -> None:
        lines = self.lines
        if lines:
            lines.append("")
            data = "\n".join(lines).encode("utf-8")
            lines.clear()
            if self._queue is not None:
                self._queue.put(data)
            else:
                self._gz.write(data)

    def _write_loop(self) -> None:
        assert self._queue is not None
        while True:
            data = self._queue.get()
            if data is None:
                return
            if self._error is None:
                try:
                    self._gz.write(data)
                except BaseException as exc:  # noqa: BLE001 - raised by close()
                    self._error = exc

    def _stop_thread(self) -> None:
        if self._thread is not None:
            assert self._queue is not None
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def close(self, *, sync: bool = True) -> None:
        """Finish the gzip stream; fsync when the snapshot is being committed."""
        try:
            self.flush()
            self._stop_thread()
            if self._error is not None:
                raise self._error
            self._gz.close()
            if sync:
                self._raw.flush()
                os.fsync(self._raw.fileno())
        finally:
            self._raw.close()

    def abort(self) -> None:
        """Close without caring about the content (the run is being thrown away)."""
        try:
            self._stop_thread()
            self._gz.close()
        except (OSError, ValueError):
            pass
        self._raw.close()


def parse_line(line: str) -> ManifestEntry:
    parts = line.rstrip("\n").split("\t")
    if len(parts) < 8:
        raise ManifestError(f"malformed manifest line: {line[:80]!r}")
    fixed = 9 if parts[0] == "l" else 8
    xattrs = ""
    if len(parts) > fixed and parts[-1].startswith("c:"):
        parts.pop()
    if len(parts) > fixed and parts[-1].startswith("x:"):
        xattrs = parts.pop()[2:]
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
        xattrs,
    )


def read_manifest(path: str) -> Iterator[ManifestEntry]:
    """Stream the entries of a manifest; raise :class:`ManifestError` if unreadable."""
    for line in read_lines(path):
        yield parse_line(line)


def read_lines(path: str) -> Iterator[str]:
    """Stream the raw entry lines of a manifest, without newlines (comments skipped).

    Reads the decompressed stream in large chunks and splits them on ``\\n``
    only (a name may hold any other line separator), which is several times
    faster than iterating a text wrapper line by line.
    """
    try:
        with gzip.open(path, "rb") as raw:
            if raw.readline() != HEADER.encode("utf-8"):
                raise ManifestError(f"{path} is not a tui-backup manifest")
            tail = b""
            while True:
                chunk = raw.read(_CHUNK)
                if not chunk:
                    break
                data = tail + chunk if tail else chunk
                cut = data.rfind(b"\n") + 1
                tail = data[cut:]
                if not cut:
                    continue
                text = data[: cut - 1].decode("utf-8")
                lines = text.split("\n")
                if text[:1] == "#" or "\n#" in text:
                    lines = [line for line in lines if line[:1] != "#"]
                yield from lines
            if tail:
                raise ManifestError(f"cannot read manifest {path}: truncated last line")
    except (OSError, EOFError, UnicodeDecodeError, ValueError, zlib.error) as exc:
        if isinstance(exc, ManifestError):
            raise
        raise ManifestError(f"cannot read manifest {path}: {exc}") from exc


class PreviousCursor:
    """Forward-only lookup in the previous manifest, in walk order.

    The walk asks for paths in increasing component order; the cursor skips
    entries that are smaller (deleted since) and answers a match or None. A
    match is consumed, so in an unchanged tree the next question finds its
    answer at :attr:`path` at once (the builder checks that fast path inline).
    Memory is one entry, whatever the size of the tree.
    """

    def __init__(self, lines: Iterator[str] | None) -> None:
        self._it = lines
        self.path: str | None = None
        """The decoded path of the current entry (None at the end)."""
        self.line = ""
        """The current entry's raw line, without newline."""
        self._key: list[str] | None = None
        self.broken: str | None = None
        self.advance()

    def advance(self) -> None:
        self._key = None
        if self._it is None:
            self.path = None
            return
        try:
            line = next(self._it, None)
        except ManifestError as exc:
            # A damaged previous manifest only costs us links: copy the rest.
            self.broken = str(exc)
            line = None
        if line is None:
            self.path = None
            self._it = None
            return
        # The path is the 8th field: the last one, except for a symlink whose
        # target follows it (a raw tab never occurs inside a field).
        # ``x:``/``c:`` fields may follow (xattrs); older manifests have none.
        # Cut them off from the end with rfind (this runs once per entry).
        tabs = line.count("\t")
        fixed = 8 if line[:1] == "l" else 7
        ok = fixed <= tabs <= fixed + 2
        end = len(line)
        for _ in range(tabs - fixed if ok else 0):
            cut = line.rfind("\t", 0, end)
            if line[cut + 1 : cut + 3] not in ("x:", "c:"):
                ok = False
                break
            end = cut
        if not ok:
            path = ""
        elif fixed == 7:
            path = line[line.rfind("\t", 0, end) + 1 : end]
        else:
            path = line.split("\t", 8)[7]
        if not ok:
            self.broken = f"malformed manifest line: {line[:80]!r}"
            self.path = None
            self._it = None
            return
        self.line = line
        self.path = pathcodec.decode(path) if "\\" in path else path

    def find(self, path: str) -> str | None:
        """The raw line of the previous entry at ``path`` (consumed), or None."""
        if self.path == path:
            line = self.line
            self.advance()
            return line
        key = path.split("/")
        while self.path is not None:
            if self._key is None:
                self._key = self.path.split("/")
            if self._key >= key:
                break
            self.advance()
        if self.path is not None and self._key == key:
            line = self.line
            self.advance()
            return line
        return None
