"""``run_tool(on_lines=...)``, the rsync engine's batched reading of rsync's stdout,
hands over exactly the lines ``on_line`` sees, in order (CR ends a line, blank
lines dropped, a bad UTF-8 byte replaced, a last line without newline kept)."""

from __future__ import annotations

import sys

import pytest

from tui_backup.engines.process import run_tool

SCRIPT = r"""
import os
out = b"".join(
    b"@tbk@ line %d \xff\n   \r  12,000  %d%%  1MB/s  0:00:00\r\n" % (i, i % 100)
    for i in range(5000)
)
for i in range(0, len(out), 777):  # pieces that cut lines (and the \xff) anywhere
    os.write(1, out[i : i + 777])
os.write(1, b"tail without newline")
"""


def test_batched_lines_are_the_per_line_lines() -> None:
    argv = [sys.executable, "-c", SCRIPT]
    one: list[str] = []
    batches: list[list[str]] = []
    assert run_tool(argv, on_line=one.append, split_cr=True).returncode == 0
    assert run_tool(argv, on_lines=batches.append, split_cr=True).returncode == 0
    many = [line for batch in batches for line in batch]
    assert len(one) == 2 * 5000 + 1  # the blank "   " lines dropped
    assert one[0] == "@tbk@ line 0 \ufffd"
    assert one[-1] == "tail without newline"
    assert many == one


def test_exactly_one_line_callback() -> None:
    with pytest.raises(ValueError):
        run_tool(["true"])
    with pytest.raises(ValueError):
        run_tool(["true"], on_line=print, on_lines=print)
