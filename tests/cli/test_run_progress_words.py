"""How ``run`` words progress while a first run's scan still counts (issue 10 item 2).

The engines' side (a first run reports files done and a growing "found so
far" total from its first second) is tested with each engine; here the
command's words: no fixed total, no percentage, no ETA until counting ends.
"""

from __future__ import annotations

import pytest

from tui_backup.cli.run_cmd import _done_of_total, _PlainOutput
from tui_backup.model.progress import Progress


def test_while_counting_the_totals_are_found_so_far_and_there_is_no_fraction() -> None:
    p = Progress(
        phase="copy",
        files_done=120,
        files_total=3400,
        bytes_done=4_100_000,
        bytes_total=80_000_000,
        counting=True,
    )
    files, size = _done_of_total(p)
    assert files == "120 files of 3400 found so far"
    assert size.endswith(" found") and " of " in size
    assert p.fraction is None


def test_once_counted_the_totals_are_totals() -> None:
    p = Progress(phase="copy", files_done=120, files_total=3400, bytes_done=10, bytes_total=20)
    files, size = _done_of_total(p)
    assert files == "120/3400 files"
    assert "/" in size and "found" not in size
    assert p.fraction == 0.5


def test_counting_travels_in_run_json() -> None:
    assert Progress(counting=True).to_dict()["counting"] is True
    assert Progress.from_dict({"counting": True, "files_done": 3}) == Progress(
        files_done=3, counting=True
    )


def test_a_progress_line_that_knows_nothing_yet_is_not_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """QA saw ``copy 0 files of 0 found so far, 0 B of 0 B found, 0 B/s`` first.

    The empty event must not print, nor spend the once-a-second budget: the
    next event with numbers prints at once.
    """
    out = _PlainOutput("j1")
    out.progress(Progress(phase="copy", counting=True), None)
    assert capsys.readouterr().out == ""
    out.progress(Progress(phase="copy", files_done=3, files_total=10, counting=True), None)
    assert (
        capsys.readouterr().out == "j1: copy 3 files of 10 found so far, 0 B of 0 B found, 0 B/s\n"
    )
