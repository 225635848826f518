"""Issue 8: an rsync destination belongs to one job, locally and over ssh.

Before: no owner marker; a second job on the same destination ran, its
snapshot was listed and restored as the first job's, and purging it deleted
the first job's history.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.rsync import RsyncEngine
from tui_backup.model import RetentionPolicy

from .conftest import Where, backup, finished, run


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a.txt").write_text("a\n")
    (src / "b.txt").write_text("bb\n")
    return src


def test_first_run_writes_the_owner_marker(where: Where, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    backup(where.spec(_source(tmp_path), dest, name="first"))
    marker = json.loads((dest / ".tui-backup" / "owner.json").read_text())
    assert marker == {"job": "first", "engine": "rsync", "format": 1}


def test_init_claims_the_destination(where: Where, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    src = _source(tmp_path)
    spec = where.spec(src, dest, name="first")
    said = RsyncEngine().init(spec)
    assert "first" in said
    assert json.loads((dest / ".tui-backup" / "owner.json").read_text())["job"] == "first"
    other = where.spec(src, dest, name="second")
    with pytest.raises(EngineError) as err:
        RsyncEngine().init(other)
    assert err.value.error_type == ErrorType.DESTINATION_OWNED


def test_a_second_job_is_refused_everything(where: Where, tmp_path: Path) -> None:
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    first = where.spec(src, dest, name="first")
    ids = [backup(first), backup(first)]
    second = where.spec(src, dest, name="second")
    before = sorted(os.listdir(dest))

    fin = finished(run(second))
    assert fin.status == "failed"
    assert fin.error_type == ErrorType.DESTINATION_OWNED
    assert "first" in (fin.error or "")
    engine = RsyncEngine()
    calls = {
        "snapshots": lambda: engine.snapshots(second),
        "restore": lambda: engine.restore(second, "latest", str(tmp_path / "r"), dry_run=True),
        "verify": lambda: engine.verify(second),
        "forget": lambda: engine.forget(second, RetentionPolicy(keep_last=1)),
        "delete_data": lambda: engine.delete_data(second),
    }
    for what, call in calls.items():
        with pytest.raises(EngineError) as err:
            call()
        assert err.value.error_type == ErrorType.DESTINATION_OWNED, what
    assert sorted(os.listdir(dest)) == before
    assert [s.id for s in engine.snapshots(first)] == sorted(ids, reverse=True)
    assert not (tmp_path / "r").exists()


def test_delete_data_removes_exactly_this_jobs_snapshots(where: Where, tmp_path: Path) -> None:
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    spec = where.spec(src, dest)
    ids = [backup(spec), backup(spec)]
    (dest / "notes.txt").write_text("a file of the user's, not a snapshot\n")
    (dest / "2020-01-01").mkdir()  # not an id: not ours

    removed = RsyncEngine().delete_data(spec)

    assert sorted(removed) == sorted(ids)
    assert sorted(os.listdir(dest)) == ["2020-01-01", "notes.txt"]
    assert RsyncEngine().snapshots(spec) == []


def test_delete_data_of_an_empty_destination_removes_it(where: Where, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    spec = where.spec(_source(tmp_path), dest)
    backup(spec)
    RsyncEngine().delete_data(spec)
    assert not dest.exists()
    assert RsyncEngine().delete_data(spec) == []


def test_an_unmarked_destination_with_snapshots_is_not_purged(where: Where, tmp_path: Path) -> None:
    """Snapshots made before markers existed: nothing proves whose they are."""
    dest = tmp_path / "dest"
    spec = where.spec(_source(tmp_path), dest)
    sid = backup(spec)
    (dest / ".tui-backup" / "owner.json").unlink()
    with pytest.raises(EngineError) as err:
        RsyncEngine().delete_data(spec)
    assert err.value.error_type == ErrorType.DESTINATION_OWNED
    assert (dest / sid).is_dir()
    # The job's next run claims it again (a destination made by an older version).
    backup(spec)
    assert json.loads((dest / ".tui-backup" / "owner.json").read_text())["job"] == "r"
