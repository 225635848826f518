"""One rsync backup run: ``rsync --link-dest`` into ``<id>.partial``, manifest, commit.

Every source is one rsync call (the layout of :func:`~tui_backup.engines.layout.plan_sources`).
After the copy the snapshot is listed and every file given its manifest
digest without reading it again: the md5 rsync computed while copying it
(:mod:`~tui_backup.engines.rsync.digests`), or the previous manifest's for a
file rsync hard-linked from the previous snapshot; only a file rsync gave no
checksum for (rare) is hashed. The manifest and summary are written, and only
then is the partial renamed to its id: the commit point. Any failure, stop or
crash on the way removes the partial and its metadata.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tui_backup.engines import layout
from tui_backup.engines.api import EngineError, ErrorType, RunOptions
from tui_backup.engines.common import CountingReporter
from tui_backup.engines.events import Emit, FileWarning, Finished
from tui_backup.engines.process import run_tool
from tui_backup.engines.rsync import manifest, racy
from tui_backup.engines.rsync.connection import shared
from tui_backup.engines.rsync.destination import open_store
from tui_backup.engines.rsync.digests import CHECKSUM_CHOICE, OUT_FORMAT, CopyDigests
from tui_backup.engines.rsync.fidelity import (
    explain,
    preserve_flags,
    unsupported_message,
    unsupported_metadata,
)
from tui_backup.engines.rsync.fifo_watch import blocked_on_fifo
from tui_backup.engines.rsync.filters import excluded_paths, rules_file
from tui_backup.engines.rsync.location import Location, SshSettings, Stopped
from tui_backup.engines.rsync.progress import CopyProgress
from tui_backup.engines.rsync.store import (
    MANIFEST_SUFFIX,
    SUMMARY_SUFFIX,
    Store,
    Tree,
)
from tui_backup.model.job import JobSpec
from tui_backup.model.status import Status

log = logging.getLogger(__name__)

WARNING_CODES = {23, 24}
"""Some files could not be transferred / vanished: warnings, the snapshot is kept."""
STOPPED_CODES = {20}
TRANSIENT_CODES = {5, 10, 12, 30, 35, 255}
"""Socket, protocol and timeout errors, and ssh's own failures: worth a retry."""
PROGRESS_INTERVAL = 0.1
"""Seconds between two Progress events of a run (tests set 0: every line reports)."""
STALL_ATTEMPTS = 5
"""rsync calls of one source that may end stuck on a FIFO before the run fails."""


@dataclass(frozen=True, slots=True)
class ChecksumPlan:
    compare: bool
    """Pass ``--checksum``: compare contents with the previous snapshot, not size+mtime."""
    reason: str


def plan_checksum(
    spec: JobSpec, options: RunOptions, previous: dict[str, object] | None, damaged: bool,
    now: datetime,
) -> ChecksumPlan:  # fmt: skip
    """Whether this run re-reads every source file, and why."""
    if options.checksum:
        return ChecksumPlan(True, "asked")
    if damaged:
        return ChecksumPlan(True, "the last verify found damage")
    if spec.checksum_every is None or previous is None:
        return ChecksumPlan(False, "")
    last = _parse_time(previous.get("last_checksum"))
    if last is None or last <= spec.checksum_every.subtract_from(now):
        return ChecksumPlan(True, f"checksum_every {spec.checksum_every}")
    return ChecksumPlan(False, "")


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Counts:
    """What a summary counts: regular files and their bytes, symlinks, special files."""

    files: int
    bytes: int
    links: int
    specials: int

    @classmethod
    def of(cls, tree: Tree) -> Counts:
        nbytes = sum(size for _ino, size in tree.files.values())
        return cls(len(tree.files), nbytes, len(tree.links), len(tree.specials))


