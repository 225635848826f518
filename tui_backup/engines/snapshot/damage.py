"""The record of damaged files, so that corruption does not spread.

A file hard-linked into the next snapshot *is* the previous snapshot's file:
one flipped byte in it would be carried forward by every later run, since
the run trusts size and mtime. So when ``verify`` finds a file whose content
is not what it should be, it records the inode (``st_dev``, ``st_ino``), the
checksum it should have had, and where it was found, in
``<dest>/.tui-backup/damaged.json`` (mode 0600, written atomically). The
next run never links a recorded inode, nor a previous-snapshot file recorded
damaged: it copies the file fresh from the source.

A record lives as long as a snapshot it was found in exists, or its inode
is still in the newest snapshot (it is pruned by a run once neither holds).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from typing import Any

from tui_backup.engines.layout import META_DIR
from tui_backup.engines.snapshot.syncio import write_atomic

log = logging.getLogger(__name__)

DAMAGED_NAME = (
    "damaged.json"  # also build.DAMAGED_NAME (a run imports this module only if it exists)
)
FORMAT = 1

Damage = tuple[int, int, str, str, str]
"""``(st_dev, st_ino, expected digest, snapshot id, path in the snapshot)``."""


def damaged_path(dest: str) -> str:
    return os.path.join(dest, META_DIR, DAMAGED_NAME)


def load(dest: str) -> list[dict[str, Any]]:
    """The records (``dev``, ``ino``, ``digest``, ``found: [[snapshot, path], ...]``); [] if none.

    An unreadable record is logged and treated as empty: it only ever costs
    links, never a backup.
    """
    try:
        with open(damaged_path(dest), encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", damaged_path(dest), exc)
        return []
    files = data.get("files") if isinstance(data, dict) else None
    out: list[dict[str, Any]] = []
    for rec in files if isinstance(files, list) else []:
        if (
            isinstance(rec, dict)
            and isinstance(rec.get("dev"), int)
            and isinstance(rec.get("ino"), int)
            and isinstance(rec.get("found"), list)
        ):
            found = [
                [str(f[0]), str(f[1])] for f in rec["found"] if isinstance(f, list) and len(f) == 2
            ]
            out.append(
                {"dev": rec["dev"], "ino": rec["ino"], "digest": str(rec.get("digest", "")),
                 "found": found}
            )  # fmt: skip
    return out


def save(dest: str, records: list[dict[str, Any]]) -> None:
    """Replace the record (removing the file when nothing is recorded)."""
    path = damaged_path(dest)
    if not records:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    payload = {"format": FORMAT, "files": records}
    write_atomic(path, (json.dumps(payload, indent=1) + "\n").encode("utf-8"), mode=0o600)


def add(dest: str, found: Iterable[Damage]) -> None:
    """Merge newly found damage into the record."""
    new = list(found)
    if not new:
        return
    records = load(dest)
    by_key = {(r["dev"], r["ino"]): r for r in records}
    for dev, ino, digest, snapshot_id, rel in new:
        rec = by_key.get((dev, ino))
        if rec is None:
            rec = {"dev": dev, "ino": ino, "digest": digest, "found": []}
            by_key[(dev, ino)] = rec
            records.append(rec)
        if [snapshot_id, rel] not in rec["found"]:
            rec["found"].append([snapshot_id, rel])
    save(dest, records)


def prune(
    dest: str, records: list[dict[str, Any]], existing: set[str], alive: frozenset[str]
) -> list[dict[str, Any]]:
    """Drop where-found entries of snapshots that no longer exist; save if anything changed.

    A record whose bad inode is still at one of its paths in the previous
    snapshot (``alive``: :func:`suspects`) is kept whole, even when the
    snapshots it was found in are gone: that inode must still not be linked.
    """
    kept: list[dict[str, Any]] = []
    changed = False
    for rec in records:
        if any(f[1] in alive for f in rec["found"]):
            kept.append(rec)
            continue
        found = [f for f in rec["found"] if f[0] in existing]
        changed |= len(found) != len(rec["found"])
        if found:
            kept.append({**rec, "found": found})
    if changed:
        try:
            save(dest, kept)
        except OSError as exc:
            log.warning("cannot update %s: %s", damaged_path(dest), exc)
    return kept


def _safe(rel: str) -> bool:
    parts = rel.split("/")
    return bool(rel) and not rel.startswith("/") and not any(p in ("", ".", "..") for p in parts)


def suspects(records: list[dict[str, Any]], prev_id: str, prev_root: str) -> frozenset[str]:
    """Paths of the previous snapshot that must not be linked: recorded there, or a bad inode.

    Costs one ``lstat`` per recorded path, never one per file of the tree.
    """
    if not records:
        return frozenset()
    bad_inodes = {(r["dev"], r["ino"]) for r in records}
    out: set[str] = set()
    for rec in records:
        for snapshot_id, rel in rec["found"]:
            if not _safe(rel) or rel in out:
                continue
            if snapshot_id == prev_id:
                out.add(rel)
                continue
            try:
                st = os.lstat(prev_root + "/" + rel)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in bad_inodes:
                out.add(rel)
    return frozenset(out)
