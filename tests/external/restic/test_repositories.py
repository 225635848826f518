"""The restic engine on every kind of repository: local, sftp (real sshd), rest
(``rclone serve restic`` with a password in the URL) and s3 (moto)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.contract.servers import free_port
from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.restic import ResticEngine
from tui_backup.model import Status

from .conftest import MakeRepo, Repo
from .helpers import backup, listing, regular_files, run

pytestmark = pytest.mark.timeout(240)


def test_backup_list_restore_verify(restic: ResticEngine, repo: Repo, tree: Path, tmp_path: Path):
    spec = repo.spec(tree)
    said = restic.init(spec)
    assert "created" in said
    with pytest.raises(EngineError) as again:
        restic.init(spec)
    assert again.value.error_type == ErrorType.REPOSITORY_ERROR
    assert "already" in str(again.value)

    fin = run(restic, spec)
    assert fin.status == Status.SUCCEEDED, fin
    files, size = regular_files(tree)
    assert (fin.files, fin.bytes) == (files, size), "the run's Finished has real counts"
    [snap] = restic.snapshots(spec)
    assert (snap.id, snap.files, snap.bytes) == (fin.snapshot_id, files, size)

    target = tmp_path / "restored"
    report = restic.restore(spec, snap.id, str(target))
    assert listing(target) == listing(tree)
    assert (report.files, report.bytes) == (files, size)

    checked = restic.verify(spec)
    assert checked.outcome == "ok", checked
    assert checked.files_checked > 0


def test_two_jobs_on_one_repository_never_touch_each_other(
    restic: ResticEngine, repo: Repo, tree: Path
) -> None:
    """Job A and job B share a repository; purging B leaves every snapshot of A."""
    a, b = repo.spec(tree, name="job-a"), repo.spec(tree, name="job-b")
    restic.init(a)
    a_ids = [backup(restic, a)]
    (tree / "more.txt").write_text("more\n")
    a_ids.insert(0, backup(restic, a))
    b_ids = [backup(restic, b)]
    assert [s.id for s in restic.snapshots(a)] == a_ids
    assert [s.id for s in restic.snapshots(b)] == b_ids
    assert restic.delete_data(b) == b_ids
    assert restic.snapshots(b) == []
    assert [s.id for s in restic.snapshots(a)] == a_ids, "purging B removed A's snapshots"


def test_a_run_on_a_missing_repository_asks_for_init(
    restic: ResticEngine, repo: Repo, tree: Path
) -> None:
    """Issue 8: a run never creates a repository nobody asked for; it says how to.

    The one exception, a local path that does not exist yet, is known to be new
    (test_regressions); an existing empty directory (an empty mount point) is not.
    """
    spec = repo.spec(tree)
    if repo.local_path is not None and repo.kind == "local":
        repo.local_path.mkdir()
    fin = run(restic, spec)
    assert fin.status == Status.FAILED, fin
    assert fin.error_type == ErrorType.NO_REPOSITORY, fin
    assert f"tui-backup init {spec.name}" in (fin.error or "")
    if repo.kind == "local":
        assert repo.local_path is not None
        assert not any(repo.local_path.iterdir()), "a run created the repository"
    elif repo.local_path is not None:
        assert not repo.local_path.exists(), "a run created the repository"


@pytest.mark.parametrize("kind", ["sftp", "rest", "s3"])
def test_an_unreachable_repository_is_named_and_never_initialised(
    restic: ResticEngine, make_repo: MakeRepo, kind: str, tree: Path
) -> None:
    """Issue 8: "EOF" / "create repository failed"; init tried on a repository that exists."""
    good = make_repo(kind)
    restic.init(good.spec(tree))
    closed = free_port()
    if kind == "sftp":
        bad = good.spec(tree, ssh_command=f"{good.ssh_command} -p {closed}")
        where = "tui-backup-test"
    else:
        scheme, _, rest = good.destination.partition(":")
        parts = urlsplit(rest)
        netloc = parts.netloc.rsplit(":", 1)[0] + f":{closed}"
        bad = good.spec(tree, destination=f"{scheme}:{parts._replace(netloc=netloc).geturl()}")
        where = f"127.0.0.1:{closed}"
    fin = run(restic, bad)
    assert fin.status == Status.FAILED, fin
    assert fin.error_type == ErrorType.DESTINATION_UNREACHABLE, fin
    assert fin.transient
    assert where in (fin.error or "")
    assert (fin.error or "").rstrip().split(":")[-1].strip() != "EOF"
    for call in (lambda: restic.init(bad), lambda: restic.snapshots(bad)):
        with pytest.raises(EngineError) as err:
            call()
        assert err.value.error_type == ErrorType.DESTINATION_UNREACHABLE
    if good.secret:
        for text in (fin.error or "", fin.details):
            assert good.secret not in text, "the URL's password leaked"
    assert restic.snapshots(good.spec(tree)) == [], "the real repository is untouched"


def test_a_wrong_rest_password_is_masked_and_not_a_missing_repository(
    restic: ResticEngine, make_repo: MakeRepo, tree: Path
) -> None:
    good = make_repo("rest")
    restic.init(good.spec(tree))
    assert good.secret
    wrong = good.destination.replace(good.secret, "not-the-password")
    spec = good.spec(tree, destination=wrong)
    fin = run(restic, spec)
    assert fin.error_type == ErrorType.REPOSITORY_ERROR, fin
    assert "not-the-password" not in (fin.error or "") + fin.details
    assert "***" in (fin.error or "")


def test_sftp_init_refuses_a_missing_parent_on_the_server(
    restic: ResticEngine, make_repo: MakeRepo, tree: Path, tmp_path: Path
) -> None:
    """restic's sftp init creates missing parents: an unmounted remote disk must be refused."""
    good = make_repo("sftp")
    missing = tmp_path / "unmounted"
    spec = good.spec(tree, destination=f"sftp:tui-backup-test:{missing}/repo")
    for call in (lambda: restic.init(spec), lambda: _raise_finished(run(restic, spec))):
        with pytest.raises(EngineError) as err:
            call()
        assert err.value.error_type == ErrorType.DESTINATION_MISSING
    assert not missing.exists()


def _raise_finished(fin) -> None:  # type: ignore[no-untyped-def]
    raise EngineError(fin.error or "", fin.error_type or "")