class Backup:
    """One run of one job; :meth:`run` emits the ``Finished`` or raises ``EngineError``."""

    def __init__(
        self,
        binary: str,
        spec: JobSpec,
        cancel: threading.Event,
        emit: Emit,
        options: RunOptions,
        now: datetime,
    ) -> None:
        self.binary = binary
        self.spec = spec
        self.cancel = cancel
        self.emit = emit
        self.options = options
        self.now = now
        self.reporter = CountingReporter(emit, PROGRESS_INTERVAL)
        self.reporter.counting = True  # nothing is known of the totals until rsync has scanned
        self.warnings = 0
        self.ssh = SshSettings.from_spec(spec) if spec.is_remote else None
        self.digests = CopyDigests()
        self.digest_flags = [CHECKSUM_CHOICE, OUT_FORMAT]
        """Dropped (and every copied file hashed instead) for an rsync without them."""
        self.start_ns = time.time_ns()
        """When the copy started: a copy not older than this (minus a margin) is racy."""
        self.recheck: list[str] = []
        """The previous snapshot's racy paths: copied again, whatever size and mtime say."""
        self.racy: list[str] = []
        """This snapshot's racy paths, recorded at commit."""

    def run(self) -> None:
        host = Location.parse(self.spec.destination).host
        with shared(self.ssh, host) as ssh:
            self.ssh = ssh
            self._run()

    def _run(self) -> None:
        self.reporter.set_phase("scan")
        store = open_store(self.spec.destination, self.ssh, create=True)
        store.claim(self.spec.name)
        store.remove(store.leftovers())
        ids = store.ids()
        previous = ids[0] if ids else None
        prev_summary = store.summary(previous) if previous else None
        damaged = store.damaged
        checksum = plan_checksum(self.spec, self.options, prev_summary, damaged, self.now)
        if previous is not None:
            self.recheck = racy.load(store.read_meta(previous + racy.SUFFIX))
        sid = self._new_id(store)
        partial = sid + layout.PARTIAL_SUFFIX
        committed = stopped = False
        try:
            stopped = self._copy(store, previous, partial, checksum.compare)
            if not stopped:
                try:
                    files, nbytes, manifest_data, summary_data = self._metadata(
                        store, sid, partial, previous, checksum, prev_summary
                    )
                except OSError as exc:
                    gone = self._gone(store, exc)
                    if gone is None:
                        raise
                    raise gone from exc
                if self.cancel.is_set():
                    raise Stopped
                try:
                    if self.racy:
                        store.write_meta(sid + racy.SUFFIX, racy.dump(self.racy))
                    store.finish(partial, sid, manifest_data, summary_data, clear_damage=damaged)
                except (OSError, EngineError) as exc:
                    raise self._gone(store, exc) or EngineError(
                        f"could not commit the snapshot {sid}: {exc}", ErrorType.COMMIT_FAILED
                    ) from exc
                committed = True
        except Stopped:
            stopped = True
        finally:
            # Before the Finished is emitted (here or by the caller): whoever
            # sees the end of the run sees no partial.
            if not committed:
                self._discard(store, sid, partial)
        if stopped:
            self.emit(Finished(Status.STOPPED, warnings=self.warnings))
            return
        self.reporter.tick(force=True)
        log.info("rsync snapshot %s of %s: %d files, %d bytes", sid, self.spec.name, files, nbytes)
        self.emit(
            Finished(
                Status.SUCCEEDED, files=files, bytes=nbytes, warnings=self.warnings, snapshot_id=sid
            )
        )

    # -- steps -----------------------------------------------------------------

    def _new_id(self, store: Store) -> str:
        base = layout.format_id(self.now)
        n = 1
        while True:
            candidate = base if n == 1 else f"{base}-{n}"
            if (
                candidate not in store.entries
                and candidate + layout.PARTIAL_SUFFIX not in store.entries
            ):
                return candidate
            n += 1

    def _gone(self, store: Store, exc: BaseException) -> EngineError | None:
        """``DESTINATION_MISSING`` when a local destination vanished after the copy, else None.

        A disk unmounted (or pulled) between rsync's copy and the manifest makes
        listing, hashing or committing the partial fail with ``FileNotFoundError``
        or ``ENOTDIR``: that is the same transient "disk not there" as a run
        refused up front, not an engine crash.
        """
        if store.host is not None or os.path.isdir(store.path):
            return None
        reason = getattr(exc, "strerror", None) or str(exc)
        return EngineError(
            f"the destination {store.label} disappeared during the run (is the backup disk "
            f"still mounted?); nothing was committed: {reason}",
            ErrorType.DESTINATION_MISSING,
        )

    def _discard(self, store: Store, sid: str, partial: str) -> None:
        """Remove what a failed or stopped run wrote; never hides the original error."""
        meta = layout.META_DIR
        try:
            store.remove(
                [
                    partial,
                    f"{meta}/{sid}{MANIFEST_SUFFIX}",
                    f"{meta}/{sid}{SUMMARY_SUFFIX}",
                    f"{meta}/{sid}{racy.SUFFIX}",
                ]
            )
        except (OSError, EngineError) as exc:
            log.warning("could not remove %s in %s: %s", partial, store.label, exc)

    def _copy(self, store: Store, previous: str | None, partial: str, checksum: bool) -> bool:
        """rsync every source into the partial; True when stopped."""
        self.reporter.set_phase("copy")
        self.start_ns = time.time_ns()
        progress = CopyProgress(
            self.reporter, first_run=previous is None, interval=PROGRESS_INTERVAL
        )
        plans = layout.plan_sources(self.spec.sources)
        for index, plan in enumerate(plans):
            is_dir = os.path.isdir(plan.path) and not os.path.islink(plan.path)
            argv = [
                self.binary,
                "-a",
                *preserve_flags(self.spec.preserve),
                "--numeric-ids",
                "--info=progress2,stats2",  # incremental recursion: progress from the start
                "--mkpath",
            ]
            if checksum:
                argv.append("--checksum")
            if self.ssh is not None:
                argv += ["-e", self.ssh.rsync_shell]
            again = racy.for_source(self.recheck, plan.prefix, single_file=not is_dir)
            second = list(argv)
            parts = [p for p in (plan.prefix,) if p]
            if previous:
                # rsync looks a file up as <link-dest>/<its name in the destination
                # directory>: for a directory source that directory is the source's
                # place in the snapshot, for a file source the snapshot root.
                argv.append("--link-dest=" + store.abs(previous, *(parts if is_dir else [])))
            progress.start(last=index == len(plans) - 1)
            rules: str | None = None
            if is_dir and self.spec.exclude:
                excluded = excluded_paths(
                    plan.path, self.spec.exclude, self.cancel, on_kept=progress.walked
                )
                if excluded:
                    rules = rules_file(excluded, tempfile.gettempdir())
                    argv += [f"--exclude-from={rules}"]
                    # Not passed to the second pass: its --from0 (for --files-from) would
                    # make rsync read the rules file NUL-separated too.
                    again = [p for p in again if not _under_any(p, excluded)]
            if is_dir:
                src = plan.path.rstrip("/") + "/"
                target = store.url(partial, *parts) + "/"
            else:
                src = plan.path
                target = store.url(partial, *parts)
            self.digests.start(plan.prefix, single_file=not is_dir)
            try:
                root = plan.path if is_dir else None
                code, stderr = self._rsync([*argv, "--", src, target], progress.line, root)
                if code not in (0, None, *STOPPED_CODES, *WARNING_CODES) and self._no_choice(
                    stderr
                ):
                    code, stderr = self._rsync([*argv, "--", src, target], progress.line, root)
                if again and code in (0, *WARNING_CODES):
                    if self._handle(code, stderr, store):
                        return True
                    code, stderr = self._again(second, again, src, target)
            finally:
                progress.end()
                if rules is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(rules)
            if self._handle(code, stderr, store):
                return True
        return False

    def _again(
        self, argv: list[str], paths: list[str], src: str, target: str
    ) -> tuple[int | None, str]:
        """Copy the previous snapshot's racy ``paths`` of one source again into the
        partial with ``--ignore-times``: rsync writes a new file and renames it over
        the hard link ``--link-dest`` made, so a same-size, same-mtime rewrite is seen."""
        log.debug("copying %d racy file(s) of %s again", len(paths), src)
        argv = [*argv, "--ignore-times"]
        if paths == ["."]:  # a single-file source
            return self._rsync([*argv, "--", src, target], None)
        fd, listing = tempfile.mkstemp(prefix="tui-backup-racy-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(b"".join(os.fsencode(p) + b"\0" for p in paths))
            # Names that are gone from the source are not an error of this run.
            argv += [f"--files-from={listing}", "--from0", "--ignore-missing-args"]
            return self._rsync([*argv, "--", src, target], None)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(listing)

    def _handle(self, code: int | None, stderr: str, store: Store) -> bool:
        """Warnings emitted, failures raised for one rsync call; True when stopped."""
        if code is None or code in STOPPED_CODES:
            return True
        if code in WARNING_CODES:
            lost = unsupported_metadata(stderr)
            if lost:  # not a per-file hiccup: the destination drops them all
                where = f"the destination {store.label}"
                raise EngineError(
                    unsupported_message(lost, where, stderr), ErrorType.DESTINATION_ERROR
                )
            for line in stderr.splitlines():
                if line.startswith(("rsync:", "file has vanished")):
                    self.warnings += 1
                    path = line.split('"')[1] if '"' in line else ""
                    self.emit(FileWarning(path, explain(line, path)))
            self.reporter.warnings = self.warnings
        elif code != 0:
            self._fail(code, stderr, store)
        return False

    def _rsync(
        self,
        argv: list[str],
        on_progress: Callable[[str], None] | None,
        root: str | None = None,
    ) -> tuple[int | None, str]:
        """Run one rsync call; ``root``: the directory source it copies (for leaving a
        file that became a FIFO out of a retry)."""
        take = self.digests.line

        def on_lines(lines: list[str]) -> None:
            # Progress is throttled anyway (CopyProgress keeps only the newest line
            # of an interval): of one read only its last progress line is handed on,
            # unless every line reports (PROGRESS_INTERVAL 0, as the tests set).
            every = PROGRESS_INTERVAL <= 0
            newest: str | None = None
            for line in lines:
                if not take(line) and on_progress is not None:
                    if every:
                        on_progress(line)
                    elif "%" in line:
                        newest = line
            if newest is not None:
                on_progress(newest)  # type: ignore[misc]

        flags = self.digest_flags
        at = argv.index("--")
        left_out: list[str] = []
        rules: str | None = None
        try:
            for attempt in range(1, STALL_ATTEMPTS + 1):
                extra = [f"--exclude-from={rules}"] if rules is not None else []
                result = run_tool(
                    [*argv[:at], *flags, *extra, *argv[at:]],
                    on_lines=on_lines,
                    cancel=self.cancel,
                    split_cr=True,
                    watchdog=blocked_on_fifo,
                )
                if result.cancelled:
                    return None, result.stderr
                if result.stalled is None:
                    return result.returncode, result.stderr
                rel = _inside(result.stalled, root)
                if rel is not None and rel not in left_out:
                    left_out.append(rel)
                    if rules is not None:
                        os.unlink(rules)
                    rules = rules_file(left_out, tempfile.gettempdir())
                self._stalled(result.stalled, left_out=rel is not None)
                if attempt == STALL_ATTEMPTS:
                    raise EngineError(
                        f"rsync was stuck opening {result.stalled}, a file that became a FIFO "
                        f"after rsync listed it, {STALL_ATTEMPTS} times; stopped it, nothing "
                        "was committed",
                        ErrorType.TOOL_FAILED,
                    )
        finally:
            if rules is not None:
                with contextlib.suppress(OSError):
                    os.unlink(rules)
        raise AssertionError("unreachable")

    def _stalled(self, what: str, *, left_out: bool) -> None:
        """rsync was stopped, stuck opening a file that became a FIFO after it listed
        it (it would have waited for a writer forever). The same call runs again,
        without that file when its path is known (a source that keeps swapping
        FIFOs in would block every retry), else as it was (rsync then lists the FIFO
        as what it is now); :data:`STALL_ATTEMPTS` stalls fail the run."""
        self.warnings += 1
        self.reporter.warnings = self.warnings
        if left_out:
            reason = (
                "became a FIFO while it was backed up (rsync would have waited forever to "
                "read it): left out of this snapshot; the next run backs it up again"
            )
        else:
            reason = (
                "a file became a FIFO while it was backed up (rsync would have waited "
                "forever to read it): rsync was stopped and this source copied again"
            )
        self.emit(FileWarning("" if what == "a FIFO" else what, reason))

    def _no_choice(self, stderr: str) -> bool:
        """An rsync (either end) older than 3.2 refused ``--checksum-choice``: True when
        the flags are dropped for the rest of the run (its files are then hashed)."""
        if not self.digest_flags or "checksum-choice" not in stderr:
            return False
        log.warning("rsync does not know --checksum-choice (older than 3.2): hashing copies")
        self.digest_flags = []
        self.digests.found.clear()
        return True

    def _fail(self, code: int, stderr: str, store: Store) -> None:
        lines = stderr.strip().splitlines()
        message = lines[-1] if lines else f"rsync exited with {code}"
        if "No space left" in stderr:
            raise EngineError(
                f"the destination {store.label} is full (No space left on device)",
                ErrorType.DISK_FULL,
            )
        if store.host is not None and "rsync: command not found" in stderr:
            raise EngineError(
                f"rsync is not installed on {store.host} (it is needed at both ends)",
                ErrorType.TOOL_MISSING,
            )
        if store.host is not None and code in (255, 12) and "ssh" in stderr.lower():
            raise EngineError(
                f"cannot reach {store.host} over ssh: {message}",
                ErrorType.DESTINATION_UNREACHABLE,
            )
        raise Reported(
            Finished(
                Status.FAILED,
                warnings=self.warnings,
                error=f"rsync failed ({code}): {message}",
                error_type=ErrorType.TOOL_FAILED,
                transient=code in TRANSIENT_CODES,
                details=stderr,
            )
        )

    def _metadata(
        self,
        store: Store,
        sid: str,
        partial: str,
        previous: str | None,
        checksum: ChecksumPlan,
        prev_summary: dict[str, object] | None,
    ) -> tuple[int, int, bytes, bytes]:
        """Counts, manifest and summary of the new snapshot, from rsync's digests and the
        previous manifest (a file is hashed only when neither knows it)."""
        reporter = self.reporter
        reporter.set_phase("commit")
        now = (manifest.VERSION, manifest.ALGORITHM)
        if previous is not None and not self.recheck and self.digests.same_as(prev_summary):
            # rsync linked every entry and counted as many as last time: the snapshot
            # is the previous one, and so is its manifest (no tree is listed).
            assert prev_summary is not None
            prev_manifest = store.read_meta(previous + MANIFEST_SUFFIX)
            if prev_manifest is not None and manifest.header_of(prev_manifest) == now:
                counts = Counts(
                    int(prev_summary["files"]),  # type: ignore[call-overload]
                    int(prev_summary["bytes"]),  # type: ignore[call-overload]
                    int(prev_summary["links"]),  # type: ignore[call-overload]
                    int(prev_summary["specials"]),  # type: ignore[call-overload]
                )
                return self._unchanged(sid, counts, checksum, prev_summary, prev_manifest)
        tree, prev_tree, prev_manifest = store.after_copy(partial, previous, self.cancel)
        self.racy = racy.racy_paths(tree.mtimes, self.start_ns)
        header = manifest.header_of(prev_manifest) if prev_manifest is not None else None
        current = header == now
        # The copy is done: the commit phase starts at the snapshot's full totals and
        # never shows less (a progress bar at 100 % after the copy does not drop back).
        reporter.files_total = reporter.files_done = len(tree.files)
        reporter.bytes_total = reporter.bytes_done = sum(s for _i, s in tree.files.values())
        reporter.tick(force=True)
        if (
            prev_tree is not None
            and current
            and tree.files == prev_tree.files
            and tree.links == prev_tree.links
            and tree.specials == prev_tree.specials
        ):
            # Nothing changed: every file is the previous snapshot's inode, so the
            # previous manifest describes this snapshot exactly.
            assert prev_manifest is not None
            return self._unchanged(sid, Counts.of(tree), checksum, prev_summary, prev_manifest)
        known = linked_digests(tree, prev_tree, prev_manifest) if current else {}
        copied = [p for p in tree.files if p not in known]
        digests = self._copy_digests(tree, known)
        to_hash = [p for p in copied if p not in digests]

        def on_hashed(path: str, _n: int) -> None:
            reporter.current_path = path
            reporter.tick()

        hashed, problems = store.hash(partial, to_hash, self.cancel, on_hashed, manifest.ALGORITHM)
        digests.update(hashed)
        gone = self._gone(store, OSError("files vanished while hashed")) if problems else None
        if gone is not None:
            raise gone  # not one warning per file: the whole disk went
        for path, reason in sorted(problems.items()):
            self.warnings += 1
            self.emit(FileWarning(path, f"not hashed for the manifest: {reason}"))
        plans = layout.plan_sources(self.spec.sources)
        for path, source in changed_since_copy(tree, copied, plans):
            self.warnings += 1
            size = tree.files[path][1]
            self.emit(
                FileWarning(
                    source,
                    f"changed while it was backed up: the snapshot holds the {size} bytes rsync "
                    "read (its manifest says so); the next run copies it again",
                )
            )
        self.reporter.warnings = self.warnings
        entries = [
            manifest.Entry("f", path, size, digests[path])
            for path, (_ino, size) in tree.files.items()
            if path in digests
        ]
        files = len(entries)  # regular files, as every engine counts them
        nbytes = sum(e.size for e in entries)
        entries += [manifest.Entry("l", p, 0, "-", target) for p, target in tree.links.items()]
        entries += [manifest.Entry("s", p, 0, "-", kind) for p, kind in tree.specials.items()]
        counts = Counts(files, nbytes, len(tree.links), len(tree.specials))
        summary = self._summary(sid, counts, checksum, previous is None, prev_summary)
        summary["hashed"] = len(to_hash)
        summary["digest"] = manifest.ALGORITHM
        summary_data = (json.dumps(summary, indent=1) + "\n").encode()
        return files, nbytes, manifest.dump(entries), summary_data

    def _copy_digests(self, tree: Tree, known: dict[str, str]) -> dict[str, str]:
        """Every file's digest known without reading it: linked from the previous
        snapshot (``known``), printed by rsync for the size the copy has, or
        another name of one of those inodes (a hard link kept by ``-H``)."""
        out = dict(known)
        for path, (size, digest) in self.digests.found.items():
            got = tree.files.get(path)
            if got is not None and got[1] == size:
                out[path] = digest
        if len(out) < len(tree.files):
            by_inode = {tree.files[p][0]: d for p, d in out.items()}
            for path, (ino, _size) in tree.files.items():
                if path not in out and ino in by_inode:
                    out[path] = by_inode[ino]
        return out

    def _unchanged(
        self,
        sid: str,
        counts: Counts,
        checksum: ChecksumPlan,
        prev_summary: dict[str, object] | None,
        prev_manifest: bytes,
    ) -> tuple[int, int, bytes, bytes]:
        files, nbytes = counts.files, counts.bytes
        self.reporter.files_total = self.reporter.files_done = files
        self.reporter.bytes_total = self.reporter.bytes_done = nbytes
        summary = self._summary(sid, counts, checksum, False, prev_summary)
        summary["hashed"] = 0
        summary["digest"] = manifest.ALGORITHM
        return files, nbytes, prev_manifest, (json.dumps(summary, indent=1) + "\n").encode()

    def _summary(
        self,
        sid: str,
        counts: Counts,
        checksum: ChecksumPlan,
        first: bool,
        prev_summary: dict[str, object] | None,
    ) -> dict[str, object]:
        """The summary written at commit. As the snapshot engine records it: whether
        this run read every file (a ``--checksum`` run, or the first one), and when
        the last run that did was."""
        full_read = checksum.compare or first
        inherited = prev_summary.get("last_checksum") if prev_summary else None
        return {
            "id": sid,
            "job": self.spec.name,
            "engine": "rsync",
            "time": self.now.isoformat(),
            "files": counts.files,
            "bytes": counts.bytes,
            "links": counts.links,
            "specials": counts.specials,
            "warnings": self.warnings,
            "sources": [
                {"path": p.path, "prefix": p.prefix} for p in layout.plan_sources(self.spec.sources)
            ],
            "checksum": full_read,
            "checksum_reason": checksum.reason or ("first snapshot" if full_read else ""),
            "last_checksum": self.now.isoformat() if full_read else inherited,
        }


def _under_any(path: str, roots: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``roots`` or inside one (source-relative paths)."""
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _inside(path: str, root: str | None) -> str | None:
    """``path`` relative to directory ``root``; None when it is not under it (or unknown)."""
    if root is None or not os.path.isabs(path):
        return None
    rel = os.path.relpath(path, root)
    return None if rel == "." or rel.startswith("../") or rel == ".." else rel


def linked_digests(
    tree: Tree, prev_tree: Tree | None, prev_manifest: bytes | None
) -> dict[str, str]:
    """Digests of files that are the previous snapshot's inode (rsync linked them)."""
    if prev_tree is None or prev_manifest is None:
        return {}
    try:
        old = manifest.load(prev_manifest)
    except manifest.ManifestError as exc:
        log.warning("previous manifest unusable (%s): hashing everything", exc)
        return {}
    out: dict[str, str] = {}
    for path, now in tree.files.items():
        entry = old.get(path)
        if (
            entry is not None
            and entry.kind == "f"
            and entry.size == now[1]
            and prev_tree.files.get(path) == now
        ):
            out[path] = entry.digest
    return out


MTIME_SLACK_NS = 2_000_000_000
"""A destination that keeps coarser times (FAT: 2 s) is not a change."""


def changed_since_copy(
    tree: Tree, paths: Sequence[str], plans: Sequence[layout.SourcePlan]
) -> list[tuple[str, str]]:
    """Copied files whose source no longer has the copy's size and mtime: ``(path, source)``.

    rsync sends a file's bytes as they are when it opens it and gives the copy
    the mtime it listed; a file appended to (or rewritten) during the run
    differs from its copy afterwards. The snapshot and its manifest hold what
    was read, consistently (the manifest is hashed from the copy), and the
    next run sees size or mtime differ and copies the file again; the user is
    told once per file. A source that cannot be looked at now (removed, or
    beyond what a path can reach) was reported by rsync already.
    """
    out: list[tuple[str, str]] = []
    for path in paths:
        source = source_of(path, plans)
        if source is None or path not in tree.files:
            continue
        try:
            st = os.lstat(source)
        except OSError:
            continue
        size = tree.files[path][1]
        mtime = tree.mtimes.get(path)
        if st.st_size != size or (
            mtime is not None and abs(st.st_mtime_ns - mtime) > MTIME_SLACK_NS
        ):
            out.append((path, source))
    return out


def source_of(path: str, plans: Sequence[layout.SourcePlan]) -> str | None:
    """The source path of snapshot path ``path`` (the layout of ``plan_sources``)."""
    for plan in plans:
        if not plan.prefix:
            return os.path.join(plan.path, path)
        if path == plan.prefix:
            return plan.path
        if path.startswith(plan.prefix + "/"):
            return os.path.join(plan.path, path[len(plan.prefix) + 1 :])
    return None


class Reported(Exception):
    """A failure that carries its own ``Finished`` (with the tool's output as details);
    the caller emits it once the partial is gone."""

    def __init__(self, finished: Finished) -> None:
        super().__init__(finished.error)
        self.finished = finished
