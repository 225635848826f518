"""A restic verify says what it counted: packs, and no made-up byte count.

Before: ``ok: 1 snapshot, 1 file (0 B) read`` for a ``restic check
--read-data-subset`` that read one pack of unknown size.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import CliRunner

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="needs restic")


def test_restic_verify_counts_packs_and_does_not_invent_bytes(
    cli: CliRunner, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a" * 5000)
    password = tmp_path / "pw"
    password.write_text("pw\n")
    repo = tmp_path / "repo"
    added = cli(
        "job", "add", "r", "--engine", "restic", "--source", str(src), "--dest", str(repo),
        "--password-file", str(password), "--read-data-subset", "100%",
    )  # fmt: skip
    assert added.returncode == 0, added
    assert cli("init", "r").returncode == 0
    assert cli("run", "r").returncode == 0
    checked = cli("verify", "r")
    assert checked.returncode == 0, checked
    last = checked.stderr.strip().splitlines()[-1]
    assert last.startswith("ok: 1 snapshot, "), last
    assert " pack" in last and " file" not in last and "(0 B)" not in last, last
    report = cli("verify", "r", "--json").json()
    assert report["unit"] == "pack" and report["files_checked"] >= 1
    assert report["bytes_checked"] is None


def test_snapshot_verify_still_counts_files_and_bytes(cli: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("abc")
    assert (
        cli("job", "add", "s", "--source", str(src), "--dest", str(tmp_path / "d")).returncode == 0
    )
    assert cli("run", "s").returncode == 0
    report = cli("verify", "s", "--json").json()
    assert report["unit"] == "file" and report["files_checked"] == 1
    assert report["bytes_checked"] == 3
