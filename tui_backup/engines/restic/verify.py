"""``restic check``, reported as what it checked.

``restic check`` always verifies the repository's structure (index, packs
listed, every snapshot's trees and the blobs they need). Pack data is read
only with ``--read-data-subset`` (the job's ``verify.read_data_subset``, by
default :data:`DEFAULT_SUBSET`) or ``--read-data`` (``deep``). The report
names the exact command (``method``), counts the packs restic read
(``files_checked``: restic's "N / M packs"), and gives the bytes read only
when it can know them: a full read of a local repository (the size of its
``data/`` files). A job with no snapshots here is ``unchecked``, not ok.
"""

from __future__ import annotations

import os
import re
import threading

from tui_backup.engines.api import VerifyProblem, VerifyReport
from tui_backup.engines.restic.command import Restic
from tui_backup.engines.restic.errors import classify, lock_holder
from tui_backup.engines.restic.listing import ResticSnapshot
from tui_backup.engines.restic.location import mask

DEFAULT_SUBSET = "10%"
"""Pack data a verify reads when the job does not say: enough to notice rot over
a few scheduled runs without downloading the whole repository each time."""
_PACKS_RE = re.compile(r"(\d+)\s*/\s*(\d+)\s+packs")
_PROBLEM_RE = re.compile(
    r"error|does not match|not found|missing|invalid|damaged|unexpected|fail", re.IGNORECASE
)
_NOISE = ("using temporary cache", "create exclusive lock", "load indexes", "check all packs",
          "check snapshots", "read all data", "read ", "[", "no errors were found",
          "Fatal: repository contains errors")  # fmt: skip


def verify(
    restic: Restic,
    snaps: list[ResticSnapshot],
    *,
    deep: bool,
    cancel: threading.Event | None,
) -> VerifyReport:
    ids = tuple(s.short_id for s in snaps)
    subset = restic.spec.verify.read_data_subset or DEFAULT_SUBSET
    flag = "--read-data" if deep else f"--read-data-subset={subset}"
    method = f"restic check {flag}"
    if not snaps:
        return VerifyReport(ids, 0, 0, method=method, unchecked="no snapshots of this job")
    # The structure first: a missing or unreadable pack is found there in a second,
    # while a data read would retry it for most of a minute before giving up.
    for args, reads_data in ((["check"], False), (["check", flag], True)):
        result, lines = restic.call(args, cancel=cancel)
        output = "\n".join(lines)
        if result.cancelled:
            return VerifyReport(ids, 0, 0, method=method, unchecked="stopped before it finished")
        if result.returncode != 0 and (lock_holder(result.stderr) or not _looks_checked(output)):
            raise classify(result.stderr, restic.repository, "restic check failed")
        if result.returncode != 0 or reads_data:
            break
    if not reads_data:
        method = "restic check (structure; data not read: the structure is damaged)"
    packs = _packs_read(output) if reads_data else 0
    nbytes = _local_data_bytes(restic) if deep and restic.local and reads_data else 0
    problems: list[VerifyProblem] = []
    if result.returncode != 0:
        found = [
            mask(ln.strip(), restic.repository)
            for ln in (output + "\n" + result.stderr).splitlines()
            if ln.strip() and _PROBLEM_RE.search(ln) and not ln.strip().startswith(_NOISE)
        ]
        for text in found or [f"restic check exited with code {result.returncode}"]:
            problems.append(VerifyProblem("repository", restic.shown, text))
    unchecked = None
    if packs == 0 and not problems:
        unchecked = "restic read no pack data (an empty repository?)"
    if packs is None:
        method += " (packs read: unknown)"
    return VerifyReport(
        ids,
        packs or 0,
        nbytes,
        tuple(problems),
        method=method,
        unchecked=unchecked,
        unit="pack",
        bytes_known=nbytes > 0,
    )


def _looks_checked(output: str) -> bool:
    """restic got as far as checking (its output names the steps), so a non-zero exit
    means it found damage, not that it could not start."""
    return "check snapshots" in output or "check all packs" in output or "packs" in output


def _packs_read(output: str) -> int | None:
    """restic's "N / M packs" after its "read ... data" line, or None when absent."""
    after = output.split("read all data", 1)[-1] if "read all data" in output else output
    matches = _PACKS_RE.findall(after)
    if not matches:
        return None
    return int(matches[-1][0])


def _local_data_bytes(restic: Restic) -> int:
    total = 0
    for root, _dirs, names in os.walk(os.path.join(restic.local_path, "data")):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total
