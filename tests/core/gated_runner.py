"""A real runner process for cross-process tests: runs one job on the test engine.

Usage: ``python gated_runner.py HOME NAME GATE_FILE``. The engine reports some
progress, then blocks until GATE_FILE exists (or it is stopped). Prints the
final status and exits 0 when the run succeeded, 1 otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from testengine import Plan

from tui_backup.core.manager import JobManager
from tui_backup.store.paths import Home


def main() -> int:
    home, name, gate = Home(Path(sys.argv[1])), sys.argv[2], Path(sys.argv[3])
    plan = Plan()
    plan[name].gate_file = gate
    manager = JobManager(home, runner="cli", engine_factory=plan.factory)
    try:
        manager.start(name)
        record = manager.wait(name)
    finally:
        manager.shutdown()
    assert record is not None
    print(record.status, flush=True)
    return 0 if record.status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
