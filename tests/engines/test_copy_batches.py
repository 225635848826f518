"""Copy batches shared by worker threads: every job runs once, results stay in order."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.engines.conftest import make_spec, run, write
from tui_backup.engines.snapshot import SnapshotEngine, copy
from tui_backup.engines.snapshot.copy import CopyBatch, WorkerPool
from tui_backup.model.status import Status


def test_each_job_of_a_batch_runs_once_whoever_helps(tmp_path: Path) -> None:
    src = tmp_path / "src"
    dst = tmp_path / "dst"
    dst.mkdir()
    batch = CopyBatch()
    for i in range(200):
        write(src / f"f{i:03d}", os.urandom(i * 37))
        batch.jobs.append((str(src / f"f{i:03d}"), str(dst / f"f{i:03d}")))
    pool = WorkerPool(3, threading.Event())
    try:
        pool.submit(batch)
        assert batch.done is not None
        assert batch.done.acquire(timeout=30)
    finally:
        pool.shutdown()
    assert batch.results is not None and len(batch.results) == 200
    for i, (digest, st) in enumerate(batch.results):
        assert st.st_size == i * 37
        assert (dst / f"f{i:03d}").read_bytes() == (src / f"f{i:03d}").read_bytes()
        assert len(digest) == 64


def test_an_unexpected_error_in_a_copy_fails_the_run_instead_of_hanging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    for i in range(100):
        write(src / f"f{i:03d}", "x")
    real = copy.copy_file

    def flaky(s: str, d: str, cancel: object, *dirs: int | None) -> object:
        if s.endswith("f050"):
            raise RuntimeError("unexpected")
        return real(s, d, cancel, *dirs)

    monkeypatch.setattr(copy, "copy_file", flaky)
    done = run(make_spec(src, tmp_path / "dest"), engine=SnapshotEngine(workers=2)).finished
    assert done.status == Status.FAILED and done.error_type == "engine_crashed"
    assert [n for n in os.listdir(tmp_path / "dest") if n.endswith(".partial")] == []


def test_a_file_swapped_for_a_fifo_after_the_listing_is_skipped_not_waited_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk does not stat new files; the copy's open must not block on a FIFO."""
    from tui_backup.engines.snapshot import build

    src = tmp_path / "src"
    for i in range(5):
        write(src / f"f{i}", "x")
    real_file = build.SnapshotBuilder._file

    def swap(self, src_path, dst, rel, st):  # type: ignore[no-untyped-def]
        if rel == "f2":
            os.unlink(src_path)
            os.mkfifo(src_path)
        return real_file(self, src_path, dst, rel, st)

    monkeypatch.setattr(build.SnapshotBuilder, "_file", swap)
    result = run(make_spec(src, tmp_path / "dest"), engine=SnapshotEngine(workers=2))
    done = result.finished
    assert done.status == Status.SUCCEEDED and done.files == 4 and done.warnings == 1
    assert [w.reason for w in result.warnings] == ["changed type during backup"]
