"""The restic engine against the real restic binary and a local repository.

The engine contract for restic (more cases, and remote repositories, in
``tests/external/restic/`` and ``tests/contract/``).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.events import Finished, Progress
from tui_backup.engines.restic import ResticEngine
from tui_backup.model import RetentionPolicy, Status, parse_job


@pytest.fixture
def restic() -> ResticEngine:
    if shutil.which("restic") is None:
        pytest.skip("restic is not installed (.ci/run installs it)")
    return ResticEngine(lock_timeout=5.0)


def spec_for(src: Path, tmp: Path, *, password: bool = True):
    env = {}
    if password:
        pw = tmp / "password"
        pw.write_text("correct horse battery staple\n")
        env["RESTIC_PASSWORD_FILE"] = str(pw)
    data = {
        "name": "cloud",
        "sources": [str(src)],
        "destination": str(tmp / "repo"),
        "engine": "restic",
        "exclude": ["*.tmp"],
        "env": env,
    }
    return parse_job(data, "jobs/cloud.yaml", "cloud")


def run(engine: ResticEngine, spec, cancel: threading.Event | None = None) -> list[object]:
    events: list[object] = []
    engine.run(spec, cancel or threading.Event(), events.append)
    assert sum(isinstance(e, Finished) for e in events) == 1
    return events


def test_capabilities(restic: ResticEngine, tree: Path, tmp_path: Path) -> None:
    caps = restic.capabilities(spec_for(tree, tmp_path))
    assert not caps.remote and not caps.browsable
    assert caps.repository_check and caps.dedup and caps.encryption and caps.needs_init
    assert caps.shares_destination
    remote = parse_job(
        {"name": "c", "sources": [str(tree)], "destination": "sftp:host:/r", "engine": "restic"},
        "jobs/c.yaml",
        "c",
    )
    assert restic.capabilities(remote).remote


def test_backup_restore_roundtrip(restic: ResticEngine, tree: Path, tmp_path: Path) -> None:
    spec = spec_for(tree, tmp_path)
    restic.init(spec)
    events = run(restic, spec)
    fin = events[-1]
    assert isinstance(fin, Finished) and fin.status == Status.SUCCEEDED, fin
    assert fin.files == 31  # 30 + notes.md; the *.tmp file excluded, symlink not a file
    assert any(isinstance(e, Progress) for e in events)
    [snap] = restic.snapshots(spec)
    assert snap.id == fin.snapshot_id
    assert snap.files == 31
    assert snap.bytes == sum(p.stat().st_size for p in (tree / "docs").rglob("*") if p.is_file())
    target = tmp_path / "out"
    report = restic.restore(spec, "latest", str(target))
    assert report.files == 31
    # The layout of every engine: a single directory source's contents at the target root.
    assert not (target / str(tree).lstrip("/")).exists()
    for path in tree.rglob("*"):
        rel = path.relative_to(tree)
        if path.name.endswith(".tmp"):
            assert not (target / rel).exists()
        elif path.is_symlink():
            assert os.readlink(target / rel) == os.readlink(path)
        elif path.is_file():
            assert (target / rel).read_bytes() == path.read_bytes()
        else:
            assert (target / rel).is_dir()
    report = restic.verify(spec)
    assert report.ok, report
    assert report.method.startswith("restic check --read-data-subset=")
    assert report.files_checked > 0, "verify says how many packs it read"


def test_missing_password_is_a_clear_failure(
    restic: ResticEngine, tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND"):
        monkeypatch.delenv(var, raising=False)
    fin = run(restic, spec_for(tree, tmp_path, password=False))[-1]
    assert fin.status == Status.FAILED
    assert fin.error_type == ErrorType.NO_PASSWORD
    assert "RESTIC_PASSWORD_FILE" in (fin.error or "")


def test_forget_keeps_newest_and_removes_the_rest(
    restic: ResticEngine, tree: Path, tmp_path: Path
) -> None:
    spec = spec_for(tree, tmp_path)
    restic.init(spec)
    for i in range(3):
        (tree / f"new{i}").write_text(str(i))
        assert run(restic, spec)[-1].status == Status.SUCCEEDED
    before = restic.snapshots(spec)
    assert len(before) == 3
    deleted: list[str] = []
    decisions = restic.forget(spec, RetentionPolicy(keep_last=1), on_delete=deleted.append)
    assert [d.keep for d in decisions] == [True, False, False]
    assert deleted == [before[1].id, before[2].id]
    after = restic.snapshots(spec)
    assert [s.id for s in after] == [before[0].id]


def test_unknown_snapshot_is_refused(restic: ResticEngine, tree: Path, tmp_path: Path) -> None:
    spec = spec_for(tree, tmp_path)
    restic.init(spec)
    run(restic, spec)
    with pytest.raises(EngineError) as err:
        restic.restore(spec, "deadbeef", str(tmp_path / "out"))
    assert err.value.error_type == ErrorType.SNAPSHOT_NOT_FOUND
    assert not (tmp_path / "out").exists()


def test_delete_data_returns_the_ids_it_removed(
    restic: ResticEngine, tree: Path, tmp_path: Path
) -> None:
    spec = spec_for(tree, tmp_path)
    restic.init(spec)
    sid = run(restic, spec)[-1].snapshot_id
    assert restic.delete_data(spec) == [sid]
    assert restic.snapshots(spec) == []
    assert restic.delete_data(spec) == []
