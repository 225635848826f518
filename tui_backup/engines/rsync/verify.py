"""Verifying rsync snapshots: re-hash every file and compare with the manifest.

Local snapshots are hashed in Python, remote ones on their host with
``md5sum`` (``sha256sum`` for a manifest older than version 3: the algorithm
its header names) over the job's ssh settings; either way only regular files are
ever opened (a FIFO or device is never read). A file hard-linked into several
snapshots is one inode and is hashed once per verify. A snapshot without a
manifest (made before manifests existed) cannot be checked: the report says
so (``unchecked``) instead of passing it. ``deep`` also compares the snapshot
with the source as it is now (``rsync --dry-run --checksum --itemize-changes``).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from tui_backup.engines import layout
from tui_backup.engines.api import EngineError, ErrorType, VerifyProblem, VerifyReport
from tui_backup.engines.events import Emit
from tui_backup.engines.process import run_tool
from tui_backup.engines.rsync import manifest
from tui_backup.engines.rsync.filters import excluded_paths, rules_file
from tui_backup.engines.rsync.location import Stopped
from tui_backup.engines.rsync.store import DAMAGED_FILE, MANIFEST_SUFFIX, Store
from tui_backup.engines.throttle import ProgressReporter
from tui_backup.model.job import JobSpec

MAX_PROBLEMS = 10000
_STATS_FILES = re.compile(r"reg: ([\d,]+)")


@dataclass(slots=True)
class Verifier:
    store: Store
    cancel: threading.Event
    reporter: ProgressReporter
    files: int = 0
    bytes: int = 0
    problems: list[VerifyProblem] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    changed: int = 0
    """Deep verify: source files changed since the snapshot."""
    damaged: set[str] = field(default_factory=set)
    """Snapshots whose stored data failed the manifest (not a difference from the source)."""
    _seen: dict[tuple[int, str], str] = field(default_factory=dict)
    """(inode, algorithm) -> digest already computed in this verify."""

    def problem(self, sid: str, path: str, reason: str, *, stored: bool = True) -> None:
        """Record a problem; ``stored`` ones (the snapshot's own data) mark the job damaged."""
        if stored:
            self.damaged.add(sid)
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(VerifyProblem(sid, path, reason))

    def manifest(self, sid: str) -> None:
        raw = self.store.read_meta(sid + MANIFEST_SUFFIX)
        if raw is None:
            self.unchecked.append(sid)
            return
        try:
            version, entries, algorithm = manifest.load_versioned(raw)
        except manifest.ManifestError as exc:
            self.problem(sid, "", f"manifest unreadable: {exc}")
            return
        tree = self.store.tree(sid, self.cancel)
        to_hash: dict[str, manifest.Entry] = {}
        for path, entry in entries.items():
            if leaves_snapshot(path):
                # A tampered line: nothing outside the snapshot is ever opened.
                self.problem(sid, path, "names a path outside the snapshot; not opened")
                continue
            if entry.kind == "s":
                got = tree.specials.get(path)
                if got != entry.target:
                    self.problem(sid, path, "missing" if got is None else "special file changed")
                continue
            if path in tree.specials:
                self.problem(sid, path, f"{special_name(tree.specials[path])}; never opened")
                continue
            if entry.kind == "l":
                got = tree.links.get(path)
                if got is None:
                    self.problem(sid, path, "missing")
                elif got != entry.target:
                    self.problem(sid, path, "symlink target mismatch")
                continue
            found = tree.files.get(path)
            if found is None:
                self.problem(sid, path, "missing" if path not in tree.links else "not a file")
            elif found[1] != entry.size:
                self.problem(sid, path, "size mismatch")
            elif (found[0], algorithm) in self._seen:
                self._compare(sid, entry, self._seen[found[0], algorithm])
            else:
                to_hash[path] = entry

        if version >= 2:  # it lists every special file the backup made
            for path, letter in sorted(tree.specials.items()):
                if path not in entries:
                    self.problem(
                        sid,
                        path,
                        f"{special_name(letter)} the backup did not make (not in its manifest); "
                        "never opened",
                    )

        def on_hashed(path: str, _n: int) -> None:
            self.reporter.advance(1, entries[path].size, path)

        digests, unreadable = self.store.hash(sid, list(to_hash), self.cancel, on_hashed, algorithm)
        for path, reason in sorted(unreadable.items()):
            self.problem(sid, path, reason)
        for path, digest in digests.items():
            self._seen[tree.files[path][0], algorithm] = digest
            self._compare(sid, to_hash[path], digest)

    def _compare(self, sid: str, entry: manifest.Entry, digest: str) -> None:
        self.files += 1
        self.bytes += entry.size
        if digest != entry.digest:
            self.problem(sid, entry.path, "checksum mismatch")


SPECIAL_NAMES = {"p": "a FIFO", "s": "a socket", "c": "a character device", "b": "a block device"}


def special_name(letter: str) -> str:
    return SPECIAL_NAMES.get(letter, "a special file")


def leaves_snapshot(path: str) -> bool:
    """A manifest path that is absolute or climbs with ``..``: not the snapshot's."""
    return path.startswith("/") or ".." in path.split("/") or "\0" in path


def deep_compare(binary: str, spec: JobSpec, store: Store, sid: str, verifier: Verifier) -> None:
    """Compare snapshot ``sid`` with the sources now, reading both sides in full."""
    ssh = store.ssh
    for plan in layout.plan_sources(spec.sources):
        is_dir = os.path.isdir(plan.path) and not os.path.islink(plan.path)
        parts = [plan.prefix] if plan.prefix else []
        argv = [
            binary, "-a", "-H", "-8", "--numeric-ids", "--dry-run", "--checksum", "--delete",
            "--stats", "--out-format=%i\t%n",
        ]  # fmt: skip
        if ssh is not None:
            argv += ["-e", ssh.rsync_shell]
        rules = None
        if is_dir and spec.exclude:
            excluded = excluded_paths(plan.path, spec.exclude, verifier.cancel)
            if excluded:
                rules = rules_file(excluded, tempfile.gettempdir())
                argv += [f"--exclude-from={rules}"]
        if is_dir:
            src, dst = plan.path.rstrip("/") + "/", store.url(sid, *parts) + "/"
        else:
            src, dst = plan.path, store.url(sid, *parts)
        seen = _Itemized()
        try:
            result = run_tool([*argv, "--", src, dst], on_line=seen.line, cancel=verifier.cancel)
        finally:
            if rules is not None:
                os.unlink(rules)
        if result.cancelled:
            raise Stopped
        if result.returncode not in (0, 23, 24):
            lines = result.stderr.strip().splitlines()
            raise EngineError(
                f"comparing snapshot {sid} with {plan.path} failed: "
                f"{lines[-1] if lines else result.returncode}",
                ErrorType.VERIFY_FAILED,
            )
        for name, reason in seen.found:
            path = name.rstrip("/") if is_dir else ""
            path = "/".join(p for p in (plan.prefix, path) if p and p != ".")
            verifier.problem(sid, path, reason, stored=False)
        verifier.files += seen.files
        verifier.bytes += seen.bytes
        verifier.changed += seen.changed


@dataclass(slots=True)
class _Itemized:
    """What ``rsync --dry-run --itemize-changes --stats`` said about one source."""

    found: list[tuple[str, str]] = field(default_factory=list)
    """Files whose content differs although size and mtime agree: damage on one side."""
    changed: int = 0
    """Files added, removed or edited in the source since the snapshot: not damage."""
    files: int = 0
    bytes: int = 0

    def line(self, line: str) -> None:
        if line.startswith("*deleting"):
            self.changed += 1
            return
        fields = line.split("\t", 1)
        if len(fields) == 2 and len(fields[0]) == 11 and fields[0][0] in "<>ch":
            item, name = fields
            # YXcstpoguax: s = size differs, t/T = mtime differs; only c = content alone.
            if "+++" in item or item[3] == "s" or item[4] in "tT":
                self.changed += 1
            elif item[2] == "c":
                self.found.append(
                    (name, "differs from the source although size and modification time agree")
                )
        elif line.startswith("Number of files:"):
            m = _STATS_FILES.search(line)
            if m:
                self.files += int(m.group(1).replace(",", ""))
        elif line.startswith("Total file size:"):
            self.bytes += int(line.split(":", 1)[1].split(maxsplit=1)[0].replace(",", ""))


def verify(
    binary: str,
    spec: JobSpec,
    store: Store,
    ids: Sequence[str],
    *,
    deep: bool,
    cancel: threading.Event | None,
    emit: Emit | None,
) -> VerifyReport:
    reporter = ProgressReporter(emit or (lambda _e: None))
    reporter.set_phase("verify")
    for sid in ids:
        summary = store.summary(sid) or {}
        reporter.files_total += int(summary.get("files") or 0)
        reporter.bytes_total += int(summary.get("bytes") or 0)
    verifier = Verifier(store, cancel or threading.Event(), reporter)
    try:
        for sid in ids:
            verifier.manifest(sid)
            if deep:
                deep_compare(binary, spec, store, sid, verifier)
    except Stopped:
        raise EngineError("verify stopped before it finished", ErrorType.STOPPED) from None
    reporter.tick(force=True)
    if verifier.damaged:
        # The next run compares contents, so no damaged file is linked into it.
        record = {"snapshots": sorted(verifier.damaged)}
        try:
            store.write_meta(DAMAGED_FILE, json.dumps(record).encode())
        except (OSError, EngineError):
            pass  # the report still says damaged; the next run just trusts size+mtime
    unchecked = None
    if verifier.unchecked:
        unchecked = (
            f"no manifest for {len(verifier.unchecked)} snapshot(s) "
            f"({', '.join(verifier.unchecked[:3])}): made before manifests were recorded"
        )
    return VerifyReport(
        snapshots=tuple(ids),
        files_checked=verifier.files,
        bytes_checked=verifier.bytes,
        problems=tuple(verifier.problems),
        method="manifest+source" if deep else "manifest",
        unchecked=unchecked,
        changed_since=verifier.changed,
    )
