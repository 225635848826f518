"""A destination directory on this machine: plain file operations, hashing in Python.

The engine's own files (``.tui-backup/``: owner marker, manifests, summaries)
are private whatever the umask: the directory 0700, every file 0600, created
with ``O_NOFOLLOW``/``O_EXCL``. A manifest names every file of a snapshot and
its hash, also those under a directory nobody else may read. A
``.tui-backup`` that is a symbolic link is refused for every operation:
writing (or trusting an owner marker) through it would touch whatever it
points at.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterable, Sequence

from tui_backup.engines import layout
from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.rsync.location import Stopped
from tui_backup.engines.rsync.store import (
    DAMAGED_FILE,
    DELETING_SUFFIX,
    MANIFEST_SUFFIX,
    META,
    OWNER_FILE,
    RACY_SUFFIX,
    SUMMARY_SUFFIX,
    OnHashed,
    Store,
    Tree,
)

log = logging.getLogger(__name__)
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CHUNK = 1 << 20


_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
META_MODE = 0o700
META_FILE_MODE = 0o600


def refuse_linked_meta(path: str) -> None:
    """Refuse a destination whose ``.tui-backup`` is a symbolic link (or not a directory)."""
    meta = os.path.join(path, META)
    try:
        st = os.lstat(meta)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise EngineError(
            f"cannot read {meta}: {exc.strerror}", ErrorType.DESTINATION_ERROR
        ) from exc
    if stat.S_ISLNK(st.st_mode):
        raise EngineError(
            f"{meta} is a symbolic link; refusing to read or write the backup's metadata "
            "through it (remove the link; the metadata belongs in a plain directory)",
            ErrorType.DESTINATION_ERROR,
        )
    if not stat.S_ISDIR(st.st_mode):
        raise EngineError(
            f"{meta} is not a directory; refusing to use it", ErrorType.DESTINATION_ERROR
        )


class LocalStore(Store):
    def __init__(self, path: str) -> None:
        refuse_linked_meta(path)
        entries: dict[str, str] = {}
        self._exists = os.path.isdir(path)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for entry in os.scandir(path):
                if entry.is_symlink():
                    kind = "l"
                elif entry.is_dir(follow_symlinks=False):
                    kind = "d"
                else:
                    kind = "f"
                entries[entry.name] = kind
        owner = None
        raw = _read(os.path.join(path, META, OWNER_FILE))
        if raw is not None:
            with contextlib.suppress(ValueError):
                owner = json.loads(raw)
        super().__init__(path, entries, owner)
        self.damaged = os.path.exists(os.path.join(path, META, DAMAGED_FILE))

    def read_meta(self, name: str) -> bytes | None:
        return _read(os.path.join(self.path, META, name))

    def write_meta(self, name: str, data: bytes) -> None:
        meta = self._meta_dir()
        tmp = os.path.join(meta, f".{name}.tmp-{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # a crashed run's leftover: O_EXCL below never reuses a file
        fd = os.open(tmp, _WRITE_FLAGS, META_FILE_MODE)
        try:
            os.fchmod(fd, META_FILE_MODE)  # whatever the umask
            with open(fd, "wb", closefd=False) as fh:
                fh.write(data)
                fh.flush()
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, os.path.join(meta, name))

    def _meta_dir(self) -> str:
        """``.tui-backup``, created 0700 (made private when an older version left it 0755)."""
        meta = os.path.join(self.path, META)
        refuse_linked_meta(self.path)
        with contextlib.suppress(FileExistsError):
            os.mkdir(meta, META_MODE)
        refuse_linked_meta(self.path)  # replaced between the check and the mkdir
        fd = os.open(meta, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) != META_MODE:
                os.fchmod(fd, META_MODE)
                _make_files_private(fd)
        finally:
            os.close(fd)
        return meta

    def remove(self, names: Sequence[str]) -> None:
        for name in names:
            path = os.path.join(self.path, name)
            if os.path.isdir(path) and not os.path.islink(path):
                remove_tree(path)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            self.entries.pop(name, None)

    def commit(self, partial: str, sid: str) -> None:
        os.rename(os.path.join(self.path, partial), os.path.join(self.path, sid))
        self.entries.pop(partial, None)
        self.entries[sid] = "d"
        try:
            self.set_latest(sid)
        except OSError as exc:  # the snapshot is committed; only the convenience link is stale
            log.warning("cannot point %s/latest at %s: %s", self.path, sid, exc)
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def set_latest(self, sid: str | None) -> None:
        link = os.path.join(self.path, layout.LATEST)
        if sid is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link)
            return
        tmp = os.path.join(self.path, f".latest.tmp-{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(sid, tmp)
        os.replace(tmp, link)

    def delete_snapshot(self, sid: str) -> None:
        doomed = sid + DELETING_SUFFIX
        os.rename(os.path.join(self.path, sid), os.path.join(self.path, doomed))
        self.entries.pop(sid, None)
        for suffix in (MANIFEST_SUFFIX, SUMMARY_SUFFIX, RACY_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.path, META, sid + suffix))
        self.remove([doomed])

    def tree(self, rel: str, cancel: threading.Event | None = None) -> Tree:
        tree = Tree()
        root = os.path.join(self.path, rel)
        stack = [""]
        while stack:
            if cancel is not None and cancel.is_set():
                raise Stopped
            sub = stack.pop()
            try:
                it = os.scandir(os.path.join(root, sub) if sub else root)
            except PermissionError:
                if not sub:
                    raise
                # A directory kept without read permission (as in the source): its
                # files cannot be listed, so they are neither hashed nor verified.
                log.warning("cannot list %s in %s: permission denied", sub, root)
                continue
            with it:
                for entry in it:
                    path = sub + "/" + entry.name if sub else entry.name
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISREG(st.st_mode):
                        tree.files[path] = (st.st_ino, st.st_size)
                        tree.mtimes[path] = st.st_mtime_ns
                    elif stat.S_ISLNK(st.st_mode):
                        tree.links[path] = os.readlink(entry.path)
                    elif stat.S_ISDIR(st.st_mode):
                        stack.append(path)
                    else:
                        tree.specials[path] = special_letter(st.st_mode)
        return tree

    def hash(
        self,
        rel: str,
        paths: Iterable[str],
        cancel: threading.Event | None = None,
        on_hashed: OnHashed | None = None,
        algorithm: str = "md5",
    ) -> tuple[dict[str, str], dict[str, str]]:
        root = os.path.join(self.path, rel)
        digests: dict[str, str] = {}
        problems: dict[str, str] = {}
        for path in paths:
            if cancel is not None and cancel.is_set():
                raise Stopped
            result = hash_local_file(os.path.join(root, path), cancel, algorithm)
            if isinstance(result, tuple):
                digests[path] = result[0]
                if on_hashed is not None:
                    on_hashed(path, result[1])
            else:
                problems[path] = result
        return digests, problems

    def missing(self, rel: str, paths: Sequence[str]) -> list[str]:
        root = os.path.join(self.path, rel)
        return [p for p in paths if not os.path.lexists(os.path.join(root, p))]

    def purge(self) -> None:
        shutil.rmtree(os.path.join(self.path, META), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.path, layout.LATEST))
        with contextlib.suppress(OSError):
            os.rmdir(self.path)


def hash_local_file(
    path: str, cancel: threading.Event | None = None, algorithm: str = "md5"
) -> tuple[str, int] | str:
    """``(hex digest, bytes read)`` of a regular file, or why it could not be read.

    ``algorithm`` is a manifest's (``md5``, or ``sha256`` for older manifests):
    an integrity check against accidental damage, compared with the digest
    rsync computed while it copied.

    Opened non-blocking and without following a symlink, then checked to be a
    regular file before a single byte is read: a FIFO never blocks verify.
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        h = hashlib.new(algorithm, usedforsecurity=False)
        n = 0
        while True:
            if cancel is not None and cancel.is_set():
                raise Stopped
            data = os.read(fd, _CHUNK)
            if not data:
                break
            n += len(data)
            h.update(data)
        return h.hexdigest(), n
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    finally:
        os.close(fd)


