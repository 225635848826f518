"""The CLI options no other test named: each does what docs/cli.md says.

A sweep of the parser against the test tree found these spellings unused
anywhere in the tests: ``--destination`` (the long form of ``--dest``),
``--keep-hourly``/``--keep-monthly``/``--keep-yearly`` on add and edit,
``job edit --clear-excludes``, and ``-v``/``--verbose`` after a command word.
:func:`test_every_long_option_is_named_by_some_test` keeps it that way.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.conftest import CliRunner
from tui_backup.cli.main import build_parser

TESTS = Path(__file__).resolve().parent.parent


def definition(cli: CliRunner, name: str) -> dict[str, Any]:
    r = cli("job", "show", name, "--json")
    assert r.returncode == 0, r
    return r.json()["definition"]


def add_job(cli: CliRunner, tmp_path: Path, *extra: str) -> None:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "a.txt").write_text("a\n")
    (tmp_path / "disk").mkdir(exist_ok=True)
    r = cli(
        "job",
        "add",
        "nightly",
        "--source",
        str(tmp_path / "src"),
        "--destination",
        str(tmp_path / "disk" / "nightly"),
        *extra,
    )
    assert r.returncode == 0, r


def test_add_takes_the_long_destination_and_every_keep_count(
    cli: CliRunner, tmp_path: Path
) -> None:
    add_job(cli, tmp_path, "--keep-hourly", "24", "--keep-monthly", "12", "--keep-yearly", "3")
    d = definition(cli, "nightly")
    assert d["destination"] == str(tmp_path / "disk" / "nightly")
    assert d["retention"] == {"keep_hourly": 24, "keep_monthly": 12, "keep_yearly": 3}


def test_edit_changes_the_destination_and_keep_counts_and_clears_excludes(
    cli: CliRunner, tmp_path: Path
) -> None:
    add_job(cli, tmp_path, "--keep-hourly", "24", "--exclude", "*.tmp", "--exclude", "cache/")
    assert definition(cli, "nightly")["exclude"] == ["*.tmp", "cache/"]
    r = cli(
        "job",
        "edit",
        "nightly",
        "--destination",
        str(tmp_path / "disk" / "moved"),
        "--keep-hourly",
        "0",
        "--keep-monthly",
        "-1",
        "--keep-yearly",
        "5",
        "--clear-excludes",
    )
    assert r.returncode == 0, r
    d = definition(cli, "nightly")
    assert d["destination"] == str(tmp_path / "disk" / "moved")
    assert d["exclude"] == []
    # 0 turns a rule off (it is not written); -1 keeps every snapshot of that period.
    assert d["retention"] == {"keep_monthly": -1, "keep_yearly": 5}


def test_a_keep_count_that_is_not_a_number_is_refused_and_nothing_changes(
    cli: CliRunner, tmp_path: Path
) -> None:
    add_job(cli, tmp_path, "--keep-yearly", "3")
    r = cli("job", "edit", "nightly", "--keep-yearly", "lots")
    assert r.returncode != 0 and "keep" in r.stderr.lower(), r
    assert definition(cli, "nightly")["retention"] == {"keep_yearly": 3}


def test_verbose_after_the_command_word_adds_log_lines(cli: CliRunner, tmp_path: Path) -> None:
    add_job(cli, tmp_path)
    quiet = cli("run", "nightly")
    assert quiet.returncode == 0, quiet
    assert "DEBUG" not in quiet.stderr and "INFO" not in quiet.stderr
    loud = cli("run", "nightly", "--verbose", "--verbose")
    assert loud.returncode == 0, loud
    assert "tui-backup: DEBUG:" in loud.stderr and "tui-backup: INFO:" in loud.stderr, loud
    info_only = cli("run", "nightly", "-v")
    assert "tui-backup: INFO:" in info_only.stderr and "DEBUG" not in info_only.stderr


def long_options(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[str]:
    """``"job edit --clear-excludes"`` for every long option of every command."""
    for action in parser._actions:  # argparse has no public walk over its actions
        if isinstance(action, argparse._SubParsersAction):
            for word, sub in action.choices.items():
                yield from long_options(sub, (*path, word))
            continue
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                yield " ".join((*path, option))


def test_every_long_option_is_named_by_some_test() -> None:
    """An option no test names is an option nobody checked: name it in a test."""
    here = Path(__file__).read_text().split("def long_options", 1)[0]
    others = (
        p.read_text(errors="replace") for p in TESTS.rglob("*.py") if p.name != Path(__file__).name
    )
    text = "\n".join((here, *others))
    options = {line.rsplit(" ", 1)[-1] for line in long_options(build_parser())}
    unnamed = sorted(o for o in options if f'"{o}"' not in text)
    assert unnamed == [], f"options no test names: {unnamed}"
