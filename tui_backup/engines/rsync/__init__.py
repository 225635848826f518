"""The ``rsync`` engine (``--link-dest`` snapshots, local or over ssh); see docs/engines.md.

Files, each named for what it holds: ``location`` (where the destination is,
the ssh command line), ``store`` (the destination's layout and operations,
local or remote), ``filters`` (the exclude list as exact rsync rules),
``manifest`` (format and name escaping), ``backup`` (one run), ``restore``,
``verify``, ``engine`` (the public class).
"""

from tui_backup.engines.rsync.engine import RsyncEngine
from tui_backup.engines.rsync.location import Location

__all__ = ["Location", "RsyncEngine"]
