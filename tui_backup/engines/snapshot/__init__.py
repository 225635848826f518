"""The built-in ``snapshot`` engine (hard-link snapshots); see docs/engines.md.

Files, each named for what it holds: ``ids`` (snapshot names), ``layout``
(where sources go, excludes), ``copy`` (copy+hash), ``manifest`` (format and
merge cursor), ``pathcodec`` (escaping names), ``marker`` (destination
owner), ``store`` (destination layout, cleanup, delete), ``build`` (one
run), ``restore``, ``verify``, ``engine`` (the public class).
"""

from tui_backup.engines.snapshot.engine import SnapshotEngine

__all__ = ["SnapshotEngine"]
