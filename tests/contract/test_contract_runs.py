"""The contract for runs, listings, ownership, retention, cancel and unmounted disks.

Every case runs against every destination kind (``servers.DESTINATION_KINDS``).
A case is skipped only where the engine's :class:`Capabilities` say it cannot
do the thing asked, never because it fails: a failure here is an engine bug.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from destinations import (
    Dest,
    change_source,
    counts,
    error_type_of,
    make_big_source,
    make_source,
)
from servers import DESTINATION_KINDS, Destination

from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.events import EngineEvent, Progress
from tui_backup.engines.layout import PARTIAL_SUFFIX
from tui_backup.model.retention import RetentionPolicy
from tui_backup.model.status import Status

pytestmark = [
    pytest.mark.contract,
    pytest.mark.parametrize("destination", DESTINATION_KINDS, indirect=True),
]


@pytest.fixture
def dest(destination: Destination, tmp_path: Path) -> Dest:
    return Dest(destination, tmp_path)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return make_source(tmp_path / "src", outside=tmp_path / "outside")


@pytest.mark.timeout(120)
def test_full_and_incremental_runs_list_the_sources_true_counts(dest: Dest, src: Path) -> None:
    """Listings say how many regular files and bytes a snapshot holds: never a fake 0.

    The source has a symlink to a directory outside it; following it would
    add that directory's file to the counts.
    """
    spec = dest.spec(src)
    dest.prepare(spec)
    first_counts = counts(src)
    first = dest.backup(spec)
    [info] = dest.snapshots(spec)
    assert info.id == first
    assert (info.files, info.bytes) == first_counts

    change_source(src)
    second_counts = counts(src)
    assert second_counts != first_counts
    second = dest.backup(spec)
    snaps = dest.snapshots(spec)
    assert [s.id for s in snaps] == [second, first], "newest first"
    assert (snaps[0].files, snaps[0].bytes) == second_counts
    assert (snaps[1].files, snaps[1].bytes) == first_counts
    assert snaps[0].time >= snaps[1].time


@pytest.mark.timeout(180)
def test_a_second_job_never_touches_the_first_jobs_snapshots(dest: Dest, src: Path) -> None:
    """Ownership: a second job on the same destination is refused (one job per tree
    destination) or sees only its own snapshots (restic: tagged per job and host)."""
    first = dest.spec(src, name="job-a")
    dest.prepare(first)
    a_ids = [dest.backup(first)]
    change_source(src)
    a_ids.insert(0, dest.backup(first))
    a_counts = counts(src)
    assert dest.ids(first) == a_ids

    second = dest.spec(src, name="job-b")
    policy = RetentionPolicy(keep_last=1)
    if not dest.capabilities(second).shares_destination:
        before = dest.listing()
        result = dest.run(second)
        assert result.finished.status == Status.FAILED, result.describe()
        assert result.finished.error_type == ErrorType.DESTINATION_OWNED, result.describe()
        owned = ErrorType.DESTINATION_OWNED
        assert error_type_of(lambda: dest.engine.snapshots(second)) == owned
        assert error_type_of(lambda: dest.engine.forget(second, policy)) == owned
        assert error_type_of(lambda: dest.engine.forget(second, policy, dry_run=True)) == owned
        assert error_type_of(lambda: dest.engine.delete_data(second)) == owned
        target = str(src.parent / "restored-by-b")
        assert error_type_of(lambda: dest.engine.restore(second, a_ids[0], target)) == owned
        assert not Path(target).exists()
        assert dest.listing() == before, "a refused job wrote to the destination"
    else:
        b_id = dest.backup(second)
        assert dest.ids(second) == [b_id], "the second job sees only its own snapshots"
        assert dest.ids(first) == a_ids, "the first job does not list the second's"
        target = str(src.parent / "restored-by-b")
        not_found = ErrorType.SNAPSHOT_NOT_FOUND
        assert error_type_of(lambda: dest.engine.restore(second, a_ids[0], target)) == not_found
        assert not Path(target).exists()
        (src / "only-b.txt").write_text("b\n")
        b_ids = [dest.backup(second), b_id]
        dest.engine.forget(second, policy)
        assert dest.ids(second) == b_ids[:1]
        assert dest.ids(first) == a_ids, "the second job's forget removed the first's snapshots"
        deleted = dest.engine.delete_data(second)
        assert deleted == b_ids[:1]
        assert dest.ids(second) == []
    assert dest.ids(first) == a_ids, "the first job's snapshots must all survive"
    [info] = [s for s in dest.snapshots(first) if s.id == a_ids[0]]
    assert (info.files, info.bytes) == a_counts


@pytest.mark.timeout(120)
def test_purge_deletes_exactly_this_jobs_snapshots(dest: Dest, src: Path) -> None:
    spec = dest.spec(src)
    dest.prepare(spec)
    ids = [dest.backup(spec)]
    change_source(src)
    ids.insert(0, dest.backup(spec))
    deleted = dest.engine.delete_data(spec)
    assert sorted(deleted) == sorted(ids)
    assert dest.ids(spec) == []


@pytest.mark.timeout(180)
def test_forget_keeps_the_newest(dest: Dest, src: Path) -> None:
    """``keep_last: 1`` after three runs leaves exactly the newest; a dry run removes nothing."""
    spec = dest.spec(src, retention=RetentionPolicy(keep_last=1))
    dest.prepare(spec)
    ids: list[str] = []
    for i in range(3):
        (src / f"run-{i}.txt").write_text(f"run {i}\n")
        ids.insert(0, dest.backup(spec))
    assert dest.ids(spec) == ids

    before = dest.listing()
    planned = dest.engine.forget(spec, RetentionPolicy(keep_last=1), dry_run=True)
    assert {d.snapshot_id: d.keep for d in planned} == {ids[0]: True, ids[1]: False, ids[2]: False}
    assert dest.ids(spec) == ids, "a dry-run forget removed snapshots"
    assert dest.listing() == before, "a dry-run forget wrote to the destination"

    deleted: list[str] = []
    decisions = dest.engine.forget(spec, RetentionPolicy(keep_last=1), on_delete=deleted.append)
    assert [d.snapshot_id for d in decisions if d.keep] == [ids[0]]
    assert dest.ids(spec) == [ids[0]]
    assert sorted(deleted) == sorted(ids[1:])


@pytest.mark.timeout(180)
def test_cancel_mid_run_leaves_nothing_listed(dest: Dest, tmp_path: Path) -> None:
    """A run cancelled at its first progress report commits nothing; the next run works."""
    src = make_big_source(tmp_path / "big")
    spec = dest.spec(src)
    dest.prepare(spec)

    def cancel_on_progress(event: EngineEvent, cancel: threading.Event) -> None:
        if isinstance(event, Progress):
            cancel.set()

    result = dest.run(spec, on_event=cancel_on_progress)
    assert result.progress, "a run of 30 MB reports progress"
    assert result.finished.status == Status.STOPPED, result.describe()
    assert dest.ids(spec) == [], "a cancelled run must not leave a listed snapshot"

    done = dest.backup(spec)
    [info] = dest.snapshots(spec)
    assert info.id == done
    assert (info.files, info.bytes) == counts(src)


@pytest.mark.timeout(120)
def test_a_missing_destination_parent_is_refused_and_never_created(dest: Dest, src: Path) -> None:
    """An unmounted disk: the destination's parent is missing. Refuse; create nothing."""
    where = dest.missing_parent()
    if where is None:
        pytest.skip(f"a {dest.kind.name} repository has no parent directory (a server path)")
    target, parent = where
    spec = dest.spec(src, destination=target)
    if dest.capabilities(spec).needs_init:
        assert error_type_of(lambda: dest.engine.init(spec)) == ErrorType.DESTINATION_MISSING
        assert not parent.exists(), "init created the missing parent"
    result = dest.run(spec)
    assert result.finished.status == Status.FAILED, result.describe()
    assert result.finished.error_type == ErrorType.DESTINATION_MISSING, result.describe()
    assert not parent.exists(), "the run created the missing parent"


