"""Extended attributes and POSIX ACLs: read from the source, written to the copy.

A POSIX ACL *is* an extended attribute (``system.posix_acl_access`` on any
inode, ``system.posix_acl_default`` on a directory), so copying those two raw
keeps access and default ACLs exactly as ``rsync -A`` does; every other name
(``user.*``; ``trusted.*`` and ``security.*`` as far as the process may read
and write them) is an xattr in the sense of ``rsync -X``. What is kept is
chosen by the job's ``preserve`` block.

The manifest records a short hash of what was kept (:func:`digest`), so the
next run notices a change of xattrs or ACLs alone (which moves neither size
nor mtime) and copies the file instead of linking it.

Every call works on a descriptor or with ``follow_symlinks=False``: a symlink
is never followed. ``listxattr`` has no ``dir_fd`` form, so names relative to
a directory descriptor go through ``/proc/self/fd/<fd>/<name>`` (see
:func:`at`), which keeps paths short at any depth.
"""

from __future__ import annotations

import hashlib
import os

ACL_NAMES = frozenset({"system.posix_acl_access", "system.posix_acl_default"})
PROC_FD = os.path.isdir("/proc/self/fd")

Items = list[tuple[str, bytes]]


class Policy:
    """Which attributes a job keeps (from ``spec.preserve``)."""

    __slots__ = ("acls", "xattrs")

    def __init__(self, xattrs: bool, acls: bool) -> None:
        self.xattrs = xattrs
        self.acls = acls

    @property
    def active(self) -> bool:
        return self.xattrs or self.acls

    def keeps(self, name: str) -> bool:
        return self.acls if name in ACL_NAMES else self.xattrs


def at(name: str, dir_fd: int | None) -> str:
    """A path for ``name`` relative to ``dir_fd`` usable by the ``*xattr`` calls."""
    if dir_fd is None:
        return name
    return f"/proc/self/fd/{dir_fd}/{name}"


def read(target: int | str, policy: Policy) -> Items:
    """The kept attributes of ``target`` (a descriptor, or a path never followed), sorted.

    A filesystem without xattrs, or an attribute that vanished or may not be
    read, yields nothing for it: a backup never fails on a source's xattrs.
    """
    follow = isinstance(target, int)
    try:
        names = os.listxattr(target, follow_symlinks=follow)
    except OSError:
        return []
    if not names:
        return []
    items: Items = []
    for name in sorted(names):
        if not policy.keeps(name):
            continue
        try:
            items.append((name, os.getxattr(target, name, follow_symlinks=follow)))
        except OSError:
            continue
    return items


def digest(items: Items) -> str:
    """A short hash of the kept attributes ("" when there are none)."""
    if not items:
        return ""
    h = hashlib.blake2b(digest_size=8)
    for name, value in items:
        raw = name.encode("utf-8", "surrogateescape")
        h.update(len(raw).to_bytes(4, "big") + raw + len(value).to_bytes(4, "big") + value)
    return h.hexdigest()


def current(name: str, dir_fd: int | None, policy: Policy) -> str:
    """The hash of a source entry's kept attributes, as recorded in a manifest."""
    return digest(read(at(name, dir_fd), policy))


def write(target: int | str, items: Items) -> list[tuple[str, str]]:
    """Set ``items`` on ``target``; return ``(name, reason)`` for each one refused.

    The destination may not hold an attribute (no xattr support, a
    ``security.*`` name an ordinary user may not set): that is reported,
    never fatal.
    """
    follow = isinstance(target, int)
    refused: list[tuple[str, str]] = []
    for name, value in items:
        try:
            os.setxattr(target, name, value, follow_symlinks=follow)
        except OSError as exc:
            refused.append((name, exc.strerror or str(exc)))
    return refused
