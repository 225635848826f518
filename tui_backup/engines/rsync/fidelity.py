"""What rsync keeps beyond ``-a``, from the job's ``preserve:`` block, and what it could not.

Kept by default, as ``rsync -aHAX --sparse`` does: hard links inside the
source (``-H``), POSIX ACLs (``-A``), extended attributes (``-X``) and holes
of sparse files (``--sparse``); each flag is left out when the job says so.

A destination that cannot hold ACLs or extended attributes (a filesystem
without them, e.g. ramfs, some FUSE and network mounts) makes rsync copy
the files and drop those attributes with exit code 23 and one
``Operation not supported`` line per file. That is silent loss to anyone
reading only "succeeded with warnings", so :func:`unsupported_metadata`
finds it and the caller turns it into one clear error naming the setting
that would make the job consistent.
"""

from __future__ import annotations

import re

from tui_backup.model.job import Preserve

MAX_DEPTH = 1024
"""Directory levels rsync 3.5's sender descends: below that its ``opendir`` fails
with "Cannot allocate memory (12)" and everything deeper is left out (exit 23)."""

_ACL_RE = re.compile(
    r"(set_acl|xacl_set|default ACL).*\((95|EOPNOTSUPP|ENOTSUP)\)|ACLs are not supported"
)
_XATTR_RE = re.compile(
    r"(rsync_xal_set|setxattr|lsetxattr|fsetxattr).*\((95|EOPNOTSUPP|ENOTSUP)\)"
    r"|extended attributes are not supported"
)


def preserve_flags(preserve: Preserve) -> list[str]:
    """rsync options for what the job keeps beyond ``-a``."""
    flags: list[str] = []
    if preserve.hard_links:
        flags.append("-H")
    if preserve.acls:
        flags.append("-A")
    if preserve.xattrs:
        flags.append("-X")
    if preserve.sparse:
        flags.append("--sparse")
    return flags


def unsupported_metadata(stderr: str) -> list[str]:
    """What the receiver could not store ("ACLs", "extended attributes"), from rsync's stderr."""
    found: list[str] = []
    if _ACL_RE.search(stderr):
        found.append("ACLs")
    if _XATTR_RE.search(stderr):
        found.append("extended attributes")
    return found


def unsupported_message(what: list[str], where: str, stderr: str) -> str:
    """One sentence: what was not kept, where, and the setting that accepts it."""
    count = sum(1 for line in stderr.splitlines() if unsupported_metadata(line))
    keys = " and ".join(f"preserve.{'acls' if w == 'ACLs' else 'xattrs'}: false" for w in what)
    return (
        f"{where} cannot hold {' or '.join(what)} (Operation not supported; "
        f"{count} file(s) affected): they would be lost. Put the backup on a filesystem "
        f"that keeps them, or set {keys} for this job to back up without them"
    )


def explain(line: str, path: str) -> str:
    """rsync's warning line, with what it means where rsync's own words mislead."""
    if "opendir" in line and "(12)" in line and path.count("/") >= MAX_DEPTH - 64:
        return (
            f"{line} (rsync descends at most {MAX_DEPTH} directory levels: nothing below "
            "this directory is in the snapshot)"
        )
    return line
