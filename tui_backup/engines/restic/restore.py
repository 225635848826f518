"""Restoring a restic snapshot with the layout every engine uses.

restic restores a snapshot under the full absolute source path
(``target/home/ana/docs/...``) and 0.14 has no ``<id>:<subfolder>``. Our
layout is relative to the source (docs/engines.md): one directory source ->
its contents at the target root; several sources -> each under its basename.
So restic restores into a staging directory inside the target (same
filesystem, so moving is a rename) and each source's subtree is moved to its
place; the staging directory is removed whatever happens. restic reaches it
through a short symlink (``/tmp/tbr-XXXX/s``), so a deep branch restores
whatever the target's own path length.

Everything that would refuse the restore is decided first, from the
snapshot's own listing (``restic ls --json``): a path not in the snapshot
(relative to the snapshot root, never "at any depth"), an escape with ``..``,
a non-empty target without ``overwrite``. A dry run reads that listing only
and writes nothing anywhere. The report counts what is in the target
afterwards, not what was asked for.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from tui_backup.engines.api import EngineError, ErrorType, RestoreReport
from tui_backup.engines.common import TargetMetadata
from tui_backup.engines.layout import SourcePlan
from tui_backup.engines.restic.command import Restic
from tui_backup.engines.restic.excludes import escape
from tui_backup.engines.restic.listing import ResticSnapshot, walk_nodes

STAGING_PREFIX = ".tui-backup-restore-"


@dataclass(frozen=True, slots=True)
class Node:
    abs_path: str
    rel: str
    """Path relative to the snapshot root of our layout ("" for the root itself)."""
    kind: str
    size: int


def plan(snap: ResticSnapshot, nodes: list[dict]) -> tuple[list[SourcePlan], list[Node]]:
    """Our layout for ``snap``: where each source goes, and every node under a source.

    The snapshot's own ``paths`` decide (not the job's current sources, which
    may have changed since); a single path is the root only when it is a
    directory in the snapshot.
    """
    by_path = {str(n.get("path")): n for n in nodes}
    roots = sorted(snap.paths)
    plans: list[SourcePlan]
    if len(roots) == 1 and (by_path.get(roots[0]) or {}).get("type") == "dir":
        plans = [SourcePlan(roots[0], "")]
    else:
        used: set[str] = set()
        plans = []
        for root in snap.paths:
            base = posixpath.basename(root.rstrip("/")) or "root"
            name, n = base, 2
            while name in used:
                name, n = f"{base}-{n}", n + 1
            used.add(name)
            plans.append(SourcePlan(root, name))
    out: list[Node] = []
    for path, node in by_path.items():
        for p in plans:
            if path == p.path:
                rel = p.prefix
            elif path.startswith(p.path.rstrip("/") + "/"):
                rest = path[len(p.path.rstrip("/")) + 1 :]
                rel = f"{p.prefix}/{rest}" if p.prefix else rest
            else:
                continue
            if rel:
                out.append(Node(path, rel, str(node.get("type")), int(node.get("size") or 0)))
            break
    out.sort(key=lambda n: n.rel)
    return plans, out


def normalize(path: str, plans: list[SourcePlan]) -> str:
    """A requested path relative to the snapshot root; absolute ones must be in a source."""
    if os.path.isabs(path):
        norm = posixpath.normpath(path)
        for p in plans:
            src = posixpath.normpath(p.path)
            if norm == src or norm.startswith(src.rstrip("/") + "/"):
                rest = norm[len(src) :].lstrip("/")
                return "/".join(x for x in (p.prefix, rest) if x)
        raise EngineError(
            f"{path} is not inside any source of this snapshot; give a path relative "
            "to the snapshot instead",
            ErrorType.BAD_PATH,
        )
    parts = [x for x in path.split("/") if x not in ("", ".")]
    if ".." in parts:
        raise EngineError(
            f"{path!r} climbs out of the snapshot with '..'; refused", ErrorType.BAD_PATH
        )
    return "/".join(parts)


def select(
    nodes: list[Node], requested: Sequence[str], plans: list[SourcePlan]
) -> tuple[list[Node], list[str]]:
    """The nodes a restore of ``requested`` covers, and the absolute snapshot paths to
    pass to ``--include`` (none: everything); refuse a path the snapshot lacks."""
    if not requested:
        return nodes, []
    by_rel = {n.rel: n for n in nodes}
    wanted: list[str] = []
    for raw in requested:
        rel = normalize(raw, plans)
        if rel == "":
            return nodes, []
        if rel not in by_rel:
            raise EngineError(
                f"{raw!r} is not in the snapshot (paths are relative to the snapshot root)",
                ErrorType.PATH_NOT_IN_SNAPSHOT,
            )
        wanted.append(rel)
    chosen = [n for n in nodes if any(n.rel == w or n.rel.startswith(w + "/") for w in wanted)]
    return chosen, [by_rel[w].abs_path for w in wanted]


def _has_entries(target: str) -> bool:
    try:
        with os.scandir(target) as it:
            return any(True for _ in it)
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        raise EngineError(f"{target} is not a directory", ErrorType.INVALID_TARGET) from None


def restore(
    restic: Restic,
    snap: ResticSnapshot,
    target: str,
    paths: Sequence[str],
    *,
    dry_run: bool,
    overwrite: bool,
    cancel: threading.Event | None,
) -> RestoreReport:
    target = os.path.abspath(os.path.expanduser(target))
    plans, nodes = plan(snap, walk_nodes(restic, snap.id))
    chosen, includes = select(nodes, paths, plans)
    files = [n for n in chosen if n.kind == "file"]
    if dry_run:
        return RestoreReport(
            snap.short_id,
            target,
            len(files),
            sum(n.size for n in files),
            dry_run=True,
            planned=tuple(n.rel for n in chosen if n.kind != "dir"),
        )
    if _has_entries(target) and not overwrite:
        raise EngineError(
            f"{target} is not empty; choose an empty directory or pass --overwrite",
            ErrorType.TARGET_NOT_EMPTY,
        )
    parent = os.path.dirname(target.rstrip("/")) or "/"
    if not os.path.isdir(parent):
        raise EngineError(
            f"the target's parent directory {parent} does not exist", ErrorType.INVALID_TARGET
        )
    own = TargetMetadata.read(target)  # an existing target keeps its own metadata
    os.makedirs(target, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=target)
    link_dir = None
    try:
        short, link_dir = _short_name(staging)
        args = ["restore", snap.id, "--target", short]
        if restic.spec.preserve.sparse and "--sparse" in restore_options(restic.binary):
            args.append("--sparse")  # restic >= 0.15; 0.14 writes every hole out as zeros
        for path in includes:
            args += ["--include", escape(path)]
        result, _ = restic.call(args, cancel=cancel)
        if result.cancelled:
            raise EngineError("restore stopped", ErrorType.STOPPED)
        if result.returncode != 0 and not _restored_anything(staging):
            restic.check(result, "restic restore failed")
        for p in plans:
            staged = staging + p.path
            if not os.path.lexists(staged):
                continue
            if p.prefix:
                _merge(staged, os.path.join(target, p.prefix))
            elif os.path.isdir(staged):
                for entry in os.listdir(staged):
                    _merge(os.path.join(staged, entry), os.path.join(target, entry))
    finally:
        if link_dir is not None:
            shutil.rmtree(link_dir, ignore_errors=True)
        _remove(staging)
        if own is not None:
            own.put_back(target)
    return _report(snap, target, files)


@functools.cache
def restore_options(binary: str) -> frozenset[str]:
    """The long options this restic's ``restore`` knows (``--sparse`` came with 0.15).

    What restic keeps is its own business (docs/engines.md): xattrs, ACLs
    (as ``system.posix_acl_*`` xattrs) and hard links always, with no switch
    to leave them out; holes only where ``restore --sparse`` exists.
    """
    try:
        out = subprocess.run(
            [binary, "help", "restore"], capture_output=True, text=True, timeout=60, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(re.findall(r"--[a-z][a-z-]*", out))


def _short_name(staging: str) -> tuple[str, str | None]:
    """A short path that leads to ``staging``, and the private directory holding it.

    restic 0.14 writes every entry as ``<target>/<its absolute source path>``
    and reaches it by that whole path: the target's own length is taken from
    what a deep branch may hold (PATH_MAX, 4,096 bytes). A symlink in a fresh
    0700 directory under the temporary directory (``/tmp/tbr-XXXX/s``) stands
    for the staging directory, so restic restores everything it could read at
    backup time whatever the target's path. Only when that cannot be made
    does restic get the staging directory itself.
    """
    base = tempfile.gettempdir()
    if len(base) + 16 >= len(staging):
        return staging, None
    try:
        link_dir = tempfile.mkdtemp(prefix="tbr-", dir=base)
    except OSError:
        return staging, None
    link = os.path.join(link_dir, "s")
    try:
        os.symlink(staging, link)
    except OSError:
        shutil.rmtree(link_dir, ignore_errors=True)
        return staging, None
    return link, link_dir


def _restored_anything(staging: str) -> bool:
    return _has_entries(staging)


def _merge(src: str, dst: str) -> None:
    """Move ``src`` to ``dst``; directories merge, anything else in the way is replaced.

    Iterative (an explicit stack, each merged directory's mode and times set
    after its contents): a restore over an existing tree of any depth never
    meets Python's recursion limit.
    """
    stack: list[tuple[str, str, bool]] = [(src, dst, False)]
    while stack:
        s, d, contents_done = stack.pop()
        if contents_done:
            st = os.lstat(s)
            os.chmod(d, st.st_mode & 0o7777)
            os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))
            continue
        if _real_dir(s) and _real_dir(d):
            stack.append((s, d, True))
            stack.extend((os.path.join(s, e), os.path.join(d, e), False) for e in os.listdir(s))
            continue
        if os.path.lexists(d):
            if _real_dir(d):
                _remove(d)
            else:
                os.unlink(d)
        os.rename(s, d)


def _remove(path: str) -> None:
    """``rm -rf``: iterative at any depth (Python's rmtree recurses once per level)."""
    subprocess.run(["chmod", "-R", "u+rwX", "--", path], capture_output=True, check=False)
    subprocess.run(["rm", "-rf", "--", path], capture_output=True, check=False)


def _real_dir(path: str) -> bool:
    return os.path.isdir(path) and not os.path.islink(path)


def _report(snap: ResticSnapshot, target: str, files: list[Node]) -> RestoreReport:
    """Count the regular files in the target now; any asked for and absent is skipped."""
    done = nbytes = 0
    skipped: list[str] = []
    for n in files:
        st = _lstat_listed(target, n.rel)
        if st is None:
            skipped.append(f"{n.rel}: not restored by restic")
            continue
        done += 1
        nbytes += st.st_size
    return RestoreReport(
        snap.short_id, target, done, nbytes, warnings=len(skipped), skipped=tuple(skipped)
    )


def _lstat_listed(target: str, rel: str) -> os.stat_result | None:
    """The restored entry ``restic ls --json`` called ``rel``, or None.

    JSON carries no raw bytes: a name that is not UTF-8 is listed with
    U+FFFD in place of each bad byte, while restic restores the real name.
    Such a component is matched against the names on disk, decoded the way
    restic's listing did, so a non-UTF-8 name is not reported missing.
    """
    path = os.path.join(target, rel)
    try:
        return os.lstat(path)
    except OSError:
        if "\ufffd" not in rel:
            return None
    here = target
    for listed in rel.split("/"):
        name = listed
        if "\ufffd" in listed:
            try:
                names = os.listdir(here)
            except OSError:
                return None
            found = [n for n in names if os.fsencode(n).decode("utf-8", "replace") == listed]
            if len(found) != 1:
                return None
            name = found[0]
        here = os.path.join(here, name)
    try:
        return os.lstat(here)
    except OSError:
        return None
