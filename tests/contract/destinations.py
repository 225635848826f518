"""Jobs for every destination kind, and the source trees the contract suite backs up.

The server fixtures (``conftest.py``/``servers.py``) hand each test a
``servers.Destination``: where a kind's bytes go and how to reach them. This
module turns that into what an engine is given, a :class:`JobSpec` (destination
string, engine, ``env`` with the restic password file and the AWS variables,
``ssh_command`` for the kinds behind the test sshd), and into what a test needs
to judge an engine from the outside: a listing of the stored bytes (to prove a
dry run wrote nothing), the stored files themselves (to corrupt them), and a
destination of the same kind whose parent is missing (an unmounted disk).

The job never gets ``RSYNC_RSH`` or restic ``-o`` options: the engine must reach
the test sshd through the job's own ``ssh_command``, as a user's job would.

Engines are driven directly through :func:`get_engine` (this is the engines'
contract, not the core's), and a run's events are collected in a
:class:`RunResult`.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from servers import Destination

from tui_backup.engines.api import Capabilities, Engine, EngineError, RunOptions, SnapshotInfo
from tui_backup.engines.events import EngineEvent, FileWarning, Finished, Progress
from tui_backup.engines.excludes import Excluder
from tui_backup.engines.registry import get_engine
from tui_backup.model.job import JobSpec
from tui_backup.model.retention import RetentionPolicy
from tui_backup.model.status import Status

PASSWORD = "correct horse battery staple\n"
BASE_MTIME = 1_600_000_000
"""Source mtimes are whole seconds, so every engine's timestamp precision can keep them."""


# --------------------------------------------------------------------------- kinds


@dataclass(frozen=True, slots=True)
class Kind:
    """What a destination kind is, independent of any one test's paths."""

    name: str
    engine: str

    @property
    def tree(self) -> bool:
        """Snapshots are directory trees under ``<dest>/<id>`` (snapshot, rsync)."""
        return self.engine in ("snapshot", "rsync")

    @property
    def restic(self) -> bool:
        return self.engine == "restic"

    @property
    def over_ssh(self) -> bool:
        return self.name in ("rsync-ssh", "restic-sftp")

    @property
    def has_parent_dir(self) -> bool:
        """The destination is a path whose parent can be missing (a mount point)."""
        return self.name in ("snapshot", "rsync-local", "rsync-ssh", "restic-local", "restic-sftp")


# --------------------------------------------------------------------------- runs


@dataclass
class RunResult:
    """Every event of one ``run``, in order."""

    events: list[EngineEvent] = field(default_factory=list)

    @property
    def finished(self) -> Finished:
        done = [e for e in self.events if isinstance(e, Finished)]
        assert len(done) == 1, f"expected exactly one Finished, got {done}"
        assert self.events[-1] is done[0], "Finished must be the last event"
        return done[0]

    @property
    def progress(self) -> list[Progress]:
        return [e for e in self.events if isinstance(e, Progress)]

    @property
    def warnings(self) -> list[FileWarning]:
        return [e for e in self.events if isinstance(e, FileWarning)]

    def describe(self) -> str:
        f = self.finished
        return f"{f.status} {f.error_type}: {f.error}\n{f.details[-2000:]}"


def run_engine(
    engine: Engine,
    spec: JobSpec,
    *,
    cancel: threading.Event | None = None,
    options: RunOptions | None = None,
    on_event: Callable[[EngineEvent, threading.Event], None] | None = None,
) -> RunResult:
    """``engine.run`` with a collecting ``emit``; ``on_event`` may set the cancel Event."""
    result = RunResult()
    stop = cancel or threading.Event()

    def emit(event: EngineEvent) -> None:
        result.events.append(event)
        if on_event is not None:
            on_event(event, stop)

    engine.run(spec, stop, emit, options or RunOptions())
    return result


def error_type_of(call: Callable[[], Any]) -> str:
    """The ``error_type`` of the :class:`EngineError` ``call`` raises (fails if none)."""
    try:
        got = call()
    except EngineError as exc:
        return str(exc.error_type)
    pytest.fail(f"expected an EngineError, got {got!r}")


# --------------------------------------------------------------------------- destinations


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One entry of a destination's stored bytes, as compared before and after."""

    kind: str
    size: int
    digest: str
    mode: int


