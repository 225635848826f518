"""``!pattern`` re-includes what an earlier rule excluded (docs/configuration.md), on
every engine, as a person sets it up: ``job add --exclude`` through the CLI, then a
run and a full restore. (The engine-level contract is tests/contract/test_contract_trees.py.)
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CliRunner = Callable[..., Any]


@pytest.mark.parametrize("engine", ["snapshot", "rsync", "restic"])
def test_a_negated_pattern_keeps_what_an_earlier_rule_excluded(
    cli: CliRunner, tmp_path: Path, engine: str
) -> None:
    if engine != "snapshot" and shutil.which(engine) is None:
        pytest.skip(f"{engine} is not installed")
    src = tmp_path / "src"
    for name in ("plain.txt", "a.tmp", "keep.tmp", "sub/keep.tmp", "sub/c.tmp", "sub/d.txt"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(name)
    (tmp_path / "disk").mkdir()
    extra: list[str] = []
    if engine == "restic":
        (tmp_path / "pw").write_text("pw\n")
        extra = ["--password-file", str(tmp_path / "pw")]
    r = cli(
        "job", "add", "ex", "--engine", engine, "--source", str(src),
        "--dest", str(tmp_path / "disk" / "ex"), "--exclude", "*.tmp", "--exclude", "!keep.tmp",
        *extra,
    )  # fmt: skip
    assert r.returncode == 0, r
    shown = cli("job", "show", "ex", "--json").json()
    assert shown["definition"]["exclude"] == ["*.tmp", "!keep.tmp"], shown
    if engine == "restic":
        assert cli("init", "ex").returncode == 0
    r = cli("run", "ex")
    assert r.returncode == 0, r
    out = tmp_path / "out"
    r = cli("restore", "ex", "--target", str(out))
    assert r.returncode == 0, r
    restored = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert restored == ["keep.tmp", "plain.txt", "sub/d.txt", "sub/keep.tmp"], restored
