"""Issue 10's 80x24 findings as a person sees them: the real app in tmux.

Header, destinations, whole cards after End/g, and the footer's last column,
read from ``capture-pane`` (see test_tui_tmux.py for the terminal helper).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_tui_tmux import Terminal

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


@pytest.fixture
def long_home(tmp_path: Path) -> Path:
    """30 jobs (two remote), written by hand as a person may, under a long home path."""
    home = tmp_path / "srv" / "backups" / "machines" / "this-particular-host" / "tui-backup-home"
    (home / "jobs").mkdir(parents=True)
    src = tmp_path / "data"
    src.mkdir()
    jobs = {f"job-{i:02d}": f"destination: {tmp_path}/dest/job-{i:02d}" for i in range(28)}
    jobs["web-rsync"] = "destination: backup@host:/srv/x\nengine: rsync"
    jobs["remote-restic"] = (
        "destination: sftp:host:/srv/restic/remote-restic\nengine: restic\n"
        "env: {RESTIC_PASSWORD: pw}"
    )
    for name, rest in jobs.items():
        (home / "jobs" / f"{name}.yaml").write_text(
            f"name: {name}\nsources: [{src}]\n{rest}\nversion: 1\n"
        )
    return home


@pytest.fixture
def terminal(long_home: Path) -> Iterator[Terminal]:
    socket = f"tui-backup-test-{uuid.uuid4().hex[:8]}"
    term = Terminal(socket, "app")
    env = {**os.environ, "TERM": "xterm-256color"}
    command = f"{sys.executable} -m tui_backup --home {long_home}; sleep 60"
    subprocess.run(
        ["tmux", "-L", socket, "new-session", "-d", "-s", "app", "-x", "80", "-y", "24", command],
        check=True,
        env=env,
    )
    try:
        yield term
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], check=False, capture_output=True)


def _first_card_line(screen: str) -> str:
    """The job pane's first body line (below its border and column titles)."""
    return screen.splitlines()[3]


def test_80x24_keeps_hosts_the_home_s_end_whole_cards_and_a_clean_footer(
    terminal: Terminal,
) -> None:
    terminal.wait_for("Jobs · 30")
    # The home gets what the header's counters leave: once watching is live ("○ not
    # watching" is 8 columns wider) it shows its end. Under load a frame was caught
    # between the two (the watch label still 16 wide): wait for the settled header.
    terminal.wait_for("● live")
    header = terminal.wait_for("tui-backup-home").splitlines()[0]
    assert "tui-backup-home" in header and "…" in header  # the end of the home, not its start

    terminal.keys("End")
    screen = terminal.wait_for("web-rsync")
    assert "→ host:/srv/x" in screen  # was "→ …/x"
    top = _first_card_line(screen)
    # a card's first line (name, engine), never the second half of a card
    assert top.startswith("│ job-"), screen
    assert top.split()[2] in {"snapshot", "rsync", "restic"}, screen

    terminal.keys("g")
    screen = terminal.wait_for("job-00")
    assert _first_card_line(screen).split()[1] == "job-00", screen

    terminal.keys("l")  # the error log's keys join the footer: more than fit
    screen = terminal.wait_for("space Resolve")
    footer = screen.splitlines()[-1]
    assert len(footer) == 80 and footer.endswith("^p Commands"), repr(footer)
