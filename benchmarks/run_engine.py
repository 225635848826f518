"""Run the snapshot engine once in this process and print timing and peak RSS as JSON.

The benchmark starts this as a subprocess so that ``ru_maxrss`` is the
engine's own peak and its start-up cost is counted as rsync's is.
"""

from __future__ import annotations

import argparse
import json
import resource
import threading
import time

from tui_backup.engines.events import EngineEvent, Finished
from tui_backup.engines.snapshot import SnapshotEngine
from tui_backup.model.job import JobSpec


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source")
    parser.add_argument("dest")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    spec = JobSpec(name="bench", sources=(args.source,), destination=args.dest)
    finished: list[Finished] = []

    def emit(event: EngineEvent) -> None:
        if isinstance(event, Finished):
            finished.append(event)

    start = time.perf_counter()
    SnapshotEngine(workers=args.workers).run(spec, threading.Event(), emit)
    elapsed = time.perf_counter() - start
    done = finished[0]
    print(
        json.dumps(
            {
                "status": str(done.status),
                "error": done.error,
                "files": done.files,
                "snapshot": done.snapshot_id,
                "engine_seconds": elapsed,
                "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        )
    )


if __name__ == "__main__":
    main()