def special_letter(mode: int) -> str:
    """``find -printf %y``'s letter for a special file: p FIFO, s socket, c/b device."""
    if stat.S_ISFIFO(mode):
        return "p"
    if stat.S_ISSOCK(mode):
        return "s"
    return "c" if stat.S_ISCHR(mode) else "b"


def _read(path: str) -> bytes | None:
    """A metadata file's bytes; None when absent, unreadable or not a regular file.

    Never through a symlink (``O_NOFOLLOW``) and never blocking on a FIFO.
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        while data := os.read(fd, _CHUNK):
            chunks.append(data)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _make_files_private(dir_fd: int) -> None:
    """0600 for the regular files of a metadata directory an older version made 0755."""
    for name in os.listdir(dir_fd):
        with contextlib.suppress(OSError):
            fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
            try:
                st = os.fstat(fd)
                if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) != META_FILE_MODE:
                    os.fchmod(fd, META_FILE_MODE)
            finally:
                os.close(fd)


def remove_tree(path: str) -> None:
    """Remove directory ``path`` and everything under it, at any depth.

    A snapshot keeps the source's modes (directories without the owner's
    write bit block removal) and its depth: rsync stores up to 1,024 levels,
    deeper than Python's recursive ``os.walk``/``shutil.rmtree`` can go
    (RecursionError near 1,000). GNU ``chmod -R`` and ``rm -rf`` walk
    iteratively, whatever the depth; a failure is an ``OSError`` naming rm's
    complaint.
    """
    subprocess.run(
        ["chmod", "-R", "u+rwX", "--", path],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    done = subprocess.run(
        ["rm", "-rf", "--", path],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    if done.returncode != 0 or os.path.lexists(path):
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OSError(errno.EIO, f"could not remove {path}: {err[-1] if err else 'rm failed'}")
