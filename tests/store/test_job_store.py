"""The YAML job store on real files: round trip, .bak fallback, quarantine, conflicts, cache."""

from __future__ import annotations

import os
import stat
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tui_backup.model.job import JobSpec
from tui_backup.model.problems import ValidationError
from tui_backup.model.records import ErrorEvent
from tui_backup.model.retention import RetentionPolicy
from tui_backup.store import yamlio
from tui_backup.store.errors import JobExists, JobNotFound, VersionConflict
from tui_backup.store.jobs import JobListing, JobStore
from tui_backup.store.paths import Home


@pytest.fixture
def events() -> list[ErrorEvent]:
    return []


@pytest.fixture
def store(home: Home, events: list[ErrorEvent]) -> JobStore:
    return JobStore(home, on_error=events.append, lock_timeout=5)


@pytest.fixture
def spec(tmp_path: Path) -> JobSpec:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    return JobSpec(
        "web",
        (str(src),),
        str(tmp_path / "dest"),
        schedule="0 2 * * *",
        exclude=("*.tmp",),
        retention=RetentionPolicy(keep_last=3, keep_daily=7),
    )


def _by_name(listing: JobListing) -> dict[str, JobSpec]:
    return {job.name: job for job in listing.jobs}


def hand_write(path: Path, text: str, age: float = 60) -> None:
    """Write as a person's editor would (in place), dated ``age`` seconds ago.

    The age puts the write outside the store's grace period for editors that
    are still writing, which would otherwise make the store wait a moment.
    """
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    then = time.time() - age
    os.utime(path, (then, then))


def test_round_trip_and_modes(store: JobStore, spec: JobSpec, home: Home) -> None:
    created = store.create(spec)
    assert created.version == 1
    assert created == replace(spec, version=1)
    assert store.get("web") == created
    assert JobStore(home).get("web") == created  # a fresh store (another process) agrees
    path = home.job_file("web")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.jobs_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(home.root.stat().st_mode) == 0o700
    assert yamlio.loads(path.read_text())["retention"] == {"keep_last": 3, "keep_daily": 7}
    # .bak is a separate copy (not a hard link) of the version just written.
    bak = path.with_name("web.yaml.bak")
    assert bak.read_bytes() == path.read_bytes()
    assert bak.stat().st_ino != path.stat().st_ino


def test_create_refuses_an_existing_name(store: JobStore, spec: JobSpec) -> None:
    store.create(spec)
    with pytest.raises(JobExists):
        store.create(spec)


def test_update_with_a_stale_version_is_refused(store: JobStore, spec: JobSpec) -> None:
    v1 = store.create(spec)
    v2 = store.update(replace(v1, retries=5))
    assert v2.version == 2
    with pytest.raises(VersionConflict) as info:
        store.update(replace(v1, retries=7))  # based on version 1, now 2
    assert "version 1" in str(info.value) and "version 2" in str(info.value)
    assert store.get("web").retries == 5


def test_modify_is_read_modify_write(store: JobStore, spec: JobSpec) -> None:
    store.create(spec)
    new = store.modify("web", lambda s: replace(s, exclude=(*s.exclude, "x")))
    assert new.version == 2 and new.exclude == ("*.tmp", "x")


def test_invalid_change_writes_nothing(store: JobStore, spec: JobSpec, home: Home) -> None:
    store.create(spec)
    before = home.job_file("web").read_bytes()
    with pytest.raises(ValidationError) as info:
        store.modify("web", lambda s: replace(s, retries=-1, destination=s.sources[0]))
    fields = {p.field for p in info.value.problems}
    assert {"retries", "destination"} <= fields
    assert all(p.file == "jobs/web.yaml" for p in info.value.problems)
    assert home.job_file("web").read_bytes() == before


def test_delete(store: JobStore, spec: JobSpec, home: Home) -> None:
    store.create(spec)
    with pytest.raises(VersionConflict):
        store.delete("web", expected_version=7)
    store.delete("web", expected_version=1)
    assert not home.job_file("web").exists()
    assert not home.job_file("web").with_name("web.yaml.bak").exists()
    with pytest.raises(JobNotFound):
        store.get("web")
    assert store.list().jobs == ()


@pytest.mark.parametrize("name", ["../etc/passwd", "Web", "", "a/b"])
def test_commands_refuse_names_that_are_not_jobs(store: JobStore, name: str) -> None:
    with pytest.raises(JobNotFound):
        store.modify(name, lambda s: s)
    with pytest.raises(JobNotFound):
        store.delete(name)


