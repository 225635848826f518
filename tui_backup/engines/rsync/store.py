"""The destination directory of an rsync job, local or on a host reached by ssh.

Both kinds offer the same small set of operations (list, read and write
metadata, remove, commit, walk and hash a snapshot), so the rest of the engine
never asks where the destination is. A remote destination is resolved once,
over ssh, to an absolute path (``~/x`` and paths relative to the login
directory included): ``--link-dest`` then names the previous snapshot by an
absolute path, which is the only way rsync finds it.

Layout (the same as the snapshot engine's)::

    <dest>/<id>/                  complete snapshots
    <dest>/<id>.partial/          a run in progress or a crash's leftover
    <dest>/latest -> <id>
    <dest>/.tui-backup/owner.json which job owns the destination
    <dest>/.tui-backup/<id>.json  summary: files, bytes, sources, time, checksum run
    <dest>/.tui-backup/<id>.manifest  path, size and sha256 of every file
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import stat
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tui_backup.engines import layout
from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.common import check_local_parent
from tui_backup.engines.rsync.location import Location, SshSettings, Stopped

META = layout.META_DIR
OWNER_FILE = "owner.json"
SUMMARY_SUFFIX = ".json"
MANIFEST_SUFFIX = ".manifest"
DELETING_SUFFIX = ".deleting" + layout.PARTIAL_SUFFIX
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CHUNK = 1 << 20

OnHashed = Callable[[str, int], None]


@dataclass(slots=True)
class Tree:
    """The regular files and symlinks of one snapshot, by path relative to its root."""

    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    """path -> (inode, size)"""
    links: dict[str, str] = field(default_factory=dict)
    """path -> symlink target"""


class Store:
    """Operations shared by both kinds; subclasses do the I/O."""

    host: str | None = None

    def __init__(self, path: str, entries: dict[str, str], owner: dict[str, Any] | None) -> None:
        self.path = path
        """Absolute path of the destination (on its host)."""
        self.entries = entries
        """Names in the destination -> kind (``d`` directory, ``l`` symlink, ``f``...)."""
        self.owner = owner
        """The owner marker's content, or None when there is none."""

    _exists = False

    @property
    def exists(self) -> bool:
        """False when the destination directory is not there (no snapshots yet)."""
        return self._exists

    @property
    def label(self) -> str:
        return f"{self.host}:{self.path}" if self.host else self.path

    def url(self, *parts: str) -> str:
        """An rsync argument naming ``parts`` inside the destination."""
        joined = "/".join([self.path.rstrip("/"), *parts])
        return f"{self.host}:{joined}" if self.host else joined

    def abs(self, *parts: str) -> str:
        """The absolute path of ``parts`` on the destination's host."""
        return "/".join([self.path.rstrip("/"), *parts])

    def ids(self) -> list[str]:
        """Complete snapshot ids, newest first: real directories named like an id."""
        ids = [n for n, kind in self.entries.items() if kind == "d" and layout.parse_id(n)]
        ids.sort(key=layout.sort_key, reverse=True)
        return ids

    def leftovers(self) -> list[str]:
        """``<id>.partial`` and ``<id>.deleting.partial``: what interrupted runs left."""
        out = []
        for name in self.entries:
            if name.endswith(layout.PARTIAL_SUFFIX):
                stem = name.removesuffix(layout.PARTIAL_SUFFIX).removesuffix(".deleting")
                if layout.parse_id(stem) is not None:
                    out.append(name)
        return out

    # -- owner marker ------------------------------------------------------

    @property
    def owner_job(self) -> str | None:
        job = self.owner.get("job") if isinstance(self.owner, dict) else None
        return job if isinstance(job, str) else None

    def check_owner(self, job: str) -> None:
        """Refuse a destination whose marker names another job."""
        owner = self.owner_job
        if owner is not None and owner != job:
            raise EngineError(
                f"destination {self.label} belongs to job {owner!r}; choose another "
                "destination or remove that job's snapshots",
                ErrorType.DESTINATION_OWNED,
            )

    def claim(self, job: str) -> None:
        """Write the owner marker (idempotent); refuse if another job owns the destination."""
        self.check_owner(job)
        if self.owner_job == job:
            return
        payload = {"job": job, "engine": "rsync", "format": 1}
        self.write_meta(OWNER_FILE, (json.dumps(payload, indent=2) + "\n").encode())
        self.owner = payload

    # -- metadata ----------------------------------------------------------

    def summary(self, sid: str) -> dict[str, Any] | None:
        raw = self.read_meta(sid + SUMMARY_SUFFIX)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def read_meta(self, name: str) -> bytes | None:
        raise NotImplementedError

    def write_meta(self, name: str, data: bytes) -> None:
        """Write ``.tui-backup/<name>`` atomically (temp file, then rename)."""
        raise NotImplementedError

    def remove(self, names: Sequence[str]) -> None:
        """Remove ``names`` (relative to the destination) and everything under them."""
        raise NotImplementedError

    def commit(self, partial: str, sid: str) -> None:
        """Make ``partial`` the complete snapshot ``sid`` and point ``latest`` at it."""
        raise NotImplementedError

    def set_latest(self, sid: str | None) -> None:
        """Point ``latest`` at ``sid`` (remove it when None)."""
        raise NotImplementedError

    def delete_snapshot(self, sid: str) -> None:
        """Hide a snapshot first (rename to a non-id name), then remove it and its metadata."""
        raise NotImplementedError

    def tree(self, rel: str, cancel: threading.Event | None = None) -> Tree:
        """The regular files and symlinks under ``rel`` (a snapshot or partial)."""
        raise NotImplementedError

    def hash(
        self,
        rel: str,
        paths: Iterable[str],
        cancel: threading.Event | None = None,
        on_hashed: OnHashed | None = None,
    ) -> tuple[dict[str, str], dict[str, str]]:
        """sha256 of regular files ``paths`` under ``rel``: (digests, problems by path).

        Never opens anything but a regular file: a FIFO or device found where
        a file was expected is a problem, not a read that blocks.
        """
        raise NotImplementedError

    def missing(self, rel: str, paths: Sequence[str]) -> list[str]:
        """Those of ``paths`` under ``rel`` that do not exist (symlinks count as existing)."""
        raise NotImplementedError

    def purge(self) -> None:
        """Remove the metadata directory and the destination itself if nothing else is left."""
        raise NotImplementedError


