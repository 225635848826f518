"""Names from the filesystem cannot drive the terminal (issue 12: escape injection).

A file name holding ``ESC ] 0 ;`` (retitle the window), ``ESC [ 2 J`` (clear
the screen) or rich markup (``[red]``) used to reach the terminal raw through
``run``'s warnings and ``restore``'s listing. Every command shows such text
escaped (``\\x1b``), the same way in pipes and on a terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EVIL = "evil\x1b]0;pwned\x07\x1b[2J\x9b31m[red]x"


def cli(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui_backup", *argv],
        env={**os.environ, "TUI_BACKUP_HOME": str(home)},
        capture_output=True,
        text=True,
        errors="surrogateescape",
        check=False,
    )


def shown_safely(text: str) -> None:
    for raw in ("\x1b", "\x07", "\x9b"):
        assert raw not in text, repr(text)


@pytest.fixture
def job(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / EVIL).write_text("hello\n")
    home = tmp_path / "home"
    add = cli(home, "job", "add", "e", "--source", str(src), "--dest", str(tmp_path / "d"))
    assert add.returncode == 0, add.stderr
    return home


def test_verify_and_the_error_log_escape_control_characters(job: Path, tmp_path: Path) -> None:
    run = cli(job, "run", "e")
    assert run.returncode == 0, run.stderr
    shown_safely(run.stdout + run.stderr)
    assert "1 file, " in run.stdout and "0 warnings" in run.stdout  # counted in English
    snaps = [p for p in (tmp_path / "d").iterdir() if not p.is_symlink()]
    [stored] = [p / EVIL for p in snaps if (p / EVIL).is_file()]
    stored.write_text("hellO\n")  # same size: only the checksum can tell
    checked = cli(job, "verify", "e")
    assert checked.returncode == 1, checked.stderr
    shown_safely(checked.stdout + checked.stderr)
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m[red]x" in checked.stdout + checked.stderr
    log = cli(job, "errors")
    shown_safely(log.stdout + log.stderr)
    assert "evil\\x1b]0;pwned" in log.stdout


def test_restore_listing_escapes_control_characters(job: Path, tmp_path: Path) -> None:
    assert cli(job, "run", "e").returncode == 0
    dry = cli(job, "restore", "e", "--target", str(tmp_path / "r"), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    shown_safely(dry.stdout + dry.stderr)
    assert "evil\\x1b]0;pwned" in dry.stdout + dry.stderr


def test_rich_tables_show_markup_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    """On a terminal a cell's ``[red]`` is text, not a style (and controls are escaped)."""
    from tui_backup.cli import table

    table.render(["NAME"], [[EVIL]], tty=True)
    text = capsys.readouterr().out
    assert "[red]x" in text
    shown_safely(text)
