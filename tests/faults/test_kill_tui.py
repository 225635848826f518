"""SIGKILL the real TUI (in tmux, as a person over SSH runs it) while it edits a job.

Each round opens the TUI, presses ``e``, types into the description and saves with
ctrl+s, while a timer kills the TUI's process tree at a random moment of that
sequence (before the editor opens, while typing, during the save, after it). The job
file must then parse and hold either the version before the edit or the saved one
(never a mixture), its ``.bak`` must parse, nothing may be quarantined, no error
event may have been invented, and after the rounds a whole edit and a run succeed.
tests/store/test_sigkill.py kills the job-file writer itself (50 kills of
``JobStore.modify``); this kills the whole application around it.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.faults.conftest import Rig, kill_pid_tree, make_tree, wait_until

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    """One tmux server running the TUI; keys by send-keys, screen by capture-pane."""

    def __init__(self, rig: Rig) -> None:
        self.socket = f"tui-backup-faults-{uuid.uuid4().hex[:8]}"
        self.rig = rig

    def tmux(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False
        )
        return out.stdout

    def start(self) -> int:
        """Open the TUI in a 100x40 pane; returns the TUI's pid (the pane's process)."""
        env = {**self.rig.env, "TERM": "xterm-256color"}
        command = f"exec {sys.executable} -m tui_backup"
        subprocess.run(
            ["tmux", "-L", self.socket, "new-session", "-d", "-s", "app", "-x", "100", "-y",
             "40", "-c", os.getcwd(), command],
            check=True,
            env=env,
        )  # fmt: skip
        return int(self.tmux("display-message", "-p", "-t", "app", "#{pane_pid}").strip())

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", "app", key)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "app")

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        wait_until(lambda: text in self.screen(), timeout, f"{text!r} on the screen")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)


def _spec(path: Path) -> dict[str, object]:
    data = yaml.safe_load(path.read_bytes())
    assert isinstance(data, dict), f"{path}: {data!r}"
    return data


def _edit(rig: Rig, text: str, kill_after: float | None) -> float:
    """Open the TUI, press e, type ``text`` into the description, ctrl+s.

    With ``kill_after``, a timer SIGKILLs the TUI's process tree that many seconds
    after e; without, waits until the edit is saved. Returns the seconds from e to
    the end (the save, or the kill).
    """
    job_file = rig.home.job_file("docs")
    version = _spec(job_file)["version"]
    term = Tmux(rig)
    try:
        pid = term.start()
        term.wait_for("Jobs · 1")
        killer = None
        if kill_after is not None:
            killer = threading.Timer(kill_after, kill_pid_tree, args=(pid,))
            killer.start()
        started = time.monotonic()
        term.keys("e")
        try:
            term.wait_for("Edit docs", timeout=5 if killer else 60)
            for ch in text:
                term.keys(ch)
            term.keys("C-s")
        except AssertionError:
            if killer is None:
                raise  # the kill came first
        if killer is not None:
            killer.join()
            assert not os.path.exists(f"/proc/{pid}")
        else:
            wait_until(lambda: _spec(job_file)["version"] != version, what="the edit saved")
        return time.monotonic() - started
    finally:
        term.close()


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the long variant: 20 rounds of a real TUI in tmux
def test_sigkill_the_tui_while_it_edits_a_job(rig: Rig, rounds: object, rng: random.Random) -> None:
    n = rounds(2, 20)  # type: ignore[operator]
    src = rig.tmp / "src"
    make_tree(src, rng, dirs=2, files=5)
    rig.add_job("docs", src)
    job_file = rig.home.job_file("docs")
    # One whole edit first, timed from e to the file saved: the kills land anywhere in
    # that span and a little past it (the save's write, the editor closing).
    span = _edit(rig, "calibrate-", kill_after=None)
    outcomes: list[str] = []
    for round_no in range(n):
        before = _spec(job_file)
        text = f"edit-{round_no}"
        delay = rng.uniform(0, span * 1.2)
        _edit(rig, text, kill_after=delay)
        where = f"round {round_no}: killed {delay:.2f}s after e (a whole edit takes {span:.2f}s)"
        after = _spec(job_file)
        if after == before:
            outcomes.append("unchanged")
        else:
            outcomes.append("saved")
            assert after["version"] == before["version"] + 1, f"{where}: {before} -> {after}"  # type: ignore[operator]
            # The field's old text is selected when the editor opens (typing replaces
            # it); accept an append too, but never part of what was typed.
            typed = (text, f"{before.get('description') or ''}{text}")
            assert after["description"] in typed, f"{where}: half an edit saved: {after}"
            # .bak is the last good file: the one before the save, or (once the store
            # has confirmed the new one) the new one itself.
            assert _spec(job_file.with_name("docs.yaml.bak")) in (before, after), where
        rig.check_files_parse()
        job = rig.job("docs")
        assert job["issue"] is None and job["version"] == after["version"], job
        assert rig.errors() == [], f"{where}: a killed edit recorded errors"
    print(f"TUI killed {n}x while editing: {outcomes}")

    # The next whole edit (nobody kills it) is saved; then the job runs.
    version = _spec(job_file)["version"]
    _edit(rig, "final", kill_after=None)
    assert _spec(job_file)["version"] == version + 1  # type: ignore[operator]
    assert str(_spec(job_file)["description"]).endswith("final")
    rig.run_ok("docs")
    rig.check_files_parse()