# -- local ---------------------------------------------------------------------


class LocalStore(Store):
    def __init__(self, path: str) -> None:
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

    def read_meta(self, name: str) -> bytes | None:
        return _read(os.path.join(self.path, META, name))

    def write_meta(self, name: str, data: bytes) -> None:
        meta = os.path.join(self.path, META)
        os.makedirs(meta, exist_ok=True)
        tmp = os.path.join(meta, f".{name}.tmp-{os.getpid()}")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, os.path.join(meta, name))

    def remove(self, names: Sequence[str]) -> None:
        import shutil

        for name in names:
            path = os.path.join(self.path, name)
            if os.path.isdir(path) and not os.path.islink(path):
                _make_writable(path)
                shutil.rmtree(path, ignore_errors=False)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            self.entries.pop(name, None)

    def commit(self, partial: str, sid: str) -> None:
        os.rename(os.path.join(self.path, partial), os.path.join(self.path, sid))
        self.entries.pop(partial, None)
        self.entries[sid] = "d"
        self.set_latest(sid)
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
        for suffix in (MANIFEST_SUFFIX, SUMMARY_SUFFIX):
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
            with os.scandir(os.path.join(root, sub) if sub else root) as it:
                for entry in it:
                    path = sub + "/" + entry.name if sub else entry.name
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISREG(st.st_mode):
                        tree.files[path] = (st.st_ino, st.st_size)
                    elif stat.S_ISLNK(st.st_mode):
                        tree.links[path] = os.readlink(entry.path)
                    elif stat.S_ISDIR(st.st_mode):
                        stack.append(path)
        return tree

    def hash(
        self,
        rel: str,
        paths: Iterable[str],
        cancel: threading.Event | None = None,
        on_hashed: OnHashed | None = None,
    ) -> tuple[dict[str, str], dict[str, str]]:
        root = os.path.join(self.path, rel)
        digests: dict[str, str] = {}
        problems: dict[str, str] = {}
        for path in paths:
            if cancel is not None and cancel.is_set():
                raise Stopped
            result = hash_local_file(os.path.join(root, path), cancel)
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
        import shutil

        shutil.rmtree(os.path.join(self.path, META), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.path, layout.LATEST))
        with contextlib.suppress(OSError):
            os.rmdir(self.path)


def hash_local_file(path: str, cancel: threading.Event | None = None) -> tuple[str, int] | str:
    """``(sha256 hex, bytes read)`` of a regular file, or why it could not be read.

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
        h = hashlib.sha256()
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


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _make_writable(path: str) -> None:
    """Directories without the owner's write bit (kept from the source) block rmtree."""
    for dirpath, dirnames, _files in os.walk(path):
        for d in [dirpath, *(os.path.join(dirpath, n) for n in dirnames)]:
            with contextlib.suppress(OSError):
                st = os.lstat(d)
                if stat.S_ISDIR(st.st_mode) and not st.st_mode & stat.S_IWUSR:
                    os.chmod(d, st.st_mode | stat.S_IWUSR | stat.S_IXUSR)


