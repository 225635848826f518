"""``.bak`` and quarantine for ``config.yaml`` and ``state/*.yaml`` (docs/configuration.md:
"The same rules protect ``state/*.yaml`` and ``config.yaml``"), seen from the CLI.

An invalid file is moved aside as ``<file>.corrupt-<time>`` (never deleted), its
last good version (``.bak``) is used, and the problem is reported; with no good
version, ``config.yaml``'s defaults are used and the problem reported.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui_backup.core.config import SettingsStore
from tui_backup.store.paths import HOME_ENV, Home
from tui_backup.store.yamlio import dumps

CliRunner = Callable[..., Any]
BAD = "max_concurrent_jobs: [3\n"  # not YAML: an unclosed list


def daemon_limit(home: Home) -> tuple[int, str]:
    """Start a daemon, read the "at most N jobs at once" it starts with, stop it;
    returns N and the daemon's whole log."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_backup", "daemon"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, HOME_ENV: str(home.root)},
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any("daemon started" in x for x in list(lines)):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        reader.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = "".join(lines)
    started = next(x for x in lines if "daemon started" in x)
    return int(started.split("at most ")[1].split(" ")[0]), log


def corrupt_copies(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".corrupt-*"))


def test_an_invalid_config_yaml_is_quarantined_and_its_last_good_version_used(
    cli: CliRunner, home: Home
) -> None:
    settings = SettingsStore(home)
    settings.update(max_concurrent_jobs=3)  # what the TUI does when a setting changes
    settings.update(theme="backup-light")
    config = home.config_path
    assert config.with_name("config.yaml.bak").exists()
    config.write_text(BAD)

    limit, log = daemon_limit(home)
    assert limit == 3, log  # the last good version, not the default 2
    (kept,) = corrupt_copies(config)
    assert kept.read_text() == BAD  # the person's text, kept aside
    assert "max_concurrent_jobs: 3" in config.read_text()  # the last good one put back
    assert "theme: backup-light" in config.read_text()
    assert f"config.yaml was invalid; kept it as {kept.name}" in log, log  # and said so


def test_an_invalid_config_yaml_with_no_good_version_is_reported(
    cli: CliRunner, home: Home
) -> None:
    home.config_path.write_text(BAD)  # written by hand, never valid
    _limit, log = daemon_limit(home)
    errors = cli("errors", "--json").json()
    assert "config.yaml" in log or any("config.yaml" in e["message"] for e in errors), (
        log,
        errors,
    )


def test_an_invalid_config_yaml_with_no_good_version_means_defaults_reported(
    cli: CliRunner, home: Home
) -> None:
    home.config_path.write_text(BAD)  # written by hand, never valid
    limit, log = daemon_limit(home)
    assert limit == 2, log  # the default
    kept = [home.config_path, *corrupt_copies(home.config_path)]
    assert any(p.exists() and p.read_text() == BAD for p in kept)  # never lost


def test_an_invalid_state_file_is_quarantined_and_its_last_good_version_used(
    cli: CliRunner, home: Home, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha\n")
    (tmp_path / "disk").mkdir()
    job = {"name": "docs", "sources": [str(src)], "destination": str(tmp_path / "disk" / "d")}
    home.job_file("docs").write_text(dumps(job))
    for _ in range(2):
        assert cli("run", "docs").returncode == 0
    state = home.state_file("docs")
    assert state.with_name("docs.yaml.bak").exists()
    good_run = cli("history", "docs", "--json").json()[0]["run_id"]
    bad = "status: [running\n"
    state.write_text(bad)

    r = cli("job", "list", "--json")
    assert r.returncode == 0, r
    (listed,) = r.json()
    assert listed["status"] == "succeeded", listed
    (kept,) = corrupt_copies(state)
    assert kept.read_text() == bad
    assert good_run in state.read_text()  # the last good state is back in place
    errors = cli("errors", "--json").json()
    assert any("state/docs.yaml" in e["message"] for e in errors), errors
    assert cli("run", "docs").returncode == 0  # and the job runs on
