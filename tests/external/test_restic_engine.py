"""The restic engine against the real restic binary and a local repository."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from tui_backup.engines.api import EngineError
from tui_backup.engines.events import Finished, Progress
from tui_backup.engines.restic import ResticEngine
from tui_backup.model import RetentionPolicy, Status, parse_job


@pytest.fixture
def restic() -> ResticEngine:
    if shutil.which("restic") is None:
        pytest.skip("restic is not installed (.ci/run installs it)")
    return ResticEngine()


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


def test_backup_restore_roundtrip(restic: ResticEngine, tree: Path, tmp_path: Path) -> None:
    spec = spec_for(tree, tmp_path)
    events = run(restic, spec)
    fin = events[-1]
    assert isinstance(fin, Finished) and fin.status == Status.SUCCEEDED, fin
    assert fin.files == 31  # 30 + notes.md; the *.tmp file excluded, symlink not a file
    assert any(isinstance(e, Progress) for e in events)
    snaps = restic.snapshots(spec)
    assert [s.id for s in snaps] == [fin.snapshot_id]
    target = tmp_path / "out"
    restic.restore(spec, "latest", str(target))
    restored = target / str(tree).lstrip("/")
    for path in tree.rglob("*"):
        rel = path.relative_to(tree)
        if path.name.endswith(".tmp"):
            assert not (restored / rel).exists()
        elif path.is_symlink():
            assert os.readlink(restored / rel) == os.readlink(path)
        elif path.is_file():
            assert (restored / rel).read_bytes() == path.read_bytes()
    assert restic.verify(spec).ok


def test_missing_password_is_a_clear_failure(
    restic: ResticEngine, tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND"):
        monkeypatch.delenv(var, raising=False)
    fin = run(restic, spec_for(tree, tmp_path, password=False))[-1]
    assert fin.status == Status.FAILED
    assert "RESTIC_PASSWORD_FILE" in (fin.error or "")


def test_forget_keeps_newest_and_removes_the_rest(
    restic: ResticEngine, tree: Path, tmp_path: Path
) -> None:
    spec = spec_for(tree, tmp_path)
    for i in range(3):
        (tree / f"new{i}").write_text(str(i))
        assert run(restic, spec)[-1].status == Status.SUCCEEDED
    before = restic.snapshots(spec)
    assert len(before) == 3
    decisions = restic.forget(spec, RetentionPolicy(keep_last=1))
    assert [d.keep for d in decisions] == [True, False, False]
    after = restic.snapshots(spec)
    assert [s.id for s in after] == [before[0].id]


def test_unknown_snapshot_is_refused(restic: ResticEngine, tree: Path, tmp_path: Path) -> None:
    spec = spec_for(tree, tmp_path)
    run(restic, spec)
    with pytest.raises(EngineError, match="no snapshot"):
        restic.restore(spec, "deadbeef", str(tmp_path / "out"))