def test_garbage_falls_back_to_bak_and_is_quarantined(
    store: JobStore, spec: JobSpec, home: Home, events: list[ErrorEvent]
) -> None:
    store.create(spec)
    path = home.job_file("web")
    hand_write(path, "name: web\nsources: [unclosed\n")

    listing = JobStore(home, on_error=events.append).list()
    assert _by_name(listing)["web"] == replace(spec, version=1)
    corrupt = list(home.jobs_dir.glob("web.yaml.corrupt-*"))
    assert len(corrupt) == 1
    assert corrupt[0].read_text() == "name: web\nsources: [unclosed\n"  # kept, not deleted
    assert _spec_at(path).version == 1  # the good version was put back
    (issue,) = listing.issues
    assert issue.in_effect and issue.quarantined == f"jobs/{corrupt[0].name}"
    (event,) = events
    assert event.job_name == "web" and event.error_type == "invalid_job_file"
    assert "jobs/web.yaml" in event.message and "not valid YAML" in event.message
    assert corrupt[0].name in event.message


def test_invalid_job_names_every_problem_and_keeps_last_good(
    store: JobStore, spec: JobSpec, home: Home, events: list[ErrorEvent]
) -> None:
    store.create(spec)
    path = home.job_file("web")
    data = yamlio.loads(path.read_text())
    data["retention"]["keep_daily"] = -3
    data["retries"] = "many"
    data["colour"] = "blue"
    hand_write(path, yamlio.dumps(data))
    assert store.get("web").version == 1
    (event,) = events
    for needle in ("retention.keep_daily: must be an integer >= -1", "retries:", "colour:"):
        assert needle in event.details
    assert event.details.startswith("jobs/web.yaml: ")


def test_invalid_file_without_bak_stays_in_place(
    store: JobStore, home: Home, events: list[ErrorEvent]
) -> None:
    path = home.job_file("hand")
    hand_write(path, "name: hand\nsources: relative/path\n")
    listing = store.list()
    assert listing.jobs == ()
    (issue,) = listing.issues
    assert not issue.in_effect
    assert "sources[0]" in issue.message and "destination" in issue.message
    assert path.read_text() == "name: hand\nsources: relative/path\n"  # untouched
    assert events and events[0].severity == "HIGH"
    with pytest.raises(ValidationError) as info:
        store.get("hand")
    assert {p.field for p in info.value.problems} == {"sources[0]", "destination"}
    assert str(info.value).count("jobs/hand.yaml") == 2  # once per problem, not doubled
    with pytest.raises(ValidationError):  # and a writer does not overwrite it either
        store.modify("hand", lambda s: s)
    assert path.read_text() == "name: hand\nsources: relative/path\n"
    # Removing it keeps the person's text aside.
    kept = store.discard_invalid("hand")
    assert not path.exists() and kept.read_text() == "name: hand\nsources: relative/path\n"
    assert store.list().issues == ()


def test_discard_refuses_a_valid_job(store: JobStore, spec: JobSpec) -> None:
    from tui_backup.store.errors import StoreError

    store.create(spec)
    with pytest.raises(StoreError):
        store.discard_invalid("web")
    assert store.get("web").version == 1


def test_in_place_garbage_does_not_reach_the_bak(
    store: JobStore, spec: JobSpec, home: Home
) -> None:
    """``echo junk > jobs/web.yaml`` rewrites the inode; a hard-linked .bak would die with it."""
    store.create(spec)
    hand_write(home.job_file("web"), "\x00\x01 not yaml: [")
    assert store.get("web").version == 1


def test_writer_quarantines_a_hand_broken_file_before_writing(
    store: JobStore, spec: JobSpec, home: Home, events: list[ErrorEvent]
) -> None:
    store.create(spec)
    store.get("web")  # cached
    hand_write(home.job_file("web"), "garbage: [")
    new = store.modify("web", lambda s: replace(s, retries=4))
    assert new.version == 2
    (corrupt,) = home.jobs_dir.glob("web.yaml.corrupt-*")
    assert corrupt.read_text() == "garbage: ["
    assert any(corrupt.name in e.message for e in events)


def test_hand_edits_are_seen_through_the_cache(store: JobStore, spec: JobSpec, home: Home) -> None:
    store.create(spec)
    path = home.job_file("web")
    assert _by_name(store.list())["web"].retries == 2
    text = path.read_text()
    edited = text.replace("retries: 2", "retries: 3")  # same size, in place
    assert len(edited) == len(text)
    hand_write(path, edited, age=30)
    assert _by_name(store.list())["web"].retries == 3
    hand_write(path, edited.replace("retries: 3", "retries: 11"), age=20)  # size changes
    assert store.get("web").retries == 11
    # A read writes nothing, not even the .bak; the explicit repair step makes a valid
    # hand edit the new last good version, once.
    bak = path.with_name("web.yaml.bak")
    assert _spec_at(bak).retries == 2
    assert store.repair() == ()
    assert _spec_at(bak).retries == 11
    before = bak.stat().st_ino
    assert store.repair() == ()
    assert bak.stat().st_ino == before  # nothing left to do: not rewritten


