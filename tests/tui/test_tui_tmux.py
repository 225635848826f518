"""The real app in a real terminal: tmux at 80x24, keys by send-keys, screen by capture-pane.

This is how a person over SSH sees it, so it catches what headless tests
cannot (terminal size handling, the real driver, start-up and exit). tmux
has no "wait until drawn" call, so we poll capture-pane until the text we
expect appears.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


class Terminal:
    def __init__(self, socket: str, session: str) -> None:
        self.socket = socket
        self.session = session

    def tmux(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False
        )
        return out.stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", self.session, key)
            time.sleep(0.15)  # one key per read: tmux would merge escape + letter into alt+x

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear; the screen was:\n{screen}")

    def alive(self) -> bool:
        return self.session in self.tmux("list-sessions", "-F", "#{session_name}")


@pytest.fixture
def demo_home(tmp_path: Path) -> Path:
    home = tmp_path / "demo"
    subprocess.run(
        [sys.executable, "-m", "tui_backup", "demo", "--no-open", "--home", str(home)],
        check=True,
        capture_output=True,
    )
    return home


@pytest.fixture
def terminal(demo_home: Path) -> Iterator[Terminal]:
    socket = f"tui-backup-test-{uuid.uuid4().hex[:8]}"
    term = Terminal(socket, "app")
    env = {**os.environ, "TERM": "xterm-256color"}
    command = f"{sys.executable} -m tui_backup --home {demo_home}; sleep 60"
    subprocess.run(
        ["tmux", "-L", socket, "new-session", "-d", "-s", "app", "-x", "80", "-y", "24", command],
        check=True,
        env=env,
    )
    try:
        yield term
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], check=False, capture_output=True)


def test_new_user_session_at_80x24(terminal: Terminal, demo_home: Path) -> None:
    terminal.wait_for("Jobs · 3")
    screen = terminal.wait_for("q Quit")
    assert "documents" in screen and "old-laptop" in screen and "photos" in screen
    assert "n New" in screen and "q Quit" in screen  # the footer fits at 80 columns

    terminal.keys("r")  # run documents (the first card)
    terminal.wait_for("succeeded")
    terminal.wait_for("Backup finished")

    # a run from another process shows up on the cards
    subprocess.run(
        [sys.executable, "-m", "tui_backup", "run", "photos", "--home", str(demo_home)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    terminal.keys("/", *"photos", "Enter")
    screen = terminal.wait_for("filter 'photos'")
    assert "photos" in screen and "old-laptop" not in screen
    screen = terminal.wait_for("succeeded")
    assert "never run" not in screen
    terminal.keys("Escape")

    terminal.keys("?")
    terminal.wait_for("job.run")
    terminal.keys("Escape")

    terminal.keys("t")
    terminal.wait_for("Theme: backup-contrast")
    assert "backup-contrast" in (demo_home / "config.yaml").read_text()

    terminal.keys("q")
    deadline = time.monotonic() + 10
    while "Jobs ·" in terminal.screen() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Jobs ·" not in terminal.screen()


def test_keys_sent_in_one_burst_keep_their_order(terminal: Terminal) -> None:
    """``send-keys / p h o Enter R`` gave the filter ``phoR``: keys typed ahead of a
    focus change reached the old widget. One send-keys call is one burst."""
    terminal.wait_for("Jobs · 3")
    terminal.wait_for("q Quit")
    terminal.tmux("send-keys", "-t", terminal.session, "/", "p", "h", "o", "Enter", "R")
    screen = terminal.wait_for("Restore from photos")
    assert "phoR" not in screen
    terminal.keys("Escape")
    screen = terminal.wait_for("filter 'pho'")  # what was typed, and nothing more
    assert "filter 'phoR'" not in screen

    # The details tabs move with the arrow keys, and the footer says so.
    terminal.tmux("send-keys", "-t", terminal.session, "Enter", "Right")
    terminal.wait_for("Next tab")
    deadline = time.monotonic() + 20
    while "Started" in terminal.screen() and time.monotonic() < deadline:
        time.sleep(0.1)  # the History tab's header goes when the Snapshots tab shows
    assert "Started" not in terminal.screen(), terminal.screen()
