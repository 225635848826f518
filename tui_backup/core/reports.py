"""One-line readings of engine reports, shared by the CLI and the TUI.

The word before the colon is the report's outcome (``ok``, ``damaged``,
``unchecked``), so no front end can show "ok" for a check that did not look.
"""

from __future__ import annotations

from tui_backup.engines.api import VerifyReport
from tui_backup.model.units import human_bytes

VERIFY_METHODS = {
    "manifest": "compared with manifests",
    "source": "compared with the source",
    "manifest+source": "compared with manifests and the source",
    "restic check": "checked by restic check",
}


def verify_sentence(report: VerifyReport) -> str:
    """What a verify checked, in one line for the CLI and the TUI alike.

    ``ok: 3 snapshots, 1,204 files (1.2 GB) read, compared with manifests``;
    ``unchecked: <reason>``; ``damaged: 2 problems ...``. The word before the
    colon is the report's outcome, so nobody reads "ok" for a check that did
    not look.
    """
    count = len(report.snapshots)
    snaps = f"{count:,} snapshot" + "s" * (count != 1)
    files = report.files_checked
    read = f"{files:,} {report.unit}{'s' * (files != 1)}"
    if report.bytes_known:
        read += f" ({human_bytes(report.bytes_checked)})"
    read += " read"
    how = VERIFY_METHODS.get(report.method, f"checked by {report.method}")
    if report.changed_since:
        n = report.changed_since
        how += f" ({n:,} file{'s' * (n != 1)} changed in the source since, not damage)"
    if report.problems:
        first = report.problems[0]
        where = f"{first.snapshot_id}: {first.path or '(manifest)'}: {first.reason}"
        more = f" and {len(report.problems) - 1} more" if len(report.problems) > 1 else ""
        n = len(report.problems)
        return f"damaged: {n} problem{'s' * (n != 1)} ({where}{more}); {snaps}, {read}, {how}"
    if report.unchecked is not None:
        done = f" ({snaps}, {read})" if files else ""
        return f"unchecked: {report.unchecked}{done}"
    return f"ok: {snaps}, {read}, {how}"