def test_reads_of_valid_files_write_nothing(store: JobStore, spec: JobSpec, home: Home) -> None:
    """2,000 hand-made job files used to cost 2,000 .bak writes on the first listing."""
    for i in range(20):
        name = f"hand{i:02d}"
        text = yamlio.dumps(replace(spec, name=name).to_dict())
        hand_write(home.job_file(name), text)
    before = _tree(home.root)
    listing = JobStore(home).list()
    assert len(listing.jobs) == 20 and listing.issues == ()
    JobStore(home).get("hand07")
    assert _tree(home.root) == before


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its inode and mtime: any write shows."""
    return {
        str(p.relative_to(root)): (p.lstat().st_ino, p.lstat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def test_cache_avoids_rereading_unchanged_files(
    store: JobStore, spec: JobSpec, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create(spec)
    store.list()
    from tui_backup.store import safefile

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("re-read an unchanged file")

    monkeypatch.setattr(safefile, "load", boom)
    assert list(_by_name(store.list())) == ["web"]


def test_files_that_are_not_jobs_are_reported_not_loaded(store: JobStore, home: Home) -> None:
    hand_write(home.jobs_dir / "Bad Name.yaml", "name: x\n")
    (home.jobs_dir / "notes.txt").write_text("ignored")
    listing = store.list()
    assert listing.jobs == ()
    assert [i.file for i in listing.issues] == ["jobs/Bad Name.yaml"]


def test_deleted_file_is_not_resurrected_from_bak(
    store: JobStore, spec: JobSpec, home: Home
) -> None:
    store.create(spec)
    home.job_file("web").unlink()  # removed by hand; the .bak remains
    assert store.list().jobs == ()
    assert not home.job_file("web").exists()


def _spec_at(path: Path) -> JobSpec:
    from tui_backup.model.job import parse_job

    return parse_job(yamlio.loads(path.read_bytes()), str(path), "web")


def test_a_file_still_being_written_is_given_a_moment(
    store: JobStore, spec: JobSpec, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An editor that writes in place may be caught half-way: a fresh invalid file is
    re-read for up to a second before it is called bad. The "editor" here finishes its
    write when the store first pauses, so no real time passes."""
    from tui_backup.store import safefile

    store.create(spec)
    path = home.job_file("web")
    full = path.read_text().replace("retries: 2", "retries: 6")
    path.write_text("name: web\nsources: [/sr")  # half written, fresh
    pauses: list[float] = []

    def editor_finishes(seconds: float) -> None:
        pauses.append(seconds)
        path.write_text(full)

    monkeypatch.setattr(safefile.time, "sleep", editor_finishes)
    assert JobStore(home).get("web").retries == 6
    assert pauses and not list(home.jobs_dir.glob("*.corrupt-*"))


@pytest.mark.parametrize(
    ("garbage", "says"),
    [
        (b"", "found empty"),
        (b"just words\n", "found str"),
        (b"- a\n- b\n", "found list"),
        (b"\xff\xfe\x00binary", "not UTF-8 text"),
        (b"name: web\n\tsources: x\n", "not valid YAML (line 2"),
    ],
)
def test_every_kind_of_garbage_falls_back(
    store: JobStore, spec: JobSpec, home: Home, garbage: bytes, says: str
) -> None:
    store.create(spec)
    path = home.job_file("web")
    path.write_bytes(garbage)
    then = time.time() - 60
    os.utime(path, (then, then))
    listing = JobStore(home).list()
    assert _by_name(listing)["web"] == replace(spec, version=1)
    (issue,) = listing.issues
    assert issue.message.startswith("jobs/web.yaml: ") and says in issue.message
    assert "\n" not in issue.message.splitlines()[0]
    (kept,) = home.jobs_dir.glob("web.yaml.corrupt-*")
    assert kept.read_bytes() == garbage


def test_repair_does_its_work_once(home: Home, spec: JobSpec) -> None:
    """The first repair of hand-made files keeps each as its last good version and makes
    it private; a second repair (any process) finds nothing to do and writes nothing."""
    for i in range(5):
        name = f"hand{i}"
        hand_write(home.job_file(name), yamlio.dumps(replace(spec, name=name).to_dict()))
        os.chmod(home.job_file(name), 0o644)
    assert JobStore(home).repair() == ()
    for i in range(5):
        path = home.job_file(f"hand{i}")
        assert path.with_name(path.name + ".bak").read_bytes() == path.read_bytes()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = _tree(home.root)
    store = JobStore(home)
    assert store.repair() == ()
    assert _tree(home.root) == before  # no write, not even a lock file
    assert len(store.list().jobs) == 5


def test_repair_quarantines_and_reports_once_per_call(
    store: JobStore, spec: JobSpec, home: Home, events: list[ErrorEvent]
) -> None:
    store.create(spec)
    hand_write(home.job_file("web"), "name: web\nsources: [unclosed\n")
    reader = JobStore(home, repair_on_read=False)
    listing = reader.list()
    assert listing.issues and not list(home.jobs_dir.glob("*.corrupt-*"))  # a read only reads
    (issue,) = store.repair()
    assert issue.quarantined and len(list(home.jobs_dir.glob("web.yaml.corrupt-*"))) == 1
    assert [e.error_type for e in events] == ["invalid_job_file"]
    assert store.repair() == ()
    assert reader.list().issues == ()
