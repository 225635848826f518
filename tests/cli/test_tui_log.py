"""Log lines never reach the terminal the TUI draws on (issue 12: "log lines are printed over
the TUI's screen"); they go to ``<home>/tui.log``, 0600, bounded."""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui_backup.cli.tui_log import MAX_BYTES, log_to_file


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    root.setLevel(logging.WARNING)  # other tests in this process may have raised it
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def test_log_lines_go_to_a_private_file_not_the_terminal(
    tmp_path: Path, root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = logging.StreamHandler(sys.stderr)
    root_logger.addHandler(terminal)
    old = os.umask(0o022)
    try:
        log_to_file(tmp_path / "tui.log")
    finally:
        os.umask(old)
    assert terminal not in root_logger.handlers
    logging.getLogger("tui_log_test").warning("a retry, said while the TUI is open")
    assert "a retry" not in capsys.readouterr().err
    path = tmp_path / "tui.log"
    assert "a retry, said while the TUI is open" in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_log_is_bounded(tmp_path: Path, root_logger: logging.Logger) -> None:
    log_to_file(tmp_path / "tui.log")
    line = "x" * 1000
    for _ in range(3 * MAX_BYTES // 1000):
        logging.getLogger("tui_log_test").warning(line)
    sizes = [p.stat().st_size for p in tmp_path.iterdir()]
    assert len(sizes) == 2 and max(sizes) <= MAX_BYTES + 2000
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in tmp_path.iterdir())
