"""The ``restic`` engine, in small parts (see :mod:`.engine` for the overview).

- :mod:`.location`  local or remote, the host, credentials masked
- :mod:`.errors`    restic's stderr read into our error vocabulary
- :mod:`.command`   running restic for a job: env, sftp options, lock retries
- :mod:`.excludes`  gitignore excludes turned into exact restic paths
- :mod:`.backup`    the ``backup --json`` stream as events
- :mod:`.listing`   this job's snapshots and their true counts
- :mod:`.restore`   restores in the layout every engine uses
- :mod:`.verify`    ``restic check``, saying what it read
"""

from tui_backup.engines.restic.engine import ResticEngine

__all__ = ["ResticEngine"]
