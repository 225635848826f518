"""Run one snapshot-engine operation in this process; print its time and peak RSS as JSON.

Usage::

    python -m benchmarks.snapshot_op run SOURCE DEST
    python -m benchmarks.snapshot_op verify SOURCE DEST [--snapshot ID]
    python -m benchmarks.snapshot_op restore SOURCE DEST --target DIR [--snapshot ID]
    python -m benchmarks.snapshot_op run SOURCE DEST --profile out.prof

The benchmarks start this as a subprocess so that ``ru_maxrss`` is the
operation's own peak and start-up is counted, as it is for ``cp`` and ``rsync``.
``--profile`` writes a cProfile of the operation (not of start-up).
"""

from __future__ import annotations

import argparse
import json
import resource
import threading
import time
from typing import Any

from tui_backup.engines.events import EngineEvent, Finished
from tui_backup.engines.snapshot import SnapshotEngine
from tui_backup.model.job import JobSpec


def _op(args: argparse.Namespace, engine: SnapshotEngine, spec: JobSpec) -> dict[str, Any]:
    if args.op == "run":
        finished: list[Finished] = []

        def emit(event: EngineEvent) -> None:
            if isinstance(event, Finished):
                finished.append(event)

        engine.run(spec, threading.Event(), emit)
        done = finished[0]
        return {
            "status": str(done.status),
            "error": done.error,
            "files": done.files,
            "snapshot": done.snapshot_id,
        }
    if args.op == "verify":
        report = engine.verify(spec, args.snapshot or "latest")
        return {
            "status": report.outcome,
            "files": report.files_checked,
            "bytes": report.bytes_checked,
            "problems": len(report.problems),
        }
    restored = engine.restore(spec, args.snapshot or "latest", args.target)
    return {"status": "ok", "files": restored.files, "skipped": len(restored.skipped)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("op", choices=("run", "verify", "restore"))
    parser.add_argument("source")
    parser.add_argument("dest")
    parser.add_argument("--target", default="")
    parser.add_argument("--snapshot", default="")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", default="", help="write a cProfile of the operation here")
    args = parser.parse_args()
    spec = JobSpec(name="bench", sources=(args.source,), destination=args.dest)
    engine = SnapshotEngine(workers=args.workers)
    start = time.perf_counter()
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
        result = prof.runcall(_op, args, engine, spec)
        prof.dump_stats(args.profile)
    else:
        result = _op(args, engine, spec)
    result["engine_seconds"] = time.perf_counter() - start
    result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result))


if __name__ == "__main__":
    main()
