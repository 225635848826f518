"""Run one job in a separate process, held open by a gate file (for the live-update test).

Usage: python other_runner.py HOME NAME GATE_FILE
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from tui_doubles import Gate, factory

from tui_backup.core.manager import JobManager
from tui_backup.store.paths import Home


def main() -> int:
    home, name, gate_file = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    gates = {name: Gate(gate_file=gate_file)}
    manager = JobManager(Home(Path(home)), runner="cli", engine_factory=factory(gates))
    try:
        manager.start(name)
        record = manager.wait(name, timeout=60)
    finally:
        manager.shutdown()
    return 0 if record is not None and str(record.status) == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
