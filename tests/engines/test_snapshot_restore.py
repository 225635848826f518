"""Restore as one behaviour: refusals up front, dry runs that write nothing, skips listed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.engines.conftest import StepClock, make_spec, run, write
from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.snapshot import SnapshotEngine
from tui_backup.model.job import JobSpec


@pytest.fixture
def backed_up(tmp_path: Path) -> tuple[SnapshotEngine, JobSpec, str]:
    src = tmp_path / "src"
    write(src / "docs" / "a.txt", "alpha")
    write(src / "top.txt", "top")
    engine = SnapshotEngine(clock=StepClock())
    spec = make_spec(src, tmp_path / "dest")
    return engine, spec, run(spec, engine=engine).finished.snapshot_id or ""


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_dry_run_writes_nothing_anywhere(tmp_path: Path, backed_up) -> None:
    engine, spec, sid = backed_up
    out = tmp_path / "new" / "out"
    (tmp_path / "new").mkdir()
    report = engine.restore(spec, sid, str(out), dry_run=True)
    assert report.dry_run and report.files == 2
    assert report.planned == ("docs/a.txt", "top.txt")
    assert report.summary() == f"would restore 2 files into {out}"
    assert os.listdir(tmp_path / "new") == []  # not even the target directory


def test_dry_run_into_a_non_empty_target_lists_without_refusing(tmp_path: Path, backed_up) -> None:
    """Browsing a snapshot is a dry run; it must work whatever the target holds."""
    engine, spec, sid = backed_up
    out = tmp_path / "out"
    write(out / "mine", "x")
    report = engine.restore(spec, sid, str(out), ["docs"], dry_run=True)
    assert report.planned == ("docs/a.txt",)
    assert tree(out) == ["mine"]


@pytest.mark.parametrize("path", ["nope.txt", "docs/nope.txt", "top.txt/below"])
def test_a_path_not_in_the_snapshot_is_an_error(tmp_path: Path, backed_up, path: str) -> None:
    engine, spec, sid = backed_up
    for dry_run in (False, True):
        with pytest.raises(EngineError) as err:
            engine.restore(spec, sid, str(tmp_path / "out"), ["top.txt", path], dry_run=dry_run)
        assert err.value.error_type == ErrorType.PATH_NOT_IN_SNAPSHOT
        assert path in str(err.value)
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_one_file_restores_with_one_summary_line(tmp_path: Path, backed_up) -> None:
    engine, spec, sid = backed_up
    out = tmp_path / "out"
    report = engine.restore(spec, sid, str(out), ["docs/a.txt"])
    assert report.summary() == f"restored 1 file (5 B) into {out}"
    assert tree(out) == ["docs", "docs/a.txt"]


def test_a_target_that_is_a_file_is_refused(tmp_path: Path, backed_up) -> None:
    engine, spec, sid = backed_up
    target = write(tmp_path / "file", "x")
    with pytest.raises(EngineError) as err:
        engine.restore(spec, sid, str(target), overwrite=True)
    assert err.value.error_type == ErrorType.INVALID_TARGET
    assert "exists and is not a directory" in str(err.value)


@pytest.mark.timeout(30)
def test_special_files_planted_in_a_snapshot_are_skipped(tmp_path: Path, backed_up) -> None:
    engine, spec, sid = backed_up
    os.mkfifo(Path(spec.destination) / sid / "docs" / "pipe")
    out = tmp_path / "out"
    report = engine.restore(spec, sid, str(out))
    assert report.files == 2
    assert report.skipped == (
        "docs/pipe: a FIFO in the snapshot that its manifest does not list; not restored",
    )
    assert report.warnings == 1
    assert not (out / "docs" / "pipe").exists() and (out / "docs" / "a.txt").read_text() == "alpha"
    assert report.summary().startswith("restored 2 files (8 B), skipped 1: docs/pipe: a FIFO")


def test_a_new_target_is_created_with_its_parents(tmp_path: Path, backed_up) -> None:
    engine, spec, sid = backed_up
    out = tmp_path / "a" / "b" / "out"
    assert engine.restore(spec, sid, str(out), ["top.txt"]).files == 1
    assert (out / "top.txt").read_text() == "top"
