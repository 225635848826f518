"""What a first run's progress must look like, for every external engine (issue 10).

A first run is when a user watches most: from its first second it must show
files and bytes done and a running total found so far, marked as still
counting while the tool's scan runs ahead of its copy, never a flat 0 %.
The checks look only at the events, in order; no clock is read.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path

from tui_backup.engines.events import EngineEvent, Finished, Progress


def make_wide_tree(root: Path, dirs: int = 60, per_dir: int = 50, size: int = 16_000) -> Path:
    """``dirs * per_dir`` files of ``size`` random bytes: enough for rsync's incremental
    recursion to send its file list in several parts (it keeps about 1,000 files ahead)."""
    for d in range(dirs):
        sub = root / f"dir-{d:03}"
        sub.mkdir(parents=True)
        for f in range(per_dir):
            (sub / f"file-{f:03}.bin").write_bytes(os.urandom(size))
    return root


def copy_progress(events: Sequence[EngineEvent]) -> list[Progress]:
    """The Progress events of the copy, with the checks every first run must pass.

    - exactly one ``Finished``, last; every Progress before it;
    - some copy Progress has files or bytes done (never a flat 0 until the end);
    - totals never decrease during the copy, and done never passes a known total
      once counting is over;
    - counting, once off, stays off; the last Progress is not counting.
    """
    assert isinstance(events[-1], Finished), events[-1]
    assert sum(isinstance(e, Finished) for e in events) == 1
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress, "no Progress at all"
    copy = [p for p in progress if p.phase == "copy"]
    assert any(p.files_done > 0 or p.bytes_done > 0 for p in copy), copy[:5]
    for before, after in itertools.pairwise(copy):
        assert after.files_total >= before.files_total, (before, after)
        assert after.bytes_total >= before.bytes_total, (before, after)
        assert after.files_done >= before.files_done, (before, after)
        assert after.bytes_done >= before.bytes_done, (before, after)
    ended = False
    for p in progress:
        if p.counting:
            assert not ended, f"counting again after it ended: {p}"
            assert p.fraction is None and p.eta_seconds is None, p
        else:
            ended = True
    assert not progress[-1].counting, progress[-1]
    return copy
