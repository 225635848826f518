"""Restoring an rsync snapshot (or parts of it) with rsync, in the snapshot engine's layout.

A snapshot's root already is the source layout (one directory source: its
contents; several sources: each under its name), so a restore copies the
snapshot root, or the requested paths with their parents (``--relative``),
into the target. A non-empty target is refused unless ``overwrite``; a dry
run is ``rsync --dry-run`` and writes nothing anywhere, not even the target
directory; a path that is not in the snapshot is an error, never "0 files".
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Sequence

from tui_backup.engines import layout
from tui_backup.engines.api import EngineError, ErrorType, RestoreReport
from tui_backup.engines.common import TargetMetadata
from tui_backup.engines.events import Emit, FileWarning
from tui_backup.engines.process import run_tool
from tui_backup.engines.rsync import manifest
from tui_backup.engines.rsync.backup import WARNING_CODES
from tui_backup.engines.rsync.fidelity import preserve_flags, unsupported_metadata
from tui_backup.engines.rsync.store import MANIFEST_SUFFIX, Store
from tui_backup.engines.throttle import ProgressReporter
from tui_backup.model.job import JobSpec


def normalize_request(path: str, sources: Sequence[tuple[str, str]]) -> str:
    """A requested path relative to the snapshot root; refuse ``..`` and foreign paths.

    ``path`` is relative to the snapshot root, or absolute under one of the
    job's sources (``sources`` holds ``(source path, prefix)`` pairs).
    """
    if os.path.isabs(path):
        norm = os.path.normpath(path)
        for source, prefix in sources:
            src = os.path.normpath(source)
            if norm == src or norm.startswith(src.rstrip("/") + "/"):
                rest = norm[len(src) :].lstrip("/")
                path = "/".join(p for p in (prefix, rest) if p)
                break
        else:
            raise EngineError(
                f"{path} is not inside any source of this job; give a path relative to "
                "the snapshot instead",
                ErrorType.BAD_PATH,
            )
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise EngineError(f"{path!r} climbs out of the snapshot with '..'", ErrorType.BAD_PATH)
    return "/".join(parts)


def restore(
    binary: str,
    spec: JobSpec,
    store: Store,
    sid: str,
    target: str,
    paths: Sequence[str],
    *,
    dry_run: bool,
    overwrite: bool,
    cancel: threading.Event | None,
    emit: Emit | None,
) -> RestoreReport:
    if not target:
        raise EngineError("a restore needs a target directory", ErrorType.INVALID_TARGET)
    target = os.path.abspath(os.path.expanduser(target))
    if store.host is None:
        refuse_target_in_destination(store.path, target)
    summary = store.summary(sid) or {}
    recorded = summary.get("sources")
    if isinstance(recorded, list):
        sources = [
            (str(s.get("path", "")), str(s.get("prefix", "")))
            for s in recorded
            if isinstance(s, dict)
        ]
    else:
        sources = [(p.path, p.prefix) for p in layout.plan_sources(spec.sources)]
    requests = [normalize_request(p, sources) for p in paths]
    if "" in requests:
        requests = []  # the snapshot root: everything
    missing = store.missing(sid, requests)
    if missing:
        shown = ", ".join(missing[:3]) + (
            f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        )
        raise EngineError(f"not in snapshot {sid}: {shown}", ErrorType.PATH_NOT_IN_SNAPSHOT)
    if os.path.lexists(target) and not os.path.isdir(target):
        raise EngineError(f"{target} exists and is not a directory", ErrorType.INVALID_TARGET)
    if not overwrite and os.path.isdir(target) and os.listdir(target):
        raise EngineError(
            f"the restore target {target} is not empty; choose an empty directory or "
            "allow overwriting",
            ErrorType.TARGET_NOT_EMPTY,
        )
    argv = [binary, "-a", *preserve_flags(spec.preserve), "-8", "--numeric-ids"]
    if not makes_specials(store, sid):
        # The backup stored no special file: any in the snapshot was planted there
        # afterwards. rsync leaves each out and names it ("skipping non-regular file").
        argv += ["--no-specials", "--no-devices"]
    argv.append("--out-format=%i\t%l\t%n")
    if store.ssh is not None:
        argv += ["-e", store.ssh.rsync_shell]
    if overwrite:
        argv.append("--ignore-times")  # transfer everything: the counts are the restore
    if dry_run:
        argv.append("--dry-run")
    if requests:
        argv.append("--relative")
        sources_args = [store.url(sid) + "/./" + r for r in requests]
    else:
        sources_args = [store.url(sid) + "/"]
    if not dry_run:
        try:
            os.makedirs(target, exist_ok=True)
        except OSError as exc:
            raise EngineError(
                f"cannot create the restore target {target}: {exc.strerror}",
                ErrorType.INVALID_TARGET,
            ) from exc
    reporter = ProgressReporter(emit or (lambda _e: None))
    reporter.set_phase("restore")
    planned: list[str] = []
    counts = [0, 0]

    planted: list[str] = []

    def on_line(line: str) -> None:
        if line.startswith(_SKIPPED) and line.endswith('"'):
            planted.append(line[len(_SKIPPED) : -1])
            return
        fields = line.split("\t", 2)
        if len(fields) != 3 or len(fields[0]) != 11:
            return
        item, length, name = fields
        if item[1] == "L":
            planned.append(name)
        elif item[1] == "f":
            size = int(length) if length.isdigit() else 0
            planned.append(name)
            counts[0] += 1
            counts[1] += size
            reporter.advance(1, size, name)

    own = None if dry_run else TargetMetadata.read(target)
    try:
        result = run_tool(
            [*argv, "--", *sources_args, target + "/"], on_line=on_line, cancel=cancel
        )
    finally:
        if own is not None:
            own.put_back(target)
    if result.cancelled or result.returncode == 20:
        raise EngineError("restore stopped before it finished", ErrorType.STOPPED)
    warnings = 0
    skipped = tuple(f"{p}: a special file the backup did not make; not restored" for p in planted)
    for entry in skipped:
        warnings += 1
        if emit is not None:
            emit(FileWarning(entry.split(": ", 1)[0], entry.split(": ", 1)[1]))
    if result.returncode in WARNING_CODES:
        lost = unsupported_metadata(result.stderr)
        if lost:  # the files are there; say plainly what they lack
            warnings += 1
            if emit is not None:
                what = " and ".join(lost)
                emit(FileWarning("", f"the restore target {target} cannot hold {what}"))
        for line in result.stderr.splitlines():
            if line.startswith("rsync:"):
                warnings += 1
                if emit is not None:
                    emit(FileWarning(line.split('"')[1] if '"' in line else "", line))
    elif result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        raise EngineError(
            f"restore into {target} failed: {lines[-1] if lines else result.returncode}",
            ErrorType.RESTORE_FAILED,
        )
    reporter.tick(force=True)
    return RestoreReport(
        snapshot_id=sid,
        target=target,
        files=counts[0],
        bytes=counts[1],
        warnings=warnings,
        dry_run=dry_run,
        planned=tuple(planned),
        skipped=skipped,
    )


_SKIPPED = 'skipping non-regular file "'


def makes_specials(store: Store, sid: str) -> bool:
    """Whether snapshot ``sid`` may hold special files the backup made.

    Only a version 2 manifest lists them: with one that lists none, every
    special file in the snapshot was put there afterwards. Without a
    manifest (or an older one) nothing is known, and everything is restored.
    """
    raw = store.read_meta(sid + MANIFEST_SUFFIX)
    if raw is None:
        return True
    try:
        loaded = manifest.load_versioned(raw)
    except manifest.ManifestError:
        return True
    return loaded.version < 2 or any(e.kind == "s" for e in loaded.entries.values())


def refuse_target_in_destination(dest: str, target: str) -> None:
    """Refuse a local restore into a snapshot, the metadata or the destination itself.

    Restoring into a committed snapshot would change the backup (and a
    restore into itself nests copies); compared by device and inode of the
    target's existing ancestors, so ``latest`` or another symlink does not
    get around it. (The snapshot engine has the same rule; a shared helper in
    ``engines.common`` would serve both.)
    """
    guarded: set[tuple[int, int]] = set()
    try:
        st = os.stat(dest)
        guarded.add((st.st_dev, st.st_ino))
        with os.scandir(dest) as it:
            for entry in it:
                stem = entry.name.removesuffix(layout.PARTIAL_SUFFIX)
                if entry.name != layout.META_DIR and layout.parse_id(stem) is None:
                    continue
                with contextlib.suppress(OSError):
                    est = entry.stat(follow_symlinks=False)
                    if stat.S_ISDIR(est.st_mode):
                        guarded.add((est.st_dev, est.st_ino))
    except OSError:
        return
    path = os.path.abspath(target)
    while not os.path.lexists(path) and path != "/":
        path = os.path.dirname(path)
    path = os.path.realpath(path)
    while True:
        with contextlib.suppress(OSError):
            st = os.stat(path)
            if (st.st_dev, st.st_ino) in guarded:
                raise EngineError(
                    f"the restore target {target} is inside the backup destination {dest}; "
                    "restoring there would change the backups themselves. Choose a "
                    "directory outside it",
                    ErrorType.INVALID_TARGET,
                )
        if path == "/":
            return
        path = os.path.dirname(path)
