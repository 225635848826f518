"""The contract for verify: it finds damage in the stored data and says what it read.

Damage is made the way a failing disk makes it: one byte flipped in place
(same size, mtime put back) or a stored file gone. Tree engines are damaged
in the snapshot tree; restic repositories in a pack file under ``data/``
(read back only by a deep check, so those flips are verified with
``deep=True``). The moto S3 server's objects are rewritten through its API.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from destinations import Dest, error_type_of, flip_byte, make_source
from servers import DESTINATION_KINDS, Destination

from tui_backup.engines.api import ErrorType
from tui_backup.model.job import JobSpec

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


def _backed_up(dest: Dest, src: Path) -> tuple[JobSpec, str]:
    spec = dest.spec(src)
    dest.prepare(spec)
    return spec, dest.backup(spec)


@pytest.mark.timeout(120)
def test_verify_of_intact_snapshots_is_ok_and_says_what_it_read(dest: Dest, src: Path) -> None:
    spec, first = _backed_up(dest, src)
    (src / "a.txt").write_text("changed\n")
    second = dest.backup(spec)

    one = dest.engine.verify(spec, first)
    assert one.outcome == "ok", one
    assert one.snapshots == (first,)
    if dest.kind.restic:
        assert "check" in one.method, f"restic's verify names its check, got {one.method!r}"
    else:
        assert one.files_checked > 0 and one.bytes_checked > 0, one
        assert one.method

    for everything in (None, "all"):
        every = dest.engine.verify(spec, everything)
        assert every.outcome == "ok", every
        assert set(every.snapshots) == {first, second}, everything


@pytest.mark.timeout(120)
def test_verify_finds_a_flipped_byte(dest: Dest, src: Path) -> None:
    spec, sid = _backed_up(dest, src)
    if dest.kind.tree:
        flipped = dest.snapshot_dir(sid) / "sub" / "b.bin"
        flip_byte(flipped)
        report = dest.engine.verify(spec, sid)
        assert report.outcome == "damaged", report
        assert any(p.path.endswith("sub/b.bin") for p in report.problems), report.problems
        assert all(p.snapshot_id == sid for p in report.problems)
        assert not any(p.path.endswith("a.txt") for p in report.problems), "only what is damaged"
    else:
        packs = dest.pack_files()
        assert packs, "a backup stores pack files under data/"
        dest.flip_stored(packs[0])
        report = dest.engine.verify(spec, sid, deep=True)
        assert report.outcome == "damaged", report
        assert report.problems
    assert not report.ok


@pytest.mark.timeout(120)
def test_verify_finds_a_deleted_file(dest: Dest, src: Path) -> None:
    spec, sid = _backed_up(dest, src)
    if dest.kind.tree:
        (dest.snapshot_dir(sid) / "sub" / "deeper" / "c.txt").unlink()
        report = dest.engine.verify(spec, sid)
        assert report.outcome == "damaged", report
        assert any(p.path.endswith("sub/deeper/c.txt") for p in report.problems), report.problems
    else:
        packs = dest.pack_files()
        assert packs
        dest.delete_stored(packs[0])
        report = dest.engine.verify(spec, sid)
        assert report.outcome == "damaged", report
        assert report.problems
    assert not report.ok


@pytest.mark.timeout(120)
def test_deep_verify_compares_with_the_source(dest: Dest, src: Path) -> None:
    """``deep``: a stored file that differs from the source is reported, even when the
    damage happened before any manifest could record it (written into the snapshot
    with its size and mtime kept)."""
    spec, sid = _backed_up(dest, src)
    if not dest.capabilities(spec).deep_verify:
        pytest.skip(f"{dest.kind.engine}: no deep verify (Capabilities.deep_verify)")
    intact = dest.engine.verify(spec, sid, deep=True)
    assert intact.outcome == "ok", intact
    assert intact.files_checked > 0 and intact.bytes_checked > 0
    if dest.kind.tree:
        flip_byte(dest.snapshot_dir(sid) / "sub" / "b.bin")
    else:
        dest.flip_stored(dest.pack_files()[0])
    damaged = dest.engine.verify(spec, sid, deep=True)
    assert damaged.outcome == "damaged", damaged


@pytest.mark.timeout(120)
def test_verify_of_an_unknown_snapshot_is_an_error(dest: Dest, src: Path) -> None:
    spec, _ = _backed_up(dest, src)
    got = error_type_of(lambda: dest.engine.verify(spec, "2001-01-01T000000Z"))
    assert got == ErrorType.SNAPSHOT_NOT_FOUND
