"""Start-up imports only what the command needs (issue 9: ``--version`` at interpreter speed).

The figures live in ``benchmarks/startup.py``; these tests pin the cause: which
modules a command line loads, checked in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

from tui_backup.cli import main as cli_main

PROBE = """
import io, json, sys, contextlib
from tui_backup.cli.entry import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def loaded(home: Path, *argv: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        check=True,
        env={"TUI_BACKUP_HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    result = json.loads(proc.stdout)
    assert result["code"] == 0, proc.stderr
    return set(result["modules"])


def test_version_imports_nothing_of_the_program_but_its_version(tmp_path: Path) -> None:
    mods = loaded(tmp_path, "--version")
    ours = {m for m in mods if m.startswith("tui_backup")}
    assert ours == {"tui_backup", "tui_backup.cli", "tui_backup.cli.entry"}
    for heavy in ("argparse", "logging", "yaml", "sqlite3", "portalocker", "rich", "textual"):
        assert heavy not in mods, heavy


def test_job_list_loads_neither_the_tui_nor_other_commands(tmp_path: Path) -> None:
    mods = loaded(tmp_path, "job", "list")
    assert "tui_backup.cli.jobs" in mods
    for other in (
        "tui_backup.cli.daemon_cmd",
        "tui_backup.cli.demo",
        "tui_backup.cli.snapshots",
        "tui_backup.cli.run_cmd",
        "tui_backup.tui",
        "textual",
        "watchfiles",
    ):
        assert other not in mods, other


def test_every_command_is_in_the_table_under_the_module_that_registers_it() -> None:
    registered = set()
    for name in cli_main.COMMAND_MODULES:
        for command in _choices(name):
            assert cli_main.COMMANDS.get(command) == name, command
            registered.add(command)
    assert registered == set(cli_main.COMMANDS)


def _choices(module: str) -> list[str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    sub.common = cli_main.common_options()  # type: ignore[attr-defined]
    importlib.import_module(module).register(sub)
    return list(sub.choices)


def test_help_still_lists_every_command(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tui_backup", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"TUI_BACKUP_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    for command in cli_main.COMMANDS:
        assert command in proc.stdout, command


def test_the_command_word_is_found_after_the_common_options() -> None:
    assert cli_main.command_word(["--home", "run", "job", "list"]) == "job"
    assert cli_main.command_word(["-vv", "--home=/x", "run", "a"]) == "run"
    assert cli_main.command_word(["--help"]) is None
