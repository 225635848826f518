"""The built-in ``snapshot`` engine (hard-link snapshots); see docs/snapshot-engine.md.

Files, each named for what it holds: ``copy`` (copy+hash), ``manifest``
(format and merge cursor), ``xattrs`` (extended attributes and ACLs),
``marker`` (destination owner, private metadata), ``store`` (destination
layout, cleanup, delete), ``damage`` (files verify found damaged), ``build``
(one run), ``frame`` (a directory of its walk), ``window`` (its results in walk
order), ``count`` (a first run's totals, counted ahead of the copy),
``restore``, ``verify``, ``dirstack`` (walking by directory descriptors),
``engine`` (the public class). Snapshot ids and the source
layout live in ``engines/layout.py``, shared with rsync; name escaping in
``engines/pathcodec.py``.
"""

from tui_backup.engines.snapshot.engine import SnapshotEngine

__all__ = ["SnapshotEngine"]
