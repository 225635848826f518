"""Regression tests for the restic bugs of issue 8, against real restic and local repositories."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.excludes import Excluder
from tui_backup.engines.restic import ResticEngine
from tui_backup.engines.restic.command import Restic
from tui_backup.model import Status

from .conftest import MakeRepo, Repo
from .helpers import backup, listing, regular_files, run

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def local(make_repo: MakeRepo) -> Repo:
    return make_repo("local")


# --------------------------------------------------------------------------- excludes


def _expected_tree(src: Path, patterns: list[str]) -> dict[str, object]:
    """What the snapshot engine keeps: gitignore rules relative to the source root."""
    excluder = Excluder(patterns)
    out: dict[str, object] = {}
    for rel, value in listing(src).items():
        parts = rel.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        dirs = [p for p in prefixes[:-1]]
        if any(excluder.excluded(d, True) for d in dirs):
            continue
        if excluder.excluded(rel, value == "dir"):
            continue
        out[rel] = value
    return out


def test_excludes_follow_gitignore_rules_tree_against_tree(
    restic: ResticEngine, local: Repo, tmp_path: Path
) -> None:
    """Issue 8: restic backed up an anchored ``/build`` and knew no ``!`` negation."""
    src = tmp_path / "src"
    for rel in (
        "build/out.o",  # anchored /build: excluded
        "lib/build/kept.o",  # a nested build/ is not the anchored one: kept
        "a.tmp",
        "deep/b.tmp",  # *.tmp at any depth: excluded
        "keep.tmp",
        "deep/keep.tmp",  # !keep.tmp re-includes
        "cache/x",
        "deep/cache/y",  # cache/ directories anywhere: excluded
        "cachefile",  # a file named like the directory rule: kept
        "we[i]rd*.tmp",  # glob characters in an excluded name
        "normal.txt",
    ):
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
    patterns = ["/build", "*.tmp", "!keep.tmp", "cache/"]
    spec = local.spec(src, exclude=patterns)
    restic.init(spec)
    backup(restic, spec)
    target = tmp_path / "restored"
    restic.restore(spec, "latest", str(target))
    got = listing(target)
    assert got == _expected_tree(src, patterns)
    assert "lib/build/kept.o" in got and "build" not in got
    assert "deep/keep.tmp" in got and "deep/b.tmp" not in got
    assert "cachefile" in got and "deep/cache" not in got


# --------------------------------------------------------------------------- locks


@pytest.fixture
def lock_holder(local: Repo, tree: Path, restic: ResticEngine) -> Iterator[subprocess.Popen[bytes]]:
    """A real restic holding the repository's exclusive lock (``key passwd`` waiting on stdin)."""
    spec = local.spec(tree)
    restic.init(spec)
    backup(restic, spec)
    assert local.local_path is not None
    env = {**os.environ, "RESTIC_PASSWORD_FILE": str(local.password_file)}
    holder = subprocess.Popen(
        ["restic", "--no-cache", "-r", str(local.local_path), "key", "passwd"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    locks = local.local_path / "locks"
    deadline = time.monotonic() + 60
    while not any(locks.iterdir()):
        assert holder.poll() is None, "the lock holder exited"
        assert time.monotonic() < deadline, "restic key passwd took no lock"
        time.sleep(0.05)
    try:
        yield holder
    finally:
        holder.kill()
        holder.wait(timeout=30)
        for lock in locks.iterdir():  # a killed holder leaves its lock behind
            lock.chmod(0o600)
            lock.unlink()


def test_a_locked_repository_is_retried_until_the_lock_goes(
    local: Repo, tree: Path, lock_holder: subprocess.Popen[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 8: the first attempt failed at once. The run waits, then succeeds."""
    engine = ResticEngine(lock_timeout=120)
    spec = local.spec(tree)
    result: list[object] = []
    caplog.set_level(logging.INFO, logger="tui_backup.engines.restic")
    worker = threading.Thread(target=lambda: result.append(run(engine, spec)))
    worker.start()
    deadline = time.monotonic() + 60
    while not any("is locked by" in r.getMessage() for r in caplog.records):
        assert worker.is_alive(), result
        assert time.monotonic() < deadline, "the run never met the lock"
        time.sleep(0.05)
    assert str(lock_holder.pid) in next(
        r.getMessage() for r in caplog.records if "is locked by" in r.getMessage()
    )
    assert lock_holder.stdin is not None
    lock_holder.stdin.close()  # key passwd reads an empty password, fails, drops its lock
    lock_holder.wait(timeout=30)
    worker.join(timeout=120)
    assert not worker.is_alive()
    [fin] = result
    assert fin.status == Status.SUCCEEDED, fin  # type: ignore[attr-defined]


def test_a_lock_that_stays_fails_transient_naming_the_holder(
    local: Repo, tree: Path, lock_holder: subprocess.Popen[bytes]
) -> None:
    engine = ResticEngine(lock_timeout=2)
    fin = run(engine, local.spec(tree))
    assert fin.status == Status.FAILED
    assert fin.error_type == ErrorType.REPOSITORY_LOCKED
    assert fin.transient
    assert f"PID {lock_holder.pid} on " in (fin.error or "")
    with pytest.raises(EngineError) as err:
        engine.snapshots(local.spec(tree))
    assert err.value.error_type == ErrorType.REPOSITORY_LOCKED


def test_a_cancel_ends_the_wait_for_a_lock(
    local: Repo, tree: Path, lock_holder: subprocess.Popen[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    engine = ResticEngine(lock_timeout=600)
    cancel = threading.Event()
    result: list[object] = []
    caplog.set_level(logging.INFO, logger="tui_backup.engines.restic")
    worker = threading.Thread(target=lambda: result.append(run(engine, local.spec(tree), cancel)))
    worker.start()
    deadline = time.monotonic() + 60
    while not any("is locked by" in r.getMessage() for r in caplog.records):
        assert worker.is_alive(), result
        assert time.monotonic() < deadline, "the run never met the lock"
        time.sleep(0.05)
    cancel.set()
    worker.join(timeout=60)
    assert not worker.is_alive(), "a cancel did not end the wait for the lock"
    [fin] = result
    assert fin.status == Status.STOPPED, fin  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- verify


def test_verify_with_no_snapshots_is_unchecked(
    restic: ResticEngine, local: Repo, tree: Path
) -> None:
    """Issue 8: "ok: 1 snapshot(s), 0 files (0 B) match" when nothing was checked."""
    spec = local.spec(tree)
    restic.init(spec)
    report = restic.verify(spec)
    assert report.outcome == "unchecked"
    assert not report.ok


def test_verify_says_what_it_read(restic: ResticEngine, local: Repo, tree: Path) -> None:
    spec = local.spec(tree, verify={"read_data_subset": "1/1"})
    restic.init(spec)
    backup(restic, spec)
    report = restic.verify(spec)
    assert report.method == "restic check --read-data-subset=1/1"
    assert report.ok and report.files_checked > 0
    deep = restic.verify(spec, deep=True)
    assert deep.method == "restic check --read-data"
    assert deep.files_checked > 0
    assert local.local_path is not None
    packs = sum(p.stat().st_size for p in (local.local_path / "data").rglob("*") if p.is_file())
    assert deep.bytes_checked == packs


def test_a_flipped_byte_in_a_pack_is_found_by_deep_verify(
    restic: ResticEngine, local: Repo, tree: Path
) -> None:
    spec = local.spec(tree)
    restic.init(spec)
    backup(restic, spec)
    assert local.local_path is not None
    packs = sorted(
        (p for p in (local.local_path / "data").rglob("*") if p.is_file()),
        key=lambda p: p.stat().st_size,
    )
    pack = packs[-1]  # the biggest pack holds file data
    pack.chmod(0o600)
    data = bytearray(pack.read_bytes())
    data[len(data) // 3] ^= 0xFF
    pack.write_bytes(bytes(data))
    report = restic.verify(spec, deep=True)
    assert report.outcome == "damaged", report
    assert report.problems
    assert any(pack.name[:8] in p.reason for p in report.problems), report.problems


# --------------------------------------------------------------------------- restore


def test_a_relative_path_is_relative_to_the_snapshot_root_never_any_depth(
    restic: ResticEngine, local: Repo, tree: Path, tmp_path: Path
) -> None:
    """Issue 8: restic matched ``notes.md`` at any depth; a mistyped path "restored 0 files"."""
    spec = local.spec(tree)
    restic.init(spec)
    backup(restic, spec)
    target = tmp_path / "out"
    for wrong in ("notes.md", "docs/nope.txt", "deep/notes.md"):
        with pytest.raises(EngineError) as err:
            restic.restore(spec, "latest", str(target), [wrong])
        assert err.value.error_type == ErrorType.PATH_NOT_IN_SNAPSHOT, wrong
    assert not target.exists()
    report = restic.restore(spec, "latest", str(target), ["docs/deep/notes.md"])
    assert report.files == 1
    assert listing(target) == {
        "docs": "dir",
        "docs/deep": "dir",
        "docs/deep/notes.md": b"hello\n",
    }
    for escape in ("../etc/passwd", "/etc/passwd"):
        with pytest.raises(EngineError) as err:
            restic.restore(spec, "latest", str(tmp_path / "out2"), [escape])
        assert err.value.error_type == ErrorType.BAD_PATH


def test_dry_run_on_a_non_empty_target_lists_and_writes_nothing(
    restic: ResticEngine, local: Repo, tree: Path, tmp_path: Path
) -> None:
    """Issue 8: restic refused a dry run for a non-empty target (and recorded an error)."""
    spec = local.spec(tree)
    restic.init(spec)
    backup(restic, spec)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("mine\n")
    before = listing(busy)
    files = regular_files(tree)[0]
    report = restic.restore(spec, "latest", str(busy), dry_run=True)
    assert report.dry_run and report.files == files
    assert "docs/deep/notes.md" in report.planned
    assert listing(busy) == before
    fresh = tmp_path / "fresh"
    restic.restore(spec, "latest", str(fresh), ["docs"], dry_run=True)
    assert not fresh.exists(), "a dry run created the target"
    with pytest.raises(EngineError) as err:
        restic.restore(spec, "latest", str(busy))
    assert err.value.error_type == ErrorType.TARGET_NOT_EMPTY
    assert listing(busy) == before
    report = restic.restore(spec, "latest", str(busy), overwrite=True)
    assert report.files == files
    assert (busy / "mine.txt").read_text() == "mine\n"
    assert not [p for p in busy.iterdir() if p.name.startswith(".tui-backup-restore-")]


def test_several_sources_restore_each_under_its_basename(
    restic: ResticEngine, local: Repo, tree: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "o.txt").write_text("o\n")
    spec = local.spec([tree / "docs", other])
    restic.init(spec)
    backup(restic, spec)
    target = tmp_path / "out"
    restic.restore(spec, "latest", str(target))
    assert sorted(p.name for p in target.iterdir()) == ["docs", "other"]
    assert (target / "other" / "o.txt").read_text() == "o\n"
    assert (target / "docs" / "deep" / "notes.md").read_text() == "hello\n"
    one = tmp_path / "one"
    report = restic.restore(spec, "latest", str(one), ["other/o.txt"])
    assert report.files == 1 and listing(one) == {"other": "dir", "other/o.txt": b"o\n"}


# --------------------------------------------------------------------------- the rest


def test_a_missing_parent_is_refused_and_never_created(
    restic: ResticEngine, local: Repo, tree: Path, tmp_path: Path
) -> None:
    """Issue 8: restic ran init on the bare mount point of an unmounted disk."""
    parent = tmp_path / "mnt" / "backup"
    spec = local.spec(tree, destination=str(parent / "repo"))
    with pytest.raises(EngineError) as err:
        restic.init(spec)
    assert err.value.error_type == ErrorType.DESTINATION_MISSING
    fin = run(restic, spec)
    assert fin.error_type == ErrorType.DESTINATION_MISSING, fin
    assert not parent.exists()


def test_a_new_local_path_is_initialised_by_the_first_run(
    restic: ResticEngine, local: Repo, tree: Path
) -> None:
    """A local path that does not exist yet (its parent does) is known to be new."""
    spec = local.spec(tree)
    assert local.local_path is not None and not local.local_path.exists()
    sid = backup(restic, spec)
    assert (local.local_path / "config").is_file()
    assert [s.id for s in restic.snapshots(spec)] == [sid]


def test_init_refuses_a_directory_that_holds_something_else(
    restic: ResticEngine, local: Repo, tree: Path
) -> None:
    assert local.local_path is not None
    local.local_path.mkdir()
    (local.local_path / "photos.jpg").write_bytes(b"not a repository")
    with pytest.raises(EngineError) as err:
        restic.init(local.spec(tree))
    assert err.value.error_type == ErrorType.DESTINATION_ERROR
    assert [p.name for p in local.local_path.iterdir()] == ["photos.jpg"]
    assert run(restic, local.spec(tree)).error_type == ErrorType.NO_REPOSITORY


def test_the_password_and_repository_never_reach_argv(local: Repo, tree: Path) -> None:
    spec = local.spec(tree, destination="rest:http://user:s3cret-pw@127.0.0.1:1/repo/")
    restic = Restic(spec)
    argv = restic.argv(["snapshots"])
    assert not any("s3cret-pw" in a or "127.0.0.1" in a for a in argv)
    env = restic.env()
    assert env["RESTIC_REPOSITORY"] == "rest:http://user:s3cret-pw@127.0.0.1:1/repo/"
    assert env["RESTIC_PASSWORD_FILE"] == str(local.password_file)
    assert restic.shown == "rest:http://user:***@127.0.0.1:1/repo/"


def test_another_hosts_snapshots_with_the_same_tag_are_not_this_jobs(
    restic: ResticEngine, local: Repo, tree: Path
) -> None:
    """Ownership is the tag AND this host: a same-named job elsewhere keeps its snapshots."""
    spec = local.spec(tree)
    restic.init(spec)
    mine = backup(restic, spec)
    assert local.local_path is not None
    env = {**os.environ, "RESTIC_PASSWORD_FILE": str(local.password_file)}
    subprocess.run(
        ["restic", "-r", str(local.local_path), "backup", "--tag", f"tui-backup:{spec.name}",
         "--host", "elsewhere", str(tree)],
        check=True, env=env, capture_output=True,
    )  # fmt: skip
    assert [s.id for s in restic.snapshots(spec)] == [mine]
    assert restic.delete_data(spec) == [mine]
    out = subprocess.run(
        ["restic", "-r", str(local.local_path), "snapshots", "--host", "elsewhere", "--json"],
        check=True, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert '"hostname":"elsewhere"' in out.stdout, "another host's snapshot was deleted"
