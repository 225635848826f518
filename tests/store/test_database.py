"""SQLite history and error log on a real database: queries, migrations, and the
fallback that keeps recording while the database is locked, read-only or corrupt."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tui_backup.model.records import ErrorEvent, RunRecord
from tui_backup.model.status import Severity, Status
from tui_backup.store.db import Database
from tui_backup.store.paths import Home
from tui_backup.store.schema import SCHEMA_VERSION


class FakeMonotonic:
    """The retry clock, moved by hand instead of waiting for it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def db(home: Home, clock: FakeMonotonic) -> Iterator[Database]:
    d = make_db(home, clock)
    yield d
    d.close()


def make_db(home: Home, clock: FakeMonotonic | None = None) -> Database:
    return Database(
        home.db_path,
        home.fallback_log,
        busy_timeout=0.1,
        retry_interval=5,
        monotonic=clock or FakeMonotonic(),
    )


def event(n: int, severity: Severity = Severity.MEDIUM, job: str | None = "web") -> ErrorEvent:
    when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
    return ErrorEvent(severity, "engine", "io_error", f"event {n}", job_name=job, timestamp=when)


def run(n: int, job: str = "web", status: Status = Status.SUCCEEDED) -> RunRecord:
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n)
    return RunRecord(f"run{n}", job, start, status, start + timedelta(minutes=5), files=n)


def test_schema_wal_and_busy_timeout(db: Database, home: Home) -> None:
    db.record_error(event(1))
    conn = sqlite3.connect(home.db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "error_events"} <= tables
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"error_events_timestamp", "error_events_severity", "error_events_job"} <= indexes
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO error_events (uid, timestamp, severity, component, error_type, message)"
            " VALUES ('u', 't', 'SEVERE', 'c', 'e', 'm')"
        )
    conn.close()
    with db._connection() as c:  # the connection we use waits for locks
        assert c.execute("PRAGMA busy_timeout").fetchone()[0] == 100


def test_error_queries(db: Database) -> None:
    stored = [db.record_error(event(i, sev)) for i, sev in enumerate(Severity)]
    db.record_error(event(9, Severity.CRITICAL, job="other"))
    assert all(e.id is not None for e in stored)
    assert [e.message for e in db.errors(limit=2)] == ["event 9", "event 3"]
    assert [e.message for e in db.errors(job="other")] == ["event 9"]
    assert [e.message for e in db.errors(severity="low")] == ["event 0"]
    assert {e.message for e in db.errors(min_severity=Severity.HIGH)} == {
        "event 2",
        "event 3",
        "event 9",
    }
    assert db.resolve(stored[3].id) is True
    assert db.resolve(stored[3].id) is False  # already resolved
    assert db.resolve(12345) is False
    assert "event 3" not in {e.message for e in db.errors(unresolved=True)}
    got = db.error(stored[3].id)
    assert got is not None and got.resolved and got.resolved_at is not None
    stats = db.stats(now=datetime(2026, 1, 1, 12, tzinfo=UTC))
    assert (stats.total, stats.unresolved, stats.critical, stats.last_24h) == (5, 4, 1, 5)
    assert stats.by_severity == {"LOW": 1, "MEDIUM": 1, "HIGH": 1, "CRITICAL": 1}


def test_dedupe_reuses_an_open_identical_event(db: Database) -> None:
    a = db.record_error(event(1), dedupe=True)
    b = db.record_error(event(1), dedupe=True)
    assert a.id == b.id and len(db.errors()) == 1


def test_run_history(db: Database) -> None:
    db.record_run(run(1))
    db.record_run(run(2, status=Status.FAILED))
    db.record_run(run(3, job="other"))
    db.record_run(RunRecord("run4", "web", run(4).started_at, Status.RUNNING))
    db.record_run(run(4))  # the same run, finished: updated in place
    assert [r.run_id for r in db.runs("web")] == ["run4", "run2", "run1"]
    assert db.runs("web")[0].status == Status.SUCCEEDED
    assert db.last_run("web", Status.FAILED).run_id == "run2"
    assert db.run("run3").job_name == "other"
    assert len(db.runs()) == 4


def test_migrates_an_old_database_forward(home: Home) -> None:
    sqlite3.connect(home.db_path).close()  # version 0: an empty database
    d = make_db(home)
    d.record_error(event(1))
    assert len(d.errors()) == 1
    d.close()


