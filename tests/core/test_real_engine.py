"""End to end through the manager with the real snapshot engine on small trees."""

from __future__ import annotations

from pathlib import Path

from corehelpers import Recorder

from tui_backup.core.events import JobsChanged, RunFinished
from tui_backup.core.manager import JobManager
from tui_backup.engines.registry import get_engine
from tui_backup.model.job import parse_job
from tui_backup.model.status import Status
from tui_backup.store.paths import Home


def test_snapshot_runs_retention_and_hooks(home: Home, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(30):
        (src / "d" / f"f{i}").write_bytes(b"x" * (i * 100))
    (tmp_path / "backup-disk").mkdir()
    seen = tmp_path / "snapshot-id"
    manager = JobManager(home)
    try:
        manager.create(
            parse_job(
                {
                    "name": "real",
                    "sources": [str(src)],
                    "destination": str(tmp_path / "backup-disk" / "real"),
                    "retention": {"keep_last": 1},
                    "hooks": {
                        "on_success": [["sh", "-c", f'echo "$TUI_BACKUP_SNAPSHOT" > {seen}']]
                    },
                }
            )
        )
        rec = Recorder()
        manager.subscribe(rec)
        manager.start("real")
        first = manager.wait("real", timeout=30)
        assert first is not None and first.status == Status.SUCCEEDED, first
        assert first.files == 30 and first.snapshot_id
        assert seen.read_text().strip() == first.snapshot_id
        (src / "d" / "f1").write_bytes(b"changed")
        manager.start("real")
        second = manager.wait("real", timeout=30)
        assert second is not None and second.status == Status.SUCCEEDED
        engine = get_engine("snapshot")
        spec = manager.get_spec("real")
        assert [s.id for s in engine.snapshots(spec)] == [second.snapshot_id]  # keep_last: 1
        rec.wait_for(lambda e: isinstance(e, RunFinished) and e.run.run_id == second.run_id)
        assert any(
            isinstance(e, JobsChanged) and any(v.state.progress for v in e.views)
            for e in rec.events
        )
        assert manager.state("real").last_result.snapshot_id == second.snapshot_id  # type: ignore[union-attr]
    finally:
        manager.shutdown()
