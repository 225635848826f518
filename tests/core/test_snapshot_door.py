"""The one door for snapshot operations (``manager.snapshots``), with the real snapshot engine."""

from __future__ import annotations

import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from corehelpers import add_job
from testengine import Plan

from tui_backup.core.manager import JobManager
from tui_backup.core.snapshots import SnapshotOperationFailed
from tui_backup.engines.registry import get_engine
from tui_backup.model.job import parse_job
from tui_backup.model.status import Status
from tui_backup.store.paths import Home


class Spy:
    """The real engine, with every call counted (proves the door uses the injected factory)."""

    def __init__(self, calls: Counter[str]) -> None:
        self._engine = get_engine("snapshot")
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        self._calls[name] += 1
        return getattr(self._engine, name)


@pytest.fixture
def calls() -> Counter[str]:
    return Counter()


@pytest.fixture
def real(home: Home, tmp_path: Path, calls: Counter[str]) -> JobManager:
    manager = JobManager(home, engine_factory=lambda name: Spy(calls))
    yield manager
    manager.shutdown()


def make_job(manager: JobManager, tmp_path: Path, name: str = "docs") -> Path:
    src = tmp_path / "src" / name
    (src / "sub").mkdir(parents=True, exist_ok=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.txt").write_text("beta")
    (tmp_path / "disk").mkdir(exist_ok=True)
    manager.create(
        parse_job(
            {"name": name, "sources": [str(src)], "destination": str(tmp_path / "disk" / name)}
        )
    )
    return src


def run(manager: JobManager, name: str) -> str:
    manager.start(name)
    record = manager.wait(name, timeout=60)
    assert record is not None and record.status == Status.SUCCEEDED, record
    assert record.snapshot_id
    return record.snapshot_id


def test_list_goes_through_the_injected_factory(
    real: JobManager, tmp_path: Path, calls: Counter[str]
) -> None:
    make_job(real, tmp_path)
    sid = run(real, "docs")
    calls.clear()
    found = real.snapshots.list(real.get_spec("docs"))
    assert [s.id for s in found] == [sid]
    assert found[0].files == 2
    assert calls["snapshots"] == 1


def test_restore_into_a_non_empty_target_is_refused_before_the_engine(
    real: JobManager, tmp_path: Path, calls: Counter[str]
) -> None:
    make_job(real, tmp_path)
    run(real, "docs")
    target = tmp_path / "target"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    calls.clear()
    with pytest.raises(SnapshotOperationFailed) as caught:
        real.snapshots.restore(real.get_spec("docs"), str(target))
    assert caught.value.error_type == "target_not_empty"
    assert "not empty" in str(caught.value)
    assert calls["restore"] == 0  # the engine was never asked
    assert sorted(p.name for p in target.iterdir()) == ["mine.txt"]
    # Through the manager too: refused, nothing in history, no error event.
    with pytest.raises(SnapshotOperationFailed):
        real.restore("docs", str(target))
    assert [r for r in real.history("docs") if r.trigger == "restore"] == []
    assert real.errors() == []


def test_restore_with_overwrite_and_into_an_empty_target(real: JobManager, tmp_path: Path) -> None:
    make_job(real, tmp_path)
    run(real, "docs")
    spec = real.get_spec("docs")
    empty = tmp_path / "empty"
    empty.mkdir()
    report = real.snapshots.restore(spec, str(empty))
    assert report.files == 2
    assert (empty / "sub" / "b.txt").read_text() == "beta"
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "a.txt").write_text("old")
    real.snapshots.restore(spec, str(busy), overwrite=True)
    assert (busy / "a.txt").read_text() == "alpha"


def test_a_target_that_is_a_file_is_refused(real: JobManager, tmp_path: Path) -> None:
    make_job(real, tmp_path)
    run(real, "docs")
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(SnapshotOperationFailed) as caught:
        real.snapshots.restore(real.get_spec("docs"), str(target), overwrite=True)
    assert caught.value.error_type == "invalid_target"


def test_dry_run_into_a_non_empty_target_writes_nothing_and_records_nothing(
    real: JobManager, tmp_path: Path
) -> None:
    make_job(real, tmp_path)
    run(real, "docs")
    target = tmp_path / "target"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    report = real.restore("docs", str(target), dry_run=True)
    assert sorted(report.planned) == ["a.txt", "sub/b.txt"]
    assert sorted(p.name for p in target.iterdir()) == ["mine.txt"]
    nowhere = tmp_path / "not" / "there"
    real.snapshots.restore(real.get_spec("docs"), str(nowhere), dry_run=True)
    assert not (tmp_path / "not").exists()
    assert real.errors() == []
    assert [r for r in real.history("docs") if r.trigger == "restore"] == []


def test_engine_failures_become_readable_door_failures(real: JobManager, tmp_path: Path) -> None:
    make_job(real, tmp_path)
    run(real, "docs")
    with pytest.raises(SnapshotOperationFailed) as caught:
        real.snapshots.restore(real.get_spec("docs"), str(tmp_path / "t"), snapshot="nope")
    assert caught.value.error_type == "snapshot_not_found"
    assert str(caught.value).startswith("docs: ")


def test_forget_without_a_policy_is_bad_input(real: JobManager, tmp_path: Path) -> None:
    make_job(real, tmp_path)
    with pytest.raises(SnapshotOperationFailed) as caught:
        real.snapshots.forget(real.get_spec("docs"))
    assert caught.value.error_type == "no_policy"


def test_an_unknown_engine_is_a_door_failure(home: Home, tmp_path: Path) -> None:
    def factory(name: str) -> Any:
        return get_engine("no-such-engine")

    manager = JobManager(home, engine_factory=factory)
    try:
        make_job(manager, tmp_path)
        with pytest.raises(SnapshotOperationFailed) as caught:
            manager.snapshots.list(manager.get_spec("docs"))
        assert caught.value.error_type == "unknown_engine"
    finally:
        manager.shutdown()


def test_forget_waits_for_no_run_but_a_dry_run_does_not(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "docs", retention={"keep_last": 1})
    plan["docs"].gate = threading.Event()
    manager.start("docs")
    assert plan["docs"].started.wait(10)
    spec = manager.get_spec("docs")
    with pytest.raises(SnapshotOperationFailed) as caught:
        manager.snapshots.forget(spec)
    assert caught.value.error_type == "job_running"
    manager.snapshots.forget(spec, dry_run=True)
    plan["docs"].gate.set()
    manager.wait("docs", timeout=10)
    before = len(plan.forgets)
    manager.snapshots.forget(spec)
    assert len(plan.forgets) == before + 1


CORE = Path(__file__).parents[2] / "tui_backup" / "core"


@pytest.mark.parametrize("module", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_asks_capabilities_not_names_or_attributes(module: Path) -> None:
    """No ``spec.engine == ...``, no ``hasattr`` probing; engines come from the factory."""
    text = module.read_text()
    assert "hasattr(" not in text
    assert not re.search(r"""\.engine\s*[!=]=\s*["']""", text)
    assert not re.search(r"""["']\s*[!=]=\s*\w+\.engine\b""", text)
    if module.name != "manager.py":  # the default factory is bound there, once
        assert "get_engine" not in text