def test_a_newer_schema_is_not_touched(home: Home) -> None:
    conn = sqlite3.connect(home.db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    d = make_db(home)
    d.record_error(event(1))
    assert d.degraded and "newer" in (d.degraded_reason or "")
    assert [e.message for e in d.errors()] == ["event 1"]  # from the fallback
    d.close()


LOCKER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("UPDATE error_events SET message = message")
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("COMMIT")
    """
)


@contextlib.contextmanager
def locked_by_another_process(path: Path) -> Iterator[None]:
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield
    finally:
        proc.stdin.write("\n")
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0


def test_locked_database_keeps_recording_then_recovers(
    db: Database, home: Home, clock: FakeMonotonic
) -> None:
    db.record_error(event(0))
    with locked_by_another_process(home.db_path):
        for i in range(1, 21):
            db.record_error(event(i))
        db.record_run(run(1))
        assert db.degraded and "locked" in (db.degraded_reason or "")
        lines = home.fallback_log.read_text().splitlines()
        assert len(lines) == 21 and all(json.loads(x)["kind"] in ("error", "run") for x in lines)
        # Queries still show everything: the database's rows plus the waiting ones.
        assert len(db.errors(limit=100)) == 21
        assert db.stats().total == 21
        assert [r.run_id for r in db.runs("web")] == ["run1"]
    clock.now += 10  # past the retry interval
    db.record_error(event(21))
    assert not db.degraded
    assert not home.fallback_log.exists()
    assert db.pending() == []
    conn = sqlite3.connect(home.db_path)
    messages = {r[0] for r in conn.execute("SELECT message FROM error_events")}
    assert messages == {f"event {i}" for i in range(22)}
    assert conn.execute("SELECT run_id FROM runs").fetchall() == [("run1",)]
    conn.close()


def test_another_process_writes_back_what_a_dead_one_left(home: Home) -> None:
    first = make_db(home)
    first.record_error(event(0))
    with locked_by_another_process(home.db_path):
        first.record_error(event(1))
        first.record_error(event(2))
    first.close()  # it exits before the database is back; only the JSONL remains
    second = make_db(home)
    second.record_error(event(3))
    assert {e.message for e in second.errors()} == {f"event {i}" for i in range(4)}
    assert not home.fallback_log.exists()
    second.close()


def test_torn_fallback_line_is_skipped_not_fatal(db: Database, home: Home) -> None:
    db.record_error(event(0))
    entry = {"kind": "error", "event": json.loads(json.dumps(event(1).to_json()))}
    home.fallback_log.write_text(json.dumps(entry) + "\n" + '{"kind": "err')
    db.record_error(event(2))
    assert {e.message for e in db.errors()} == {"event 0", "event 1", "event 2"}


def _chattr(flag: str, path: Path) -> bool:
    try:
        proc = subprocess.run(["chattr", flag, str(path)], capture_output=True, check=False)
    except FileNotFoundError:
        return False
    return proc.returncode == 0


def test_read_only_database_keeps_recording_then_recovers(home: Home) -> None:
    """Read-only for real, even for root: the file is made immutable (``chattr +i``),
    which refuses the read-write open SQLite needs. (Tests run as root here, where
    ``chmod 0444`` would change nothing.)"""
    first = make_db(home)
    first.record_error(event(0))
    first.close()  # the WAL is checkpointed and removed with the last connection
    if not _chattr("+i", home.db_path):
        pytest.skip("chattr +i is not available here (needs root on ext4/xfs/btrfs)")
    try:
        with pytest.raises(sqlite3.OperationalError):  # the premise: writing is refused
            conn = sqlite3.connect(home.db_path, isolation_level=None)
            try:
                conn.execute(
                    "INSERT INTO runs (run_id, job_name, started_at, status) "
                    "VALUES ('x', 'y', 'z', 'failed')"
                )
            finally:
                conn.close()
        clock = FakeMonotonic()
        d = make_db(home, clock)
        for i in range(1, 11):
            d.record_error(event(i))
        assert d.degraded
        assert len(home.fallback_log.read_text().splitlines()) == 10
        assert len(d.errors()) == 11  # the old row (readable) plus the ten waiting
    finally:
        _chattr("-i", home.db_path)
    clock.now += 10
    d.record_error(event(11))
    assert not d.degraded and not home.fallback_log.exists()
    assert {e.message for e in d.errors()} == {f"event {i}" for i in range(12)}
    d.close()


def test_corrupt_database_is_moved_aside_and_replaced(home: Home) -> None:
    first = make_db(home)
    first.record_error(event(0))
    first.close()
    garbage = b"this is not a database\n" * 200
    home.db_path.write_bytes(garbage)
    d = make_db(home)
    stored = d.record_error(event(1))
    assert stored.id is not None and not d.degraded
    (kept,) = home.root.glob("tui-backup.db.corrupt-*")
    assert kept.read_bytes() == garbage  # kept for a person, never deleted
    events = d.errors()
    assert {e.error_type for e in events} == {"io_error", "database_corrupt"}
    notice = next(e for e in events if e.error_type == "database_corrupt")
    assert kept.name in notice.message
    d.close()


def test_a_database_replaced_under_an_open_handle_is_reopened(home: Home) -> None:
    """Another process moved the file aside (as it does with a corrupt one): writing
    on through the old handle would put events into the file that was moved away."""
    d = make_db(home)
    d.record_error(event(0))
    aside = home.root / "moved-aside.db"
    home.db_path.rename(aside)
    for suffix in ("-wal", "-shm"):
        side = Path(str(home.db_path) + suffix)
        if side.exists():
            side.rename(Path(str(aside) + suffix))
    d.record_error(event(1))
    assert [e.message for e in d.errors()] == ["event 1"]  # the new database
    d.close()


def test_database_files_are_private(db: Database, home: Home) -> None:
    import stat

    db.record_error(event(0))
    for suffix in ("", "-wal", "-shm"):
        side = Path(str(home.db_path) + suffix)
        if side.exists():
            assert stat.S_IMODE(side.stat().st_mode) == 0o600, side.name


def test_check_reports_and_writes_back(db: Database, home: Home) -> None:
    db.record_error(event(0))
    with locked_by_another_process(home.db_path):
        db.record_error(event(1))
        assert "locked" in (db.check() or "")
    assert db.pending()
    assert db.check() is None  # works again: and what waited is written back
    assert db.pending() == [] and not db.degraded
    assert {e.id is not None for e in db.errors()} == {True}


def test_threads_share_one_database(db: Database, home: Home) -> None:
    import threading

    failures: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(50):
                db.record_error(event(t * 100 + i))
                db.errors(limit=5)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert db.stats().total == 200 and not db.degraded


def test_memory_buffer_when_the_fallback_file_cannot_be_written_either(
    home: Home, clock: FakeMonotonic
) -> None:
    """The JSONL path is a directory here, so appends fail (as on a full or read-only
    disk): the events wait in memory and are written back all the same."""
    unwritable = home.root / "not-a-file"
    unwritable.mkdir()
    d = Database(home.db_path, unwritable, busy_timeout=0.1, retry_interval=5, monotonic=clock)
    d.record_error(event(0))
    with locked_by_another_process(home.db_path):
        for i in range(1, 6):
            d.record_error(event(i))
        assert d.degraded and len(d.pending()) == 5
        assert len(d.errors()) == 6
    clock.now += 10
    d.record_error(event(6))
    assert not d.degraded and d.pending() == []
    conn = sqlite3.connect(home.db_path)
    assert conn.execute("SELECT COUNT(*) FROM error_events").fetchone()[0] == 7
    conn.close()
    d.close()


def test_a_database_overwritten_in_place_mid_run_keeps_the_run(home: Home) -> None:
    """Garbage written over the file in place (same inode) and its -wal/-shm deleted
    while a run is in flight: the run's finish must not go into the unlinked WAL our
    connection still holds, which no one will ever read again (issue 12)."""
    import os
    import random

    d = make_db(home)
    started = RunRecord(
        run_id="r1",
        job_name="web",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        status=Status.RUNNING,
    )
    d.record_run(started)
    for n in range(300):  # a history larger than the garbage, all of it checkpointed
        d.record_error(event(n))
    with d._connection() as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(home.db_path, "r+b") as fh:
        fh.write(random.Random(3).randbytes(64 * 1024))
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(str(home.db_path) + suffix)
    finished = RunRecord(
        run_id="r1",
        job_name="web",
        started_at=started.started_at,
        finished_at=datetime(2026, 1, 1, 0, 5, tzinfo=UTC),
        status=Status.SUCCEEDED,
        files=3,
    )
    d.record_run(finished)
    d.close()
    fresh = make_db(home)
    run = fresh.run("r1")
    assert run is not None and run.status == Status.SUCCEEDED and run.files == 3
    assert any(e.error_type == "database_corrupt" for e in fresh.errors())
    fresh.close()
