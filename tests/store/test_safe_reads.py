"""Job files are read bounded and strictly: never through a link, never a FIFO or device,
never more than 1 MiB, never an alias bomb, never a duplicate key silently dropped."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tui_backup.model.job import JobSpec
from tui_backup.model.records import ErrorEvent
from tui_backup.store import safefile, yamlio
from tui_backup.store.jobs import JobStore
from tui_backup.store.paths import Home

GOOD = "name: {name}\nsources: [/srv/data]\ndestination: /mnt/backup/{name}\n"


def _store(home: Home, events: list[ErrorEvent]) -> JobStore:
    return JobStore(home, on_error=events.append, lock_timeout=5)


def _listing_in_thread(store: JobStore) -> object:
    """List in a thread so a read that blocks fails the test instead of hanging it."""
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(store.list()), daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "listing blocked"
    return result[0]


def test_a_fifo_is_refused_without_blocking(home: Home) -> None:
    (home.jobs_dir / "ok.yaml").write_text(GOOD.format(name="ok"))
    os.mkfifo(home.jobs_dir / "z.yaml")
    events: list[ErrorEvent] = []
    listing = _listing_in_thread(_store(home, events))
    assert [j.name for j in listing.jobs] == ["ok"]  # type: ignore[attr-defined]
    (issue,) = listing.issues  # type: ignore[attr-defined]
    assert issue.file == "jobs/z.yaml" and "FIFO" in issue.message
    assert [e.job_name for e in events] == ["z"]


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/urandom", "/etc/passwd", "loop"])
def test_a_symlink_is_never_followed(home: Home, tmp_path: Path, target: str) -> None:
    link = home.jobs_dir / "y.yaml"
    if target == "loop":
        os.symlink(link, link)
    else:
        os.symlink(target, link)
    (home.jobs_dir / "ok.yaml").write_text(GOOD.format(name="ok"))
    events: list[ErrorEvent] = []
    listing = _listing_in_thread(_store(home, events))
    assert [j.name for j in listing.jobs] == ["ok"]  # type: ignore[attr-defined]
    (issue,) = listing.issues  # type: ignore[attr-defined]
    assert "symbolic link" in issue.message and "root:" not in issue.message
    assert os.path.islink(link)  # left where it is, never quarantined through


def test_a_directory_where_a_job_file_should_be(home: Home) -> None:
    (home.jobs_dir / "d.yaml").mkdir()
    events: list[ErrorEvent] = []
    listing = _store(home, events).list()
    (issue,) = listing.issues
    assert "directory" in issue.message


def test_a_huge_file_is_refused_unread(home: Home) -> None:
    path = home.jobs_dir / "big.yaml"
    with open(path, "wb") as fh:
        fh.write(b"name: big\nexclude:\n")
        fh.truncate(safefile.MAX_FILE_BYTES + 10)
    (issue,) = JobStore(home).list().issues
    assert "larger than 1024 KiB" in issue.message


def test_read_bounded_refuses_a_file_that_grows_past_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert safefile.read_bounded(path, limit=100) == b"x" * 100
    with pytest.raises(safefile.UnsafeFile):
        safefile.read_bounded(path, limit=99)


def test_alias_bomb_is_refused_quickly(home: Home) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    text = "name: bomb\n" + "\n".join(lines) + "\nmax_age: *a11\n"
    (home.jobs_dir / "bomb.yaml").write_text(text)
    (issue,) = JobStore(home).list().issues
    assert "alias" in issue.message and "line" in issue.message


def test_moderate_aliases_still_load() -> None:
    data = yamlio.loads("base: &b [a, b]\nother: *b\n")
    assert data == {"base": ["a", "b"], "other": ["a", "b"]}


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(yamlio.YAMLError, match="nested more than"):
        yamlio.loads("a: " + "[" * 40 + "]" * 40)
    with pytest.raises(yamlio.YAMLError):
        yamlio.loads("[" * 200_000)


def test_duplicate_keys_name_the_key_and_lines(home: Home) -> None:
    text = GOOD.format(name="dup") + "retries: 1\nengine: snapshot\nretries: 5\n"
    (home.jobs_dir / "dup.yaml").write_text(text)
    (issue,) = JobStore(home).list().issues
    assert "duplicate key 'retries' (first on line 4)" in issue.message
    assert "line 6" in issue.message


def test_python_tags_are_refused(home: Home, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"name: !!python/object/apply:os.system ['touch {marker}']\n"
    (home.jobs_dir / "tag.yaml").write_text(text)
    (issue,) = JobStore(home).list().issues
    assert "python/object/apply" in issue.message and not marker.exists()


def test_non_utf8_and_control_character_names_are_reported_once(home: Home) -> None:
    raw = os.fsencode(home.jobs_dir) + b"/caf\xe9.yaml"
    with open(raw, "wb") as fh:
        fh.write(GOOD.format(name="cafe").encode())
    (home.jobs_dir / "x\x1b]0;pwned\x07.yaml").write_text("name: x\n")
    (home.jobs_dir / "ok.yaml").write_text(GOOD.format(name="ok"))
    events: list[ErrorEvent] = []
    store = _store(home, events)
    listing = store.list()
    assert [j.name for j in listing.jobs] == ["ok"]
    files = sorted(i.file for i in listing.issues)
    assert files == ["jobs/caf\\xe9.yaml", "jobs/x\\x1b]0;pwned\\x07.yaml"]
    for event in events:
        assert event.message.isprintable() and event.job_name and event.job_name.isprintable()
        event.message.encode("utf-8")  # storable and printable anywhere
    store.list()
    assert len(events) == 2  # once, not at every listing


def test_a_bad_file_leaves_the_other_jobs_alone(home: Home) -> None:
    for i in range(5):
        (home.jobs_dir / f"j{i}.yaml").write_text(GOOD.format(name=f"j{i}"))
    (home.jobs_dir / "j2.yaml").write_bytes(b"\x00\xff" * 100)
    listing = JobStore(home).list()
    assert [j.name for j in listing.jobs] == ["j0", "j1", "j3", "j4"]
    assert [i.name for i in listing.issues] == ["j2"]


def test_the_last_good_version_stays_in_effect_when_a_link_replaces_it(home: Home) -> None:
    store = JobStore(home)
    store.create(JobSpec("web", ("/srv/data",), "/mnt/backup/web"))
    path = home.job_file("web")
    path.unlink()
    os.symlink("/etc/passwd", path)
    listing = JobStore(home).list()
    assert [j.name for j in listing.jobs] == ["web"]
    (issue,) = listing.issues
    assert issue.in_effect and "symbolic link" in issue.message
    assert os.path.islink(path)


def test_state_reads_can_be_read_only(home: Home) -> None:
    from tui_backup.model.state import JobState
    from tui_backup.store.state import StateStore

    StateStore(home).write(JobState(name="web"))
    path = home.state_file("web")
    path.write_text("status: [garbage\n")
    then = os.stat(path).st_mtime - 60
    os.utime(path, (then, then))
    assert StateStore(home, repair_on_read=False).read("web").name == "web"
    assert path.read_text() == "status: [garbage\n"  # untouched
    assert not list(home.state_dir.glob("*.corrupt-*"))
    StateStore(home).read("web")  # the default still repairs
    assert len(list(home.state_dir.glob("web.yaml.corrupt-*"))) == 1


def test_a_state_file_that_is_a_fifo_does_not_block(home: Home) -> None:
    from tui_backup.store.state import StateStore

    os.mkfifo(home.state_file("web"))
    result: list[object] = []
    worker = threading.Thread(
        target=lambda: result.append(StateStore(home).read("web")), daemon=True
    )
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive() and result
