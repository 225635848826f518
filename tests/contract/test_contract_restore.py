"""The contract for restore: one layout, one rule for a non-empty target, dry runs
that write nothing, and clear errors for paths that are not in the snapshot.

Layout (docs/engines.md): a single-directory source's contents are the
snapshot root; several sources each sit under their basename. Restored trees
are compared with the source entry by entry: bytes, permission bits, file
mtimes, symlink targets.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from destinations import Dest, counts, error_type_of, make_source, tree
from servers import DESTINATION_KINDS, Destination

from tui_backup.engines.api import EngineError, ErrorType

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
def test_restore_everything_reproduces_the_source(dest: Dest, src: Path, tmp_path: Path) -> None:
    spec = dest.spec(src)
    dest.prepare(spec)
    sid = dest.backup(spec)
    target = tmp_path / "restored"
    report = dest.engine.restore(spec, sid, str(target))
    assert tree(target) == tree(src)
    assert not (target / "link-outside" / "big.bin").is_symlink()
    assert (target / "link-outside").is_symlink(), "a symlink is restored as a symlink"
    files, size = counts(src)
    assert (report.files, report.bytes) == (files, size)
    assert not report.dry_run
    assert report.summary().startswith(f"restored {files} files")


@pytest.mark.timeout(120)
def test_restore_the_newest_by_default(dest: Dest, src: Path, tmp_path: Path) -> None:
    """``latest`` names the newest snapshot."""
    spec = dest.spec(src)
    dest.prepare(spec)
    dest.backup(spec)
    (src / "a.txt").write_text("second version\n")
    dest.backup(spec)
    target = tmp_path / "restored"
    dest.engine.restore(spec, "latest", str(target), ["a.txt"])
    assert (target / "a.txt").read_text() == "second version\n"


@pytest.mark.timeout(120)
def test_restore_one_file(dest: Dest, src: Path, tmp_path: Path) -> None:
    spec = dest.spec(src)
    dest.prepare(spec)
    sid = dest.backup(spec)
    target = tmp_path / "restored"
    report = dest.engine.restore(spec, sid, str(target), ["sub/b.bin"])
    got = tree(target)
    assert set(got) == {"sub", "sub/b.bin"}
    assert got["sub/b.bin"] == tree(src)["sub/b.bin"]
    assert report.files == 1
    assert report.summary().startswith("restored 1 file (")


@pytest.mark.timeout(120)
def test_restore_one_directory_and_one_symlink(dest: Dest, src: Path, tmp_path: Path) -> None:
    spec = dest.spec(src)
    dest.prepare(spec)
    sid = dest.backup(spec)
    target = tmp_path / "restored"
    dest.engine.restore(spec, sid, str(target), ["sub/deeper", "link-rel"])
    want = {k: v for k, v in tree(src).items() if k.startswith("sub/deeper/") or k == "link-rel"}
    got = tree(target)
    assert {k: v for k, v in got.items() if k not in ("sub", "sub/deeper")} == want
    assert got["sub/deeper"].kind == "dir"


@pytest.mark.timeout(120)
def test_restore_layout_of_several_sources(dest: Dest, tmp_path: Path) -> None:
    """Several sources: each under its basename, wherever it lived."""
    one = make_source(tmp_path / "place1" / "docs")
    other = tmp_path / "place2" / "notes.txt"
    other.parent.mkdir()
    other.write_text("notes\n")
    spec = dest.spec([one, other])
    dest.prepare(spec)
    sid = dest.backup(spec)

    target = tmp_path / "restored"
    dest.engine.restore(spec, sid, str(target))
    got = tree(target)
    assert {k.removeprefix("docs/"): v for k, v in got.items() if k.startswith("docs/")} == tree(
        one
    )
    assert set(got) == {"docs", "notes.txt"} | {f"docs/{k}" for k in tree(one)}
    assert (target / "notes.txt").read_text() == "notes\n"

    single = tmp_path / "single"
    dest.engine.restore(spec, sid, str(single), ["docs/sub/b.bin"])
    assert set(tree(single)) == {"docs", "docs/sub", "docs/sub/b.bin"}

    [info] = dest.snapshots(spec)
    files, size = counts(one)
    assert (info.files, info.bytes) == (files + 1, size + len("notes\n"))


@pytest.mark.timeout(120)
def test_a_non_empty_target_is_refused_unless_overwrite(
    dest: Dest, src: Path, tmp_path: Path
) -> None:
    spec = dest.spec(src)
    dest.prepare(spec)
    sid = dest.backup(spec)
    target = tmp_path / "restored"
    target.mkdir()
    (target / "mine.txt").write_text("a file of the user's\n")
    (target / "a.txt").write_text("older content\n")
    before = tree(target)
    refused = error_type_of(lambda: dest.engine.restore(spec, sid, str(target)))
    assert refused == ErrorType.TARGET_NOT_EMPTY
    assert tree(target) == before, "a refused restore wrote into the target"
    refused = error_type_of(lambda: dest.engine.restore(spec, sid, str(target), ["sub/b.bin"]))
    assert refused == ErrorType.TARGET_NOT_EMPTY
    assert tree(target) == before

    report = dest.engine.restore(spec, sid, str(target), overwrite=True)
    got = tree(target)
    assert got.pop("mine.txt") == before["mine.txt"], "overwrite only replaces what it restores"
    assert got == tree(src)
    assert report.files == counts(src)[0]


@pytest.mark.timeout(120)
def test_dry_run_restore_writes_nothing_anywhere(dest: Dest, src: Path, tmp_path: Path) -> None:
    """A dry run creates no target (not even its directory) and changes no stored byte."""
    spec = dest.spec(src)
    dest.prepare(spec)
    sid = dest.backup(spec)
    stored = dest.listing()
    target = tmp_path / "restored"

    report = dest.engine.restore(spec, sid, str(target), dry_run=True)
    assert not target.exists(), "a dry run created the target"
    assert report.dry_run

    one = dest.engine.restore(spec, sid, str(target), ["sub/b.bin"], dry_run=True)
    assert not target.exists()
    assert dest.listing() == stored, "a dry run changed the destination"

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("mine\n")
    before = tree(busy)
    dest.engine.restore(spec, sid, str(busy), dry_run=True, overwrite=True)
    assert tree(busy) == before, "a dry run with overwrite wrote into the target"
    try:
        dest.engine.restore(spec, sid, str(busy), dry_run=True)
    except EngineError as exc:  # a dry run may say the real one would be refused
        assert exc.error_type == ErrorType.TARGET_NOT_EMPTY, exc
    assert tree(busy) == before
    assert dest.listing() == stored

    assert (one.files, one.planned) == (1, ("sub/b.bin",))
    assert "sub/b.bin" in report.planned
    assert report.files == counts(src)[0]
    assert report.summary().startswith(f"would restore {counts(src)[0]} files")


@pytest.mark.timeout(120)
def test_a_path_not_in_the_snapshot_is_an_error(dest: Dest, src: Path, tmp_path: Path) -> None:
    """A mistyped path is PATH_NOT_IN_SNAPSHOT, never "restored 0 files"; paths are
    relative to the snapshot root, so a bare name does not match a file deeper down."""
    spec = dest.spec(src)
    dest.prepare(spec)
    sid = dest.backup(spec)
    target = tmp_path / "restored"
    missing = ErrorType.PATH_NOT_IN_SNAPSHOT
    for paths in (["sub/no-such-file"], ["b.bin"], ["deeper/c.txt"], ["a.txt", "nope.txt"]):
        got = error_type_of(lambda p=paths: dest.engine.restore(spec, sid, str(target), p))
        assert got == missing, paths
        assert not target.exists(), f"restoring {paths} wrote into the target"
        got = error_type_of(
            lambda p=paths: dest.engine.restore(spec, sid, str(target), p, dry_run=True)
        )
        assert got == missing, paths


@pytest.mark.timeout(120)
def test_a_path_outside_the_snapshot_is_refused(dest: Dest, src: Path, tmp_path: Path) -> None:
    spec = dest.spec(src)
    dest.prepare(spec)
    sid = dest.backup(spec)
    target = tmp_path / "restored"
    for paths in (["../outside/big.bin"], ["sub/../../outside"], ["/etc/passwd"]):
        got = error_type_of(lambda p=paths: dest.engine.restore(spec, sid, str(target), p))
        assert got == ErrorType.BAD_PATH, paths
        assert not target.exists()


@pytest.mark.timeout(120)
def test_an_unknown_snapshot_is_an_error(dest: Dest, src: Path, tmp_path: Path) -> None:
    spec = dest.spec(src)
    dest.prepare(spec)
    dest.backup(spec)
    target = tmp_path / "restored"
    got = error_type_of(lambda: dest.engine.restore(spec, "2001-01-01T000000Z", str(target)))
    assert got == ErrorType.SNAPSHOT_NOT_FOUND
    assert not target.exists()


@pytest.mark.timeout(120)
def test_overwrite_never_writes_through_a_symlink_in_the_target(
    dest: Dest, src: Path, tmp_path: Path
) -> None:
    """Symlinks are never followed, on the way back either: a target whose ``sub`` and
    ``a.txt`` are symlinks elsewhere gets them replaced; what they point at is untouched."""
    spec = dest.spec(src)
    dest.prepare(spec)
    sid = dest.backup(spec)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "victim.txt").write_text("keep me\n")
    (elsewhere / "dir").mkdir()
    before = tree(elsewhere)
    target = tmp_path / "restored"
    target.mkdir()
    (target / "a.txt").symlink_to(elsewhere / "victim.txt")
    (target / "sub").symlink_to(elsewhere / "dir")
    dest.engine.restore(spec, sid, str(target), overwrite=True)
    assert tree(elsewhere) == before, "the restore wrote through a symlink in the target"
    assert tree(target) == tree(src)
