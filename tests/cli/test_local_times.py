"""Tables speak the machine's local time, as cron lines do (issue 10: "UTC beside a local cron").

JSON keeps UTC ISO 8601 for scripts; a person reading ``job list`` next to a
``0 2 * * *`` schedule sees 02:00 in the zone the schedule runs in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def cli(home: Path, *argv: str) -> str:
    env = {**os.environ, "TUI_BACKUP_HOME": str(home), "TZ": "Europe/Paris"}
    proc = subprocess.run(
        [sys.executable, "-m", "tui_backup", *argv],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def test_job_list_and_show_give_the_next_run_in_local_time(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    home = tmp_path / "home"
    cli(home, "job", "add", "nightly", "--source", str(src), "--dest", str(tmp_path / "d"))
    cli(home, "job", "edit", "nightly", "--schedule", "0 2 * * *")
    table = cli(home, "job", "list")
    row = next(line for line in table.splitlines() if line.startswith("nightly"))
    assert " 02:00:00 CE" in row, row  # CET or CEST, the zone the cron line runs in
    assert "Z " not in row and not row.rstrip().endswith("Z"), row
    show = cli(home, "job", "show", "nightly")
    assert "next run: " in show and " 02:00:00 CE" in show, show
    data = json.loads(cli(home, "job", "list", "--json"))
    assert data[0]["next_run"].endswith("Z")  # scripts keep UTC