class Dest:
    """One destination of one kind, for one test: makes jobs and inspects what is stored."""

    def __init__(self, server: Destination, tmp_path: Path) -> None:
        self.server = server
        self.kind = Kind(server.kind, server.engine)
        self.tmp = tmp_path
        self.password_file = tmp_path / "restic-password"
        if not self.password_file.exists():
            self.password_file.touch(mode=0o600)
            self.password_file.write_text(PASSWORD)
        self.engine: Engine = get_engine(server.engine)

    # -- jobs ----------------------------------------------------------------

    @property
    def target(self) -> str:
        return self.server.target

    def env(self) -> tuple[tuple[str, str], ...]:
        """What the job's ``env:`` holds: the restic password file, the AWS variables."""
        out: dict[str, str] = {}
        if self.kind.restic:
            out["RESTIC_PASSWORD_FILE"] = str(self.password_file)
        if self.kind.name == "restic-s3":
            out.update({k: v for k, v in self.server.env.items() if k.startswith("AWS_")})
        return tuple(sorted(out.items()))

    def spec(
        self,
        sources: Path | Sequence[Path],
        *,
        name: str = "job-a",
        exclude: Sequence[str] = (),
        retention: RetentionPolicy | None = None,
        destination: str | None = None,
        **fields: Any,
    ) -> JobSpec:
        """A job of this kind backing up ``sources`` (a list, or one path)."""
        srcs = [sources] if isinstance(sources, Path) else list(sources)
        values: dict[str, Any] = {
            "name": name,
            "sources": tuple(str(s) for s in srcs),
            "destination": destination if destination is not None else self.target,
            "engine": self.kind.engine,
            "exclude": tuple(exclude),
            "retention": retention,
            "env": self.env(),
            "ssh_command": self.server.ssh_command if self.kind.over_ssh else None,
            "retries": 0,
        }
        values.update(fields)
        return JobSpec(**values)

    def capabilities(self, spec: JobSpec) -> Capabilities:
        return self.engine.capabilities(spec)

    def prepare(self, spec: JobSpec) -> None:
        """``init`` when the engine says the destination must be created before a run."""
        if self.capabilities(spec).needs_init:
            self.engine.init(spec)

    def run(self, spec: JobSpec, **kwargs: Any) -> RunResult:
        return run_engine(self.engine, spec, **kwargs)

    def backup(self, spec: JobSpec, *, options: RunOptions | None = None) -> str:
        """One run that must succeed; returns its snapshot id (as listed)."""
        result = self.run(spec, options=options)
        assert result.finished.status == Status.SUCCEEDED, result.describe()
        assert result.finished.snapshot_id, "a successful run names its snapshot"
        return result.finished.snapshot_id

    def snapshots(self, spec: JobSpec) -> list[SnapshotInfo]:
        return self.engine.snapshots(spec)

    def ids(self, spec: JobSpec) -> list[str]:
        return [s.id for s in self.snapshots(spec)]

    def missing_parent(self) -> tuple[str, Path] | None:
        """A destination of this kind under a directory that does not exist, and that directory.

        The directory lives in the test's tmp dir, so an engine that wrongly
        creates it writes nowhere outside the test.
        """
        parent = self.tmp / "unmounted"
        path = parent / "dest"
        if self.kind.name in ("snapshot", "rsync-local", "restic-local"):
            return str(path), parent
        if self.kind.name == "rsync-ssh":
            assert self.server.sshd is not None
            return self.server.sshd.remote(path), parent
        if self.kind.name == "restic-sftp":
            assert self.server.sshd is not None
            return f"sftp:{self.server.sshd.remote(path)}", parent
        return None

    # -- what is stored -------------------------------------------------------

    @property
    def local_path(self) -> Path | None:
        return self.server.local_path

    def _s3(self) -> tuple[Any, str, str]:
        """A boto3 client for the moto server, the bucket and the key prefix."""
        import boto3

        url = urlsplit(self.target.removeprefix("s3:"))
        bucket, _, prefix = url.path.lstrip("/").partition("/")
        client = boto3.client(
            "s3",
            endpoint_url=f"{url.scheme}://{url.netloc}",
            aws_access_key_id=self.server.env.get("AWS_ACCESS_KEY_ID", "testing"),
            aws_secret_access_key=self.server.env.get("AWS_SECRET_ACCESS_KEY", "testing"),
            region_name=self.server.env.get("AWS_DEFAULT_REGION", "us-east-1"),
        )
        return client, bucket, prefix

    def listing(self) -> dict[str, StoredEntry]:
        """Every stored entry with its size, content digest and mode.

        Directory mtimes are left out on purpose: reading a restic repository
        takes a lock, a file created and removed in ``locks/``, which moves the
        directory's mtime without writing anything a user would call data.
        """
        if self.kind.name == "restic-s3":
            client, bucket, prefix = self._s3()
            out: dict[str, StoredEntry] = {}
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                for obj in page.get("Contents", []):
                    out[obj["Key"]] = StoredEntry("object", obj["Size"], obj["ETag"], 0)
            return out
        assert self.local_path is not None
        return listing(self.local_path)

    def pack_files(self) -> list[str]:
        """A restic repository's pack files (``data/``), biggest first: local paths or S3 keys."""
        if self.kind.name == "restic-s3":
            client, bucket, prefix = self._s3()
            objs = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/data/")
            found = [(o["Size"], o["Key"]) for o in objs.get("Contents", [])]
        else:
            assert self.local_path is not None
            found = [(p.stat().st_size, str(p)) for p in (self.local_path / "data").rglob("*")]
            found = [(size, p) for size, p in found if Path(p).is_file()]
        found.sort(reverse=True)
        return [p for _, p in found]

    def flip_stored(self, where: str) -> None:
        """Flip one byte in the middle of a stored file (or S3 object); size and mtime kept."""
        if self.kind.name == "restic-s3":
            client, bucket, _ = self._s3()
            data = bytearray(client.get_object(Bucket=bucket, Key=where)["Body"].read())
            data[len(data) // 2] ^= 0xFF
            client.put_object(Bucket=bucket, Key=where, Body=bytes(data))
            return
        flip_byte(Path(where))

    def delete_stored(self, where: str) -> None:
        if self.kind.name == "restic-s3":
            client, bucket, _ = self._s3()
            client.delete_object(Bucket=bucket, Key=where)
            return
        path = Path(where)
        path.chmod(0o600)  # restic makes its files read-only
        path.unlink()

    def snapshot_dir(self, snapshot_id: str) -> Path:
        """Where a tree engine keeps snapshot ``snapshot_id`` on this machine."""
        assert self.kind.tree and self.local_path is not None
        return self.local_path / snapshot_id


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Invert one byte of ``path`` in place, keeping its size, mode and mtime.

    The file may be hard-linked and read-only (snapshot trees, restic packs):
    it is written through its inode, the way silent disk corruption would be.
    """
    st = path.stat()
    path.chmod(st.st_mode | stat.S_IWUSR)
    with path.open("r+b") as fh:
        at = st.st_size // 2 if offset is None else offset
        fh.seek(at)
        byte = fh.read(1)
        fh.seek(at)
        fh.write(bytes([byte[0] ^ 0xFF]))
    path.chmod(stat.S_IMODE(st.st_mode))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size


# --------------------------------------------------------------------------- trees


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of a tree as a restore must reproduce it."""

    kind: str
    """``file``, ``dir``, ``link``, ``fifo``, ``socket``, ``device``, ``other``."""
    mode: int
    size: int = 0
    mtime_ns: int = 0
    digest: str = ""
    target: str = ""


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "other"


def _digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def walk(root: Path) -> Iterable[tuple[str, Path, os.stat_result]]:
    """Every entry under ``root`` (not ``root`` itself), never following a symlink."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            yield str(path.relative_to(root)), path, path.lstat()


def tree(root: Path) -> dict[str, Entry]:
    """``root``'s entries by relative path: type, permission bits, and for files size,
    mtime and content digest, for symlinks their target. Special files are never opened."""
    out: dict[str, Entry] = {}
    for rel, path, st in walk(root):
        kind = _kind(st.st_mode)
        mode = stat.S_IMODE(st.st_mode)
        if kind == "file":
            out[rel] = Entry(kind, mode, st.st_size, st.st_mtime_ns, _digest(path))
        elif kind == "link":
            out[rel] = Entry(kind, 0, target=os.readlink(path))
        else:
            out[rel] = Entry(kind, mode)
    return out


def listing(root: Path) -> dict[str, StoredEntry]:
    """A destination directory's entries (see :meth:`Dest.listing`)."""
    if not root.exists():
        return {}
    out: dict[str, StoredEntry] = {}
    for rel, path, st in walk(root):
        kind = _kind(st.st_mode)
        digest = _digest(path) if kind == "file" else ""
        if kind == "link":
            digest = os.readlink(path)
        out[rel] = StoredEntry(kind, st.st_size if kind == "file" else 0, digest, st.st_mode)
    return out


def counts(root: Path) -> tuple[int, int]:
    """(regular files, their bytes) under ``root``: what a listing must say."""
    files = size = 0
    for _, _, st in walk(root):
        if stat.S_ISREG(st.st_mode):
            files += 1
            size += st.st_size
    return files, size


def _write(path: Path, data: bytes, mode: int = 0o644, mtime: int = BASE_MTIME) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    os.utime(path, (mtime, mtime))


def make_source(root: Path, outside: Path | None = None) -> Path:
    """A small source: nested files, odd modes, an empty file and directory, symlinks.

    ``outside`` (created if given) is a directory outside the source that a
    symlink points to: a backup that follows symlinks would count its big file.
    """
    root.mkdir(parents=True)
    _write(root / "a.txt", b"alpha\n" * 10)
    _write(root / "empty", b"", 0o600, BASE_MTIME + 1)
    _write(root / "run.sh", b"#!/bin/sh\necho hi\n", 0o755, BASE_MTIME + 2)
    _write(root / "sub" / "b.bin", os.urandom(20_000), 0o640, BASE_MTIME + 3)
    _write(root / "sub" / "deeper" / "c.txt", b"charlie\n", 0o644, BASE_MTIME + 4)
    _write(root / "sub" / "deeper" / "space name.txt", b"delta\n", 0o644, BASE_MTIME + 5)
    (root / "emptydir").mkdir()
    (root / "private").mkdir(mode=0o750)
    _write(root / "private" / "key", b"secret\n", 0o600, BASE_MTIME + 6)
    (root / "private").chmod(0o750)
    (root / "link-rel").symlink_to("a.txt")
    (root / "link-dangling").symlink_to("does/not/exist")
    if outside is not None:
        outside.mkdir(parents=True, exist_ok=True)
        _write(outside / "big.bin", os.urandom(50_000))
        (root / "link-outside").symlink_to(outside)
    for d in (root / "sub" / "deeper", root / "sub", root / "emptydir", root / "private"):
        os.utime(d, (BASE_MTIME + 100, BASE_MTIME + 100))
    return root


def change_source(root: Path) -> None:
    """An incremental's worth of change: one file edited, one added, one removed."""
    _write(root / "a.txt", b"alpha, edited\n", mtime=BASE_MTIME + 50)
    _write(root / "sub" / "new.txt", b"new\n", mtime=BASE_MTIME + 51)
    (root / "sub" / "deeper" / "c.txt").unlink()


def make_big_source(root: Path, files: int = 300, size: int = 100_000) -> Path:
    """A source that takes a moment to back up, so a cancel lands mid-run."""
    for i in range(files):
        _write(root / f"d{i % 10}" / f"f{i:04d}.bin", os.urandom(size))
    return root


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_socket(path: Path) -> bool:
    """A unix socket at ``path`` (left bound-and-closed, as a dead daemon leaves one)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
    except OSError:
        return False
    finally:
        sock.close()
    return True


def excluded_tree(root: Path, patterns: Sequence[str]) -> set[str]:
    """The relative paths a backup of ``root`` with ``patterns`` must hold (gitignore rules).

    As in git, an excluded directory is not descended into: nothing under it
    can be re-included.
    """
    ex = Excluder(patterns)
    keep: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath).relative_to(root)
        for name in list(dirnames):
            rel = str(base / name)
            if ex.excluded(rel, True):
                dirnames.remove(name)
            else:
                keep.add(rel)
        for name in filenames:
            rel = str(base / name)
            if not ex.excluded(rel, False):
                keep.add(rel)
    return {k.removeprefix("./") for k in keep}