@pytest.mark.timeout(120)
def test_a_run_never_creates_a_remote_repository_nobody_asked_for(dest: Dest, src: Path) -> None:
    """``restic init`` only when asked, or where the location is known to be new (a local
    path that does not exist yet). A run on a remote repository that does not exist
    fails (NO_REPOSITORY) and creates nothing; ``init`` then makes runs work."""
    spec = dest.spec(src)
    if not dest.capabilities(spec).needs_init:
        pytest.skip(f"the {dest.kind.engine} engine needs no init (Capabilities.needs_init)")
    if not dest.capabilities(spec).remote:
        pytest.skip("a local path that does not exist is known to be new: a run may init it")
    before = dest.listing()
    result = dest.run(spec)
    assert result.finished.status == Status.FAILED, result.describe()
    assert result.finished.error_type == ErrorType.NO_REPOSITORY, result.describe()
    assert dest.listing() == before, "a run created a repository"
    try:
        listed = dest.snapshots(spec)
    except EngineError as exc:
        assert exc.error_type == ErrorType.NO_REPOSITORY, exc
    else:
        assert listed == []
    assert dest.listing() == before, "listing created a repository"

    said = dest.engine.init(spec)
    assert isinstance(said, str) and said
    assert dest.listing() != before
    assert dest.ids(spec) == []
    dest.backup(spec)


@pytest.mark.timeout(120)
def test_a_missing_source_is_refused_and_nothing_is_listed(dest: Dest, tmp_path: Path) -> None:
    spec = dest.spec(tmp_path / "no-such-source")
    dest.prepare(spec)
    result = dest.run(spec)
    assert result.finished.status == Status.FAILED, result.describe()
    assert result.finished.error_type == ErrorType.SOURCE_MISSING, result.describe()
    assert dest.ids(spec) == []


@pytest.mark.timeout(120)
def test_a_crashed_runs_partial_is_never_listed(dest: Dest, src: Path) -> None:
    """A run killed before its commit leaves ``<id>.partial`` (the shared tree layout):
    never listed, never restored from, and the next run still succeeds."""
    if not dest.kind.tree:
        pytest.skip("restic writes no partial tree: an unfinished backup is no snapshot")
    spec = dest.spec(src)
    dest.prepare(spec)
    first = dest.backup(spec)
    assert dest.local_path is not None
    partial = dest.local_path / f"2099-01-01T000000Z{PARTIAL_SUFFIX}"
    shutil.copytree(dest.snapshot_dir(first), partial, symlinks=True)
    assert dest.ids(spec) == [first]
    second = dest.backup(spec)
    assert dest.ids(spec) == [second, first]
    assert error_type_of(
        lambda: dest.engine.restore(spec, partial.name, str(src.parent / "r"))
    ) in (ErrorType.SNAPSHOT_NOT_FOUND, ErrorType.BAD_PATH)