# -- remote --------------------------------------------------------------------


def _path_expr(path: str) -> str:
    """A shell word for ``path`` with ``~`` meaning the login's home directory."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


_PROBE = """\
p={path}
if [ ! -d "$p" ]; then
  if [ {create} = 1 ]; then
    parent=$(dirname -- "$p")
    if [ ! -d "$parent" ]; then echo "the destination's parent directory $parent does not \
exist" >&2; exit 3; fi
    mkdir -- "$p" || exit 4
  else
    exit 2
  fi
fi
cd -- "$p" || exit 4
pwd -P
printf '\\0'
find . -mindepth 1 -maxdepth 1 -printf '%y%P\\0'
printf '\\0'
cat .tui-backup/owner.json 2>/dev/null
true
"""


class RemoteStore(Store):
    def __init__(
        self,
        host: str,
        path: str,
        entries: dict[str, str],
        owner: dict[str, Any] | None,
        ssh: SshSettings,
        exists: bool,
    ) -> None:
        super().__init__(path, entries, owner)
        self.host = host
        self.ssh = ssh
        self._exists = exists

    @classmethod
    def open(cls, loc: Location, ssh: SshSettings, *, create: bool) -> RemoteStore:
        """Resolve ``loc`` once to an absolute path and read what is there.

        With ``create`` the destination directory itself is made, only when its
        parent exists (never ``mkdir -p``: a missing parent is an unmounted disk).
        """
        assert loc.host is not None
        script = _PROBE.format(path=_path_expr(loc.path), create=1 if create else 0)
        result = ssh.run(loc.host, script, timeout=120)
        err = result.stderr.decode("utf-8", "replace").strip()
        if result.returncode == 2:
            return cls(loc.host, loc.path, {}, None, ssh, exists=False)
        if result.returncode == 3:
            raise EngineError(
                f"{loc.host}: {err} (is the backup disk mounted?)", ErrorType.DESTINATION_MISSING
            )
        if result.returncode != 0:
            raise EngineError(
                f"cannot use the destination {loc.label}: {err or 'unknown error'}",
                ErrorType.DESTINATION_UNWRITABLE,
            )
        head, _, rest = result.stdout.partition(b"\0")
        path = os.fsdecode(head.rstrip(b"\n"))
        entries: dict[str, str] = {}
        tokens = rest.split(b"\0")
        i = 0
        while i < len(tokens) and tokens[i]:
            token = os.fsdecode(tokens[i])
            entries[token[1:]] = token[0]
            i += 1
        marker = b"\0".join(tokens[i + 1 :])
        owner = None
        if marker.strip():
            with contextlib.suppress(ValueError):
                owner = json.loads(marker)
        return cls(loc.host, path, entries, owner, ssh, exists=True)

    def sh(
        self, script: str, *, stdin: bytes | None = None, cancel: threading.Event | None = None
    ) -> bytes:
        """Run ``script`` on the host; a non-zero exit is an error naming its stderr."""
        assert self.host is not None
        result = self.ssh.run(self.host, script, stdin=stdin, cancel=cancel)
        if result.returncode != 0:
            err = result.stderr.decode("utf-8", "replace").strip()
            raise EngineError(
                f"{self.host}: {err or f'remote command failed ({result.returncode})'}",
                ErrorType.DESTINATION_ERROR,
            )
        return result.stdout

    def q(self, *parts: str) -> str:
        return shlex.quote(self.abs(*parts))

    def read_meta(self, name: str) -> bytes | None:
        assert self.host is not None
        result = self.ssh.run(self.host, f"cat -- {self.q(META, name)}")
        return result.stdout if result.returncode == 0 else None

    def write_meta(self, name: str, data: bytes) -> None:
        meta = self.q(META)
        tmp = self.q(META, f".{name}.tmp-{os.getpid()}")
        self.sh(
            f"mkdir -p -- {meta} && cat > {tmp} && sync {tmp} 2>/dev/null; "
            f"mv -f -- {tmp} {self.q(META, name)}",
            stdin=data,
        )

    def remove(self, names: Sequence[str]) -> None:
        if not names:
            return
        quoted = " ".join(self.q(n) for n in names)
        self.sh(f"chmod -R u+rwX -- {quoted} 2>/dev/null; rm -rf -- {quoted}")
        for name in names:
            self.entries.pop(name, None)

    def commit(self, partial: str, sid: str) -> None:
        self.sh(
            f"mv -- {self.q(partial)} {self.q(sid)} && "
            f"ln -sfn -- {shlex.quote(sid)} {self.q('.latest.tmp')} && "
            f"mv -fT -- {self.q('.latest.tmp')} {self.q(layout.LATEST)} && sync"
        )
        self.entries.pop(partial, None)
        self.entries[sid] = "d"

    def set_latest(self, sid: str | None) -> None:
        if sid is None:
            self.sh(f"rm -f -- {self.q(layout.LATEST)}")
            return
        self.sh(
            f"ln -sfn -- {shlex.quote(sid)} {self.q('.latest.tmp')} && "
            f"mv -fT -- {self.q('.latest.tmp')} {self.q(layout.LATEST)}"
        )

    def delete_snapshot(self, sid: str) -> None:
        doomed = self.q(sid + DELETING_SUFFIX)
        self.sh(
            f"mv -- {self.q(sid)} {doomed} && "
            f"rm -f -- {self.q(META, sid + MANIFEST_SUFFIX)} {self.q(META, sid + SUMMARY_SUFFIX)} "
            f"&& chmod -R u+rwX -- {doomed} 2>/dev/null; rm -rf -- {doomed}"
        )
        self.entries.pop(sid, None)

    def tree(self, rel: str, cancel: threading.Event | None = None) -> Tree:
        out = self.sh(
            f"cd -- {self.q(rel)} && find . -mindepth 1 "
            r"\( -type f -printf 'f%i\t%s\t%P\0' \) -o \( -type l -printf 'l%P\0%l\0' \)",
            cancel=cancel,
        )
        tree = Tree()
        tokens = out.split(b"\0")
        i = 0
        while i < len(tokens):
            token = tokens[i]
            i += 1
            if not token:
                continue
            if token[:1] == b"f":
                ino, size, path = token[1:].split(b"\t", 2)
                tree.files[os.fsdecode(path)] = (int(ino), int(size))
            elif token[:1] == b"l" and i < len(tokens):
                tree.links[os.fsdecode(token[1:])] = os.fsdecode(tokens[i])
                i += 1
        return tree

    def hash(
        self,
        rel: str,
        paths: Iterable[str],
        cancel: threading.Event | None = None,
        on_hashed: OnHashed | None = None,
    ) -> tuple[dict[str, str], dict[str, str]]:
        wanted = list(paths)
        if not wanted:
            return {}, {}
        # Only regular files are handed to sha256sum (find -type f): never a FIFO.
        script = (
            f"cd -- {self.q(rel)} && "
            'xargs -0 -r sh -c \'for f do if [ -f "$f" ] && [ ! -L "$f" ]; then '
            'printf "%s\\0" "$f"; fi; done\' sh | xargs -0 -r sha256sum -z --'
        )
        stdin = b"".join(os.fsencode(p) + b"\0" for p in wanted)
        assert self.host is not None
        result = self.ssh.run(self.host, script, stdin=stdin, cancel=cancel)
        digests: dict[str, str] = {}
        for record in result.stdout.split(b"\0"):
            if len(record) > 66:
                path = os.fsdecode(record[66:])
                digests[path] = record[:64].decode("ascii")
        problems = {p: "missing or unreadable" for p in wanted if p not in digests}
        if on_hashed is not None:
            for p in digests:
                on_hashed(p, -1)
        return digests, problems

    def missing(self, rel: str, paths: Sequence[str]) -> list[str]:
        if not paths:
            return []
        script = (
            f"cd -- {self.q(rel)} && "
            'xargs -0 -r sh -c \'for f do if [ ! -e "$f" ] && [ ! -L "$f" ]; then '
            'printf "%s\\0" "$f"; fi; done\' sh'
        )
        out = self.sh(script, stdin=b"".join(os.fsencode(p) + b"\0" for p in paths))
        return [os.fsdecode(t) for t in out.split(b"\0") if t]

    def purge(self) -> None:
        self.sh(
            f"rm -rf -- {self.q(META)} && rm -f -- {self.q(layout.LATEST)} && "
            f"rmdir -- {self.q()} 2>/dev/null; true"
        )


def open_store(spec_destination: str, ssh: SshSettings | None, *, create: bool) -> Store:
    """The destination of a job; with ``create`` (a run, ``init``) it is made if missing.

    A local destination whose parent is missing is refused (an unmounted disk);
    the same holds remotely (``test -d`` on the parent, never ``mkdir -p``).
    """
    loc = Location.parse(spec_destination)
    if loc.host is None:
        if create:
            check_local_parent(loc.path)
            try:
                os.makedirs(loc.path, exist_ok=True)
            except OSError as exc:
                raise EngineError(
                    f"cannot create the destination {loc.path}: {exc.strerror}",
                    ErrorType.DESTINATION_UNWRITABLE,
                ) from exc
        return LocalStore(loc.path)
    assert ssh is not None
    return RemoteStore.open(loc, ssh, create=create)
